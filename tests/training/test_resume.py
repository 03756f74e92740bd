"""Checkpoints through the command line: SIGKILL and rerun, SIGTERM checkpoint and exit status."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import yaml

from wlcnn.training import load_trained_model, train_network
from wlcnn.training.forward import StandInForwardModel
from wlcnn.training.history import read_history
from wlcnn.training.synthetic import write_synthetic_map_files

REPO = Path(__file__).resolve().parents[2]
COSMOLOGIES = [(0.2, 0.9), (0.3, 0.8), (0.4, 0.7), (0.25, 0.6)]
CHECKPOINT_EVERY = 5
#: Long enough never to finish before the test interrupts it.
ENDLESS = 100_000
TRAINING = {
    "networks": ["tiny"],
    "n_steps": ENDLESS,
    "cosmologies_per_step": 4,
    "learning_rate": 1e-3,
    "log_every": 1,
    "validation_every": 1000,
    "checkpoint_every": CHECKPOINT_EVERY,
    "keep_checkpoints": 3,
}
#: demo.yaml's run.seed and survey.n_patches (what the command line uses).
SEED, N_PATCHES = 42, 4
TIMEOUT_S = 180


@pytest.fixture(scope="module")
def maps(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    train, test = write_synthetic_map_files(
        tmp_path_factory.mktemp("maps"), cosmologies=COSMOLOGIES, n_realisations=5, n_bins=2, n_pix=16, seed=6
    )
    return train + test


def _config(tmp: Path) -> Path:
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    assert cfg["run"]["seed"] == SEED and cfg["survey"]["n_patches"] == N_PATCHES
    cfg["cosmology"]["grid"] = str(REPO / cfg["cosmology"]["grid"])
    cfg["training"] = TRAINING
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _command(config: Path, maps: list[Path], out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "wlcnn.training",
        "--config",
        str(config),
        "--network",
        "tiny",
        "--maps",
        *map(str, maps),
        "--out",
        str(out),
        "--log",
        str(out.parent / "train.log"),
        *extra,
    ]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


def _latest_step(ckpt_dir: Path) -> int:
    latest = tf.train.latest_checkpoint(str(ckpt_dir))
    return int(latest.rsplit("-", 1)[1]) if latest else 0


def _start_and_wait_for_checkpoint(cmd: list[str], ckpt_dir: Path, *, min_step: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + TIMEOUT_S
    while _latest_step(ckpt_dir) < min_step:
        if proc.poll() is not None:
            pytest.fail(f"training exited early ({proc.returncode}): {proc.stderr.read()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("no checkpoint in time")
        time.sleep(0.02)
    return proc


def test_sigkill_then_rerun_reaches_the_steps_and_the_uninterrupted_loss(
    maps: list[Path], tmp_path: Path
) -> None:
    config, out = _config(tmp_path), tmp_path / "out"
    proc = _start_and_wait_for_checkpoint(
        _command(config, maps, out), out / "checkpoints", min_step=2 * CHECKPOINT_EVERY
    )
    time.sleep(0.1)  # let it run past the checkpoint
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    saved = _latest_step(out / "checkpoints")
    done = read_history(out / "history.csv")[-1]["step"]  # a row per step: steps done before the kill
    assert done - saved <= CHECKPOINT_EVERY, (done, saved)
    total = saved + 7
    rerun = subprocess.run(
        _command(config, maps, out, "--steps", str(total)),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    log = (tmp_path / "train.log").read_text()
    assert f"(step {saved} of {total})" in log
    rows = read_history(out / "history.csv")
    assert rows[-1]["step"] == total and [r["step"] for r in rows] == list(range(1, total + 1))
    # The uninterrupted run of the same configuration, in this process.
    whole = train_network(
        train_files=maps[: len(COSMOLOGIES)],
        validation_files=maps[len(COSMOLOGIES) :],
        out_dir=tmp_path / "whole",
        preset="tiny",
        training_config={**TRAINING, "n_steps": total},
        base_seed=SEED,
        n_patches=N_PATCHES,
        forward_model=StandInForwardModel(),
    )
    resumed = load_trained_model(out / "model.keras")
    for x, y in zip(resumed.get_weights(), whole.model.get_weights(), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)
    assert rows[-1]["val_loss"] == pytest.approx(whole.final_val_loss, rel=1e-4, abs=1e-5)
    np.testing.assert_allclose(
        [r["train_loss"] for r in rows],
        [r["train_loss"] for r in read_history(whole.history_path)],
        rtol=1e-4,
        atol=1e-5,
    )


def test_sigterm_saves_a_checkpoint_and_exits_143(maps: list[Path], tmp_path: Path) -> None:
    config, out = _config(tmp_path), tmp_path / "out"
    proc = _start_and_wait_for_checkpoint(
        _command(config, maps, out), out / "checkpoints", min_step=CHECKPOINT_EVERY
    )
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    match = re.search(r"stopped by signal SIGTERM after step (\d+)", (tmp_path / "train.log").read_text())
    assert match, (tmp_path / "train.log").read_text()[-3000:]
    step = int(match.group(1))
    assert _latest_step(out / "checkpoints") == step
    assert read_history(out / "history.csv")[-1]["step"] == step


def test_rerun_after_outputs_were_removed_restores_the_history(maps: list[Path], tmp_path: Path) -> None:
    # `snakemake --forcerun train_network` deletes model.keras and history.csv but not the
    # checkpoints: the rerun resumes at the last step and must still deliver both outputs.
    kwargs = {
        "train_files": maps[: len(COSMOLOGIES)],
        "validation_files": maps[len(COSMOLOGIES) :],
        "out_dir": tmp_path / "out",
        "preset": "tiny",
        "training_config": {**TRAINING, "n_steps": 2 * CHECKPOINT_EVERY},
        "base_seed": SEED,
        "n_patches": N_PATCHES,
        "forward_model": StandInForwardModel(),
    }
    first = train_network(**kwargs)
    rows = read_history(first.history_path)
    first.model_path.unlink()
    first.history_path.unlink()
    again = train_network(**kwargs)
    assert again.resumed_from == 2 * CHECKPOINT_EVERY and again.model_path.is_file()
    assert read_history(again.history_path) == rows
