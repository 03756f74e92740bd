"""CNN training (SPEC §6): networks, loss, input pipeline, distribution, training loop, plots.

One concept per module:

- :mod:`~wlcnn.training.settings`: the ``training:`` block, curricula, resume fingerprints;
- :mod:`~wlcnn.training.networks`: the paper's ResNets and the demo's tiny presets;
- :mod:`~wlcnn.training.loss`: Gaussian likelihood loss with a predicted Cholesky factor;
- :mod:`~wlcnn.training.mixture_density`: Gaussian-mixture posterior loss, amortized posterior
  estimator (MDN) and VMIM summaries;
- :mod:`~wlcnn.training.forward`: the pluggable forward model (stand-in, survey adapter);
- :mod:`~wlcnn.training.input_pipeline`: ``tf.data`` streaming of κ / κ_IA maps from HDF5;
- :mod:`~wlcnn.training.distribute`: default / Mirrored / MultiWorkerMirrored strategy choice;
- :mod:`~wlcnn.training.optimizer`: Adam with global-norm clipping for custom loops;
- :mod:`~wlcnn.training.history`: history CSV and progress line;
- :mod:`~wlcnn.training.trainer`: the training loop, resumption, curriculum;
- :mod:`~wlcnn.training.checkpoints` / :mod:`~wlcnn.training.export`: checkpoint files / the
  exported network;
- :mod:`~wlcnn.training.plots`: loss curves (Fig. 11);
- :mod:`~wlcnn.training.synthetic`: small synthetic map files (tests, benchmarks);
- :mod:`~wlcnn.training.cli`: ``python -m wlcnn.training``.

Importing this package does not import TensorFlow (the Snakefile uses
:func:`network_config_subset` at parse time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wlcnn._lazy import attach

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from wlcnn.training.export import ModelFileError, load_trained_model
    from wlcnn.training.networks import PRESETS, NetworkSpec, network_spec
    from wlcnn.training.settings import Stage, TrainingSettings, network_config_subset, stages_for
    from wlcnn.training.trainer import TrainingInterrupted, TrainingResult, train_network

__all__ = [
    "ModelFileError",
    "NetworkSpec",
    "PRESETS",
    "Stage",
    "TrainingInterrupted",
    "TrainingResult",
    "TrainingSettings",
    "load_trained_model",
    "network_config_subset",
    "network_spec",
    "stages_for",
    "train_network",
]

#: Public name -> the submodule that defines it (loaded on first use).
_HOME = {
    "ModelFileError": "export",
    "load_trained_model": "export",
    "PRESETS": "networks",
    "NetworkSpec": "networks",
    "network_spec": "networks",
    "Stage": "settings",
    "TrainingSettings": "settings",
    "network_config_subset": "settings",
    "stages_for": "settings",
    "TrainingInterrupted": "trainer",
    "TrainingResult": "trainer",
    "train_network": "trainer",
}

__getattr__, __dir__ = attach(__name__, _HOME, public=__all__)
