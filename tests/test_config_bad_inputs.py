"""Bad configurations get one clear error from ``wlcnn config`` (issue 11, item 4).

Each case is the demo configuration with one thing broken, checked through the command line:
exit code 2, a message that names the configuration file, the field, what was expected and what
was found, no traceback, and nothing written.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from wlcnn.cli import main

REPO = Path(__file__).resolve().parents[1]
Config = dict[str, Any]


@pytest.fixture(scope="module")
def demo() -> Config:
    return yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


def _refused(cfg: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``wlcnn config`` on ``cfg``; assert exit 2, no traceback, nothing written; the message."""
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    before = set(tmp_path.rglob("*"))
    assert main(["config", str(path), "--base-dir", str(REPO)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no "valid"
    err = captured.err
    assert err.startswith(f"wlcnn config: error: invalid configuration {path}")
    assert "Traceback" not in err
    assert set(tmp_path.rglob("*")) == before
    return err


def _set_redshifts(value: Any) -> Callable[[Config], None]:
    def edit(cfg: Config) -> None:
        cfg["simulations"]["output_redshifts"] = value

    return edit


REDSHIFT_CASES = {
    "increasing": ([0.0, 0.5, 1.0], "expected strictly decreasing redshifts", "[0.0, 0.5, 1.0]"),
    "repeated": ([1.0, 0.5, 0.5, 0.0], "expected strictly decreasing redshifts", "[1.0, 0.5, 0.5, 0.0]"),
    "nan_in_list": ([1.0, math.nan, 0.0], "expected finite redshifts", "nan"),
    "infinite_z_max": (
        {"z_max": math.inf, "z_switch": 0.6, "dz_high": 0.1, "dz_low": 0.075},
        "expected finite redshifts",
        "inf",
    ),
    "z_switch_above_z_max": (
        {"z_max": 0.5, "z_switch": 1.0, "dz_high": 0.1, "dz_low": 0.05},
        "expected z_switch <= z_max",
        "z_switch = 1.0 > z_max = 0.5",
    ),
}


@pytest.mark.parametrize("case", sorted(REDSHIFT_CASES))
def test_malformed_output_redshifts(demo, tmp_path, capsys, case) -> None:
    value, expected, found = REDSHIFT_CASES[case]
    cfg = copy.deepcopy(demo)
    _set_redshifts(value)(cfg)
    err = _refused(cfg, tmp_path, capsys)
    problems = [line for line in err.splitlines() if line.startswith("  - ")]
    # exactly one problem: later checks that compute redshifts do not trip over it
    assert len(problems) == 1, err
    assert problems[0].startswith("  - simulations.output_redshifts: ")
    assert expected in problems[0] and "found" in problems[0] and found in problems[0]


def test_missing_nz_file(demo, tmp_path, capsys) -> None:
    cfg = copy.deepcopy(demo)
    cfg["lensing"]["nz_files"][2] = "data/demo/nz/nz_bin9.txt"
    err = _refused(cfg, tmp_path, capsys)
    assert "lensing.nz_files[2]: expected an existing file" in err
    assert f"{REPO / 'data/demo/nz/nz_bin9.txt'} does not exist" in err


def test_nz_file_that_is_a_directory(demo, tmp_path, capsys) -> None:
    cfg = copy.deepcopy(demo)
    cfg["lensing"]["nz_files"][0] = "data/demo/nz/bootstrap"
    err = _refused(cfg, tmp_path, capsys)
    assert "lensing.nz_files[0]: expected a file, found a directory" in err
    assert str(REPO / "data/demo/nz/bootstrap") in err


def test_missing_survey_catalogue(demo, tmp_path, capsys) -> None:
    cfg = copy.deepcopy(demo)
    del cfg["survey"]["mock"]  # a real catalogue is read, so it must be there
    cfg["survey"]["catalogue"] = str(tmp_path / "KiDS-450.fits")
    err = _refused(cfg, tmp_path, capsys)
    assert f"survey.catalogue: expected an existing file, {tmp_path / 'KiDS-450.fits'} does not exist" in err


def test_missing_file_in_a_catalogue_list(demo, tmp_path, capsys) -> None:
    present = tmp_path / "G9.fits"
    present.write_bytes(b"")
    cfg = copy.deepcopy(demo)
    del cfg["survey"]["mock"]
    cfg["survey"]["catalogue"] = [str(present), str(tmp_path / "G12.fits")]
    err = _refused(cfg, tmp_path, capsys)
    assert f"survey.catalogue[1]: expected an existing file, {tmp_path / 'G12.fits'} does not exist" in err
    assert "survey.catalogue[0]" not in err


def test_missing_grid_file(demo, tmp_path, capsys) -> None:
    cfg = copy.deepcopy(demo)
    cfg["cosmology"]["grid"] = "config/grids/nowhere.csv"
    err = _refused(cfg, tmp_path, capsys)
    assert (
        f"cosmology.grid: expected an existing file, {REPO / 'config/grids/nowhere.csv'} does not exist"
        in err
    )


def test_unknown_placeholder_in_snapshot_pattern(demo, tmp_path, capsys) -> None:
    cfg = copy.deepcopy(demo)
    cfg["simulations"]["snapshot_pattern"] = "{cosmo}/{simulation}/snapshot_{snapshot:03d}"
    err = _refused(cfg, tmp_path, capsys)
    assert (
        "simulations.snapshot_pattern: expected placeholders among ['cosmology', 'simulation', 'snapshot'], "
        "found ['cosmo']" in err
    )


def test_mock_survey_needs_no_catalogue_file(demo, tmp_path, capsys) -> None:
    """With survey.mock the catalogue is made by the workflow: its absence is no error."""
    cfg = copy.deepcopy(demo)
    cfg["survey"]["catalogue"] = str(tmp_path / "not yet made.fits")
    path = tmp_path / "mock.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["config", str(path), "--base-dir", str(REPO)]) == 0
    assert "valid" in capsys.readouterr().out
