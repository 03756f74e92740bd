"""``python -m wlcnn.inference``: the workflow's commands end to end with stand-in network and surveys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wlcnn.inference.cli import main
from wlcnn.inference.summaries import read_data_vector, read_summaries

REPO = Path(__file__).resolve().parents[2]
TOY = "wlcnn.inference.toy"


def _config(tmp: Path, *, blind: bool) -> Path:
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["run"]["output_dir"] = str(tmp / "results")
    cfg["inference"].update(
        n_surveys=30,
        n_a_ia=3,
        sampler={"n_walkers": 16, "n_steps": 500, "n_burn": 150, "thin": 1},
        grid_shape=[20, 20, 9],
        blind=blind,
        ps_n_ell_bins=2,
    )
    path = tmp / f"config_{'blind' if blind else 'clear'}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _run(*args: str) -> None:
    assert main([*args]) == 0


def test_help_lists_the_subcommands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wlcnn.inference", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0
    for cmd in ("summaries", "data", "merge", "combine", "constrain", "compare", "unblind"):
        assert cmd in result.stdout


def test_chain_of_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, blind=False)
    common = ["--config", str(cfg), "--base-dir", str(REPO)]
    out = tmp_path / "inference"
    for label in ("net_a", "net_b"):
        _run(
            "summaries",
            *common,
            "--label",
            label,
            "--predictor",
            f"{TOY}:predictor_factory",
            "--surveys",
            f"{TOY}:survey_factory",
            "--out",
            str(out / f"{label}.h5"),
        )
        _run(
            "data",
            *common,
            "--label",
            label,
            "--predictor",
            f"{TOY}:predictor_factory",
            "--observation",
            f"{TOY}:observation_factory",
            "--out",
            str(out / f"{label}_data.h5"),
        )
    a = read_summaries(out / "net_a.h5")
    assert a.predictions.shape == (6, 3, 30, 4)  # 6 demo test cosmologies, 3 A_IA, 30 surveys
    assert read_data_vector(out / "net_a_data.h5").data.shape == (4,)
    # Per-cosmology jobs merge into the same file.
    _run(
        "summaries",
        *common,
        "--label",
        "net_a",
        "--predictor",
        f"{TOY}:predictor_factory",
        "--surveys",
        f"{TOY}:survey_factory",
        "--cosmologies",
        "c000",
        "--out",
        str(out / "part0.h5"),
    )
    assert read_summaries(out / "part0.h5").cosmology_ids == ("c000",)

    _run(
        "combine",
        "--label",
        "combined",
        "--summaries",
        str(out / "net_a.h5"),
        str(out / "net_b.h5"),
        "--out",
        str(out / "combined.h5"),
        "--data",
        str(out / "net_a_data.h5"),
        str(out / "net_b_data.h5"),
        "--data-out",
        str(out / "combined_data.h5"),
    )
    assert read_summaries(out / "combined.h5").predictions.shape[-1] == 8

    for label in ("net_a", "combined"):
        _run(
            "constrain",
            *common,
            "--summaries",
            str(out / f"{label}.h5"),
            "--data",
            str(out / f"{label}_data.h5"),
            "--label",
            label,
            "--out",
            str(out / "results" / label),
            "--truth-cosmology",
            "mock00",
        )
    row = json.loads((out / "results" / "net_a" / "constraints.json").read_text())["rows"][0]
    assert row["blinded"] is False and row["truth"]["omega_m"] == pytest.approx(0.25)
    assert "S8 =" in capsys.readouterr().out

    _run(
        "compare",
        *common,
        "--tables",
        str(out / "results" / "net_a" / "constraints.json"),
        str(out / "results" / "combined" / "constraints.json"),
        "--out-plot",
        str(out / "s8.png"),
        "--out-json",
        str(out / "all.json"),
        "--out-md",
        str(out / "all.md"),
        "--published",
        "--truth-cosmology",
        "mock00",
    )
    rows = json.loads((out / "all.json").read_text())["rows"]
    assert [r["analysis"] for r in rows] == ["net_a", "combined"]
    assert (out / "s8.png").stat().st_size > 1000


def test_power_spectrum_predictor_and_blinded_cli(tmp_path: Path) -> None:
    import numpy as np

    from wlcnn.inference.cli import _predictor

    cfg_path = _config(tmp_path, blind=True)
    cfg = yaml.safe_load(cfg_path.read_text())
    ps = _predictor("power_spectrum", config=cfg, label="ps", base_dir=REPO)
    out = ps(np.random.default_rng(0).normal(size=(2, 128, 128, 12)))
    assert out.shape == (2, 10 * 2)  # 4 bins: 10 spectra x ps_n_ell_bins = 2

    common = ["--config", str(cfg_path), "--base-dir", str(REPO)]
    out_dir = tmp_path / "inference"
    _run(
        "summaries",
        *common,
        "--label",
        "net_a",
        "--predictor",
        f"{TOY}:predictor_factory",
        "--surveys",
        f"{TOY}:survey_factory",
        "--out",
        str(out_dir / "s.h5"),
    )
    _run(
        "data",
        *common,
        "--label",
        "net_a",
        "--predictor",
        f"{TOY}:predictor_factory",
        "--observation",
        f"{TOY}:observation_factory",
        "--out",
        str(out_dir / "d.h5"),
    )
    _run(
        "constrain",
        *common,
        "--summaries",
        str(out_dir / "s.h5"),
        "--data",
        str(out_dir / "d.h5"),
        "--label",
        "net_a",
        "--out",
        str(out_dir / "res"),
        "--fixed-covariance-near",
        "mock00",
    )
    table = json.loads((out_dir / "res" / "constraints.json").read_text())
    assert table["blinded"] is True and table["rows"][0]["fixed_covariance"]["a_ia"] == 0.0
    assert (tmp_path / "results" / "blinding" / "secret.json").is_file()
    _run("unblind", *common, "--results", str(out_dir / "res"), "--reason", "test", "--by", "ci", "--confirm")
    assert json.loads((out_dir / "res" / "unblinded" / "constraints.json").read_text())["blinded"] is False
    assert json.loads((out_dir / "res" / "unblinding.json").read_text())[0]["by"] == "ci"
