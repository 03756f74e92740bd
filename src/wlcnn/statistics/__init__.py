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

Examples
--------
>>> import numpy as np
>>> from wlcnn import statistics
>>> maps = np.random.default_rng(0).normal(size=(4, 64, 64))
>>> statistics.minkowski_functionals(maps, np.linspace(-2, 2, 5), units="sigma").v0.shape
(4, 4)
"""

from __future__ import annotations

import importlib
from typing import Any

# Eager: the function shares its module's name, and a lazy attribute would be shadowed by the
# submodule once anything imports it (the estimator is numpy-only, so this costs nothing).
from wlcnn.statistics.power_spectrum import FlatSkySpectrum, FourierRings, power_spectrum, ring_edges

#: Public name → defining module. Loaded on first use (PEP 562) so that importing the power
#: spectrum (the inference baseline, Fig. 4) does not pay for numba and scipy.stats.
_WHERE = {
    "MinkowskiFunctionals": "minkowski",
    "PeakCounts": "peaks",
    "PixelHistogram": "histogram",
    "ThresholdUnits": "thresholds",
    "TwoSampleTests": "two_sample",
    "correlation_difference": "two_sample",
    "correlation_matrix": "correlation",
    "minkowski_functionals": "minkowski",
    "peak_counts": "peaks",
    "pixel_histogram": "histogram",
    "two_sample_tests": "two_sample",
}

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


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first access."""
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
