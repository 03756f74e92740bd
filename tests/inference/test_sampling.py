"""Sampling on a synthetic problem with a known posterior; emcee vs dense grid; S8 coverage."""

from __future__ import annotations

import numpy as np
import pytest

from wlcnn.inference.constraints import marginal_interval, s8
from wlcnn.inference.likelihood import SummaryLikelihood
from wlcnn.inference.sampling import (
    compare_with_grid,
    evaluate_grid,
    initial_walkers_from_prior,
    read_chain,
    read_grid,
    run_emcee,
    write_chain,
    write_grid,
)
from wlcnn.inference.toy import default_toy

PRIOR_BOUNDS = [(0.1, 0.5), (0.4, 1.4), (-6.0, 6.0)]
#: M = N large enough that the Sellentin-Heavens likelihood is Gaussian to < 1e-6 in ln P.
EXACT_COUNT = 10**9
TRUTH = np.array([0.3, 0.8, 0.0])


def _regular_nodes(n_om: int, n_s8: int) -> np.ndarray:
    om, sg = np.linspace(0.1, 0.5, n_om), np.linspace(0.4, 1.4, n_s8)
    return np.array([(a, b) for a in om for b in sg])


def _exact_likelihood(data: np.ndarray) -> SummaryLikelihood:
    """Summaries equal to the toy's exact linear model: interpolation is exact, so the posterior
    is the analytic Gaussian (the prior box holds it beyond 4.5 sigma)."""
    toy = default_toy()
    nodes, a_ia = _regular_nodes(5, 6), np.linspace(-6, 6, 7)
    theta = np.stack(np.broadcast_arrays(nodes[:, None, 0], nodes[:, None, 1], a_ia[None, :]), axis=-1)
    mean = toy.model(theta.reshape(-1, 3)).reshape(len(nodes), len(a_ia), -1)
    cov = np.broadcast_to(toy.noise_covariance, (*mean.shape[:2], toy.n_data, toy.n_data))
    return SummaryLikelihood(
        nodes=nodes, a_ia=a_ia, mean=mean, covariance=cov, n_mean=EXACT_COUNT, n_cov=EXACT_COUNT, data=data
    )


@pytest.fixture(scope="module")
def problem() -> dict:
    toy = default_toy()
    data = toy.surveys(TRUTH, n=1, rng=np.random.default_rng(7))[0]
    mean, cov = toy.analytic_posterior(data)
    like = _exact_likelihood(data)
    init = initial_walkers_from_prior(
        in_prior=like.in_prior, bounds=PRIOR_BOUNDS, n_walkers=32, rng=np.random.default_rng(8)
    )
    # Walkers start uniform over the whole prior (not from the grid): an independent route.
    # Extended until converged (N > 50 tau, tau stable to 1 %): 4750 steps here.
    chain = run_emcee(
        like, initial=init, n_steps=3000, n_burn=1000, thin=1, base_seed=5, identity=("toy",), max_steps=20000
    )
    grid = evaluate_grid(like, bounds=PRIOR_BOUNDS, shape=(40, 40, 30))
    return {"mean": mean, "cov": cov, "like": like, "chain": chain, "grid": grid, "init": init}


def test_posterior_is_inside_the_prior(problem: dict) -> None:
    sd = np.sqrt(np.diag(problem["cov"]))
    lo, hi = np.array(PRIOR_BOUNDS).T
    # Beyond 4.5 sd the prior cuts < 1e-5 of the mass: the analytic Gaussian is the posterior.
    assert np.all(problem["mean"] - 4.5 * sd > lo) and np.all(problem["mean"] + 4.5 * sd < hi)


def test_emcee_matches_analytic_gaussian(problem: dict) -> None:
    chain = problem["chain"]
    assert chain.converged, chain.autocorr_time
    flat = chain.flat()
    sd = np.sqrt(np.diag(problem["cov"]))
    n_eff = flat.shape[0] / max(chain.autocorr_time.values())
    # Sampling error of a mean: sd / sqrt(n_eff) ~ 0.02 sd; of a 16/84 % quantile ~ 1.6x that.
    tol = 5.0 / np.sqrt(n_eff)
    np.testing.assert_array_less(np.abs(flat.mean(axis=0) - problem["mean"]) / sd, tol)
    for i in range(3):
        iv = marginal_interval(flat[:, i])
        exact_lo, exact_hi = problem["mean"][i] - sd[i], problem["mean"][i] + sd[i]  # 68.27 % Gaussian
        # The 68 % vs 68.27 % difference is 0.005 sd: well inside the tolerance.
        assert abs(iv.lower - exact_lo) / sd[i] < 1.6 * tol
        assert abs(iv.upper - exact_hi) / sd[i] < 1.6 * tol
    np.testing.assert_allclose(np.cov(flat.T), problem["cov"], rtol=0.1, atol=0.1 * np.outer(sd, sd).max())


def test_grid_matches_analytic_gaussian(problem: dict) -> None:
    grid = problem["grid"]
    w, pts = grid.weights().ravel(), grid.points()
    mean = w @ pts
    cov = (pts - mean).T @ ((pts - mean) * w[:, None])
    sd = np.sqrt(np.diag(problem["cov"]))
    np.testing.assert_array_less(np.abs(mean - problem["mean"]) / sd, 0.01)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), sd, rtol=0.01)


def test_emcee_and_grid_agree(problem: dict) -> None:
    check = compare_with_grid(problem["chain"].flat(), problem["grid"], tolerance_sigma=0.1)
    assert check["consistent"], check


def test_chain_is_reproducible_and_seed_dependent(problem: dict) -> None:
    like, init = problem["like"], problem["init"]
    a = run_emcee(like, initial=init, n_steps=50, n_burn=10, thin=1, base_seed=5, identity=("toy",))
    b = run_emcee(like, initial=init, n_steps=50, n_burn=10, thin=1, base_seed=5, identity=("toy",))
    c = run_emcee(like, initial=init, n_steps=50, n_burn=10, thin=1, base_seed=6, identity=("toy",))
    np.testing.assert_array_equal(a.samples, b.samples)
    np.testing.assert_array_equal(a.samples, problem["chain"].samples[:50])
    assert not np.array_equal(a.samples, c.samples)


def test_chain_and_grid_round_trip_with_settings(problem: dict, tmp_path) -> None:
    chain, grid = problem["chain"], problem["grid"]
    write_chain(tmp_path / "chain.h5", chain)
    back = read_chain(tmp_path / "chain.h5")
    np.testing.assert_array_equal(back.samples, chain.samples)
    np.testing.assert_array_equal(back.log_prob, chain.log_prob)
    assert back.settings == dict(chain.settings)
    assert back.settings["n_walkers"] == 32 and back.settings["base_seed"] == 5
    assert back.converged == chain.converged
    write_grid(tmp_path / "grid.h5", grid)
    g2 = read_grid(tmp_path / "grid.h5")
    np.testing.assert_array_equal(g2.log_posterior, grid.log_posterior)
    for a, b in zip(g2.axes, grid.axes, strict=True):
        np.testing.assert_array_equal(a, b)


def test_s8_interval_coverage_with_estimated_summaries() -> None:
    """Calibration of the summary-statistic likelihood (issue item 8).

    Each trial re-estimates mu and S from S = 100 noisy simulated surveys per grid value and draws a
    new data vector at a grid cosmology; the 68 % S8 interval of the grid posterior must contain
    the true S8 in 68 % of the trials. 300 trials: binomial sd 2.7 %; tolerance 6 % (2.2 sd).
    """
    toy = default_toy()
    nodes, a_ia = _regular_nodes(5, 6), np.linspace(-6, 6, 7)
    theta = np.stack(np.broadcast_arrays(nodes[:, None, 0], nodes[:, None, 1], a_ia[None, :]), axis=-1)
    flat_theta = theta.reshape(-1, 3)
    model = toy.model(flat_theta)
    chol = np.linalg.cholesky(toy.noise_covariance)
    n_surveys, n_trials = 100, 300
    rng = np.random.default_rng(11)
    true_s8 = float(s8(TRUTH[0], TRUTH[1]))
    hits = 0
    for _ in range(n_trials):
        preds = model[:, None, :] + rng.normal(size=(len(flat_theta), n_surveys, toy.n_data)) @ chol.T
        preds = preds.reshape(len(nodes), len(a_ia), n_surveys, toy.n_data)
        mean = preds.mean(axis=2)
        dev = preds - mean[:, :, None]
        cov = np.einsum("casi,casj->caij", dev, dev) / (n_surveys - 1)
        data = toy.model(TRUTH)[0] + chol @ rng.normal(size=toy.n_data)
        like = SummaryLikelihood(
            nodes=nodes, a_ia=a_ia, mean=mean, covariance=cov, n_mean=n_surveys, n_cov=n_surveys, data=data
        )
        grid = evaluate_grid(like, bounds=PRIOR_BOUNDS, shape=(24, 24, 12))
        pts = grid.points()
        iv = marginal_interval(s8(pts[:, 0], pts[:, 1]), weights=grid.weights().ravel())
        hits += iv.lower <= true_s8 <= iv.upper
    print(f"S8 68 % coverage: {hits / n_trials:.3f} over {n_trials} trials")
    assert abs(hits / n_trials - 0.68) < 0.06, hits / n_trials
