"""A GAN emulator of convergence maps (CosmoGAN, Mustafa et al. 2019), conditional on cosmology.

Modules, one concept each:

* :mod:`.settings` — the ``emulator`` configuration block;
* :mod:`.pixel_transform` — the invertible map from κ to the generator's tanh range;
* :mod:`.data` — map files read, block-averaged to the emulator's size, channels last;
* :mod:`.networks` — the DCGAN generator and discriminator (TensorFlow, imported lazily);
* :mod:`.training` — the adversarial training loop (``tf.distribute``, checkpoints, model
  selection by the power-spectrum χ² to a development set);
* :mod:`.validation` — generated against held-out simulated maps with
  :mod:`wlcnn.statistics.compare`, memorisation tests, latent interpolation, generation speed.

Importing this package does not import TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wlcnn._lazy import attach

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from wlcnn.emulator.pixel_transform import PixelTransform
    from wlcnn.emulator.settings import EmulatorSettings

__all__ = ["EmulatorSettings", "PixelTransform"]
#: Public name -> the submodule that defines it (loaded on first use).
_HOME = {
    "EmulatorSettings": "settings",
    "PixelTransform": "pixel_transform",
}
__getattr__, __dir__ = attach(__name__, _HOME, public=__all__)
