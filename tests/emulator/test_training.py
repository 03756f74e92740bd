"""Adversarial training: seeded determinism, resume equals an uninterrupted run, selection."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from wlcnn.emulator.settings import EmulatorSettings
from wlcnn.emulator.training import HISTORY_COLUMNS, snapshot_name, train_gan
from wlcnn.training.distribute import make_distribution

N_PIX, N_BINS, N_MAPS = 16, 4, 24
SETTINGS = EmulatorSettings(
    n_pix=N_PIX,
    latent_dim=8,
    base_filters=2,
    kernel_size=3,
    n_steps=4,
    batch_size=8,
    checkpoint_every=2,
    select_every=2,
    log_every=1,
)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    maps = np.tanh(rng.normal(size=(N_MAPS, N_PIX, N_PIX, N_BINS))).astype(np.float32)
    cond = rng.uniform(-1, 1, size=(N_MAPS, 2)).astype(np.float32)
    return maps, cond


def _weights(model: object) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.get_weights()]  # type: ignore[attr-defined]


def _train(
    tmp: Path, data: tuple[np.ndarray, np.ndarray], settings: EmulatorSettings, *, seed: int = 3
) -> object:
    # a score that prefers the later snapshot: selection must load the step-4 weights
    return train_gan(
        data[0],
        data[1],
        settings=settings,
        seed=seed,
        out_dir=tmp / "out",
        checkpoint_dir=tmp / "ckpt",
        score=lambda g: 1.0 / (1.0 + float(np.abs(_weights(g)[0]).sum())),
        distribution=make_distribution(kind="default"),
    )


@pytest.fixture(scope="module")
def whole(
    tmp_path_factory: pytest.TempPathFactory, data: tuple[np.ndarray, np.ndarray]
) -> tuple[Path, object]:
    """One uninterrupted run, shared by the tests (training costs seconds)."""
    tmp = tmp_path_factory.mktemp("whole")
    return tmp, _train(tmp, data, SETTINGS)


def test_seeded_runs_agree_and_seeds_matter(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray], whole: tuple[Path, object]
) -> None:
    a = whole[1]
    b = _train(tmp_path / "b", data, SETTINGS)
    c = _train(tmp_path / "c", data, SETTINGS, seed=4)
    for wa, wb in zip(_weights(a.generator), _weights(b.generator), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(_weights(a.generator)[0], _weights(c.generator)[0])
    rows = list(csv.DictReader((whole[0] / "out" / "history.csv").open()))
    assert tuple(rows[0]) == HISTORY_COLUMNS
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert [bool(r["ps_chi2"]) for r in rows] == [False, True, False, True]
    assert all(np.isfinite(float(r["loss_discriminator"])) for r in rows)
    assert (whole[0] / "ckpt" / snapshot_name(2)).is_file()


def test_resume_equals_uninterrupted(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray], whole: tuple[Path, object]
) -> None:
    uninterrupted = whole[1]
    # the same run cut after step 2 (its checkpoint), then rerun to step 4 in the same directories
    first = _train(tmp_path / "cut", data, dataclasses.replace(SETTINGS, n_steps=2))
    assert first.start_step == 0
    resumed = _train(tmp_path / "cut", data, SETTINGS)
    assert resumed.start_step == 2
    assert resumed.selected_step == uninterrupted.selected_step
    for wa, wb in zip(_weights(uninterrupted.generator), _weights(resumed.generator), strict=True):
        np.testing.assert_allclose(wa, wb, rtol=0, atol=1e-6)
    assert [r["step"] for r in resumed.history] == [r["step"] for r in uninterrupted.history]


def test_unconditional_run_and_condition_mismatch(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray]
) -> None:
    settings = dataclasses.replace(SETTINGS, conditional=False, n_steps=1)
    out = train_gan(
        data[0], None, settings=settings, seed=1, out_dir=tmp_path / "o", checkpoint_dir=tmp_path / "k"
    )
    assert out.selected_step == 1
    with pytest.raises(ValueError, match=r"conditions: expected None .* found values"):
        train_gan(
            data[0],
            data[1],
            settings=settings,
            seed=1,
            out_dir=tmp_path / "o2",
            checkpoint_dir=tmp_path / "k2",
        )
