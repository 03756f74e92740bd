"""The training loop: custom ``tf.distribute`` loop, resumption, curriculum.

Checkpoint files are kept by :mod:`wlcnn.training.checkpoints`, the trained network is written
by :mod:`wlcnn.training.export` (:func:`load_trained_model` is re-exported from there).

:func:`train_network` trains one network and writes into ``out_dir``::

    model.keras            the trained network (Keras format; per-patch (N, N, C) → 9 outputs, or
                           n_outputs(K, 3) for a K-component mixture head)
    training_config.json   network, training settings, curriculum, input shape, forward model
    history.csv            loss history (wlcnn.training.history)
    loss.png               training and validation loss (the paper's Fig. 11)
    provenance.json        inputs, configuration, code and software versions
    tensorboard/           TensorBoard event files (loss, validation loss, throughput)
    checkpoints/           tf.train checkpoints + fingerprint.json (``checkpoint_dir``)
    stages/<stage>.keras   the network at the end of each curriculum stage but the last

Per step: the input pipeline delivers raw κ / κ_IA maps, A_IA, seeds and targets per replica;
the replica applies the forward model (on its device), runs the network on every patch,
computes the survey loss (:mod:`wlcnn.training.loss`; for a network with
``training.mixture_components`` K > 1 the mixture's,
:func:`wlcnn.training.mixture_density.mixture_survey_loss`) scaled by 1 / global batch, all-reduces
the gradients, and :class:`~wlcnn.training.optimizer.ClippedAdam` clips the global norm to
``clip_global_norm`` and updates (see :mod:`wlcnn.training.distribute` for batch and learning
rate).

Checkpoints and resumption
--------------------------
A checkpoint (model, optimizer moments, loss scale, global step) is written every
``checkpoint_every`` steps, at the end of every stage, and when SIGTERM or SIGUSR1 arrives
(SLURM sends SIGTERM at the time limit, ``KillWait`` seconds before SIGKILL, and SIGUSR1 earlier
with ``sbatch --signal=USR1@300``, which reaches every task of the job's steps; the step in
progress finishes first; all workers agree on the step to stop at through an all-reduce).
TensorFlow writes the checkpoint files first and then replaces the ``checkpoint`` index file by
an atomic rename, so a crash or SIGKILL at any moment leaves the
previous checkpoint usable and loses at most ``checkpoint_every`` steps. A rerun with the same
arguments restores the latest checkpoint and continues to the configured number of steps (the
data of step ``s`` are the same as in an uninterrupted run, see
:mod:`wlcnn.training.input_pipeline`). A run whose checkpoints came from a different
configuration (``fingerprint.json``; keys in
:data:`wlcnn.training.settings.RESUMABLE_KEYS` may change) starts afresh and moves the old
checkpoints to ``checkpoints.stale-<time>``. After a signal the function raises
:class:`TrainingInterrupted` (the command line exits with 128 + signal number).

Under ``MultiWorkerMirroredStrategy`` all workers need the checkpoint directory on a shared file
system; worker 0 writes the results, the others write their checkpoint copies to a temporary
directory and delete them.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wlcnn.provenance import utc_now
from wlcnn.seeding import rng_for
from wlcnn.training.checkpoints import Checkpoints
from wlcnn.training.distribute import Distribution, distribution_of, make_distribution
from wlcnn.training.export import TrainedRun, export_network, load_trained_model, save_stage_model
from wlcnn.training.forward import ForwardFn, StandInForwardModel
from wlcnn.training.history import HistoryWriter, progress_line
from wlcnn.training.input_pipeline import (
    TRAIN_STREAM,
    VALIDATION_STREAM,
    ExamplePlanner,
    MapReader,
    dataset_for_replicas,
    describe_cosmologies,
    per_replica_batch,
    scan_map_files,
)
from wlcnn.training.loss import N_PARAMS, survey_loss
from wlcnn.training.mixture_density import mixture_survey_loss, n_outputs
from wlcnn.training.networks import build_network, network_spec
from wlcnn.training.settings import (
    Stage,
    TrainingSettings,
    mixture_components_for,
    network_config_subset,
    resume_fingerprint,
    stages_for,
)

__all__ = [
    "CHECKPOINT_SIGNALS",
    "TrainingInterrupted",
    "TrainingResult",
    "load_trained_model",
    "train_network",
]

log = logging.getLogger("wlcnn.training")

#: Signals that make the loop checkpoint and stop (SLURM's warning signals before the time limit).
CHECKPOINT_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
#: Patches per simulated survey in the paper (SPEC §6); the survey configuration may say otherwise.
DEFAULT_N_PATCHES = 20
#: Keras dtype policy per ``training.mixed_precision``.
_POLICIES = {"none": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}
#: The loss history in the output directory (:mod:`wlcnn.training.history`).
HISTORY_FILE = "history.csv"
#: TensorBoard event files in the output directory.
TENSORBOARD_DIR = "tensorboard"


class TrainingInterrupted(RuntimeError):  # noqa: N818 - a planned stop after a checkpoint, not an error
    """A checkpoint signal stopped training after saving; rerun to continue.

    Attributes
    ----------
    step
        The global step saved in the checkpoint.
    signum
        The signal received.
    """

    def __init__(self, step: int, signum: int) -> None:
        self.step = step
        self.signum = signum
        super().__init__(
            f"training stopped by signal {signal.Signals(signum).name} after step {step} "
            "(checkpoint saved; rerun to continue)"
        )


@dataclass(frozen=True)
class TrainingResult:
    """What :func:`train_network` produced.

    Attributes
    ----------
    out_dir, model_path, history_path
        Output directory, exported model, history CSV (the latter two None on non-chief workers).
    steps
        Global steps done (the configured total).
    resumed_from
        Step the run started from (0 for a fresh run).
    final_loss, final_val_loss
        Mean training loss of the last logged interval and the last validation loss (or None).
    model
        The trained Keras model (per-patch inputs → 9 outputs).
    """

    out_dir: Path
    model_path: Path | None
    history_path: Path | None
    steps: int
    resumed_from: int
    final_loss: float | None
    final_val_loss: float | None
    model: Any = None


class _SignalFlag:
    """Records checkpoint signals; installed only in the main thread (Python's rule)."""

    def __init__(self) -> None:
        self.signum = 0
        self._previous: dict[signal.Signals, Any] = {}

    def _handle(self, signum: int, _frame: object) -> None:
        self.signum = signum

    @contextmanager
    def installed(self) -> Iterator[_SignalFlag]:
        if threading.current_thread() is threading.main_thread():
            for sig in CHECKPOINT_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        else:
            log.warning("not in the main thread: SIGTERM/SIGUSR1 checkpoints are disabled")
        try:
            yield self
        finally:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
            self._previous.clear()


def _settings(training_config: TrainingSettings | Mapping[str, Any]) -> TrainingSettings:
    if isinstance(training_config, TrainingSettings):
        return training_config
    return TrainingSettings.from_config(training_config)


class _Trainer:
    """State of one :func:`train_network` call (split out to keep each piece readable)."""

    def __init__(
        self,
        *,
        settings: TrainingSettings,
        dist: Distribution,
        preset: str,
        base_seed: int,
        n_patches: int,
        forward: ForwardFn,
        train_files: Sequence[str | Path],
        validation_files: Sequence[str | Path],
        out_dir: Path,
        checkpoint_dir: Path,
    ) -> None:
        import tensorflow as tf

        self.tf = tf
        self.s = settings
        self.dist = dist
        self.strategy = dist.strategy
        self.preset = preset
        self.base_seed = int(base_seed)
        self.n_patches = int(n_patches)
        self.forward = forward
        self.out_dir = out_dir
        self.ckpt_dir = checkpoint_dir
        self.stages = stages_for(settings, preset)
        self.total = self.stages[-1].stop
        self.global_batch = settings.cosmologies_per_step
        per_replica_batch(self.global_batch, dist.num_replicas)  # fail early on an uneven split
        self.train_cosmos = scan_map_files(train_files)
        self.val_cosmos = scan_map_files(validation_files) if validation_files else []
        self.planner = ExamplePlanner(
            self.train_cosmos,
            base_seed=base_seed,
            stream=TRAIN_STREAM,
            n_patches=n_patches,
            a_ia_range=settings.a_ia_range,
            per_step=self.global_batch,
        )
        self.reader = MapReader(self.train_cosmos)
        self.val_planner = self.val_reader = None
        if self.val_cosmos:
            if (self.val_cosmos[0].n_bins, self.val_cosmos[0].n_pix) != (
                self.train_cosmos[0].n_bins,
                self.train_cosmos[0].n_pix,
            ):
                raise ValueError("validation maps differ in bins or pixels from the training maps")
            per_replica_batch(settings.validation_batch, dist.num_replicas)
            self.val_planner = ExamplePlanner(
                self.val_cosmos,
                base_seed=base_seed,
                stream=VALIDATION_STREAM,
                n_patches=n_patches,
                a_ia_range=settings.a_ia_range,
                per_step=settings.validation_batch,
            )
            self.val_reader = MapReader(self.val_cosmos)
        self.spec = network_spec(preset, channels=settings.channels)
        self.mixture_components = mixture_components_for(settings, preset)
        self.n_outputs = n_outputs(self.mixture_components, N_PARAMS)
        self.input_shape = self._input_shape()
        self.policy = _POLICIES[settings.mixed_precision]
        subset = network_config_subset(settings, preset)
        self.config_subset = subset
        self.fingerprint = resume_fingerprint(
            subset,
            stages=self.stages,
            extra={
                "base_seed": self.base_seed,
                "n_patches": self.n_patches,
                "forward_model": forward.identity,
                "train_files": sorted(str(Path(f).resolve()) for f in train_files),
                "spec": self.spec.__dict__,
            },
        )

    # ----------------------------------------------------------------- set-up
    def _input_shape(self) -> tuple[int, int, int]:
        """Shape of one CNN input patch: run the forward model once on a real example."""
        tf = self.tf
        plan = self.planner.plan(0, 0)
        kappa, kappa_ia = self.reader.read(plan)
        out = self.forward(
            tf.constant(kappa[None]),
            tf.constant(kappa_ia[None]),
            tf.constant([plan.a_ia], tf.float32),
            tf.constant(plan.seed[None]),
            noise=True,
        )
        shape = tuple(int(d) for d in out.shape)
        if len(shape) != 5 or shape[:2] != (1, self.n_patches):
            raise ValueError(f"forward model returned shape {shape}; expected (1, {self.n_patches}, N, N, C)")
        return shape[2], shape[3], shape[4]

    def build(self) -> None:
        """Model, optimizer, loss scale and checkpoint objects, under the strategy's scope."""
        tf = self.tf
        from wlcnn.training.optimizer import ClippedAdam, LossScale  # lazy: TensorFlow only when training

        init_seed = int(rng_for(self.base_seed, "training", self.preset, "init").integers(2**31 - 1))
        with self.strategy.scope():
            self.model = build_network(
                self.spec,
                input_shape=self.input_shape,
                seed=init_seed,
                dtype_policy=self.policy,
                mixture_components=self.mixture_components,
            )
            self.optimizer = ClippedAdam(
                self.model.trainable_variables,
                beta1=self.s.adam_beta1,
                beta2=self.s.adam_beta2,
                epsilon=self.s.adam_epsilon,
                clip_norm=self.s.clip_global_norm,
            )
            self.loss_scale = LossScale(enabled=self.s.mixed_precision == "float16")
            self.step_var = tf.Variable(
                tf.constant(0, tf.int64),
                trainable=False,
                name="global_step",
                synchronization=tf.VariableSynchronization.ON_WRITE,
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            )
        self.checkpoints = Checkpoints(
            tf.train.Checkpoint(
                model=self.model, optimizer=self.optimizer, loss_scale=self.loss_scale, step=self.step_var
            ),
            self.step_var,
            ckpt_dir=self.ckpt_dir,
            out_dir=self.out_dir,
            fingerprint=self.fingerprint,
            config=self.config_subset,
            dist=self.dist,
            keep=self.s.keep_checkpoints,
        )

    # ------------------------------------------------------------ step functions
    def _datasets(self, start: int) -> tuple[Any, Any]:
        def train_fn(ctx: Any) -> Any:  # tf.distribute.InputContext -> tf.data.Dataset (TF is lazy)
            return dataset_for_replicas(
                planner=self.planner,
                reader=self.reader,
                start_step=start,
                stop_step=self.total,
                num_replicas=self.dist.num_replicas,
                pipeline_id=ctx.input_pipeline_id,
                num_pipelines=ctx.num_input_pipelines,
                threads=self.s.input_threads,
                prefetch=self.s.prefetch_batches,
            )

        train = self.strategy.distribute_datasets_from_function(train_fn)
        val = None
        val_planner, val_reader = self.val_planner, self.val_reader  # set together, or both None
        if val_planner is not None and val_reader is not None:

            def val_fn(ctx: Any) -> Any:  # tf.distribute.InputContext -> tf.data.Dataset (TF is lazy)
                return dataset_for_replicas(
                    planner=val_planner,
                    reader=val_reader,
                    start_step=0,
                    stop_step=1,
                    num_replicas=self.dist.num_replicas,
                    pipeline_id=ctx.input_pipeline_id,
                    num_pipelines=ctx.num_input_pipelines,
                    threads=self.s.input_threads,
                    prefetch=1,
                    cache=True,
                ).repeat()

            val = self.strategy.distribute_datasets_from_function(val_fn)
        return train, val

    def survey_loss(self, outputs: Any, theta: Any) -> Any:
        """(n_surveys,) loss of the network's head: the Cholesky loss for K = 1, else the mixture's."""
        k = self.mixture_components
        if k == 1:
            # Exactly the loss of before mixture heads existed (bit-identical K = 1 training).
            return survey_loss(outputs, theta, bias_lambda=self.s.bias_lambda)
        return mixture_survey_loss(outputs, theta, k=k, n_params=N_PARAMS, bias_lambda=self.s.bias_lambda)

    def _surveys_to_patches(self, inputs: Any) -> Any:
        tf = self.tf
        ny, nx, c = self.input_shape
        return tf.reshape(inputs, [-1, ny, nx, c])

    def _loss_and_grads(self) -> Callable[..., Any]:
        """(patch inputs, targets, loss scale) → (replica loss, scaled gradients); XLA when asked."""
        tf = self.tf

        model, width, gb = self.model, self.n_outputs, float(self.global_batch)

        def fn(x: Any, theta: Any, scale: Any) -> tuple[Any, list[Any]]:
            with tf.GradientTape() as tape:
                out = tf.reshape(
                    tf.cast(model(x, training=True), tf.float32), [tf.shape(theta)[0], -1, width]
                )
                # Sum over this replica's surveys / global batch: the all-reduced sum is the mean.
                loss = tf.reduce_sum(self.survey_loss(out, theta)) / gb
                scaled = loss * scale
            return loss, tape.gradient(scaled, model.trainable_variables)

        return tf.function(fn, jit_compile=True) if self.s.xla else fn

    def step_functions(self, stage: Stage) -> tuple[Callable[..., Any], Callable[..., Any]]:
        """Distributed train and validation step functions of ``stage`` (noise on / off)."""
        tf = self.tf

        strategy, forward, noise = self.strategy, self.forward, stage.noise
        loss_and_grads = self._loss_and_grads()
        val_gb = float(self.s.validation_batch)

        def patches(batch: Mapping[str, Any], noise_scale: Any) -> Any:
            """The batch's surveys through the forward model, as per-patch network inputs."""
            inputs = forward(
                batch["kappa"],
                batch["kappa_ia"],
                batch["a_ia"],
                batch["seed"],
                noise=noise,
                noise_scale=noise_scale,
            )
            return self._surveys_to_patches(inputs)

        def replica_train(
            batch: Mapping[str, Any], lr: Any, stop: Any, noise_scale: Any
        ) -> tuple[Any, Any, Any]:
            scale = tf.identity(self.loss_scale.scale)
            loss, grads = loss_and_grads(patches(batch, noise_scale), batch["theta"], scale)
            ctx = tf.distribute.get_replica_context()
            grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, [tf.cast(g, tf.float32) for g in grads])
            grads = [g / scale for g in grads]
            norm, finite = self.optimizer.apply(grads, learning_rate=lr)
            self.loss_scale.update(finite)
            # A new tensor per replica: returning the input itself would not be a per-replica value.
            return loss, norm, tf.identity(stop)

        @tf.function
        def train_step(batch: Any, lr: Any, stop: Any, noise_scale: Any) -> tuple[Any, Any, Any]:
            loss, norm, stop_r = strategy.run(replica_train, args=(batch, lr, stop, noise_scale))
            return (
                strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None),
                # The norm is the same on every replica; the stop flag is "any replica" (> 0).
                strategy.reduce(tf.distribute.ReduceOp.MEAN, norm, axis=None),
                strategy.reduce(tf.distribute.ReduceOp.SUM, stop_r, axis=None),
            )

        def replica_val(batch: Mapping[str, Any], noise_scale: Any) -> Any:
            out = tf.cast(self.model(patches(batch, noise_scale), training=False), tf.float32)
            out = tf.reshape(out, [tf.shape(batch["theta"])[0], -1, self.n_outputs])
            return tf.reduce_sum(self.survey_loss(out, batch["theta"])) / val_gb

        @tf.function
        def val_step(batch: Any, noise_scale: Any) -> Any:
            return strategy.reduce(
                tf.distribute.ReduceOp.SUM, strategy.run(replica_val, args=(batch, noise_scale)), axis=None
            )

        return train_step, val_step

    # ------------------------------------------------------------------- loop
    def run(self, start: int, flag: _SignalFlag) -> tuple[float | None, float | None]:
        """Train from ``start`` to the last stage's end; returns (last mean loss, last val loss)."""
        tf = self.tf
        history = HistoryWriter(self.out_dir / HISTORY_FILE) if self.dist.is_chief else None
        if history is not None:
            history.truncate(start)
        writer = (
            tf.summary.create_file_writer(str(self.out_dir / TENSORBOARD_DIR)) if self.dist.is_chief else None
        )
        train_ds, val_ds = self._datasets(start)
        train_it = iter(train_ds)
        val_it = iter(val_ds) if val_ds is not None else None
        maps_per_step = self.global_batch * self.n_patches * self.train_cosmos[0].n_bins
        step, last_loss, last_val = start, None, None
        t_start = time.perf_counter()
        for stage in self.stages:
            if step >= stage.stop:
                continue
            train_step, val_step = self.step_functions(stage)
            lr = tf.constant(stage.learning_rate, tf.float32)
            log.info(
                "stage %s: steps %d-%d, noise %s (ramp over %d steps), learning rate %g",
                stage.name,
                stage.start,
                stage.stop,
                stage.noise,
                stage.noise_ramp_steps,
                stage.learning_rate,
            )
            acc_loss = acc_norm = acc_wait = 0.0
            acc_n = 0
            t_window = time.perf_counter()
            while step < stage.stop:
                t0 = time.perf_counter()
                batch = next(train_it)
                acc_wait += time.perf_counter() - t0
                # the noise ramp's amplitude at this step (1 outside a ramp: the same bits as no scale)
                noise_scale = tf.constant(stage.noise_scale(step), tf.float32)
                loss, norm, stop = train_step(batch, lr, tf.constant(float(flag.signum > 0)), noise_scale)
                step += 1
                acc_loss += float(loss)
                acc_norm += float(norm)
                acc_n += 1
                val_loss = None
                if val_it is not None and (step % self.s.validation_every == 0 or step == self.total):
                    t0 = time.perf_counter()
                    val_loss = last_val = float(val_step(next(val_it), noise_scale))
                    t_window += time.perf_counter() - t0  # validation time is not step time
                end_of_stage = step == stage.stop
                if step % self.s.log_every == 0 or val_loss is not None or end_of_stage or float(stop) > 0:
                    elapsed = max(time.perf_counter() - t_window, 1e-9)
                    rate = acc_n / elapsed
                    last_loss = acc_loss / acc_n
                    row = {
                        "step": step,
                        "stage": stage.name,
                        "train_loss": last_loss,
                        "val_loss": val_loss,
                        "grad_norm": acc_norm / acc_n,
                        "learning_rate": stage.learning_rate,
                        "steps_per_s": rate,
                        "maps_per_s": rate * maps_per_step,
                        "input_wait": min(1.0, acc_wait / elapsed),
                        "skipped": int(self.optimizer.skipped.numpy()),
                        "elapsed_s": time.perf_counter() - t_start,
                    }
                    self._record(row, history, writer)
                    acc_loss = acc_norm = acc_wait = 0.0
                    acc_n = 0
                    t_window = time.perf_counter()
                if float(stop) > 0:
                    self.checkpoints.save(step)
                    raise TrainingInterrupted(step, flag.signum or signal.SIGTERM)
                if step % self.s.checkpoint_every == 0 or end_of_stage:
                    self.checkpoints.save(step)
                if end_of_stage and stage is not self.stages[-1] and self.dist.is_chief:
                    # e.g. the noise-free pre-trained network, for a noise-free analysis
                    save_stage_model(self.model, out_dir=self.out_dir, stage=stage.name)
        if writer is not None:
            writer.flush()
        return last_loss, last_val

    def _record(self, row: Mapping[str, Any], history: HistoryWriter | None, writer: Any) -> None:
        if not self.dist.is_chief:
            return
        tf = self.tf
        log.info(
            progress_line(
                step=row["step"],
                total=self.total,
                stage=row["stage"],
                loss=row["train_loss"],
                val_loss=row["val_loss"],
                steps_per_s=row["steps_per_s"],
                maps_per_s=row["maps_per_s"],
                input_wait=row["input_wait"],
            )
        )
        assert history is not None
        history.append(row)
        scalars = {
            "loss/train": row["train_loss"],
            "loss/validation": row["val_loss"],
            "optimizer/grad_norm": row["grad_norm"],
            "optimizer/learning_rate": row["learning_rate"],
            "throughput/steps_per_s": row["steps_per_s"],
            "throughput/input_wait": row["input_wait"],
        }
        with writer.as_default(step=row["step"]):
            for tag, value in scalars.items():
                if value is not None:
                    _write_scalar(tf, tag, float(value))

    # ----------------------------------------------------------------- export
    def export(
        self,
        *,
        train_files: Sequence[str | Path],
        validation_files: Sequence[str | Path],
        started: str,
        checksum: str,
        extra: Mapping[str, Any] | None,
    ) -> Path | None:
        """Write model, configuration, provenance and loss plot (chief only)."""
        if not self.dist.is_chief:
            return None
        run = TrainedRun(
            spec=self.spec,
            preset=self.preset,
            input_shape=self.input_shape,
            n_patches=self.n_patches,
            n_bins=self.train_cosmos[0].n_bins,
            config=self.config_subset,
            stages=self.stages,
            steps=self.total,
            base_seed=self.base_seed,
            forward_model=self.forward.identity,
            dtype_policy=self.policy,
            distribution=self.dist.describe(),
            train_cosmologies=describe_cosmologies(self.train_cosmos),
            validation_cosmologies=describe_cosmologies(self.val_cosmos),
        )
        return export_network(
            self.model,
            run,
            out_dir=self.out_dir,
            train_files=train_files,
            validation_files=validation_files,
            started=started,
            checksum=checksum,
            extra=extra,
        )

    def cleanup(self) -> None:
        """Close files and remove a non-chief worker's temporary checkpoints."""
        self.reader.close()
        if self.val_reader is not None:
            self.val_reader.close()
        checkpoints = getattr(self, "checkpoints", None)  # None when build() failed
        if checkpoints is not None:
            checkpoints.cleanup()


def _write_scalar(tf: Any, tag: str, value: float) -> None:
    """A TensorBoard scalar without the ``tensorboard`` package (``tf.summary.scalar`` needs it).

    Same record as TensorBoard's own scalar summary: a float32 scalar tensor tagged with the
    ``scalars`` plugin.
    """
    metadata = tf.compat.v1.SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"
    tf.summary.write(tag, tf.constant(value, tf.float32), metadata=metadata)


def _barrier(strategy: Any) -> None:
    """All workers reach this point before any goes on (a tiny all-reduce)."""
    import tensorflow as tf

    @tf.function
    def one() -> Any:
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.constant(1.0)), axis=None)

    one()


def train_network(
    *,
    train_files: Sequence[str | Path],
    validation_files: Sequence[str | Path],
    out_dir: str | Path,
    preset: str,
    training_config: TrainingSettings | Mapping[str, Any],
    base_seed: int,
    n_patches: int = DEFAULT_N_PATCHES,
    forward_model: ForwardFn | None = None,
    strategy: Any = None,
    checkpoint_dir: str | Path | None = None,
    checksum: str = "none",
    extra_provenance: Mapping[str, Any] | None = None,
) -> TrainingResult:
    """Train (or continue training) one network and export it.

    Parameters
    ----------
    train_files
        Map files (HDF5, ``/kappa`` and ``/kappa_ia``) of the training simulations.
    validation_files
        Map files of held-out (test-role) simulations for the validation batch; may be empty.
    out_dir
        Output directory (layout in the module docstring).
    preset
        Network preset (:data:`wlcnn.training.networks.PRESETS`).
    training_config
        The ``training:`` block (mapping) or :class:`TrainingSettings`.
    base_seed
        The run's base seed (``run.seed``): initial weights, example draws and forward-model
        seeds all derive from it.
    n_patches
        Patches per simulated survey (``survey.n_patches``; the forward model's mask must match).
    forward_model
        A :class:`~wlcnn.training.forward.ForwardFn`; default: the stand-in
        (:class:`~wlcnn.training.forward.StandInForwardModel`), with a warning.
    strategy
        A ``tf.distribute`` strategy; default: :func:`wlcnn.training.distribute.make_distribution`.
    checkpoint_dir
        Checkpoint directory (default ``out_dir/checkpoints``). Keep it out of the Snakemake
        rule's declared outputs, so that a failed (interrupted) job does not delete it.
    checksum
        Checksum algorithm of the input files in the provenance (``"none"``: sizes only; map
        files carry their own provenance).
    extra_provenance
        Extra facts for the provenance record.

    Returns
    -------
    TrainingResult

    Raises
    ------
    TrainingInterrupted
        After SIGTERM / SIGUSR1: a checkpoint was saved; rerun to continue.
    """
    import tensorflow as tf

    started = utc_now()
    settings = _settings(training_config)
    if settings.deterministic:
        tf.config.experimental.enable_op_determinism()
    dist = distribution_of(strategy) if strategy is not None else make_distribution()
    if forward_model is None:
        log.warning(
            "no forward model given: using the stand-in (κ + A_IA κ_IA, white noise), not the survey's"
        )
        forward_model = StandInForwardModel()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else out / "checkpoints"
    log.info("training %s: %s", preset, dist.describe())
    trainer = _Trainer(
        settings=settings,
        dist=dist,
        preset=preset,
        base_seed=base_seed,
        n_patches=n_patches,
        forward=forward_model,
        train_files=train_files,
        validation_files=validation_files,
        out_dir=out,
        checkpoint_dir=ckpt_dir,
    )
    try:
        trainer.build()
        start = trainer.checkpoints.restore(total=trainer.total)
        if dist.num_workers > 1:
            _barrier(dist.strategy)  # every worker has read the checkpoints before any are moved
        trainer.checkpoints.prepare_directory()
        trainer.checkpoints.restore_history(start)
        log.info(
            "network %s (%d parameters), input patch %s, %d stage(s), %d steps, %d training and %d "
            "validation cosmologies",
            trainer.spec,
            trainer.model.count_params(),
            trainer.input_shape,
            len(trainer.stages),
            trainer.total,
            len(trainer.train_cosmos),
            len(trainer.val_cosmos),
        )
        flag = _SignalFlag()
        with flag.installed():
            last_loss, last_val = trainer.run(start, flag) if start < trainer.total else (None, None)
        model_path = trainer.export(
            train_files=train_files,
            validation_files=validation_files,
            started=started,
            checksum=checksum,
            extra=extra_provenance,
        )
    finally:
        trainer.cleanup()
    history = out / HISTORY_FILE
    return TrainingResult(
        out_dir=out,
        model_path=model_path,
        history_path=history if history.exists() else None,
        steps=trainer.total,
        resumed_from=start,
        final_loss=last_loss,
        final_val_loss=last_val,
        model=trainer.model,
    )
