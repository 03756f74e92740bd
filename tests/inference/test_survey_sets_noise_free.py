"""Noise-free test surveys (``SimulatedSurveys(noise=False)``): the same surveys, shape noise off.

Every step of the forward model after the draws is linear in the shear (mode removal, masking,
smoothing, Kaiser-Squires), so a survey with noise minus the same survey without it is the
processed noise alone: it must not depend on the signal (here: on A_IA), and must not vanish.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.inference.test_survey_sets import small_survey  # noqa: F401 - the shared fixture
from wlcnn.inference.summaries import survey_seed
from wlcnn.inference.survey_sets import TENSORFLOW_FORWARD_MODEL, SimulatedSurveys

REPO = Path(__file__).resolve().parents[2]
#: Two A_IA values: different signals, the same noise draws.
A_IA_VALUES = (0.0, 4.5)
N_SEEDS = 3
#: float32 surveys: differences compared relative to the largest value.
FLOAT32_TOLERANCE = 1e-5


def _batch(small: tuple[dict[str, object], Path, Path], *, a_ia: float, noise: bool) -> np.ndarray:
    config, patch_maps, maps = small
    surveys = SimulatedSurveys(
        map_files=[maps],
        config=config,
        patch_maps_path=patch_maps,
        a_ia=a_ia,
        base_dir=REPO,
        forward_model=TENSORFLOW_FORWARD_MODEL,  # ignored without noise: the NumPy reference path
        noise=noise,
    )
    seeds = [survey_seed(base_seed=3, cosmology_id="c000", a_ia_index=0, index=i) for i in range(N_SEEDS)]
    return surveys.make_batch(seeds)


def test_noise_free_surveys_differ_from_the_noisy_ones_by_the_noise_alone(
    small_survey: tuple[dict[str, object], Path, Path],  # noqa: F811 - the imported fixture
) -> None:
    noisy = {a: _batch(small_survey, a_ia=a, noise=True) for a in A_IA_VALUES}
    clean = {a: _batch(small_survey, a_ia=a, noise=False) for a in A_IA_VALUES}
    scale = max(np.abs(x).max() for x in (*noisy.values(), *clean.values()))
    noise = {a: noisy[a] - clean[a] for a in A_IA_VALUES}
    low, high = A_IA_VALUES
    assert clean[low].shape == noisy[low].shape and clean[low].dtype == np.float32
    # the signal changes with A_IA (so the comparison below can fail) ...
    assert np.abs(clean[high] - clean[low]).max() > 100 * FLOAT32_TOLERANCE * scale
    # ... the noise is there, and is the same whatever the signal
    assert np.abs(noise[low]).max() > 100 * FLOAT32_TOLERANCE * scale
    np.testing.assert_allclose(noise[high], noise[low], rtol=0, atol=FLOAT32_TOLERANCE * scale)
