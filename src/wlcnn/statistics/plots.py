"""The CosmoGAN comparison figures of a :class:`.compare.MapComparison` (matplotlib Agg, atomic).

* :func:`plot_statistic_bands` — mean ± σ of every statistic for both sets, per tomographic bin
  (CosmoGAN Figs. 2, 3);
* :func:`plot_distributions` — the per-map distributions of each statistic at a few bins;
* :func:`plot_pvalues` — observed and bootstrapped KS / AD p-values per bin (CosmoGAN Fig. 5);
* :func:`plot_correlation_difference` — correlation matrix of A minus that of B (CosmoGAN Fig. 4).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np

from wlcnn.atomic import atomic_path
from wlcnn.statistics.compare import BIN_LABELS, MapComparison

__all__ = ["plot_correlation_difference", "plot_distributions", "plot_pvalues", "plot_statistic_bands"]

_DPI = 110
#: Panel size (inches) of one statistic × tomographic bin.
_PANEL_IN = (2.6, 2.0)
_COLOURS = ("tab:blue", "tab:orange")
#: Bins per statistic whose 1-D distributions are drawn (spread over the bins).
N_DISTRIBUTION_BINS = 3
#: Histogram bins of a 1-D distribution.
_DISTRIBUTION_HIST_BINS = 20
#: Floor of p-values on the log axis (observed KS p-values can be 1e-60).
_P_FLOOR = 1e-12
_LOG_STATISTICS = ("power_spectrum",)


def _save(fig: Any, path: str | Path) -> None:
    suffix = Path(path).suffix or ".png"
    with atomic_path(path, suffix=suffix) as tmp:
        fig.savefig(tmp, dpi=_DPI, bbox_inches="tight", format=suffix.lstrip("."))
    plt.close(fig)


def _grid(n_rows: int, n_cols: int) -> tuple[Any, np.ndarray]:
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(_PANEL_IN[0] * n_cols, _PANEL_IN[1] * n_rows), squeeze=False
    )
    return fig, axes


def plot_statistic_bands(path: str | Path, comparison: MapComparison, *, title: str = "") -> None:
    """Mean ± standard deviation over maps of each statistic, both sets; rows statistics, columns bins."""
    stats = comparison.statistics
    n_tomo = next(iter(stats.values())).values_a.shape[1]
    fig, axes = _grid(len(stats), n_tomo)
    for row, (name, s) in enumerate(stats.items()):
        for t in range(n_tomo):
            ax = axes[row, t]
            for values, label, colour in zip(
                (s.values_a, s.values_b), comparison.labels, _COLOURS, strict=True
            ):
                mean, std = values[:, t].mean(axis=0), values[:, t].std(axis=0, ddof=1)
                ax.plot(s.x, mean, color=colour, label=label)
                ax.fill_between(s.x, mean - std, mean + std, color=colour, alpha=0.3)
            if name in _LOG_STATISTICS:
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_xlabel(BIN_LABELS[name], fontsize="small")
            ax.set_title(f"{name}, bin {t + 1}", fontsize="small")
    axes[0, 0].legend(fontsize="small")
    fig.suptitle(title or "mean ± σ over maps")
    fig.tight_layout()
    _save(fig, path)


def _distribution_bins(n_x: int) -> list[int]:
    """Up to :data:`N_DISTRIBUTION_BINS` indices spread over ``n_x`` bins."""
    return sorted(set(np.linspace(0, n_x - 1, min(N_DISTRIBUTION_BINS, n_x)).round().astype(int).tolist()))


def plot_distributions(
    path: str | Path, comparison: MapComparison, *, tomographic_bin: int = 0, title: str = ""
) -> None:
    """Per-map distributions of each statistic at a few bins of one tomographic bin."""
    stats = comparison.statistics
    fig, axes = _grid(len(stats), N_DISTRIBUTION_BINS)
    for row, (name, s) in enumerate(stats.items()):
        picks = _distribution_bins(len(s.x))
        for col in range(N_DISTRIBUTION_BINS):
            ax = axes[row, col]
            if col >= len(picks):
                ax.set_axis_off()
                continue
            k = picks[col]
            a, b = s.values_a[:, tomographic_bin, k], s.values_b[:, tomographic_bin, k]
            lo, hi = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
            edges = np.linspace(lo, hi if hi > lo else lo + 1.0, _DISTRIBUTION_HIST_BINS + 1)
            for values, label, colour in zip((a, b), comparison.labels, _COLOURS, strict=True):
                ax.hist(values, bins=edges, density=True, histtype="step", color=colour, label=label)
            p = float(s.ks_pvalue[tomographic_bin, k])
            ax.set_title(
                f"{name} at {BIN_LABELS[name].split(' ')[0]} = {s.x[k]:.3g}\nKS p = {p:.2g}", fontsize="small"
            )
    axes[0, 0].legend(fontsize="small")
    fig.suptitle(title or f"per-map distributions, tomographic bin {tomographic_bin + 1}")
    fig.tight_layout()
    _save(fig, path)


def plot_pvalues(path: str | Path, comparison: MapComparison, *, title: str = "") -> None:
    """Observed KS p-values and the bootstrapped KS / AD medians (16-84 % band) of every bin."""
    stats = comparison.statistics
    n_tomo = next(iter(stats.values())).values_a.shape[1]
    fig, axes = _grid(len(stats), n_tomo)
    alpha = comparison.settings.alpha
    for row, (name, s) in enumerate(stats.items()):
        for t in range(n_tomo):
            ax = axes[row, t]
            for boot, label, colour in (
                (s.bootstrap_ks, "KS (bootstrap)", _COLOURS[0]),
                (s.bootstrap_ad, "AD (bootstrap)", _COLOURS[1]),
            ):
                lo, med, hi = np.percentile(np.clip(boot[:, t], _P_FLOOR, 1.0), [16, 50, 84], axis=0)
                ax.plot(s.x, med, color=colour, label=label)
                ax.fill_between(s.x, lo, hi, color=colour, alpha=0.25)
            ax.plot(s.x, np.clip(s.ks_pvalue[t], _P_FLOOR, 1.0), "k.", label="KS (all maps)")
            ax.axhline(alpha, color="r", ls="--", lw=0.8, label=f"α = {alpha:g}")
            ax.axhline(alpha / comparison.n_tests, color="r", ls=":", lw=0.8, label="α / n_tests")
            ax.set_yscale("log")
            ax.set_ylim(_P_FLOOR / 2, 2.0)
            if name in _LOG_STATISTICS:
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_xlabel(BIN_LABELS[name], fontsize="small")
            ax.set_title(f"{name}, bin {t + 1}", fontsize="small")
    axes[0, 0].legend(fontsize="x-small")
    verdict = "different" if comparison.different else "consistent"
    fig.suptitle(
        title or f"two-sample p-values: {verdict} (corrected p = {comparison.min_pvalue_corrected:.2g})"
    )
    fig.tight_layout()
    _save(fig, path)


def plot_correlation_difference(path: str | Path, comparison: MapComparison, *, title: str = "") -> None:
    """Correlation matrix of set A minus that of set B, one panel per statistic (all bins flattened)."""
    stats = comparison.statistics
    n_cols = len(stats)
    fig, axes = _grid(1, n_cols)
    image = None
    for col, (name, s) in enumerate(stats.items()):
        ax = axes[0, col]
        image = ax.imshow(s.correlation_difference, vmin=-1.0, vmax=1.0, cmap="RdBu_r", origin="lower")
        ax.set_title(name, fontsize="small")
        ax.set_xlabel("bin (tomographic × x)", fontsize="x-small")
    if image is not None:
        fig.colorbar(
            image,
            ax=list(axes[0]),
            shrink=0.8,
            label=f"corr({comparison.labels[0]}) − corr({comparison.labels[1]})",
        )
    fig.suptitle(title or "correlation-matrix difference")
    _save(fig, path)
