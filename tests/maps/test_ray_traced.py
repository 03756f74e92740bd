"""Ray-traced patch maps from a map file's kept shells, and the ray-traced mock catalogue (issue 17)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from astropy.io import fits
from scipy import ndimage

from wlcnn.cosmology import simulation_cosmology
from wlcnn.lensing.born import born_convergence, shell_weights
from wlcnn.lensing.nz import NzTable
from wlcnn.maps.mapfile import MAPS_FORMAT, MAPS_VERSION, MapFileContentError
from wlcnn.maps.ray_traced import born_weights_from_map_file, ray_traced_patch_maps
from wlcnn.survey.mock_catalogue import write_mock_observation
from wlcnn.survey.settings import MockSettings, SurveySettings

N_PIX = 64
PADDING = 32
N_PATCHES = 2
COSMOLOGY = {"omega_m": 0.25, "sigma8": 0.849, "omega_b": 0.0493, "h": 0.74, "n_s": 0.9649}
#: Demo-like shells (z_max 1.4, thinner below z = 0.6).
Z_EDGES = np.array(
    [0.0, 0.075, 0.15, 0.225, 0.3, 0.375, 0.45, 0.525, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4]
)
#: Log-normal shells: rms of the Gaussian field (pixel scale ~ 2.3 arcmin) and its smoothing (pixels).
LOG_SIGMA, SMOOTH_PIX = 1.0, 1.5


def _nz() -> list[NzTable]:
    z = np.linspace(0.0, 1.4, 29)
    return [NzTable(z=z, nz=np.exp(-(((z - mu) / 0.2) ** 2))) for mu in (0.4, 0.8)]


def _delta(n_shells: int, seed: int) -> np.ndarray:
    """Log-normal δ stacks (mean 0), shape (N_PATCHES, n_shells, N_PIX, N_PIX)."""
    g = np.random.default_rng(seed).standard_normal((N_PATCHES, n_shells, N_PIX, N_PIX))
    g = ndimage.gaussian_filter(g, (0, 0, SMOOTH_PIX, SMOOTH_PIX), mode="wrap")
    g *= LOG_SIGMA / g.std()
    return np.exp(g - 0.5 * LOG_SIGMA**2) - 1.0


def _write_map_file(
    path: Path, z_edges: np.ndarray, *, keep_shells: bool = True, seed: int = 0
) -> np.ndarray:
    """A minimal map file like the map job's (Born κ of the stored shells); returns the float32 δ."""
    cosmo = simulation_cosmology(COSMOLOGY)
    weights = shell_weights(
        cosmo=cosmo,
        z_edges=np.stack([z_edges[:-1], z_edges[1:]], axis=1),
        nz=_nz(),
        z_source_max=float(z_edges[-1]),
    )
    delta = _delta(weights.n_shells, seed).astype(np.float32)
    born = born_convergence(delta_shells=delta, weights=weights)
    with h5py.File(path, "w") as fh:
        fh.attrs.update(
            format=MAPS_FORMAT,
            format_version=MAPS_VERSION,
            cosmology=json.dumps(COSMOLOGY),
            cosmology_id="mock02",
            simulation="sim00",
        )
        fh["kappa"] = born.kappa.astype(np.float32)
        fh["kappa_ia"] = born.kappa_ia.astype(np.float32)
        fh["shells/z_near"], fh["shells/z_far"] = z_edges[:-1], z_edges[1:]
        fh["weights/born"], fh["weights/ia"] = weights.born_weights, weights.ia_weights
        fh["weights/delta_d"] = weights.delta_d
        if keep_shells:
            fh["shells/delta"] = delta
    return delta


def _settings() -> SurveySettings:
    mock = MockSettings(
        n_gal_arcmin2=20.0,
        bin_fractions=(0.5, 0.5),
        outside_fraction=0.0,
        zb_outside_fraction=0.0,
        holes_per_deg2=0.0,
        empty_square_deg=0.0,
        zero_weight_fraction=0.0,
        invalid_fraction=0.0,
    )
    return SurveySettings(
        patch_centres=np.array([[40.0, -10.0], [46.0, -10.0]]),
        patch_size_deg=5.0,
        n_pix=N_PIX,
        zb_edges=(0.1, 0.6, 1.2),
        sigma_e=0.29,
        multiplicative_bias=(0.0, 0.0),
        multiplicative_bias_sigma=0.01,
        additive_bias=(0.0, 0.0),
        ks_padding=PADDING,
        smoothing_arcmin=0.0,
        mock=mock,
    )


def _catalogue(path: Path, map_file: Path, *, ray_traced: bool) -> np.ndarray:
    """(e1, e2) of the mock observation of ``map_file``: Born κ + KS γ, or ray traced (as the rule does)."""
    settings = _settings()
    with h5py.File(map_file, "r") as fh:
        kappa = fh["kappa"][:N_PATCHES]
    gamma = None
    if ray_traced:
        traced = ray_traced_patch_maps(map_file, n_realisations=N_PATCHES, padding=settings.ks_padding)
        kappa, gamma = traced.kappa, traced.gamma
    write_mock_observation(path, settings=settings, seed=7, kappa=kappa, gamma=gamma)
    with fits.open(path) as hdul:
        return np.stack([np.asarray(hdul[1].data["e1"], float), np.asarray(hdul[1].data["e2"], float)])


def test_single_plane_catalogue_equals_born(tmp_path: Path) -> None:
    """One shell: the ray-traced catalogue is the Born/Kaiser-Squires one to float32 rounding."""
    map_file = tmp_path / "one.h5"
    _write_map_file(map_file, np.array([0.3, 0.5]))
    traced = ray_traced_patch_maps(map_file, n_realisations=N_PATCHES, padding=PADDING)
    with h5py.File(map_file, "r") as fh:
        born = fh["kappa"][:N_PATCHES].astype(np.float64)
    scale = np.abs(born).max()
    np.testing.assert_allclose(traced.kappa, born, rtol=0, atol=1e-6 * scale)  # born stored as float32
    born_cat = _catalogue(tmp_path / "born.fits", map_file, ray_traced=False)
    rt_cat = _catalogue(tmp_path / "rt.fits", map_file, ray_traced=True)
    assert born_cat.shape[1] > 10_000
    np.testing.assert_allclose(rt_cat, born_cat, rtol=0, atol=2e-7)  # 1 ulp of float32 at |e| ~ 1


def test_many_planes_catalogue_differs_slightly(tmp_path: Path) -> None:
    """16 demo shells of strong log-normal δ: RT - Born is post-Born, a few % of the shear at most."""
    map_file = tmp_path / "many.h5"
    _write_map_file(map_file, Z_EDGES)
    traced = ray_traced_patch_maps(map_file, n_realisations=N_PATCHES, padding=PADDING)
    with h5py.File(map_file, "r") as fh:
        born = fh["kappa"][:N_PATCHES].astype(np.float64)
    kappa_rel = np.std(traced.kappa - born) / np.std(born)
    born_cat = _catalogue(tmp_path / "born.fits", map_file, ray_traced=False)
    rt_cat = _catalogue(tmp_path / "rt.fits", map_file, ray_traced=True)
    # the lensing shear the two catalogues carry (same galaxies and intrinsic shapes)
    shear_rms = np.std(
        born_cat - _catalogue(tmp_path / "none.fits", _zero_map(tmp_path, map_file), ray_traced=False)
    )
    diff_rms = np.std(rt_cat - born_cat)
    # measured: kappa 2.0 % of its rms, catalogue 2.1 % of the shear (fixed seed)
    assert 1e-3 < kappa_rel < 0.05, kappa_rel
    assert 1e-3 < diff_rms / shear_rms < 0.05, diff_rms / shear_rms


def _zero_map(tmp_path: Path, map_file: Path) -> Path:
    """A copy of ``map_file`` with κ = 0 (the unlensed catalogue)."""
    out = tmp_path / "zero.h5"
    out.write_bytes(map_file.read_bytes())
    with h5py.File(out, "r+") as fh:
        fh["kappa"][...] = 0.0
    return out


def test_weights_are_the_map_jobs(tmp_path: Path) -> None:
    """The Born κ of the stored weights and shells is the file's κ (same plan, same n(z))."""
    map_file = tmp_path / "m.h5"
    delta = _write_map_file(map_file, Z_EDGES)
    weights = born_weights_from_map_file(map_file)
    with h5py.File(map_file, "r") as fh:
        stored = fh["kappa"][...]
    np.testing.assert_allclose(
        born_convergence(delta_shells=delta, weights=weights).kappa,
        stored,
        rtol=1e-5,
        atol=1e-6 * np.abs(stored).max(),
    )


def test_map_file_without_shells_is_refused(tmp_path: Path) -> None:
    """A role not in shells.keep_shells: the error names file, field, what was expected and found."""
    map_file = tmp_path / "train.h5"
    _write_map_file(map_file, Z_EDGES, keep_shells=False)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(MapFileContentError) as info:
        ray_traced_patch_maps(map_file, n_realisations=N_PATCHES, padding=PADDING)
    message = str(info.value)
    assert str(map_file) in message and "shells/delta" in message
    assert "keep_shells" in message and "no such dataset" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_too_few_stacks_and_missing_weights_are_refused(tmp_path: Path) -> None:
    map_file = tmp_path / "m.h5"
    _write_map_file(map_file, Z_EDGES)
    with pytest.raises(
        MapFileContentError, match=r"shells/delta: expected at least 5 stacks.*found shape \(2, 16"
    ):
        ray_traced_patch_maps(map_file, n_realisations=5, padding=PADDING)
    with h5py.File(map_file, "r+") as fh:
        del fh["weights/born"]
    with pytest.raises(
        MapFileContentError, match=r"m\.h5: weights/born: expected this dataset.*found no such dataset"
    ):
        ray_traced_patch_maps(map_file, n_realisations=N_PATCHES, padding=PADDING)
