"""Constraint plots: Ωm–σ8 contours (Fig. 8), S8–A_IA (Fig. 13), S8 whiskers (Figs. 7 and 9).

Contours are drawn with getdist (68 % and 95 % levels, :data:`.constraints.CONTOUR_LEVELS`) on
the matplotlib Agg backend. The Ωm–σ8 plot shows the prior: the convex hull of the simulated
cosmologies. Every plot of blinded results carries a large 'BLINDED' warning, and the prior
hull is left out of blinded plots, because its position relative to the shifted contours would
reveal the secret offset.
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
from wlcnn.inference.constraints import CONTOUR_LEVELS, s8
from wlcnn.inference.likelihood import PARAMETER_LABELS, PARAMETER_NAMES

__all__ = [
    "add_blinded_warning",
    "getdist_samples",
    "plot_coverage",
    "plot_omega_m_sigma8",
    "plot_rank_histograms",
    "plot_s8_a_ia",
    "plot_s8_whiskers",
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
    """Getdist MCSamples of (n, 3) θ = (Ωm, σ8, A_IA) with derived S8."""
    from getdist import MCSamples, chains

    chains.print_load_details = False  # getdist prints burn-in notes for every sample set
    samples = np.asarray(samples, dtype=np.float64)
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
    mc.addDerived(s8(samples[:, 0], samples[:, 1]), name="s8", label=r"S_8")
    return mc


def _save(g: Any, path: str | Path, *, blinded: bool) -> None:
    fig = g.fig
    if blinded:
        add_blinded_warning(fig)
    suffix = Path(path).suffix or ".png"
    with atomic_path(path, suffix=suffix) as tmp:
        fig.savefig(tmp, dpi=_DPI, bbox_inches="tight", format=suffix.lstrip("."))
    plt.close(fig)


def plot_omega_m_sigma8(
    path: str | Path,
    *,
    analyses: Sequence[tuple[str, np.ndarray]],
    hull: np.ndarray | None,
    blinded: bool,
    truth: Sequence[float] | None = None,
) -> None:
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
    """
    from getdist import plots

    mcs = [getdist_samples(s, label=label) for label, s in analyses]
    g = plots.get_single_plotter(width_inch=_WIDTH_INCH)
    with _quiet_getdist():
        g.plot_2d(mcs, "omega_m", "sigma8", filled=True)
    ax = g.get_axes()
    if hull is not None and not blinded:
        ax.plot(hull[:, 0], hull[:, 1], color="0.4", ls="--", lw=1.0, label="prior (simulated hull)")
        ax.set_xlim(hull[:, 0].min() - 0.02, hull[:, 0].max() + 0.02)
        ax.set_ylim(hull[:, 1].min() - 0.05, hull[:, 1].max() + 0.05)
    if truth is not None:
        ax.plot(truth[0], truth[1], marker="*", color="k", ms=12, ls="none", label="truth")
    with _quiet_getdist():
        g.add_legend([label for label, _ in analyses], legend_loc="upper right")
        _save(g, path, blinded=blinded)


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
