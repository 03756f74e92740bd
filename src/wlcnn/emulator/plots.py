"""The emulator's figures (matplotlib Agg, written atomically), as in the CosmoGAN paper.

* :func:`plot_training` — both networks' losses and the model-selection χ² per step;
* :func:`plot_samples` — generated beside simulated maps per cosmology (paper Fig. 1);
* :func:`plot_pvalue_summary` — the corrected smallest KS p-value of every comparison;
* :func:`plot_memorisation` — nearest-training-map distances of generated and held-out maps;
* :func:`plot_interpolation` — maps along a latent interpolation.

The per-statistic figures (bands, p-values, correlation differences; paper Figs. 2-5) are
:mod:`wlcnn.statistics.plots`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from wlcnn.atomic import atomic_path

__all__ = ["plot_interpolation", "plot_memorisation", "plot_pvalue_summary", "plot_samples", "plot_training"]

_DPI = 110
#: Panel side (inches) of one map.
_MAP_IN = 1.6
#: Maps shown per set and cosmology in the sample figure.
N_SAMPLE_MAPS = 3
#: Histogram bins of the memorisation distances.
_DISTANCE_BINS = 20
#: Floor of p-values on the log axis.
_P_FLOOR = 1e-12
_COLOURS = ("tab:blue", "tab:orange")


def _save(fig: Any, path: str | Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=_DPI, bbox_inches="tight", format="png")
    plt.close(fig)


def plot_training(path: str | Path, history: Sequence[Mapping[str, float]], *, selected_step: int) -> None:
    """Losses of both networks and the development-set χ² against the step."""
    steps = np.array([r["step"] for r in history], dtype=float)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
    for key, colour in zip(("loss_discriminator", "loss_generator"), _COLOURS, strict=True):
        ax.plot(steps, [r[key] for r in history], color=colour, label=key.replace("loss_", ""))
    ax.set(xlabel="step", ylabel="loss (cross-entropy)")
    ax.legend(frameon=False)
    chi2 = np.array([r["ps_chi2"] for r in history], dtype=float)
    ok = np.isfinite(chi2)
    ax2.semilogy(steps[ok], chi2[ok], "o-", color="k")
    ax2.axvline(selected_step, color="tab:red", ls="--", label=f"selected (step {selected_step})")
    ax2.set(xlabel="step", ylabel="PS χ² to development set")
    ax2.legend(frameon=False)
    _save(fig, path)


def plot_samples(
    path: str | Path, sets: Mapping[str, tuple[np.ndarray, np.ndarray]], *, tomographic_bin: int = 0
) -> None:
    """Simulated (left) and generated (right) maps of one tomographic bin, a row per cosmology."""
    n_cols = 2 * N_SAMPLE_MAPS
    fig, axes = plt.subplots(
        len(sets), n_cols, figsize=(_MAP_IN * n_cols, _MAP_IN * len(sets)), squeeze=False
    )
    for row, (label, (simulated, generated)) in enumerate(sets.items()):
        lim = np.abs(simulated[..., tomographic_bin]).max()
        for k in range(N_SAMPLE_MAPS):
            for j, (maps, kind) in enumerate(((simulated, "sim"), (generated, "GAN"))):
                ax = axes[row, j * N_SAMPLE_MAPS + k]
                ax.imshow(maps[k, ..., tomographic_bin], cmap="viridis", vmin=-lim, vmax=lim, origin="lower")
                ax.set_xticks([])
                ax.set_yticks([])
                if row == 0:
                    ax.set_title(f"{kind} {k + 1}", fontsize=8)
        axes[row, 0].set_ylabel(label, fontsize=8)
    fig.suptitle(f"κ, tomographic bin {tomographic_bin + 1}: simulated | generated", fontsize=9)
    _save(fig, path)


def plot_pvalue_summary(path: str | Path, rows: Sequence[Mapping[str, Any]], *, alpha: float) -> None:
    """Corrected smallest KS p-value per comparison (bars), with the significance level."""
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(rows)), 3.2))
    values = [max(r["min_pvalue_corrected"], _P_FLOOR) for r in rows]
    colours = ["tab:red" if r["different"] else "tab:green" for r in rows]
    ax.bar(range(len(rows)), values, color=colours)
    ax.axhline(alpha, color="k", ls="--", label=f"α = {alpha}")
    ax.set_yscale("log")
    ax.set_xticks(range(len(rows)), [r["name"] for r in rows], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel(f"smallest KS p × n bins (floor {_P_FLOOR:g})")
    ax.legend(frameon=False)
    _save(fig, path)


def plot_memorisation(path: str | Path, distances: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    """Distance to the nearest training map, pixel and power-spectrum space, per query set."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.0))
    for ax, space in zip(axes, ("pixel", "power_spectrum"), strict=True):
        values = np.concatenate([d[space] for d in distances.values()])
        bins = np.linspace(values.min(), values.max(), _DISTANCE_BINS + 1)
        for (label, d), colour in zip(distances.items(), _COLOURS, strict=False):
            ax.hist(d[space], bins=bins, histtype="step", color=colour, label=label, density=True)
        ax.set(xlabel=f"distance to nearest training map ({space.replace('_', ' ')})", ylabel="density")
        ax.legend(frameon=False, fontsize=7)
    _save(fig, path)


def plot_interpolation(path: str | Path, maps: np.ndarray, *, tomographic_bin: int = 0) -> None:
    """Maps generated along a latent interpolation (one bin)."""
    n = len(maps)
    fig, axes = plt.subplots(1, n, figsize=(_MAP_IN * n, _MAP_IN), squeeze=False)
    lim = np.abs(maps[..., tomographic_bin]).max()
    for k, ax in enumerate(axes[0]):
        ax.imshow(maps[k, ..., tomographic_bin], cmap="viridis", vmin=-lim, vmax=lim, origin="lower")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"t = {k / max(n - 1, 1):.2f}", fontsize=7)
    _save(fig, path)
