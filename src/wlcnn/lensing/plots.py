"""Lensing plots: the paper's Fig. 4 and the n(z) with its bootstrap spread.

- :func:`plot_power_spectrum_validation`: the paper's Fig. 4 (Agg canvas, no pyplot), simulated
  κ spectra against theory, drawn from arrays (no files read).
- :func:`plot_nz_bootstrap`: each tomographic bin's redshift distribution with its bootstrap
  spread. The spread comes from the bootstrap realisations (the KiDS-450 DIR bootstrap files, or
  the demo's :func:`wlcnn.lensing.nz.bootstrap_nz_histograms`), read with
  :func:`wlcnn.lensing.nz.read_nz_bins` from :func:`wlcnn.lensing.nz.bootstrap_nz_paths`. Every
  curve is normalised to unit integral before the band (central 68 % of the realisations per z)
  is taken, so that the band shows the shape uncertainty, not the files' normalisations.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from wlcnn.atomic import atomic_path
from wlcnn.lensing.nz import NzTable

__all__ = ["BAND_PERCENTILES", "plot_nz_bootstrap", "plot_power_spectrum_validation"]

#: Percentiles of the bootstrap band (the central 68 %).
BAND_PERCENTILES = (16.0, 84.0)
#: Redshifts per curve in the plot.
N_Z_PLOT = 400
FIGSIZE = (7.0, 4.0)
DPI = 120


def plot_nz_bootstrap(
    out_path: str | Path,
    *,
    nz: Sequence[NzTable],
    bootstrap: Sequence[Sequence[NzTable]] = (),
    title: str = "Redshift distributions",
) -> Path:
    """Plot each bin's n(z) with the 16–84 % band and the mean redshift spread of its bootstrap.

    Parameters
    ----------
    out_path
        PNG (or any matplotlib format by suffix), written atomically.
    nz
        The fiducial n(z) per tomographic bin.
    bootstrap
        Realisations, each a list of n(z) per bin (same number of bins as ``nz``); empty: the
        fiducial curves only (and the legend says there is no bootstrap).
    title
        Axes title.

    Returns
    -------
    Path
        ``out_path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not nz:
        raise ValueError("plot_nz_bootstrap needs at least one n(z) bin")
    for r, realisation in enumerate(bootstrap):
        if len(realisation) != len(nz):
            raise ValueError(f"bootstrap realisation {r} has {len(realisation)} bins, expected {len(nz)}")
    z_max = max(float(t.z[-1]) for t in [*nz, *(t for real in bootstrap for t in real)])
    z = np.linspace(0.0, z_max, N_Z_PLOT)
    fig, ax = plt.subplots(figsize=FIGSIZE)
    for b, table in enumerate(nz):
        colour = f"C{b}"
        fiducial = table.normalised().evaluate(z)
        label = f"bin {b + 1}: <z> = {table.mean_redshift():.3f}"
        if bootstrap:
            curves = np.stack([real[b].normalised().evaluate(z) for real in bootstrap])
            lo, hi = np.percentile(curves, BAND_PERCENTILES, axis=0)
            means = np.array([real[b].mean_redshift() for real in bootstrap])
            ax.fill_between(z, lo, hi, color=colour, alpha=0.3, lw=0)
            label += f" ± {np.std(means, ddof=1) if len(means) > 1 else 0.0:.3f}"
        ax.plot(z, fiducial, color=colour, lw=1.3, label=label)
    ax.set_xlabel("z")
    ax.set_ylabel("n(z) (normalised)")
    ax.set_xlim(0.0, z_max)
    ax.set_ylim(bottom=0.0)
    low, high = BAND_PERCENTILES
    band = (
        f"bands: {low:.0f}–{high:.0f} % of {len(bootstrap)} bootstrap realisations"
        if bootstrap
        else "no bootstrap realisations: fiducial n(z) only"
    )
    ax.set_title(f"{title}\n{band}", fontsize="medium")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(out_path)
    with atomic_path(out, suffix=out.suffix) as tmp:
        fig.savefig(tmp, dpi=DPI, format=out.suffix.lstrip(".") or "png")
    plt.close(fig)
    return out


def plot_power_spectrum_validation(
    *,
    ell: npt.ArrayLike,
    sim_mean: npt.ArrayLike,
    sim_err: npt.ArrayLike,
    theory_ell: npt.ArrayLike,
    theory: npt.ArrayLike,
    sim_mean_ia: npt.ArrayLike | None = None,
    sim_err_ia: npt.ArrayLike | None = None,
    theory_ia: npt.ArrayLike | None = None,
    ell_range: tuple[float, float] | None = None,
    tolerance: float = 0.15,
    validated: npt.ArrayLike | None = None,
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """The paper's Fig. 4: mean simulated κ spectrum ± error vs theory, per tomographic bin.

    Top row: ℓ(ℓ+1)C_ℓ/2π of the maps (points with error bars) and theory (lines), without IA
    and, if given, with IA (A_IA = 1: maps κ + κ_IA, theory GG + 2GI + II). Bottom row:
    simulation / theory - 1 with the ±``tolerance`` band and the validated ℓ range shaded.

    Parameters
    ----------
    ell
        Bin multipoles of the simulated spectra, shape (n_ell,).
    sim_mean, sim_err
        Mean simulated spectra and their errors (e.g. standard error of the mean), shape
        (n_bins, n_ell).
    theory_ell, theory
        Theory multipoles (n_th,) and spectra (n_bins, n_th) without IA; the ratio panel
        interpolates them to ``ell`` (better: pass theory binned like the maps, with
        ``theory_ell = ell``).
    sim_mean_ia, sim_err_ia, theory_ia
        The same with IA (all three or none).
    ell_range
        Validated multipole range to shade, or None.
    tolerance
        Half-width of the band in the ratio panel.
    validated
        (n_bins, n_ell) booleans: points outside the validated entries are drawn hollow.
    title
        Figure title.
    path
        Where to save (format from the suffix, written atomically); None to only return.

    Returns
    -------
    matplotlib.figure.Figure
    """
    ell_s = np.asarray(ell, dtype=np.float64)
    mean, err = np.atleast_2d(sim_mean).astype(float), np.atleast_2d(sim_err).astype(float)
    ell_t, th = np.asarray(theory_ell, dtype=np.float64), np.atleast_2d(theory).astype(float)
    n_bins = mean.shape[0]
    if mean.shape != err.shape or mean.shape[1] != ell_s.size:
        raise ValueError(
            f"sim_mean and sim_err must be (n_bins, {ell_s.size}); got {mean.shape}, {err.shape}"
        )
    if th.shape != (n_bins, ell_t.size):
        raise ValueError(f"theory must be ({n_bins}, {ell_t.size}); got {th.shape}")
    with_ia = [x is not None for x in (sim_mean_ia, sim_err_ia, theory_ia)]
    if any(with_ia) and not all(with_ia):
        raise ValueError("give sim_mean_ia, sim_err_ia and theory_ia together")
    sets = [("no IA", mean, err, th, "C0")]
    if sim_mean_ia is not None and sim_err_ia is not None and theory_ia is not None:  # all three
        mean_ia, err_ia = np.atleast_2d(sim_mean_ia).astype(float), np.atleast_2d(sim_err_ia).astype(float)
        th_ia = np.atleast_2d(theory_ia).astype(float)
        if mean_ia.shape != mean.shape or err_ia.shape != mean.shape or th_ia.shape != th.shape:
            raise ValueError("the IA arrays must have the shapes of the no-IA ones")
        sets.append(("$A_{IA}=1$", mean_ia, err_ia, th_ia, "C1"))

    ok = np.ones(mean.shape, dtype=bool) if validated is None else np.asarray(validated, dtype=bool)
    if ok.shape != mean.shape:
        raise ValueError(f"validated must be {mean.shape}; got {ok.shape}")
    fig = Figure(figsize=(3.2 * n_bins, 5.0), constrained_layout=True)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, n_bins, sharex=True, squeeze=False, gridspec_kw={"height_ratios": [3, 1]})
    scale_s = ell_s * (ell_s + 1) / (2 * np.pi)
    scale_t = ell_t * (ell_t + 1) / (2 * np.pi)
    for b in range(n_bins):
        top, bottom = axes[0, b], axes[1, b]
        for label, m, e, t, colour in sets:
            t_at = np.interp(ell_s, ell_t, t[b])
            for kept, face in ((ok[b], colour), (~ok[b], "white")):
                if not kept.any():
                    continue
                style = {"fmt": "o", "ms": 4.5, "color": colour, "mfc": face}
                top.errorbar(
                    ell_s[kept],
                    (scale_s * m[b])[kept],
                    yerr=(scale_s * e[b])[kept],
                    label=f"maps, {label}" if face != "white" else None,
                    **style,
                )
                bottom.errorbar(
                    ell_s[kept], (m[b] / t_at - 1)[kept], yerr=(e[b] / np.abs(t_at))[kept], **style
                )
            top.plot(ell_t, scale_t * t[b], "-", color=colour, label=f"theory, {label}")
        positive = all(np.all(s[1][b] > 0) and np.all(s[3][b] > 0) for s in sets)
        top.set_xscale("log")
        top.set_yscale("log" if positive else "linear")
        top.set_title(f"bin {b + 1}")
        bottom.axhspan(-tolerance, tolerance, color="0.9")
        bottom.axhline(0.0, color="0.4", lw=0.8)
        bottom.set_xlabel(r"$\ell$")
        if ell_range is not None:
            for ax in (top, bottom):
                ax.axvspan(*ell_range, color="0.95", zorder=-1)
        if b == 0:
            top.set_ylabel(r"$\ell(\ell+1)C_\ell/2\pi$")
            bottom.set_ylabel("maps/theory - 1")
            top.legend(fontsize="x-small")
    if title:
        fig.suptitle(title)
    if path is not None:
        path = Path(path)
        with atomic_path(path, suffix=path.suffix) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120)
    return fig
