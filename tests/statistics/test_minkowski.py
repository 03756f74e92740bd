"""Minkowski functionals against the Gaussian-field formulas (Tomita 1986; Matsubara 2010)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.special import erfc

from wlcnn.statistics import minkowski_functionals

NU_EDGES = np.linspace(-3.0, 3.0, 25)
FINE_PER_BIN = 50


def _bin_average(fn, edges: np.ndarray) -> np.ndarray:
    return np.array(
        [fn(np.linspace(lo, hi, FINE_PER_BIN + 1)).mean() for lo, hi in itertools.pairwise(edges)]
    )


def _gaussian_prediction(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """V0 at the bin centres, V1 and V2 averaged over the bins, σ0 and σ1 measured on the maps."""
    s0 = maps.std()
    gy, gx = np.gradient(maps, axis=(1, 2))
    s1 = np.sqrt(np.mean(gx**2 + gy**2))
    nu = 0.5 * (NU_EDGES[1:] + NU_EDGES[:-1])
    v0 = 0.5 * erfc(nu / np.sqrt(2.0))
    v1 = _bin_average(lambda x: s1 / (8 * np.sqrt(2) * s0) * np.exp(-(x**2) / 2), NU_EDGES)
    v2 = _bin_average(lambda x: s1**2 / (2 * s0**2) * x * np.exp(-(x**2) / 2) / (2 * np.pi) ** 1.5, NU_EDGES)
    return v0, v1, v2


def _chi2_per_bin(measured: np.ndarray, expected: np.ndarray) -> float:
    err = measured.std(axis=0) / np.sqrt(len(measured))
    return float(np.mean((measured.mean(axis=0) - expected) ** 2 / err**2))


def test_gaussian_field_matches_analytic_functionals(gaussian_maps: np.ndarray) -> None:
    mf = minkowski_functionals(gaussian_maps, NU_EDGES * gaussian_maps.std())
    for name, expected in zip(("v0", "v1", "v2"), _gaussian_prediction(gaussian_maps), strict=True):
        measured = getattr(mf, name)
        # 24 correlated bins: chi²/bin of 2.5 would be a > 3σ excess for independent bins.
        assert _chi2_per_bin(measured, expected) < 2.5, name
        amplitude = measured.mean(axis=0) @ expected / (expected @ expected)
        assert amplitude == pytest.approx(1.0, abs=0.03), name


def test_lognormal_field_of_same_spectrum_fails(
    lognormal_maps: np.ndarray, gaussian_maps: np.ndarray
) -> None:
    # Same two-point function (checked in test_power_spectrum), but non-Gaussian: the formulas fail.
    mf = minkowski_functionals(lognormal_maps, NU_EDGES, units="sigma")
    for name, expected in zip(("v0", "v1", "v2"), _gaussian_prediction(lognormal_maps), strict=True):
        measured = getattr(mf, name)
        populated = measured.std(axis=0) > 0
        chi2 = _chi2_per_bin(measured[:, populated], expected[populated])
        assert chi2 > 50.0, name


def test_sigma_units_equal_absolute_thresholds_scaled_per_map(gaussian_maps: np.ndarray) -> None:
    maps = gaussian_maps[:3] * np.array([1.0, 2.0, 0.5])[:, None, None]
    in_sigma = minkowski_functionals(maps, NU_EDGES, units="sigma")
    for m in range(3):
        absolute = minkowski_functionals(maps[m], NU_EDGES * maps[m].std())
        np.testing.assert_allclose(in_sigma.v1[m], absolute.v1, rtol=1e-12)
        np.testing.assert_allclose(in_sigma.v2[m], absolute.v2, rtol=1e-12)
        np.testing.assert_allclose(in_sigma.thresholds[m], absolute.thresholds, rtol=1e-12)


def test_mask_equals_the_unmasked_cut_out_and_ignores_masked_values(gaussian_maps: np.ndarray) -> None:
    maps = gaussian_maps[:4].copy()
    mask = np.zeros(maps.shape[-2:], dtype=bool)
    mask[10:90, 20:100] = True
    edges = np.linspace(-2.0, 2.0, 9) * maps.std()
    masked = minkowski_functionals(maps, edges, mask=mask)
    cut = minkowski_functionals(maps[:, 10:90, 20:100], edges)
    for name in ("v0", "v1", "v2"):
        np.testing.assert_allclose(getattr(masked, name), getattr(cut, name), rtol=1e-12)
    assert masked.area.tolist() == [78 * 78] * 4
    maps[:, ~mask] = 1e3  # garbage in masked pixels changes nothing
    again = minkowski_functionals(maps, edges, mask=mask)
    np.testing.assert_array_equal(again.v2, masked.v2)


def test_batch_axes_are_kept() -> None:
    maps = np.random.default_rng(0).normal(size=(2, 3, 16, 16))
    mf = minkowski_functionals(maps, [-1.0, 0.0, 1.0])
    assert mf.v0.shape == (2, 3, 2) and mf.area.shape == (2, 3)
    one = minkowski_functionals(maps[1, 2], [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(mf.v2[1, 2], one.v2)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"kappa": np.zeros((4, 5)), "thresholds": [0.0, 1.0]}, ["maps", "square", "(4, 5)"]),
        ({"kappa": np.zeros((4, 4)), "thresholds": [1.0, 0.0]}, ["thresholds", "increasing", "[1., 0.]"]),
        (
            {"kappa": np.zeros((4, 4)), "thresholds": [0.0, 1.0], "units": "sigma"},
            ["sigma", "positive", "0.0"],
        ),
        (
            {"kappa": np.ones((4, 4)), "thresholds": [0.0, 1.0], "mask": np.ones((3, 3), dtype=bool)},
            ["mask", "broadcastable", "(3, 3)"],
        ),
        ({"kappa": np.ones((4, 4)), "thresholds": [0.0, 1.0], "units": "rms"}, ["units", "'sigma'", "'rms'"]),
    ],
)
def test_bad_input_names_field_expected_and_found(kwargs: dict, words: list[str]) -> None:
    with pytest.raises(ValueError) as err:  # noqa: PT011 - the words are checked below, per case
        minkowski_functionals(**kwargs)
    message = str(err.value)
    assert all(w in message for w in words), message
