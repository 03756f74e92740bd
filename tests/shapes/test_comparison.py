"""Measured against exact shapes: identical catalogues agree, a shifted shear field does not."""

from __future__ import annotations

import numpy as np

from wlcnn.shapes.comparison import CELLS_PER_SIDE, compare_shear_fields
from wlcnn.survey.catalogue import Catalogue
from wlcnn.survey.settings import SurveySettings

N_GAL = 6000


def _settings() -> SurveySettings:
    return SurveySettings(
        patch_centres=np.array([[10.0, 0.0]]),
        patch_size_deg=2.0,
        n_pix=16,
        zb_edges=(0.1, 0.5, 0.9),
        sigma_e=0.29,
        multiplicative_bias=(0.0, 0.0),
        multiplicative_bias_sigma=0.01,
        additive_bias=(0.0, 0.0),
        ks_padding=8,
        smoothing_arcmin=2.34,
    )


def _catalogue(rng: np.random.Generator) -> Catalogue:
    return Catalogue(
        ra=rng.uniform(9.05, 10.95, N_GAL),
        dec=rng.uniform(-0.95, 0.95, N_GAL),
        e1=rng.normal(0, 0.28, N_GAL),
        e2=rng.normal(0, 0.28, N_GAL),
        weight=rng.uniform(0.5, 2.0, N_GAL),
        z_b=rng.uniform(0.15, 0.85, N_GAL),
        m=np.zeros(N_GAL),
    )


def test_same_shapes_agree_and_noisy_measurements_too():
    rng = np.random.default_rng(1)
    exact = _catalogue(rng)
    same = compare_shear_fields(exact, exact, settings=_settings())
    assert same["chi2"] == 0.0 and same["agree"]
    assert same["dof"] == 2 * 2 * CELLS_PER_SIDE**2  # bins x cells x components, all filled
    measured = Catalogue(**{**exact.__dict__, "e1": exact.e1 + rng.normal(0, 0.1, N_GAL)})
    noisy = compare_shear_fields(exact, measured, settings=_settings())
    assert noisy["agree"] and noisy["correlation"] > 0.8


def test_a_biased_measurement_disagrees():
    rng = np.random.default_rng(2)
    exact = _catalogue(rng)
    # a shear offset of the measured shapes in every cell (an additive bias left in)
    measured = Catalogue(**{**exact.__dict__, "e2": exact.e2 + 0.1})
    result = compare_shear_fields(exact, measured, settings=_settings())
    assert not result["agree"]
    np.testing.assert_allclose(np.asarray(result["mean_difference"])[:, 1], 0.1, rtol=1e-6)
