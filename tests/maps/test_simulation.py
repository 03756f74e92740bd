"""Map stage end to end: manifest -> shells -> Born maps -> map file; regeneration; MPI ranks."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import yaml

from wlcnn.maps import (
    describe_map_file,
    estimate_memory_mb,
    format_description,
    make_simulation_maps,
    plan_maps,
    project_realisations,
)
from wlcnn.maps.gnomonic import PatchGeometry
from wlcnn.maps.healpix_shells import patch_from_healpix
from wlcnn.maps.mapfile import read_map_attrs
from wlcnn.maps.mpi import main as mpi_main
from wlcnn.maps.mpi import split_range

BOX = 200.0
N_PART = 30_000
#: Header redshifts as a code writes them: near, not at, the requested 1.0, 0.6, 0.3, 0.
HEADER_Z = [1.0021, 0.6012, 0.2994, 0.0]
COSMOLOGY = {"omega_m": 0.3, "sigma8": 0.8, "omega_b": 0.0493, "h": 0.6736, "n_s": 0.9649}
SEED = 99


def _write_canonical(path: Path, *, z: float, seed: int) -> dict:
    """A canonical snapshot (wlcnn.io.canonical layout) of lightly clustered particles."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, BOX, (300, 3))
    clumped = centres[rng.integers(300, size=N_PART // 3)] + rng.normal(0, 3.0, (N_PART // 3, 3))
    pos = np.concatenate([rng.uniform(0, BOX, (N_PART - N_PART // 3, 3)), clumped]) % BOX
    with h5py.File(path, "w") as fh:
        fh.attrs.update(
            {
                "format": "wlcnn.snapshot",
                "format_version": 1,
                "redshift": z,
                "a": 1 / (1 + z),
                "box": BOX,
                "n_particles": N_PART,
                "particle_mass": 1e11,
                "omega_m": 0.3,
                "h": 0.6736,
            }
        )
        fh.create_dataset("particles/pos", data=pos.astype(np.float32))
    return {
        "path": str(path),
        "redshift": z,
        "a": 1 / (1 + z),
        "n_particles": N_PART,
        "output": {"path": str(path), "size": path.stat().st_size, "sha256": "0" * 64},
    }


def _make_simulation(root: Path, redshifts: list[float], name: str = "sim00") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    entries = [
        _write_canonical(root / f"snapshot_{i:03d}.h5", z=z, seed=100 * len(name) + i)
        for i, z in enumerate(redshifts)
    ]
    for i, e in enumerate(entries):
        e["index"] = i
    manifest = {
        "schema": "wlcnn.manifest/1",
        "identity": {"cosmology": "c000", "simulation": name},
        "cosmology": COSMOLOGY,
        "box": BOX,
        "snapshots": entries,
    }
    path = root / "manifest.json"
    path.write_text(json.dumps(manifest))
    return path


def _nz_files(root: Path) -> list[str]:
    """Four KiDS-style histogram n(z) files (lower bin edges, width 0.05)."""
    z = np.arange(0.0, 1.2, 0.05)
    files = []
    for b, mean in enumerate([0.3, 0.45, 0.6, 0.75], start=1):
        path = root / f"nz_bin{b}.txt"
        np.savetxt(path, np.column_stack([z, np.exp(-0.5 * ((z + 0.025 - mean) / 0.12) ** 2)]), fmt="%.6f")
        files.append(str(path))
    return files


SHELLS = {
    "mode": "pencil_beam",
    "n_realisations": 5,
    "patch_size_deg": 5.0,
    "n_pix": 32,
    "keep_shells": ["test", "mock"],
}


@pytest.fixture(scope="module")
def simulation(tmp_path_factory):
    root = tmp_path_factory.mktemp("maps")
    manifest = _make_simulation(root / "c000" / "sim00", HEADER_Z)
    lensing = {"z_source_max": 1.0021, "nz_files": _nz_files(root), "ia_c1_rho_crit": 0.0134}
    out = make_simulation_maps(
        manifest,
        out_path=root / "maps_test.h5",
        cosmology=None,
        shells_config=SHELLS,
        lensing_config=lensing,
        role="test",
        base_seed=SEED,
    )
    return SimpleNamespace(root=root, manifest=manifest, lensing=lensing, out=out)


def test_map_file_layout_and_born_sums(simulation):
    out = simulation.out
    attrs = read_map_attrs(out)
    assert attrs["n_realisations"] == 5 and attrs["n_bins"] == 4 and attrs["n_shells"] == 3
    assert attrs["cosmology"]["omega_m"] == 0.3 and attrs["role"] == "test" and attrs["born"]
    assert len(attrs["nz"]) == 4 and len(attrs["nz_checksum"]) == 64
    assert attrs["provenance"]["step"] == "maps"
    with h5py.File(out) as fh:
        kappa, kappa_ia, delta = fh["kappa"][()], fh["kappa_ia"][()], fh["shells/delta"][()]
        assert kappa.shape == kappa_ia.shape == (5, 4, 32, 32) and delta.shape == (5, 3, 32, 32)
        assert kappa.dtype == np.float32 and delta.dtype == np.float32
        # Shells near to far, edges at the TRUE header redshifts; snapshot k fills [z_k, z_(k-1)].
        assert fh["shells/z_near"][()].tolist() == [0.0, 0.2994, 0.6012]
        assert fh["shells/z_far"][()].tolist() == [0.2994, 0.6012, 1.0021]
        assert fh["shells/snapshot"][()].tolist() == [3, 2, 1]
        w, w_ia, dd = fh["weights/born"][()], fh["weights/ia"][()], fh["weights/delta_d"][()]
        # Counts are recovered exactly from δ and N̄: (δ + 1) N̄ is an integer.
        counts = (delta.astype(np.float64) + 1) * fh["shells/expected"][()][None]
        assert np.allclose(counts, np.round(counts), atol=1e-3) and counts.min() > -1e-3
        symmetry = fh["realisations/symmetry"][()]
        assert symmetry.shape == (5, 3) and symmetry.min() >= 0 and symmetry.max() < 48
    # Independent Born sum from the stored arrays (SPEC §3).
    ref = 1.5 * 0.3 * np.einsum("bs,s,rsyx->rbyx", w, dd, delta.astype(np.float64))
    ref_ia = np.einsum("bs,s,rsyx->rbyx", w_ia, dd, delta.astype(np.float64))
    assert np.allclose(kappa, ref, rtol=1e-5, atol=1e-7)
    assert np.allclose(kappa_ia, ref_ia, rtol=1e-5, atol=1e-8)
    assert np.all(w > 0) and np.all(w_ia <= 0)
    # Different realisations differ.
    assert not np.array_equal(delta[0], delta[1])


def test_single_regenerated_map_equals_the_batch(simulation):
    out = simulation.out
    plan = plan_maps(
        simulation.manifest, cosmology=None, shells_config=SHELLS, lensing_config=simulation.lensing
    )
    single = project_realisations(plan, [3], base_seed=SEED)
    backwards = project_realisations(plan, [4, 1], base_seed=SEED)
    with h5py.File(out) as fh:
        for name, arr in (
            ("kappa", single.kappa),
            ("kappa_ia", single.kappa_ia),
            ("shells/delta", single.delta),
        ):
            assert fh[name][3:4].tobytes() == arr.tobytes(), name
        assert fh["shells/delta"][4].tobytes() == backwards.delta[0].tobytes()
        assert fh["kappa"][1].tobytes() == backwards.kappa[1].tobytes()
    other_seed = project_realisations(plan, [3], base_seed=SEED + 1)
    assert not np.array_equal(other_seed.delta, single.delta)


def test_training_role_and_missing_nz(simulation, tmp_path):
    manifest, lensing = simulation.manifest, simulation.lensing
    train = make_simulation_maps(
        manifest,
        out_path=tmp_path / "train.h5",
        cosmology=None,
        shells_config=SHELLS,
        lensing_config=lensing,
        role="train",
        base_seed=SEED,
    )
    with h5py.File(train) as fh:
        assert "kappa" in fh and "shells/delta" not in fh
    shells_only = make_simulation_maps(
        manifest,
        out_path=tmp_path / "shells.h5",
        cosmology=None,
        shells_config=SHELLS,
        lensing_config=None,
        role="test",
        base_seed=SEED,
    )
    with h5py.File(shells_only) as fh:
        assert "kappa" not in fh and fh["shells/delta"].shape == (5, 3, 32, 32)
        assert not fh.attrs["born"]


@pytest.fixture
def restore_logging():
    """The command line configures the root logger (as a rule's process does): undo it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_command_line_with_json_params_reproduces_the_file(simulation, tmp_path, restore_logging):
    params = {"shells": SHELLS, "lensing": simulation.lensing, "seed": SEED, "role": "test"}
    out = tmp_path / "cli.h5"
    common = ["--manifest", str(simulation.manifest), "--no-mpi", "--log", str(tmp_path / "log.txt")]
    assert mpi_main(["--params", json.dumps(params), "--out", str(out), *common]) == 0
    a, b = _dump(out), _dump(simulation.out)
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    # A failure returns 1, logs why and writes nothing.
    bad = json.dumps({**params, "shells": {**SHELLS, "mode": "bogus"}})
    assert mpi_main(["--params", bad, "--out", str(tmp_path / "bad.h5"), *common]) == 1
    assert not (tmp_path / "bad.h5").exists()
    assert "bogus" in (tmp_path / "log.txt").read_text()


def test_describe_for_wlcnn_inspect(simulation):
    info = describe_map_file(simulation.out)
    json.dumps(info)  # serialisable for --json
    assert info["datasets"]["kappa"] == {"shape": [5, 4, 32, 32], "dtype": "float32"}
    assert info["statistics"]["kappa"]["finite"]
    text = format_description(info)
    assert "wlcnn.maps v1" in text and "c000/sim00" in text and "snapshot 1" in text


def test_wlcnn_inspect_describes_map_files(simulation, capsys):
    from wlcnn.cli import main

    assert main(["inspect", str(simulation.out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "wlcnn.maps v1" and info["datasets"]["kappa"]["shape"] == [5, 4, 32, 32]
    assert main(["inspect", str(simulation.out)]) == 0
    assert "c000/sim00" in capsys.readouterr().out


def test_bad_inputs_leave_no_file(tmp_path):
    manifest = _make_simulation(tmp_path / "sim", HEADER_Z)
    data = json.loads(manifest.read_text())
    data["snapshots"][2]["redshift"] = 0.3  # the requested value, not the header's 0.2994
    manifest.write_text(json.dumps(data))
    out = tmp_path / "maps.h5"
    with pytest.raises(ValueError, match="header redshift"):
        make_simulation_maps(
            manifest,
            out_path=out,
            cosmology=None,
            shells_config=SHELLS,
            lensing_config=None,
            role="test",
            base_seed=SEED,
        )
    assert not out.exists() and not list(tmp_path.glob(".maps.h5*"))


def test_healpix_mode_patches_come_from_the_full_sky_maps(tmp_path):
    manifest = _make_simulation(tmp_path / "sim", [0.2013, 0.1005, 0.0], name="sim01")
    lensing = {"z_source_max": 0.2013, "nz_files": _nz_files(tmp_path)}
    shells = {
        "mode": "healpix",
        "n_realisations": 2,
        "nside": 32,
        "patch_nside": 1,
        "store_fullsky": True,
        "patch_size_deg": 5.0,
        "n_pix": 16,
    }
    out = make_simulation_maps(
        manifest,
        out_path=tmp_path / "hp.h5",
        cosmology=None,
        shells_config=shells,
        lensing_config=lensing,
        role="mock",
        base_seed=SEED,
    )
    with h5py.File(out) as fh:
        assert fh["kappa"].shape == (24, 4, 16, 16) and fh["healpix/kappa"].shape == (2, 4, 12 * 32**2)
        assert fh.attrs["patches_per_sky"] == 12 and fh["shells/delta"].shape == (24, 2, 16, 16)
        centres = fh["healpix/patch_centres"][()]
        full = fh["healpix/kappa"][1].astype(np.float64)
        patch = patch_from_healpix(
            full,
            geometry=PatchGeometry(n_pix=16, patch_size_deg=5.0),
            centre_lon_deg=centres[5, 0],
            # HEALPix pixels larger than the patch's: no sub-sampling
            centre_lat_deg=centres[5, 1],
            oversample=1,
        )
        assert np.allclose(fh["kappa"][12 + 5], patch, rtol=1e-5, atol=1e-7)  # sky 1, patch 5
        assert np.isfinite(full).all() and full.std() > 0
        kappa_mock = fh["kappa"][()]
    # A training simulation: same kappa, no shell patches cut or stored.
    train = make_simulation_maps(
        manifest,
        out_path=tmp_path / "hp_train.h5",
        cosmology=None,
        shells_config=shells,
        lensing_config=lensing,
        role="train",
        base_seed=SEED,
    )
    with h5py.File(train) as fh:
        assert "shells/delta" not in fh and np.array_equal(fh["kappa"][()], kappa_mock)


def test_memory_estimate_grows_with_the_job():
    small = estimate_memory_mb(n_particles=32**3, n_realisations=100, n_shells=10, n_bins=4, n_pix=128)
    big = estimate_memory_mb(n_particles=256**3, n_realisations=1000, n_shells=50, n_bins=4, n_pix=128)
    split = estimate_memory_mb(
        n_particles=256**3, n_realisations=1000, n_shells=50, n_bins=4, n_pix=128, ranks=8
    )
    assert 256 < small < split < big
    # 1000 realisations x (50 shells + 8 maps) x 64 kB, twice, on one rank: ~7 GB.
    assert 6000 < big < 12000


def test_split_range_covers_every_realisation_once():
    for n in (0, 1, 5, 1000):
        for size in (1, 2, 3, 7):
            parts = [list(split_range(n, size, r)) for r in range(size)]
            assert [r for part in parts for r in part] == list(range(n))
            assert max(map(len, parts)) - min(map(len, parts)) <= 1


def _dump(path: Path) -> dict[str, bytes]:
    """Every dataset's bytes and every attribute except the provenance record (times, host, ranks)."""
    out: dict[str, bytes] = {}
    with h5py.File(path) as fh:
        for key, value in fh.attrs.items():
            if key != "provenance":
                out[f"@{key}"] = np.asarray(value).tobytes() if not isinstance(value, str) else value.encode()

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj.dtype.str.encode() + str(obj.shape).encode() + obj[()].tobytes()

        fh.visititems(visit)
    return out


@pytest.mark.mpi
def test_output_is_byte_identical_for_1_2_and_3_ranks(simulation, tmp_path):
    manifest, lensing = simulation.manifest, simulation.lensing
    mpiexec = Path(sys.executable).parent / "mpiexec"
    if not mpiexec.exists():
        mpiexec = shutil.which("mpiexec")
        if mpiexec is None:
            pytest.skip("no mpiexec")
    grid = tmp_path / "grid.csv"
    grid.write_text("id,omega_m,sigma8,role,n_sims\nc000,0.3,0.8,test,1\n")
    demo = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "demo.yaml").read_text())
    # Only the blocks this stage reads (other stages' cross-checks do not concern this test).
    config = {key: demo[key] for key in ("run", "cosmology", "simulations", "ingest")}
    config["cosmology"]["grid"] = str(grid)
    config["cosmology"].pop("mock_overrides", None)  # names the demo grid's mock cosmologies
    config["run"]["seed"] = SEED
    config["shells"] = {**SHELLS, "n_realisations": 7}
    config["lensing"] = lensing
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    outputs = {}
    # (ranks, realisations): 3 ranks for 2 realisations leaves one rank without work.
    for ranks, n_real in ((1, 7), (2, 7), (3, 7), (1, 2), (3, 2)):
        out = tmp_path / f"maps_{ranks}_{n_real}.h5"
        cmd = [
            str(mpiexec),
            "-n",
            str(ranks),
            sys.executable,
            "-m",
            "wlcnn.maps.mpi",
            "--config",
            str(cfg),
            "--manifest",
            str(manifest),
            "--out",
            str(out),
            "--n-realisations",
            str(n_real),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        outputs[ranks, n_real] = _dump(out)
        assert read_map_attrs(out)["provenance"]["extra"]["mpi_ranks"] == ranks
    assert outputs[1, 7]["@role"] == b"test"  # looked up in the grid
    for ranks, n_real in ((2, 7), (3, 7), (3, 2)):
        ref = outputs[1, n_real]
        assert outputs[ranks, n_real].keys() == ref.keys()
        differing = [k for k in ref if ref[k] != outputs[ranks, n_real][k]]
        assert not differing, f"{ranks} ranks differ in {differing}"
