"""Plots of the survey's patch maps.

The paper's Fig. 1 (galaxy counts per pixel), with the observed shear and convergence per
tomographic bin and the mask.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wlcnn.atomic import atomic_path
from wlcnn.survey.kaiser_squires import gamma_to_kappa
from wlcnn.survey.shear_maps import PatchMaps

__all__ = ["plot_patch_maps"]


def plot_patch_maps(maps: PatchMaps, path: str | Path, *, patch: int = 0) -> Path:
    """Counts per pixel, |γ| and the KS κ of one patch, per bin; masked pixels in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_bins = maps.mask.shape[1]
    fig, axes = plt.subplots(3, n_bins, figsize=(3.2 * n_bins, 9.2), squeeze=False)
    half = maps.patch_size_deg / 2
    extent = (-half, half, -half, half)
    gamma = maps.gamma[patch]  # (bin, 2, y, x)
    kappa, _ = gamma_to_kappa(np.where(maps.mask[patch][:, None], gamma, 0.0))  # E mode
    for b in range(n_bins):
        mask = maps.mask[patch, b]
        rows = (
            ("galaxies per pixel", maps.counts[patch, b], "viridis"),
            ("|γ|", np.where(mask, np.hypot(gamma[b, 0], gamma[b, 1]), np.nan), "magma"),
            ("κ (Kaiser-Squires)", np.where(mask, kappa[b], np.nan), "RdBu_r"),
        )
        for r, (label, image, cmap) in enumerate(rows):
            ax = axes[r, b]
            cm = plt.get_cmap(cmap).copy()
            cm.set_bad("0.7")
            im = ax.imshow(image, origin="lower", extent=extent, cmap=cm)
            fig.colorbar(im, ax=ax, shrink=0.8)
            lo, hi = maps.zb_edges[b], maps.zb_edges[b + 1]
            ax.set_title(f"{label}\nbin {b + 1}: {lo} < Z_B ≤ {hi}", fontsize=9)
            ax.set_xlabel("x [deg]")
            ax.set_ylabel("y [deg]")
    centre = maps.patch_centres[patch]
    fig.suptitle(f"patch {patch} at (RA, Dec) = ({centre[0]:.2f}, {centre[1]:.2f}) deg; grey: masked")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return Path(path)
