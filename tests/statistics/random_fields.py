"""Periodic Gaussian and lognormal random fields of one known spectrum, for the statistics tests.

Independent of wlcnn: plain numpy FFTs. The spectrum is P(k) ∝ k⁻¹ exp(−(k s)²) in pixel units
(k in radians per pixel), smooth enough (s = 4 pixels) for finite-difference derivatives.
"""

from __future__ import annotations

import numpy as np

N_PIX = 128
SMOOTHING_PIX = 4.0
N_MAPS = 48
#: Lognormal shift relative to the Gaussian σ0: small means strongly skewed.
LOGNORMAL_SHIFT_SIGMAS = 1.25


def wavenumbers(n_pix: int = N_PIX) -> np.ndarray:
    f = np.fft.fftfreq(n_pix) * 2.0 * np.pi
    return np.hypot(f[:, None], f[None, :])


def spectrum(k: np.ndarray) -> np.ndarray:
    out = np.zeros_like(k)
    pos = k > 0
    out[pos] = k[pos] ** -1.0 * np.exp(-((k[pos] * SMOOTHING_PIX) ** 2))
    return out


def gaussian_field(rng: np.random.Generator, n_maps: int, *, amplitude: float = 1.0) -> np.ndarray:
    white = rng.standard_normal((n_maps, N_PIX, N_PIX))
    return amplitude * np.fft.ifft2(np.fft.fft2(white) * np.sqrt(spectrum(wavenumbers()))).real


def lognormal_field(rng: np.random.Generator, n_maps: int) -> np.ndarray:
    """κ = λ (exp(g − σ_g²/2) − 1) with ξ_g = ln(1 + ξ/λ²): the same two-point function as the GRF."""
    xi = np.fft.ifft2(spectrum(wavenumbers())).real
    shift = LOGNORMAL_SHIFT_SIGMAS * np.sqrt(xi[0, 0])
    xi_g = np.log1p(xi / shift**2)
    p_g = np.clip(np.fft.fft2(xi_g).real, 0.0, None)
    white = rng.standard_normal((n_maps, N_PIX, N_PIX))
    g = np.fft.ifft2(np.fft.fft2(white) * np.sqrt(p_g)).real
    return shift * (np.exp(g - xi_g[0, 0] / 2.0) - 1.0)
