"""Measured shapes against exact shapes: the shear field of the two catalogues compared.

Both catalogues hold the same (thinned) mock galaxies: one with the mock's exact ellipticities,
the other with the CNN's measurements of their rendered stamps. Each is read by the survey
stage's reader (:func:`wlcnn.survey.catalogue.read_catalogue`) and reduced to the weighted mean
shear ⟨e / (1 + m)⟩ in coarse cells (:data:`CELLS_PER_SIDE`² per patch, per tomographic bin);
the error of a cell mean is its weighted standard error, Σ w² (e − ē)² / (Σ w)². The two
agree within their errors when χ² = Σ d² / (σ_exact² + σ_measured²) over cells and components
is compatible with its degrees of freedom. Since the galaxies are the same, the shape noise they
share cancels in d: the test is lenient, and the correlation of the cell means and the mean
difference per bin (with its error) are reported beside it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from wlcnn.survey.catalogue import Catalogue
from wlcnn.survey.patches import assign_patches, tomographic_bin
from wlcnn.survey.settings import SurveySettings

__all__ = ["CELLS_PER_SIDE", "cell_means", "compare_shear_fields"]

#: Coarse cells per patch side in which mean shears are compared.
CELLS_PER_SIDE = 4
#: Cells with fewer galaxies have no usable standard error and are left out.
MIN_GALAXIES_PER_CELL = 3
_N_COMPONENTS = 2
#: The fields agree when the χ² probability exceeds this.
AGREEMENT_P_VALUE = 0.01


def cell_means(
    catalogue: Catalogue, *, settings: SurveySettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted mean e / (1 + m) per cell, its standard error and the galaxy count.

    Returns
    -------
    mean, error, count
        Arrays (P, B, C, C, 2), (P, B, C, C, 2) and (P, B, C, C); NaN where a cell has fewer
        than :data:`MIN_GALAXIES_PER_CELL` galaxies.
    """
    where = assign_patches(
        catalogue.ra,
        catalogue.dec,
        centres=settings.patch_centres,
        patch_size_deg=settings.patch_size_deg,
        n_pix=settings.n_pix,
    )
    tbin = tomographic_bin(catalogue.z_b, settings.zb_edges)
    ok = where.inside & (tbin >= 0) & (catalogue.weight > 0)
    cells = CELLS_PER_SIDE
    shape = (settings.n_patches, settings.n_bins, cells, cells)
    flat = np.ravel_multi_index(
        (
            where.patch[ok],
            tbin[ok],
            where.iy[ok] * cells // settings.n_pix,
            where.ix[ok] * cells // settings.n_pix,
        ),
        shape,
    )
    size = int(np.prod(shape))
    w = catalogue.weight[ok]
    count = np.bincount(flat, minlength=size).astype(float)
    w_sum = np.bincount(flat, weights=w, minlength=size)
    mean = np.full((size, _N_COMPONENTS), np.nan)
    error = np.full((size, _N_COMPONENTS), np.nan)
    usable = count >= MIN_GALAXIES_PER_CELL
    m = catalogue.m[ok]
    for i, e in enumerate((catalogue.e1[ok], catalogue.e2[ok])):
        shear = e / (1.0 + m)
        mu = np.bincount(flat, weights=w * shear, minlength=size) / np.where(usable, w_sum, 1.0)
        spread = np.bincount(flat, weights=w**2 * (shear - mu[flat]) ** 2, minlength=size)
        mean[usable, i] = mu[usable]
        error[usable, i] = np.sqrt(spread[usable]) / w_sum[usable]
    return mean.reshape(*shape, 2), error.reshape(*shape, 2), count.reshape(shape)


def compare_shear_fields(
    exact: Catalogue, measured: Catalogue, *, settings: SurveySettings
) -> dict[str, Any]:
    """Cell-mean shears of the two catalogues compared (see the module docstring).

    Returns
    -------
    dict
        ``chi2``, ``dof``, ``p_value``, ``agree`` (p_value above 0.01), ``correlation`` (of
        the cell means), ``mean_difference`` and ``mean_difference_error`` per bin and component,
        galaxy counts, and the cell means themselves (for the plot).
    """
    mean_x, err_x, count_x = cell_means(exact, settings=settings)
    mean_m, err_m, count_m = cell_means(measured, settings=settings)
    ok = np.isfinite(mean_x) & np.isfinite(mean_m) & (err_x > 0) & (err_m > 0)
    d = mean_m - mean_x
    variance = err_x**2 + err_m**2
    chi2 = float(np.sum(d[ok] ** 2 / variance[ok]))
    dof = int(ok.sum())
    p_value = float(stats.chi2.sf(chi2, dof)) if dof else float("nan")
    per_bin, per_bin_err = [], []
    for b in range(settings.n_bins):
        sel = ok[:, b]
        inv = np.where(sel, 1.0 / np.where(sel, variance[:, b], 1.0), 0.0)
        norm = inv.sum(axis=(0, 1, 2))
        per_bin.append((np.sum(inv * np.where(sel, d[:, b], 0.0), axis=(0, 1, 2)) / norm).tolist())
        per_bin_err.append((1.0 / np.sqrt(norm)).tolist())
    return {
        "chi2": chi2,
        "dof": dof,
        "p_value": p_value,
        "agree": bool(p_value > AGREEMENT_P_VALUE) if dof else False,
        "correlation": float(np.corrcoef(mean_x[ok], mean_m[ok])[0, 1]) if dof > 1 else float("nan"),
        "mean_difference": per_bin,
        "mean_difference_error": per_bin_err,
        "n_exact": len(exact),
        "n_measured": len(measured),
        "cells_per_side": CELLS_PER_SIDE,
        "cell_counts_exact": int(count_x.sum()),
        "cell_counts_measured": int(count_m.sum()),
        "cells": {
            "exact": mean_x[ok].tolist(),
            "measured": mean_m[ok].tolist(),
            "error": np.sqrt(variance[ok]).tolist(),
        },
    }
