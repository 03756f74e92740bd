"""Test-set surveys (SPEC §7): the batched TensorFlow fast path against the NumPy reference."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.survey.test_catalogue import _write_fits
from wlcnn.config import ConfigError, validate_config
from wlcnn.inference.summaries import BatchMakeSurvey, predict_surveys, survey_seed
from wlcnn.inference.survey_sets import (
    NUMPY_FORWARD_MODEL,
    TENSORFLOW_FORWARD_MODEL,
    SimulatedSurveys,
)
from wlcnn.maps.mapfile import MapFileWriter
from wlcnn.survey.shear_maps import build_patch_maps

REPO = Path(__file__).resolve().parents[2]
#: Small maps keep the test fast; the demo's other survey settings (4 patches, 4 bins) stay.
N_PIX, KS_PADDING = 32, 16
#: Realisations in the test map file: 3 sets of 4 patches, so the surveys differ in patch set.
N_REALISATIONS = 12
Z_EDGES = np.array([0.0, 0.3, 0.6, 0.9, 1.2])
#: One galaxy per this many pixels along each axis: a sparse catalogue, a mask with holes.
GALAXY_SPACING = 2
#: float32 arithmetic (TensorFlow) against float64 (NumPy): relative to the largest input value.
FLOAT32_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def small_survey(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, object], Path, Path]:
    """The demo configuration on 32-pixel patches, its patch maps and one test map file."""
    from wlcnn.survey.patches import inverse_gnomonic, pixel_centres
    from wlcnn.survey.settings import SurveySettings

    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["survey"].update(n_pix=N_PIX, ks_padding=KS_PADDING)
    config["shells"]["n_pix"] = N_PIX
    settings = SurveySettings.from_config(config, base_dir=REPO)
    tmp = tmp_path_factory.mktemp("survey_sets")
    xc = pixel_centres(n_pix=N_PIX, patch_size_deg=settings.patch_size_deg)[::GALAXY_SPACING]
    y, x = np.meshgrid(xc, xc, indexing="ij")
    positions = [
        inverse_gnomonic(x.ravel(), y.ravel(), centre=c) for c in np.reshape(settings.patch_centres, (-1, 2))
    ]
    ra = np.concatenate([p[0] for p in positions])
    dec = np.concatenate([p[1] for p in positions])
    rng = np.random.default_rng(11)
    edges = np.asarray(settings.zb_edges)
    z_mid = 0.5 * (edges[1:] + edges[:-1])
    cm = settings.columns
    cols = {
        cm.ra: ra,
        cm.dec: dec,
        cm.e1: rng.normal(0.0, 0.2, ra.size),
        cm.e2: rng.normal(0.0, 0.2, ra.size),
        cm.weight: rng.uniform(0.5, 1.5, ra.size),
        cm.z_b: z_mid[np.arange(ra.size) % len(z_mid)],
    }
    if cm.m is not None:
        cols[cm.m] = np.zeros(ra.size)
    patch_maps = tmp / "patch_maps.h5"
    build_patch_maps([_write_fits(tmp / "catalogue.fits", cols)], settings=settings, out_path=patch_maps)

    n_shells, n_bins = len(Z_EDGES) - 1, len(edges) - 1
    maps = tmp / "sim01.h5"
    attrs = {
        "mode": "pencil_beam",
        "role": "test",
        "cosmology_id": "c000",
        "simulation": maps.stem,
        "cosmology": {"omega_m": 0.3, "sigma8": 0.8},
        "n_realisations": N_REALISATIONS,
        "n_bins": n_bins,
        "n_shells": n_shells,
        "n_pix": N_PIX,
        "patch_size_deg": settings.patch_size_deg,
    }
    with MapFileWriter(
        maps,
        attrs=attrs,
        n_realisations=N_REALISATIONS,
        n_bins=n_bins,
        n_shells=n_shells,
        n_pix=N_PIX,
        born=False,
        keep_shells=True,
    ) as writer:
        writer.write_static("shells/z_near", Z_EDGES[:-1])
        writer.write_static("shells/z_far", Z_EDGES[1:])
        delta = rng.lognormal(0.0, 0.5, size=(N_REALISATIONS, n_shells, N_PIX, N_PIX)) - np.exp(0.125)
        writer.write_block(0, shells__delta=delta.astype(np.float32))
    return config, patch_maps, maps


def _surveys(
    small: tuple[dict[str, object], Path, Path], *, forward_model: str, a_ia: float
) -> SimulatedSurveys:
    config, patch_maps, maps = small
    return SimulatedSurveys(
        map_files=[maps],
        config=config,
        patch_maps_path=patch_maps,
        a_ia=a_ia,
        base_dir=REPO,
        forward_model=forward_model,
    )


@pytest.mark.parametrize("a_ia", [0.0, 4.5])
def test_tensorflow_surveys_equal_the_numpy_reference(
    small_survey: tuple[dict[str, object], Path, Path], a_ia: float
) -> None:
    """Same seeds → same patch sets, n(z) realisations, draws; surveys equal to float32 rounding."""
    seeds = [survey_seed(base_seed=7, cosmology_id="c000", a_ia_index=1, index=i) for i in range(5)]
    reference = _surveys(small_survey, forward_model=NUMPY_FORWARD_MODEL, a_ia=a_ia)
    fast = _surveys(small_survey, forward_model=TENSORFLOW_FORWARD_MODEL, a_ia=a_ia)
    expected = np.stack([reference(s) for s in seeds])
    batched = fast.make_batch(seeds)
    assert batched.shape == (len(seeds), 4, N_PIX, N_PIX, 12) and batched.dtype == np.float32
    scale = np.abs(expected).max()
    assert scale > 0
    np.testing.assert_allclose(batched, expected, rtol=0, atol=FLOAT32_TOLERANCE * scale)
    # One survey alone equals the same survey in a batch (no dependence on the batch's others).
    np.testing.assert_allclose(fast(seeds[2]), batched[2], rtol=0, atol=FLOAT32_TOLERANCE * scale)
    # The control: different seeds give different surveys, so the comparison can fail.
    assert np.abs(batched[0] - batched[1]).max() > 100 * FLOAT32_TOLERANCE * scale


class _CountingMaker:
    """A :class:`BatchMakeSurvey` of random patches that records each batch it is asked for."""

    n_patches = 3

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, seed: int) -> np.ndarray:
        return np.random.default_rng(seed).normal(size=(self.n_patches, 2))

    def make_batch(self, seeds: Sequence[int]) -> np.ndarray:
        self.calls.append(len(seeds))
        return np.stack([self(s) for s in seeds])


def test_predict_surveys_builds_batches_of_whole_surveys() -> None:
    maker = _CountingMaker()
    assert isinstance(maker, BatchMakeSurvey)
    seeds = list(range(10))
    batch_size = 7  # two 3-patch surveys per call

    def predict(batch: np.ndarray) -> np.ndarray:
        return batch.reshape(len(batch), -1)

    batched = predict_surveys(predict=predict, make_survey=maker, seeds=seeds, batch_size=batch_size)

    def one_survey(seed: int) -> np.ndarray:  # no make_batch: the one-survey-at-a-time path
        return maker(seed)

    one_by_one = predict_surveys(predict=predict, make_survey=one_survey, seeds=seeds, batch_size=batch_size)
    assert maker.calls == [2, 2, 2, 2, 2]
    expected = np.stack([maker(s).mean(axis=0) for s in seeds])
    np.testing.assert_allclose(batched, expected)
    np.testing.assert_allclose(one_by_one, expected)


def test_unknown_forward_model_is_refused(small_survey: tuple[dict[str, object], Path, Path]) -> None:
    with pytest.raises(
        ValueError, match=r"forward_model: expected one of \['tensorflow', 'numpy'\], found 'jax'"
    ):
        _surveys(small_survey, forward_model="jax", a_ia=0.0)


def test_config_refuses_an_unknown_survey_forward_model(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["inference"]["survey_forward_model"] = "jax"
    before = sorted(tmp_path.iterdir())
    with pytest.raises(ConfigError) as info:
        validate_config(config, source="demo.yaml", base_dir=REPO)
    message = str(info.value)
    assert "demo.yaml" in message and "inference.survey_forward_model" in message
    assert "tensorflow" in message and "numpy" in message and "jax" in message
    assert sorted(tmp_path.iterdir()) == before
