"""One code path for 1 device, several local devices and several workers (``tf.distribute``).

:func:`make_distribution` picks the strategy from the environment:

========================================== ==========================================================
environment                                strategy
========================================== ==========================================================
``TF_CONFIG`` naming more than one task    ``MultiWorkerMirroredStrategy`` (TFConfigClusterResolver)
a SLURM step with more than one task       ``MultiWorkerMirroredStrategy`` (SlurmClusterResolver);
                                           each task gets its share of the node's GPUs
several GPUs in this process               ``MirroredStrategy`` over them
``logical_cpus`` > 1 (tests, CPU benches)  ``MirroredStrategy`` over that many logical CPU devices
otherwise                                  the default strategy (the one CPU or GPU)
========================================== ==========================================================

The training loop (:mod:`wlcnn.training.trainer`) is the same for all of them: a custom loop with
``strategy.run`` + ``GradientTape`` (Keras 3 ``model.fit`` does not work under
``MultiWorkerMirroredStrategy``, keras issue 20585).

Global batch and learning rate
------------------------------
``training.cosmologies_per_step`` is the **global** batch: the surveys of one optimizer step,
summed over every replica of every worker. Each replica gets ``cosmologies_per_step /
n_replicas`` surveys (it must divide evenly) and scales its loss by 1 / global batch, so the
all-reduced (summed) gradient is the gradient of the mean loss over the global batch — the same
number as on one device. The learning rate is therefore used as configured, with no scaling
by the number of replicas: 1, 2 or 16 devices follow the same trajectory (up to float
rounding), only faster. To use more devices for a larger batch, raise
``cosmologies_per_step`` and, if wanted, the learning rate explicitly.

The paper trained asynchronously on 16 GPUs with 8 cosmologies each; synchronous data
parallelism is used here because it is reproducible and testable.

Ports
-----
Under SLURM, worker ``i`` on a node listens on ``port_base + i`` (SlurmClusterResolver's
convention); set ``WLCNN_TF_PORT_BASE`` (default :data:`DEFAULT_PORT_BASE`) if that port is
taken.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = [
    "DEFAULT_PORT_BASE",
    "Distribution",
    "configure_logical_cpus",
    "distribution_of",
    "expand_tasks_per_node",
    "make_distribution",
    "slurm_cluster_resolver",
    "tf_config_tasks",
]

#: First port of the workers of a SLURM step (one more per task on the same node).
DEFAULT_PORT_BASE = 8888
_STRATEGY_KINDS = ("auto", "default", "mirrored", "multi_worker")


@dataclass(frozen=True)
class Distribution:
    """The chosen strategy and where this process stands in it.

    Attributes
    ----------
    strategy
        The ``tf.distribute`` strategy.
    kind
        ``"default"``, ``"mirrored"`` or ``"multi_worker"``.
    num_replicas
        Replicas in sync (devices over all workers).
    num_workers
        Worker processes.
    worker_index
        This worker (0 is the chief: it writes checkpoints, logs and the exported model).
    """

    strategy: tf.distribute.Strategy
    kind: str
    num_replicas: int
    num_workers: int
    worker_index: int

    @property
    def is_chief(self) -> bool:
        """True on the worker that writes the results."""
        return self.worker_index == 0

    def describe(self) -> str:
        """One line for the log."""
        return (
            f"{self.kind} strategy: {self.num_replicas} replica(s) over {self.num_workers} worker(s); "
            f"this is worker {self.worker_index}"
        )


def configure_logical_cpus(n: int) -> None:
    """Split the CPU into ``n`` logical devices (before TensorFlow starts its runtime).

    Used for testing ``MirroredStrategy`` on a CPU-only machine; a no-op for ``n <= 1``.
    """
    if n <= 1:
        return
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    existing = tf.config.get_logical_device_configuration(cpus[0])
    if existing is not None and len(existing) == n:
        return
    tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)


def tf_config_tasks(env: Mapping[str, str] | None = None) -> int:
    """Number of tasks in ``TF_CONFIG``'s cluster (0 when unset)."""
    env = os.environ if env is None else env
    raw = env.get("TF_CONFIG")
    if not raw:
        return 0
    cluster = json.loads(raw).get("cluster", {})
    return sum(len(v) for v in cluster.values())


def expand_tasks_per_node(spec: str) -> list[int]:
    """SLURM's ``SLURM_STEP_TASKS_PER_NODE`` (``"3(x2),2"``) as a list (``[3, 3, 2]``)."""
    out: list[int] = []
    for part in spec.split(","):
        m = re.fullmatch(r"(\d+)(?:\(x(\d+)\))?", part.strip())
        if m is None:
            raise ValueError(f"cannot parse tasks per node {spec!r}")
        out.extend([int(m.group(1))] * int(m.group(2) or 1))
    return out


def _slurm_step_tasks(env: Mapping[str, str]) -> int:
    return int(env.get("SLURM_STEP_NUM_TASKS") or 0) if "SLURM_PROCID" in env else 0


def _visible_gpus(env: Mapping[str, str]) -> list[str]:
    """GPU ids visible to this process, without starting TensorFlow."""
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [v for v in visible.split(",") if v.strip() and v.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    import subprocess

    try:
        out = subprocess.run(
            ["nvidia-smi", "--list-gpus"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def slurm_cluster_resolver(
    *, port_base: int | None = None, env: Mapping[str, str] | None = None, set_visible_gpus: bool = True
) -> Any:
    """``SlurmClusterResolver`` for this SLURM step; gives each task its share of the node's GPUs.

    The training job runs one task per node (:mod:`wlcnn.training.slurm`), which then gets all
    of the node's visible GPUs: ``MultiWorkerMirroredStrategy`` makes one replica of each.
    With several tasks on a node, the node's visible GPUs (as SLURM set them) are split between
    them by ``SLURM_LOCALID``, keeping SLURM's own device ids. The strategy takes the number of
    local devices from the resolver's ``num_accelerators()``, so that reports the GPUs this task
    really has (0 on CPU nodes: one CPU replica), while TensorFlow's resolver, which needs at
    least one GPU per task to lay out its cluster, is given one placeholder per task and told
    not to touch ``CUDA_VISIBLE_DEVICES``.
    """
    import tensorflow as tf

    env = os.environ if env is None else env
    port = int(port_base if port_base is not None else env.get("WLCNN_TF_PORT_BASE", DEFAULT_PORT_BASE))
    tasks_per_node = max(expand_tasks_per_node(env["SLURM_STEP_TASKS_PER_NODE"]))
    gpus = _visible_gpus(env)
    mine = gpus
    if gpus:
        per_task = max(1, len(gpus) // tasks_per_node)
        local = int(env.get("SLURM_LOCALID", "0"))
        mine = gpus[local * per_task : (local + 1) * per_task]
        if set_visible_gpus:
            # Before TensorFlow enumerates devices: this process sees only its GPUs.
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(mine)

    class _TaskGpusResolver(tf.distribute.cluster_resolver.SlurmClusterResolver):
        def num_accelerators(self, *_args: Any, **_kwargs: Any) -> dict[str, int]:
            return {"GPU": len(mine)}

    return _TaskGpusResolver(
        port_base=port, gpus_per_node=tasks_per_node, gpus_per_task=1, auto_set_gpu=False
    )


def _resolver_rank(resolver: Any) -> int:
    task_id = getattr(resolver, "task_id", None)
    return int(task_id) if task_id is not None else 0


def make_distribution(
    *,
    kind: str = "auto",
    logical_cpus: int = 0,
    port_base: int | None = None,
    env: Mapping[str, str] | None = None,
) -> Distribution:
    """Choose and create the strategy (see the module docstring).

    Parameters
    ----------
    kind
        ``"auto"`` (from the environment), or force ``"default"``, ``"mirrored"`` or
        ``"multi_worker"``.
    logical_cpus
        Split the CPU into this many logical devices for ``MirroredStrategy`` (tests; ignored
        when GPUs are present or the run is multi-worker).
    port_base
        First worker port under SLURM.
    env
        Environment to read (default ``os.environ``).
    """
    if kind not in _STRATEGY_KINDS:
        raise ValueError(f"strategy kind {kind!r} not in {_STRATEGY_KINDS}")
    env = os.environ if env is None else env
    import tensorflow as tf

    if kind in ("auto", "multi_worker"):
        resolver = None
        if tf_config_tasks(env) > 1:
            resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        elif _slurm_step_tasks(env) > 1:
            resolver = slurm_cluster_resolver(port_base=port_base, env=env)
        if resolver is not None:
            strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
            n_workers = len(resolver.cluster_spec().as_dict().get("worker", [])) or 1
            return Distribution(
                strategy,
                "multi_worker",
                strategy.num_replicas_in_sync,
                n_workers,
                _resolver_rank(strategy.cluster_resolver),
            )
        if kind == "multi_worker":
            raise RuntimeError(
                "multi_worker strategy requested but neither TF_CONFIG nor a SLURM step "
                "with several tasks was found"
            )
    if kind in ("auto", "mirrored"):
        gpus = tf.config.list_physical_devices("GPU")
        if len(gpus) > 1:
            strategy = tf.distribute.MirroredStrategy()
            return Distribution(strategy, "mirrored", strategy.num_replicas_in_sync, 1, 0)
        if not gpus and logical_cpus > 1:
            configure_logical_cpus(logical_cpus)
            devices = [d.name for d in tf.config.list_logical_devices("CPU")][:logical_cpus]
            strategy = tf.distribute.MirroredStrategy(devices=devices)
            return Distribution(strategy, "mirrored", strategy.num_replicas_in_sync, 1, 0)
        if kind == "mirrored":
            strategy = tf.distribute.MirroredStrategy()
            return Distribution(strategy, "mirrored", strategy.num_replicas_in_sync, 1, 0)
    return Distribution(tf.distribute.get_strategy(), "default", 1, 1, 0)


def distribution_of(strategy: tf.distribute.Strategy) -> Distribution:
    """A :class:`Distribution` describing an existing ``strategy`` (passed in by a caller)."""
    import tensorflow as tf

    resolver = getattr(strategy, "cluster_resolver", None)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        workers = len(resolver.cluster_spec().as_dict().get("worker", [])) if resolver else 1
        return Distribution(
            strategy, "multi_worker", strategy.num_replicas_in_sync, max(1, workers), _resolver_rank(resolver)
        )
    kind = "mirrored" if isinstance(strategy, tf.distribute.MirroredStrategy) else "default"
    return Distribution(strategy, kind, strategy.num_replicas_in_sync, 1, 0)
