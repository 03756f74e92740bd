"""Sellentin-Heavens likelihood and the Delaunay × A_IA interpolation (SPEC §8)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.interpolate import LinearNDInterpolator
from scipy.special import gamma

from wlcnn.inference.likelihood import GridInterpolator, SummaryLikelihood, sellentin_heavens_logpdf


def _random_spd(rng: np.random.Generator, p: int) -> np.ndarray:
    a = rng.normal(size=(p, p))
    return a @ a.T + p * np.eye(p)


def _direct_formula(d, mu, cov, n, m) -> float:
    """SPEC §8 written out term by term, with the Jeffrey-Abdalla normalisation (independent code)."""
    p = len(d)
    diff = np.asarray(d) - np.asarray(mu)
    q = float(diff @ np.linalg.inv(cov) @ diff)
    c_p = gamma(n / 2) / (gamma((n - p) / 2) * (np.pi * (n - 1) * (m + 1) / m) ** (p / 2))
    return float(np.log(c_p * np.linalg.det(cov) ** -0.5 * (1 + m * q / ((m + 1) * (n - 1))) ** (-n / 2)))


def test_matches_direct_formula() -> None:
    rng = np.random.default_rng(1)
    for p, n, m in [(1, 10, 5), (3, 50, 200), (5, 20, 20)]:
        cov = _random_spd(rng, p)
        mu, d = rng.normal(size=p), rng.normal(size=p) * 3
        got = sellentin_heavens_logpdf(d, mean=mu, covariance=cov, n_cov=n, n_mean=m)
        assert got == pytest.approx(_direct_formula(d, mu, cov, n, m), rel=1e-10, abs=1e-10)


def test_is_the_multivariate_t_of_scipy() -> None:
    # ν = N − p, shape Ŝ (N−1)(M+1)/(M(N−p)): the normalised Student-t of Jeffrey & Abdalla.
    rng = np.random.default_rng(2)
    p, n, m = 4, 30, 12
    cov, mu = _random_spd(rng, p), rng.normal(size=p)
    d = mu + rng.normal(size=(20, p)) * 2
    shape = cov * (n - 1) * (m + 1) / (m * (n - p))
    ref = stats.multivariate_t(loc=mu, shape=shape, df=n - p).logpdf(d)
    got = sellentin_heavens_logpdf(d, mean=mu, covariance=cov, n_cov=n, n_mean=m)
    np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_normalised_in_one_dimension() -> None:
    total, _ = integrate.quad(
        lambda x: np.exp(
            sellentin_heavens_logpdf(
                np.array([x]), mean=np.array([0.5]), covariance=np.array([[2.0]]), n_cov=6, n_mean=3
            )
        ),
        -np.inf,
        np.inf,
    )
    assert total == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize("n", [10**4, 10**6, 10**8])
def test_tends_to_gaussian(n: int) -> None:
    rng = np.random.default_rng(3)
    p = 3
    cov, mu = _random_spd(rng, p), rng.normal(size=p)
    d = mu + rng.normal(size=(50, p)) * 2
    got = sellentin_heavens_logpdf(d, mean=mu, covariance=cov, n_cov=n, n_mean=n)
    ref = stats.multivariate_normal(mu, cov).logpdf(d)
    # The t's correction to ln P is O(Q² / N): shrinks ~1/N.
    assert np.max(np.abs(got - ref)) < 200.0 / n
    if n == 10**4:
        assert np.max(np.abs(got - ref)) > 1e-5  # and is really there at finite N


def test_rejects_too_few_surveys() -> None:
    with pytest.raises(ValueError, match="more surveys"):
        sellentin_heavens_logpdf(np.zeros(3), mean=np.zeros(3), covariance=np.eye(3), n_cov=3, n_mean=10)


# ---- interpolation -----------------------------------------------------------------------------


def _scattered_nodes(rng: np.random.Generator, n: int = 25) -> np.ndarray:
    return np.column_stack([rng.uniform(0.1, 0.5, n), rng.uniform(0.4, 1.4, n)])


def _linear(theta: np.ndarray) -> np.ndarray:
    om, s8, a = theta[..., 0], theta[..., 1], theta[..., 2]
    return np.stack([2.0 * om - 3.0 * s8 + 0.5 * a + 1.0, -om + 0.25 * a], axis=-1)


def test_linear_function_reproduced_exactly_and_matches_scipy() -> None:
    rng = np.random.default_rng(4)
    nodes = _scattered_nodes(rng)
    a_ia = np.array([-6.0, -2.0, 0.5, 6.0])
    interp = GridInterpolator(nodes=nodes, a_ia=a_ia, scale=((0.1, 0.5), (0.4, 1.4)))
    grid_theta = np.stack(np.broadcast_arrays(nodes[:, None, 0], nodes[:, None, 1], a_ia[None, :]), axis=-1)
    values = _linear(grid_theta)  # (n_c, n_a, 2)
    pts = np.column_stack(
        [rng.uniform(0.1, 0.5, 4000), rng.uniform(0.4, 1.4, 4000), rng.uniform(-6, 6, 4000)]
    )
    inside = interp.weights(pts).inside
    assert 0.3 < inside.mean() < 1.0  # the test covers both sides of the hull
    got = interp.interpolate(values, points=pts)
    np.testing.assert_allclose(got[inside], _linear(pts[inside]), atol=1e-12)
    assert np.all(got[~inside] == 0.0)
    # Independent reference: SciPy's LinearNDInterpolator on the same triangulation, at fixed A_IA.
    at_node_a = pts.copy()
    at_node_a[:, 2] = a_ia[2]
    ref = LinearNDInterpolator(interp.triangulation, values[:, 2, 0], fill_value=0.0)(
        (at_node_a[:, :2] - [0.1, 0.4]) / [0.4, 1.0]
    )
    np.testing.assert_allclose(interp.interpolate(values, points=at_node_a)[:, 0], ref, atol=1e-12)


def test_exact_at_nodes_and_piecewise_linear_between() -> None:
    rng = np.random.default_rng(5)
    nodes = _scattered_nodes(rng, 12)
    a_ia = np.linspace(-6, 6, 5)
    values = rng.normal(size=(len(nodes), len(a_ia), 3))  # arbitrary, non-linear data
    interp = GridInterpolator(nodes=nodes, a_ia=a_ia)
    for c in range(len(nodes)):
        for j in range(len(a_ia)):
            got = interp.interpolate(values, points=np.array([[*nodes[c], a_ia[j]]]))[0]
            np.testing.assert_allclose(got, values[c, j], atol=1e-12)
    # Linear in A_IA between two grid values at a node.
    a = 0.3 * a_ia[1] + 0.7 * a_ia[2]
    got = interp.interpolate(values, points=np.array([[*nodes[0], a]]))[0]
    np.testing.assert_allclose(got, 0.3 * values[0, 1] + 0.7 * values[0, 2], atol=1e-12)
    # Linear along a segment inside one triangle (midpoint = mean of the ends).
    tri = interp.triangulation.simplices[0]
    p1 = nodes[tri].mean(axis=0)
    p2 = 0.5 * (p1 + nodes[tri[0]])
    vals = interp.interpolate(values, points=np.array([[*p1, 0.0], [*p2, 0.0], [*(0.5 * (p1 + p2)), 0.0]]))
    np.testing.assert_allclose(vals[2], 0.5 * (vals[0] + vals[1]), atol=1e-12)


def test_zero_outside_hull_and_a_ia_range() -> None:
    nodes = np.array([[0.2, 0.6], [0.4, 0.6], [0.2, 1.0], [0.4, 1.0]])
    interp = GridInterpolator(nodes=nodes, a_ia=np.array([-1.0, 1.0]))
    values = np.ones((4, 2, 1))
    pts = np.array([[0.3, 0.8, 0.0], [0.19, 0.8, 0.0], [0.3, 1.01, 0.0], [0.3, 0.8, 1.01], [0.3, 0.8, -1.5]])
    np.testing.assert_allclose(interp.interpolate(values, points=pts)[:, 0], [1, 0, 0, 0, 0])


def test_rejects_collinear_nodes() -> None:
    with pytest.raises(ValueError, match="one line"):
        GridInterpolator(nodes=np.array([[0.1, 0.5], [0.2, 0.6], [0.3, 0.7]]), a_ia=np.array([0.0, 1.0]))


def _toy_likelihood(n_surveys: int, *, data: np.ndarray) -> SummaryLikelihood:
    nodes = np.array([[0.1, 0.4], [0.5, 0.4], [0.1, 1.4], [0.5, 1.4], [0.3, 0.9]])
    a_ia = np.array([-6.0, 6.0])
    theta = np.stack(np.broadcast_arrays(nodes[:, None, 0], nodes[:, None, 1], a_ia[None, :]), axis=-1)
    cov = np.diag([0.01, 0.02, 0.5]) ** 2
    return SummaryLikelihood(
        nodes=nodes,
        a_ia=a_ia,
        mean=theta,
        covariance=np.broadcast_to(cov, (5, 2, 3, 3)),
        n_mean=n_surveys,
        n_cov=n_surveys,
        data=data,
    )


def test_summary_likelihood_equals_formula_inside_and_minus_inf_outside() -> None:
    d = np.array([0.3, 0.8, 0.0])
    like = _toy_likelihood(200, data=d)
    theta = np.array([[0.31, 0.79, 0.5], [0.6, 0.8, 0.0], [0.3, 0.8, 7.0]])
    lp = like(theta)
    cov = np.diag([0.01, 0.02, 0.5]) ** 2
    assert lp[0] == pytest.approx(_direct_formula(d, theta[0], cov, 200, 200), rel=1e-10)
    assert np.isneginf(lp[1]) and np.isneginf(lp[2])


def test_fixed_covariance_is_used_everywhere() -> None:
    d = np.array([0.3, 0.8, 0.0])
    base = _toy_likelihood(200, data=d)
    fixed_cov = np.diag([0.05, 0.05, 1.0]) ** 2
    like = SummaryLikelihood(
        nodes=base.interpolator.nodes,
        a_ia=base.interpolator.a_ia,
        mean=base.mean,
        covariance=None,
        n_mean=200,
        n_cov=200,
        data=d,
        fixed_covariance=fixed_cov,
        fixed_n_cov=150,
    )
    theta = np.array([0.35, 0.7, 1.0])
    assert like(theta[None])[0] == pytest.approx(_direct_formula(d, theta, fixed_cov, 150, 200), rel=1e-10)
