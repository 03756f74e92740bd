"""E/B null test of the observed survey (issue 15 item 5): the right frame passes, a mirrored one fails."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.io import fits

from wlcnn.config import ConfigError, load_config
from wlcnn.inference.eb_null import (
    EBNullSettings,
    e_and_b_maps,
    eb_null_test,
    plot_eb_null,
    write_eb_null_json,
)
from wlcnn.survey.forward_model import ForwardModel
from wlcnn.survey.mock_catalogue import write_mock_observation
from wlcnn.survey.settings import MOCK_OBSERVATION_KEYS, MockSettings, SurveySettings
from wlcnn.survey.shear_maps import build_patch_maps

REPO = Path(__file__).resolve().parents[2]
N_PIX = 64
KAPPA_RMS = 0.02  # a convergence field of realistic amplitude at ~2' resolution
N_SIMS = 60
ELL_EDGES = np.geomspace(150.0, 3500.0, 5)  # 2.5° patch: the fundamental mode is ℓ = 144


def _settings() -> SurveySettings:
    """A small KiDS-like survey: one 2.5° patch, two bins, holes and an empty tile (demo's mock)."""
    demo_mock = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())["survey"]["mock"]
    for key in MOCK_OBSERVATION_KEYS:  # which mock observations exist, not how galaxies are drawn
        demo_mock.pop(key, None)
    mock = MockSettings(
        **{
            **demo_mock,
            "bin_fractions": (0.6, 0.4),
            "hole_radius_arcmin": tuple(demo_mock["hole_radius_arcmin"]),
        }
    )
    return SurveySettings(
        patch_centres=np.array([[40.0, -10.0]]),
        patch_size_deg=2.5,
        n_pix=N_PIX,
        zb_edges=(0.1, 0.5, 0.9),
        sigma_e=0.29,
        multiplicative_bias=(-0.015, -0.02),
        multiplicative_bias_sigma=0.01,
        additive_bias=(0.0, 0.0),
        ks_padding=32,
        smoothing_arcmin=2.34,
        # 4x the demo's thinned density (the real KiDS raw density is ~9.6 per arcmin²): one
        # small patch must carry enough signal for a mirrored frame to be seen.
        mock=replace(mock, n_gal_arcmin2=12.0, empty_square_deg=0.5),
        chunk_rows=50_000,
    )


def _kappa(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    white = np.fft.fft2(rng.standard_normal((1, 2, N_PIX, N_PIX)))
    k = np.fft.fftfreq(N_PIX)
    kk = np.hypot(*np.meshgrid(k, k, indexing="ij"))
    field = np.fft.ifft2(white * np.exp(-((kk / 0.06) ** 2))).real
    return KAPPA_RMS * field / field.std()


def _flip(src: Path, dst: Path, column: str) -> None:
    with fits.open(src) as hdul:
        hdul[1].data[column] = -hdul[1].data[column]
        hdul.writeto(dst)


@pytest.fixture(scope="module")
def surveys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("eb")
    settings = _settings()
    write_mock_observation(tmp / "obs.fits", settings=settings, seed=11, kappa=_kappa(1))
    _flip(tmp / "obs.fits", tmp / "flip_e1.fits", "e1")
    _flip(tmp / "obs.fits", tmp / "flip_e2.fits", "e2")
    out: dict[str, object] = {"tmp": tmp, "settings": settings}
    for name in ("obs", "flip_e1", "flip_e2"):
        maps = build_patch_maps(tmp / f"{name}.fits", settings=settings)
        out[name] = (ForwardModel.from_patch_maps(maps, settings=settings), maps.gamma)
    return out


def _run(surveys: dict, name: str, seed: int = 7) -> object:
    model, gamma = surveys[name]
    settings = EBNullSettings(n_sims=N_SIMS, ell_edges=ELL_EDGES)
    return eb_null_test(model, gamma, patch_size_deg=2.5, settings=settings, seed=seed)


def test_kappa_e_is_that_of_the_cnn_inputs(surveys: dict) -> None:
    model, gamma = surveys["obs"]
    kappa_e, kappa_b = e_and_b_maps(model, gamma)
    cnn_kappa = np.moveaxis(model.observe(gamma)[..., 2 * model.n_bins :], -1, 1)
    np.testing.assert_allclose(kappa_e, cnn_kappa, atol=1e-6 * np.abs(kappa_e).max())
    assert kappa_b.shape == kappa_e.shape


def test_correct_frame_passes_and_a_flipped_component_fails(surveys: dict) -> None:
    right = _run(surveys, "obs")
    assert right.passes and right.pte > 0.05, right.message
    for name in ("flip_e1", "flip_e2"):
        wrong = _run(surveys, name)
        assert not wrong.passes and wrong.pte < 1e-6, wrong.message
        # The excess is B power: the flipped survey's B spectra lie far above the noise band.
        assert np.max((wrong.observed - wrong.noise_mean) / wrong.noise_std) > 5.0
        assert "FAILS" in wrong.message


def test_noise_simulations_follow_the_seed_and_results_are_jsonable(surveys: dict, tmp_path: Path) -> None:
    a, b, c = _run(surveys, "obs", seed=3), _run(surveys, "obs", seed=3), _run(surveys, "obs", seed=4)
    assert a.chi2 == b.chi2 and a.chi2 != c.chi2
    assert a.dof == 2 * (len(ELL_EDGES) - 1) and a.observed.shape == (2, len(ELL_EDGES) - 1)
    write_eb_null_json(tmp_path / "eb.json", a)
    record = json.loads((tmp_path / "eb.json").read_text())
    assert record["passes"] is a.passes and record["pte"] == pytest.approx(a.pte)
    assert np.shape(record["observed_cl_bb"]) == (2, len(ELL_EDGES) - 1)
    plot_eb_null(tmp_path / "eb.png", a)
    assert (tmp_path / "eb.png").stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eb.json", "eb.png"]  # no temporaries left


def test_too_few_simulations_are_refused(surveys: dict) -> None:
    model, gamma = surveys["obs"]
    with pytest.raises(ValueError, match=r"n_sims: expected more than 10 .* found 10"):
        eb_null_test(
            model, gamma, patch_size_deg=2.5, settings=EBNullSettings(n_sims=10, ell_edges=ELL_EDGES), seed=1
        )


@pytest.mark.parametrize(
    ("key", "value", "expected", "found"),
    [
        ("eb_n_sims", 10, "more than 10 noise simulations", "found 10"),
        ("eb_pte_threshold", 1.5, "< 1", "1.5"),
    ],
)
def test_bad_config_values_are_refused_naming_file_and_key(
    tmp_path: Path, key: str, value: object, expected: str, found: str
) -> None:
    cfg = copy.deepcopy(yaml.safe_load((REPO / "config" / "demo.yaml").read_text()))
    cfg["inference"][key] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError) as info:
        load_config(path, base_dir=REPO)
    message = str(info.value)
    assert str(path) in message and f"inference.{key}" in message
    assert expected in message and found in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_settings_from_the_demo_config() -> None:
    settings = EBNullSettings.from_config(load_config(REPO / "config" / "demo.yaml", base_dir=REPO))
    assert settings.n_sims == 40 and settings.pte_threshold == 0.01
    assert settings.n_entries(n_bins=4) == 8 < settings.n_sims  # 4 bins x 2 ell bins
