r"""Map statistics of large batches with TensorFlow ops: power spectrum and peak counts.

The same estimators as :func:`wlcnn.statistics.power_spectrum` (flat sky, the mode → bin tables of
:class:`~wlcnn.statistics.FourierRings`) and :func:`wlcnn.statistics.peak_counts` (strict maxima
over the 8 neighbours, border pixels excluded, ``edges[i] <= κ < edges[i+1]``), in float32, for
maps that are already TensorFlow tensors (the float32 survey forward model) or batches of
thousands of maps, on the GPU where there is one. They agree with the NumPy float64 path to
float32 rounding (tested); peak heights within float32 rounding of an edge may fall in the
neighbouring bin. No masks: as in the inference, survey maps already carry zeros where they
are not observed.

Cost. The spectrum is one ``rfft2d`` of the batch and one matrix product with a fixed
(N (N/2 + 1), n_ell) matrix of mode weights (zero for the modes outside every bin), so it is
two large ops whatever the batch size; the peaks are 8 shifted comparisons and one bucketised
count. This module imports TensorFlow: import it only where TensorFlow is wanted.

Examples
--------
>>> import numpy as np
>>> from wlcnn.statistics import power_spectrum
>>> maps = np.random.default_rng(0).normal(size=(8, 32, 32)).astype(np.float32)
>>> edges = [300.0, 1000.0, 3000.0]
>>> cl = power_spectrum_tf(maps, side_deg=2.0, ell_edges=edges).numpy()
>>> bool(np.allclose(cl, power_spectrum(maps, side_deg=2.0, ell_edges=edges).cl, rtol=1e-5))
True
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
import tensorflow as tf

from wlcnn.statistics.power_spectrum import FourierRings
from wlcnn.statistics.thresholds import checked_edges

__all__ = ["peak_counts_tf", "power_spectrum_tf"]

#: Offsets (di, dj) of the 8 neighbours of a pixel.
_NEIGHBOURS = tuple((di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if (di, dj) != (0, 0))


@functools.lru_cache(maxsize=32)
def _mode_weights(
    n_pix: int, side_deg: float, edges: tuple[float, ...] | None
) -> tuple[tf.Tensor, np.ndarray]:
    """(N (N/2+1), n_ell) float32 weights of each rfft2 mode in each bin, and the empty bins."""
    rings = FourierRings.build(n_pix, side_deg=side_deg, ell_edges=None if edges is None else list(edges))
    dense = np.zeros((rings.n_fourier, rings.ell_edges.size - 1), dtype=np.float32)
    dense[rings.modes, rings.bins] = rings.weights
    return tf.constant(dense), rings.n_modes == 0


def power_spectrum_tf(
    maps: tf.Tensor | npt.ArrayLike,
    *,
    side_deg: float,
    ell_edges: npt.ArrayLike | None = None,
    other: tf.Tensor | npt.ArrayLike | None = None,
) -> tf.Tensor:
    """Binned flat-sky auto- or cross-power spectrum of a batch of square maps, float32.

    Parameters
    ----------
    maps
        Maps shaped (..., N, N) (cast to float32).
    side_deg
        Side of a map in degrees.
    ell_edges
        Increasing multipole bin edges; ``None`` for the unit-width Fourier rings.
    other
        Second set of maps of the same shape for a cross-spectrum.

    Returns
    -------
    tf.Tensor
        ``cl`` shaped (..., n_ell), float32, as :attr:`wlcnn.statistics.FlatSkySpectrum.cl`
        (NaN for bins without modes).

    Raises
    ------
    ValueError
        Maps not square, ``other`` of another shape, or bad edges.
    """
    a = tf.convert_to_tensor(maps, dtype=tf.float32)
    shape = a.shape
    if shape.rank is None or shape.rank < 2 or shape[-1] != shape[-2] or shape[-1] is None:
        raise ValueError(f"maps: expected square maps shaped (..., N, N), found shape {shape}")
    n_pix = int(shape[-1])
    edges = None if ell_edges is None else tuple(checked_edges(ell_edges, name="ell_edges").tolist())
    weights, empty = _mode_weights(n_pix, float(side_deg), edges)
    fa = tf.signal.rfft2d(a)
    if other is None:
        power = tf.math.real(fa) ** 2 + tf.math.imag(fa) ** 2
    else:
        b = tf.convert_to_tensor(other, dtype=tf.float32)
        if b.shape != shape:
            raise ValueError(f"other: expected the shape of maps {shape}, found {b.shape}")
        fb = tf.signal.rfft2d(b)
        power = tf.math.real(fa) * tf.math.real(fb) + tf.math.imag(fa) * tf.math.imag(fb)
    lead = tf.shape(a)[:-2]
    flat = tf.reshape(power, (-1, weights.shape[0]))
    norm = np.float32(np.deg2rad(side_deg) ** 2 / float(n_pix) ** 4)  # θ² / N⁴ (power_spectrum)
    cl = tf.matmul(flat, weights) * norm
    if np.any(empty):
        cl = tf.where(tf.constant(empty), tf.constant(np.nan, dtype=tf.float32), cl)
    return tf.reshape(cl, tf.concat([lead, [weights.shape[1]]], axis=0))


def peak_counts_tf(kappa: tf.Tensor | npt.ArrayLike, bins: npt.ArrayLike) -> tf.Tensor:
    """Peaks per height bin of every map (absolute edges, no mask), int32.

    Parameters
    ----------
    kappa
        Maps shaped (..., N, N) (cast to float32).
    bins
        Increasing height bin edges in map units.

    Returns
    -------
    tf.Tensor
        Counts shaped (..., n_bins), as :attr:`wlcnn.statistics.PeakCounts.counts`.

    Raises
    ------
    ValueError
        Maps not square or smaller than 3 × 3, or bad bins.
    """
    x = tf.convert_to_tensor(kappa, dtype=tf.float32)
    shape = x.shape
    if shape.rank is None or shape.rank < 2 or shape[-1] != shape[-2] or shape[-1] is None or shape[-1] < 3:
        raise ValueError(f"kappa: expected square maps shaped (..., N, N), N >= 3, found shape {shape}")
    n = int(shape[-1])
    edges = checked_edges(bins, name="bins")
    centre = x[..., 1:-1, 1:-1]
    is_peak = tf.ones_like(centre, dtype=tf.bool)
    for di, dj in _NEIGHBOURS:
        is_peak &= centre > x[..., 1 + di : n - 1 + di, 1 + dj : n - 1 + dj]
    # Bin b holds edges[b] <= κ < edges[b + 1]: bucketize gives b + 1, 0 below, n_edges above.
    bucket = tf.raw_ops.Bucketize(input=centre, boundaries=edges.astype(np.float32).tolist())
    n_bins = edges.size - 1
    in_range = is_peak & (bucket >= 1) & (bucket <= n_bins)
    lead = tf.shape(x)[:-2]
    flat_bucket = tf.reshape(tf.where(in_range, bucket - 1, n_bins), (-1, (n - 2) ** 2))
    counts = tf.math.bincount(flat_bucket, minlength=n_bins + 1, maxlength=n_bins + 1, axis=-1)
    return tf.reshape(counts[:, :n_bins], tf.concat([lead, [n_bins]], axis=0))
