"""Peak counts against the Gaussian peak-height distribution (Bond & Efstathiou 1987) and scipy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import ndimage
from scipy.special import erfc

from tests.statistics.random_fields import wavenumbers
from wlcnn.statistics import peak_counts

NU_EDGES = np.linspace(-1.5, 3.5, 11)
FINE_PER_BIN = 50


def _peak_height_density(nu: np.ndarray, s0: float, s1: float, s2: float) -> np.ndarray:
    """Peaks per unit area and unit ν of a 2-D Gaussian field (Bond & Efstathiou 1987, eq. 4.8)."""
    g = s1**2 / (s0 * s2)
    a = 1.0 - g**2
    x = g * nu
    shape = (
        (x**2 - g**2) * (1 - 0.5 * erfc(x / np.sqrt(2 * a)))
        + x * a * np.exp(-(x**2) / (2 * a)) / np.sqrt(2 * np.pi * a)
        + np.exp(-(x**2) / (3 - 2 * g**2))
        / np.sqrt(3 - 2 * g**2)
        * (1 - 0.5 * erfc(x / np.sqrt(2 * a * (3 - 2 * g**2))))
    )
    theta_star2 = 2 * s1**2 / s2**2
    return np.exp(-(nu**2) / 2) * shape / ((2 * np.pi) ** 1.5 * theta_star2)


def _spectral_moments(maps: np.ndarray) -> tuple[float, float, float]:
    power = np.abs(np.fft.fft2(maps)) ** 2 / maps.shape[-1] ** 2
    k = wavenumbers(maps.shape[-1])
    return tuple(float(np.sqrt(np.mean(power * k ** (2 * j)))) for j in range(3))


def _expected_counts(maps: np.ndarray, area: int) -> np.ndarray:
    s0, s1, s2 = _spectral_moments(maps)
    out = []
    for lo, hi in itertools.pairwise(NU_EDGES):
        nu = np.linspace(lo, hi, FINE_PER_BIN + 1)
        out.append(np.trapezoid(_peak_height_density(nu, s0, s1, s2), nu))
    return np.array(out) * area


def test_density_formula_integrates_to_the_known_total() -> None:
    s0, s1, s2 = 1.0, 0.3, 0.2
    nu = np.linspace(-10, 10, 20001)
    total = np.trapezoid(_peak_height_density(nu, s0, s1, s2), nu)
    assert total == pytest.approx(s2**2 / (8 * np.sqrt(3) * np.pi * s1**2), rel=1e-9)


def test_gaussian_field_matches_peak_height_distribution(gaussian_maps: np.ndarray) -> None:
    pk = peak_counts(gaussian_maps, NU_EDGES * gaussian_maps.std())
    got = pk.counts.sum(axis=0)
    expected = _expected_counts(gaussian_maps, int(pk.area.sum()))
    # Poisson errors: chi²/bin over 10 bins below 2.3 is p > 0.01.
    assert np.mean((got - expected) ** 2 / expected) < 2.3
    assert got.sum() == pytest.approx(expected.sum(), rel=3 / np.sqrt(expected.sum()))


def test_lognormal_field_of_same_spectrum_fails(lognormal_maps: np.ndarray) -> None:
    pk = peak_counts(lognormal_maps, NU_EDGES, units="sigma")
    got = pk.counts.sum(axis=0)
    expected = _expected_counts(lognormal_maps, int(pk.area.sum()))
    assert np.mean((got - expected) ** 2 / expected) > 20.0


def test_equals_maximum_filter_reference() -> None:
    maps = np.random.default_rng(3).normal(size=(5, 40, 40))
    edges = np.linspace(-4.0, 4.0, 17)
    pk = peak_counts(maps, edges)
    for m, counts in zip(maps, pk.counts, strict=True):
        # Strict maximum: equal to the 3×3 maximum and unique in the 3×3 block (continuous data).
        peak = (m == ndimage.maximum_filter(m, size=3, mode="constant", cval=-np.inf))[1:-1, 1:-1]
        heights = m[1:-1, 1:-1][peak]
        np.testing.assert_array_equal(counts, np.histogram(heights, bins=edges)[0])
    assert pk.area.tolist() == [38 * 38] * 5


def test_masked_pixels_and_their_neighbours_cannot_be_peaks() -> None:
    m = np.zeros((10, 10))
    m[3, 3] = m[6, 6] = 1.0  # two isolated peaks
    mask = np.ones((10, 10), dtype=bool)
    mask[7, 7] = False  # a masked neighbour of (6, 6)
    pk = peak_counts(m, [0.5, 1.5], mask=mask)
    assert pk.counts.tolist() == [1]
    assert pk.area.tolist() == 64 - 9
    m[7, 7] = 100.0  # whatever a masked pixel holds
    assert peak_counts(m, [0.5, 1.5], mask=mask).counts.tolist() == [1]


def test_bad_bins_name_field_expected_and_found() -> None:
    with pytest.raises(ValueError, match=r"bins: expected >= 2 finite, strictly increasing values, found"):
        peak_counts(np.zeros((8, 8)), [1.0])
