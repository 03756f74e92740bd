"""Shapes stage: a CNN shear estimator from galaxy postage stamps (seed paper 002).

One concept per module:

- :mod:`~wlcnn.shapes.settings`: the ``shapes:`` configuration block as :class:`ShapesSettings`;
- :mod:`~wlcnn.shapes.stamps`: GalSim stamp simulation (Sérsic galaxies, shear, PSF, noise,
  augmentations), chunked HDF5 stamp files and their reader;
- :mod:`~wlcnn.shapes.estimator`: the seed paper's Table 2 network, its MSE training with the
  project's checkpoint / strategy conventions, and measurement;
- :mod:`~wlcnn.shapes.moments`: the moments baseline (GalSim HSM), failures flagged;
- :mod:`~wlcnn.shapes.calibration`: the linear bias model ĝ = (1 + m) g + c, RMS errors, and
  the detection of a mis-calibrated estimator;
- :mod:`~wlcnn.shapes.catalogue`: stamp catalogue → the shear catalogue the survey stage reads.

GalSim and TensorFlow are imported lazily, where stamps are drawn or a network is built.
"""

from __future__ import annotations

__all__: list[str] = []
