"""The Cholesky Gaussian likelihood loss (SPEC §6): equals a direct Gaussian NLL, stable, bias term."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from scipy.stats import multivariate_normal

from wlcnn.training.loss import (
    A_IA_SCALE,
    cholesky_factor,
    covariance_from_outputs,
    gaussian_nll,
    parameter_targets,
    survey_loss,
)

#: The loss leaves out the constant of the 3-d Gaussian log-density.
GAUSS_CONSTANT = 1.5 * np.log(2 * np.pi)


def _random_outputs(rng: np.random.Generator, n: int) -> np.ndarray:
    out = rng.normal(0.0, 1.0, size=(n, 9))
    out[:, 3:6] = rng.uniform(-3.0, 4.0, size=(n, 3))  # raw diagonal: L_ii from ~0.05 to ~4
    return out.astype(np.float32)


def test_loss_equals_scipy_gaussian_nll_for_random_cholesky_factors() -> None:
    rng = np.random.default_rng(7)
    out = _random_outputs(rng, 50)
    theta_true = rng.normal(0.0, 0.5, size=(50, 3)).astype(np.float32)
    ours = gaussian_nll(out, theta_true).numpy()
    for i in range(50):
        # Build Σ from the outputs independently of the loss code: L from its definition.
        raw = out[i].astype(np.float64)
        chol = np.array(
            [
                [np.log1p(np.exp(raw[3])), 0, 0],
                [raw[6], np.log1p(np.exp(raw[4])), 0],
                [raw[7], raw[8], np.log1p(np.exp(raw[5]))],
            ]
        )
        sigma = np.linalg.inv(chol @ chol.T)
        expected = -multivariate_normal(mean=raw[:3], cov=sigma).logpdf(theta_true[i]) - GAUSS_CONSTANT
        assert ours[i] == pytest.approx(expected, rel=2e-4, abs=2e-4), i


def test_covariance_helpers_invert_the_precision() -> None:
    rng = np.random.default_rng(3)
    out = _random_outputs(rng, 4)
    mean, cov = covariance_from_outputs(out)
    chol = cholesky_factor(out)
    np.testing.assert_allclose(mean, out[:, :3], rtol=1e-6)
    np.testing.assert_allclose(
        cov @ (chol @ np.swapaxes(chol, 1, 2)), np.broadcast_to(np.eye(3), (4, 3, 3)), atol=1e-8
    )
    assert np.all(np.triu(chol, 1) == 0)


@pytest.mark.parametrize("raw_diag", [-1.0e4, -80.0, -25.0, 30.0, 1.0e4])
def test_loss_and_gradients_finite_for_extreme_outputs(raw_diag: float) -> None:
    out = tf.Variable(
        np.array(
            [
                [50.0, -50.0, 3.0, raw_diag, raw_diag, raw_diag, 30.0, -30.0, 30.0],
                [0.3, 0.8, 0.1, raw_diag, 0.0, -raw_diag, -1e3, 1e3, 0.0],
            ],
            np.float32,
        )
    )
    theta = tf.constant([[0.3, 0.8, 0.0], [0.3, 0.8, 0.5]], tf.float32)
    with tf.GradientTape() as tape:
        loss = gaussian_nll(out, theta)
        total = tf.reduce_sum(loss)
    grad = tape.gradient(total, out)
    assert np.all(np.isfinite(loss.numpy())), loss.numpy()
    assert np.all(np.isfinite(grad.numpy())), grad.numpy()


def test_log_det_uses_the_diagonal_for_tiny_entries() -> None:
    # L = diag(softplus(-60)) ~ e^-60 per entry: ln|Σ| = 120 * 3 (softplus itself would underflow in ln).
    out = np.array([[0.0, 0.0, 0.0, -60.0, -60.0, -60.0, 0.0, 0.0, 0.0]], np.float32)
    assert float(gaussian_nll(out, np.zeros((1, 3), np.float32))[0]) == pytest.approx(180.0, rel=1e-6)


def test_survey_loss_adds_the_bias_term_on_the_patch_mean() -> None:
    rng = np.random.default_rng(11)
    out = _random_outputs(rng, 2 * 5).reshape(2, 5, 9)
    theta = rng.normal(size=(2, 3)).astype(np.float32)
    plain = survey_loss(out, theta).numpy()
    nll = gaussian_nll(out, theta[:, None, :]).numpy().mean(axis=1)
    np.testing.assert_allclose(plain, nll, rtol=1e-6)
    lam = 1000.0
    bias = ((out[:, :, :3].mean(axis=1) - theta) ** 2).sum(axis=1)
    np.testing.assert_allclose(survey_loss(out, theta, bias_lambda=lam).numpy(), nll + lam * bias, rtol=1e-5)


def test_targets_scale_a_ia() -> None:
    t = parameter_targets(0.3, 0.8, np.array([-6.0, 6.0]))
    np.testing.assert_allclose(t, [[0.3, 0.8, -6.0 / A_IA_SCALE], [0.3, 0.8, 0.6]], rtol=1e-6)
