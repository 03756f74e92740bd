"""HEALPix shells: PkdGrav3 .hpb and .lcp fixtures, snapshots with replicas, patches cut from maps."""

from __future__ import annotations

import math

import healpy as hp
import numba
import numpy as np
import pytest

from wlcnn.cosmology import comoving_distance, make_cosmology
from wlcnn.io import open_snapshot
from wlcnn.io.pkd_healpix import HealpixShellReader
from wlcnn.io.pkd_lightcone import LightconeParticleReader
from wlcnn.io.pkd_params import load_step_redshifts
from wlcnn.lensing.born import born_convergence, shell_weights
from wlcnn.lensing.nz import NzTable
from wlcnn.maps.cellgrid import ParticleGrid
from wlcnn.maps.gnomonic import PatchGeometry
from wlcnn.maps.healpix_shells import (
    _ATAN_ERROR_BOUND,
    _atan2_fast,
    counts_from_hpb,
    counts_from_lightcone,
    counts_from_snapshot,
    counts_from_snapshot_numpy,
    degrade_counts,
    expected_counts_healpix,
    healpix_overdensity,
    patch_from_healpix,
    shells_from_positions,
    vec2pix_ring,
)
from wlcnn.maps.symmetries import BoxTransform, draw_transform

#: Both fixture runs: flat LCDM, Om = 0.26, h = 0.6736, box 128 Mpc/h (fixtures README).
BOX = 128.0
#: Light-cone cone of the N32 run: 50 deg^2 around (0.749, 0.454, 1.0), z < 0.5 (README).
CONE_AXIS = np.array([0.749, 0.454, 1.0]) / np.linalg.norm([0.749, 0.454, 1.0])
CONE_SR = 50.0 * (math.pi / 180) ** 2


@numba.njit(cache=False)
def _atan2_fast_many(y, x):  # pragma: no cover - compiled
    out = np.empty(y.shape[0])
    for i in range(y.shape[0]):
        out[i] = _atan2_fast(y[i], x[i])
    return out


@pytest.fixture(scope="module")
def fixture_cosmo():
    # No radiation: the N-body background.
    return make_cosmology(omega_m=0.26, sigma8=0.84, radiation=False)


def test_vec2pix_ring_equals_healpy():
    rng = np.random.default_rng(1)
    v = rng.normal(size=(300_000, 3))
    v[:2000, 2] *= 1e-9  # equator
    v[2000:4000, :2] *= 1e-7  # poles (HEALPix switches to sin(theta) there)
    v[4000:4100, 0] = 0.0
    v[4100:4200] = np.round(v[4100:4200])  # axis-aligned and diagonal directions
    v = v[np.linalg.norm(v, axis=1) > 0]
    for nside in (1, 2, 16, 1024, 8192):
        assert np.array_equal(vec2pix_ring(nside, v), hp.vec2pix(nside, v[:, 0], v[:, 1], v[:, 2]))


def test_fast_azimuth_is_within_its_error_bound():
    """The polynomial atan2 behind the pixel guard errs by less than the bound the guard assumes."""
    rng = np.random.default_rng(4)
    v = rng.normal(size=(200_000, 2))
    v[:1000, 0] = 0.0  # on the axes and the octant diagonals
    v[1000:2000, 1] = 0.0
    v[2000:3000, 1] = v[2000:3000, 0]
    v[3000:4000, 1] = -v[3000:4000, 0]
    v = v[np.any(v != 0.0, axis=1)]
    fast = _atan2_fast_many(v[:, 1], v[:, 0])
    err = np.abs(fast - np.arctan2(v[:, 1], v[:, 0]))
    # ±π: both ends are the same direction (the guard sends them to libm's atan2 anyway)
    err = np.minimum(err, np.abs(err - 2 * math.pi))
    assert err.max() < _ATAN_ERROR_BOUND / 5


def test_float32_record_columns_bin_exactly_as_healpy_in_float64():
    """Light-cone records (float32, strided) are binned in float64: pixels and shells as healpy's.

    numba's float() of a float32 stays float32; the kernel once computed r² and the pixel in
    single precision and put ~1e-5 of the particles one ring off.
    """
    rng = np.random.default_rng(5)
    records = rng.uniform(-1.0, 1.0, (2_000_000, 7)).astype(np.float32)
    edges = np.array([0.1, 0.35, 0.6, 0.85, 1.0])
    nside = 256
    counts = shells_from_positions(records[:, :3], r_edges=edges, nside=nside)
    pos = records[:, :3].astype(np.float64)
    r = np.sqrt(np.sum(pos * pos, axis=1))
    keep = (r >= edges[0]) & (r < edges[-1])
    shell = np.searchsorted(edges, r[keep], side="right") - 1
    pix = hp.vec2pix(nside, pos[keep, 0], pos[keep, 1], pos[keep, 2])
    expected = np.zeros_like(counts)
    np.add.at(expected, (shell, pix), 1)
    assert counts.sum() == keep.sum()
    assert np.array_equal(counts, expected)


def test_snapshot_shell_kernel_equals_numpy_reference_and_uniform_density():
    rng = np.random.default_rng(2)
    box = 100.0
    pos = rng.uniform(0, box, (200_000, 3)).astype(np.float32)
    grid = ParticleGrid.build(pos, box=box)
    for k, (r1, r2) in enumerate([(0.0, 60.0), (150.0, 230.0), (380.0, 400.0)]):
        tr = draw_transform(base_seed=1, cosmology="c", simulation="s", snapshot=k, realisation=0, box=box)
        fast, tested = counts_from_snapshot(grid, r_near=r1, r_far=r2, nside=16, transform=tr)
        assert np.array_equal(
            fast, counts_from_snapshot_numpy(pos, box=box, r_near=r1, r_far=r2, nside=16, transform=tr)
        )
        expected = expected_counts_healpix(mean_density=grid.mean_density, r_near=r1, r_far=r2, nside=16)
        total = expected * fast.size
        # Uniform particles: the shell holds n̄ V particles (exactly, up to the box's own
        # fluctuations), and the pixel means agree.
        assert abs(fast.sum() - total) < 6 * math.sqrt(total)
        assert abs(fast.mean() / expected - 1) < 6 / math.sqrt(total)
        assert tested >= fast.sum()


def test_pkdgrav3_healpix_shells_counts_and_mean_density(nbody_fixtures, fixture_cosmo):
    directory = nbody_fixtures / "pkdgrav3_N64_healpix"
    table = load_step_redshifts(nbody_fixtures / "reference" / "pkdgrav3_L128_N64_step_redshift.txt")
    readers = HealpixShellReader.from_run(directory, step_redshifts=table)
    assert [r.step for r in readers] == list(range(130, 141))
    nbar = 64**3 / BOX**3  # particles per (Mpc/h)^3
    total, r_outer = 0, None
    for reader in readers:
        counts = counts_from_hpb(reader)
        assert counts.shape == (12 * 32**2,) and reader.header.extra["order"] == "RING"
        z_lo, z_hi = reader.header.extra["redshift_min"], reader.header.extra["redshift_max"]
        r1, r2 = comoving_distance(fixture_cosmo, z_lo), comoving_distance(fixture_cosmo, z_hi)
        r_outer = r2 if r_outer is None else r_outer
        expected = expected_counts_healpix(mean_density=nbar, r_near=r1, r_far=r2, nside=32)
        mean_delta = counts.mean() / expected - 1
        if r2 > BOX:  # shells of about a box volume or more: a few per cent of cosmic variance
            assert abs(mean_delta) < 0.1, (reader.step, mean_delta)
        total += counts.sum()
        # Degrading to nside 16 sums sub-pixels exactly (as healpy's ud_grade with power=-2).
        coarse = degrade_counts(counts, 16)
        assert coarse.sum() == counts.sum()
        assert np.allclose(coarse, hp.ud_grade(counts.astype(float), 16, power=-2))
    # All 11 steps together: the sphere out to z(end of step 129) = 0.0533, ~8 box volumes.
    sphere = 4 * math.pi / 3 * r_outer**3 * nbar
    assert total == pytest.approx(sphere, rel=0.01)


@pytest.fixture(scope="module")
def lightcone(nbody_fixtures):
    directory = nbody_fixtures / "pkdgrav3_N32_lightcone"
    readers = LightconeParticleReader.from_run(
        directory,
        step_redshifts=load_step_redshifts(directory / "pkd_L128_N32_lcp.log"),
        params=nbody_fixtures / "params" / "pkd_L128_N32_lcp.par",
    )
    snapshot = open_snapshot(directory / "pkd_L128_N32_lcp.00060", box=BOX).read()
    return readers, snapshot


def _cone_pixels(nside: int) -> np.ndarray:
    """Pixels entirely inside the light cone's 50 deg^2 footprint."""
    vec = np.array(hp.pix2vec(nside, np.arange(hp.nside2npix(nside)))).T
    angle = np.arccos(np.clip(vec @ CONE_AXIS, -1, 1))
    half_angle = math.acos(1 - CONE_SR / (2 * math.pi))
    return angle < half_angle - hp.max_pixrad(nside)


def test_lightcone_particle_shell_matches_expected_density(lightcone, fixture_cosmo):
    readers, _ = lightcone
    nbar = 32**3 / BOX**3
    r_max = comoving_distance(fixture_cosmo, 0.5)
    total = sum(r.header.n_particles for r in readers)
    # README: "Expected count ~191,000 particles in the cone; found 186,923".
    assert total == 186_923
    assert total == pytest.approx(nbar * CONE_SR * r_max**3 / 3, rel=0.05)
    nside = 128
    inside = _cone_pixels(nside)
    counts = counts_from_lightcone(readers, nside=nside)
    assert counts.sum() == total
    expected = expected_counts_healpix(mean_density=nbar, r_near=0.0, r_far=r_max, nside=nside)
    assert counts[inside].mean() / expected == pytest.approx(1.0, abs=0.05)
    # A thinner shell (z 0.3 - 0.5) by radial cut: the same density.
    r1 = comoving_distance(fixture_cosmo, 0.3)
    shell = counts_from_lightcone(readers, nside=nside, r_near=r1, r_far=r_max)
    # ... binned as healpy would (independent reference of the compiled kernel).
    pos = np.concatenate([r.read().pos for r in readers if r.header.n_particles]).astype(np.float64)
    radius = np.linalg.norm(pos, axis=1)
    keep = (radius >= r1) & (radius < r_max)
    ref = np.bincount(hp.vec2pix(nside, *pos[keep].T), minlength=shell.size)
    assert np.abs(shell - ref).sum() <= 2  # a particle on the radial edge may round differently
    e_shell = expected_counts_healpix(mean_density=nbar, r_near=r1, r_far=r_max, nside=nside)
    assert shell[inside].mean() / e_shell == pytest.approx(1.0, abs=0.06)


def test_snapshot_shell_with_replicas_matches_the_lightcone_shell(lightcone):
    # The same run's z = 0 snapshot, replicated, seen from the light cone's observer (the box
    # origin, found by matching particle IDs): particles that crossed at z < 0.1 have moved
    # < 0.5 Mpc/h since, so both count maps of a low-z shell agree pixel by pixel.
    readers, snapshot = lightcone
    grid = ParticleGrid.build(snapshot.pos, box=BOX)
    nside = 64
    inside = _cone_pixels(nside)
    identity = BoxTransform(symmetry=0, shift=(0.0, 0.0, 0.0), box=BOX)
    nbar = 32**3 / BOX**3
    deltas = {"lc": [], "snap": []}
    for r1, r2 in [(100.0, 290.0), (150.0, 290.0)]:
        from_lc = counts_from_lightcone(readers, nside=nside, r_near=r1, r_far=r2)
        from_snap = counts_from_snapshot(grid, r_near=r1, r_far=r2, nside=nside, transform=identity)[0]
        deltas["lc"].append(healpix_overdensity(from_lc, mean_density=nbar, r_near=r1, r_far=r2))
        deltas["snap"].append(healpix_overdensity(from_snap, mean_density=nbar, r_near=r1, r_far=r2))
        from_lc, from_snap = from_lc[inside], from_snap[inside]
        assert from_lc.sum() > 500
        assert from_snap.sum() == pytest.approx(from_lc.sum(), rel=0.03)
        assert np.corrcoef(from_lc, from_snap)[0, 1] > 0.9
        # ... and a random transform of the box gives a different (uncorrelated) sky.
        other = counts_from_snapshot(
            grid,
            r_near=r1,
            r_far=r2,
            nside=nside,
            transform=BoxTransform(symmetry=5, shift=(40.0, 3.0, 77.0), box=BOX),
        )[0]
        assert np.corrcoef(from_lc, other[inside])[0, 1] < 0.5
    # Full-sky Born kappa of the two-shell stack: the same map from either input.
    nz = NzTable(z=np.array([0.0, 0.2, 0.4]), nz=np.array([0.0, 1.0, 0.0]))
    weights = shell_weights(
        cosmo=make_cosmology(omega_m=0.26, sigma8=0.84, radiation=False),
        z_edges=[[0.0334, 0.1], [0.05, 0.1]],
        nz=[nz],
        z_source_max=0.4,
    )
    kappa = {
        k: born_convergence(delta_shells=np.stack(v), weights=weights, map_ndim=1).kappa[0]
        for k, v in deltas.items()
    }
    assert kappa["lc"].shape == (hp.nside2npix(nside),)
    assert np.corrcoef(kappa["lc"][inside], kappa["snap"][inside])[0, 1] > 0.9
    assert kappa["snap"][inside].mean() == pytest.approx(kappa["lc"][inside].mean(), rel=0.05)


def _smooth(lon_deg: np.ndarray, lat_deg: np.ndarray) -> np.ndarray:
    lon, lat = np.radians(lon_deg), np.radians(lat_deg)
    return (
        1.0
        + 0.5 * np.cos(lat) * np.sin(2 * lon)
        + 0.3 * np.sin(lat) ** 2
        + 0.2 * np.cos(3 * lat) * np.cos(lon)
    )


@pytest.mark.parametrize(("lon0", "lat0"), [(30.0, 10.0), (200.0, -60.0), (359.0, 85.0)])
def test_gnomonic_patch_cut_from_healpix_equals_the_function_at_pixel_centres(lon0, lat0):
    nside = 512
    lon, lat = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)), lonlat=True)
    hmap = _smooth(lon, lat)
    geometry = PatchGeometry(n_pix=32, patch_size_deg=5.0)
    patch = patch_from_healpix(hmap, geometry=geometry, centre_lon_deg=lon0, centre_lat_deg=lat0)
    # Independent pixel-centre directions: Snyder's inverse gnomonic formulas (22-6, 22-7).
    xx, yy = np.meshgrid(geometry.centres, geometry.centres)  # [y, x]
    rho = np.hypot(xx, yy)
    c = np.arctan(rho)
    phi0, lam0 = np.radians(lat0), np.radians(lon0)
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = np.arcsin(np.cos(c) * np.sin(phi0) + yy * np.sin(c) * np.cos(phi0) / rho)
        lam = lam0 + np.arctan2(
            xx * np.sin(c), rho * np.cos(phi0) * np.cos(c) - yy * np.sin(phi0) * np.sin(c)
        )
    truth = _smooth(np.degrees(lam), np.degrees(phi))
    assert np.abs(patch - truth).max() < 2e-3
    nearest = patch_from_healpix(
        hmap, geometry=geometry, centre_lon_deg=lon0, centre_lat_deg=lat0, interpolation="nearest"
    )
    assert np.abs(nearest - truth).max() < 0.02  # within a HEALPix pixel (6.9 arcmin)
    # A stack of maps gives a stack of patches.
    both = patch_from_healpix(
        np.stack([hmap, 2 * hmap]), geometry=geometry, centre_lon_deg=lon0, centre_lat_deg=lat0
    )
    assert both.shape == (2, 32, 32) and np.allclose(both[1], 2 * patch)


def test_positions_binning_carries_counts_past_the_uint16_map():
    """More than 65535 particles in one pixel (the kernel counts in uint16 and carries wraps)."""
    rng = np.random.default_rng(9)
    n_same = 3 * 65536 + 5  # three wraps, then a remainder
    pos = np.concatenate(
        [np.tile([[0.3, -0.2, 0.5]], (n_same, 1)), rng.uniform(-1.0, 1.0, (20_000, 3))]
    ).astype(np.float32)
    edges = np.array([0.05, 0.5, 1.0])
    nside = 16
    counts = shells_from_positions(pos, r_edges=edges, nside=nside)
    p64 = pos.astype(np.float64)
    r = np.sqrt(np.sum(p64 * p64, axis=1))
    keep = (r >= edges[0]) & (r < edges[-1])
    expected = np.zeros_like(counts)
    np.add.at(
        expected,
        (np.searchsorted(edges, r[keep], side="right") - 1, hp.vec2pix(nside, *p64[keep].T)),
        1,
    )
    assert counts.max() > 3 * 65536
    assert np.array_equal(counts, expected)
    # Few positions on a large map: counted straight into the int64 map, same counts.
    few = pos[-1000:]
    p64 = few.astype(np.float64)
    r = np.sqrt(np.sum(p64 * p64, axis=1))
    keep = (r >= edges[0]) & (r < edges[-1])
    expected = np.zeros((2, hp.nside2npix(256)), dtype=np.int64)
    np.add.at(
        expected,
        (np.searchsorted(edges, r[keep], side="right") - 1, hp.vec2pix(256, *p64[keep].T)),
        1,
    )
    assert np.array_equal(shells_from_positions(few, r_edges=edges, nside=256), expected)
