"""Figures of the shapes stage: calibration of both estimators, measured against exact shapes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_calibration", "plot_comparison"]

#: Marker size of scatter points.
_POINT_SIZE = 4
_FIGSIZE_CALIBRATION = (11.0, 8.0)
_FIGSIZE_COMPARISON = (5.5, 5.0)
_DPI = 100


def plot_calibration(
    summary: Mapping[str, Mapping[str, Any]],
    *,
    g_true: np.ndarray,
    estimates: Mapping[str, np.ndarray],
    path: str | Path,
) -> None:
    """Raw estimates vs true shear with the fitted bias, RMS error and m vs S/N and size.

    ``summary`` maps estimator name to :func:`wlcnn.shapes.calibration.calibration_summary`.
    """
    import matplotlib  # lazy: plotting only

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=_FIGSIZE_CALIBRATION)
    grid = np.linspace(g_true.min(), g_true.max(), 2)
    for name, g_est in estimates.items():
        fit = summary[name]["fit"]
        dots = axes[0, 0].scatter(g_true[:, 0], g_est[:, 0], s=_POINT_SIZE, alpha=0.3, label=f"{name} g1")
        axes[0, 0].plot(
            grid,
            (1 + fit["m"][0]) * grid + fit["c"][0],
            color=dots.get_facecolor()[0],
            alpha=1.0,
        )
        for ax, key, xlabel in (
            (axes[0, 1], "by_snr", "S/N"),
            (axes[1, 0], "by_size", "half-light radius [arcsec]"),
        ):
            bins = summary[name][key]
            ax.plot(bins["centre"], bins["rms"], "o-", label=f"{name} (RMS {summary[name]['rms_mean']:.3f})")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("RMS error after calibration")
        by_snr = summary[name]["by_snr"]
        axes[1, 1].plot(
            by_snr["centre"], np.nanmean(np.asarray(by_snr["m"], dtype=float), axis=1), "o-", label=name
        )
    axes[0, 0].set_xlabel("true g1")
    axes[0, 0].set_ylabel("raw estimate g1 (line: (1 + m) g + c)")
    axes[1, 1].set_xlabel("S/N")
    axes[1, 1].set_ylabel("m (mean of components)")
    axes[0, 1].set_xscale("log")
    axes[1, 1].set_xscale("log")
    for ax in axes.flat:
        ax.legend(fontsize="small")
    fig.suptitle("Shear calibration: CNN (seed paper Table 2) vs HSM moments")
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)


def plot_comparison(comparison: Mapping[str, Any], path: str | Path) -> None:
    """Cell-mean shears from measured shapes against those from exact shapes, with errors."""
    import matplotlib  # lazy: plotting only

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = comparison["cells"]
    exact, measured, error = (np.asarray(cells[k], dtype=float) for k in ("exact", "measured", "error"))
    fig, ax = plt.subplots(figsize=_FIGSIZE_COMPARISON)
    ax.errorbar(exact, measured, yerr=error, fmt="o", markersize=_POINT_SIZE, alpha=0.5)
    if exact.size:
        span = [float(min(exact.min(), measured.min())), float(max(exact.max(), measured.max()))]
        ax.plot(span, span, "k--", lw=1)
    ax.set_xlabel("cell mean shear, exact shapes")
    ax.set_ylabel("cell mean shear, measured (CNN) shapes")
    ax.set_title(
        f"chi2 / dof = {comparison['chi2']:.1f} / {comparison['dof']}, p = {comparison['p_value']:.2f}, "
        f"r = {comparison['correlation']:.2f}",
        fontsize="small",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
