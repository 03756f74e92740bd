"""Map statistics and two-sample tests (SPEC §10): the CosmoGAN comparison toolkit.

Every statistic is batched over leading map axes (maps shaped ``(..., N, N)``) and takes an
optional boolean mask (``True`` = observed pixel):

* :func:`pixel_histogram` — the pixel-intensity PDF (:mod:`.histogram`);
* :func:`power_spectrum` — the project's one flat-sky estimator, per Fourier ring or binned
  (:mod:`.power_spectrum`);
* :func:`minkowski_functionals` — V0, V1, V2 (:mod:`.minkowski`);
* :func:`peak_counts` — local maxima over the 8 neighbours (:mod:`.peaks`);
* :func:`correlation_matrix` — of any statistic's bins over a map set (:mod:`.correlation`);
* :func:`two_sample_tests`, :func:`correlation_difference` — bootstrapped KS / AD tests between
  two map sets (:mod:`.two_sample`).

Thresholds and bin edges are absolute or in units of each map's σ0 (:mod:`.thresholds`).
For thousands of maps, or maps already held as TensorFlow tensors, :mod:`.tf_statistics` has
the spectrum and the peak counts as float32 TensorFlow graphs (import it explicitly: it imports
TensorFlow, which this package does not).

Examples
--------
>>> import numpy as np
>>> from wlcnn import statistics
>>> maps = np.random.default_rng(0).normal(size=(4, 64, 64))
>>> statistics.minkowski_functionals(maps, np.linspace(-2, 2, 5), units="sigma").v0.shape
(4, 4)

The names below are loaded on first use (:mod:`wlcnn._lazy`), so that importing the power
spectrum (the inference baseline, Fig. 4) does not pay for numba and scipy.stats.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wlcnn._lazy import attach

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from wlcnn.statistics.correlation import correlation_matrix
    from wlcnn.statistics.histogram import PixelHistogram, pixel_histogram
    from wlcnn.statistics.minkowski import MinkowskiFunctionals, minkowski_functionals
    from wlcnn.statistics.peaks import PeakCounts, peak_counts
    from wlcnn.statistics.power_spectrum import FlatSkySpectrum, FourierRings, power_spectrum, ring_edges
    from wlcnn.statistics.thresholds import ThresholdUnits
    from wlcnn.statistics.two_sample import TwoSampleTests, correlation_difference, two_sample_tests

__all__ = [
    "FlatSkySpectrum",
    "FourierRings",
    "MinkowskiFunctionals",
    "PeakCounts",
    "PixelHistogram",
    "ThresholdUnits",
    "TwoSampleTests",
    "correlation_difference",
    "correlation_matrix",
    "minkowski_functionals",
    "peak_counts",
    "pixel_histogram",
    "power_spectrum",
    "ring_edges",
    "two_sample_tests",
]

#: Public name -> the submodule that defines it (loaded on first use).
_HOME = {
    "FlatSkySpectrum": "power_spectrum",
    "FourierRings": "power_spectrum",
    "power_spectrum": "power_spectrum",
    "ring_edges": "power_spectrum",
    "PixelHistogram": "histogram",
    "pixel_histogram": "histogram",
    "MinkowskiFunctionals": "minkowski",
    "minkowski_functionals": "minkowski",
    "PeakCounts": "peaks",
    "peak_counts": "peaks",
    "ThresholdUnits": "thresholds",
    "correlation_matrix": "correlation",
    "TwoSampleTests": "two_sample",
    "correlation_difference": "two_sample",
    "two_sample_tests": "two_sample",
}

__getattr__, __dir__ = attach(__name__, _HOME, public=__all__)
