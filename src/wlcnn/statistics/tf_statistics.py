r"""Map statistics of large batches with TensorFlow ops: power spectrum and peak counts.

The same estimators as :func:`wlcnn.statistics.power_spectrum` (flat sky, the mode → bin tables of
:class:`~wlcnn.statistics.FourierRings`) and :func:`wlcnn.statistics.peak_counts` (strict maxima
over the 8 neighbours, border pixels excluded, ``edges[i] <= κ < edges[i+1]``), in float32, for
maps that are already TensorFlow tensors (the float32 survey forward model) or batches of
thousands of maps, on the GPU where there is one. They agree with the NumPy float64 path to
float32 rounding (tested); peak heights within float32 rounding of an edge may fall in the
neighbouring bin. No masks: as in the inference, survey maps already carry zeros where they
are not observed.

Cost. Each statistic is one compiled graph per input shape. The spectrum is one ``rfft2d`` of
the batch and one matrix product with a fixed (N (N/2 + 1), n_ell) matrix of mode weights (zero
for the modes outside every bin); the peaks are 8 shifted comparisons, then only the peaks are
binned (one ``searchsorted`` and one ``bincount``). On 2 CPU cores, 4096 maps of 128²: the
spectrum 0.06 ms per map, the peaks 0.11 ms (the numba kernel: 0.04 ms); see
``bench/bench_statistics.py``. This module imports TensorFlow: import it only where TensorFlow
is wanted.

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
    b = a
    if other is not None:
        b = tf.convert_to_tensor(other, dtype=tf.float32)
        if b.shape != shape:
            raise ValueError(f"other: expected the shape of maps {shape}, found {b.shape}")
    norm = np.float32(np.deg2rad(side_deg) ** 2 / float(n_pix) ** 4)  # θ² / N⁴ (power_spectrum)
    cl = _binned_power(a, b, weights, other is not None) * norm
    if np.any(empty):
        cl = tf.where(tf.constant(empty), tf.constant(np.nan, dtype=tf.float32), cl)
    return cl


# One graph per (shape, auto/cross): eagerly, the element-wise ops between the FFT and the
# product each copied the batch and cost 3x the FFT (issue 16). No autograph: plain tensor code.
@tf.function(autograph=False, reduce_retracing=True)
def _binned_power(a: tf.Tensor, b: tf.Tensor, weights: tf.Tensor, cross: bool) -> tf.Tensor:
    """(..., n_ell) Σ over modes of weight × Re(ã b̃*) (ã ã* when not ``cross``)."""
    fa = tf.signal.rfft2d(a)
    if cross:
        fb = tf.signal.rfft2d(b)
        power = tf.math.real(fa) * tf.math.real(fb) + tf.math.imag(fa) * tf.math.imag(fb)
    else:
        power = tf.math.real(fa) ** 2 + tf.math.imag(fa) ** 2
    # Shapes from tf.shape: with reduce_retracing the traced dimensions may be unknown.
    lead = tf.shape(a)[:-2]
    cl = tf.matmul(tf.reshape(power, (-1, tf.shape(weights)[0])), weights)
    return tf.reshape(cl, tf.concat([lead, tf.shape(weights)[1:]], axis=0))


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
    edges = checked_edges(bins, name="bins")
    return _peak_counts(x, tf.constant(edges.astype(np.float32)))


@tf.function(autograph=False, reduce_retracing=True)
def _peak_counts(x: tf.Tensor, edges: tf.Tensor) -> tf.Tensor:
    """Graph of :func:`peak_counts_tf` (one per shape; see :func:`_binned_power`)."""
    # Shapes from tf.shape: with reduce_retracing the traced dimensions may be unknown.
    lead = tf.shape(x)[:-2]
    n = tf.shape(x)[-1]
    n_bins = tf.shape(edges)[0] - 1
    maps = tf.reshape(x, (-1, n, n))
    centre = maps[:, 1:-1, 1:-1]
    is_peak = tf.ones_like(centre, dtype=tf.bool)
    for di, dj in _NEIGHBOURS:
        is_peak &= centre > maps[:, 1 + di : n - 1 + di, 1 + dj : n - 1 + dj]
    # Only the peaks (~1 pixel in 10) are binned: searching the edges for every pixel cost
    # 3x the comparisons. Bin b holds edges[b] <= κ < edges[b + 1]: searchsorted (right) gives
    # b + 1, 0 below the first edge, n_edges at or above the last.
    heights = tf.boolean_mask(centre, is_peak)
    which_map = tf.cast(tf.where(is_peak)[:, 0], tf.int32)
    bucket = tf.searchsorted(edges, heights, side="right", out_type=tf.int32)
    inside = (bucket >= 1) & (bucket <= n_bins)
    slots = tf.boolean_mask(which_map * n_bins + bucket - 1, inside)
    n_slots = tf.shape(maps)[0] * n_bins
    counts = tf.math.bincount(slots, minlength=n_slots, maxlength=n_slots)
    return tf.reshape(counts, tf.concat([lead, [n_bins]], axis=0))
