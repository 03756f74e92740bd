"""The pluggable forward model: raw κ / κ_IA maps + draws → CNN input tensors.

The trainer applies the forward model *inside* the training step, on the device (the FFTs,
smoothing and shape noise of SPEC §6 are the expensive part of an example; on a GPU they run
there, and the host only reads maps). Anything with the :class:`ForwardFn` call signature can be
plugged in:

``forward(kappa, kappa_ia, a_ia, seeds, *, noise, noise_scale=1.0) -> inputs``

=========== ====================================== ==========================================
argument    shape, dtype                           meaning
=========== ====================================== ==========================================
kappa       (n_surveys, n_patches, n_bins, N, N)   convergence κ per patch and bin
            float32
kappa_ia    same                                   κ_IA for A_IA = 1
a_ia        (n_surveys,) float32                   intrinsic-alignment amplitude of each survey
seeds       (n_surveys, 2) int64                   stateless seed of each survey's other draws
                                                   (noise rotations, m-bias errors)
noise       Python bool (static)                   add shape noise (False: noise-free stage)
noise_scale scalar (default 1)                     amplitude of the noise (a stage's noise ramp)
inputs      (n_surveys, n_patches, N, N, C)        CNN input, channels last
            float32
=========== ====================================== ==========================================

It must be traceable by ``tf.function`` and depend on nothing random but ``seeds`` (so that a
rerun, a resumed run and a distributed run see the same examples).

Two implementations:

- :class:`StandInForwardModel`: κ_tot = κ + A_IA κ_IA per bin (+ white noise of a given σ),
  channels = bins. Cheap; for tests, benchmarks of the network alone and development.
- :class:`SurveyForwardModel`: adapter around the survey's
  :class:`wlcnn.survey.forward_model.TFForwardModel` (masks, m-bias, shape noise, smoothing,
  two Kaiser-Squires inversions; channels = 3 × bins).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import tensorflow as tf

    from wlcnn.survey.forward_model import TFForwardModel

__all__ = ["ForwardFn", "StandInForwardModel", "SurveyForwardModel"]


@runtime_checkable
class ForwardFn(Protocol):
    """Call signature of a forward model (see the module docstring)."""

    #: Short identity recorded in the provenance and the resume fingerprint.
    identity: str

    def __call__(
        self,
        kappa: tf.Tensor,
        kappa_ia: tf.Tensor,
        a_ia: tf.Tensor,
        seeds: tf.Tensor,
        *,
        noise: bool,
        noise_scale: tf.Tensor | float = 1.0,
    ) -> tf.Tensor:
        """CNN inputs (n_surveys, n_patches, N, N, C) float32 (noise amplitude × ``noise_scale``)."""
        ...


class StandInForwardModel:
    """Trivial forward model: κ + A_IA κ_IA per bin, plus optional white noise.

    Parameters
    ----------
    noise_sigma
        Standard deviation of the Gaussian pixel noise added when ``noise=True`` (units of κ).
    """

    def __init__(self, *, noise_sigma: float = 0.01) -> None:
        self.noise_sigma = float(noise_sigma)
        self.identity = f"stand_in(noise_sigma={self.noise_sigma:g})"

    def __call__(
        self,
        kappa: tf.Tensor,
        kappa_ia: tf.Tensor,
        a_ia: tf.Tensor,
        seeds: tf.Tensor,
        *,
        noise: bool,
        noise_scale: tf.Tensor | float = 1.0,
    ) -> tf.Tensor:
        """κ_tot (n_surveys, n_patches, N, N, n_bins) float32, channels = bins."""
        import tensorflow as tf

        total = tf.cast(kappa, tf.float32) + tf.cast(a_ia, tf.float32)[:, None, None, None, None] * tf.cast(
            kappa_ia, tf.float32
        )
        if noise and self.noise_sigma > 0:
            shape = tf.shape(total)[1:]

            def one(seed: tf.Tensor) -> tf.Tensor:
                return tf.random.stateless_normal(shape, seed=seed, stddev=self.noise_sigma)

            noise_field = tf.map_fn(one, tf.cast(seeds, tf.int64), fn_output_signature=tf.float32)
            total += noise_field * tf.cast(noise_scale, tf.float32)
        return tf.transpose(total, [0, 1, 3, 4, 2])


class SurveyForwardModel:
    """Adapter: the survey's :class:`~wlcnn.survey.forward_model.TFForwardModel` as a :class:`ForwardFn`.

    The A_IA of each survey comes from the input pipeline (it is also a target); the m-bias
    errors ε and the shape-noise phases come from ``TFForwardModel.draw(seed)``. The noisy path
    is ``TFForwardModel.simulate``, the noise-free path (curriculum pre-training)
    ``TFForwardModel.simulate_noise_free``: m-bias, padded κ→γ, mask, smoothing, second KS
    inversion, no shape noise.

    Parameters
    ----------
    model
        The survey forward model (built from the patch-maps file of the data).
    identity
        Label for provenance (e.g. the patch-maps file and its checksum).
    """

    def __init__(self, model: TFForwardModel, *, identity: str = "survey") -> None:
        self.model = model
        self.identity = f"survey({identity})"

    def __call__(
        self,
        kappa: tf.Tensor,
        kappa_ia: tf.Tensor,
        a_ia: tf.Tensor,
        seeds: tf.Tensor,
        *,
        noise: bool,
        noise_scale: tf.Tensor | float = 1.0,
    ) -> tf.Tensor:
        """CNN inputs (n_surveys, n_patches, N, N, 3 n_bins) float32."""
        import tensorflow as tf

        def one(args: tuple[Any, ...]) -> tf.Tensor:
            k, k_ia, a, seed = args
            # The A_IA range passed here is irrelevant: A_IA comes from the input pipeline.
            draws = self.model.draw(seed, a_ia_range=(0.0, 1.0))
            m_error = tf.cast(draws.m_error, tf.float32)
            if noise:
                return self.model.simulate(
                    k,
                    k_ia,
                    a,
                    m_error,
                    tf.cast(draws.phase, tf.float32),
                    noise_scale=tf.cast(noise_scale, tf.float32),
                )
            return self.model.simulate_noise_free(k, k_ia, a, m_error)

        return tf.map_fn(
            one,
            (
                tf.cast(kappa, tf.float32),
                tf.cast(kappa_ia, tf.float32),
                tf.cast(a_ia, tf.float32),
                tf.cast(seeds, tf.int64),
            ),
            fn_output_signature=tf.float32,
        )
