"""The CNN shear estimator of the seed paper (Table 2), its training and its measurements.

Architecture (32 × 32 × 1 input, 107 866 parameters, :data:`SEED_PAPER_PARAMETERS`)::

    Conv (5, 5) × 64, stride (3, 3), ReLU      -> 10 × 10 × 64
    Conv (1, 1) × 40, ReLU                     -> 10 × 10 × 40
    Conv (1, 1) × 10, ReLU                     -> 10 × 10 × 10
    Affine (100), ReLU, Dropout
    Affine (30), ReLU, Dropout
    Affine (2)                                 -> (g1, g2)

Each stamp is normalised before the network sees it (its pixel mean subtracted, divided by its
standard deviation: the seed paper's §4.2), which makes the estimator blind to a constant
background. The loss is the mean squared error ⟨‖Φ(x) − g‖²⟩ (Eq. 13), minimised with RMSProp.

Training follows the project's conventions (:mod:`wlcnn.training`): the ``tf.distribute``
strategy of :func:`~wlcnn.training.distribute.make_distribution`, checkpoints with a
configuration fingerprint and resume through :class:`~wlcnn.training.checkpoints.Checkpoints`,
progress in the rule's log and ``history.csv``. Batches are drawn by step number
(:func:`wlcnn.seeding.rng_for`), so a resumed run sees the same batches as an uninterrupted one.
The seed paper's final least-squares refit of the last layer is left out: the calibration
(:mod:`wlcnn.shapes.calibration`) corrects the same regression attenuation.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from wlcnn.atomic import atomic_path
from wlcnn.seeding import rng_for
from wlcnn.shapes.settings import EstimatorSettings
from wlcnn.training.checkpoints import Checkpoints
from wlcnn.training.distribute import make_distribution
from wlcnn.training.history import HistoryWriter

__all__ = [
    "MODEL_FILE",
    "SEED_PAPER_PARAMETERS",
    "build_shear_cnn",
    "load_estimator",
    "measure_cnn",
    "normalise_stamps",
    "train_shear_estimator",
]

log = logging.getLogger("wlcnn.shapes")

#: Parameter count of the seed paper's Table 2 network (32 × 32 stamps).
SEED_PAPER_PARAMETERS = 107_866
#: The trained network in the rule's output directory.
MODEL_FILE = "model.keras"
#: Outputs: (g1, g2).
N_OUTPUTS = 2
_CONV1 = {"filters": 64, "kernel_size": 5, "strides": 3}
_CONV2_FILTERS = 40
_CONV3_FILTERS = 10
_DENSE_UNITS = (100, 30)
#: Guards the normalisation of a constant (empty) stamp.
_TINY_STD = 1e-12
#: Loss rows written to the log and history: this many over a run.
_LOG_ROWS = 20


def normalise_stamps(stamps: np.ndarray) -> np.ndarray:
    """(N, S, S) stamps → (N, S, S, 1) float32, each minus its mean, over its standard deviation."""
    # float32 throughout: the normalisation would otherwise cost more than the network
    x = np.asarray(stamps, dtype=np.float32)
    mean = x.mean(axis=(1, 2), keepdims=True)
    centred = x - mean
    std = np.sqrt(np.mean(np.square(centred), axis=(1, 2), keepdims=True))
    return (centred / np.maximum(std, _TINY_STD))[..., np.newaxis]


def build_shear_cnn(*, stamp_size: int, dropout: float) -> Any:
    """The Table 2 network for ``stamp_size``² stamps (uncompiled Keras model)."""
    import tensorflow as tf  # lazy: importing wlcnn.shapes must not need TensorFlow

    layers = tf.keras.layers
    inputs = tf.keras.Input(shape=(stamp_size, stamp_size, 1), name="stamp")
    x = layers.Conv2D(**_CONV1, activation="relu", name="conv5x5")(inputs)
    x = layers.Conv2D(_CONV2_FILTERS, 1, activation="relu", name="conv1x1_a")(x)
    x = layers.Conv2D(_CONV3_FILTERS, 1, activation="relu", name="conv1x1_b")(x)
    x = layers.Flatten()(x)
    for units in _DENSE_UNITS:
        x = layers.Dense(units, activation="relu")(x)
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(N_OUTPUTS, name="shear")(x)
    return tf.keras.Model(inputs, outputs, name="shear_cnn")


@contextlib.contextmanager
def _op_determinism() -> Iterator[None]:
    """TensorFlow op determinism while the block runs (process-wide: restored afterwards).

    The same seed then gives the same trained weights and measurements bit for bit, as the CI
    comparison of a local and a SLURM demo requires.
    """
    import tensorflow as tf  # lazy: importing wlcnn.shapes must not need TensorFlow
    from tensorflow.python.framework import config as tf_config  # lazy: as above (no public query)

    was_deterministic = tf_config.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if not was_deterministic:
            tf_config.disable_op_determinism()


def _fingerprint(config: Mapping[str, Any]) -> str:
    """What checkpoints depend on: everything but the number of steps (a run may be extended)."""
    kept = {k: v for k, v in config.items() if k != "steps"}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()


def train_shear_estimator(
    stamps: np.ndarray,
    shear: np.ndarray,
    *,
    settings: EstimatorSettings,
    seed: int,
    out_dir: str | Path,
    fingerprint_config: Mapping[str, Any],
) -> dict[str, Any]:
    """Train the estimator on (stamps, true shear); write ``model.keras`` into ``out_dir``.

    Parameters
    ----------
    stamps
        (N, S, S) training stamps (raw; normalised here).
    shear
        (N, 2) their true shears.
    settings
        ``shapes.estimator``.
    seed
        The run's base seed.
    out_dir
        Output directory (``model.keras``, ``history.csv``; checkpoints in ``checkpoints/``).
    fingerprint_config
        The configuration the checkpoints belong to (stale ones are moved aside).

    Returns
    -------
    dict
        ``final_loss``, ``steps``, ``resumed_from``, ``seconds``, ``n_parameters``, ``strategy``.
    """
    with _op_determinism():
        return _train(
            stamps,
            shear,
            settings=settings,
            seed=seed,
            out_dir=out_dir,
            fingerprint_config=fingerprint_config,
        )


def _train(
    stamps: np.ndarray,
    shear: np.ndarray,
    *,
    settings: EstimatorSettings,
    seed: int,
    out_dir: str | Path,
    fingerprint_config: Mapping[str, Any],
) -> dict[str, Any]:
    """:func:`train_shear_estimator` under op determinism."""
    import tensorflow as tf  # lazy: importing wlcnn.shapes must not need TensorFlow

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tf.keras.utils.set_random_seed(int(rng_for(seed, "shapes_estimator", "init").integers(2**31)))
    x_all = normalise_stamps(stamps)
    y_all = np.asarray(shear, dtype=np.float32)
    dist = make_distribution(kind=settings.strategy)
    log.info("%s", dist.describe())
    with dist.strategy.scope():
        model = build_shear_cnn(stamp_size=x_all.shape[1], dropout=settings.dropout)
        optimizer = tf.keras.optimizers.RMSprop(learning_rate=settings.learning_rate)
        step_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step_var)
    checkpoints = Checkpoints(
        checkpoint,
        step_var,
        ckpt_dir=out_dir / "checkpoints",
        out_dir=out_dir,
        fingerprint=_fingerprint(fingerprint_config),
        config=fingerprint_config,
        dist=dist,
        keep=settings.keep_checkpoints,
    )
    start = checkpoints.restore(total=settings.steps)
    checkpoints.prepare_directory()
    checkpoints.restore_history(start)
    history = HistoryWriter(out_dir / "history.csv")
    history.truncate(start)
    batch = settings.batch_size

    def batches() -> Any:
        for step in range(start, settings.steps):
            index = rng_for(seed, "shapes_estimator", "batch", step).integers(x_all.shape[0], size=batch)
            yield x_all[index], y_all[index]

    signature = (
        tf.TensorSpec((batch, *x_all.shape[1:]), tf.float32),
        tf.TensorSpec((batch, N_OUTPUTS), tf.float32),
    )
    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
    distributed = dist.strategy.experimental_distribute_dataset(dataset)

    def replica_step(x: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            per_example = tf.reduce_sum(tf.square(model(x, training=True) - y), axis=-1)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=batch)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    @tf.function
    def train_step(x: Any, y: Any) -> Any:
        losses = dist.strategy.run(replica_step, args=(x, y))
        return dist.strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

    every = max(1, settings.steps // _LOG_ROWS)
    started = time.perf_counter()
    loss_value, step = float("nan"), start
    for step, (x, y) in enumerate(distributed, start=start + 1):
        loss_value = float(train_step(x, y))
        if step % every == 0 or step == settings.steps:
            elapsed = time.perf_counter() - started
            rate = (step - start) / max(elapsed, _TINY_STD)
            log.info("step %d/%d: loss %.5f (%.1f steps/s)", step, settings.steps, loss_value, rate)
            if dist.is_chief:
                history.append(
                    {
                        "step": step,
                        "stage": "shapes",
                        "train_loss": loss_value,
                        "steps_per_s": rate,
                        "elapsed_s": elapsed,
                    }
                )
        if step % settings.checkpoint_every == 0 or step == settings.steps:
            checkpoints.save(step)
    checkpoints.cleanup()
    if dist.is_chief:
        with atomic_path(out_dir / MODEL_FILE, suffix=".keras", suffix_last=True) as tmp:
            model.save(tmp)
    return {
        "final_loss": loss_value,
        "steps": settings.steps,
        "resumed_from": start,
        "seconds": time.perf_counter() - started,
        "n_parameters": int(model.count_params()),
        "strategy": dist.kind,
    }


def load_estimator(path: str | Path) -> Any:
    """The trained estimator saved by :func:`train_shear_estimator`."""
    import tensorflow as tf  # lazy: importing wlcnn.shapes must not need TensorFlow

    return tf.keras.models.load_model(path, compile=False)


def measure_cnn(model: Any, stamps: np.ndarray, *, batch_size: int) -> np.ndarray:
    """Raw (uncalibrated) (N, 2) shear estimates of ``stamps`` (N, S, S)."""
    import tensorflow as tf  # lazy: importing wlcnn.shapes must not need TensorFlow

    if len(stamps) == 0:
        return np.empty((0, N_OUTPUTS))
    # one traced call per batch shape (Keras' predict loop costs more than this small network)
    forward = tf.function(model, reduce_retracing=True)
    with _op_determinism():
        parts = [
            forward(normalise_stamps(stamps[start : start + batch_size]), training=False).numpy()
            for start in range(0, len(stamps), batch_size)
        ]
    return np.concatenate(parts).astype(np.float64)
