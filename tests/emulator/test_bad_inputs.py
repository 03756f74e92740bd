"""Bad user input to the emulator: configuration and map files (domain errors, nothing written)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from wlcnn.config import ConfigError, validate_config
from wlcnn.emulator.data import block_average
from wlcnn.emulator.pipeline import TRAINING_FILES, run_training
from wlcnn.emulator.settings import EmulatorSettings
from wlcnn.maps.mapfile import MapFileContentError

REPO = Path(__file__).resolve().parents[2]
SOURCE = "config/demo.yaml"


@pytest.fixture(scope="module")
def demo() -> dict:
    return yaml.safe_load((REPO / SOURCE).read_text())


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ({"n_pix": 48}, ["emulator.n_pix", "a multiple of 16 dividing shells.n_pix = 128", "found 48"]),
        ({"holdout": ["c042"]}, ["emulator.holdout", "cosmologies of cosmology.grid", "found 'c042'"]),
        ({"batch_size": 0}, ["emulator.batch_size", "0"]),
        ({"strategy": "tpu"}, ["emulator.strategy", "tpu"]),
    ],
)
def test_bad_emulator_settings_name_file_field_expected_found(
    demo: dict, edit: dict, expected: list[str]
) -> None:
    bad = copy.deepcopy(demo)
    bad["emulator"].update(edit)
    with pytest.raises(ConfigError) as info:
        validate_config(bad, source=SOURCE, base_dir=REPO, check_files=False)
    message = str(info.value)
    assert SOURCE in message
    for fragment in expected:
        assert fragment in message, message


def test_missing_map_file_is_a_domain_error_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "emulator"
    out.mkdir()
    missing = str(tmp_path / "maps" / "c000" / "sim00.h5")
    with pytest.raises(MapFileContentError) as info:
        run_training(
            {"c000": [missing]},
            {"c000": [missing]},
            outputs={k: str(out / v) for k, v in TRAINING_FILES.items()},
            settings=EmulatorSettings(n_pix=32),
            statistics={},
            prior={"omega_m": [0.1, 0.5], "sigma8": [0.4, 1.4]},
            seed=1,
            checkpoint_dir=str(tmp_path / "ckpt"),
            config_subset={},
        )
    assert missing in str(info.value)
    assert list(out.iterdir()) == []  # no output, no hidden temporary


def test_block_average_refuses_a_size_that_does_not_divide() -> None:
    with pytest.raises(ValueError, match="n_pix: expected a divisor of the maps' side 32, found 24"):
        block_average(np.zeros((1, 32, 32)), n_pix=24)
    np.testing.assert_allclose(
        block_average(np.arange(16.0).reshape(4, 4), n_pix=2), [[2.5, 4.5], [10.5, 12.5]]
    )
