"""Shape noise by random rotations: statistics, |e| conservation, NumPy vs TensorFlow (SPEC §4)."""

from __future__ import annotations

import numpy as np

from wlcnn.seeding import rng_for
from wlcnn.survey.shape_noise import (
    draw_rotation_angles,
    noise_ingredients,
    rotate_ellipticities,
    shape_noise_numpy,
    shape_noise_tf,
)

SHAPE = (2, 2, 8, 8)  # patches, bins, y, x
SIGMA_E = 0.29


def _galaxies(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """1–20 galaxies per pixel (some pixels empty), lensfit-like weights, σ_e = 0.29."""
    size = int(np.prod(SHAPE))
    per_pixel = rng.integers(0, 21, size)
    index = np.repeat(np.arange(size), per_pixel)
    rng.shuffle(index)
    n = index.size
    return {
        "pixel_index": index,
        "weight": rng.gamma(2.0, 3.0, n),
        "e1": rng.normal(0, SIGMA_E, n),
        "e2": rng.normal(0, SIGMA_E, n),
    }


def test_rotation_keeps_the_modulus_and_rotates_by_theta() -> None:
    rng = np.random.default_rng(0)
    e1, e2 = rng.normal(0, 0.3, 1000), rng.normal(0, 0.3, 1000)
    theta = draw_rotation_angles(rng, 1000).astype(np.float64)
    r1, r2 = rotate_ellipticities(e1, e2, theta=theta)
    np.testing.assert_allclose(np.hypot(r1, r2), np.hypot(e1, e2), rtol=1e-12)
    np.testing.assert_allclose(
        np.angle(r1 + 1j * r2), np.angle(np.exp(1j * theta) * (e1 + 1j * e2)), atol=1e-9
    )
    assert theta.min() >= 0 and theta.max() < 2 * np.pi


def test_single_galaxy_pixel_noise_has_the_galaxy_modulus() -> None:
    rng = np.random.default_rng(1)
    ing = noise_ingredients(
        pixel_index=np.array([5, 9]),
        weight=np.array([2.0, 0.5]),
        e1=np.array([0.3, -0.1]),
        e2=np.array([0.4, 0.2]),
        map_shape=SHAPE,
    )
    noise = shape_noise_numpy(ing, phase=draw_rotation_angles(rng, 2)).reshape(2, 2, 2, -1)
    flat = noise.transpose(0, 1, 3, 2).reshape(-1, 2)
    modulus = np.hypot(flat[:, 0], flat[:, 1])
    np.testing.assert_allclose(modulus[[5, 9]], [0.5, np.hypot(0.1, 0.2)], rtol=1e-6)
    assert np.count_nonzero(modulus) == 2  # every other pixel is masked (zero)


def test_noise_pixel_variance_is_sum_w2_sigma2_over_sum_w_squared() -> None:
    rng = np.random.default_rng(2)
    gal = _galaxies(rng)
    ing = noise_ingredients(map_shape=SHAPE, **gal)
    n_real = 3000
    draws = rng_for(7, "test_noise")
    maps = np.stack(
        [shape_noise_numpy(ing, phase=draw_rotation_angles(draws, ing.n_galaxies)) for _ in range(n_real)]
    )
    size = int(np.prod(SHAPE))
    w, e_sq = gal["weight"], gal["e1"] ** 2 + gal["e2"] ** 2
    w_sum = np.bincount(gal["pixel_index"], weights=w, minlength=size).reshape(SHAPE)
    w2 = np.bincount(gal["pixel_index"], weights=w**2, minlength=size).reshape(SHAPE)
    w2e2 = np.bincount(gal["pixel_index"], weights=w**2 * e_sq, minlength=size).reshape(SHAPE)
    observed = w_sum > 0
    # Exact, given these galaxies: each component has variance Σ w² |e|² / (2 (Σ w)²).
    exact = w2e2[observed] / (2 * w_sum[observed] ** 2)
    # The SPEC form with the sample's σ_e² = <|e|²> / 2.
    sigma_sq = e_sq.mean() / 2
    spec = w2[observed] * sigma_sq / w_sum[observed] ** 2
    for component in (0, 1):
        var = maps[:, :, :, component].var(axis=0)[observed]
        ratio = var / exact
        # A sample variance of n_real draws scatters by ≈ sqrt(2 / n_real) (~2.6 %), a bit more for
        # few galaxies (non-Gaussian sums): 5 σ per pixel, much tighter for the mean over pixels.
        assert np.all(np.abs(ratio - 1) < 5 * np.sqrt(3.0 / n_real)), ratio
        assert abs(ratio.mean() - 1) < 5 * np.sqrt(3.0 / n_real / ratio.size)
        assert abs(np.mean(var / spec) - 1) < 0.05
    mean = maps.mean(axis=0)
    assert np.all(np.abs(mean[:, :, 0][observed]) < 5 * np.sqrt(exact / n_real))
    cov = np.mean(maps[:, :, :, 0] * maps[:, :, :, 1], axis=0)[observed]
    assert np.all(np.abs(cov) < 5 * np.sqrt(2.0 / n_real) * exact)  # components uncorrelated
    assert np.all(maps[:, ~observed[:, :, None].repeat(2, axis=2)] == 0)  # masked pixels stay empty


def test_tensorflow_noise_matches_numpy_with_the_same_angles() -> None:
    import tensorflow as tf

    rng = np.random.default_rng(3)
    ing = noise_ingredients(map_shape=SHAPE, **_galaxies(rng))
    phase = draw_rotation_angles(rng, ing.n_galaxies)
    ref = shape_noise_numpy(ing, phase=phase)
    out = shape_noise_tf(
        tf.constant(ing.pixel_index),
        tf.constant(ing.weighted_modulus),
        tf.constant(ing.inverse_weight_sum),
        phase=tf.constant(phase),
    ).numpy()
    np.testing.assert_allclose(out, ref, atol=1e-6)
    assert out.dtype == np.float32 and out.shape == (*SHAPE[:2], 2, *SHAPE[2:])


def test_noise_is_reproducible_from_the_seed() -> None:
    rng = np.random.default_rng(4)
    ing = noise_ingredients(map_shape=SHAPE, **_galaxies(rng))

    def realisation(seed: int) -> bytes:
        return shape_noise_numpy(
            ing, phase=draw_rotation_angles(rng_for(seed, "noise", 0), ing.n_galaxies)
        ).tobytes()

    assert realisation(11) == realisation(11)
    assert realisation(11) != realisation(12)
