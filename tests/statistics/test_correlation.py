"""Correlation matrix against numpy.corrcoef."""

from __future__ import annotations

import numpy as np
import pytest

from wlcnn.statistics import correlation_matrix


def test_equals_numpy_corrcoef() -> None:
    values = np.random.default_rng(0).normal(size=(50, 6)) @ np.random.default_rng(1).normal(size=(6, 6))
    np.testing.assert_allclose(correlation_matrix(values), np.corrcoef(values, rowvar=False), atol=1e-12)


def test_bins_without_scatter_are_nan() -> None:
    values = np.random.default_rng(0).normal(size=(10, 3))
    values[:, 1] = 2.0
    corr = correlation_matrix(values)
    assert np.all(np.isnan(corr[1])) and np.all(np.isnan(corr[:, 1]))
    assert corr[0, 0] == 1.0


def test_bad_shape_names_field_expected_and_found() -> None:
    with pytest.raises(ValueError, match=r"values: expected shape \(n_maps >= 2, n_bins\), found \(1, 3\)"):
        correlation_matrix(np.zeros((1, 3)))
