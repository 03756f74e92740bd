"""Adversarial training of the emulator (CosmoGAN's recipe) under ``tf.distribute``.

* Loss: the non-saturating GAN loss. The discriminator minimises the cross-entropy of
  "simulated" (label 1) against "generated" (label 0); the generator minimises
  ``-log D(G(z))`` (its maps labelled 1), which keeps gradients alive when D wins early.
* Label flipping: each of the discriminator's target labels is flipped with probability
  ``emulator.label_flip`` (1 %, the seed paper's regulariser).
* Optimiser: Adam (2e-4, β1 = 0.5) for each network; one discriminator then one generator update
  per step, each on ``batch_size`` maps (the global batch, split over the replicas; every
  replica scales its loss by 1 / global batch, so the summed gradient is the batch mean's, as
  in :mod:`wlcnn.training.distribute`).
* Seeding: the weights from the run's seed and the identity ``("emulator", "init")``; every
  step's maps, latents and label flips from ``("emulator", "step", step)``
  (:func:`wlcnn.seeding.rng_for`), so a run resumed from a checkpoint draws what an
  uninterrupted one would have drawn.
* Checkpoints (:class:`wlcnn.training.checkpoints.Checkpoints`): both networks, both optimisers
  and the step, every ``checkpoint_every`` steps; a rerun resumes from the latest one of the
  same configuration.
* Model selection (seed paper §3): every ``select_every`` steps the generator's weights are
  kept and scored by the χ² distance of its maps' mean power spectra to a development set
  (:func:`wlcnn.emulator.validation.power_spectrum_chi2`); the best-scoring snapshot is the
  trained generator.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wlcnn.atomic import atomic_write_text
from wlcnn.emulator.networks import build_discriminator, build_generator
from wlcnn.emulator.settings import EmulatorSettings
from wlcnn.seeding import rng_for, seed_sequence_for
from wlcnn.training.checkpoints import HISTORY_FILE, Checkpoints
from wlcnn.training.distribute import Distribution, make_distribution

__all__ = ["HISTORY_COLUMNS", "TrainedEmulator", "snapshot_name", "train_gan"]

log = logging.getLogger("wlcnn.emulator")

#: Columns of history.csv (``ps_chi2`` empty where no snapshot was scored).
HISTORY_COLUMNS = ("step", "loss_discriminator", "loss_generator", "ps_chi2")
#: Seed-identity prefix of every draw of the emulator's training.
RNG_IDENTITY = "emulator"


def snapshot_name(step: int) -> str:
    """File name of the generator's weights kept at ``step`` for model selection."""
    return f"generator_step{step:07d}.weights.h5"


@dataclass
class TrainedEmulator:
    """The outcome of :func:`train_gan`.

    Attributes
    ----------
    generator
        The selected generator (Keras model).
    history
        One dict per logged or scored step (:data:`HISTORY_COLUMNS`).
    selected_step
        Step of the selected snapshot (the last step when none was scored).
    selected_chi2
        Its χ² to the development set (NaN when none was scored).
    start_step
        The step training resumed from (0 when it started afresh).
    distribution
        The strategy used.
    """

    generator: Any
    history: list[dict[str, float]]
    selected_step: int
    selected_chi2: float
    start_step: int
    distribution: Distribution


def _history_csv(rows: Sequence[Mapping[str, float]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: ("" if isinstance(row[k], float) and math.isnan(row[k]) else row[k]) for k in HISTORY_COLUMNS}
        )
    return buf.getvalue()


def _read_history(path: Path, *, upto: int) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    rows = []
    for row in csv.DictReader(path.open()):
        step = int(row["step"])
        if step <= upto:
            rows.append(
                {
                    "step": step,
                    **{k: float(row[k]) if row[k] else math.nan for k in HISTORY_COLUMNS[1:]},
                }
            )
    return rows


def train_gan(
    maps: np.ndarray,
    conditions: np.ndarray | None,
    *,
    settings: EmulatorSettings,
    seed: int,
    out_dir: str | Path,
    checkpoint_dir: str | Path,
    score: Callable[[Any], float] | None = None,
    distribution: Distribution | None = None,
    config_subset: Mapping[str, Any] | None = None,
) -> TrainedEmulator:
    """Train the generator on ``maps`` (already in the tanh range) and select a snapshot.

    Parameters
    ----------
    maps
        Training maps after the pixel transform, shape (n_maps, n, n, n_bins), float32.
    conditions
        Normalised (Ωm, σ8) per map, shape (n_maps, 2) (None for the unconditional generator).
    settings
        The ``emulator`` settings.
    seed
        The run's base seed.
    out_dir
        Where ``history.csv`` is written as training goes.
    checkpoint_dir
        Checkpoints and the generator snapshots (survive a rerun).
    score
        Callable of a generator returning its χ² to the development set (lower is better);
        None: no selection, the last step is kept.
    distribution
        The ``tf.distribute`` strategy (default: :func:`make_distribution` of ``settings.strategy``).
    config_subset
        The configuration recorded beside the checkpoints.

    Returns
    -------
    TrainedEmulator
        The selected generator and the loss history.
    """
    import keras  # lazy: the emulator package is used without TensorFlow
    import tensorflow as tf  # lazy: as above

    if settings.conditional != (conditions is not None):
        raise ValueError(
            f"conditions: expected {'(n_maps, 2) values' if settings.conditional else 'None'} for "
            f"emulator.conditional = {settings.conditional}, "
            f"found {'None' if conditions is None else 'values'}"
        )
    dist = distribution or make_distribution(kind=settings.strategy)
    if settings.batch_size % dist.num_replicas:
        raise ValueError(
            f"emulator.batch_size: expected a multiple of the {dist.num_replicas} replicas, "
            f"found {settings.batch_size}"
        )
    out, ckpt_dir = Path(out_dir), Path(checkpoint_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_bins = int(maps.shape[-1])
    keras.utils.set_random_seed(int(seed_sequence_for(seed, RNG_IDENTITY, "init").generate_state(1)[0]))
    tf.config.experimental.enable_op_determinism()
    strategy = dist.strategy
    with strategy.scope():
        generator = build_generator(settings, n_bins=n_bins)
        discriminator = build_discriminator(settings, n_bins=n_bins)
        opt_g = keras.optimizers.Adam(
            settings.learning_rate, beta_1=settings.adam_beta1, beta_2=settings.adam_beta2
        )
        opt_d = keras.optimizers.Adam(
            settings.learning_rate, beta_1=settings.adam_beta1, beta_2=settings.adam_beta2
        )
        opt_g.build(generator.trainable_variables)
        opt_d.build(discriminator.trainable_variables)
        step_var = tf.Variable(
            tf.constant(0, tf.int64),
            trainable=False,
            name="global_step",
            synchronization=tf.VariableSynchronization.ON_WRITE,
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
        )
    fields = {
        "settings": settings.fingerprint_fields(),
        "seed": seed,
        "n_maps": int(maps.shape[0]),
        "n_bins": n_bins,
    }
    fingerprint = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()
    checkpoints = Checkpoints(
        tf.train.Checkpoint(
            generator=generator, discriminator=discriminator, opt_g=opt_g, opt_d=opt_d, step=step_var
        ),
        step_var,
        ckpt_dir=ckpt_dir,
        out_dir=out,
        fingerprint=fingerprint,
        config=dict(config_subset or fields),
        dist=dist,
        keep=settings.keep_checkpoints,
    )
    start = checkpoints.restore(total=settings.n_steps)
    checkpoints.prepare_directory()
    checkpoints.restore_history(start)
    history = _read_history(out / HISTORY_FILE, upto=start)
    global_batch = settings.batch_size

    def gen_inputs(z: Any, c: Any) -> Any:
        return [z, c] if settings.conditional else z

    def replica_step(batch: tuple[Any, ...]) -> Any:
        real, cond, z_d, z_g, y_real, y_fake = batch
        bce = keras.losses.BinaryCrossentropy(from_logits=True, reduction="none")
        with tf.GradientTape() as tape:
            fake = generator(gen_inputs(z_d, cond), training=True)
            logit_real = discriminator(gen_inputs(real, cond), training=True)
            logit_fake = discriminator(gen_inputs(fake, cond), training=True)
            loss_d = (
                tf.reduce_sum(bce(y_real, logit_real)) + tf.reduce_sum(bce(y_fake, logit_fake))
            ) / global_batch
        grads = tape.gradient(loss_d, discriminator.trainable_variables)
        opt_d.apply_gradients(zip(grads, discriminator.trainable_variables, strict=True))
        with tf.GradientTape() as tape:
            fake = generator(gen_inputs(z_g, cond), training=True)
            logit_fake = discriminator(gen_inputs(fake, cond), training=True)
            # non-saturating: the generator's maps labelled "simulated"
            loss_g = tf.reduce_sum(bce(tf.ones_like(logit_fake), logit_fake)) / global_batch
        grads = tape.gradient(loss_g, generator.trainable_variables)
        opt_g.apply_gradients(zip(grads, generator.trainable_variables, strict=True))
        return loss_d, loss_g

    @tf.function
    def train_step(batch: Any) -> Any:
        loss_d, loss_g = strategy.run(replica_step, args=(batch,))
        return (
            strategy.reduce(tf.distribute.ReduceOp.SUM, loss_d, axis=None),
            strategy.reduce(tf.distribute.ReduceOp.SUM, loss_g, axis=None),
        )

    n_maps = maps.shape[0]
    cond_all = conditions if conditions is not None else np.zeros((n_maps, 0), np.float32)

    def draw(step: int) -> tuple[np.ndarray, ...]:
        rng = rng_for(seed, RNG_IDENTITY, "step", step)
        idx = rng.integers(n_maps, size=global_batch)
        z_d = rng.standard_normal((global_batch, settings.latent_dim)).astype(np.float32)
        z_g = rng.standard_normal((global_batch, settings.latent_dim)).astype(np.float32)
        flip_real = rng.random((global_batch, 1)) < settings.label_flip
        flip_fake = rng.random((global_batch, 1)) < settings.label_flip
        y_real = np.where(flip_real, 0.0, 1.0).astype(np.float32)
        y_fake = np.where(flip_fake, 1.0, 0.0).astype(np.float32)
        return maps[idx], cond_all[idx], z_d, z_g, y_real, y_fake

    def distribute(arrays: tuple[np.ndarray, ...]) -> Any:
        def per_replica(ctx: Any) -> Any:
            i, n = ctx.replica_id_in_sync_group, ctx.num_replicas_in_sync
            return tuple(tf.constant(a[i::n]) for a in arrays)

        return strategy.experimental_distribute_values_from_function(per_replica)

    def write_history() -> None:
        if dist.is_chief:
            atomic_write_text(out / HISTORY_FILE, _history_csv(history))

    log.info(
        "emulator: %s; generator %d, discriminator %d parameters; %d maps; steps %d -> %d",
        dist.describe(),
        generator.count_params(),
        discriminator.count_params(),
        n_maps,
        start,
        settings.n_steps,
    )
    for step in range(start + 1, settings.n_steps + 1):
        loss_d, loss_g = train_step(distribute(draw(step)))
        scored = score is not None and (step % settings.select_every == 0 or step == settings.n_steps)
        if scored or step % settings.log_every == 0:
            chi2 = math.nan
            if scored and score is not None:
                chi2 = float(score(generator))
                if dist.is_chief:
                    generator.save_weights(str(ckpt_dir / snapshot_name(step)))
            row = {
                "step": step,
                "loss_discriminator": float(loss_d),
                "loss_generator": float(loss_g),
                "ps_chi2": chi2,
            }
            history.append(row)
            log.info(
                "step %d: loss D %.4f, G %.4f, PS chi2 %.4g",
                step,
                row["loss_discriminator"],
                row["loss_generator"],
                chi2,
            )
            write_history()
        if step % settings.checkpoint_every == 0 or step == settings.n_steps:
            write_history()
            checkpoints.save(step)
    checkpoints.cleanup()
    scored_rows = [r for r in history if not math.isnan(r["ps_chi2"])]
    if scored_rows:
        best = min(scored_rows, key=lambda r: r["ps_chi2"])
        selected, selected_chi2 = int(best["step"]), float(best["ps_chi2"])
        generator.load_weights(str(ckpt_dir / snapshot_name(selected)))
    else:
        selected, selected_chi2 = settings.n_steps, math.nan
    log.info("selected the generator of step %d (PS chi2 %.4g)", selected, selected_chi2)
    return TrainedEmulator(
        generator=generator,
        history=history,
        selected_step=selected,
        selected_chi2=selected_chi2,
        start_step=start,
        distribution=dist,
    )
