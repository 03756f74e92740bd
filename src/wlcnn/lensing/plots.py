"""n(z) plots: each tomographic bin's redshift distribution with its bootstrap spread.

The spread comes from the bootstrap realisations (the KiDS-450 DIR bootstrap files, or the
demo's :func:`wlcnn.lensing.nz.bootstrap_nz_histograms`), read with
:func:`wlcnn.lensing.nz.read_nz_bins` from :func:`wlcnn.lensing.nz.bootstrap_nz_paths`. Every
curve is normalised to unit integral before the band (central 68 % of the realisations per z)
is taken, so that the band shows the shape uncertainty, not the files' normalisations.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wlcnn.lensing.nz import NzTable

__all__ = ["BAND_PERCENTILES", "plot_nz_bootstrap"]

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

    from wlcnn.atomic import atomic_path

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
