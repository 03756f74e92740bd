"""The one flat-sky estimator: input spectrum recovered, rings, masks, callers delegate to it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.statistics.random_fields import N_PIX, spectrum, wavenumbers
from wlcnn.inference.power_spectrum import binned_spectra, spectrum_pairs
from wlcnn.lensing.theory import flat_sky_power_spectrum
from wlcnn.statistics import FourierRings, power_spectrum, ring_edges

SIDE_DEG = 5.0


def _full_plane_reference(a: np.ndarray, b: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Independent estimator: full-plane fft2, loop over bins, mean of Re[F_a F_b*] θ²/N⁴."""
    n = a.shape[-1]
    k = np.fft.fftfreq(n) * n
    ell = 2 * np.pi / np.deg2rad(SIDE_DEG) * np.hypot(k[:, None], k[None, :])
    power = np.real(np.fft.fft2(a) * np.conj(np.fft.fft2(b))) * np.deg2rad(SIDE_DEG) ** 2 / n**4
    return np.stack(
        [
            power[..., (ell >= lo) & (ell < hi) & (ell > 0)].mean(axis=-1)
            for lo, hi in itertools.pairwise(edges)
        ],
        axis=-1,
    )


def test_gaussian_field_recovers_input_spectrum_per_ring(gaussian_maps: np.ndarray) -> None:
    ps = power_spectrum(gaussian_maps, side_deg=SIDE_DEG)
    assert ps.cl.shape == (len(gaussian_maps), N_PIX // 2)
    # Input: map variance per mode = P(k) with the FFT convention of random_fields, θ²/N⁴ × N² P.
    mode_power = spectrum(wavenumbers()) * np.deg2rad(SIDE_DEG) ** 2 / N_PIX**2
    edges = ring_edges(n_pix=N_PIX, side_deg=SIDE_DEG)
    k = np.fft.fftfreq(N_PIX) * N_PIX
    ell = 2 * np.pi / np.deg2rad(SIDE_DEG) * np.hypot(k[:, None], k[None, :])
    expected = np.array([mode_power[(ell >= lo) & (ell < hi)].mean() for lo, hi in itertools.pairwise(edges)])
    ratio = ps.cl.mean(axis=0) / expected
    # Relative error of a ring mean: 1/sqrt(n_maps × n_modes / 2); 5σ.
    sigma = 1 / np.sqrt(len(gaussian_maps) * ps.n_modes / 2)
    resolved = expected > 1e-6 * expected.max()
    assert np.all(np.abs(ratio[resolved] - 1) < 5 * sigma[resolved])


def test_lognormal_field_has_the_same_spectrum(gaussian_maps: np.ndarray, lognormal_maps: np.ndarray) -> None:
    # Where the spectrum carries the variance (ℓ < 1500 here, 4 pixels of smoothing); beyond, the
    # exponential adds a little power of its own (small in absolute terms).
    edges = np.geomspace(150.0, 1500.0, 4)
    g = power_spectrum(gaussian_maps, side_deg=SIDE_DEG, ell_edges=edges).cl.mean(axis=0)
    ln = power_spectrum(lognormal_maps, side_deg=SIDE_DEG, ell_edges=edges).cl
    np.testing.assert_allclose(ln.mean(axis=0), g, rtol=0.3)


@pytest.mark.parametrize("n_pix", [32, 33])
def test_equals_full_plane_reference_and_callers_delegate(n_pix: int) -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(2, 3, n_pix, n_pix))
    edges = np.array([100.0, 300.0, 1000.0, 2500.0])
    auto = power_spectrum(a, side_deg=SIDE_DEG, ell_edges=edges)
    cross = power_spectrum(a, side_deg=SIDE_DEG, ell_edges=edges, other=b)
    np.testing.assert_allclose(auto.cl, _full_plane_reference(a, a, edges), rtol=1e-12)
    np.testing.assert_allclose(cross.cl, _full_plane_reference(a, b, edges), rtol=1e-10, atol=1e-25)
    theory = flat_sky_power_spectrum(a, side_deg=SIDE_DEG, ell_edges=edges, other=b)
    np.testing.assert_array_equal(theory.cl, cross.cl)
    both = np.stack([a, b], axis=-1)
    binned = binned_spectra(both, patch_size_deg=SIDE_DEG, ell_edges=edges)
    assert spectrum_pairs(2)[1] == (0, 1)
    np.testing.assert_allclose(binned[:, 0], auto.cl, rtol=1e-12)
    np.testing.assert_allclose(binned[:, 1], cross.cl, rtol=1e-12)


def test_rings_count_full_plane_modes() -> None:
    rings = FourierRings.build(16, side_deg=SIDE_DEG)
    k = np.fft.fftfreq(16) * 16
    radius = np.hypot(k[:, None], k[None, :])
    expected = [int(np.sum((radius >= r - 0.5) & (radius < r + 0.5))) for r in range(1, 9)]
    assert rings.n_modes.tolist() == expected
    assert FourierRings.build(16, side_deg=SIDE_DEG) is rings  # cached


def test_mask_corrects_for_the_observed_fraction_and_ignores_masked_values() -> None:
    white = np.random.default_rng(4).normal(size=(200, 64, 64))
    mask = np.zeros((64, 64), dtype=bool)
    mask[:, :32] = True
    edges = np.array([500.0, 1500.0, 4000.0])
    full = power_spectrum(white, side_deg=SIDE_DEG, ell_edges=edges).cl.mean(axis=0)
    masked = power_spectrum(white, side_deg=SIDE_DEG, ell_edges=edges, mask=mask).cl
    np.testing.assert_allclose(masked.mean(axis=0), full, rtol=0.03)  # white noise: C unchanged
    white[:, ~mask] = 1e6
    np.testing.assert_array_equal(
        power_spectrum(white, side_deg=SIDE_DEG, ell_edges=edges, mask=mask).cl, masked
    )


def test_empty_bins_are_nan() -> None:
    ps = power_spectrum(np.ones((8, 8)), side_deg=SIDE_DEG, ell_edges=[1.0, 2.0, 100.0])
    assert np.isnan(ps.cl[0]) and ps.n_modes[0] == 0


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"maps": np.zeros((4, 5))}, ["maps", "square", "(4, 5)"]),
        ({"maps": np.zeros((4, 4)), "other": np.zeros((2, 4, 4))}, ["other", "(4, 4)", "(2, 4, 4)"]),
        ({"maps": np.zeros((4, 4)), "ell_edges": [3.0]}, ["ell_edges", "increasing", "[3.]"]),
        ({"maps": np.zeros((4, 4)), "mask": np.zeros((4, 4), dtype=bool)}, ["mask", "observed", "map 0"]),
    ],
)
def test_bad_input_names_field_expected_and_found(kwargs: dict, words: list[str]) -> None:
    with pytest.raises(ValueError) as err:  # noqa: PT011 - the words are checked below, per case
        power_spectrum(side_deg=SIDE_DEG, **kwargs)
    assert all(w in str(err.value) for w in words), str(err.value)
