"""Shapes stage: a CNN shear estimator from galaxy postage stamps (seed paper 002).

One concept per module:

- :mod:`~wlcnn.shapes.settings`: the ``shapes:`` configuration block (:class:`StampSettings`, ...);
- :mod:`~wlcnn.shapes.stamps`: GalSim stamp simulation (Sérsic galaxies, shear, PSF, noise,
  augmentations), chunked HDF5 stamp files and their reader;
- :mod:`~wlcnn.shapes.estimator`: the seed paper's Table 2 network, its MSE training with the
  project's checkpoint / strategy conventions, and measurement;
- :mod:`~wlcnn.shapes.moments`: the moments baseline (GalSim HSM), failures flagged;
- :mod:`~wlcnn.shapes.calibration`: the linear bias model ĝ = (1 + m) g + c, RMS errors, and
  the detection of a mis-calibrated estimator;
- :mod:`~wlcnn.shapes.catalogue`: stamp catalogue → the shear catalogue the survey stage reads;
- :mod:`~wlcnn.shapes.merge`: the survey catalogue with its rendered galaxies' shapes replaced by
  the measured ones;
- :mod:`~wlcnn.shapes.constraints_comparison`: constraints from measured vs exact shapes.

GalSim and TensorFlow are imported lazily, where stamps are drawn or a network is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wlcnn._lazy import attach

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from wlcnn.shapes.settings import (
        CalibrationSettings,
        EstimatorSettings,
        StampSettings,
        calibration_settings,
        estimator_settings,
        stamp_settings,
    )

__all__ = [
    "CalibrationSettings",
    "EstimatorSettings",
    "StampSettings",
    "calibration_settings",
    "estimator_settings",
    "stamp_settings",
]
#: Public name -> the submodule that defines it (loaded on first use).
_HOME = {
    "CalibrationSettings": "settings",
    "EstimatorSettings": "settings",
    "StampSettings": "settings",
    "calibration_settings": "settings",
    "estimator_settings": "settings",
    "stamp_settings": "settings",
}
__getattr__, __dir__ = attach(__name__, _HOME, public=__all__)
