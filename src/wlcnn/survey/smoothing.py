"""Gaussian smoothing of maps (SPEC §5: σ_s = 2.34 arcmin, one pixel of 5 deg / 128).

The kernel is the Gaussian sampled at integer pixel offsets, truncated at ``truncate`` σ
(radius r = ceil(truncate σ) pixels) and normalised to unit sum, applied separably along y and
x. Boundary handling: the map is extended by zeros outside the patch (as masked pixels are
zero), i.e. a plain convolution with a zero-padded map; no renormalisation near the edges or
the mask, exactly as for the data, so that simulations and data are smoothed alike.

Examples
--------
>>> import numpy as np
>>> k = gaussian_kernel_1d(sigma_pix=1.0, truncate=4.0)
>>> k.size, round(float(k.sum()), 12), round(float(k[4] * np.sqrt(2 * np.pi)), 5)
(9, 1.0, 1.0)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["gaussian_kernel_1d", "smooth", "smooth_tf"]


def gaussian_kernel_1d(*, sigma_pix: float, truncate: float) -> np.ndarray:
    """Normalised 1-D Gaussian kernel (float64) of σ ``sigma_pix`` pixels, radius ceil(truncate σ)."""
    if sigma_pix <= 0:
        return np.ones(1)
    radius = math.ceil(truncate * sigma_pix)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (offsets / sigma_pix) ** 2)
    return kernel / kernel.sum()


def smooth(maps: np.ndarray, *, sigma_pix: float, truncate: float) -> np.ndarray:
    """Maps (..., N, N) smoothed along the last two axes (zero outside the map), float64."""
    kernel = gaussian_kernel_1d(sigma_pix=sigma_pix, truncate=truncate)
    out = ndimage.correlate1d(np.asarray(maps, dtype=np.float64), kernel, axis=-1, mode="constant", cval=0.0)
    return ndimage.correlate1d(out, kernel, axis=-2, mode="constant", cval=0.0)


def smooth_tf(maps: tf.Tensor, *, sigma_pix: float, truncate: float) -> tf.Tensor:
    """TensorFlow :func:`smooth`: float32 maps (..., N, N), two 1-D convolutions, zero padding."""
    import tensorflow as tf

    kernel = gaussian_kernel_1d(sigma_pix=sigma_pix, truncate=truncate).astype(np.float32)
    shape = tf.shape(maps)
    n_y, n_x = int(maps.shape[-2]), int(maps.shape[-1])
    flat = tf.reshape(maps, [-1, n_y, n_x, 1])
    # "SAME" with an odd kernel pads (size - 1)/2 zeros on each side: the zero extension.
    flat = tf.nn.conv2d(flat, kernel.reshape(1, -1, 1, 1), strides=1, padding="SAME")
    flat = tf.nn.conv2d(flat, kernel.reshape(-1, 1, 1, 1), strides=1, padding="SAME")
    return tf.reshape(flat, shape)
