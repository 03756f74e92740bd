"""Session fixtures: Gaussian and lognormal random fields of one spectrum (:mod:`random_fields`)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.statistics.random_fields import N_MAPS, gaussian_field, lognormal_field


@pytest.fixture(scope="session")
def gaussian_maps() -> np.ndarray:
    return gaussian_field(np.random.default_rng(20190514), N_MAPS)


@pytest.fixture(scope="session")
def lognormal_maps() -> np.ndarray:
    return lognormal_field(np.random.default_rng(20190515), N_MAPS)
