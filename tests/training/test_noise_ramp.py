"""The curriculum's noise ramp and the stage models (issue 14: the noisy stage after pre-training).

A noisy stage may grow the shape noise from 0 to its full amplitude over ``noise_ramp_steps``.
The survey forward model is linear in the noise after the draws, so a survey at amplitude s is
the noise-free survey plus s times the processed noise: checked against the noise-free and the
full-noise surveys of the same seeds. The trainer keeps the network of every stage but the last
(``stages/<stage>.keras``): checked against a run that stops at the end of that stage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from tests.inference.test_survey_sets import small_survey  # noqa: F401 - the shared fixture
from wlcnn.config import ConfigError, validate_config
from wlcnn.inference.survey_sets import forward_model_from_config
from wlcnn.survey.forward_model import TFForwardModel
from wlcnn.training import load_trained_model, train_network
from wlcnn.training.export import stage_model_path
from wlcnn.training.forward import StandInForwardModel, SurveyForwardModel
from wlcnn.training.settings import Stage, TrainingSettings, stages_for
from wlcnn.training.synthetic import write_synthetic_map_files

REPO = Path(__file__).resolve().parents[2]
COSMOLOGIES = [(0.2, 0.9), (0.3, 0.8), (0.4, 0.7), (0.25, 0.6)]
BASE = {
    "cosmologies_per_step": 4,
    "learning_rate": 1e-3,
    "log_every": 2,
    "validation_every": 2,
    "checkpoint_every": 2,
    "keep_checkpoints": 2,
}
#: float32 surveys: differences compared relative to the largest value.
FLOAT32_TOLERANCE = 2e-5


def test_noise_scale_grows_linearly_then_stays_at_one() -> None:
    ramp = Stage("noisy", True, 100, 200, 1e-3, noise_ramp_steps=4)
    # step s of the stage (0-based) trains at amplitude (s + 1) / ramp, at most 1
    assert [ramp.noise_scale(step) for step in range(100, 107)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0]
    assert Stage("noisy", True, 0, 10, 1e-3).noise_scale(0) == 1.0
    assert Stage("clean", False, 0, 10, 1e-3).noise_scale(5) == 0.0


def test_stages_read_the_ramp_and_refuse_it_where_it_means_nothing() -> None:
    settings = TrainingSettings.from_config(
        {
            "n_steps": 30,
            "curriculum": {
                "tiny": [
                    {"name": "clean", "noise": False, "steps": 10},
                    {"noise": True, "noise_ramp_steps": 20},
                ]
            },
        }
    )
    stages = stages_for(settings, "tiny")
    assert [(s.noise, s.noise_ramp_steps, s.start, s.stop) for s in stages] == [
        (False, 0, 0, 10),
        (True, 20, 10, 40),
    ]
    for bad in ({"noise": False, "noise_ramp_steps": 5}, {"noise": True, "noise_ramp_steps": -1}):
        settings = TrainingSettings.from_config({"n_steps": 5, "curriculum": {"tiny": [bad]}})
        with pytest.raises(ValueError, match=r"training\.curriculum\.tiny\[0\]: noise_ramp_steps"):
            stages_for(settings, "tiny")


def test_schema_takes_the_ramp_and_refuses_a_negative_one() -> None:
    import yaml

    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["training"]["curriculum"]["tiny"][-1]["noise_ramp_steps"] = 10
    validate_config(cfg, base_dir=REPO)
    cfg["training"]["curriculum"]["tiny"][-1]["noise_ramp_steps"] = -3
    with pytest.raises(ConfigError) as info:
        validate_config(cfg, base_dir=REPO)
    assert "noise_ramp_steps" in str(info.value) and "-3" in str(info.value)


def test_survey_forward_model_scales_the_processed_noise_only(
    small_survey: tuple[dict[str, Any], Path, Path],  # noqa: F811 - the imported fixture
) -> None:
    config, patch_maps, _ = small_survey
    model = SurveyForwardModel(
        TFForwardModel(forward_model_from_config(config, patch_maps_path=patch_maps, base_dir=REPO))
    )
    n_patches, n_bins, n_pix, _ = model.model.mask.shape
    rng = np.random.default_rng(7)
    shape = (2, n_patches, n_bins, n_pix, n_pix)
    kappa = tf.constant(rng.normal(scale=0.02, size=shape), tf.float32)
    kappa_ia = tf.constant(rng.normal(scale=0.002, size=shape), tf.float32)
    a_ia = tf.constant([0.5, -2.0], tf.float32)
    seeds = tf.constant([[1, 2], [3, 4]], tf.int64)
    clean = model(kappa, kappa_ia, a_ia, seeds, noise=False).numpy()
    full = model(kappa, kappa_ia, a_ia, seeds, noise=True).numpy()
    half = model(kappa, kappa_ia, a_ia, seeds, noise=True, noise_scale=tf.constant(0.5)).numpy()
    one = model(kappa, kappa_ia, a_ia, seeds, noise=True, noise_scale=tf.constant(1.0)).numpy()
    scale = np.abs(full).max()
    assert np.abs(full - clean).max() > 100 * FLOAT32_TOLERANCE * scale  # the noise is there
    np.testing.assert_allclose(half - clean, 0.5 * (full - clean), rtol=0, atol=FLOAT32_TOLERANCE * scale)
    np.testing.assert_array_equal(one, full)  # amplitude 1: the same bits as no amplitude


def test_stand_in_forward_model_scales_its_noise() -> None:
    rng = np.random.default_rng(3)
    kappa = tf.constant(rng.normal(size=(2, 2, 2, 8, 8)), tf.float32)
    a_ia = tf.constant([1.0, 2.0], tf.float32)
    seeds = tf.constant([[5, 6], [7, 8]], tf.int64)
    model = StandInForwardModel(noise_sigma=0.3)
    clean = model(kappa, kappa, a_ia, seeds, noise=False).numpy()
    full = model(kappa, kappa, a_ia, seeds, noise=True).numpy()
    quarter = model(kappa, kappa, a_ia, seeds, noise=True, noise_scale=0.25).numpy()
    np.testing.assert_allclose(quarter - clean, 0.25 * (full - clean), atol=1e-6)


@pytest.fixture(scope="module")
def maps(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], list[Path]]:
    return write_synthetic_map_files(
        tmp_path_factory.mktemp("maps"), cosmologies=COSMOLOGIES, n_realisations=3, n_bins=2, n_pix=16, seed=4
    )


def _train(
    maps: tuple[list[Path], list[Path]], out: Path, curriculum: list[dict[str, Any]], n_steps: int
) -> Any:
    return train_network(
        train_files=maps[0],
        validation_files=maps[1],
        out_dir=out,
        preset="tiny",
        training_config={**BASE, "n_steps": n_steps, "curriculum": {"tiny": curriculum}},
        base_seed=1,
        n_patches=2,
        forward_model=StandInForwardModel(noise_sigma=0.5),
    )


def _weights(model: Any) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.get_weights()]


def test_stage_model_is_the_network_at_the_end_of_its_stage_and_the_ramp_changes_training(
    maps: tuple[list[Path], list[Path]], tmp_path: Path
) -> None:
    clean = {"name": "clean", "noise": False, "steps": 4}
    ramped = _train(maps, tmp_path / "ramped", [clean, {"name": "noisy", "noise_ramp_steps": 4}], 4)
    stage_file = stage_model_path(tmp_path / "ramped", "clean")
    assert stage_file.is_file()
    assert not stage_model_path(tmp_path / "ramped", "noisy").exists()  # the last stage is model.keras
    # a run that stops after the clean stage ends with the same network as the stage file
    only_clean = _train(maps, tmp_path / "clean", [{"name": "clean", "noise": False}], 4)
    for a, b in zip(_weights(load_trained_model(stage_file)), _weights(only_clean.model), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # a one-step ramp is full noise from the first step: the same training as no ramp at all
    one_step = _train(maps, tmp_path / "one", [clean, {"name": "noisy", "noise_ramp_steps": 1}], 4)
    no_ramp = _train(maps, tmp_path / "none", [clean, {"name": "noisy"}], 4)
    for a, b in zip(_weights(one_step.model), _weights(no_ramp.model), strict=True):
        np.testing.assert_array_equal(a, b)
    # the four-step ramp trains on weaker noise: different weights
    assert any(
        not np.allclose(a, b, rtol=1e-4, atol=1e-6)
        for a, b in zip(_weights(ramped.model), _weights(no_ramp.model), strict=True)
    )
