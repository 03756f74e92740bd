"""Constraint plots: Ωm–σ8 (Fig. 8), S8–A_IA (Fig. 13), S8 whiskers (Figs. 7, 9), triangle, traces.

Contours are drawn with getdist (68 % and 95 % levels, :data:`.constraints.CONTOUR_LEVELS`) on
the matplotlib Agg backend, except the Ωm–σ8 contours of an analysis with a grid posterior:
those are the highest-density regions of the grid's marginal (Ωm, σ8) mass, which is zero
outside the prior, so they cannot spill outside it (getdist's kernel density of the samples
does: the combined demo 95 % contour reached Ωm ≈ 0.185 with the hull starting at 0.20). The
Ωm–σ8 plot shows the prior: the convex hull of the simulated cosmologies. Every plot of blinded
results carries a large 'BLINDED' warning, and the prior hull is left out of blinded plots,
because its position relative to the shifted contours would reveal the secret offset.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from wlcnn.atomic import atomic_path
from wlcnn.inference.blinding import BLINDED_WARNING
from wlcnn.inference.constraints import CONTOUR_LEVELS, S8_EXPONENT, S8_PIVOT, s8
from wlcnn.inference.likelihood import PARAMETER_LABELS, PARAMETER_NAMES

__all__ = [
    "add_blinded_warning",
    "getdist_samples",
    "grid_hpd_thresholds",
    "plot_chain_traces",
    "plot_coverage",
    "plot_omega_m_sigma8",
    "plot_rank_histograms",
    "plot_s8_a_ia",
    "plot_s8_whiskers",
    "plot_triangle",
]

#: Figure width, inches (one column of a two-column paper, scaled up for legibility).
_WIDTH_INCH = 5.0
_DPI = 150
_BLIND_COLOUR = "red"


@contextlib.contextmanager
def _quiet_getdist() -> Iterator[None]:
    # getdist 1.7 uses matplotlib APIs deprecated in 3.11: hundreds of warnings per plot that
    # are not ours to fix; anything else still warns.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=matplotlib.MatplotlibDeprecationWarning, module="getdist")
        yield


def add_blinded_warning(fig: Any) -> None:
    """Stamp a figure with the blinding warning (diagonal watermark and a footer line)."""
    fig.text(
        0.5,
        0.5,
        "BLINDED",
        color=_BLIND_COLOUR,
        alpha=0.35,
        fontsize=48,
        fontweight="bold",
        ha="center",
        va="center",
        rotation=30,
        transform=fig.transFigure,
        zorder=10,
    )
    fig.text(
        0.5,
        0.005,
        BLINDED_WARNING,
        color=_BLIND_COLOUR,
        fontsize=8,
        ha="center",
        va="bottom",
        transform=fig.transFigure,
    )


def getdist_samples(samples: np.ndarray, *, label: str, weights: np.ndarray | None = None) -> Any:
    """Getdist MCSamples of (n, 3) θ = (Ωm, σ8, A_IA) with derived S8.

    (n, 4) samples carry the reported S8 in the last column (a blinded chain's S8 has its own
    offset); otherwise S8 is derived from Ωm and σ8.
    """
    from getdist import MCSamples, chains

    chains.print_load_details = False  # getdist prints burn-in notes for every sample set
    samples = np.asarray(samples, dtype=np.float64)
    n_dim = len(PARAMETER_NAMES)
    reported_s8 = samples[:, n_dim] if samples.shape[1] > n_dim else s8(samples[:, 0], samples[:, 1])
    samples = samples[:, :n_dim]
    mc = MCSamples(
        samples=samples,
        weights=weights,
        names=list(PARAMETER_NAMES),
        labels=[PARAMETER_LABELS[n] for n in PARAMETER_NAMES],
        label=label,
        sampler="mcmc",
        # Kernel widths of 0.3 sd: emcee chains are correlated, and getdist's automatic bandwidth,
        # which assumes independent samples, draws ragged contours from them.
        settings={
            "contours": list(CONTOUR_LEVELS),
            "ignore_rows": 0,
            "smooth_scale_2D": 0.3,
            "smooth_scale_1D": 0.3,
        },
    )
    mc.addDerived(reported_s8, name="s8", label=r"S_8")
    return mc


def _save(g: Any, path: str | Path, *, blinded: bool) -> None:
    fig = g.fig
    if blinded:
        add_blinded_warning(fig)
    suffix = Path(path).suffix or ".png"
    with atomic_path(path, suffix=suffix) as tmp:
        fig.savefig(tmp, dpi=_DPI, bbox_inches="tight", format=suffix.lstrip("."))
    plt.close(fig)


def grid_hpd_thresholds(mass: np.ndarray, *, levels: Sequence[float] = CONTOUR_LEVELS) -> list[float]:
    """Mass per cell at which the highest-density region holds each of ``levels`` (decreasing)."""
    ordered = np.sort(np.asarray(mass, dtype=np.float64).ravel())[::-1]
    ordered = ordered / ordered.sum()
    cum = np.cumsum(ordered)
    return [float(ordered[min(int(np.searchsorted(cum, level)), ordered.size - 1)]) for level in levels]


def plot_omega_m_sigma8(
    path: str | Path,
    *,
    analyses: Sequence[tuple[str, np.ndarray]],
    hull: np.ndarray | None,
    blinded: bool,
    truth: Sequence[float] | None = None,
    grids: Sequence[Any | None] | None = None,
) -> list[np.ndarray]:
    """Ωm–σ8 contours (68 %, 95 %) of one or more analyses, with the prior hull (Fig. 8 left).

    Parameters
    ----------
    path
        Output image (format from the suffix).
    analyses
        (label, (n, 3) samples) per analysis.
    hull
        Closed (k, 2) polygon of the prior in (Ωm, σ8); not drawn when ``blinded``.
    blinded
        Stamp the warning (and hide the hull).
    truth
        (Ωm, σ8) of a mock observation, marked with a star.
    grids
        One :class:`~wlcnn.inference.sampling.GridPosterior` (or None) per analysis: its
        contours are drawn from the grid's marginal (Ωm, σ8) mass, zero outside the prior, instead
        of a kernel density of the samples; unblinded, they are also clipped to ``hull``.

    Returns
    -------
    list of numpy.ndarray
        (k, 2) vertices of every contour line drawn from a grid (for checks against the prior).
    """
    from getdist import plots
    from matplotlib.patches import Patch, Polygon

    grids = list(grids) if grids is not None else [None] * len(analyses)
    if len(grids) != len(analyses):
        raise ValueError(
            f"need one grid (or None) per analysis: {len(analyses)} analyses, {len(grids)} grids"
        )
    g = plots.get_single_plotter(width_inch=_WIDTH_INCH)
    from_samples = [(label, s) for (label, s), grid in zip(analyses, grids, strict=True) if grid is None]
    if from_samples:
        mcs = [getdist_samples(s, label=label) for label, s in from_samples]
        with _quiet_getdist():
            g.plot_2d(mcs, "omega_m", "sigma8", filled=True)
    else:
        g.make_figure(1)
        g.subplots[0, 0] = g.fig.add_subplot(111)
    ax = g.get_axes()
    ax.set_xlabel(rf"${PARAMETER_LABELS['omega_m']}$")
    ax.set_ylabel(rf"${PARAMETER_LABELS['sigma8']}$")
    vertices: list[np.ndarray] = []
    handles: list[Any] = []
    clip = None
    if hull is not None and not blinded:
        clip = Polygon(
            np.asarray(hull)[:, :2], closed=True, transform=ax.transData, fill=False, visible=False
        )
        ax.add_patch(clip)
    for i, ((label, _), grid) in enumerate(zip(analyses, grids, strict=True)):
        colour = f"C{i}"
        if grid is None:
            handles.append(Patch(color=colour, label=label))
            continue
        mass = grid.weights().sum(axis=2)
        thresholds = grid_hpd_thresholds(mass)  # (68 %, 95 %): decreasing mass
        x, y = grid.axes[0], grid.axes[1]
        levels = [thresholds[1], thresholds[0], float(mass.max()) * (1 + np.finfo(np.float64).eps) + 1e-300]
        filled = ax.contourf(x, y, mass.T, levels=levels, colors=[colour, colour], alpha=0.35)
        lines = ax.contour(x, y, mass.T, levels=levels[:2], colors=[colour], linewidths=1.0)
        if clip is not None:
            filled.set_clip_path(clip)
            lines.set_clip_path(clip)
        for seg_list in lines.allsegs:
            vertices.extend(np.asarray(seg) for seg in seg_list if len(seg))
        handles.append(Patch(color=colour, alpha=0.6, label=label))
    if hull is not None and not blinded:
        (line,) = ax.plot(
            hull[:, 0], hull[:, 1], color="0.4", ls="--", lw=1.0, label="prior (simulated hull)"
        )
        handles.append(line)
        ax.set_xlim(hull[:, 0].min() - 0.02, hull[:, 0].max() + 0.02)
        ax.set_ylim(hull[:, 1].min() - 0.05, hull[:, 1].max() + 0.05)
    if truth is not None:
        (star,) = ax.plot(truth[0], truth[1], marker="*", color="k", ms=12, ls="none", label="truth")
        handles.append(star)
    ax.legend(handles=handles, loc="upper right", fontsize="small")
    with _quiet_getdist():
        _save(g, path, blinded=blinded)
    return vertices


def plot_s8_a_ia(
    path: str | Path,
    *,
    analyses: Sequence[tuple[str, np.ndarray]],
    blinded: bool,
    truth: Sequence[float] | None = None,
) -> None:
    """S8–A_IA contours (68 %, 95 %) (Fig. 13); ``truth`` is (S8, A_IA) of a mock."""
    from getdist import plots

    mcs = [getdist_samples(s, label=label) for label, s in analyses]
    g = plots.get_single_plotter(width_inch=_WIDTH_INCH)
    with _quiet_getdist():
        g.plot_2d(mcs, "s8", "a_ia", filled=True)
    if truth is not None:
        g.get_axes().plot(truth[0], truth[1], marker="*", color="k", ms=12, ls="none")
    with _quiet_getdist():
        g.add_legend([label for label, _ in analyses], legend_loc="upper right")
        _save(g, path, blinded=blinded)


def plot_s8_whiskers(
    path: str | Path,
    *,
    entries: Sequence[Mapping[str, Any]],
    published: Sequence[Mapping[str, Any]] = (),
    blinded: bool,
    truth: float | None = None,
    title: str = "",
) -> None:
    """Whisker plot of S8 medians with 68 % intervals (Fig. 9; Fig. 7 for a set of mocks).

    Parameters
    ----------
    path
        Output image.
    entries
        This analysis' results: ``{"label", "median", "plus", "minus"}`` each (e.g. the ``s8`` entry
        of a constraints row plus its analysis name).
    published
        Published values from the configuration: ``{"label", "s8", "plus", "minus"}``.
    blinded
        Stamp the warning.
    truth
        S8 of a mock (vertical line).
    title
        Axes title.
    """
    fig, ax = plt.subplots(figsize=(_WIDTH_INCH, 0.45 * (len(entries) + len(published)) + 1.2))
    rows = [(e["label"], e["median"], e["minus"], e["plus"], "C0") for e in entries]
    rows += [(p["label"], p["s8"], p["minus"], p["plus"], "0.35") for p in published]
    for y, (_, med, minus, plus, colour) in enumerate(rows[::-1]):
        ax.errorbar(med, y, xerr=[[minus], [plus]], fmt="o", color=colour, capsize=3)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows[::-1]])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel(r"$S_8 = \sigma_8 (\Omega_{\rm m}/0.3)^{0.5}$")
    if truth is not None:
        ax.axvline(truth, color="k", ls=":", lw=1, label="truth")
        ax.legend(loc="lower right", fontsize=8)
    if published and entries:
        ax.axhline(len(published) - 0.5, color="0.8", lw=0.8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    if blinded:
        add_blinded_warning(fig)
    suffix = Path(path).suffix or ".png"
    with atomic_path(path, suffix=suffix) as tmp:
        fig.savefig(tmp, dpi=_DPI, bbox_inches="tight", format=suffix.lstrip("."))
    plt.close(fig)


#: Parameters of the triangle plot, in order (getdist names of :func:`getdist_samples`).
TRIANGLE_PARAMETERS = ("omega_m", "sigma8", "s8", "a_ia")


def plot_triangle(
    path: str | Path,
    *,
    analyses: Sequence[tuple[str, np.ndarray]],
    blinded: bool,
    truth: Sequence[float] | None = None,
    parameters: Sequence[str] = TRIANGLE_PARAMETERS,
) -> None:
    """Triangle plot of Ωm, σ8, S8 and A_IA with every analysis overlaid (getdist).

    Parameters
    ----------
    path
        Output image (PNG by suffix), written atomically.
    analyses
        (label, samples) per analysis: (n, 3) θ = (Ωm, σ8, A_IA), or (n, 4) with the reported S8
        last (blinded chains; see :func:`getdist_samples`).
    blinded
        Stamp the warning.
    truth
        (Ωm, σ8, A_IA) of a mock observation: marked on every panel (S8 derived).
    parameters
        getdist names of the parameters shown, in order.
    """
    from getdist import plots

    if not analyses:
        raise ValueError("plot_triangle needs at least one analysis")
    mcs = [getdist_samples(s, label=label) for label, s in analyses]
    g = plots.get_subplot_plotter(width_inch=1.6 * _WIDTH_INCH)
    markers = None
    if truth is not None:
        values = {
            "omega_m": truth[0],
            "sigma8": truth[1],
            "a_ia": truth[2],
            "s8": float(s8(truth[0], truth[1])),
        }
        markers = {name: values[name] for name in parameters}
    with _quiet_getdist():
        g.triangle_plot(
            mcs, list(parameters), filled=True, markers=markers, legend_labels=[lab for lab, _ in analyses]
        )
        _save(g, path, blinded=blinded)


def plot_chain_traces(
    path: str | Path,
    *,
    samples: np.ndarray,
    n_burn: int,
    autocorr_time: Mapping[str, float],
    blinded: bool,
    reported_s8: np.ndarray | None = None,
    label: str = "",
    max_walkers_drawn: int = 16,
) -> None:
    """Walker traces of Ωm, σ8, A_IA and S8 with the burn-in and the autocorrelation estimate.

    Parameters
    ----------
    path
        Output image (PNG by suffix), written atomically.
    samples
        (n_steps, n_walkers, 3) chain (:attr:`~wlcnn.inference.sampling.Chain.samples`).
    n_burn
        Burn-in steps (shaded).
    autocorr_time
        τ per parameter name, in steps (quoted per panel with N / τ; τ of S8 is estimated here).
    blinded
        Stamp the warning.
    reported_s8
        (n_steps, n_walkers) S8 as reported (blinded chains); default derived.
    label
        Analysis name (title).
    max_walkers_drawn
        Walkers drawn per panel (the first ones; all enter the mean line).
    """
    import emcee

    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 3 or samples.shape[-1] != len(PARAMETER_NAMES) or samples.shape[0] < 1:
        raise ValueError(
            f"samples must be (n_steps >= 1, n_walkers, {len(PARAMETER_NAMES)}), found {samples.shape}"
        )
    s8_trace = s8(samples[..., 0], samples[..., 1]) if reported_s8 is None else np.asarray(reported_s8)
    traces = {name: samples[..., i] for i, name in enumerate(PARAMETER_NAMES)} | {"s8": s8_trace}
    taus = dict(autocorr_time)
    post = s8_trace[n_burn:]
    if "s8" not in taus:
        taus["s8"] = (
            float(emcee.autocorr.integrated_time(post[:, :, None], tol=0)[0]) if len(post) > 1 else np.inf
        )
    labels = {**PARAMETER_LABELS, "s8": rf"S_8 = \sigma_8(\Omega_{{\rm m}}/{S8_PIVOT})^{{{S8_EXPONENT}}}"}
    n_steps = samples.shape[0]
    steps = np.arange(n_steps)
    fig, axes = plt.subplots(len(traces), 1, figsize=(1.4 * _WIDTH_INCH, 1.4 * len(traces)), sharex=True)
    for ax, (name, trace) in zip(axes, traces.items(), strict=True):
        ax.plot(steps, trace[:, :max_walkers_drawn], color="0.3", lw=0.3, alpha=0.5)
        ax.plot(steps, trace.mean(axis=1), color="C3", lw=1.0, label="walker mean")
        if n_burn > 0:
            ax.axvspan(0, n_burn, color="0.85", zorder=0, label="burn-in")
        tau = float(taus.get(name, np.inf))
        n_over_tau = (n_steps - n_burn) / tau if np.isfinite(tau) and tau > 0 else 0.0
        ax.set_ylabel(rf"${labels[name]}$", fontsize="small")
        ax.text(
            0.99,
            0.95,
            rf"$\tau$ = {tau:.1f} steps, N/$\tau$ = {n_over_tau:.0f}",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize="small",
            bbox={"facecolor": "white", "alpha": 0.7, "lw": 0},
        )
    axes[0].legend(loc="upper left", fontsize="x-small")
    axes[-1].set_xlabel("step")
    if label:
        axes[0].set_title(label)
    fig.tight_layout()
    if blinded:
        add_blinded_warning(fig)
    suffix = Path(path).suffix or ".png"
    with atomic_path(path, suffix=suffix) as tmp:
        fig.savefig(tmp, dpi=_DPI, bbox_inches="tight", format=suffix.lstrip("."))
    plt.close(fig)


#: Lines of the coverage plot: (key in the coverage result, legend label).
_COVERAGE_LINES = (
    ("s8", r"$S_8$"),
    ("omega_m", r"$\Omega_{\rm m}$"),
    ("sigma8", r"$\sigma_8$"),
    ("a_ia", r"$A_{\rm IA}$"),
)
#: Binomial band of the coverage plot: ± this many standard deviations.
_COVERAGE_BAND_SIGMA = 2.0


def _coverage_curves(coverage: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    curves = [(label, coverage["parameters"][key]) for key, label in _COVERAGE_LINES]
    curves.append(("joint (HDR)", coverage["joint"]))
    curves.append(("joint (TARP)", coverage["tarp"]))
    return curves


def plot_coverage(path: str | Path, *, coverage: Mapping[str, Any], title: str = "") -> None:
    """Empirical against nominal credibility, one line per parameter plus the joint (HDR, TARP).

    Parameters
    ----------
    path
        Output image (format from the suffix).
    coverage
        Result of :func:`wlcnn.inference.coverage.expected_coverage`.
    title
        Axes title (the statement of the 68 % coverage is added below it).
    """
    fig, ax = plt.subplots(figsize=(_WIDTH_INCH, _WIDTH_INCH))
    nominal = np.asarray(coverage["joint"]["nominal"])
    band = _COVERAGE_BAND_SIGMA * np.asarray(coverage["joint"]["expected_error"])
    ax.fill_between(
        nominal, nominal - band, nominal + band, color="0.85", label=f"calibrated ± {_COVERAGE_BAND_SIGMA:g}σ"
    )
    ax.plot([0, 1], [0, 1], color="0.4", ls="--", lw=1)
    for label, curve in _coverage_curves(coverage):
        ax.errorbar(
            curve["nominal"], curve["empirical"], yerr=curve["error"], marker=".", ms=4, lw=1, label=label
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("nominal credibility")
    ax.set_ylabel(f"empirical coverage ({coverage['n_trials']} trials)")
    ax.set_title(f"{title}\n{coverage['statement']}" if title else coverage["statement"], fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    suffix = Path(path).suffix or ".png"
    with atomic_path(path, suffix=suffix) as tmp:
        fig.savefig(tmp, dpi=_DPI, bbox_inches="tight", format=suffix.lstrip("."))
    plt.close(fig)


def plot_rank_histograms(path: str | Path, *, coverage: Mapping[str, Any], title: str = "") -> None:
    """SBC rank histograms (posterior CDF at the truth) per parameter, with the flat expectation.

    Parameters
    ----------
    path
        Output image.
    coverage
        Result of :func:`wlcnn.inference.coverage.expected_coverage`.
    title
        Figure title.
    """
    fig, axes = plt.subplots(
        1, len(_COVERAGE_LINES), figsize=(2 * _WIDTH_INCH, 0.5 * _WIDTH_INCH), sharey=True
    )
    for ax, (key, label) in zip(axes, _COVERAGE_LINES, strict=True):
        ranks = coverage["parameters"][key]["ranks"]
        edges, counts = np.asarray(ranks["edges"]), np.asarray(ranks["counts"])
        expected = counts.sum() / len(counts)
        ax.stairs(counts, edges, fill=True, alpha=0.6)
        ax.axhline(expected, color="k", lw=1)
        # ± 2 σ of a bin count under flatness (binomial).
        spread = _COVERAGE_BAND_SIGMA * np.sqrt(expected * (1 - 1 / len(counts)))
        ax.axhspan(expected - spread, expected + spread, color="0.85", zorder=0)
        p_value = ranks["p_value"]
        ax.set_title(f"{label}  (χ² p = {p_value:.2g})" if p_value is not None else label, fontsize=9)
        ax.set_xlabel("posterior CDF at truth")
    axes[0].set_ylabel("trials")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    suffix = Path(path).suffix or ".png"
    with atomic_path(path, suffix=suffix) as tmp:
        fig.savefig(tmp, dpi=_DPI, bbox_inches="tight", format=suffix.lstrip("."))
    plt.close(fig)
