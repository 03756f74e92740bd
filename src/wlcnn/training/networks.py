"""The paper's residual networks (SPEC §6) and small presets for the demo and the tests.

Architecture of every preset, for one patch of shape (n_pix, n_pix, n_channels_in):

1. two convolutions with stride 2 and no padding (``"valid"``), each followed by a ReLU; the
   first maps to ``channels`` feature maps, the second keeps ``channels``;
2. ``n_blocks`` residual blocks: conv (``"same"``) → ReLU → conv → add the block input → ReLU,
   without batch normalisation;
3. flatten and one dense layer without activation with :data:`N_OUTPUTS` = 9 outputs:
   3 parameters and the 6 entries of the Cholesky factor (see :mod:`wlcnn.training.loss`);
   or, with ``mixture_components`` K > 1, a mixture-density head of
   :func:`~wlcnn.training.mixture_density.n_outputs` (K, 3) = 10 K outputs (K blocks of 9 laid out
   like the K = 1 head, then K mixture logits; :mod:`wlcnn.training.mixture_density`), whose
   component means start spread over ± :data:`MIXTURE_INITIAL_SPREAD` so that they can split.

The network sees one patch at a time; a simulated survey (20 patches) is a batch of 20.

Only standard Keras layers are used, so an exported ``.keras`` file loads with
``keras.models.load_model`` and no custom objects.

Examples
--------
>>> spec = network_spec("resnet_3x3_15")
>>> spec.kernel_size, spec.n_blocks, spec.channels
(3, 15, 128)
>>> network_spec("tiny", channels=4).channels
4
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from wlcnn.seeding import rng_for
from wlcnn.training.loss import N_PARAMS
from wlcnn.training.mixture_density import initial_mixture_bias, n_outputs

if TYPE_CHECKING:
    import keras

__all__ = [
    "MIXTURE_INITIAL_SPREAD",
    "N_OUTPUTS",
    "PRESETS",
    "NetworkSpec",
    "build_network",
    "network_spec",
]

#: Network outputs: 3 parameters (Ωm, σ8, A_IA/10) + 6 free entries of a 3x3 lower-triangular L.
N_OUTPUTS = 9
#: K > 1 heads: initial component means at ± this (target units: a tenth of Ωm's and σ8's prior
#: widths), distinct enough to split, close enough not to slow the first steps.
MIXTURE_INITIAL_SPREAD = 0.1
#: Stride of the two input convolutions (each halves the map size).
INPUT_STRIDE = 2
#: Largest seed handed to a Keras initializer.
_SEED_LIMIT = 2**31 - 1


@dataclass(frozen=True)
class NetworkSpec:
    """Hyper-parameters of one residual network.

    Attributes
    ----------
    name
        Preset name (used in file names and logs).
    kernel_size
        Side of every convolution kernel, pixels.
    n_blocks
        Number of residual blocks.
    channels
        Feature maps of every convolution (C; the paper's 128).
    """

    name: str
    kernel_size: int
    n_blocks: int
    channels: int = 128


#: The paper's three networks and the demo's small ones.
PRESETS: dict[str, NetworkSpec] = {
    "resnet_5x5_10": NetworkSpec("resnet_5x5_10", kernel_size=5, n_blocks=10),
    "resnet_3x3_15": NetworkSpec("resnet_3x3_15", kernel_size=3, n_blocks=15),
    "resnet_3x3_25": NetworkSpec("resnet_3x3_25", kernel_size=3, n_blocks=25),
    # Demo / test sizes: same structure, a few thousand times fewer operations.
    "tiny": NetworkSpec("tiny", kernel_size=3, n_blocks=2, channels=8),
    "tiny_5x5": NetworkSpec("tiny_5x5", kernel_size=5, n_blocks=1, channels=8),
}


def network_spec(name: str, *, channels: int | None = None) -> NetworkSpec:
    """The preset ``name``, with ``channels`` overriding its C when given."""
    try:
        spec = PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown network {name!r}; presets: {sorted(PRESETS)}") from None
    return replace(spec, channels=int(channels)) if channels else spec


def build_network(
    spec: NetworkSpec,
    *,
    input_shape: tuple[int, int, int],
    seed: int,
    dtype_policy: str = "float32",
    mixture_components: int = 1,
) -> keras.Model:
    """Build the residual network of ``spec`` for patches of ``input_shape`` = (ny, nx, channels).

    Parameters
    ----------
    spec
        Architecture.
    input_shape
        Shape of one patch, channels last (the survey's (128, 128, 12)).
    seed
        Initialisation seed; each layer's initializer seed derives from it
        (:func:`wlcnn.seeding.rng_for`), so the same seed gives the same weights.
    dtype_policy
        Keras dtype policy of the hidden layers (``"float32"``, ``"mixed_float16"``,
        ``"mixed_bfloat16"``). The output layer always computes in float32 so that the loss
        (log-determinants, squares) is evaluated in full precision.
    mixture_components
        K of the head: 1 gives the 9-output Cholesky head (exactly as without this option),
        K > 1 a mixture-density head of ``n_outputs(K, 3)`` outputs.

    Returns
    -------
    keras.Model
        Functional model mapping (batch, ny, nx, channels) float32 to (batch, n_outputs(K, 3))
        float32 (9 for K = 1).
    """
    import keras

    counter = iter(range(1 << 30))

    def init() -> keras.initializers.Initializer:
        layer_seed = int(rng_for(seed, "network_init", next(counter)).integers(_SEED_LIMIT))
        return keras.initializers.GlorotUniform(seed=layer_seed)

    def conv(x: keras.KerasTensor, *, strides: int, padding: str, name: str) -> keras.KerasTensor:
        return keras.layers.Conv2D(
            spec.channels,
            spec.kernel_size,
            strides=strides,
            padding=padding,
            kernel_initializer=init(),
            dtype=dtype_policy,
            name=name,
        )(x)

    inputs = keras.Input(shape=input_shape, name="patch")
    x = inputs
    for i in range(2):
        x = conv(x, strides=INPUT_STRIDE, padding="valid", name=f"input_conv{i}")
        x = keras.layers.ReLU(dtype=dtype_policy, name=f"input_relu{i}")(x)
    for b in range(spec.n_blocks):
        y = conv(x, strides=1, padding="same", name=f"block{b}_conv0")
        y = keras.layers.ReLU(dtype=dtype_policy, name=f"block{b}_relu0")(y)
        y = conv(y, strides=1, padding="same", name=f"block{b}_conv1")
        x = keras.layers.Add(dtype=dtype_policy, name=f"block{b}_add")([x, y])
        x = keras.layers.ReLU(dtype=dtype_policy, name=f"block{b}_relu1")(x)
    x = keras.layers.Flatten(dtype=dtype_policy, name="flatten")(x)
    if mixture_components == 1:
        # The original head, untouched: K = 1 trains bit-identically to before the option existed.
        outputs = keras.layers.Dense(N_OUTPUTS, kernel_initializer=init(), dtype="float32", name="outputs")(x)
    else:
        outputs = keras.layers.Dense(
            n_outputs(mixture_components, N_PARAMS),
            kernel_initializer=init(),
            bias_initializer=keras.initializers.Constant(
                initial_mixture_bias(mixture_components, N_PARAMS, spread=MIXTURE_INITIAL_SPREAD)
            ),
            dtype="float32",
            name="outputs",
        )(x)
    return keras.Model(inputs, outputs, name=spec.name)
