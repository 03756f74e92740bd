"""CNN input assembly (SPEC §6): simulated κ maps → noisy, masked, smoothed (γ, κ) tensors.

For one simulated survey (one cosmology's n_patches × n_bins maps):

1. κ_tot = (κ + A_IA κ_IA) (1 + m_b + ε_b), ε_b ~ N(0, σ_m) per bin (m_b from the data);
2. zero-pad by ``padding`` pixels, κ→γ (Kaiser-Squires), crop, multiply by the mask;
3. a shape-noise realisation from the data (random rotations), mode removal (padded, on the
   masked map), re-masked (``mask_after_mode_removal``);
4. add, smooth every map (Gaussian σ_s), then a second KS inversion without padding gives the
   κ_E estimate of each bin.

The observed data go through steps 3–4 with the data shear maps in place of the noise (no
rotation): :meth:`ForwardModel.observe`, so data and simulations are processed identically.
:meth:`ForwardModel.simulate_noise_free` leaves out step 3 (pre-training on noise-free maps).

Output: float32 (n_patches, n_pix, n_pix, 3 n_bins), channels last, in the order of
:func:`channel_names`: ``γ1_b0, γ2_b0, γ1_b1, γ2_b1, ..., κ_b0, κ_b1, ...`` (SPEC: (20, 128, 128,
12) for 4 bins).

:class:`ForwardModel` is the NumPy reference (float64 arithmetic); :class:`TFForwardModel` the
TensorFlow version (float32, runs on the device inside a ``tf.data`` pipeline). Given the same
draws (:class:`ForwardDraws`) they agree to 1e-5. Draws come from the seeding scheme:
:meth:`ForwardModel.draw` takes a ``numpy.random.Generator`` (``wlcnn.seeding.rng_for``), and
:meth:`TFForwardModel.draw` a stateless TF seed (:func:`stateless_seed`), both reproducible.

Examples
--------
>>> channel_names(2)
['gamma1_bin0', 'gamma2_bin0', 'gamma1_bin1', 'gamma2_bin1', 'kappa_bin0', 'kappa_bin1']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from wlcnn.seeding import rng_for
from wlcnn.survey.kaiser_squires import (
    gamma_to_kappa,
    gamma_to_kappa_tf,
    kappa_to_gamma,
    kappa_to_gamma_tf,
    remove_modes,
    remove_modes_tf,
    shear_plus_removed_noise_tf,
)
from wlcnn.survey.settings import SurveySettings
from wlcnn.survey.shape_noise import (
    NoiseIngredients,
    draw_rotation_angles,
    draw_rotation_angles_tf,
    shape_noise_numpy,
    shape_noise_tf,
)
from wlcnn.survey.smoothing import smooth, smooth_tf

if TYPE_CHECKING:
    import tensorflow as tf

    from wlcnn.survey.shear_maps import PatchMaps

__all__ = [
    "ForwardDraws",
    "ForwardModel",
    "TFForwardModel",
    "assemble_inputs_numpy",
    "assemble_inputs_tf",
    "channel_names",
    "stateless_seed",
]

#: Components per shear map (γ1, γ2).
N_COMPONENTS = 2
#: Largest seed word accepted by TF's stateless random ops (int64).
_SEED_LIMIT = np.iinfo(np.int64).max


def channel_names(n_bins: int) -> list[str]:
    """Names of the output channels, in order: per bin (γ1, γ2), then the κ_E of every bin."""
    shear = [f"gamma{c}_bin{b}" for b in range(n_bins) for c in (1, 2)]
    return shear + [f"kappa_bin{b}" for b in range(n_bins)]


def stateless_seed(base_seed: int, *identity: object) -> np.ndarray:
    """A (2,) int64 seed for TF stateless random ops, derived like every other seed (rng_for)."""
    return rng_for(base_seed, "tf_stateless", *identity).integers(0, _SEED_LIMIT, size=2, dtype=np.int64)


@dataclass(frozen=True)
class ForwardDraws:
    """The random draws of one simulated survey.

    Attributes
    ----------
    a_ia
        Intrinsic-alignment amplitude A_IA.
    m_error
        (n_bins,) error ε on the multiplicative bias of each bin.
    phase
        (n_galaxies,) phases (radians) of the randomly rotated ellipticities of the shape noise,
        in the order of the noise ingredients (:mod:`wlcnn.survey.shape_noise`).
    """

    a_ia: Any
    m_error: Any
    phase: Any

    @property
    def theta(self) -> Any:
        """Former name of :attr:`phase` (kept for callers written against it)."""
        return self.phase


def _to_channels_last(gamma: np.ndarray, kappa: np.ndarray) -> np.ndarray:
    """(P, B, 2, N, N) shear and (P, B, N, N) κ → (P, N, N, 3B) in :func:`channel_names` order."""
    p, b, _, n, _ = gamma.shape
    shear = gamma.reshape(p, b * N_COMPONENTS, n, n)
    return np.concatenate([shear, kappa], axis=1).transpose(0, 2, 3, 1)


@dataclass(frozen=True)
class ForwardModel:
    """NumPy reference forward model (see the module docstring).

    Attributes
    ----------
    mask
        (P, B, N, N) bool, True = observed pixel.
    noise
        Shape-noise ingredients of the same (P, B, N, N) layout.
    multiplicative_bias
        (B,) m per bin.
    multiplicative_bias_sigma
        σ of the error ε on m (SPEC: 0.01).
    padding
        Zero padding (pixels per side) of κ→γ and of mode removal (SPEC: 64).
    smoothing_sigma_pix, smoothing_truncate
        Gaussian smoothing σ in pixels and its truncation in σ.
    mask_after_mode_removal
        Re-mask the noise / data maps after mode removal.
    """

    mask: np.ndarray
    noise: NoiseIngredients
    multiplicative_bias: np.ndarray
    multiplicative_bias_sigma: float
    padding: int
    smoothing_sigma_pix: float
    smoothing_truncate: float
    mask_after_mode_removal: bool = True

    @classmethod
    def from_patch_maps(cls, maps: PatchMaps, *, settings: SurveySettings) -> ForwardModel:
        """The forward model of a survey's patch maps (:func:`~wlcnn.survey.read_patch_maps`)."""
        return cls(
            mask=maps.mask,
            noise=maps.noise,
            multiplicative_bias=np.asarray(maps.multiplicative_bias),
            multiplicative_bias_sigma=settings.multiplicative_bias_sigma,
            padding=settings.ks_padding,
            smoothing_sigma_pix=settings.smoothing_sigma_pix,
            smoothing_truncate=settings.smoothing_truncate,
            mask_after_mode_removal=settings.mask_after_mode_removal,
        )

    @property
    def n_bins(self) -> int:
        """Number of tomographic bins."""
        return int(self.mask.shape[1])

    def draw(self, rng: np.random.Generator, *, a_ia_range: Sequence[float]) -> ForwardDraws:
        """Draw A_IA ~ U(a_ia_range), ε ~ N(0, σ_m) per bin and the noise phases, in that order."""
        a_ia = float(rng.uniform(a_ia_range[0], a_ia_range[1]))
        m_error = rng.normal(0.0, self.multiplicative_bias_sigma, size=self.n_bins)
        return ForwardDraws(
            a_ia=a_ia, m_error=m_error, phase=draw_rotation_angles(rng, self.noise.n_galaxies)
        )

    def _finish(self, gamma: np.ndarray) -> np.ndarray:
        smoothed = smooth(gamma, sigma_pix=self.smoothing_sigma_pix, truncate=self.smoothing_truncate)
        kappa_e, _ = gamma_to_kappa(smoothed, padding=0)
        return _to_channels_last(smoothed, kappa_e).astype(np.float32)

    def _clean(self, gamma: np.ndarray) -> np.ndarray:
        """Mode removal (padded) and optional re-masking of noise or data shear maps."""
        gamma = remove_modes(gamma, padding=self.padding)
        return gamma * self.mask[:, :, None] if self.mask_after_mode_removal else gamma

    def _signal(self, kappa: np.ndarray, kappa_ia: np.ndarray, draws: ForwardDraws) -> np.ndarray:
        """Masked shear (P, B, 2, N, N) of (κ + A_IA κ_IA)(1 + m + ε), padded KS."""
        bias = 1.0 + self.multiplicative_bias + np.asarray(draws.m_error, dtype=np.float64)
        kappa_tot = (np.asarray(kappa, np.float64) + draws.a_ia * np.asarray(kappa_ia, np.float64)) * bias[
            None, :, None, None
        ]
        return kappa_to_gamma(kappa_tot, padding=self.padding) * self.mask[:, :, None]

    def simulate(self, kappa: np.ndarray, kappa_ia: np.ndarray, draws: ForwardDraws) -> np.ndarray:
        """CNN input (P, N, N, 3B) float32 of simulated maps κ, κ_IA (P, B, N, N) and ``draws``."""
        noise = self._clean(shape_noise_numpy(self.noise, phase=draws.phase))
        return self._finish(self._signal(kappa, kappa_ia, draws) + noise)

    def simulate_noise_free(self, kappa: np.ndarray, kappa_ia: np.ndarray, draws: ForwardDraws) -> np.ndarray:
        """:meth:`simulate` without the shape noise (pre-training on noise-free maps); ignores the phases."""
        return self._finish(self._signal(kappa, kappa_ia, draws))

    def observe(self, gamma_obs: np.ndarray) -> np.ndarray:
        """CNN input (P, N, N, 3B) float32 of the observed shear maps (P, B, 2, N, N) (data vector)."""
        return self._finish(self._clean(np.asarray(gamma_obs, dtype=np.float64) * self.mask[:, :, None]))


class TFForwardModel:
    """TensorFlow forward model, the same computation as :class:`ForwardModel` in float32.

    The constant ingredients (mask, noise indices and weights, m) become device tensors once.
    Compiled (``tf.function``) entry points, callable inside a ``tf.data`` map or a training step:

    - ``simulate(kappa, kappa_ia, a_ia, m_error, phase)``: the CNN input of one survey;
    - ``simulate_noise_free(kappa, kappa_ia, a_ia, m_error)``: the same without shape noise;
    - ``observe(gamma_obs)``: the data vector input of the observed shear maps;
    - :meth:`simulate_seeded`: draws on the device from a stateless seed, then ``simulate``;
    - :meth:`simulate_batch`: several surveys in one call, their patches stacked (test-set
      summaries: large batches for the device, one graph call for many surveys).

    ``jit_compile`` is left off: XLA has no sorted segment sum on every device.
    """

    def __init__(self, model: ForwardModel) -> None:
        import tensorflow as tf

        self.model = model
        self.mask = tf.constant(model.mask, dtype=tf.float32)
        self.pixel_index = tf.constant(model.noise.pixel_index, dtype=tf.int32)
        self.weighted_modulus = tf.constant(model.noise.weighted_modulus, dtype=tf.float32)
        self.inverse_weight_sum = tf.constant(model.noise.inverse_weight_sum, dtype=tf.float32)
        self.multiplicative_bias = tf.constant(model.multiplicative_bias, dtype=tf.float32)
        self.simulate = tf.function(self._simulate)
        self.observe = tf.function(self._observe)
        self.simulate_noise_free = tf.function(self._simulate_noise_free)
        # reduce_retracing: the last batch of a job is usually smaller; one trace serves all sizes.
        self._simulate_batch = tf.function(self._simulate_stacked, reduce_retracing=True)
        self._seeded: dict[tuple[float, float], Any] = {}

    def draw(self, seed: tf.Tensor | np.ndarray, *, a_ia_range: Sequence[float]) -> ForwardDraws:
        """Stateless draws (A_IA, ε, phases) from a (2,) integer seed (:func:`stateless_seed`)."""
        import tensorflow as tf

        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=3)
        a_ia = tf.random.stateless_uniform([], seed=seeds[0], minval=a_ia_range[0], maxval=a_ia_range[1])
        m_error = tf.random.stateless_normal(
            [self.model.n_bins], seed=seeds[1], stddev=self.model.multiplicative_bias_sigma
        )
        phase = draw_rotation_angles_tf(seeds[2], self.model.noise.n_galaxies)
        return ForwardDraws(a_ia=a_ia, m_error=m_error, phase=phase)

    def _finish(self, gamma: tf.Tensor) -> tf.Tensor:
        import tensorflow as tf

        m = self.model
        smoothed = smooth_tf(gamma, sigma_pix=m.smoothing_sigma_pix, truncate=m.smoothing_truncate)
        kappa_e, _ = gamma_to_kappa_tf(smoothed, padding=0)
        _, b, _, n, _ = smoothed.shape
        # -1: the patch count may be unknown when tracing (batches of several surveys).
        shear = tf.reshape(smoothed, [-1, b * N_COMPONENTS, n, n])
        return tf.transpose(tf.concat([shear, kappa_e], axis=1), [0, 2, 3, 1])

    def _clean(self, gamma: tf.Tensor) -> tf.Tensor:
        gamma = remove_modes_tf(gamma, padding=self.model.padding)
        return gamma * self.mask[:, :, None] if self.model.mask_after_mode_removal else gamma

    def _simulate(
        self,
        kappa: tf.Tensor,
        kappa_ia: tf.Tensor,
        a_ia: tf.Tensor,
        m_error: tf.Tensor,
        phase: tf.Tensor,
        *,
        noise_scale: tf.Tensor | float = 1.0,
    ) -> tf.Tensor:
        """One survey's CNN inputs; ``noise_scale`` multiplies the shape noise (1: the survey's)."""
        import tensorflow as tf

        m = self.model
        bias = 1.0 + self.multiplicative_bias + tf.cast(m_error, tf.float32)
        kappa_tot = (
            tf.cast(kappa, tf.float32) + tf.cast(a_ia, tf.float32) * tf.cast(kappa_ia, tf.float32)
        ) * bias[None, :, None, None]
        noise = shape_noise_tf(
            self.pixel_index, self.weighted_modulus, self.inverse_weight_sum, phase=tf.cast(phase, tf.float32)
        ) * tf.cast(noise_scale, tf.float32)  # everything after is linear in the noise
        mask = self.mask[:, :, None]
        if m.mask_after_mode_removal:
            # mask (KS(κ)) + mask (removed noise) = mask (KS(κ) + removed noise): one inverse FFT.
            return self._finish(shear_plus_removed_noise_tf(kappa_tot, noise, padding=m.padding) * mask)
        return self._finish(kappa_to_gamma_tf(kappa_tot, padding=m.padding) * mask + self._clean(noise))

    def _shape_noise_stacked(self, phase: tf.Tensor) -> tf.Tensor:
        """Shape noise (S, P, B, 2, N, N) of S surveys' phases (S, n_galaxies) in one segment sum."""
        import tensorflow as tf

        n_surveys = tf.shape(phase)[0]
        size = int(np.prod(self.inverse_weight_sum.shape))
        rotated = tf.complex(self.weighted_modulus * tf.cos(phase), self.weighted_modulus * tf.sin(phase))
        # Offsetting each survey's pixel indices by its map size keeps them sorted, so one sorted
        # segment sum (deterministic on every device) serves all the surveys.
        index = self.pixel_index[None, :] + tf.range(n_surveys)[:, None] * size
        sums = tf.math.segment_sum(tf.reshape(rotated, [-1]), tf.reshape(index, [-1]))
        sums = tf.pad(sums, [[0, n_surveys * size - tf.shape(sums)[0]]])
        sums = tf.reshape(sums, tf.concat([[n_surveys], tf.shape(self.inverse_weight_sum)], axis=0))
        weight = self.inverse_weight_sum[None]
        return tf.stack([tf.math.real(sums) * weight, tf.math.imag(sums) * weight], axis=3)

    def _simulate_stacked(
        self, kappa: tf.Tensor, kappa_ia: tf.Tensor, a_ia: tf.Tensor, m_error: tf.Tensor, phase: tf.Tensor
    ) -> tf.Tensor:
        """:meth:`_simulate` of S surveys: κ, κ_IA (S, P, B, N, N), A_IA (S,), ε (S, B), phases (S, G)."""
        import tensorflow as tf

        m = self.model
        bias = 1.0 + self.multiplicative_bias[None, :] + tf.cast(m_error, tf.float32)
        a_ia = tf.cast(a_ia, tf.float32)[:, None, None, None, None]
        kappa_tot = (tf.cast(kappa, tf.float32) + a_ia * tf.cast(kappa_ia, tf.float32)) * bias[
            :, None, :, None, None
        ]
        noise = self._shape_noise_stacked(tf.cast(phase, tf.float32))
        mask = self.mask[None, :, :, None]
        if m.mask_after_mode_removal:
            gamma = shear_plus_removed_noise_tf(kappa_tot, noise, padding=m.padding) * mask
        else:
            gamma = kappa_to_gamma_tf(kappa_tot, padding=m.padding) * mask + self._clean(noise)
        # The patches of all surveys as one stack: smoothing and the second KS run per map.
        p, b, n = self.mask.shape[0], self.mask.shape[1], self.mask.shape[-1]
        out = self._finish(tf.reshape(gamma, [-1, b, N_COMPONENTS, n, n]))
        return tf.reshape(out, [-1, p, n, n, (N_COMPONENTS + 1) * b])

    def simulate_batch(self, kappa: Any, kappa_ia: Any, draws: Sequence[ForwardDraws]) -> tf.Tensor:
        """CNN inputs (S, P, N, N, 3B) float32 of S surveys: κ, κ_IA (S, P, B, N, N), one draw each.

        Equal to S calls of :meth:`simulate_draws` (float32 rounding aside), in one graph call.
        """
        import tensorflow as tf

        return self._simulate_batch(
            tf.convert_to_tensor(kappa, tf.float32),
            tf.convert_to_tensor(kappa_ia, tf.float32),
            tf.convert_to_tensor([float(d.a_ia) for d in draws], tf.float32),
            tf.convert_to_tensor(np.stack([np.asarray(d.m_error) for d in draws]), tf.float32),
            tf.convert_to_tensor(np.stack([np.asarray(d.phase) for d in draws]), tf.float32),
        )

    def _simulate_noise_free(
        self, kappa: tf.Tensor, kappa_ia: tf.Tensor, a_ia: tf.Tensor, m_error: tf.Tensor
    ) -> tf.Tensor:
        import tensorflow as tf

        bias = 1.0 + self.multiplicative_bias + tf.cast(m_error, tf.float32)
        kappa_tot = (
            tf.cast(kappa, tf.float32) + tf.cast(a_ia, tf.float32) * tf.cast(kappa_ia, tf.float32)
        ) * bias[None, :, None, None]
        signal = kappa_to_gamma_tf(kappa_tot, padding=self.model.padding) * self.mask[:, :, None]
        return self._finish(signal)

    def _observe(self, gamma_obs: tf.Tensor) -> tf.Tensor:
        import tensorflow as tf

        return self._finish(self._clean(tf.cast(gamma_obs, tf.float32) * self.mask[:, :, None]))

    def simulate_draws(self, kappa: Any, kappa_ia: Any, draws: ForwardDraws) -> tf.Tensor:
        """CNN input (P, N, N, 3B) float32 tensor of κ, κ_IA (P, B, N, N) and ``draws``."""
        import tensorflow as tf

        # Tensors, not Python floats: a new Python value would retrace the tf.function.
        return self.simulate(
            tf.convert_to_tensor(kappa, tf.float32),
            tf.convert_to_tensor(kappa_ia, tf.float32),
            tf.convert_to_tensor(draws.a_ia, tf.float32),
            tf.convert_to_tensor(draws.m_error, tf.float32),
            tf.convert_to_tensor(draws.phase, tf.float32),
        )

    def simulate_seeded(
        self, kappa: Any, kappa_ia: Any, seed: Any, *, a_ia_range: Sequence[float]
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Draw on the device from a stateless ``seed`` and assemble: (inputs, A_IA).

        The whole survey (draws included) is one compiled graph, as used in the training input
        pipeline; A_IA is returned because it is a label of the example.
        """
        import tensorflow as tf

        key = (float(a_ia_range[0]), float(a_ia_range[1]))
        if key not in self._seeded:

            def run(kappa: tf.Tensor, kappa_ia: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
                draws = self.draw(seed, a_ia_range=key)
                return self._simulate(kappa, kappa_ia, draws.a_ia, draws.m_error, draws.phase), draws.a_ia

            self._seeded[key] = tf.function(run)
        return self._seeded[key](
            tf.convert_to_tensor(kappa, tf.float32),
            tf.convert_to_tensor(kappa_ia, tf.float32),
            tf.convert_to_tensor(seed, tf.int64),
        )


def assemble_inputs_numpy(
    kappa: np.ndarray, kappa_ia: np.ndarray, *, model: ForwardModel, draws: ForwardDraws
) -> np.ndarray:
    """NumPy reference CNN input of one survey: :meth:`ForwardModel.simulate`."""
    return model.simulate(kappa, kappa_ia, draws)


def assemble_inputs_tf(kappa: Any, kappa_ia: Any, *, model: TFForwardModel, draws: ForwardDraws) -> tf.Tensor:
    """TensorFlow CNN input of one survey: :meth:`TFForwardModel.simulate_draws`."""
    return model.simulate_draws(kappa, kappa_ia, draws)
