"""Shared pytest fixtures: where the real simulation outputs live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: Real outputs of Gadget-2 / GADGET-4 / PkdGrav3 (see its README); override with WLCNN_FIXTURES.
FIXTURES = Path(os.environ.get("WLCNN_FIXTURES", REPO.parent / "shared" / "fixtures" / "nbody"))


@pytest.fixture(scope="session")
def nbody_fixtures() -> Path:
    """Directory of real N-body outputs; tests that need it skip (with the reason) when absent.

    In CI the directory must exist: ``.ci/run`` sets ``WLCNN_REQUIRE_FIXTURES=1``, which turns the
    skip into a failure.
    """
    if not FIXTURES.is_dir():
        if os.environ.get("WLCNN_REQUIRE_FIXTURES") == "1":
            pytest.fail(f"fixtures required but {FIXTURES} is missing")
        pytest.skip(f"real N-body fixtures not found at {FIXTURES} (set WLCNN_FIXTURES)")
    return FIXTURES
