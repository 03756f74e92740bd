"""Mixture density posterior estimator: the loss against independent densities, the amortized fit
against the analytic linear-Gaussian posterior, its calibration, and VMIM summaries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest
import tensorflow as tf
from scipy.stats import multivariate_normal, norm

from wlcnn.inference.coverage import summarise_coverage
from wlcnn.inference.toy import LinearGaussianToy, default_toy
from wlcnn.training.loss import gaussian_nll
from wlcnn.training.mixture_density import (
    PosteriorEstimator,
    fit_posterior_estimator,
    mixture_nll,
    mixture_parameters,
    mixture_trial_statistics,
    n_outputs,
    posterior_density,
    predict_mixture,
    vmim_summaries,
)

N_PARAMS = 3
#: Gaussian prior of the toy: wide enough to be learnt, narrow enough to matter (posterior sd
#: about (0.03, 0.05, 0.7)).
PRIOR_MEAN = np.array([0.3, 0.8, 0.0])
PRIOR_SD = np.array([0.05, 0.1, 1.5])
N_TRAIN = 6000
EPOCHS = 40
HIDDEN = (32, 32)
SEED = 5


def _raw_cholesky(raw: np.ndarray) -> np.ndarray:
    """L of one component from its 9 raw outputs, written out from the definition."""
    sp = np.log1p(np.exp(raw[3:6]))
    return np.array([[sp[0], 0, 0], [raw[6], sp[1], 0], [raw[7], raw[8], sp[2]]])


def _random_outputs(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    out = rng.normal(0.0, 1.0, size=(n, n_outputs(k, N_PARAMS)))
    for c in range(k):
        out[:, 9 * c + 3 : 9 * c + 6] = rng.uniform(-2.0, 3.0, size=(n, 3))
    return out.astype(np.float32)


def test_n_outputs_layout() -> None:
    assert n_outputs(1, 3) == 9  # the existing CNN head
    assert n_outputs(2, 3) == 2 * 9 + 2
    assert n_outputs(4, 2) == 4 * 5 + 4
    with pytest.raises(ValueError, match="k and n_params"):
        n_outputs(0, 3)
    with pytest.raises(ValueError, match=r"expected last axis .* = 20, found 9"):
        mixture_nll(np.zeros((1, 9), np.float32), np.zeros((1, 3), np.float32), k=2, n_params=3)


def test_single_component_equals_the_cholesky_loss() -> None:
    rng = np.random.default_rng(11)
    out = _random_outputs(rng, 200, 1)
    theta = rng.normal(0.0, 0.7, size=(200, 3)).astype(np.float32)
    ours = mixture_nll(out, theta, k=1, n_params=3).numpy()
    # The existing loss leaves out the Gaussian constant (3/2) ln 2π.
    existing = gaussian_nll(out, theta).numpy() + 1.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(ours, existing, rtol=1e-6, atol=1e-5)


def test_two_component_loss_is_minus_log_scipy_mixture_density() -> None:
    rng = np.random.default_rng(12)
    out = _random_outputs(rng, 40, 2)
    theta = rng.normal(0.0, 0.7, size=(40, 3)).astype(np.float32)
    ours = mixture_nll(out, theta, k=2, n_params=3).numpy()
    mix = mixture_parameters(out, k=2, n_params=3)
    for i in range(40):
        raw = out[i].astype(np.float64)
        logits = raw[18:20]
        w = np.exp(logits) / np.exp(logits).sum()
        density = 0.0
        for c in range(2):
            block = raw[9 * c : 9 * c + 9]
            chol = _raw_cholesky(block)
            cov = np.linalg.inv(chol @ chol.T)
            density += w[c] * multivariate_normal(mean=block[:3], cov=cov).pdf(theta[i])
        assert ours[i] == pytest.approx(-np.log(density), rel=1e-4, abs=1e-4), i
        # The float64 NumPy density of the same mixture agrees too.
        single = replace(
            mix, weights=mix.weights[i], means=mix.means[i], precision_cholesky=mix.precision_cholesky[i]
        )
        assert -single.log_density(theta[i])[0] == pytest.approx(-np.log(density), rel=1e-9, abs=1e-9)


def test_mixture_loss_and_gradients_finite_for_far_components() -> None:
    out = tf.Variable(_random_outputs(np.random.default_rng(13), 3, 2) * 40.0)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(mixture_nll(out, tf.zeros((3, 3)), k=2, n_params=3))
    assert np.isfinite(loss.numpy())
    assert np.all(np.isfinite(tape.gradient(loss, out).numpy()))


# --- amortized estimator on the linear-Gaussian toy -------------------------------------------


def _simulate(toy: LinearGaussianToy, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    theta = PRIOR_MEAN + PRIOR_SD * rng.standard_normal((n, 3))
    noise = rng.multivariate_normal(np.zeros(toy.n_data), toy.noise_covariance, size=n)
    return toy.model(theta) + noise, theta


def _analytic_posterior(toy: LinearGaussianToy, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian prior × linear-Gaussian likelihood: Σ = (AᵀC⁻¹A + P⁻¹)⁻¹, μ = Σ(AᵀC⁻¹(x−b) + P⁻¹m)."""
    inv_c = np.linalg.inv(toy.noise_covariance)
    prior_precision = np.diag(PRIOR_SD**-2)
    cov = np.linalg.inv(toy.matrix.T @ inv_c @ toy.matrix + prior_precision)
    mean = (toy.matrix.T @ inv_c @ (x - toy.offset).T).T + prior_precision @ PRIOR_MEAN
    return mean @ cov.T, cov


@pytest.fixture(scope="module")
def fitted() -> tuple[LinearGaussianToy, PosteriorEstimator]:
    toy = default_toy()
    x, theta = _simulate(toy, N_TRAIN, np.random.default_rng(1))
    return toy, fit_posterior_estimator(x, theta, k=1, hidden=HIDDEN, epochs=EPOCHS, seed=SEED)


def test_fitted_posterior_matches_the_analytic_posterior(
    fitted: tuple[LinearGaussianToy, PosteriorEstimator],
) -> None:
    toy, est = fitted
    x, _ = _simulate(toy, 100, np.random.default_rng(2))
    mean, cov = _analytic_posterior(toy, x)
    # Amortization is only as good as the training set is dense: beyond ~2 prior σ the errors
    # grow (0.4 σ in the mean at 3 prior σ), so judge the bulk of the prior.
    bulk = np.all(np.abs(mean - PRIOR_MEAN) < 2 * PRIOR_SD, axis=1)
    x, mean = x[bulk], mean[bulk]
    mix = predict_mixture(est, x)
    sd = np.sqrt(np.diag(cov))
    mean_error = np.abs(mix.mean - mean) / sd
    sd_error = np.abs(np.sqrt(np.diagonal(mix.covariance, axis1=1, axis2=2)) / sd - 1)
    # Whitened covariance: Σ^-½ Σ̂ Σ^-½ − 1, which also tests the correlations.
    white = np.linalg.inv(np.linalg.cholesky(cov))
    cov_error = np.linalg.norm(white @ mix.covariance @ white.T - np.eye(3), axis=(1, 2))
    print(
        f"{len(x)} points: |Δμ|/σ max {mean_error.max():.3f} median {np.median(mean_error):.3f}, "
        f"|σ̂/σ − 1| max {sd_error.max():.3f}, ‖whitened Σ̂ − 1‖ max {cov_error.max():.3f} "
        f"median {np.median(cov_error):.3f}"
    )
    assert len(x) > 80
    assert mean_error.max() < 0.35
    assert np.median(mean_error) < 0.08
    assert sd_error.max() < 0.2
    assert np.median(cov_error) < 0.2


def test_posterior_density_on_a_grid_matches_the_analytic_density(
    fitted: tuple[LinearGaussianToy, PosteriorEstimator],
) -> None:
    toy, est = fitted
    x = toy.model(PRIOR_MEAN)[0]
    mean, cov = _analytic_posterior(toy, x[None])
    sd = np.sqrt(np.diag(cov))
    axes = [np.linspace(m - 3 * s, m + 3 * s, 15) for m, s in zip(mean[0], sd, strict=True)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    ours = posterior_density(est, x, grid)
    expected = multivariate_normal(mean=mean[0], cov=cov).pdf(grid)
    assert ours.shape == grid.shape[:-1]
    # Normalised: the grid sum × cell volume is the mass within ±3σ (~0.97 for a 3-d Gaussian).
    volume = np.prod([a[1] - a[0] for a in axes])
    assert ours.sum() * volume == pytest.approx(expected.sum() * volume, abs=0.05)
    # Where the mass is, the densities agree to a fraction of the peak.
    assert np.max(np.abs(ours - expected)) < 0.25 * expected.max()


def test_fitted_posterior_is_calibrated_and_an_overconfident_one_is_not(
    fitted: tuple[LinearGaussianToy, PosteriorEstimator],
) -> None:
    toy, est = fitted
    n_trials = 200
    x, theta = _simulate(toy, n_trials, np.random.default_rng(3))
    mix = predict_mixture(est, x)
    posteriors = [
        replace(mix, weights=mix.weights[i], means=mix.means[i], precision_cholesky=mix.precision_cholesky[i])
        for i in range(n_trials)
    ]
    bounds = np.column_stack([PRIOR_MEAN - 3 * PRIOR_SD, PRIOR_MEAN + 3 * PRIOR_SD])
    stats = mixture_trial_statistics(
        posteriors, theta, bounds=bounds, rng=np.random.default_rng(4), n_samples=2000
    )
    result = summarise_coverage(stats, levels=(0.68, 0.95))
    for entry in [*result["parameters"].values(), result["joint"], result["tarp"]]:
        for nominal, empirical, expected_error in zip(
            entry["nominal"], entry["empirical"], entry["expected_error"], strict=True
        ):
            assert abs(empirical - nominal) < 3.5 * expected_error + 0.02, (
                entry["interval"],
                nominal,
                empirical,
            )
    print(result["statement"])
    # Control: covariances halved (L × √2) must under-cover; the check can fail.
    narrow = [replace(m, precision_cholesky=m.precision_cholesky * np.sqrt(2.0)) for m in posteriors]
    bad = summarise_coverage(
        mixture_trial_statistics(narrow, theta, bounds=bounds, rng=np.random.default_rng(4), n_samples=2000),
        levels=(0.68,),
    )
    assert bad["joint"]["empirical"][0] < 0.68 - 3.5 * bad["joint"]["expected_error"][0]


def test_same_seed_gives_the_same_estimator() -> None:
    toy = default_toy()
    x, theta = _simulate(toy, 400, np.random.default_rng(5))
    kwargs = {"k": 2, "hidden": (8,), "epochs": 2, "seed": 9}
    first, second = (fit_posterior_estimator(x, theta, **kwargs) for _ in range(2))
    other = fit_posterior_estimator(x, theta, **{**kwargs, "seed": 10})
    out = [np.asarray(e.model(x[:5].astype(np.float32))) for e in (first, second, other)]
    np.testing.assert_array_equal(out[0], out[1])
    assert not np.allclose(out[0], out[2])


def test_bad_training_arrays_are_refused() -> None:
    x = np.zeros((10, 4))
    with pytest.raises(
        ValueError, match=r"expected \(n, d\) and \(n, p\).*found shapes \(10, 4\) and \(9, 3\)"
    ):
        fit_posterior_estimator(x, np.zeros((9, 3)), k=1, epochs=1, seed=0)
    theta = np.zeros((10, 3))
    theta[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"thetas: expected finite values, found nan at \[2, 1\]"):
        fit_posterior_estimator(x, theta, k=1, epochs=1, seed=0)


def test_vmim_summaries_keep_the_fisher_information(
    fitted: tuple[LinearGaussianToy, PosteriorEstimator],
) -> None:
    """t(x) = mixture mean is a p-vector summary with the data's Fisher information AᵀC⁻¹A.

    Fisher of t at the fiducial θ0 from simulations (common random numbers for the derivative):
    F_t = Jᵀ Cov(t)⁻¹ J, J = ∂E[t]/∂θ. A Gaussian likelihood of t (the existing likelihood path)
    then gives the same constraints as the full data.
    """
    toy, est = fitted
    noise = np.random.default_rng(6).multivariate_normal(
        np.zeros(toy.n_data), toy.noise_covariance, size=4000
    )

    def fisher_errors(summarise: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Marginal errors sqrt(diag F⁻¹) of a summary, from simulations at the prior mean."""
        step = 0.25 * PRIOR_SD

        def at(theta: np.ndarray) -> np.ndarray:
            return summarise(toy.model(theta) + noise)

        jac = np.column_stack(
            [
                (at(PRIOR_MEAN + s * e).mean(0) - at(PRIOR_MEAN - s * e).mean(0)) / (2 * s)
                for e, s in zip(np.eye(3), step, strict=True)
            ]
        )
        fisher = jac.T @ np.linalg.inv(np.cov(at(PRIOR_MEAN), rowvar=False)) @ jac
        return np.sqrt(np.diag(np.linalg.inv(fisher)))

    assert vmim_summaries(est, noise[:7]).shape == (7, N_PARAMS)
    errors_x = np.sqrt(
        np.diag(np.linalg.inv(toy.matrix.T @ np.linalg.inv(toy.noise_covariance) @ toy.matrix))
    )
    ratio = fisher_errors(lambda x: vmim_summaries(est, x)) / errors_x
    print("marginal errors from t / from x:", np.round(ratio, 3))
    np.testing.assert_allclose(ratio, 1.0, atol=0.1)
    # Control: a lossy 3-vector (the data without its S8-like entry) fails the same check.
    lossy = fisher_errors(lambda x: x[:, :3]) / errors_x
    print("marginal errors from x[:3] / from x:", np.round(lossy, 3))
    assert np.max(lossy) > 1.1


def test_two_components_recover_a_bimodal_posterior_that_one_cannot() -> None:
    """x = θ² + ε, θ ~ N(0, 1): p(θ|x) ∝ N(θ; 0, 1) N(x; θ², σ²) has modes at ±√x."""
    noise_sd, n = 0.1, 3000
    rng = np.random.default_rng(7)
    theta = rng.standard_normal((n, 1))
    x = theta**2 + noise_sd * rng.standard_normal((n, 1))
    grid = np.linspace(-4.0, 4.0, 801)[:, None]
    cell = grid[1, 0] - grid[0, 0]
    observed = np.array([0.5, 1.0, 2.0])
    exact = norm.pdf(grid[:, 0])[None] * norm.pdf(observed[:, None], grid[:, 0][None] ** 2, noise_sd)
    exact /= exact.sum(axis=1, keepdims=True) * cell

    def total_variation(k: int) -> tuple[np.ndarray, PosteriorEstimator]:
        est = fit_posterior_estimator(x, theta, k=k, hidden=(32, 32), epochs=30, seed=3)
        q = np.array([posterior_density(est, np.array([xo]), grid) for xo in observed])
        return 0.5 * np.sum(np.abs(q - exact), axis=1) * cell, est

    tv_one, _ = total_variation(1)
    tv_two, est = total_variation(2)
    print("total variation to the exact posterior, K=1:", np.round(tv_one, 3), "K=2:", np.round(tv_two, 3))
    assert np.all(tv_one > 0.6)
    assert np.all(tv_two < 0.35)
    modes = np.sort(predict_mixture(est, observed[:, None]).means[..., 0], axis=1)
    np.testing.assert_allclose(modes, np.sqrt(observed)[:, None] * [-1, 1], atol=0.05)
