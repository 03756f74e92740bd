"""Map files from PkdGrav3 light cones (.hpb HEALPix shells, .lcp particles), library level."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import healpy as hp
import numpy as np
import pytest

from wlcnn.io import open_snapshot
from wlcnn.lensing.born import born_convergence
from wlcnn.maps.cellgrid import ParticleGrid
from wlcnn.maps.healpix_shells import counts_from_snapshot, healpix_overdensity
from wlcnn.maps.lightcone import (
    lightcone_overdensities,
    make_lightcone_maps,
    plan_lightcone_maps,
    select_shell_edges,
)
from wlcnn.maps.mapfile import read_map_attrs
from wlcnn.maps.symmetries import BoxTransform
from wlcnn.provenance import file_checksum

#: Both fixture runs (fixtures README): flat LCDM, box 128 Mpc/h.
COSMOLOGY = {"omega_m": 0.26, "sigma8": 0.84, "h": 0.6736, "omega_b": 0.0493, "n_s": 0.9649}
BOX = 128.0
#: The .lcp run's 50 deg^2 cone around (0.749, 0.454, 1.0).
CONE_AXIS = np.array([0.749, 0.454, 1.0]) / np.linalg.norm([0.749, 0.454, 1.0])
CONE_SR = 50.0 * (math.pi / 180) ** 2


def _nz(path: Path, mean: float, width: float) -> str:
    z = np.arange(0.0, 0.4, 0.005)
    np.savetxt(path, np.column_stack([z, np.exp(-0.5 * ((z + 0.0025 - mean) / width) ** 2)]), fmt="%.6f")
    return str(path)


def _spec(fixtures: Path, kind: str, **extra) -> dict:
    if kind == "hpb":
        prefix = fixtures / "pkdgrav3_N64_healpix" / "pkd_L128_N64"
        table, n_1d = fixtures / "reference" / "pkdgrav3_L128_N64_step_redshift.txt", 64
    else:
        prefix = fixtures / "pkdgrav3_N32_lightcone" / "pkd_L128_N32_lcp"
        table, n_1d = prefix.with_name(prefix.name + ".log"), 32
    return {
        "kind": kind,
        "prefix": str(prefix),
        "step_redshifts": str(table),
        "box": BOX,
        "n_particles": n_1d**3,
        "cosmology_id": "c000",
        "simulation": "sim00",
        **extra,
    }


def _shells(source: str, **extra) -> dict:
    return {
        "mode": "healpix",
        "source": source,
        "n_realisations": 1,
        "patch_nside": 1,
        "n_pix": 16,
        "patch_size_deg": 5.0,
        "store_fullsky": True,
        "keep_shells": ["test", "mock"],
        **extra,
    }


def _plan(
    spec: dict,
    *,
    kind: str,
    n_particles: int,
    shells: dict,
    lensing: dict | None = None,
    output_redshifts=None,
):
    """plan_lightcone_maps of a fixture run as the map job would call it."""
    return plan_lightcone_maps(
        spec["prefix"],
        kind=kind,
        step_redshifts=spec["step_redshifts"],
        cosmology=COSMOLOGY,
        box=BOX,
        n_particles=n_particles,
        cosmology_id="c000",
        simulation="sim00",
        output_redshifts=output_redshifts,
        shells_config=shells,
        lensing_config=lensing,
    )


def test_shell_edges_at_the_nearest_step_ends():
    ends = [0.0533, 0.0483, 0.0433, 0.0384, 0.0]
    assert select_shell_edges(ends, requested=None) == [0, 1, 2, 3, 4]
    # 1.4 lies outside the light cone; 0.05 -> 0.0483, 0.04 -> 0.0384 (nearest), 0 -> 0.
    assert select_shell_edges(ends, requested=[1.4, 0.05, 0.04, 0.0]) == [1, 3, 4]
    with pytest.raises(ValueError, match="need at least 2"):
        select_shell_edges(ends, requested=[1.4, 0.5])


@pytest.fixture(scope="module")
def hpb_maps(nbody_fixtures, tmp_path_factory):
    root = tmp_path_factory.mktemp("lightcone_hpb")
    lensing = {
        "nz_files": [_nz(root / "nz1.txt", 0.035, 0.008), _nz(root / "nz2.txt", 0.045, 0.005)],
        "z_source_max": 0.0533,
    }
    return make_lightcone_maps(
        _spec(nbody_fixtures, "hpb", output_redshifts=None),
        out_path=root / "hpb.h5",
        cosmology=COSMOLOGY,
        shells_config=_shells("lightcone_healpix", lightcone_edges="steps", nside=32),
        lensing_config=lensing,
        role="test",
        base_seed=7,
    )


def test_hpb_map_file_shapes_attributes_and_provenance(hpb_maps, nbody_fixtures):
    attrs = read_map_attrs(hpb_maps)
    # One sky: 1 x 12 patches (patch_nside 1); one shell per step 130..140.
    assert attrs["n_realisations"] == 12 and attrs["patches_per_sky"] == 12 and attrs["n_shells"] == 11
    assert attrs["source"] == "lightcone_healpix" and attrs["mode"] == "healpix" and attrs["nside"] == 32
    lc = attrs["lightcone"]
    assert (lc["kind"], lc["first_step"], lc["last_step"], lc["file_nside"]) == ("hpb", 130, 140, 32)
    assert lc["shell_steps"][0] == [140, 140] and lc["shell_steps"][-1] == [130, 130]
    with h5py.File(hpb_maps) as fh:
        assert fh["kappa"].shape == (12, 2, 16, 16) and fh["kappa_ia"].shape == (12, 2, 16, 16)
        assert fh["shells/delta"].shape == (12, 11, 16, 16) and fh["healpix/kappa"].shape == (
            1,
            2,
            12 * 32**2,
        )
        assert fh["shells/snapshot"][()].tolist() == list(range(140, 129, -1))
        # Edges are the step ends of the run's table (end of step 129 .. end of step 140 = 0).
        assert fh["shells/z_far"][-1] == pytest.approx(0.053304) and fh["shells/z_near"][0] == 0.0
        assert np.array_equal(fh["realisations/symmetry"][()], np.zeros((1, 11)))
        assert np.isfinite(fh["kappa"][()]).all() and np.isfinite(fh["shells/delta"][()]).all()
    inputs = {Path(r["path"]).name: r for r in attrs["provenance"]["inputs"]}
    hpb_files = sorted((nbody_fixtures / "pkdgrav3_N64_healpix").glob("*.hpb.*"))
    assert len(hpb_files) == 22 and all(f.name in inputs for f in hpb_files)
    table = nbody_fixtures / "reference" / "pkdgrav3_L128_N64_step_redshift.txt"
    assert inputs[table.name]["sha256"] == file_checksum(table)
    assert inputs[hpb_files[3].name]["sha256"] == file_checksum(hpb_files[3])
    assert len(attrs["nz"]) == 2  # the n(z) files are recorded too (as for snapshots)


def test_hpb_full_sky_kappa_is_the_born_sum_and_has_zero_mean(hpb_maps, nbody_fixtures):
    with h5py.File(hpb_maps) as fh:
        full = fh["healpix/kappa"][0].astype(np.float64)
        born, delta_d = fh["weights/born"][()], fh["weights/delta_d"][()]
        z_near, z_far = fh["shells/z_near"][()], fh["shells/z_far"][()]
        r_near, r_far = fh["shells/r_near"][()], fh["shells/r_far"][()]
    # Independent of the library's readers: the raw .hpb bytes (int32 grouped, int32 ungrouped,
    # float32 potential; thread 0 then 1), delta = N / Nbar - 1 with the run's mean density.
    nbar = 64**3 / BOX**3
    rec = np.dtype([("grouped", "<i4"), ("ungrouped", "<i4"), ("pot", "<f4")])
    deltas = []
    for k in range(11):
        step = 140 - k
        raw = np.concatenate(
            [
                np.fromfile(
                    nbody_fixtures / "pkdgrav3_N64_healpix" / f"pkd_L128_N64.{step:05d}.hpb.{t}", dtype=rec
                )
                for t in (0, 1)
            ]
        )
        counts = raw["grouped"].astype(np.float64) + raw["ungrouped"]
        expected = nbar * 4 * math.pi / counts.size * (r_far[k] ** 3 - r_near[k] ** 3) / 3
        deltas.append(counts / expected - 1)
    assert z_near[0] == 0.0 and np.all(z_far > z_near)
    # The Born sum (SPEC §3: kappa = sum_b 3/2 Om W_b dD_b delta_b) of these raw shells with the
    # file's weights is the file's full-sky kappa.
    mine = (1.5 * COSMOLOGY["omega_m"] * born * delta_d[None, :]) @ np.asarray(deltas)
    assert np.allclose(full, mine, rtol=1e-5, atol=1e-6 * np.abs(mine).max())
    # Physics: the full-sky mean of kappa vanishes (mass conservation: the shells' total count is
    # the sphere's mean count to ~1 %), far below the map's rms.
    for b in range(full.shape[0]):
        assert abs(full[b].mean()) < 0.1 * full[b].std(), (b, full[b].mean(), full[b].std())
        assert full[b].std() > 0


def test_hpb_degraded_nside_and_bad_settings(nbody_fixtures, tmp_path):
    shells = _shells("lightcone_healpix", nside=16)
    spec = _spec(nbody_fixtures, "hpb", output_redshifts=[1.0, 0.05, 0.025, 0.0])
    plan = _plan(
        spec, kind="hpb", n_particles=64**3, shells=shells, output_redshifts=spec["output_redshifts"]
    )
    # 0.05 -> end of step 130 (0.048294), 0.025 -> end of step 135 (0.023745), 0 -> end of 140.
    assert [(s.z_near, s.z_far) for s in plan.shells] == [(0.0, 0.023745), (0.023745, 0.048294)]
    assert plan.source.shell_steps == ((136, 137, 138, 139, 140), (131, 132, 133, 134, 135))
    with pytest.raises(ValueError, match="exceeds the nside 32"):
        _plan(
            spec,
            kind="hpb",
            n_particles=64**3,
            shells=_shells("lightcone_healpix", nside=64, lightcone_edges="steps"),
        )
    with pytest.raises(ValueError, match="n_realisations must be 1"):
        make_lightcone_maps(
            spec,
            out_path=tmp_path / "x.h5",
            cosmology=COSMOLOGY,
            shells_config=_shells("lightcone_healpix", nside=16, n_realisations=2),
            lensing_config=None,
            role="test",
            base_seed=1,
        )
    assert not (tmp_path / "x.h5").exists()


def _cone_pixels(nside: int) -> np.ndarray:
    vec = np.array(hp.pix2vec(nside, np.arange(hp.nside2npix(nside)))).T
    angle = np.arccos(np.clip(vec @ CONE_AXIS, -1, 1))
    return angle < math.acos(1 - CONE_SR / (2 * math.pi)) - hp.max_pixrad(nside)


def test_lcp_kappa_matches_the_same_runs_snapshot(nbody_fixtures, tmp_path):
    # The .lcp run also wrote its z = 0 tipsy snapshot. Particles that crossed the light cone at
    # z < 0.12 moved < 1 Mpc/h since, so the snapshot (observer at the box origin, replicated)
    # seen through the same shells gives the same kappa in the cone: an independent route
    # (snapshot reader, cell grid, replica kernel) to the same sky.
    lensing = {"nz_files": [_nz(tmp_path / "nz.txt", 0.15, 0.03)], "z_source_max": 0.3}
    shells = _shells("lightcone_particles", nside=64)
    spec = _spec(nbody_fixtures, "lcp", output_redshifts=[0.5, 0.12, 0.06, 0.0])
    out = make_lightcone_maps(
        spec,
        out_path=tmp_path / "lcp.h5",
        cosmology=COSMOLOGY,
        shells_config=shells,
        lensing_config=lensing,
        role="train",
        base_seed=7,
    )
    attrs = read_map_attrs(out)
    assert attrs["source"] == "lightcone_particles" and attrs["lightcone"]["first_step"] == 41
    assert attrs["lightcone"]["shell_steps"] == [[58, 60], [55, 57], [41, 54]]
    lcp_files = sorted((nbody_fixtures / "pkdgrav3_N32_lightcone").glob("*.lcp.*"))
    recorded = {Path(r["path"]).name for r in attrs["provenance"]["inputs"]}
    assert {f.name for f in lcp_files if int(f.name.split(".")[1]) >= 41} <= recorded
    plan = _plan(
        spec,
        kind="lcp",
        n_particles=32**3,
        shells=shells,
        lensing=lensing,
        output_redshifts=spec["output_redshifts"],
    )
    with h5py.File(out) as fh:
        assert fh["kappa"].shape == (12, 1, 16, 16) and "shells/delta" not in fh  # a training role
        full = fh["healpix/kappa"][0, 0].astype(np.float64)
        r_near, r_far = fh["shells/r_near"][()], fh["shells/r_far"][()]
    snapshot = open_snapshot(
        nbody_fixtures / "pkdgrav3_N32_lightcone" / "pkd_L128_N32_lcp.00060", box=BOX
    ).read()
    grid = ParticleGrid.build(snapshot.pos, box=BOX)
    identity = BoxTransform(symmetry=0, shift=(0.0, 0.0, 0.0), box=BOX)
    # The two low-z shells from the snapshot (the outer one, z 0.12-0.5, is left out of the
    # comparison: its particles moved too far since they crossed).
    snap = []
    for k in range(2):
        counts = counts_from_snapshot(grid, r_near=r_near[k], r_far=r_far[k], nside=64, transform=identity)[0]
        snap.append(
            healpix_overdensity(counts, mean_density=32**3 / BOX**3, r_near=r_near[k], r_far=r_far[k])
        )
    lc = [d for _, d in lightcone_overdensities(plan)]
    # The file's kappa is the Born sum of the light cone's three shells ...
    kappa_lc = born_convergence(delta_shells=np.stack(lc), weights=plan.weights, map_ndim=1).kappa[0]
    assert np.allclose(full, kappa_lc, rtol=1e-5, atol=1e-6 * np.abs(kappa_lc).max())
    # ... and its two inner shells agree with the snapshot's in the cone.
    inner = np.stack([lc[0], lc[1], np.zeros_like(lc[0])])
    kappa_inner = born_convergence(delta_shells=inner, weights=plan.weights, map_ndim=1).kappa[0]
    kappa_snap = born_convergence(
        delta_shells=np.stack([snap[0], snap[1], np.zeros_like(lc[0])]), weights=plan.weights, map_ndim=1
    ).kappa[0]
    inside = _cone_pixels(64)
    assert inside.sum() > 30
    corr = np.corrcoef(kappa_inner[inside], kappa_snap[inside])[0, 1]
    assert corr > 0.9, corr
    assert kappa_inner[inside].mean() == pytest.approx(
        kappa_snap[inside].mean(), abs=0.1 * kappa_snap[inside].std()
    )


def _mpiexec() -> str | None:
    local = Path(sys.executable).parent / "mpiexec"
    return str(local) if local.exists() else shutil.which("mpiexec")


def _dump(path: Path) -> dict[str, object]:
    """Every dataset's bytes and every attribute but the provenance record (times, host, ranks)."""
    data: dict[str, object] = {}
    with h5py.File(path) as fh:
        for name in _datasets(fh):
            data[name] = fh[name][()].tobytes()
        data.update({f"@{k}": str(v) for k, v in fh.attrs.items() if k != "provenance"})
    return data


def _datasets(fh: h5py.File) -> list[str]:
    names: list[str] = []
    fh.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names


@pytest.mark.mpi
def test_lightcone_map_file_is_byte_identical_for_1_and_2_ranks(nbody_fixtures, tmp_path):
    import json

    mpiexec = _mpiexec()
    if mpiexec is None:
        pytest.skip("no mpiexec")
    params = {
        "shells": _shells("lightcone_healpix", lightcone_edges="steps", nside=16),
        "seed": 3,
        "role": "test",
        "lensing": {"nz_files": [_nz(tmp_path / "nz.txt", 0.04, 0.01)], "z_source_max": 0.0533},
        "cosmology": COSMOLOGY,
        "lightcone": _spec(nbody_fixtures, "hpb", output_redshifts=None),
    }
    (tmp_path / "params.json").write_text(json.dumps(params))
    dumps = []
    for ranks in (1, 2):
        out = tmp_path / f"maps_{ranks}.h5"
        cmd = [
            mpiexec,
            "-n",
            str(ranks),
            sys.executable,
            "-m",
            "wlcnn.maps.mpi",
            "--params",
            str(tmp_path / "params.json"),
            "--out",
            str(out),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        assert read_map_attrs(out)["provenance"]["extra"]["mpi_ranks"] == ranks
        dumps.append(_dump(out))
    assert dumps[0].keys() == dumps[1].keys()
    assert [k for k in dumps[0] if dumps[0][k] != dumps[1][k]] == []
