"""Command line and configuration of the training stage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wlcnn.config import ConfigError, load_config, validate_config
from wlcnn.training.cli import main
from wlcnn.training.history import HistoryWriter, read_history
from wlcnn.training.networks import PRESETS
from wlcnn.training.settings import TrainingSettings, network_config_subset, resume_fingerprint, stages_for

REPO = Path(__file__).resolve().parents[2]


def test_help_lists_the_options() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "wlcnn.training", "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0
    for option in ("--config", "--network", "--maps", "--out", "--patch-maps", "--strategy"):
        assert option in proc.stdout


def test_paper_configuration() -> None:
    cfg = load_config(REPO / "config" / "config.yaml", base_dir=REPO)
    s = TrainingSettings.from_config(cfg["training"])
    assert (s.learning_rate, s.adam_beta1, s.adam_beta2, s.clip_global_norm) == (5e-6, 0.9, 0.999, 100.0)
    assert (s.cosmologies_per_step, s.validation_every, s.a_ia_range) == (8, 250, (-6.0, 6.0))
    assert set(s.networks) <= set(PRESETS)
    # The 25-block net: 1 M noise-free steps, then the noisy steps.
    stages = stages_for(s, "resnet_3x3_25")
    assert [(st.noise, st.steps) for st in stages] == [(False, 1_000_000), (True, s.n_steps)]
    assert [(st.noise, st.steps) for st in stages_for(s, "resnet_3x3_15")] == [(True, s.n_steps)]


def test_demo_configuration_is_small() -> None:
    cfg = load_config(REPO / "config" / "demo.yaml", base_dir=REPO)
    s = TrainingSettings.from_config(cfg["training"])
    assert all(PRESETS[n].channels <= 16 for n in s.networks)
    assert all(stages_for(s, n)[-1].stop <= 1000 for n in s.networks)


def test_schema_rejects_unknown_training_keys() -> None:
    import yaml

    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["training"]["learning_rat"] = 1.0
    cfg["training"]["curriculum"]["tiny"][0]["nois"] = True
    with pytest.raises(ConfigError) as info:
        validate_config(cfg, base_dir=REPO)
    text = str(info.value)
    assert "learning_rat" in text and "nois" in text


def test_fingerprint_ignores_run_length_but_not_the_learning_rate() -> None:
    base = TrainingSettings.from_config({"n_steps": 10})
    fp = resume_fingerprint(network_config_subset(base, "tiny"), stages=stages_for(base, "tiny"))
    longer = TrainingSettings.from_config({"n_steps": 20, "checkpoint_every": 7})
    assert resume_fingerprint(network_config_subset(longer, "tiny"), stages=stages_for(longer, "tiny")) == fp
    other = TrainingSettings.from_config({"n_steps": 10, "learning_rate": 1e-3})
    assert resume_fingerprint(network_config_subset(other, "tiny"), stages=stages_for(other, "tiny")) != fp
    # Another network's curriculum is not part of this network's configuration.
    cur = TrainingSettings.from_config({"n_steps": 10, "curriculum": {"resnet_3x3_25": [{"noise": False}]}})
    assert network_config_subset(cur, "tiny") == network_config_subset(base, "tiny")


def test_history_truncation_and_plot_command(tmp_path: Path) -> None:
    history = HistoryWriter(tmp_path / "h.csv")
    for step in (5, 10, 15):
        history.append(
            {
                "step": step,
                "stage": "noisy",
                "train_loss": 1.0 / step,
                "val_loss": 2.0 if step == 10 else None,
                "grad_norm": 1.0,
                "learning_rate": 1e-3,
                "steps_per_s": 2.0,
                "maps_per_s": 10.0,
                "input_wait": 0.1,
                "skipped": 0,
                "elapsed_s": float(step),
            }
        )
    with open(tmp_path / "h.csv", "a") as fh:
        fh.write("20,noisy,0.05")  # a row cut by a SIGKILL
    history.truncate(10)
    rows = read_history(tmp_path / "h.csv")
    assert [r["step"] for r in rows] == [5, 10] and rows[1]["val_loss"] == 2.0 and rows[0]["val_loss"] is None
    assert (
        main(["plot", "--history", f"tiny={tmp_path / 'h.csv'}", "--out", str(tmp_path / "fig11.png")]) == 0
    )
    assert (tmp_path / "fig11.png").stat().st_size > 1000


def test_bad_configuration_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("run: {name: x}\n")
    assert main(["--config", str(bad), "--network", "tiny", "--maps", "none.h5", "--out", str(tmp_path)]) == 2
