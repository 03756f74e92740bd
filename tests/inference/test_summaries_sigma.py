"""The networks' predicted σ in the test summaries (``predicted_sigma``) and in the predictions plot.

Independent check: the σ of each survey is recomputed here from the network's raw outputs with
the Cholesky algebra written out in numpy (Lᵢᵢ = ln(1 + e^rᵢ), Σ = (L Lᵀ)⁻¹), as
√(Σ_patches Σⱼⱼ) / n_patches.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import h5py
import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest

from wlcnn.atomic import is_temporary
from wlcnn.inference.predictors import VARIANCE_PREFIX, make_predictor
from wlcnn.inference.summaries import (
    PREDICTED_SIGMA,
    SummariesFileError,
    compute_summaries,
    merge_cosmologies,
    read_summaries,
    separate_predicted_sigma,
    write_summaries,
)
from wlcnn.training.networks import build_network, network_spec
from wlcnn.training.plots import NO_SIGMA_LABEL, plot_predictions_vs_truth

N_PATCHES = 3
N_PIX = 16
#: Two tomographic bins: 6 CNN channels (γ1, γ2, κ per bin).
ZB_EDGES = [0.1, 0.5, 0.9]
N_CHANNELS = 6
COSMOLOGIES = [("c000", 0.2, 0.9), ("c001", 0.3, 0.8)]
A_IA = [-1.0, 1.0]
N_SURVEYS = 4
CONFIG = {"survey": {"zb_edges": ZB_EDGES, "n_pix": N_PIX, "n_patches": N_PATCHES}}


def _make_survey_for(cid: str, a_ia: float):
    def make(seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return (0.02 * rng.standard_normal((N_PATCHES, N_PIX, N_PIX, N_CHANNELS))).astype(np.float32)

    return make


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained K = 1 tiny network: its σ are whatever its weights say, known from its raw outputs."""
    model = build_network(network_spec("tiny"), input_shape=(N_PIX, N_PIX, N_CHANNELS), seed=11)
    path = tmp_path_factory.mktemp("model") / "model.keras"
    model.save(path)
    return path


def _summaries(model_path: Path, *, predicted_variance: bool):
    predict, names = make_predictor(
        "tiny", config=CONFIG, model_path=model_path, predicted_variance=predicted_variance
    )
    return compute_summaries(
        label="tiny",
        predict=predict,
        make_survey_for=_make_survey_for,
        cosmologies=COSMOLOGIES,
        a_ia=A_IA,
        n_surveys=N_SURVEYS,
        base_seed=3,
        batch_size=8,
        output_names=names,
    )


def _numpy_sigma(model: keras.Model, seed: int) -> np.ndarray:
    raw = model.predict(_make_survey_for("", 0.0)(seed), verbose=0)
    raw = np.asarray(raw, dtype=np.float64)
    variances = []
    for r in raw:
        chol = np.diag(np.log1p(np.exp(r[3:6])))
        chol[1, 0], chol[2, 0], chol[2, 1] = r[6], r[7], r[8]
        variances.append(np.diag(np.linalg.inv(chol @ chol.T)))
    return np.sqrt(np.sum(variances, axis=0)) / len(raw)


def test_summaries_keep_the_predicted_sigma_of_each_survey(model_path: Path, tmp_path: Path) -> None:
    joint = _summaries(model_path, predicted_variance=True)
    assert joint.output_names[3:] == tuple(VARIANCE_PREFIX + n for n in joint.output_names[:3])
    summaries = separate_predicted_sigma(joint, variance_prefix=VARIANCE_PREFIX, n_patches=N_PATCHES)
    write_summaries(tmp_path / "tiny.h5", summaries)
    back = read_summaries(tmp_path / "tiny.h5")
    with h5py.File(tmp_path / "tiny.h5", "r") as f:
        assert f[PREDICTED_SIGMA].shape == (len(COSMOLOGIES), len(A_IA), N_SURVEYS, 3)
    sigma = back.predicted_sigma
    model = keras.models.load_model(model_path, compile=False)
    assert sigma is not None and np.all(np.isfinite(sigma)) and np.all(sigma > 0)
    for c in range(len(COSMOLOGIES)):
        for j in range(len(A_IA)):
            for i in range(N_SURVEYS):
                expected = _numpy_sigma(model, int(back.seeds[c, j, i]))
                np.testing.assert_allclose(sigma[c, j, i], expected, rtol=1e-5)
    # The data vector is what it was without the σ: same names, same numbers.
    plain = _summaries(model_path, predicted_variance=False)
    assert back.output_names == plain.output_names
    np.testing.assert_array_equal(back.predictions, plain.predictions)


def test_files_without_predicted_sigma_still_read(model_path: Path, tmp_path: Path) -> None:
    summaries = _summaries(model_path, predicted_variance=False)
    assert summaries.predicted_sigma is None
    write_summaries(tmp_path / "old.h5", summaries)
    with h5py.File(tmp_path / "old.h5", "r") as f:
        assert PREDICTED_SIGMA not in f
    assert read_summaries(tmp_path / "old.h5").predicted_sigma is None
    # A statistic without variance outputs passes through unchanged.
    assert (
        separate_predicted_sigma(summaries, variance_prefix=VARIANCE_PREFIX, n_patches=N_PATCHES) is summaries
    )


def test_merging_cosmologies_keeps_sigma_only_when_every_part_has_it(model_path: Path) -> None:
    joint = _summaries(model_path, predicted_variance=True)
    s = separate_predicted_sigma(joint, variance_prefix=VARIANCE_PREFIX, n_patches=N_PATCHES)
    parts = [
        replace(
            s,
            cosmology_ids=(cid,),
            omega_m=s.omega_m[[c]],
            sigma8=s.sigma8[[c]],
            predictions=s.predictions[[c]],
            seeds=s.seeds[[c]],
            predicted_sigma=s.predicted_sigma[[c]],
        )
        for c, cid in enumerate(s.cosmology_ids)
    ]
    merged = merge_cosmologies(parts)
    np.testing.assert_array_equal(merged.predicted_sigma, s.predicted_sigma)
    assert merge_cosmologies([parts[0], replace(parts[1], predicted_sigma=None)]).predicted_sigma is None


@pytest.mark.parametrize(
    ("bad", "expected", "found"),
    [
        (lambda s: s[..., :2], "shape (2, 2, 4, 3) like predictions", "shape (2, 2, 4, 2)"),
        (lambda s: -s, "finite positive standard deviations", "at index [0, 0, 0, 0]"),
    ],
)
def test_bad_predicted_sigma_names_file_field_expected_and_found(
    model_path: Path, tmp_path: Path, bad, expected: str, found: str
) -> None:
    joint = _summaries(model_path, predicted_variance=True)
    summaries = separate_predicted_sigma(joint, variance_prefix=VARIANCE_PREFIX, n_patches=N_PATCHES)
    path = tmp_path / "bad.h5"
    write_summaries(path, summaries)
    with h5py.File(path, "a") as f:
        values = f[PREDICTED_SIGMA][()]
        del f[PREDICTED_SIGMA]
        f.create_dataset(PREDICTED_SIGMA, data=bad(values))
    before = sorted(tmp_path.iterdir())
    with pytest.raises(SummariesFileError) as info:
        read_summaries(path)
    message = str(info.value)
    assert str(path) in message and PREDICTED_SIGMA in message
    assert f"expected {expected}" in message and found in message
    assert sorted(tmp_path.iterdir()) == before and not any(is_temporary(p) for p in tmp_path.iterdir())


def _bar_half_lengths(container) -> np.ndarray:
    """Half-lengths of the vertical error bars of a matplotlib ErrorbarContainer."""
    segments = container.lines[2][0].get_segments()
    return np.array([abs(seg[1][1] - seg[0][1]) / 2 for seg in segments])


def test_predictions_plot_draws_scatter_and_mean_predicted_sigma_per_group(
    tmp_path: Path, monkeypatch
) -> None:
    figures: list = []
    original = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: (figures.append(fig), original(fig)))
    rng = np.random.default_rng(4)
    groups = np.repeat(np.arange(3), 20)
    truth = np.repeat(np.array([[0.2, 0.7, -1.0], [0.3, 0.8, 0.0], [0.4, 0.9, 1.0]]), 20, axis=0)
    prediction = truth + 0.02 * rng.standard_normal(truth.shape)
    sigma = rng.uniform(0.01, 0.03, truth.shape)
    names = ("omega_m", "sigma8", "a_ia")
    plot_predictions_vs_truth(
        tmp_path / "with.png", truth=truth, prediction=prediction, sigma=sigma, groups=groups, names=names
    )
    ax = figures[-1].axes[0]
    scatter_bars, sigma_bars = ax.containers[0], ax.containers[1]
    expected_scatter = [prediction[groups == g, 0].std(ddof=1) for g in range(3)]
    expected_sigma = [sigma[groups == g, 0].mean() for g in range(3)]
    np.testing.assert_allclose(_bar_half_lengths(scatter_bars), expected_scatter, rtol=1e-6)
    np.testing.assert_allclose(_bar_half_lengths(sigma_bars), expected_sigma, rtol=1e-6)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "mean predicted σ" in legend and NO_SIGMA_LABEL not in legend

    plot_predictions_vs_truth(
        tmp_path / "without.png", truth=truth, prediction=prediction, groups=groups, names=names
    )
    ax = figures[-1].axes[0]
    assert len(ax.containers) == 1
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert NO_SIGMA_LABEL in legend and "mean predicted σ" not in legend
    assert (tmp_path / "without.png").stat().st_size > 0
    with pytest.raises(ValueError, match="groups"):
        plot_predictions_vs_truth(
            tmp_path / "bad.png", truth=truth, prediction=prediction, groups=groups[:-1], names=names
        )
    assert not (tmp_path / "bad.png").exists() and not any(is_temporary(p) for p in tmp_path.iterdir())
