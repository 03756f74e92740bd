"""Power-spectrum baseline: recovery of a known C_ell, cross- vs auto-spectra, no TensorFlow."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest

from wlcnn.inference.power_spectrum import (
    PowerSpectrumStatistic,
    binned_spectra,
    ell_bin_edges,
    fixed_covariance,
    kappa_channels,
    spectrum_pairs,
)
from wlcnn.inference.summaries import Summaries

PATCH_DEG = 5.0
N_PIX = 128
EDGES = ell_bin_edges(ell_min=75.0, ell_max=3500.0, n_bins=7)


def _c_ell(ell: np.ndarray) -> np.ndarray:
    """A lensing-like spectrum: rising, turning over near ell ~ 1000, then falling."""
    return 1e-9 * (ell / 1000.0) ** -0.5 / (1.0 + (ell / 1500.0) ** 2)


def _gaussian_maps(rng: np.random.Generator, n_maps: int) -> np.ndarray:
    """Periodic Gaussian random fields with power _c_ell (written independently of the estimator).

    White noise w (unit variance per pixel) has E|FFT w|^2 = N^2; multiplying its transform by
    sqrt(C(l)) / pixel (pixel in radians) gives a field with E[C_hat] = C(l) for the estimator
    C_hat = pixel^2 |FFT k|^2 / N^2.
    """
    pixel = np.deg2rad(PATCH_DEG) / N_PIX
    k = np.fft.fftfreq(N_PIX) * N_PIX
    ell = 2 * np.pi / np.deg2rad(PATCH_DEG) * np.sqrt(k[:, None] ** 2 + k[None, :] ** 2)
    amp = np.sqrt(_c_ell(np.where(ell > 0, ell, 1.0))) / pixel
    amp[0, 0] = 0.0
    white = rng.normal(size=(n_maps, N_PIX, N_PIX))
    return np.real(np.fft.ifft2(np.fft.fft2(white) * amp))


def _expected_binned() -> np.ndarray:
    k = np.fft.fftfreq(N_PIX) * N_PIX
    ell = (2 * np.pi / np.deg2rad(PATCH_DEG) * np.sqrt(k[:, None] ** 2 + k[None, :] ** 2)).ravel()
    out = []
    for lo, hi in itertools.pairwise(EDGES):
        sel = (ell >= lo) & (ell < hi)
        out.append(_c_ell(ell[sel]).mean())
    return np.array(out)


def test_recovers_known_input_spectrum() -> None:
    maps = _gaussian_maps(np.random.default_rng(1), 600)[..., None]
    got = binned_spectra(maps, patch_size_deg=PATCH_DEG, ell_edges=EDGES).mean(axis=0)[0]
    ratio = got / _expected_binned()
    # The first bin holds 4 Fourier modes (2 independent): 600 maps give ~3 % noise there.
    np.testing.assert_allclose(ratio[0], 1.0, atol=0.1)
    np.testing.assert_allclose(ratio[1:], 1.0, atol=0.05)


@pytest.mark.parametrize("n_pix", [64, 63])
def test_half_plane_estimator_equals_full_plane_average(n_pix: int) -> None:
    # Reference: plain full-plane FFT, mean of Re[F_i F_j*] over the modes of each bin.
    rng = np.random.default_rng(6)
    maps = rng.normal(size=(3, n_pix, n_pix, 2))
    edges = ell_bin_edges(ell_min=100.0, ell_max=2000.0, n_bins=4)
    got = binned_spectra(maps, patch_size_deg=PATCH_DEG, ell_edges=edges)
    pixel = np.deg2rad(PATCH_DEG) / n_pix
    k = np.fft.fftfreq(n_pix) * n_pix
    ell = 2 * np.pi / np.deg2rad(PATCH_DEG) * np.sqrt(k[:, None] ** 2 + k[None, :] ** 2)
    for m in range(3):
        f = [np.fft.fft2(maps[m, :, :, c]) for c in range(2)]
        for p, (i, j) in enumerate(spectrum_pairs(2)):
            power = np.real(f[i] * np.conj(f[j])) * pixel**2 / n_pix**2
            ref = [power[(ell >= lo) & (ell < hi)].mean() for lo, hi in itertools.pairwise(edges)]
            np.testing.assert_allclose(got[m, p], ref, rtol=1e-10)


def test_white_noise_has_analytic_flat_spectrum() -> None:
    sigma = 0.02
    maps = np.random.default_rng(2).normal(0.0, sigma, size=(300, N_PIX, N_PIX, 1))
    got = binned_spectra(maps, patch_size_deg=PATCH_DEG, ell_edges=EDGES).mean(axis=0)[0]
    pixel_sr = np.deg2rad(PATCH_DEG / N_PIX) ** 2
    np.testing.assert_allclose(got[1:] / (sigma**2 * pixel_sr), 1.0, atol=0.05)


def test_cross_spectra() -> None:
    rng = np.random.default_rng(3)
    base = _gaussian_maps(rng, 200)
    other = 0.5 * base + _gaussian_maps(rng, 200)
    maps = np.stack([base, base, other], axis=-1)
    spectra = binned_spectra(maps, patch_size_deg=PATCH_DEG, ell_edges=EDGES)
    pairs = spectrum_pairs(3)
    auto, cross_same = spectra[:, pairs.index((0, 0))], spectra[:, pairs.index((0, 1))]
    np.testing.assert_allclose(cross_same, auto, rtol=1e-12)  # identical maps: cross = auto
    np.testing.assert_allclose(spectra[:, pairs.index((1, 1))], auto, rtol=1e-12)
    # Correlated maps: E[C_02] = 0.5 C_00, E[C_22] = 1.25 C_00 (bins with many modes).
    mean = spectra.mean(axis=0)
    np.testing.assert_allclose(mean[pairs.index((0, 2)), 2:] / mean[0, 2:], 0.5, atol=0.03)
    np.testing.assert_allclose(mean[pairs.index((2, 2)), 2:] / mean[0, 2:], 1.25, atol=0.06)


def test_statistic_on_cnn_inputs_uses_the_kappa_channels() -> None:
    rng = np.random.default_rng(4)
    n_bins = 4
    kappa = _gaussian_maps(rng, 3 * n_bins).reshape(3, n_bins, N_PIX, N_PIX).transpose(0, 2, 3, 1)
    gamma = rng.normal(size=(3, N_PIX, N_PIX, 2 * n_bins))  # γ1, γ2 per bin come first
    inputs = np.concatenate([gamma, kappa], axis=-1)
    np.testing.assert_array_equal(kappa_channels(inputs, n_bins=n_bins), kappa)
    stat = PowerSpectrumStatistic(patch_size_deg=PATCH_DEG, ell_edges=EDGES, n_bins=n_bins)
    out = stat(inputs)
    assert out.shape == (3, 10 * 7) and len(stat.output_names) == 70
    ref = binned_spectra(kappa, patch_size_deg=PATCH_DEG, ell_edges=EDGES).reshape(3, -1)
    np.testing.assert_allclose(out, ref)
    with pytest.raises(ValueError, match="channels"):
        kappa_channels(inputs[..., :-1], n_bins=n_bins)


def test_fixed_covariance_from_nearest_node_at_zero_a_ia() -> None:
    rng = np.random.default_rng(5)
    preds = rng.normal(size=(3, 3, 50, 2))
    preds[1, 1] *= 7.0  # the node nearest (0.26, 0.84), A_IA = 0
    summ = Summaries(
        label="ps",
        cosmology_ids=("a", "b", "c"),
        omega_m=np.array([0.2, 0.25, 0.4]),
        sigma8=np.array([1.0, 0.85, 0.6]),
        a_ia=np.array([-6.0, 0.0, 6.0]),
        predictions=preds,
        seeds=np.zeros((3, 3, 50), dtype=np.uint64),
        output_names=("x", "y"),
    )
    cov, n, cid, a = fixed_covariance(summ, target=(0.26, 0.84), scale=(0.4, 1.0))
    assert (cid, a, n) == ("b", 0.0, 50)
    np.testing.assert_allclose(cov, np.cov(preds[1, 1].T))


def test_module_does_not_import_tensorflow() -> None:
    code = (
        "import sys, numpy as np\n"
        "import wlcnn.inference.power_spectrum as ps\n"
        "ps.binned_spectra(np.zeros((1, 16, 16, 2)), patch_size_deg=5.0,"
        " ell_edges=ps.ell_bin_edges(ell_min=100.0, ell_max=1000.0, n_bins=3))\n"
        "bad = [m for m in sys.modules if m == 'tensorflow' or m.startswith('tensorflow.')]\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
