"""The science configuration (issue 14, item 1): what it promises, checked without running it.

``config/science.yaml`` must validate, its grid must be the one ``wlcnn grid`` writes for the
command quoted in the configuration (regenerated here and compared byte for byte), with >= 25
cosmologies on lines of constant Sigma8 = sigma8 (Omega_m / 0.3)^0.6 inside the prior box, >= 2
training and >= 1 test simulation each and the mock observation inside the grid's hull. A
Snakemake dry run of one map file says which outputs it would delete as temporary: every raw and
ingested snapshot of the science run, none of the demo's (the default keeps them).
"""

from __future__ import annotations

import copy
import os
import re
import shlex
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from scipy.spatial import Delaunay

from wlcnn.cli import main
from wlcnn.config import ConfigError, output_redshifts, validate_config

REPO = Path(__file__).resolve().parents[2]
SCIENCE = REPO / "config" / "science.yaml"
DEMO = REPO / "config" / "demo.yaml"
#: What issue 14 asks of the science grid.
MIN_COSMOLOGIES = 25
MIN_TRAIN_SIMS = 2
MIN_TEST_SIMS = 1
#: Sigma8 = sigma8 (Omega_m / PIVOT)^ALPHA: the lines the grid lies on (Fluri et al. 2019).
PIVOT_OMEGA_M = 0.3
ALPHA = 0.6
#: The grid CSV holds 6 decimals: Sigma8 of one line agrees to this relative tolerance.
LINE_RTOL = 1e-5
#: Points per constant-Sigma8 line, at least (a line of one point is no line).
MIN_POINTS_PER_LINE = 3
DRY_RUN_TIMEOUT_S = 240
TEMP_LINE = re.compile(r"^Would remove temporary output (\S+)$", re.MULTILINE)


@pytest.fixture(scope="module")
def science() -> dict[str, Any]:
    return yaml.safe_load(SCIENCE.read_text())


def _grid_rows(path: Path) -> list[dict[str, str]]:
    """The grid CSV's rows, read without the project's reader (an independent look)."""
    header, *lines = path.read_text().strip().splitlines()
    names = header.split(",")
    return [dict(zip(names, line.split(","), strict=True)) for line in lines]


def _nodes(rows: list[dict[str, str]]) -> dict[str, dict[str, Any]]:
    """Per cosmology id: (omega_m, sigma8) and its number of simulations per role."""
    nodes: dict[str, dict[str, Any]] = {}
    for row in rows:
        node = nodes.setdefault(
            row["id"],
            {"omega_m": float(row["omega_m"]), "sigma8": float(row["sigma8"]), "sims": defaultdict(int)},
        )
        node["sims"][row["role"]] += int(row["n_sims"])
    return nodes


def test_science_config_validates(science: dict[str, Any]) -> None:
    validate_config(copy.deepcopy(science), source=str(SCIENCE), base_dir=REPO, check_files=True)
    assert science["run"]["keep_snapshots"] is False


def test_grid_is_what_wlcnn_grid_writes_for_the_quoted_command(
    science: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = SCIENCE.read_text()
    # the command in the comment above cosmology.grid, continued with a backslash
    match = re.search(r"#\s*(wlcnn grid .*?\\\n\s*#\s*.*?)\n", text)
    assert match, "config/science.yaml quotes no 'wlcnn grid' command"
    command = re.sub(r"\\\n\s*#\s*", " ", match.group(1))
    args = shlex.split(command)[2:]
    out = args.index("-o")
    assert args[out + 1] == science["cosmology"]["grid"]
    args[out + 1] = str(tmp_path / "grid.csv")
    prior = science["cosmology"]["prior"]
    args += ["--prior-omega-m", *map(str, prior["omega_m"]), "--prior-sigma8", *map(str, prior["sigma8"])]
    assert main(["grid", *args]) == 0
    capsys.readouterr()
    assert (tmp_path / "grid.csv").read_bytes() == (REPO / science["cosmology"]["grid"]).read_bytes()


def test_grid_has_enough_cosmologies_on_constant_sigma8_lines_inside_the_prior(
    science: dict[str, Any],
) -> None:
    nodes = _nodes(_grid_rows(REPO / science["cosmology"]["grid"]))
    grid = {cid: n for cid, n in nodes.items() if "mock" not in n["sims"]}
    assert len(grid) >= MIN_COSMOLOGIES
    prior = science["cosmology"]["prior"]
    (om_lo, om_hi), (s8_lo, s8_hi) = prior["omega_m"], prior["sigma8"]
    for cid, n in grid.items():
        assert om_lo <= n["omega_m"] <= om_hi and s8_lo <= n["sigma8"] <= s8_hi, cid
        sims = dict(n["sims"])
        assert sims.get("train", 0) >= MIN_TRAIN_SIMS and sims.get("test", 0) >= MIN_TEST_SIMS, (cid, sims)
    # every node lies on a line of constant Sigma8 shared by several nodes
    big_sigma8 = np.array([n["sigma8"] * (n["omega_m"] / PIVOT_OMEGA_M) ** ALPHA for n in grid.values()])
    lines: list[list[float]] = []
    for value in np.sort(big_sigma8):
        if lines and np.isclose(value, lines[-1][0], rtol=LINE_RTOL, atol=0.0):
            lines[-1].append(value)
        else:
            lines.append([value])
    assert all(len(line) >= MIN_POINTS_PER_LINE for line in lines), [len(line) for line in lines]
    assert len(lines) * MIN_POINTS_PER_LINE <= len(grid)
    # the mock observation lies inside the grid's hull: its likelihood interpolates, never extrapolates
    mocks = [n for n in nodes.values() if "mock" in n["sims"]]
    assert mocks
    hull = Delaunay(np.array([[n["omega_m"], n["sigma8"]] for n in grid.values()]))
    assert (hull.find_simplex(np.array([[m["omega_m"], m["sigma8"]] for m in mocks])) >= 0).all()


def _absolute(cfg: dict[str, Any], output_dir: Path) -> dict[str, Any]:
    """The configuration with its output in ``output_dir`` and its input paths absolute."""
    cfg = copy.deepcopy(cfg)
    cfg["run"]["output_dir"] = str(output_dir)
    cfg["cosmology"]["grid"] = str(REPO / cfg["cosmology"]["grid"])
    lensing = cfg["lensing"]
    lensing["nz_files"] = [str(REPO / p) for p in lensing["nz_files"]]
    lensing["nz_bootstrap_pattern"] = str(REPO / lensing["nz_bootstrap_pattern"])
    cfg["survey"]["catalogue"] = str(output_dir / "survey" / "mock_observation.fits")
    return cfg


def _temporary_outputs(cfg: dict[str, Any], tmp_path: Path) -> tuple[Path, set[Path]]:
    """Dry run of one map file: its output directory and the outputs it would delete as temp."""
    out = tmp_path / "results"
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(_absolute(cfg, out)))
    target = out / "maps" / "c000" / "sim00.h5"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--configfile",
        str(config_file),
        "--cores",
        "1",
        "--nolock",
        "-n",
        str(target),
    ]
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=DRY_RUN_TIMEOUT_S, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not out.exists()  # a dry run writes no output
    return out, {Path(p) for p in TEMP_LINE.findall(done.stdout + done.stderr)}


def test_science_snapshots_are_temporary_and_the_maps_stay(science: dict[str, Any], tmp_path: Path) -> None:
    out, temporary = _temporary_outputs(science, tmp_path)
    n_snap = len(output_redshifts(science["simulations"]["output_redshifts"]))
    sim, ingested = out / "simulations" / "c000" / "sim00", out / "ingested" / "c000" / "sim00"
    expected = {sim / f"snapshot_{i:03d}" for i in range(n_snap)} | {
        ingested / f"snapshot_{i:03d}.h5" for i in range(n_snap)
    }
    assert temporary == expected
    assert ingested / "manifest.json" not in temporary


def test_demo_keeps_its_snapshots_by_default(tmp_path: Path) -> None:
    demo = yaml.safe_load(DEMO.read_text())
    assert demo["run"].get("keep_snapshots", True) is True
    _, temporary = _temporary_outputs(demo, tmp_path)
    assert temporary == set()


def test_keep_snapshots_must_be_a_boolean(science: dict[str, Any]) -> None:
    cfg = copy.deepcopy(science)
    cfg["run"]["keep_snapshots"] = "no"
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, source="science.yaml", base_dir=REPO, check_files=False)
    message = str(err.value)
    for part in ("science.yaml", "run.keep_snapshots", "boolean", "'no'"):
        assert part in message, message
