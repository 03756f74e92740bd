"""Mock catalogue and mock observation, read back through the real-data path; survey settings."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from wlcnn.config import load_config
from wlcnn.survey.catalogue import read_catalogue
from wlcnn.survey.kaiser_squires import kappa_to_gamma
from wlcnn.survey.mock_catalogue import (
    generate_mock_galaxies,
    lens_ellipticities,
    nz_tables_from_config,
    write_mock_catalogue,
    write_mock_observation,
)
from wlcnn.survey.settings import MockSettings, SurveySettings, survey_config_problems
from wlcnn.survey.shear_maps import build_patch_maps
from wlcnn.survey.smoothing import smooth

REPO = Path(__file__).resolve().parents[2]
N_PIX = 64
M_BIAS = (-0.015, -0.02)
C_BIAS = (2e-3, -1e-3)


def _settings(**mock_changes: object) -> SurveySettings:
    mock = MockSettings(
        n_gal_arcmin2=12.0,
        bin_fractions=(0.6, 0.4),
        outside_fraction=0.15,
        outside_margin_deg=1.0,
        zb_outside_fraction=0.05,
        holes_per_deg2=2.0,
        hole_radius_arcmin=(2.0, 8.0),
        empty_square_deg=0.5,
        density_contrast=0.3,
        density_scale_arcmin=20.0,
        weight_shape=2.0,
        weight_scale=6.0,
        zero_weight_fraction=0.01,
        m_scatter=0.03,
        invalid_fraction=0.001,
    )
    return SurveySettings(
        patch_centres=np.array([[40.0, -10.0]]),
        patch_size_deg=2.5,
        n_pix=N_PIX,
        zb_edges=(0.1, 0.5, 0.9),
        sigma_e=0.29,
        multiplicative_bias=M_BIAS,
        multiplicative_bias_sigma=0.01,
        additive_bias=C_BIAS,
        ks_padding=32,
        smoothing_arcmin=2.34,
        mock=replace(mock, **mock_changes),
        chunk_rows=50_000,
    )


def _kappa(seed: int, rms: float = 0.04) -> np.ndarray:
    rng = np.random.default_rng(seed)
    white = np.fft.fft2(rng.standard_normal((1, 2, N_PIX, N_PIX)))
    k = np.fft.fftfreq(N_PIX)
    kk = np.hypot(*np.meshgrid(k, k, indexing="ij"))
    field = np.fft.ifft2(white * np.exp(-((kk / 0.06) ** 2))).real
    return rms * field / field.std()


@pytest.fixture(scope="module")
def mock_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("mock")
    settings = _settings()
    kappa = _kappa(1)
    write_mock_catalogue(tmp / "cat.fits", settings=settings, seed=3)
    galaxies = write_mock_observation(tmp / "obs.fits", settings=settings, seed=3, kappa=kappa)
    return {
        "settings": settings,
        "kappa": kappa,
        "galaxies": galaxies,
        "cat": tmp / "cat.fits",
        "obs": tmp / "obs.fits",
        "tmp": tmp,
    }


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_mock_observation_maps_correlate_with_the_simulation_shear(mock_files: dict) -> None:
    settings, kappa = mock_files["settings"], mock_files["kappa"]
    gamma_true = kappa_to_gamma(kappa, padding=settings.ks_padding)
    observed = build_patch_maps(mock_files["obs"], settings=settings)
    shear_free = build_patch_maps(mock_files["cat"], settings=settings)
    mask = observed.mask[:, :, None].repeat(2, axis=2)
    assert 0.5 < mask.mean() < 0.99  # holes and the empty square leave masked pixels

    def r(maps: np.ndarray, truth: np.ndarray) -> float:
        smoothed = smooth(maps, sigma_pix=1.0, truncate=4.0)
        return _correlation(smoothed[mask], truth[mask])

    assert r(observed.gamma, gamma_true) > 0.5
    assert abs(r(shear_free.gamma, gamma_true)) < 0.05  # the same galaxies without shear
    # Shear calibration: (1 + m) γ in the map, up to noise (regression slope).
    slope = np.sum(observed.gamma[mask] * gamma_true[mask]) / np.sum(gamma_true[mask] ** 2)
    assert slope == pytest.approx(1 + np.mean(M_BIAS), abs=0.1)


def test_mock_catalogue_looks_like_kids(mock_files: dict) -> None:
    settings = mock_files["settings"]
    with fits.open(mock_files["cat"]) as hdul:
        names = hdul[1].columns.names
        assert names == ["RAJ2000", "DECJ2000", "e1", "e2", "weight", "Z_B", "m"]
        assert "survey_mock_catalogue" in hdul[0].header["PROVJSON"]
    cat, drops = read_catalogue(mock_files["cat"])
    galaxies = mock_files["galaxies"]
    assert drops.counts["non_finite_e1"] == int(galaxies.invalid.sum()) > 0
    assert drops.counts["zero_weight"] > 0
    assert np.std(cat.e1) == pytest.approx(0.29, rel=0.03) and np.std(cat.e2) == pytest.approx(0.29, rel=0.03)
    maps = build_patch_maps(mock_files["cat"], settings=settings)
    np.testing.assert_allclose(maps.multiplicative_bias, M_BIAS, atol=2e-3)
    np.testing.assert_allclose(maps.additive_bias.mean(axis=(0, 2)), C_BIAS, atol=2e-3)
    table = maps.table.to_dict()
    in_bins = sum(table["per_bin_in_bin"])
    assert 0.08 < table["n_outside_patches"] / in_bins < 0.25  # like the paper's ~15 %
    assert table["n_zb_outside"] / drops.n_read == pytest.approx(0.05, abs=0.01)
    fractions = np.array(table["per_bin_kept"]) / sum(table["per_bin_kept"])
    np.testing.assert_allclose(fractions, [0.6, 0.4], atol=0.01)


def test_mock_is_reproducible_from_the_seed(mock_files: dict) -> None:
    tmp, settings = mock_files["tmp"], mock_files["settings"]
    write_mock_catalogue(tmp / "again.fits", settings=settings, seed=3)
    write_mock_catalogue(tmp / "other.fits", settings=settings, seed=4)

    def data(path: Path) -> bytes:
        with fits.open(path) as hdul:
            return hdul[1].data.tobytes()

    assert data(tmp / "again.fits") == data(mock_files["cat"])
    assert data(tmp / "other.fits") != data(mock_files["cat"])


def test_lensing_of_ellipticities_is_the_reduced_shear_transformation() -> None:
    # Zero intrinsic ellipticity takes the shear; weak shear adds to e at first order.
    e1, e2 = lens_ellipticities(
        np.array([0.0, 0.3]), np.array([0.0, 0.1]), g1=np.array([0.05, 1e-6]), g2=np.array([-0.02, 0.0])
    )
    assert (e1[0], e2[0]) == pytest.approx((0.05, -0.02))
    es = 0.3 + 0.1j
    assert e1[1] + 1j * e2[1] == pytest.approx(es + 1e-6 * (1 - es * es), abs=1e-12)


def test_config_files_give_survey_settings_and_bad_blocks_are_reported() -> None:
    for name, n_patches in (("config.yaml", 20), ("demo.yaml", 4)):
        cfg = load_config(REPO / "config" / name, base_dir=REPO)
        settings = SurveySettings.from_config(cfg, base_dir=REPO)
        assert settings.n_patches == n_patches and settings.n_bins == 4 and settings.n_pix == 128
        assert settings.smoothing_sigma_pix == pytest.approx(1.0, abs=0.002)
        assert settings.ks_padding == 64 and settings.columns.z_b == "Z_B"
    cfg = load_config(REPO / "config" / "demo.yaml", base_dir=REPO)
    assert SurveySettings.from_config(cfg).mock is not None
    bad = copy.deepcopy(cfg)
    bad["survey"]["patch_centres"] = bad["survey"]["patch_centres"][:3]
    bad["shells"] = {"n_pix": 64}
    problems = survey_config_problems(bad)
    assert any("survey.patch_centres: expected 4 centres" in p for p in problems)
    assert any("survey.n_pix: 128 differs from shells.n_pix = 64" in p for p in problems)
    with pytest.raises(ValueError, match="patch_centres"):
        SurveySettings.from_config(bad)


def test_mock_zb_follow_the_demo_nz_within_each_bin() -> None:
    cfg = load_config(REPO / "config" / "demo.yaml", base_dir=REPO)
    settings = SurveySettings.from_config(cfg, base_dir=REPO)
    settings = replace(
        settings,
        patch_centres=settings.patch_centres[:1],
        mock=replace(settings.mock, n_gal_arcmin2=0.5, zb_outside_fraction=0.0),
    )
    nz = nz_tables_from_config(cfg, base_dir=REPO)
    assert nz is not None and len(nz) == settings.n_bins
    z_b = generate_mock_galaxies(settings=settings, seed=1, nz_tables=nz).z_b
    edges = settings.zb_edges
    for b, (z, n) in enumerate(nz):
        lo, hi = edges[b], edges[b + 1]
        sel = z_b[(z_b > lo) & (z_b <= hi)]
        grid = np.linspace(lo, hi, 2001)
        density = np.interp(grid, z, n, left=0.0, right=0.0)
        expected = np.sum(grid * density) / np.sum(density)
        assert sel.mean() == pytest.approx(expected, abs=3 * sel.std() / np.sqrt(sel.size) + 1e-4)
    uniform = generate_mock_galaxies(settings=settings, seed=1).z_b
    assert np.all((uniform > edges[0]) & (uniform <= edges[-1]))


def test_mock_catalogues_carry_a_provenance_record_that_audit_reads(mock_files: dict) -> None:
    from wlcnn.audit import audit, read_provenance

    record = read_provenance(mock_files["obs"])
    assert record["step"] == "survey_mock_observation" and record["extra"]["seed"] == 3
    assert read_provenance(mock_files["cat"])["step"] == "survey_mock_catalogue"
    assert audit(mock_files["obs"]).ok
