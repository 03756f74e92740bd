"""The invertible pixel transform: round trip, range, monotonicity, JSON."""

from __future__ import annotations

import numpy as np
import pytest

from wlcnn.emulator.pixel_transform import PixelTransform


def test_round_trip_range_and_order() -> None:
    rng = np.random.default_rng(1)
    kappa = rng.lognormal(sigma=0.8, size=(6, 16, 16, 4)) * 0.01 - 0.012
    t = PixelTransform.fit(kappa, softness=3.0)
    y = t.forward(kappa)
    assert np.all(np.abs(y) < 1.0)
    np.testing.assert_allclose(t.inverse(y), kappa, rtol=1e-5, atol=1e-8)
    flat = np.sort(kappa[..., 0].ravel())
    assert np.all(np.diff(t.forward(flat[:, None] * np.ones(4))[:, 0]) >= 0)
    # |u| = a maps to |y| = 1/2 (the documented scale)
    edge = t.mean + 3.0 * t.scale
    np.testing.assert_allclose(t.forward(edge[None]), 0.5, rtol=1e-6)
    again = PixelTransform.from_json(t.to_json())
    np.testing.assert_array_equal(again.forward(kappa), y)


def test_saturated_outputs_stay_finite() -> None:
    t = PixelTransform(mean=np.zeros(1), scale=np.ones(1), softness=4.0)
    assert np.all(np.isfinite(t.inverse(np.array([[-1.0], [1.0]]))))


def test_constant_bin_is_rejected() -> None:
    with pytest.raises(ValueError, match="positive σ"):
        PixelTransform.fit(np.ones((2, 4, 4, 1)), softness=1.0)
