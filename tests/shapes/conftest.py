"""Shared settings of the shapes tests: the demo's stamp block, read from config/demo.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from wlcnn.shapes.settings import StampSettings, calibration_settings, stamp_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def demo_config() -> dict[str, Any]:
    """config/demo.yaml as a dict."""
    return yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


@pytest.fixture(scope="session")
def stamps_cfg(demo_config: dict[str, Any]) -> StampSettings:
    """The demo's ``shapes.stamps``."""
    return stamp_settings(demo_config)


@pytest.fixture(scope="session")
def calibration_cfg(demo_config: dict[str, Any]) -> Any:
    """The demo's ``shapes.calibration``."""
    return calibration_settings(demo_config)
