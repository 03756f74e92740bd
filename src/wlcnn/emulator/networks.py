"""The DCGAN generator and discriminator of CosmoGAN, with four tomographic channels.

Generator (seed paper, Table 1, at ``n = emulator.n_pix``, ``f = base_filters``)::

    z ~ N(0, 1)^latent_dim  [⊕ condition (Ωm, σ8)]
    dense -> reshape (n/16, n/16, 8f) -> BN -> ReLU
    4 × transposed conv 5×5 stride 2: 4f, 2f, f (each BN -> ReLU), then n_bins -> tanh

Discriminator::

    map (n, n, n_bins)  [⊕ condition as constant planes]
    conv 5×5 stride 2: f -> LeakyReLU(0.2)
    conv 5×5 stride 2: 2f, 4f, 8f (each BN -> LeakyReLU(0.2))
    flatten -> dense (1): the logit whose sigmoid is the probability "simulated"

The sigmoid of the discriminator's output is folded into the cross-entropy of
:mod:`wlcnn.emulator.training` (``from_logits``), which is the same function, computed without
the saturation of ``log(sigmoid)`` in float32.

Conditioning on cosmology (beyond the seed paper, its stated next step): (Ωm, σ8), scaled to
[-1, 1] over the prior (:func:`normalise_condition`), is concatenated to the generator's latent
vector, and enters the discriminator as two constant feature planes concatenated to the map's
channels, so that it judges a map *for* a cosmology. TensorFlow is imported when a network is
built, not with this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from wlcnn.emulator.settings import N_UPSAMPLINGS, EmulatorSettings

__all__ = ["N_CONDITIONS", "build_discriminator", "build_generator", "normalise_condition"]

#: The condition's parameters: (Ωm, σ8).
N_CONDITIONS = 2
#: Filters of the generator's dense layer relative to ``base_filters`` (halved per upsampling).
_DENSE_FILTER_FACTOR = 2 ** (N_UPSAMPLINGS - 1)
#: Momentum of the batch normalisation (the DCGAN reference value).
_BN_MOMENTUM = 0.9
_BN_EPSILON = 1.0e-5
#: Weights initialised N(0, 0.02) as in DCGAN and CosmoGAN.
_INIT_STDDEV = 0.02


def normalise_condition(
    omega_m: npt.ArrayLike, sigma8: npt.ArrayLike, *, prior: dict[str, Sequence[float]]
) -> np.ndarray:
    """(Ωm, σ8) scaled to [-1, 1] over ``cosmology.prior``, shape (..., 2), float32."""
    out = []
    for value, name in ((omega_m, "omega_m"), (sigma8, "sigma8")):
        lo, hi = prior[name]
        out.append(2.0 * (np.asarray(value, dtype=np.float64) - lo) / (hi - lo) - 1.0)
    return np.stack(out, axis=-1).astype(np.float32)


def build_generator(settings: EmulatorSettings, *, n_bins: int) -> Any:
    """The generator: inputs ``[z, condition]`` (or ``z``), output (batch, n, n, n_bins) in (-1, 1)."""
    import keras  # lazy: the emulator package is used without TensorFlow (settings, transform)

    init = keras.initializers.RandomNormal(stddev=_INIT_STDDEV)
    f, n0 = settings.base_filters, settings.n_pix // 2**N_UPSAMPLINGS
    z = keras.Input((settings.latent_dim,), name="latent")
    inputs = [z]
    x = z
    if settings.conditional:
        cond = keras.Input((N_CONDITIONS,), name="condition")
        inputs.append(cond)
        x = keras.layers.Concatenate(name="latent_and_condition")([z, cond])
    x = keras.layers.Dense(n0 * n0 * f * _DENSE_FILTER_FACTOR, kernel_initializer=init, name="dense")(x)
    x = keras.layers.Reshape((n0, n0, f * _DENSE_FILTER_FACTOR))(x)
    x = keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON)(x)
    x = keras.layers.ReLU()(x)
    for k in range(N_UPSAMPLINGS):
        last = k == N_UPSAMPLINGS - 1
        filters = n_bins if last else f * _DENSE_FILTER_FACTOR // 2 ** (k + 1)
        x = keras.layers.Conv2DTranspose(
            filters,
            settings.kernel_size,
            strides=2,
            padding="same",
            kernel_initializer=init,
            name=f"deconv{k + 1}",
        )(x)
        if last:
            x = keras.layers.Activation("tanh", name="tanh", dtype="float32")(x)
        else:
            x = keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON)(x)
            x = keras.layers.ReLU()(x)
    return keras.Model(inputs if settings.conditional else z, x, name="generator")


def build_discriminator(settings: EmulatorSettings, *, n_bins: int) -> Any:
    """The discriminator: inputs ``[map, condition]`` (or ``map``), output the logit (batch, 1)."""
    import keras  # lazy: the emulator package is used without TensorFlow (settings, transform)

    init = keras.initializers.RandomNormal(stddev=_INIT_STDDEV)
    n = settings.n_pix
    image = keras.Input((n, n, n_bins), name="map")
    inputs = [image]
    x = image
    if settings.conditional:
        cond = keras.Input((N_CONDITIONS,), name="condition")
        inputs.append(cond)
        planes = keras.layers.Reshape((1, 1, N_CONDITIONS))(cond)
        planes = keras.layers.UpSampling2D(size=(n, n), name="condition_planes")(planes)
        x = keras.layers.Concatenate(name="map_and_condition")([image, planes])
    for k in range(N_UPSAMPLINGS):
        x = keras.layers.Conv2D(
            settings.base_filters * 2**k,
            settings.kernel_size,
            strides=2,
            padding="same",
            kernel_initializer=init,
            name=f"conv{k + 1}",
        )(x)
        if k > 0:
            x = keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON)(x)
        x = keras.layers.LeakyReLU(negative_slope=settings.leaky_relu_slope)(x)
    x = keras.layers.Flatten()(x)
    logit = keras.layers.Dense(1, kernel_initializer=init, name="logit", dtype="float32")(x)
    return keras.Model(inputs if settings.conditional else image, logit, name="discriminator")
