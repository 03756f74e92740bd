"""Mixture density networks: an amortized neural posterior estimator q(θ|x) (seed 003, DELFI).

A network trained on simulated pairs (θᵢ, xᵢ) drawn from the prior and the forward model to
minimise Σᵢ −ln q(θᵢ|xᵢ) approaches the posterior p(θ|x) (Bishop 1994; Papamakarios & Murray
2016; Alsing et al. 2018). Here q is a mixture of K Gaussians with full covariances::

    q(θ|x) = Σₖ πₖ(x) N(θ; μₖ(x), Σₖ(x)),   Σₖ⁻¹ = Lₖ Lₖᵀ,   πₖ = softmax(logits)ₖ

and ``−ln q`` is evaluated with a logsumexp over the components (:func:`mixture_nll`).

Output layout
-------------
For ``n_params`` = p parameters each component has a block of ``2 p + p (p − 1) / 2`` raw
outputs, laid out like the Cholesky loss of :mod:`wlcnn.training.loss`::

    [μ_0 … μ_{p−1},  r_0 … r_{p−1},  L_10, L_20, L_21, L_30, …]   (strict lower triangle row by row)

with Lᵢᵢ = softplus(rᵢ). The K component blocks come first, then K mixture logits. With K = 1
the single logit is redundant (π = 1) and is left out, so a K = 1 head is exactly the 9-output
head of :mod:`wlcnn.training.networks` and :func:`mixture_nll` equals
:func:`wlcnn.training.loss.gaussian_nll` plus the Gaussian constant (p/2) ln 2π.
:func:`n_outputs` gives the total.

Variational mutual information maximisation (VMIM)
-------------------------------------------------
Since I(t; θ) >= E[ln q(θ|t)] + H(θ), minimising the mixture loss of a network with a bottleneck
maximises a lower bound on the information its summaries t keep about θ. With K = 1 the
natural summary is the mixture mean μ(x), a p-vector: :func:`vmim_summaries` returns it. It is a
data vector like the CNN's predicted means, so the existing likelihood path (mean and
covariance of the summaries at each grid cosmology, :class:`wlcnn.inference.likelihood.SummaryLikelihood`)
takes it unchanged. On the linear-Gaussian toy it is an affine function of the sufficient
statistic Aᵀ C⁻¹ x, so its Fisher information equals the data's (tests).

Amortized estimator
-------------------
:func:`fit_posterior_estimator` trains a small MLP from summary vectors (e.g. the CNN's predicted
means or a power-spectrum data vector) to the mixture parameters. Summaries and parameters are
standardised with the training set's mean and standard deviation; the returned
:class:`PosteriorEstimator` undoes that, so :func:`posterior_density` is in the parameters'
own units. To draw it beside likelihood contours, evaluate it on the same grid::

    grid = evaluate_grid(lambda pts: log_posterior_density(est, summary, pts), bounds=..., shape=...)

(:func:`wlcnn.inference.sampling.evaluate_grid`). :func:`mixture_trial_statistics` gives the
per-trial statistics of :mod:`wlcnn.inference.coverage` (posterior CDF at the truth, HDR and
TARP masses) from Monte Carlo samples of the mixture, for its calibration.

TensorFlow is imported inside the functions that need it (like the rest of training).

Examples
--------
>>> n_outputs(1, 3), n_outputs(2, 3), n_outputs(3, 2)
(9, 20, 18)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from wlcnn.seeding import rng_for
from wlcnn.training.loss import log_softplus

if TYPE_CHECKING:
    import keras

    from wlcnn.inference.coverage import TrialStatistics

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_HIDDEN",
    "DEFAULT_LEARNING_RATE",
    "MixtureParameters",
    "PosteriorEstimator",
    "component_size",
    "fit_posterior_estimator",
    "initial_mixture_bias",
    "log_posterior_density",
    "mixture_components_from_width",
    "mixture_nll",
    "mixture_survey_loss",
    "mixture_parameters",
    "mixture_trial_statistics",
    "n_outputs",
    "posterior_density",
    "predict_mixture",
    "vmim_summaries",
]

#: Hidden layer widths of the default MLP (small: summaries are short vectors).
DEFAULT_HIDDEN = (64, 64)
#: Mini-batch size of :func:`fit_posterior_estimator`.
DEFAULT_BATCH_SIZE = 128
#: Adam learning rate of :func:`fit_posterior_estimator` (standardised inputs and targets).
DEFAULT_LEARNING_RATE = 3.0e-3
#: Monte Carlo samples per trial in :func:`mixture_trial_statistics`.
DEFAULT_COVERAGE_SAMPLES = 4000
#: Largest seed handed to a Keras initializer.
_SEED_LIMIT = 2**31 - 1
#: Initial component means span ± this many standard deviations of θ (see :func:`initial_mixture_bias`).
_INITIAL_MEAN_SPREAD = 1.0
#: Parameter names of the coverage statistics, in the order of θ.
_COVERAGE_THETA = ("omega_m", "sigma8", "a_ia")


def component_size(n_params: int) -> int:
    """Raw outputs of one component: p means, p raw diagonal entries, p (p − 1)/2 off-diagonal."""
    return 2 * n_params + n_params * (n_params - 1) // 2


def n_outputs(k: int, n_params: int) -> int:
    """Network outputs of a K-component head for ``n_params`` parameters (K logits only if K > 1)."""
    if k < 1 or n_params < 1:
        raise ValueError(f"k and n_params: expected >= 1, found k={k}, n_params={n_params}")
    return k * component_size(n_params) + (k if k > 1 else 0)


def mixture_components_from_width(width: int, *, n_params: int) -> int:
    """The K of a head with ``width`` outputs for ``n_params`` parameters (inverse of :func:`n_outputs`).

    Raises
    ------
    ValueError
        If no K >= 1 gives ``width`` outputs.
    """
    block = component_size(n_params)
    if width == block:
        return 1
    # K > 1: K blocks and K logits, so the width is a multiple of block + 1 (and K >= 2).
    k, rest = divmod(width, block + 1)
    if rest or k < 2:
        raise ValueError(
            f"outputs: expected n_outputs(k, n_params={n_params}) for some k >= 1 "
            f"({block}, {2 * (block + 1)}, {3 * (block + 1)}, ...), found {width}"
        )
    return k


def _check_width(width: int, *, k: int, n_params: int) -> None:
    expected = n_outputs(k, n_params)
    if width != expected:
        raise ValueError(
            f"outputs: expected last axis n_outputs(k={k}, n_params={n_params}) = {expected}, found {width}"
        )


def _lower_gather_index(n_params: int) -> np.ndarray:
    """Index into [diag (p), strict lower (row by row), 0] of each entry of the p × p L, row-major."""
    p = n_params
    zero = p + p * (p - 1) // 2
    index = np.full((p, p), zero, dtype=np.int32)
    index[np.arange(p), np.arange(p)] = np.arange(p)
    rows, cols = np.tril_indices(p, -1)  # row by row: (1,0), (2,0), (2,1), ... as in loss.py
    index[rows, cols] = p + np.arange(len(rows))
    return index.ravel()


def mixture_nll(outputs: Any, theta_true: Any, *, k: int, n_params: int) -> Any:
    """Per-example −ln q(θt | x) of the mixture encoded by ``outputs`` (layout: module docstring).

    Parameters
    ----------
    outputs
        (..., :func:`n_outputs` (k, n_params)) raw network outputs.
    theta_true
        (..., n_params) true parameters, broadcastable against the outputs' leading axes.
    k
        Number of mixture components.
    n_params
        Number of parameters p.

    Returns
    -------
    tf.Tensor
        (...) float32, in nats, including the Gaussian normalisation (p/2) ln 2π.
    """
    import tensorflow as tf

    p = n_params
    outputs = tf.cast(tf.convert_to_tensor(outputs), tf.float32)
    _check_width(int(outputs.shape[-1]), k=k, n_params=p)
    block = component_size(p)
    lead = tf.shape(outputs)[:-1]
    comps = tf.reshape(outputs[..., : k * block], tf.concat([lead, [k, block]], axis=0))
    mean, raw_diag, off = comps[..., :p], comps[..., p : 2 * p], comps[..., 2 * p :]
    delta = mean - tf.cast(theta_true, tf.float32)[..., None, :]
    # L from its free entries by one gather (no scatter): the same for every p, XLA-friendly.
    entries = tf.concat([tf.math.softplus(raw_diag), off, tf.zeros_like(raw_diag[..., :1])], axis=-1)
    chol = tf.gather(entries, _lower_gather_index(p), axis=-1)
    chol = tf.reshape(chol, tf.concat([lead, [k, p, p]], axis=0))
    u = tf.einsum("...ji,...j->...i", chol, delta)  # Lᵀ δ
    log_component = (
        tf.reduce_sum(log_softplus(raw_diag), axis=-1)
        - 0.5 * tf.reduce_sum(tf.square(u), axis=-1)
        - 0.5 * p * float(np.log(2.0 * np.pi))
    )
    if k == 1:
        return -log_component[..., 0]
    log_weights = tf.nn.log_softmax(outputs[..., k * block :], axis=-1)
    return -tf.reduce_logsumexp(log_weights + log_component, axis=-1)


def mixture_survey_loss(
    outputs: Any, theta_true: Any, *, k: int, n_params: int, bias_lambda: float = 0.0
) -> Any:
    """Loss of each simulated survey for a K-component head (the mixture's ``survey_loss``).

    Mean over the survey's patches of :func:`mixture_nll` less the Gaussian constant
    (p/2) ln 2π, so that its values are on the scale of the K = 1 loss (which leaves the
    constant out) and loss curves of heads with different K can be compared; plus the
    bias-reducing term λ ‖mean over patches of the mixture mean Σₖ πₖ μₖ − θt‖².

    Parameters
    ----------
    outputs
        (n_surveys, n_patches, :func:`n_outputs` (k, n_params)) raw network outputs.
    theta_true
        (n_surveys, n_params) targets of each survey.
    k
        Number of mixture components.
    n_params
        Number of parameters p.
    bias_lambda
        λ of the bias-reducing term (0: off).

    Returns
    -------
    tf.Tensor
        (n_surveys,) float32.
    """
    import tensorflow as tf

    theta_true = tf.cast(theta_true, tf.float32)
    outputs = tf.cast(tf.convert_to_tensor(outputs), tf.float32)
    constant = 0.5 * n_params * float(np.log(2.0 * np.pi))
    nll = (
        tf.reduce_mean(mixture_nll(outputs, theta_true[:, None, :], k=k, n_params=n_params), axis=1)
        - constant
    )
    if not bias_lambda:
        return nll
    block = component_size(n_params)
    lead = tf.shape(outputs)[:-1]
    means = tf.reshape(outputs[..., : k * block], tf.concat([lead, [k, block]], axis=0))[..., :n_params]
    if k == 1:
        mixture_mean = means[..., 0, :]
    else:
        weights = tf.nn.softmax(outputs[..., k * block :], axis=-1)
        mixture_mean = tf.einsum("...k,...ki->...i", weights, means)
    bias = tf.reduce_mean(mixture_mean, axis=1) - theta_true
    return nll + float(bias_lambda) * tf.reduce_sum(tf.square(bias), axis=-1)


@dataclass(frozen=True)
class MixtureParameters:
    """A Gaussian mixture per example, float64.

    Attributes
    ----------
    weights
        (..., K) πₖ, summing to 1.
    means
        (..., K, p) μₖ.
    precision_cholesky
        (..., K, p, p) lower-triangular Lₖ with Σₖ⁻¹ = Lₖ Lₖᵀ.
    """

    weights: np.ndarray
    means: np.ndarray
    precision_cholesky: np.ndarray

    @property
    def covariances(self) -> np.ndarray:
        """(..., K, p, p) Σₖ = (Lₖ Lₖᵀ)⁻¹."""
        chol = self.precision_cholesky
        return np.linalg.inv(chol @ np.swapaxes(chol, -1, -2))

    @property
    def mean(self) -> np.ndarray:
        """(..., p) mean of the mixture, Σₖ πₖ μₖ."""
        return np.einsum("...k,...ki->...i", self.weights, self.means)

    @property
    def covariance(self) -> np.ndarray:
        """(..., p, p) covariance of the mixture (within- plus between-component)."""
        dev = self.means - self.mean[..., None, :]
        within = self.covariances + np.einsum("...i,...j->...ij", dev, dev)
        return np.einsum("...k,...kij->...ij", self.weights, within)

    def log_density(self, theta: np.ndarray) -> np.ndarray:
        """Log-density ln q(θ) at (n, p) points, for a single mixture (no leading axes): (n,)."""
        theta = np.atleast_2d(np.asarray(theta, dtype=np.float64))
        chol = self.precision_cholesky
        delta = theta[:, None, :] - self.means[None]  # (n, K, p)
        u = np.einsum("kji,nkj->nki", chol, delta)
        p = theta.shape[-1]
        log_det = np.sum(np.log(np.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)  # ½ ln|Σ⁻¹|
        log_comp = log_det - 0.5 * np.sum(u**2, axis=-1) - 0.5 * p * np.log(2.0 * np.pi)
        return _logsumexp(np.log(self.weights)[None] + log_comp, axis=-1)

    def sample(self, n: int, *, rng: np.random.Generator) -> np.ndarray:
        """(n, p) draws from a single mixture."""
        component = rng.choice(len(self.weights), size=n, p=self.weights / self.weights.sum())
        z = rng.standard_normal((n, self.means.shape[-1]))
        # θ = μ + L⁻ᵀ z has covariance (L Lᵀ)⁻¹.
        chol_t = np.swapaxes(self.precision_cholesky, -1, -2)[component]
        return self.means[component] + np.linalg.solve(chol_t, z[..., None])[..., 0]


def _logsumexp(a: np.ndarray, *, axis: int) -> np.ndarray:
    top = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(top, axis=axis) + np.log(np.sum(np.exp(a - top), axis=axis))


def mixture_parameters(outputs: Any, *, k: int, n_params: int) -> MixtureParameters:
    """The mixture encoded by raw ``outputs`` (..., :func:`n_outputs`), as float64 arrays."""
    out = np.asarray(outputs, dtype=np.float64)
    p = n_params
    _check_width(out.shape[-1], k=k, n_params=p)
    block = component_size(p)
    comps = out[..., : k * block].reshape(*out.shape[:-1], k, block)
    # Same softplus as the loss; logaddexp(0, r) = ln(1 + e^r) without overflow.
    entries = np.concatenate(
        [np.logaddexp(0.0, comps[..., p : 2 * p]), comps[..., 2 * p :], np.zeros_like(comps[..., :1])],
        axis=-1,
    )
    chol = entries[..., _lower_gather_index(p)].reshape(*comps.shape[:-1], p, p)
    if k == 1:
        weights = np.ones((*out.shape[:-1], 1))
    else:
        logits = out[..., k * block :]
        weights = np.exp(logits - _logsumexp(logits, axis=-1)[..., None])
    return MixtureParameters(weights=weights, means=comps[..., :p], precision_cholesky=chol)


@dataclass(frozen=True)
class PosteriorEstimator:
    """A trained conditional density estimator q(θ | summary).

    Attributes
    ----------
    model
        Keras MLP from standardised summaries to raw mixture outputs (standardised θ units).
    k
        Number of mixture components.
    n_params
        Number of parameters p.
    summary_mean, summary_scale
        (d,) standardisation of the summaries: z = (s − mean) / scale.
    theta_mean, theta_scale
        (p,) standardisation of the parameters: θ = mean + scale ⊙ θ_z.
    """

    model: keras.Model
    k: int
    n_params: int
    summary_mean: np.ndarray
    summary_scale: np.ndarray
    theta_mean: np.ndarray
    theta_scale: np.ndarray


def _standardisation(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, scale = values.mean(axis=0), values.std(axis=0)
    # A constant column carries no information; scale 1 keeps it finite instead of dividing by 0.
    return mean, np.where(scale > 0, scale, 1.0)


def initial_mixture_bias(k: int, n_params: int, *, spread: float = _INITIAL_MEAN_SPREAD) -> np.ndarray:
    """Output bias putting component c's means at a different point on θ's diagonal.

    Identical components receive identical gradients, and for a posterior symmetric about the
    starting point (e.g. two modes ±θ) the single-Gaussian solution is a stationary point: a
    K > 1 mixture initialised with all means at 0 stays collapsed onto one component. Spread
    over ±``spread`` (in θ's units; default :data:`_INITIAL_MEAN_SPREAD` for standardised θ),
    they split from the start. K = 1: all zeros.
    """
    bias = np.zeros(n_outputs(k, n_params))
    if k > 1:
        block = component_size(n_params)
        for c, centre in enumerate(np.linspace(-spread, spread, k)):
            bias[c * block : c * block + n_params] = centre
    return bias


def _build_mlp(*, n_inputs: int, k: int, n_params: int, hidden: Sequence[int], seed: int) -> keras.Model:
    import keras

    counter = iter(range(1 << 30))

    def init() -> keras.initializers.Initializer:
        layer_seed = int(rng_for(seed, "posterior_estimator_init", next(counter)).integers(_SEED_LIMIT))
        return keras.initializers.GlorotUniform(seed=layer_seed)

    inputs = keras.Input(shape=(n_inputs,), name="summary")
    x = inputs
    for i, width in enumerate(hidden):
        x = keras.layers.Dense(int(width), activation="tanh", kernel_initializer=init(), name=f"hidden{i}")(x)
    outputs = keras.layers.Dense(
        n_outputs(k, n_params),
        kernel_initializer=init(),
        bias_initializer=keras.initializers.Constant(initial_mixture_bias(k, n_params)),
        name="mixture",
    )(x)
    return keras.Model(inputs, outputs, name="posterior_estimator")


def fit_posterior_estimator(
    summaries: np.ndarray,
    thetas: np.ndarray,
    *,
    k: int,
    hidden: Sequence[int] = DEFAULT_HIDDEN,
    epochs: int,
    seed: int,
    batch_size: int = DEFAULT_BATCH_SIZE,
    learning_rate: float = DEFAULT_LEARNING_RATE,
) -> PosteriorEstimator:
    """Train a K-component mixture density MLP on (summary, θ) pairs drawn from the prior.

    Parameters
    ----------
    summaries
        (n, d) summary vectors of simulated surveys.
    thetas
        (n, p) their parameters, drawn from the prior (the estimator learns that prior's posterior).
    k
        Number of mixture components.
    hidden
        Widths of the tanh hidden layers.
    epochs
        Passes over the training set.
    seed
        Weights, shuffling and every other random choice derive from it: the same seed and data
        give the same estimator (op determinism is on while it trains).
    batch_size
        Pairs per optimizer step.
    learning_rate
        Initial Adam learning rate (cosine decay to 0 over the ``epochs``).

    Returns
    -------
    PosteriorEstimator
    """
    import keras
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    x = np.asarray(summaries, dtype=np.float64)
    theta = np.asarray(thetas, dtype=np.float64)
    if x.ndim != 2 or theta.ndim != 2 or len(x) != len(theta):
        raise ValueError(
            f"summaries, thetas: expected (n, d) and (n, p) arrays with the same n, "
            f"found shapes {x.shape} and {theta.shape}"
        )
    for name, values in (("summaries", x), ("thetas", theta)):
        if not np.all(np.isfinite(values)):
            bad = np.argwhere(~np.isfinite(values))[0].tolist()
            raise ValueError(f"{name}: expected finite values, found {values[tuple(bad)]} at {bad}")
    p = theta.shape[1]
    x_mean, x_scale = _standardisation(x)
    t_mean, t_scale = _standardisation(theta)
    was_deterministic = tf_config.is_op_determinism_enabled()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    try:
        model = _build_mlp(n_inputs=x.shape[1], k=k, n_params=p, hidden=hidden, seed=seed)

        def loss(theta_true: Any, outputs: Any) -> Any:
            return mixture_nll(outputs, theta_true, k=k, n_params=p)

        # Cosine decay to 0 over the run: the last epochs average out the mini-batch noise of
        # the weights, which otherwise dominates the error of the fitted posterior.
        steps = epochs * -(-len(x) // batch_size)
        schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
        model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss)
        model.fit(
            ((x - x_mean) / x_scale).astype(np.float32),
            ((theta - t_mean) / t_scale).astype(np.float32),
            batch_size=batch_size,
            epochs=epochs,
            shuffle=True,
            verbose=0,
        )
    finally:
        # Op determinism is process-wide: leave it as the caller had it.
        if not was_deterministic:
            tf_config.disable_op_determinism()
    return PosteriorEstimator(
        model=model,
        k=k,
        n_params=p,
        summary_mean=x_mean,
        summary_scale=x_scale,
        theta_mean=t_mean,
        theta_scale=t_scale,
    )


def predict_mixture(estimator: PosteriorEstimator, summaries: np.ndarray) -> MixtureParameters:
    """The posterior mixture for each of (n, d) ``summaries`` (or one (d,)), in θ's own units."""
    x = np.asarray(summaries, dtype=np.float64)
    single = x.ndim == 1
    z = ((np.atleast_2d(x) - estimator.summary_mean) / estimator.summary_scale).astype(np.float32)
    raw = np.asarray(estimator.model(z, training=False))
    mix = mixture_parameters(raw, k=estimator.k, n_params=estimator.n_params)
    # θ = m + s ⊙ θ_z: μ = m + s ⊙ μ_z and Σ = D Σ_z D (D = diag s), so L = D⁻¹ L_z.
    means = estimator.theta_mean + estimator.theta_scale * mix.means
    chol = mix.precision_cholesky / estimator.theta_scale[:, None]
    if single:
        return MixtureParameters(weights=mix.weights[0], means=means[0], precision_cholesky=chol[0])
    return MixtureParameters(weights=mix.weights, means=means, precision_cholesky=chol)


def log_posterior_density(estimator: PosteriorEstimator, summary: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Log-density ln q(θ | summary) at the (n, p) points ``grid`` (normalised over θ space): (n,)."""
    return predict_mixture(estimator, np.asarray(summary).reshape(-1)).log_density(grid)


def posterior_density(estimator: PosteriorEstimator, summary: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """q(θ | summary) at the parameter points ``grid`` (..., p): density (...), in 1 / θ-volume.

    ``grid`` may be the points of a mesh, e.g. ``np.stack(np.meshgrid(*axes, indexing="ij"), -1)``.
    """
    points = np.asarray(grid, dtype=np.float64)
    flat = points.reshape(-1, points.shape[-1])
    return np.exp(log_posterior_density(estimator, summary, flat)).reshape(points.shape[:-1])


def vmim_summaries(estimator: PosteriorEstimator, summaries: np.ndarray) -> np.ndarray:
    """VMIM summaries (n, p): the mean of q(θ | x) for each of (n, d) inputs (module docstring)."""
    return predict_mixture(estimator, np.atleast_2d(summaries)).mean


def mixture_trial_statistics(
    posteriors: Sequence[MixtureParameters],
    truths: np.ndarray,
    *,
    bounds: Sequence[Sequence[float]],
    rng: np.random.Generator,
    n_samples: int = DEFAULT_COVERAGE_SAMPLES,
) -> TrialStatistics:
    """Coverage statistics of :mod:`wlcnn.inference.coverage` for mixture posteriors.

    Per trial, from ``n_samples`` draws of its mixture: the posterior CDF at the truth of Ωm, σ8,
    A_IA and S8 (fraction of draws below it), the mass of the highest-density region whose
    boundary passes through the truth (fraction of draws denser than the truth) and the TARP
    mass (fraction of draws closer, in ``bounds``-width units, to a reference point uniform in
    ``bounds`` than the truth). :func:`wlcnn.inference.coverage.summarise_coverage` turns them
    into empirical against nominal coverage.

    Parameters
    ----------
    posteriors
        One 3-parameter (Ωm, σ8, A_IA) mixture per trial.
    truths
        (n_trials, 3) true parameters, in the mixtures' units.
    bounds
        3 × [low, high] prior box (TARP reference points and distance scale).
    rng
        Draws the samples and the reference points.
    n_samples
        Draws per trial.
    """
    import time

    from wlcnn.inference.constraints import s8  # lazy: numba, scipy only for trial statistics
    from wlcnn.inference.coverage import (  # lazy: numba, scipy only for trial statistics
        COVERAGE_PARAMETERS,
        TrialStatistics,
    )

    truths = np.atleast_2d(np.asarray(truths, dtype=np.float64))
    if truths.shape != (len(posteriors), len(_COVERAGE_THETA)):
        raise ValueError(
            f"truths: expected shape {(len(posteriors), len(_COVERAGE_THETA))}, found {truths.shape}"
        )
    lo, hi = np.asarray(bounds, dtype=np.float64).T
    scale = hi - lo
    started = time.perf_counter()
    cdf: dict[str, list[float]] = {name: [] for name in COVERAGE_PARAMETERS}
    hdr, tarp = [], []
    for mixture, truth in zip(posteriors, truths, strict=True):
        draws = mixture.sample(n_samples, rng=rng)
        for dim, name in enumerate(_COVERAGE_THETA):
            cdf[name].append(float(np.mean(draws[:, dim] < truth[dim])))
        cdf["s8"].append(float(np.mean(s8(draws[:, 0], draws[:, 1]) < s8(truth[0], truth[1]))))
        hdr.append(float(np.mean(mixture.log_density(draws) > mixture.log_density(truth)[0])))
        reference = rng.uniform(lo, hi)
        d_draws = np.linalg.norm((draws - reference) / scale, axis=1)
        tarp.append(float(np.mean(d_draws < np.linalg.norm((truth - reference) / scale))))
    return TrialStatistics(
        cdf={name: np.array(v) for name, v in cdf.items()},
        joint_hdr_mass=np.array(hdr),
        tarp_mass=np.array(tarp),
        truths=truths,
        seconds=time.perf_counter() - started,
    )
