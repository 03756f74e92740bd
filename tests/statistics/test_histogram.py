"""Pixel histogram against numpy.histogram."""

from __future__ import annotations

import numpy as np

from wlcnn.statistics import pixel_histogram


def test_equals_numpy_histogram_with_mask_and_sigma_units() -> None:
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(3, 20, 20)) * np.array([1.0, 2.0, 3.0])[:, None, None]
    mask = rng.random((3, 20, 20)) > 0.3
    nu = np.linspace(-2.0, 2.0, 9)
    h = pixel_histogram(maps, nu, mask=mask, units="sigma")
    for m in range(3):
        values = maps[m][mask[m]]
        edges = nu * values.std()
        counts = np.histogram(values, bins=edges)[0]
        np.testing.assert_allclose(h.pdf[m], counts / (values.size * np.diff(edges)), rtol=1e-12)
        np.testing.assert_allclose(h.edges[m], edges, rtol=1e-12)
    assert h.n_pixels.tolist() == mask.reshape(3, -1).sum(axis=1).tolist()


def test_integrates_to_one_over_the_full_range() -> None:
    maps = np.random.default_rng(1).normal(size=(2, 2, 16, 16))
    h = pixel_histogram(maps, [-100.0, 0.0, 100.0])
    np.testing.assert_allclose((h.pdf * 100.0).sum(axis=-1), 1.0)
    assert h.pdf.shape == (2, 2, 2)
