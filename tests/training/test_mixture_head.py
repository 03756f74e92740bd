"""Mixture-density heads (K > 1) on the ResNets: build, end-to-end training, predictions.

Independent checks: the mixture mean and covariance are recomputed here in numpy from the raw
outputs (own reshape, softmax and Cholesky algebra), and on a toy whose posterior is bimodal
(θ₀ = ±a with the sign invisible in the input) a K = 2 head must reach a clearly lower held-out
NLL than K = 1, which cannot represent two modes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from wlcnn.config import ConfigError, load_config
from wlcnn.inference.predictors import NETWORK_OUTPUTS, VARIANCE_PREFIX, make_predictor
from wlcnn.training import load_trained_model, train_network
from wlcnn.training.export import ModelFileError
from wlcnn.training.forward import StandInForwardModel
from wlcnn.training.history import read_history
from wlcnn.training.loss import N_PARAMS, survey_loss
from wlcnn.training.mixture_density import mixture_nll, mixture_survey_loss, n_outputs
from wlcnn.training.networks import N_OUTPUTS, NetworkSpec, build_network, network_spec
from wlcnn.training.settings import TrainingSettings, network_config_subset
from wlcnn.training.synthetic import write_synthetic_map_files

COSMOLOGIES = [(0.2, 0.9), (0.3, 0.8), (0.4, 0.7), (0.25, 0.6)]
#: Small, fast runs (as tests/training/test_trainer.py): 2 bins of 16x16 pixels, 2 patches.
BASE = {
    "cosmologies_per_step": 4,
    "learning_rate": 1e-3,
    "log_every": 5,
    "validation_every": 10,
    "checkpoint_every": 1000,
    "keep_checkpoints": 1,
    "deterministic": True,
}
#: The bimodal toy: a one-block ResNet on 8x8 single-channel images.
TOY_SPEC = NetworkSpec("toy", kernel_size=3, n_blocks=1, channels=8)
TOY_PIX = 16
DEMO_CONFIG = Path(__file__).resolve().parents[2] / "config" / "demo.yaml"


@pytest.fixture(scope="module")
def maps(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], list[Path]]:
    return write_synthetic_map_files(
        tmp_path_factory.mktemp("maps"), cosmologies=COSMOLOGIES, n_realisations=3, n_bins=2, n_pix=16, seed=4
    )


def _train(maps: tuple[list[Path], list[Path]], out: Path, **config: Any) -> Any:
    return train_network(
        train_files=maps[0],
        validation_files=maps[1],
        out_dir=out,
        preset="tiny",
        training_config={**BASE, **config},
        base_seed=1,
        n_patches=2,
        forward_model=StandInForwardModel(),
    )


def _numpy_mixture(raw: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mixture mean (n, 3) and covariance (n, 3, 3) from raw outputs, written out independently."""
    raw = np.asarray(raw, dtype=np.float64)
    blocks = raw[:, : 9 * k].reshape(len(raw), k, 9)
    logits = raw[:, 9 * k :] if k > 1 else np.zeros((len(raw), 1))
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    means = blocks[..., :3]
    covs = np.zeros((len(raw), k, 3, 3))
    for i in range(len(raw)):
        for c in range(k):
            b = blocks[i, c]
            chol = np.diag(np.log1p(np.exp(b[3:6])))
            chol[1, 0], chol[2, 0], chol[2, 1] = b[6], b[7], b[8]
            covs[i, c] = np.linalg.inv(chol @ chol.T)
    mean = np.sum(weights[..., None] * means, axis=1)
    cov = np.zeros((len(raw), 3, 3))
    for i in range(len(raw)):
        for c in range(k):
            d = means[i, c] - mean[i]
            cov[i] += weights[i, c] * (covs[i, c] + np.outer(d, d))
    return mean, cov


def test_k2_resnet_builds_with_a_mixture_head_and_k1_is_the_original_head() -> None:
    spec = network_spec("tiny")
    model = build_network(spec, input_shape=(16, 16, 2), seed=3, mixture_components=2)
    out = model(np.zeros((5, 16, 16, 2), np.float32))
    assert tuple(out.shape) == (5, n_outputs(2, N_PARAMS)) == (5, 20)
    # K = 1 (explicit) is the 9-output head, weight for weight the same as without the option.
    default = build_network(spec, input_shape=(16, 16, 2), seed=3)
    explicit = build_network(spec, input_shape=(16, 16, 2), seed=3, mixture_components=1)
    assert default.output_shape[-1] == N_OUTPUTS == 9
    for a, b in zip(default.get_weights(), explicit.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # The two components start apart (else they would receive identical gradients).
    bias = model.get_layer("outputs").get_weights()[1]
    assert not np.allclose(bias[0:3], bias[9:12])


def test_k1_mixture_loss_is_the_cholesky_survey_loss() -> None:
    rng = np.random.default_rng(0)
    out = rng.normal(size=(4, 3, 9)).astype(np.float32)
    theta = rng.normal(size=(4, 3)).astype(np.float32)
    for lam in (0.0, 10.0):
        np.testing.assert_allclose(
            mixture_survey_loss(out, theta, k=1, n_params=3, bias_lambda=lam).numpy(),
            survey_loss(out, theta, bias_lambda=lam).numpy(),
            rtol=1e-5,
            atol=1e-5,
        )


def test_default_config_trains_exactly_as_k1(maps: tuple[list[Path], list[Path]], tmp_path: Path) -> None:
    plain = _train(maps, tmp_path / "plain", n_steps=4)
    k1 = _train(maps, tmp_path / "k1", n_steps=4, mixture_components={"tiny": 1, "tiny_5x5": 3})
    for a, b in zip(plain.model.get_weights(), k1.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # Nothing about mixtures in a K = 1 network's record: its config subset is as before.
    config = json.loads((tmp_path / "k1" / "training_config.json").read_text())
    assert config["outputs"] == 9 and "mixture_components" not in config
    assert "mixture_components" not in config["training"]


def test_k2_network_trains_end_to_end_and_predicts_the_mixture_moments(
    maps: tuple[list[Path], list[Path]], tmp_path: Path
) -> None:
    result = _train(maps, tmp_path / "k2", n_steps=60, learning_rate=3e-3, mixture_components={"tiny": 2})
    rows = read_history(result.history_path)
    first = np.mean([r["train_loss"] for r in rows[:2]])
    last = np.mean([r["train_loss"] for r in rows[-2:]])
    assert last < first - 1.0, (first, last)
    config = json.loads((tmp_path / "k2" / "training_config.json").read_text())
    assert config["outputs"] == 20 and config["mixture_components"] == 2
    assert config["training"]["mixture_components"] == 2 and len(config["output_layout"]) == 20

    # The exported model loads and the predictor returns the mixture mean and variances.
    model = load_trained_model(result.model_path)
    x = tf.random.stateless_normal((7, 16, 16, 2), seed=(2, 3)).numpy() * 0.02
    raw = model.predict(x, verbose=0)
    predict, names = make_predictor(
        "tiny",
        config={"survey": {"zb_edges": [0.1, 0.5, 0.9]}},
        model_path=result.model_path,
        predicted_variance=True,
    )
    assert names == (*NETWORK_OUTPUTS, *(VARIANCE_PREFIX + n for n in NETWORK_OUTPUTS))
    pred = predict(x)
    assert pred.shape == (7, 6)
    mean, cov = _numpy_mixture(raw, k=2)
    np.testing.assert_allclose(pred[:, :3], mean, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(pred[:, 3:], np.diagonal(cov, axis1=1, axis2=2), rtol=1e-6)
    assert np.all(pred[:, 3:] > 0)
    summary_only, names_only = make_predictor(
        "tiny", config={"survey": {"zb_edges": [0.1, 0.5, 0.9]}}, model_path=result.model_path
    )
    assert names_only == NETWORK_OUTPUTS
    np.testing.assert_allclose(summary_only(x), mean, rtol=1e-6, atol=1e-7)


def _bimodal_toy(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images showing a = |θ₀| and θ₁, but not the sign of θ₀: p(θ₀ | x) has modes at ±a."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.3, 1.0, n)
    sign = rng.choice([-1.0, 1.0], n)
    theta1 = rng.uniform(-0.5, 0.5, n)
    yy, xx = np.mgrid[:TOY_PIX, :TOY_PIX] / TOY_PIX
    images = a[:, None, None] * np.sin(2 * np.pi * xx) + theta1[:, None, None] * np.cos(2 * np.pi * yy)
    images = images + 0.01 * rng.standard_normal(images.shape)
    theta = np.column_stack([sign * a, theta1, rng.normal(0.0, 0.1, n)])
    return images[..., None].astype(np.float32), theta.astype(np.float32)


def _toy_nll(k: int) -> float:
    keras.utils.set_random_seed(7)
    x, theta = _bimodal_toy(2048, seed=1)
    x_test, theta_test = _bimodal_toy(512, seed=2)
    model = build_network(TOY_SPEC, input_shape=(TOY_PIX, TOY_PIX, 1), seed=5, mixture_components=k)

    def loss(theta_true: Any, outputs: Any) -> Any:
        return mixture_nll(outputs, theta_true, k=k, n_params=N_PARAMS)

    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=loss)
    model.fit(x, theta, batch_size=128, epochs=12, shuffle=True, verbose=0)
    return float(np.mean(loss(theta_test, model.predict(x_test, verbose=0))))


def test_k2_head_fits_a_bimodal_posterior_better_than_k1() -> None:
    nll_1, nll_2 = _toy_nll(1), _toy_nll(2)
    # One Gaussian must cover both modes ±a (σ ~ a); two components fit each mode (σ ~ noise).
    assert nll_2 < nll_1 - 1.0, (nll_1, nll_2)


def test_network_config_subset_names_k_only_for_mixture_networks() -> None:
    settings = TrainingSettings.from_config({"mixture_components": {"tiny": 2}})
    assert network_config_subset(settings, "tiny")["mixture_components"] == 2
    assert "mixture_components" not in network_config_subset(settings, "tiny_5x5")
    for bad in (0, True, 1.5):
        with pytest.raises(ValueError, match=r"training\.mixture_components\.tiny: expected an integer >= 1"):
            TrainingSettings.from_config({"mixture_components": {"tiny": bad}})


@pytest.mark.parametrize(
    ("value", "expected_text"),
    [
        (0, "0 out of range; allowed: >= 1"),
        (1.5, "expected integer, found float 1.5"),
        (True, "found bool True"),
    ],
)
def test_config_rejects_a_bad_mixture_components_naming_file_and_field(
    tmp_path: Path, value: Any, expected_text: str
) -> None:
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw["training"]["mixture_components"] = {"tiny": value}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as info:
        load_config(path, base_dir=DEMO_CONFIG.parent.parent)
    message = str(info.value)
    assert str(path) in message and "training.mixture_components.tiny" in message and expected_text in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_a_model_whose_width_is_no_head_is_named(tmp_path: Path) -> None:
    inputs = keras.Input(shape=(16, 16, 2))
    outputs = keras.layers.Dense(12)(keras.layers.Flatten()(inputs))  # 12: neither 9 nor 10 K
    path = tmp_path / "model.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ModelFileError) as info:
        load_trained_model(path)
    message = str(info.value)
    assert str(path) in message and "outputs: expected n_outputs(K, 3) outputs per patch" in message
    assert message.endswith("found 12")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


def test_k2_survey_loss_with_bias_term_matches_numpy() -> None:
    rng = np.random.default_rng(5)
    out = rng.normal(size=(3, 4, 20))
    theta = rng.normal(size=(3, 3))
    lam = 7.0
    # numpy: −ln Σₖ πₖ N(θ; μₖ, Σₖ) per patch, mean over patches, less (3/2) ln 2π, plus the bias term.
    flat = out.reshape(-1, 20)
    mean, _ = _numpy_mixture(flat, k=2)
    blocks = flat[:, :18].reshape(-1, 2, 9)
    logits = flat[:, 18:]
    weights = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    targets = np.repeat(theta, 4, axis=0)
    density = np.zeros(len(flat))
    for c in range(2):
        for i, b in enumerate(blocks[:, c]):
            chol = np.diag(np.log1p(np.exp(b[3:6])))
            chol[1, 0], chol[2, 0], chol[2, 1] = b[6], b[7], b[8]
            u = chol.T @ (b[:3] - targets[i])
            density[i] += weights[i, c] * np.prod(np.diag(chol)) * np.exp(-0.5 * u @ u) / (2 * np.pi) ** 1.5
    nll = (-np.log(density)).reshape(3, 4).mean(axis=1) - 1.5 * np.log(2 * np.pi)
    bias = mean.reshape(3, 4, 3).mean(axis=1) - theta
    expected = nll + lam * np.sum(bias**2, axis=1)
    got = mixture_survey_loss(
        out.astype(np.float32), theta.astype(np.float32), k=2, n_params=3, bias_lambda=lam
    )
    np.testing.assert_allclose(got.numpy(), expected, rtol=2e-4, atol=2e-4)
