"""The seed paper's Table 2 network: its parameter count and shapes, training with resume,
and the invariance to a constant background that the stamp normalisation gives."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from wlcnn.shapes.estimator import (
    MODEL_FILE,
    SEED_PAPER_PARAMETERS,
    build_shear_cnn,
    load_estimator,
    measure_cnn,
    train_shear_estimator,
)
from wlcnn.shapes.settings import estimator_settings
from wlcnn.training.history import read_history

pytest.importorskip("tensorflow")

STAMP = 32
#: Output shape and parameters of each layer of Table 2 (seed paper 002).
TABLE_2 = [
    ((10, 10, 64), 1664),
    ((10, 10, 40), 2600),
    ((10, 10, 10), 410),
    ((100,), 100_100),
    ((30,), 3030),
    ((2,), 62),
]
SEED = 3


def test_the_network_is_table_2_of_the_seed_paper():
    model = build_shear_cnn(stamp_size=STAMP, dropout=0.1)
    assert model.count_params() == SEED_PAPER_PARAMETERS == 107_866
    weighted = [layer for layer in model.layers if layer.count_params()]
    assert [(tuple(layer.output.shape[1:]), layer.count_params()) for layer in weighted] == TABLE_2


def test_training_resumes_from_its_checkpoint_and_measures(tmp_path: Path, demo_config):
    rng = np.random.default_rng(0)
    stamps = rng.normal(size=(64, STAMP, STAMP)).astype(np.float32)
    shear = rng.uniform(-0.2, 0.2, size=(64, 2))
    base = replace(estimator_settings(demo_config), batch_size=8, checkpoint_every=2, strategy="default")
    fingerprint = {"test": 1}
    first = train_shear_estimator(
        stamps,
        shear,
        settings=replace(base, steps=4),
        seed=SEED,
        out_dir=tmp_path,
        fingerprint_config=fingerprint,
    )
    assert first["resumed_from"] == 0 and first["n_parameters"] == SEED_PAPER_PARAMETERS
    more = train_shear_estimator(
        stamps,
        shear,
        settings=replace(base, steps=6),
        seed=SEED,
        out_dir=tmp_path,
        fingerprint_config=fingerprint,
    )
    assert more["resumed_from"] == 4
    assert [row["step"] for row in read_history(tmp_path / "history.csv")][-1] == 6
    model = load_estimator(tmp_path / MODEL_FILE)
    g = measure_cnn(model, stamps[:5], batch_size=4)
    assert g.shape == (5, 2) and np.isfinite(g).all()
    # each stamp is normalised first: a constant background changes nothing
    np.testing.assert_allclose(measure_cnn(model, stamps[:5] + 100.0, batch_size=4), g, atol=1e-4)
    # another configuration does not resume from these checkpoints
    other = train_shear_estimator(
        stamps,
        shear,
        settings=replace(base, steps=2),
        seed=SEED,
        out_dir=tmp_path,
        fingerprint_config={"test": 2},
    )
    assert other["resumed_from"] == 0


def test_training_is_reproducible_bit_for_bit(tmp_path: Path, demo_config):
    # the CI compares a local and a SLURM demo bit for bit: same seed, same network
    rng = np.random.default_rng(1)
    stamps = rng.normal(size=(32, STAMP, STAMP)).astype(np.float32)
    shear = rng.uniform(-0.2, 0.2, size=(32, 2))
    settings = replace(
        estimator_settings(demo_config), steps=3, batch_size=8, checkpoint_every=3, strategy="default"
    )
    measured = []
    for run in ("a", "b"):
        train_shear_estimator(
            stamps,
            shear,
            settings=settings,
            seed=SEED,
            out_dir=tmp_path / run,
            fingerprint_config={"test": 3},
        )
        measured.append(measure_cnn(load_estimator(tmp_path / run / MODEL_FILE), stamps, batch_size=16))
    np.testing.assert_array_equal(measured[0], measured[1])
