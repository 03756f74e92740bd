"""Kaiser-Squires, mode removal and smoothing against analytic cases (SPEC §5)."""

from __future__ import annotations

import numpy as np
import pytest

from wlcnn.survey.kaiser_squires import (
    gamma_to_kappa,
    gamma_to_kappa_tf,
    kappa_to_gamma,
    kappa_to_gamma_tf,
    ks_kernels,
    remove_modes,
    remove_modes_tf,
)
from wlcnn.survey.smoothing import gaussian_kernel_1d, smooth, smooth_tf

N = 64
#: One pixel of 5 deg / 128 for σ = 2.34 arcmin.
SIGMA_PIX = 2.34 / (5 * 60 / 128)


def _integer_freqs(m: int) -> tuple[np.ndarray, np.ndarray]:
    k = np.fft.fftfreq(m, d=1.0 / m)
    ly, lx = np.meshgrid(k, k, indexing="ij")
    return lx, ly


def _invertible_modes(m: int) -> np.ndarray:
    """Modes where D1² + D2² = 1, defined independently of the code: l ≠ 0, off the Nyquist lines."""
    lx, ly = _integer_freqs(m)
    return ~(((lx == 0) & (ly == 0)) | (np.abs(lx) == m // 2) | (np.abs(ly) == m // 2))


def _random_kappa(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape)


def test_round_trip_on_periodic_maps_away_from_removed_modes() -> None:
    rng = np.random.default_rng(1)
    kappa = _random_kappa(rng, (3, N, N))
    keep = _invertible_modes(N)
    kappa = np.fft.ifft2(np.fft.fft2(kappa) * keep).real  # only modes where κ→γ is invertible
    k_e, k_b = gamma_to_kappa(kappa_to_gamma(kappa, padding=0), padding=0)
    np.testing.assert_allclose(k_e, kappa, atol=1e-12)
    np.testing.assert_allclose(k_b, 0.0, atol=1e-12)
    # Elsewhere the round trip multiplies each mode by D1² + D2²: 0 at l = 0, D1² alone on the
    # Nyquist lines (where D2 is set to 0 to keep γ2 real).
    raw = _random_kappa(rng, (N, N))
    back, _ = gamma_to_kappa(kappa_to_gamma(raw, padding=0), padding=0)
    lx, ly = _integer_freqs(N)
    with np.errstate(invalid="ignore"):
        factor = np.where(keep, 1.0, ((lx**2 - ly**2) / (lx**2 + ly**2)) ** 2)
    factor[0, 0] = 0.0
    np.testing.assert_allclose(back, np.fft.ifft2(np.fft.fft2(raw) * factor).real, atol=1e-12)


def test_kappa_to_gamma_matches_the_analytic_shear_of_a_plane_wave_potential() -> None:
    # ψ = sin(a x) sin(b y): κ = ∇²ψ/2, γ1 = (ψ_xx − ψ_yy)/2, γ2 = ψ_xy, with x the last axis.
    y, x = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    ka, kb = 2 * np.pi * 3 / N, 2 * np.pi * 5 / N
    psi = np.sin(ka * x) * np.sin(kb * y)
    kappa = -0.5 * (ka**2 + kb**2) * psi
    gamma1 = -0.5 * (ka**2 - kb**2) * psi
    gamma2 = ka * kb * np.cos(ka * x) * np.cos(kb * y)
    g = kappa_to_gamma(kappa, padding=0)
    np.testing.assert_allclose(g[0], gamma1, atol=1e-12)
    np.testing.assert_allclose(g[1], gamma2, atol=1e-12)


def test_pure_e_mode_kappa_gives_no_b_mode() -> None:
    rng = np.random.default_rng(2)
    kappa = _random_kappa(rng, (2, 2, N, N))
    gamma = kappa_to_gamma(kappa, padding=0)
    k_e, k_b = gamma_to_kappa(gamma, padding=0)
    assert np.abs(k_b).max() < 1e-12 * np.abs(k_e).max()
    assert np.std(k_e) > 0.5 * np.std(kappa)
    # A rotated shear field (γ → iγ: E ↔ B) is pure B: the test can fail.
    k_e_rot, k_b_rot = gamma_to_kappa(np.stack([-gamma[:, :, 1], gamma[:, :, 0]], axis=2), padding=0)
    assert np.abs(k_e_rot).max() < 1e-12 and np.std(k_b_rot) > 0.5 * np.std(kappa)


def test_kernels_vanish_exactly_where_expected() -> None:
    m = 2 * N
    d1, d2 = ks_kernels(m)
    lx, ly = _integer_freqs(m)
    np.testing.assert_array_equal(d1 == 0, np.abs(lx) == np.abs(ly))
    np.testing.assert_array_equal(
        d2 == 0, (lx == 0) | (ly == 0) | (np.abs(lx) == m // 2) | (np.abs(ly) == m // 2)
    )
    inv = _invertible_modes(m)
    np.testing.assert_allclose((d1**2 + d2**2)[inv], 1.0, atol=1e-15)


def test_mode_removal_is_idempotent_and_zeroes_the_vanishing_modes() -> None:
    rng = np.random.default_rng(3)
    gamma = rng.standard_normal((2, 2, N, N)) * (rng.random((2, 1, N, N)) > 0.2)  # masked maps
    once = remove_modes(gamma, padding=0)
    twice = remove_modes(once, padding=0)
    np.testing.assert_allclose(twice, once, atol=1e-13)
    assert np.abs(once - gamma).max() > 0.1  # it did remove something
    lx, ly = _integer_freqs(N)
    f1, f2 = np.fft.fft2(once[:, 0]), np.fft.fft2(once[:, 1])
    assert np.abs(f1[..., np.abs(lx) == np.abs(ly)]).max() < 1e-10
    removed2 = (lx == 0) | (ly == 0) | (np.abs(lx) == N // 2) | (np.abs(ly) == N // 2)
    assert np.abs(f2[..., removed2]).max() < 1e-10
    # Shear made by κ→γ has nothing in those modes: mode removal leaves it unchanged.
    g = kappa_to_gamma(rng.standard_normal((N, N)), padding=0)
    np.testing.assert_allclose(remove_modes(g, padding=0), g, atol=1e-12)


def test_padded_mode_removal_is_pad_project_crop() -> None:
    rng = np.random.default_rng(4)
    pad = 16
    gamma = rng.standard_normal((2, N, N))
    big = np.zeros((2, N + 2 * pad, N + 2 * pad))
    big[:, pad:-pad, pad:-pad] = gamma
    reference = remove_modes(big, padding=0)[:, pad:-pad, pad:-pad]
    np.testing.assert_allclose(remove_modes(gamma, padding=pad), reference, atol=1e-13)


def test_padding_suppresses_wrap_around() -> None:
    # A point mass at the left edge: without padding its shear wraps onto the right edge.
    kappa = np.zeros((N, N))
    kappa[N // 2, 0] = 1.0
    wrapped = kappa_to_gamma(kappa, padding=0)
    padded = kappa_to_gamma(kappa, padding=N)
    right = np.s_[:, N // 2 - 2 : N // 2 + 3, -3:]
    assert np.abs(padded[right]).max() < 0.5 * np.abs(wrapped[right]).max()


def test_smoothing_a_delta_gives_the_gaussian_kernel() -> None:
    for sigma in (SIGMA_PIX, 2.5):
        delta = np.zeros((N, N))
        delta[N // 2, N // 2] = 1.0
        out = smooth(delta, sigma_pix=sigma, truncate=4.0)
        y, x = np.meshgrid(np.arange(N) - N // 2, np.arange(N) - N // 2, indexing="ij")
        analytic = np.exp(-(x**2 + y**2) / (2 * sigma**2)) / (2 * np.pi * sigma**2)
        inside = (np.abs(x) <= 3 * sigma) & (np.abs(y) <= 3 * sigma)
        np.testing.assert_allclose(out[inside], analytic[inside], rtol=1e-4)
        radius = int(np.ceil(4 * sigma))
        assert np.all(out[(np.abs(x) > radius) | (np.abs(y) > radius)] == 0)
        assert out.sum() == pytest.approx(1.0, abs=1e-12)


def test_smoothing_boundary_is_zero_extension() -> None:
    delta = np.zeros((N, N))
    delta[0, 0] = 1.0
    kernel = gaussian_kernel_1d(sigma_pix=SIGMA_PIX, truncate=4.0)
    radius = kernel.size // 2
    out = smooth(delta, sigma_pix=SIGMA_PIX, truncate=4.0)
    # The part of the kernel falling outside the map is lost (no renormalisation, no wrapping).
    assert out.sum() == pytest.approx(kernel[radius:].sum() ** 2, rel=1e-12)
    assert np.all(out[-radius:, :] == 0) and np.all(out[:, -radius:] == 0)


def test_tensorflow_kaiser_squires_matches_numpy() -> None:
    import tensorflow as tf

    rng = np.random.default_rng(5)
    kappa = rng.standard_normal((2, 3, N, N)) * 0.05
    for pad in (0, 16):
        ref = kappa_to_gamma(kappa, padding=pad)
        out = kappa_to_gamma_tf(tf.constant(kappa, tf.float32), padding=pad).numpy()
        np.testing.assert_allclose(out, ref, atol=1e-6)
        np.testing.assert_allclose(
            remove_modes_tf(tf.constant(ref, tf.float32), padding=pad).numpy(),
            remove_modes(ref, padding=pad),
            atol=1e-6,
        )
        e_ref, b_ref = gamma_to_kappa(ref, padding=pad)
        e_tf, b_tf = gamma_to_kappa_tf(tf.constant(ref, tf.float32), padding=pad)
        np.testing.assert_allclose(e_tf.numpy(), e_ref, atol=1e-6)
        np.testing.assert_allclose(b_tf.numpy(), b_ref, atol=1e-6)
    maps = rng.standard_normal((2, 5, N, N))
    np.testing.assert_allclose(
        smooth_tf(tf.constant(maps, tf.float32), sigma_pix=SIGMA_PIX, truncate=4.0).numpy(),
        smooth(maps, sigma_pix=SIGMA_PIX, truncate=4.0),
        atol=1e-5,
    )
