"""Bootstrapped KS / AD tests between map sets: the tests' power is shown, not assumed."""

from __future__ import annotations

import numpy as np
import pytest

from tests.statistics.random_fields import gaussian_field
from wlcnn.statistics import (
    correlation_difference,
    minkowski_functionals,
    pixel_histogram,
    power_spectrum,
    two_sample_tests,
)

N_BOOTSTRAP = 20
SIDE_DEG = 5.0
ELL_EDGES = np.geomspace(150.0, 3000.0, 6)
NU_EDGES = np.linspace(-2.0, 2.0, 9)


def _spectra(maps: np.ndarray) -> np.ndarray:
    return power_spectrum(maps, side_deg=SIDE_DEG, ell_edges=ELL_EDGES).cl


def test_two_sets_of_one_gaussian_field_pass(gaussian_maps: np.ndarray) -> None:
    other = gaussian_field(np.random.default_rng(99), len(gaussian_maps))
    result = two_sample_tests(_spectra(gaussian_maps), _spectra(other), n_bootstrap=N_BOOTSTRAP, seed=3)
    ks, ad = result.fraction_rejected(alpha=0.001)
    # Bootstrap resamples with replacement (ties, overlap), so p-values are conservative-ish;
    # no bin may be rejected in most bootstraps.
    assert np.all(ks < 0.5) and np.all(ad < 0.5)
    assert np.median(result.ks_pvalues) > 0.05


def test_different_amplitude_fails_at_high_confidence(gaussian_maps: np.ndarray) -> None:
    louder = gaussian_field(np.random.default_rng(99), len(gaussian_maps), amplitude=1.2)
    result = two_sample_tests(_spectra(gaussian_maps), _spectra(louder), n_bootstrap=N_BOOTSTRAP, seed=3)
    ks, _ = result.fraction_rejected(alpha=0.001)
    assert np.all(ks == 1.0)
    assert np.all(result.ad_pvalues == 0.001)  # scipy's floor: p <= 0.001 in every bootstrap


def test_lognormal_and_gaussian_fields_of_one_spectrum_differ(
    gaussian_maps: np.ndarray, lognormal_maps: np.ndarray
) -> None:
    # Same spectrum: the power spectrum cannot tell them apart, the pixel PDF and V2 can.
    for statistic in (
        lambda m: pixel_histogram(m, NU_EDGES, units="sigma").pdf,
        lambda m: minkowski_functionals(m, NU_EDGES, units="sigma").v2,
    ):
        result = two_sample_tests(
            statistic(gaussian_maps), statistic(lognormal_maps), n_bootstrap=N_BOOTSTRAP, seed=5
        )
        ks, _ = result.fraction_rejected(alpha=0.001)
        assert np.sum(ks == 1.0) >= len(ks) // 2


def test_seed_reproduces_and_changes_the_bootstrap() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    first = two_sample_tests(a, b, n_bootstrap=5, seed=11)
    np.testing.assert_array_equal(first.ks_pvalues, two_sample_tests(a, b, n_bootstrap=5, seed=11).ks_pvalues)
    assert not np.array_equal(first.ks_pvalues, two_sample_tests(a, b, n_bootstrap=5, seed=12).ks_pvalues)


def test_constant_bins_are_identical_not_an_error() -> None:
    a = np.ones((10, 1))
    result = two_sample_tests(a, a, n_bootstrap=2, seed=0)
    assert result.ad_pvalues.tolist() == [[1.0], [1.0]] and result.ks_pvalues.tolist() == [[1.0], [1.0]]


def test_correlation_difference_vanishes_for_one_set_and_sees_decorrelation(
    gaussian_maps: np.ndarray,
) -> None:
    spectra = _spectra(gaussian_maps)
    np.testing.assert_allclose(correlation_difference(spectra, spectra), 0.0, atol=1e-12)
    x = np.random.default_rng(1).normal(size=(400, 1))
    correlated = np.hstack([x, x + 0.1 * np.random.default_rng(2).normal(size=(400, 1))])
    independent = np.random.default_rng(3).normal(size=(400, 2))
    assert correlation_difference(correlated, independent)[0, 1] > 0.8


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "words"),
    [
        (np.zeros((1, 3)), np.zeros((5, 3)), {}, ["a:", "n_maps >= 2", "(1, 3)"]),
        (np.zeros((5, 3)), np.zeros((5, 4)), {}, ["b:", "(3,)", "(4,)"]),
        (np.zeros((5, 3)), np.zeros((5, 3)), {"n_bootstrap": 0}, ["n_bootstrap", ">= 1", "0"]),
    ],
)
def test_bad_input_names_field_expected_and_found(a, b, kwargs: dict, words: list[str]) -> None:
    with pytest.raises(ValueError) as err:  # noqa: PT011 - the words are checked below, per case
        two_sample_tests(a, b, **{"n_bootstrap": 2, "seed": 0, **kwargs})
    assert all(w in str(err.value) for w in words), str(err.value)
