"""Kaiser-Squires (κ ↔ γ) on flat patches, with zero padding, and mode removal (SPEC §5).

Conventions: maps are arrays (..., y, x) (see :mod:`wlcnn.survey.patches`); shear maps carry the
component on axis -3, ``gamma[..., 0, :, :]`` = γ1, ``gamma[..., 1, :, :]`` = γ2. With (l1, l2) the
integer FFT frequencies along x and y of an M×M grid and l² = l1² + l2²,

    γ̃1 = D1 κ̃,  γ̃2 = D2 κ̃,   D1 = (l1² − l2²)/l²,  D2 = 2 l1 l2 / l²,
    κ̃_E = D1 γ̃1 + D2 γ̃2,      κ̃_B = D1 γ̃2 − D2 γ̃1   (Σ D_i² = 1).

The discrete kernels are D(0) = 0 (the mean of κ is not constrained by γ) and, for even M,
D2 = 0 on the Nyquist row and column: there D2 is odd under l → −l, which would make γ2
complex; zeroing it keeps γ real. γ1 = ψ,11/2 − ψ,22/2 and γ2 = ψ,12 for κ = ∇²ψ/2, with axis 1 = x.

Zero padding (``padding`` pixels on every side, SPEC: 64) is applied before the FFTs of κ→γ and
of mode removal, and cropped after, so the periodic FFT does not wrap the patch onto itself; the
patch is treated as a window of an otherwise empty sky (boundary effects are those of a
zero-extended field, the same for data, noise and simulations).

Mode removal zeroes, in the FFT of the (masked, padded) map, the modes that κ→γ cannot produce:
for γ1 where D1 = 0 (the diagonals |l1| = |l2|, and l = 0), for γ2 where D2 = 0 (the axes and,
for even M, the Nyquist lines). Without padding it is an exact projection (idempotent).

Every function has a NumPy reference (float64) and a TensorFlow version (float32/complex64, runs
on the device) computing the same thing; :func:`shear_plus_removed_noise_tf` fuses κ→γ of the
signal and mode removal of the noise for the forward model.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> kappa = rng.standard_normal((2, 32, 32))
>>> kappa = kappa - kappa.mean(axis=(-2, -1), keepdims=True)
>>> k_e, k_b = gamma_to_kappa(kappa_to_gamma(kappa, padding=0), padding=0)
>>> float(np.abs(k_b).max()) < 1e-12
True
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = [
    "gamma_to_kappa",
    "gamma_to_kappa_tf",
    "kappa_to_gamma",
    "kappa_to_gamma_tf",
    "ks_kernels",
    "mode_keep_masks",
    "remove_modes",
    "remove_modes_tf",
    "shear_plus_removed_noise_tf",
]

#: Axis of the shear component (γ1, γ2) in shear-map arrays.
COMPONENT_AXIS = -3


@cache
def ks_kernels(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The Kaiser-Squires kernels (D1, D2) of a ``size``×``size`` grid, arrays (y, x), float64.

    Frequencies are in numpy's FFT order. See the module docstring for D(0) and Nyquist.
    """
    k = np.fft.fftfreq(size, d=1.0 / size)  # integer frequencies, exact in float64
    l2, l1 = np.meshgrid(k, k, indexing="ij")
    l_sq = l1**2 + l2**2
    l_sq[0, 0] = 1.0  # D(0) set to 0 below; avoids 0/0
    d1 = (l1**2 - l2**2) / l_sq
    d2 = 2.0 * l1 * l2 / l_sq
    d1[0, 0] = d2[0, 0] = 0.0
    if size % 2 == 0:
        nyquist = size // 2
        d2[nyquist, :] = 0.0
        d2[:, nyquist] = 0.0
    d1.setflags(write=False)
    d2.setflags(write=False)
    return d1, d2


@cache
def mode_keep_masks(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (y, x) masks of the modes kept by mode removal for γ1 (D1 ≠ 0) and γ2 (D2 ≠ 0)."""
    d1, d2 = ks_kernels(size)
    keep1, keep2 = d1 != 0, d2 != 0
    keep1.setflags(write=False)
    keep2.setflags(write=False)
    return keep1, keep2


def _half(a: np.ndarray) -> np.ndarray:
    """The part of a full-spectrum (y, x) array that ``rfft2`` keeps (x frequencies >= 0)."""
    return a[:, : a.shape[1] // 2 + 1]


def _pad(maps: np.ndarray, padding: int) -> np.ndarray:
    if padding == 0:
        return maps
    widths = [(0, 0)] * (maps.ndim - 2) + [(padding, padding), (padding, padding)]
    return np.pad(maps, widths)


def _crop(maps: np.ndarray, padding: int, size: int) -> np.ndarray:
    return maps[..., padding : padding + size, padding : padding + size]


def kappa_to_gamma(kappa: np.ndarray, *, padding: int) -> np.ndarray:
    """Shear (..., 2, N, N) of convergence maps (..., N, N), zero-padded by ``padding`` pixels."""
    kappa = np.asarray(kappa, dtype=np.float64)
    n = kappa.shape[-1]
    m = n + 2 * padding
    d1, d2 = ks_kernels(m)
    k_t = np.fft.rfft2(_pad(kappa, padding))
    g1 = np.fft.irfft2(_half(d1) * k_t, s=(m, m))
    g2 = np.fft.irfft2(_half(d2) * k_t, s=(m, m))
    return np.stack([_crop(g1, padding, n), _crop(g2, padding, n)], axis=COMPONENT_AXIS)


def gamma_to_kappa(gamma: np.ndarray, *, padding: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """E- and B-mode convergence (each (..., N, N)) of shear maps (..., 2, N, N).

    ``padding`` = 0 (SPEC §6: the second KS inversion uses none) treats the map as periodic.
    """
    gamma = np.asarray(gamma, dtype=np.float64)
    n = gamma.shape[-1]
    m = n + 2 * padding
    d1, d2 = (_half(d) for d in ks_kernels(m))
    g_t = np.fft.rfft2(_pad(gamma, padding))
    g1_t, g2_t = g_t[..., 0, :, :], g_t[..., 1, :, :]
    k_e = np.fft.irfft2(d1 * g1_t + d2 * g2_t, s=(m, m))
    k_b = np.fft.irfft2(d1 * g2_t - d2 * g1_t, s=(m, m))
    return _crop(k_e, padding, n), _crop(k_b, padding, n)


def remove_modes(gamma: np.ndarray, *, padding: int) -> np.ndarray:
    """Shear maps (..., 2, N, N) with the modes κ→γ cannot produce zeroed (after zero padding)."""
    gamma = np.asarray(gamma, dtype=np.float64)
    n = gamma.shape[-1]
    m = n + 2 * padding
    keep = np.stack([_half(k) for k in mode_keep_masks(m)])
    g_t = np.fft.rfft2(_pad(gamma, padding)) * keep
    return _crop(np.fft.irfft2(g_t, s=(m, m)), padding, n)


# ---- TensorFlow versions (float32 maps, complex64 FFTs) ----
# They mirror the NumPy versions with real-input FFTs (rfft2d / irfft2d), which are the fastest
# TF transforms on CPUs and GPUs alike.


def _pad_tf(maps: tf.Tensor, padding: int) -> tf.Tensor:
    import tensorflow as tf

    if padding == 0:
        return maps
    rank = maps.shape.rank
    return tf.pad(maps, [[0, 0]] * (rank - 2) + [[padding, padding], [padding, padding]])


def _crop_tf(maps: tf.Tensor, padding: int, size: int) -> tf.Tensor:
    return maps[..., padding : padding + size, padding : padding + size]


def _half_tf(a: np.ndarray) -> tf.Tensor:
    """A real (y, x) full-spectrum array as the complex64 half spectrum rfft2d produces."""
    import tensorflow as tf

    return tf.constant(_half(a).astype(np.complex64))


def kappa_to_gamma_tf(kappa: tf.Tensor, *, padding: int) -> tf.Tensor:
    """TensorFlow :func:`kappa_to_gamma`: float32 (..., N, N) → (..., 2, N, N)."""
    import tensorflow as tf

    n = int(kappa.shape[-1])
    m = n + 2 * padding
    d1, d2 = ks_kernels(m)
    k_t = tf.signal.rfft2d(_pad_tf(kappa, padding))
    g_t = tf.stack([_half_tf(d1) * k_t, _half_tf(d2) * k_t], axis=COMPONENT_AXIS)
    return _crop_tf(tf.signal.irfft2d(g_t, fft_length=[m, m]), padding, n)


def gamma_to_kappa_tf(gamma: tf.Tensor, *, padding: int = 0) -> tuple[tf.Tensor, tf.Tensor]:
    """TensorFlow :func:`gamma_to_kappa`: (..., 2, N, N) → (κ_E, κ_B), each (..., N, N)."""
    import tensorflow as tf

    n = int(gamma.shape[-1])
    m = n + 2 * padding
    d1, d2 = (_half_tf(d) for d in ks_kernels(m))
    g_t = tf.signal.rfft2d(_pad_tf(gamma, padding))
    g1_t, g2_t = g_t[..., 0, :, :], g_t[..., 1, :, :]
    k_t = tf.stack([d1 * g1_t + d2 * g2_t, d1 * g2_t - d2 * g1_t], axis=0)
    k = _crop_tf(tf.signal.irfft2d(k_t, fft_length=[m, m]), padding, n)
    return k[0], k[1]


def remove_modes_tf(gamma: tf.Tensor, *, padding: int) -> tf.Tensor:
    """TensorFlow :func:`remove_modes`: (..., 2, N, N) → (..., 2, N, N)."""
    import tensorflow as tf

    n = int(gamma.shape[-1])
    m = n + 2 * padding
    keep = tf.stack([_half_tf(k) for k in mode_keep_masks(m)])
    g_t = tf.signal.rfft2d(_pad_tf(gamma, padding)) * keep
    return _crop_tf(tf.signal.irfft2d(g_t, fft_length=[m, m]), padding, n)


def shear_plus_removed_noise_tf(kappa: tf.Tensor, noise: tf.Tensor, *, padding: int) -> tf.Tensor:
    """``kappa_to_gamma_tf(kappa) + remove_modes_tf(noise)`` with one set of inverse FFTs.

    Both are linear and cropped alike, so their spectra can be added before a single inverse
    transform: the forward model's signal and noise share it when both are masked afterwards.
    ``kappa`` is (..., N, N), ``noise`` (..., 2, N, N); returns (..., 2, N, N).
    """
    import tensorflow as tf

    n = int(kappa.shape[-1])
    m = n + 2 * padding
    d1, d2 = (_half_tf(d) for d in ks_kernels(m))
    keep1, keep2 = (_half_tf(k) for k in mode_keep_masks(m))
    k_t = tf.signal.rfft2d(_pad_tf(kappa, padding))
    n_t = tf.signal.rfft2d(_pad_tf(noise, padding))
    g_t = tf.stack(
        [d1 * k_t + keep1 * n_t[..., 0, :, :], d2 * k_t + keep2 * n_t[..., 1, :, :]], axis=COMPONENT_AXIS
    )
    return _crop_tf(tf.signal.irfft2d(g_t, fft_length=[m, m]), padding, n)
