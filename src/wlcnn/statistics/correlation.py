"""Correlation matrix of a statistic's bins over a set of maps (CosmoGAN Fig. 4, SPEC §10).

Pearson correlation r_ij = C_ij / √(C_ii C_jj) of the per-map values of a statistic (e.g. the
power spectrum at every Fourier ring), C the sample covariance over maps. A bin without
scatter has an undefined correlation: NaN in its row and column.

Examples
--------
>>> import numpy as np
>>> x = np.random.default_rng(0).normal(size=(1000, 1))
>>> values = np.hstack([x, 2 * x + 1, -x])
>>> correlation_matrix(values).round(6).tolist()
[[1.0, 1.0, -1.0], [1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]]
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["correlation_matrix"]

#: Fewest samples for a sample covariance.
_MIN_SAMPLES = 2


def correlation_matrix(values: npt.ArrayLike) -> np.ndarray:
    """Correlation matrix of the columns of ``values`` (n_maps, n_bins) over its rows.

    Parameters
    ----------
    values
        Per-map statistic, shape (n_maps, n_bins) (flatten extra bin axes first).

    Returns
    -------
    numpy.ndarray
        (n_bins, n_bins), 1 on the diagonal; NaN rows and columns for bins without scatter.

    Raises
    ------
    ValueError
        Not 2-D or fewer than two maps.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] < _MIN_SAMPLES:
        raise ValueError(f"values: expected shape (n_maps >= {_MIN_SAMPLES}, n_bins), found {v.shape}")
    dev = v - v.mean(axis=0)
    cov = dev.T @ dev / (v.shape[0] - 1)
    scale = np.sqrt(np.diag(cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(scale, scale)
    corr = np.where(np.outer(scale > 0, scale > 0), corr, np.nan)
    np.fill_diagonal(corr, np.where(scale > 0, 1.0, np.nan))
    return corr
