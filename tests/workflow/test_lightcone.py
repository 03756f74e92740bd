"""The workflow builds a map file from a PkdGrav3 light cone (shells.source), with no ingestion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
import yaml

from wlcnn.config import ConfigError, validate_config
from wlcnn.maps.mapfile import read_map_attrs
from wlcnn.survey.settings import MOCK_OBSERVATION_KEYS

REPO = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, fixtures: Path) -> dict:
    """config/demo.yaml with one grid cosmology, pointed at the .hpb fixture (only the maps are built)."""
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    grid = tmp_path / "grid.csv"
    # One cosmology, the fixture's (a mock row too: the demo survey observes a mock).
    grid.write_text("id,omega_m,sigma8,role,n_sims\nc000,0.26,0.84,test,1\nc000,0.26,0.84,mock,1\n")
    config["run"].update(name="lightcone", output_dir=str(tmp_path / "results"))
    # these name demo cosmologies and mocks this grid lacks: map comparisons, mock overrides, ray-traced mocks
    config.pop("statistics", None)
    config.pop("emulator", None)  # holds out a demo cosmology this grid lacks
    config["cosmology"].pop("mock_overrides", None)
    for key in MOCK_OBSERVATION_KEYS:
        config["survey"]["mock"].pop(key, None)
    config["cosmology"].update(grid=str(grid), fixed={"omega_b": 0.0493, "h": 0.6736, "n_s": 0.9649})
    config["simulations"] = {
        "code": "pkdgrav3",
        "format": "auto",
        "directory": str(fixtures),
        "lightcone_pattern": "pkdgrav3_N64_healpix/pkd_L128_N64",
        "lightcone_steps_pattern": "reference/pkdgrav3_L128_N64_step_redshift.txt",
        "n_particles_1d": 64,
        "box_size": 128,
        "box_unit": "Mpc/h",
        "z_initial": 49,
        "output_redshifts": [0.05, 0.025, 0.0],
        "redshift_tolerance": 0.005,
    }
    config["shells"].update(
        source="lightcone_healpix",
        mode="healpix",
        n_realisations=1,
        nside=16,
        patch_nside=1,
        store_fullsky=True,
        mpi_tasks=1,
    )
    config["lensing"]["nz_files"] = [str(REPO / p) for p in config["lensing"]["nz_files"]]
    config["lensing"]["nz_bootstrap_pattern"] = str(REPO / config["lensing"]["nz_bootstrap_pattern"])
    return config


def test_lightcone_source_needs_healpix_mode_pkdgrav3_and_one_sky(nbody_fixtures, tmp_path):
    config = _config(tmp_path, nbody_fixtures)
    validate_config(config, base_dir=REPO)
    config["shells"].update(mode="pencil_beam", n_realisations=3)
    config["simulations"]["code"] = "gadget2"
    del config["simulations"]["lightcone_pattern"]
    with pytest.raises(ConfigError) as err:
        validate_config(config, base_dir=REPO)
    text = str(err.value)
    for needed in (
        "requires shells.mode 'healpix'",
        "requires simulations.code 'pkdgrav3'",
        "simulations.lightcone_pattern: required",
        "shells.n_realisations: must be 1",
    ):
        assert needed in text, text
    assert "snapshot_pattern" not in text  # a light cone needs no snapshots


def test_snakemake_builds_the_map_file_from_the_light_cone(nbody_fixtures, tmp_path):
    config = _config(tmp_path, nbody_fixtures)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    target = tmp_path / "results" / "maps" / "c000" / "sim00.h5"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    if os.getuid() == 0:  # Open MPI refuses root unless told
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--configfile",
        str(cfg),
        "--cores",
        "1",
        "--nolock",
        str(target),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    assert "ingest_simulation" not in done.stderr  # no ingestion job
    assert not (tmp_path / "results" / "ingested").exists()
    attrs = read_map_attrs(target)
    assert attrs["source"] == "lightcone_healpix" and attrs["role"] == "test"
    assert attrs["n_realisations"] == 12 and attrs["n_bins"] == 4 and attrs["nside"] == 16
    # 0.05 -> end of step 130, 0.025 -> end of step 135 (within the tolerance), 0.
    assert attrs["lightcone"]["shell_steps"] == [[136, 140], [131, 135]]
    recorded = {Path(r["path"]).name for r in attrs["provenance"]["inputs"]}
    assert "pkd_L128_N64.00133.hpb.1" in recorded and "pkdgrav3_L128_N64_step_redshift.txt" in recorded
    with h5py.File(target) as fh:
        assert fh["kappa"].shape == (12, 4, 128, 128) and fh["shells/delta"].shape == (12, 2, 128, 128)
        assert fh["healpix/kappa"].shape == (1, 4, 12 * 16**2)
    # A dry run of the default target lists the map and no ingestion.
    dry = subprocess.run(
        [*cmd[:-1], "-n"], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path
    )
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "ingest_simulation" not in dry.stdout + dry.stderr
