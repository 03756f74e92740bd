"""Peaks and Minkowski functionals as inference statistics (issue 15 item 4; SPEC §10a)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from wlcnn import statistics
from wlcnn.config import ConfigError, load_config
from wlcnn.inference.map_statistics import MapStatistic, map_statistic_from_config
from wlcnn.inference.predictors import STATISTICS, make_predictor
from wlcnn.inference.summaries import predict_data_vector, predict_surveys

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "config" / "demo.yaml"
N_TOMO = 4  # demo: survey.zb_edges has 5 edges
N_PIX = 32
N_PATCHES = 4


@pytest.fixture(scope="module")
def demo() -> dict[str, Any]:
    return load_config(DEMO, base_dir=REPO)


def _cnn_inputs(seed: int, n: int = N_PATCHES) -> np.ndarray:
    """CNN-like inputs (n, N, N, 3 n_bins): smoothed random κ channels after 8 shear channels."""
    rng = np.random.default_rng(seed)
    white = rng.normal(size=(n, N_PIX, N_PIX, 3 * N_TOMO))
    k = np.fft.fftfreq(N_PIX)
    window = np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / (2 * 0.15**2))[None, :, :, None]
    return np.fft.ifft2(np.fft.fft2(white, axes=(1, 2)) * window, axes=(1, 2)).real.astype(np.float32)


def _brute_peaks(kappa: np.ndarray, edges_nu: np.ndarray) -> np.ndarray:
    """Peaks of one map by explicit comparison with its 8 neighbours (heights in σ0 of the map)."""
    inner = kappa[1:-1, 1:-1]
    is_peak = np.ones_like(inner, dtype=bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                is_peak &= inner > kappa[1 + dy : kappa.shape[0] - 1 + dy, 1 + dx : kappa.shape[1] - 1 + dx]
    heights = inner[is_peak] / kappa.std()
    return np.histogram(heights, bins=edges_nu)[0]


def test_new_statistics_are_selectable_by_name_and_demo_vectors_stay_short(demo: dict) -> None:
    assert {"peaks", "minkowski"} <= set(STATISTICS)
    n_surveys = demo["inference"]["n_surveys"]
    for label, expected in (("peaks", N_TOMO * 4), ("minkowski", N_TOMO * 2 * 2)):
        predict, names = make_predictor(label, config=demo)
        out = predict(_cnn_inputs(0))
        assert out.shape == (N_PATCHES, expected) and len(names) == expected
        assert len(set(names)) == expected
        assert expected <= n_surveys // 3  # well below the 48 simulated surveys


def test_peaks_equal_a_brute_force_count_and_the_statistics_package(demo: dict) -> None:
    predict, names = make_predictor("peaks", config=demo)
    inputs = _cnn_inputs(1)
    out = predict(inputs)
    edges = np.linspace(*demo["inference"]["peaks_nu_range"], demo["inference"]["peaks_n_bins"] + 1)
    kappa = inputs[..., 2 * N_TOMO :].astype(np.float64)
    for p in range(N_PATCHES):
        for b in range(N_TOMO):
            direct = statistics.peak_counts(kappa[p, :, :, b], edges, units="sigma").counts
            sl = slice(b * 4, (b + 1) * 4)
            np.testing.assert_array_equal(out[p, sl], direct)
            np.testing.assert_array_equal(out[p, sl], _brute_peaks(kappa[p, :, :, b], edges))
    assert names[4] == "peaks_b1_nu0"
    assert out.sum() > 0  # a smoothed field has peaks above 0σ


def test_minkowski_entries_equal_the_statistics_package_in_output_order(demo: dict) -> None:
    predict, names = make_predictor("minkowski", config=demo)
    inputs = _cnn_inputs(2)
    out = predict(inputs)
    edges = np.linspace(*demo["inference"]["mf_nu_range"], demo["inference"]["mf_n_thresholds"] + 1)
    kappa = inputs[..., 2 * N_TOMO :].astype(np.float64)
    for p in range(N_PATCHES):
        for b in range(N_TOMO):
            mf = statistics.minkowski_functionals(kappa[p, :, :, b], edges, units="sigma")
            for f, functional in enumerate(("v1", "v2")):
                for k in range(2):
                    i = names.index(f"{functional}_b{b}_nu{k}")
                    assert i == b * 4 + f * 2 + k
                    assert out[p, i] == pytest.approx(float(getattr(mf, functional)[k]), rel=1e-12)


def test_survey_vectors_are_patch_averages_feeding_the_summaries(demo: dict) -> None:
    surveys = {seed: _cnn_inputs(10 + seed) for seed in range(3)}
    for label in ("peaks", "minkowski"):
        predict, names = make_predictor(label, config=demo)
        # batch_size 5: surveys of 4 patches are predicted one by one (never split).
        got = predict_surveys(predict=predict, make_survey=surveys.__getitem__, seeds=[0, 1, 2], batch_size=5)
        expected = np.stack([predict(surveys[s]).mean(axis=0) for s in range(3)])
        np.testing.assert_allclose(got, expected, rtol=1e-12)
        vector = predict_data_vector(
            predict=predict, inputs=surveys[0], batch_size=8, label=label, output_names=names
        )
        np.testing.assert_allclose(vector.data, expected[0], rtol=1e-12)
        assert vector.output_names == names


def test_patch_masks_leave_out_masked_pixels_and_misaligned_batches_are_refused(demo: dict) -> None:
    inputs = _cnn_inputs(3)
    masks = np.ones((N_PATCHES, N_TOMO, N_PIX, N_PIX), dtype=bool)
    masks[:, :, :, : N_PIX // 2] = False  # the left half of every map unobserved
    stat = map_statistic_from_config("peaks", config=demo, patch_masks=masks)
    out = stat(np.concatenate([inputs, inputs]))  # two surveys stacked
    edges = stat.nu_edges
    kappa = inputs[..., 2 * N_TOMO :].astype(np.float64)
    direct = statistics.peak_counts(np.moveaxis(kappa, -1, 1), edges, mask=masks, units="sigma").counts
    np.testing.assert_array_equal(out[:N_PATCHES], direct.reshape(N_PATCHES, -1))
    np.testing.assert_array_equal(out[N_PATCHES:], out[:N_PATCHES])
    assert out.sum() < map_statistic_from_config("peaks", config=demo)(inputs).sum()
    with pytest.raises(ValueError, match="whole surveys of 4 patches"):
        stat(inputs[:3])


def test_statistic_refuses_unknown_kind_and_functionals() -> None:
    with pytest.raises(ValueError, match="kind"):
        MapStatistic(kind="voids", nu_edges=np.array([0.0, 1.0]), n_bins=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="functionals"):
        MapStatistic(kind="minkowski", nu_edges=np.array([0.0, 1.0]), n_bins=1, functionals=("v3",))


@pytest.mark.parametrize(
    ("key", "value", "expected", "found"),
    [
        ("peaks_nu_range", [3.0, 1.0], "low < high", "[3.0, 1.0]"),
        ("mf_nu_range", [0.5, 0.5], "low < high", "[0.5, 0.5]"),
        ("peaks_n_bins", 0, ">= 1", "0"),
        ("mf_n_thresholds", "two", "integer", "'two'"),
        ("mf_functionals", ["v1", "v3"], "['v0', 'v1', 'v2']", "'v3'"),
    ],
)
def test_bad_config_values_are_refused_naming_file_key_expected_and_found(
    tmp_path: Path, key: str, value: object, expected: str, found: str
) -> None:
    cfg = copy.deepcopy(yaml.safe_load(DEMO.read_text()))
    cfg["inference"][key] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError) as info:
        load_config(path, base_dir=REPO)
    message = str(info.value)
    assert str(path) in message
    assert f"inference.{key}" in message or (
        key == "mf_functionals" and "inference.mf_functionals[1]" in message
    )
    assert expected in message and found in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]  # nothing else written


def test_repository_configs_accept_the_new_keys() -> None:
    for name in ("demo.yaml", "config.yaml"):
        cfg = load_config(REPO / "config" / name, base_dir=REPO)
        assert {"peaks_n_bins", "mf_n_thresholds", "mf_functionals"} <= set(cfg["inference"])
