"""CNN input assembly (SPEC §6): analytic cases, NumPy vs TensorFlow, reproducibility."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from wlcnn.seeding import rng_for
from wlcnn.survey.forward_model import (
    ForwardDraws,
    ForwardModel,
    TFForwardModel,
    assemble_inputs_numpy,
    assemble_inputs_tf,
    channel_names,
    stateless_seed,
)
from wlcnn.survey.kaiser_squires import remove_modes
from wlcnn.survey.shape_noise import noise_ingredients

N_PATCHES, N_BINS, N_PIX, PADDING = 2, 4, 128, 64
SIGMA_PIX = 2.34 / (5 * 60 / 128)
M_BIAS = np.array([-0.015, -0.011, -0.010, -0.020])
A_IA_RANGE = (-6.0, 6.0)


def _survey(
    rng: np.random.Generator, *, per_pixel: float = 4.0, masked_fraction: float = 0.1, n_pix: int = N_PIX
) -> tuple[np.ndarray, object]:
    """A mask with holes and noise ingredients of ~``per_pixel`` galaxies per observed pixel."""
    shape = (N_PATCHES, N_BINS, n_pix, n_pix)
    mask = rng.random(shape) > masked_fraction
    counts = rng.poisson(per_pixel, size=shape) * mask
    mask = counts > 0
    index = np.repeat(np.arange(mask.size), counts.ravel())
    n = index.size
    ing = noise_ingredients(
        pixel_index=index,
        weight=rng.gamma(2.0, 3.0, n),
        e1=rng.normal(0, 0.29, n),
        e2=rng.normal(0, 0.29, n),
        map_shape=shape,
    )
    return mask, ing


def _model(rng: np.random.Generator, **kw: object) -> ForwardModel:
    mask, ing = _survey(rng)
    options = {
        "mask": mask,
        "noise": ing,
        "multiplicative_bias": M_BIAS,
        "multiplicative_bias_sigma": 0.01,
        "padding": PADDING,
        "smoothing_sigma_pix": SIGMA_PIX,
        "smoothing_truncate": 4.0,
    }
    return ForwardModel(**{**options, **kw})


def _kappa(rng: np.random.Generator, rms: float) -> np.ndarray:
    """Smooth Gaussian random κ maps (power at low ℓ, like lensing maps)."""
    white = np.fft.fft2(rng.standard_normal((N_PATCHES, N_BINS, N_PIX, N_PIX)))
    k = np.fft.fftfreq(N_PIX)
    kk = np.hypot(*np.meshgrid(k, k, indexing="ij"))
    field = np.fft.ifft2(white * np.exp(-((kk / 0.05) ** 2))).real
    return rms * field / field.std()


def test_channel_order_and_pipeline_on_an_analytic_mode() -> None:
    # One Fourier mode per bin, periodic (no padding), no mask, no noise, no smoothing:
    # the γ channels are the analytic shear of that mode, the κ channels the mode itself.
    n = 32
    shape = (1, N_BINS, n, n)
    y, x = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    ka, kb = 2 * np.pi * 2 / n, 2 * np.pi * 3 / n
    psi = np.sin(ka * x) * np.sin(kb * y)
    unit_kappa = -0.5 * (ka**2 + kb**2) * psi
    unit_g1 = -0.5 * (ka**2 - kb**2) * psi
    unit_g2 = ka * kb * np.cos(ka * x) * np.cos(kb * y)
    amp = np.array([1.0, 2.0, -3.0, 0.5])
    amp_ia = np.array([0.1, -0.2, 0.3, 0.4])
    kappa = amp[None, :, None, None] * unit_kappa
    kappa_ia = amp_ia[None, :, None, None] * unit_kappa
    silent = noise_ingredients(
        pixel_index=np.array([0]),
        weight=np.array([1.0]),
        e1=np.array([0.0]),
        e2=np.array([0.0]),
        map_shape=shape,
    )
    model = ForwardModel(
        mask=np.ones(shape, bool),
        noise=silent,
        multiplicative_bias=M_BIAS,
        multiplicative_bias_sigma=0.01,
        padding=0,
        smoothing_sigma_pix=0.0,
        smoothing_truncate=4.0,
    )
    eps = np.array([0.01, -0.02, 0.0, 0.005])
    draws = ForwardDraws(a_ia=2.5, m_error=eps, phase=np.zeros(1, np.float32))
    out = assemble_inputs_numpy(kappa, kappa_ia, model=model, draws=draws)
    assert out.shape == (1, n, n, 3 * N_BINS) and out.dtype == np.float32
    total = (1 + M_BIAS + eps) * (amp + 2.5 * amp_ia)
    names = channel_names(N_BINS)
    for b in range(N_BINS):
        np.testing.assert_allclose(out[0, :, :, names.index(f"gamma1_bin{b}")], total[b] * unit_g1, atol=1e-5)
        np.testing.assert_allclose(out[0, :, :, names.index(f"gamma2_bin{b}")], total[b] * unit_g2, atol=1e-5)
        np.testing.assert_allclose(
            out[0, :, :, names.index(f"kappa_bin{b}")], total[b] * unit_kappa, atol=1e-5
        )
    assert names[:3] == ["gamma1_bin0", "gamma2_bin0", "gamma1_bin1"] and names[8] == "kappa_bin0"


def test_masking_and_noise_mode_removal_without_smoothing() -> None:
    # Phases equal to the galaxies' own position angles make the "noise" the data's own shear
    # Σ w e / Σ w, computed here independently; the output must be it, mode-removed and masked.
    rng = np.random.default_rng(1)
    shape = (N_PATCHES, N_BINS, N_PIX, N_PIX)
    counts = rng.poisson(3.0, size=shape) * (rng.random(shape) > 0.1)
    index = np.repeat(np.arange(counts.size), counts.ravel())  # already sorted
    n = index.size
    w, e1, e2 = rng.gamma(2.0, 3.0, n), rng.normal(0, 0.29, n), rng.normal(0, 0.29, n)
    ing = noise_ingredients(pixel_index=index, weight=w, e1=e1, e2=e2, map_shape=shape)
    model = _model(rng, mask=counts > 0, noise=ing, smoothing_sigma_pix=0.0)
    draws = ForwardDraws(a_ia=0.0, m_error=np.zeros(N_BINS), phase=np.arctan2(e2, e1).astype(np.float32))
    out = model.simulate(np.zeros(shape), np.zeros(shape), draws)
    w_sum = np.bincount(index, weights=w, minlength=counts.size).reshape(shape)
    with np.errstate(invalid="ignore"):
        own = np.stack(
            [
                np.bincount(index, weights=w * e, minlength=counts.size).reshape(shape) / w_sum
                for e in (e1, e2)
            ],
            axis=2,
        )
    own = np.nan_to_num(own)
    expected = remove_modes(own, padding=PADDING) * (counts > 0)[:, :, None]
    got = out[..., : 2 * N_BINS].transpose(0, 3, 1, 2).reshape(N_PATCHES, N_BINS, 2, N_PIX, N_PIX)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert np.all(got[~np.repeat((counts > 0)[:, :, None], 2, axis=2)] == 0)


def test_tensorflow_and_numpy_forward_models_agree_with_the_same_draws() -> None:
    rng = np.random.default_rng(2)
    model = _model(rng)
    kappa, kappa_ia = _kappa(rng, 0.02), _kappa(rng, 0.004)
    draws = model.draw(rng_for(5, "survey", 0), a_ia_range=A_IA_RANGE)
    ref = assemble_inputs_numpy(kappa, kappa_ia, model=model, draws=draws)
    tf_model = TFForwardModel(model)
    out = assemble_inputs_tf(kappa, kappa_ia, model=tf_model, draws=draws).numpy()
    assert out.shape == ref.shape == (N_PATCHES, N_PIX, N_PIX, 3 * N_BINS) and out.dtype == np.float32
    np.testing.assert_allclose(out, ref, atol=1e-5)
    assert np.abs(ref).max() > 0.05  # a meaningful comparison: signal and noise are there
    gamma_obs = np.asarray(rng.normal(0, 0.05, (N_PATCHES, N_BINS, 2, N_PIX, N_PIX))) * model.mask[:, :, None]
    np.testing.assert_allclose(tf_model.observe(gamma_obs).numpy(), model.observe(gamma_obs), atol=1e-5)


def test_same_seed_same_bytes_numpy_and_tensorflow() -> None:
    rng = np.random.default_rng(3)
    model = _model(rng)
    kappa, kappa_ia = _kappa(rng, 0.02), _kappa(rng, 0.004)

    def numpy_survey(index: int) -> bytes:
        draws = model.draw(rng_for(42, "cosmology", "c001", "survey", index), a_ia_range=A_IA_RANGE)
        return model.simulate(kappa, kappa_ia, draws).tobytes()

    assert numpy_survey(0) == numpy_survey(0)
    assert numpy_survey(0) != numpy_survey(1)
    tf_model = TFForwardModel(model)

    def tf_survey(index: int) -> tuple[bytes, float]:
        draws = tf_model.draw(stateless_seed(42, "c001", "survey", index), a_ia_range=A_IA_RANGE)
        return tf_model.simulate_draws(kappa, kappa_ia, draws).numpy().tobytes(), float(draws.a_ia)

    first, a_ia = tf_survey(0)
    assert tf_survey(0) == (first, a_ia)
    assert tf_survey(1)[0] != first
    assert A_IA_RANGE[0] <= a_ia <= A_IA_RANGE[1]
    np.testing.assert_array_equal(stateless_seed(42, "c001"), stateless_seed(42, "c001"))
    # The compiled draw-and-assemble graph of the training pipeline gives the same survey.
    seeded, seeded_a_ia = tf_model.simulate_seeded(
        kappa, kappa_ia, stateless_seed(42, "c001", "survey", 0), a_ia_range=A_IA_RANGE
    )
    assert seeded.numpy().tobytes() == first and float(seeded_a_ia) == a_ia


def test_tensorflow_matches_numpy_without_masking_after_mode_removal_and_noise_free() -> None:
    # The other branch: noise left unmasked after mode removal (no shared inverse FFT).
    rng = np.random.default_rng(6)
    mask, ing = _survey(rng, n_pix=32)
    model = ForwardModel(
        mask=mask,
        noise=ing,
        multiplicative_bias=M_BIAS,
        multiplicative_bias_sigma=0.01,
        padding=16,
        smoothing_sigma_pix=SIGMA_PIX,
        smoothing_truncate=4.0,
        mask_after_mode_removal=False,
    )
    kappa = rng.normal(0, 0.02, mask.shape)
    draws = model.draw(rng_for(5, "survey", 1), a_ia_range=A_IA_RANGE)
    ref = model.simulate(kappa, 0.1 * kappa, draws)
    tf_model = TFForwardModel(model)
    out = tf_model.simulate_draws(kappa, 0.1 * kappa, draws).numpy()
    np.testing.assert_allclose(out, ref, atol=1e-5)
    # Noise-free variant (pre-training): the same as with galaxies of zero ellipticity.
    silent = replace(
        model, noise=replace(model.noise, weighted_modulus=np.zeros_like(model.noise.weighted_modulus))
    )
    free = model.simulate_noise_free(kappa, 0.1 * kappa, draws)
    np.testing.assert_allclose(free, silent.simulate(kappa, 0.1 * kappa, draws), atol=1e-7)
    assert np.abs(free - ref).max() > 1e-2
    free_tf = tf_model.simulate_noise_free(kappa, 0.1 * kappa, np.float32(draws.a_ia), draws.m_error).numpy()
    np.testing.assert_allclose(free_tf, free, atol=1e-5)
    # Unmasked noise leaks into masked pixels (before smoothing): the branch does differ.
    masked = replace(model, mask_after_mode_removal=True).simulate(kappa, 0.1 * kappa, draws)
    assert np.abs(masked - ref).max() > 1e-3


def test_tensorflow_draws_have_the_configured_distributions() -> None:
    rng = np.random.default_rng(4)
    mask, ing = _survey(rng, n_pix=16)
    model = ForwardModel(
        mask=mask,
        noise=ing,
        multiplicative_bias=M_BIAS[:N_BINS],
        multiplicative_bias_sigma=0.01,
        padding=8,
        smoothing_sigma_pix=1.0,
        smoothing_truncate=4.0,
    )
    tf_model = TFForwardModel(model)
    draws = [tf_model.draw(stateless_seed(1, i), a_ia_range=A_IA_RANGE) for i in range(300)]
    a = np.array([float(d.a_ia) for d in draws])
    eps = np.array([d.m_error.numpy() for d in draws])
    assert (
        a.min() >= -6
        and a.max() <= 6
        and abs(a.mean()) < 0.6
        and a.std() == pytest.approx(12 / np.sqrt(12), rel=0.15)
    )
    assert eps.shape == (300, N_BINS) and eps.std() == pytest.approx(0.01, rel=0.1)
    theta = draws[0].phase.numpy()
    assert theta.shape == (ing.n_galaxies,) and theta.min() >= 0 and theta.max() < 2 * np.pi
