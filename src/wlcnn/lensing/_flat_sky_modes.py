"""Flat-sky DFT modes of a square map: their multipoles, ℓ bins, and a theory curve at them.

Shared by the binned theory (:func:`wlcnn.lensing.theory.binned_theory`) and the Gaussian
random fields (:mod:`wlcnn.lensing.random_fields`), so both see the same modes as the estimator
:func:`wlcnn.statistics.power_spectrum`. Private to :mod:`wlcnn.lensing`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["bin_index", "interp_loglog", "mode_ell"]


def mode_ell(*, n_pix: int, side_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """|ℓ| of every DFT mode and the integer frequencies (ky, kx), each shape (n, n)."""
    k = np.fft.fftfreq(n_pix, d=1.0 / n_pix)
    ky, kx = np.meshgrid(k, k, indexing="ij")
    return 2.0 * np.pi * np.hypot(kx, ky) / np.deg2rad(side_deg), ky, kx


def bin_index(ell_modes: np.ndarray, ell_edges: np.ndarray) -> np.ndarray:
    """Bin of every mode (-1 outside the edges and for ℓ = 0)."""
    idx = np.searchsorted(ell_edges, ell_modes.ravel(), side="right") - 1
    idx[(idx >= ell_edges.size - 1) | (ell_modes.ravel() <= 0.0)] = -1
    return idx


def interp_loglog(ell: np.ndarray, cl: np.ndarray, at: np.ndarray) -> np.ndarray:
    """C(ℓ) at ``at`` by log-log interpolation of positive spectra (linear otherwise); 0 at ℓ=0."""
    out = np.zeros(at.shape + cl.shape[:-1])
    pos = at > 0
    if np.all(cl > 0):
        curves = np.log(cl.reshape(-1, ell.size))
        vals = np.exp(np.stack([np.interp(np.log(at[pos]), np.log(ell), c) for c in curves], axis=-1))
    else:
        curves = cl.reshape(-1, ell.size)
        vals = np.stack([np.interp(at[pos], ell, c) for c in curves], axis=-1)
    out[pos] = vals.reshape(int(pos.sum()), *cl.shape[:-1])
    return out
