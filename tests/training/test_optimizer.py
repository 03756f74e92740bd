"""Clipped Adam (global norm of the all-reduced gradient), skipped non-finite steps, loss scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from wlcnn.training import optimizer as opt_module
from wlcnn.training import train_network
from wlcnn.training.optimizer import ClippedAdam, LossScale
from wlcnn.training.synthetic import write_synthetic_map_files


def _numpy_adam(
    params: list[np.ndarray],
    grads: list[list[np.ndarray]],
    *,
    lr: float,
    clip: float,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
) -> list[np.ndarray]:
    params = [p.astype(np.float64).copy() for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t, raw in enumerate(grads, start=1):
        norm = np.sqrt(sum(float(np.sum(x.astype(np.float64) ** 2)) for x in raw))
        g = [x * min(1.0, clip / norm) for x in raw]
        for i, gi in enumerate(g):
            m[i] = b1 * m[i] + (1 - b1) * gi
            v[i] = b2 * v[i] + (1 - b2) * gi**2
            params[i] -= lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m[i] / (np.sqrt(v[i]) + eps)
    return params


def test_matches_adam_on_the_clipped_gradient() -> None:
    rng = np.random.default_rng(1)
    init = [rng.normal(size=(3, 2)).astype(np.float32), rng.normal(size=(4,)).astype(np.float32)]
    variables = [tf.Variable(x) for x in init]
    opt = ClippedAdam(variables, clip_norm=0.5)
    grads = [[rng.normal(scale=s, size=x.shape).astype(np.float32) for x in init] for s in (0.01, 3.0, 10.0)]
    norms = []
    for g in grads:
        norm, ok = opt.apply([tf.constant(x) for x in g], learning_rate=0.1)
        norms.append(float(norm))
        assert bool(ok)
    expected = _numpy_adam(init, grads, lr=0.1, clip=0.5)
    for var, exp in zip(variables, expected, strict=True):
        np.testing.assert_allclose(var.numpy(), exp, rtol=1e-5, atol=1e-6)
    assert norms[0] < 0.5 < norms[1]  # the clipping was active in later steps
    assert int(opt.iterations.numpy()) == 3


def test_non_finite_gradient_skips_the_step() -> None:
    variables = [tf.Variable([1.0, 2.0])]
    opt = ClippedAdam(variables)
    opt.apply([tf.constant([0.1, 0.2])], learning_rate=0.01)
    before = variables[0].numpy().copy(), opt.m[0].numpy().copy()
    _, ok = opt.apply([tf.constant([np.inf, 0.2])], learning_rate=0.01)
    assert not bool(ok)
    np.testing.assert_array_equal(variables[0].numpy(), before[0])
    np.testing.assert_array_equal(opt.m[0].numpy(), before[1])
    assert (int(opt.iterations.numpy()), int(opt.skipped.numpy())) == (1, 1)


def test_loss_scale_halves_on_overflow_and_grows_after_finite_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(opt_module, "LOSS_SCALE_GROWTH_INTERVAL", 3)
    scale = LossScale(enabled=True)
    start = float(scale.scale.numpy())
    scale.update(tf.constant(False))
    assert float(scale.scale.numpy()) == start / 2
    for _ in range(3):
        scale.update(tf.constant(True))
    assert float(scale.scale.numpy()) == start
    off = LossScale(enabled=False)
    off.update(tf.constant(False))
    assert float(off.scale.numpy()) == 1.0


@pytest.mark.parametrize(("precision", "xla"), [("bfloat16", False), ("float16", False), ("none", True)])
def test_precision_and_xla_options_train_like_float32(precision: str, xla: bool, tmp_path: Path) -> None:
    train, test = write_synthetic_map_files(
        tmp_path / "maps", cosmologies=[(0.2, 0.9), (0.3, 0.8)], n_realisations=2, n_bins=2, n_pix=16, seed=2
    )
    config = {"n_steps": 6, "cosmologies_per_step": 2, "learning_rate": 1e-3, "log_every": 6}
    runs = [
        train_network(
            train_files=train,
            validation_files=test,
            out_dir=tmp_path / name,
            preset="tiny",
            training_config={**config, **extra},
            base_seed=1,
            n_patches=2,
        )
        for name, extra in (("ref", {}), ("opt", {"mixed_precision": precision, "xla": xla}))
    ]
    ref, other = runs
    assert np.isfinite(other.final_loss)
    # Reduced precision changes the numbers a little, not the course of training.
    assert other.final_loss == pytest.approx(ref.final_loss, rel=0.02, abs=0.02)
    assert other.final_val_loss == pytest.approx(ref.final_val_loss, rel=0.02, abs=0.02)
