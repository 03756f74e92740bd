"""The fused interpolated-covariance likelihood equals a dense direct computation (the old way)."""

from __future__ import annotations

import numpy as np
import pytest

from wlcnn.inference.likelihood import SummaryLikelihood, sellentin_heavens_logpdf


@pytest.mark.parametrize("p", [3, 18, 70])
def test_fused_kernel_equals_numpy_interpolation_and_lapack(p: int) -> None:
    rng = np.random.default_rng(p)
    om, sig = np.meshgrid(np.linspace(0.2, 0.4, 4), np.linspace(0.6, 1.0, 4), indexing="ij")
    nodes = np.column_stack([om.ravel(), sig.ravel()])
    a_ia = np.linspace(-2.0, 2.0, 3)
    factors = rng.normal(size=(len(nodes), len(a_ia), p, p)) / np.sqrt(p)
    cov = np.einsum("caij,cakj->caik", factors, factors) + np.eye(p)
    counts = rng.integers(p + 2, 3 * p + 10, size=(len(nodes), len(a_ia)))
    like = SummaryLikelihood(
        nodes=nodes,
        a_ia=a_ia,
        mean=rng.normal(size=(len(nodes), len(a_ia), p)),
        covariance=cov,
        n_mean=counts,
        n_cov=counts,
        data=rng.normal(size=p),
    )
    theta = np.column_stack(
        [rng.uniform(0.15, 0.45, 500), rng.uniform(0.55, 1.05, 500), rng.uniform(-2.5, 2.5, 500)]
    )
    theta[:16, :2] = nodes  # exactly on nodes and edges too
    got = like(theta)
    inside = like.in_prior(theta)
    mean, covariance, n_mean, n_cov = like.model(theta[inside])  # numpy interpolation
    want = sellentin_heavens_logpdf(like.data, mean=mean, covariance=covariance, n_cov=n_cov, n_mean=n_mean)
    assert np.all(np.isneginf(got[~inside]))
    np.testing.assert_allclose(got[inside], want, rtol=1e-10)
    assert inside.sum() > 100


def test_covariance_edited_in_place_is_seen() -> None:
    # Coverage replaces one grid value in place (leave-one-out): the kernel must read it.
    rng = np.random.default_rng(0)
    nodes = np.array([[0.2, 0.6], [0.4, 0.6], [0.3, 1.0]])
    like = SummaryLikelihood(
        nodes=nodes,
        a_ia=np.array([-1.0, 1.0]),
        mean=np.zeros((3, 2, 2)),
        covariance=np.broadcast_to(np.eye(2), (3, 2, 2, 2)),
        n_mean=50,
        n_cov=50,
        data=rng.normal(size=2),
    )
    point = np.array([[0.2, 0.6, -1.0]])
    before = like(point)[0]
    like.covariance[0, 0] *= 4.0
    after = like(point)[0]
    want = sellentin_heavens_logpdf(
        like.data, mean=np.zeros(2), covariance=4 * np.eye(2), n_cov=50, n_mean=50
    )
    assert after != before
    assert after == pytest.approx(float(want), rel=1e-12)


@pytest.mark.parametrize("bad_row", [0, 4])
def test_a_covariance_not_positive_definite_is_named(bad_row: int) -> None:
    p = 6
    nodes = np.array([[0.2, 0.6], [0.4, 0.6], [0.2, 1.0], [0.4, 1.0]])
    a_ia = np.array([-1.0, 1.0])
    cov = np.broadcast_to(np.eye(p), (len(nodes), len(a_ia), p, p)).copy()
    # Every grid value indefinite from row `bad_row` on: its leading minor of that size is negative.
    cov[..., bad_row, bad_row] = -1.0
    like = SummaryLikelihood(
        nodes=nodes,
        a_ia=a_ia,
        mean=np.zeros((len(nodes), len(a_ia), p)),
        covariance=cov,
        n_mean=50,
        n_cov=50,
        data=np.zeros(p),
    )
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite at grid values"):
        like(np.array([[0.3, 0.8, 0.0]]))
