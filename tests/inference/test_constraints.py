"""Marginal intervals, S8, contour areas and Table II on cases with known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from wlcnn.inference.constraints import (
    constraints_row,
    format_markdown_table,
    hpd_area_grid,
    hpd_area_samples,
    hpd_contains,
    marginal_interval,
    s8,
    weighted_quantile,
    write_table,
)

CHI2_95 = stats.chi2.ppf(0.95, df=2)
CHI2_68 = stats.chi2.ppf(0.68, df=2)
SIGMA = np.array([[0.03**2, -0.8 * 0.03 * 0.06], [-0.8 * 0.03 * 0.06, 0.06**2]])


def _ellipse_area(cov: np.ndarray, chi2: float) -> float:
    return float(np.pi * chi2 * np.sqrt(np.linalg.det(cov)))


def test_s8_definition() -> None:
    assert float(s8(0.3, 0.8)) == pytest.approx(0.8)
    assert float(s8(0.6, 0.5)) == pytest.approx(0.5 * np.sqrt(2.0))


def test_weighted_quantiles_match_numpy_and_repetition() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=1001)
    np.testing.assert_allclose(
        weighted_quantile(x, [0.16, 0.5, 0.84]), np.quantile(x, [0.16, 0.5, 0.84], method="hazen"), atol=1e-12
    )
    # Integer weights = repeated samples.
    w = rng.integers(1, 4, size=200)
    y = rng.normal(size=200)
    np.testing.assert_allclose(
        weighted_quantile(y, [0.3, 0.7], weights=w), np.quantile(np.repeat(y, w), [0.3, 0.7]), atol=0.02
    )


def test_s8_interval_of_a_known_gaussian() -> None:
    # S8 ~ N(0.77, 0.03) exactly, Ωm spread over the prior: σ8 follows from S8 and Ωm.
    rng = np.random.default_rng(2)
    n = 400_000
    true_s8 = rng.normal(0.77, 0.03, n)
    om = rng.uniform(0.15, 0.45, n)
    samples = np.column_stack([om, true_s8 / np.sqrt(om / 0.3), rng.normal(1.0, 0.7, n)])
    row = constraints_row(label="gauss", samples=samples)
    z = stats.norm.ppf(0.84)  # the 68 % central interval is ±0.994 sd
    assert row["s8"]["median"] == pytest.approx(0.77, abs=3e-4)
    assert row["s8"]["plus"] == pytest.approx(0.03 * z, rel=0.01)
    assert row["s8"]["minus"] == pytest.approx(0.03 * z, rel=0.01)
    assert row["a_ia"]["plus"] == pytest.approx(0.7 * z, rel=0.01)
    assert row["omega_m"]["median"] == pytest.approx(0.30, abs=1e-3)


def test_interval_of_skewed_distribution() -> None:
    # Exponential(1): median ln 2, 16 % and 84 % quantiles −ln 0.84 and −ln 0.16.
    rng = np.random.default_rng(3)
    iv = marginal_interval(rng.exponential(size=400_000))
    assert iv.median == pytest.approx(np.log(2), abs=5e-3)
    assert iv.lower == pytest.approx(-np.log(0.84), abs=5e-3)
    assert iv.upper == pytest.approx(-np.log(0.16), abs=1e-2)


def _gaussian_on_grid(n: int = 301) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.linspace(0.3 - 6 * 0.03, 0.3 + 6 * 0.03, n)
    y = np.linspace(0.8 - 6 * 0.06, 0.8 + 6 * 0.06, n)
    xx, yy = np.meshgrid(x, y, indexing="ij")
    dens = stats.multivariate_normal([0.3, 0.8], SIGMA).pdf(np.stack([xx, yy], axis=-1))
    return dens, x, y


@pytest.mark.parametrize(("level", "chi2"), [(0.95, CHI2_95), (0.68, CHI2_68)])
def test_grid_area_of_a_known_gaussian(level: float, chi2: float) -> None:
    dens, x, y = _gaussian_on_grid()
    assert hpd_area_grid(dens, x=x, y=y, level=level) == pytest.approx(_ellipse_area(SIGMA, chi2), rel=0.005)


def test_sample_area_of_a_known_gaussian() -> None:
    rng = np.random.default_rng(4)
    pts = rng.multivariate_normal([0.3, 0.8], SIGMA, size=50_000)
    area = hpd_area_samples(pts[:, 0], pts[:, 1], level=0.95)
    assert area == pytest.approx(_ellipse_area(SIGMA, CHI2_95), rel=0.03)
    # Area scales with sqrt(det): doubling one axis doubles it.
    area2 = hpd_area_samples(2 * pts[:, 0], pts[:, 1], level=0.95)
    assert area2 == pytest.approx(2 * area, rel=1e-6)


def test_hpd_contains() -> None:
    dens, x, y = _gaussian_on_grid(201)
    inv = np.linalg.inv(SIGMA)
    for dx, dy in [(0.0, 0.0), (0.05, 0.05), (0.03, -0.06), (0.06, -0.01)]:
        r2 = float(np.array([dx, dy]) @ inv @ np.array([dx, dy]))
        if abs(r2 - CHI2_95) < 0.3:
            continue  # too close to the contour for a grid test
        assert hpd_contains(dens, x=x, y=y, level=0.95, point=(0.3 + dx, 0.8 + dy)) == (r2 < CHI2_95)
    assert not hpd_contains(dens, x=x, y=y, level=0.95, point=(2.0, 2.0))


def test_table_json_and_markdown(tmp_path) -> None:
    rng = np.random.default_rng(5)
    samples = rng.multivariate_normal([0.3, 0.8, 1.0], np.diag([0.03, 0.06, 0.7]) ** 2, size=20_000)
    row = constraints_row(label="cnn", samples=samples, extra={"converged": True})
    write_table([row], json_path=tmp_path / "t.json", markdown_path=tmp_path / "t.md", blinded=True)
    payload = json.loads((tmp_path / "t.json").read_text())
    assert payload["blinded"] is True and payload["rows"][0]["converged"] is True
    assert set(payload["rows"][0]) >= {"s8", "a_ia", "sigma8", "omega_m", "area_68", "area_95"}
    md = (tmp_path / "t.md").read_text()
    assert "BLINDED" in md and "| cnn |" in md
    assert "BLINDED" not in format_markdown_table([row], blinded=False)
    assert f"{row['s8']['median']:.3f} +{row['s8']['plus']:.3f}" in md
