"""What a training job asks SLURM for: ``training.resources`` -> Snakemake resources and ``srun``.

One task per node, each seeing all of its node's GPUs (``MirroredStrategy`` inside a node,
``MultiWorkerMirroredStrategy`` across nodes; :mod:`wlcnn.training.distribute`). The mapping is
written for snakemake-executor-plugin-slurm 2.8 (pinned in ``pyproject.toml``), whose GPU
semantics are, read from its ``submit_string.py`` and ``utils.set_gres_string``:

* ``gpu=N`` -> ``sbatch --gpus=N``: N GPUs for the **whole job** (not per node). Before 2.7.1 it
  also added ``--ntasks-per-gpu=1`` (or ``=tasks``), i.e. N tasks: N copies of the job
  (plugin issues 316, 459). Used here only for a one-node, one-task job, where a job total is
  a node total; the jobstep plugin then runs the job as ``srun -n1 --gpus=N``: one task that
  sees all N.
* ``gres="gpu:N"`` -> ``sbatch --gres=gpu:N``: N GPUs **per node**. Used for multi-task jobs.
* a GPU job with ``tasks`` set gets ``--ntasks-per-gpu=<tasks>`` unless ``tasks_per_gpu`` is
  given; ``tasks_per_gpu=0`` suppresses it (any version since 1.4).
* ``mpi`` set: the jobstep plugin runs the rule's command in the batch step as is (no
  ``srun -n1`` around it), so the rule's own ``srun`` starts the workers; it removes every
  ``SLURM_*`` variable but the job id first, so that ``srun`` must be given the whole task
  geometry explicitly (:func:`srun_command`).

========================== ===================================== ==========================
``training.resources``      Snakemake resource                    sbatch
========================== ===================================== ==========================
``nodes``                   ``nodes``                             ``--nodes``
``tasks_per_node``          ``tasks_per_node`` (> 1) or           ``--ntasks-per-node`` /
                            ``tasks`` = nodes x tasks_per_node    ``--ntasks``
``gpus_per_node``           ``gpu`` (1 task) / ``gres=gpu:N``     ``--gpus`` / ``--gres``
``gpus_per_task``           as ``gpus_per_node`` = it x tasks/node
``cpus_per_task``           ``cpus_per_task`` (and ``threads``)   ``--cpus-per-task``
``mem_mb``                  ``mem_mb`` (per node)                 ``--mem``
``runtime_min``             ``runtime``                           ``-t``
========================== ===================================== ==========================
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from wlcnn.config import ConfigError

__all__ = [
    "DEFAULT_TRAINING_RESOURCES",
    "TIME_LIMIT_WARNING_S",
    "gpus_per_node",
    "snakemake_resources",
    "srun_command",
    "total_tasks",
]

#: Defaults of ``training.resources`` (one task on one node, CPU only).
DEFAULT_TRAINING_RESOURCES: dict[str, int] = {
    "nodes": 1,
    "tasks_per_node": 1,
    "cpus_per_task": 2,
    "mem_mb": 16000,
    "runtime_min": 1440,
}
#: SLURM signals the job this long before its time limit: checkpoint, exit, a rerun resumes.
TIME_LIMIT_WARNING_S = 300
_FIELD = "training.resources"


def _merged(resources: Mapping[str, Any]) -> dict[str, Any]:
    return {**DEFAULT_TRAINING_RESOURCES, **dict(resources)}


def total_tasks(resources: Mapping[str, Any]) -> int:
    """Worker processes of a training job: nodes x tasks per node."""
    res = _merged(resources)
    return int(res["nodes"]) * int(res["tasks_per_node"])


def gpus_per_node(resources: Mapping[str, Any], *, source: str = "the configuration") -> int:
    """GPUs one node of the job asks for (``gpus_per_node``, or ``gpus_per_task`` x tasks per node).

    Raises
    ------
    ConfigError
        When both ``gpus_per_node`` and ``gpus_per_task`` are given.
    """
    res = _merged(resources)
    if "gpus_per_node" in res and "gpus_per_task" in res:
        raise ConfigError(
            source,
            [
                (
                    f"{_FIELD}: expected one of gpus_per_node, gpus_per_task, found both "
                    f"(gpus_per_node={res['gpus_per_node']}, gpus_per_task={res['gpus_per_task']})"
                )
            ],
        )
    if "gpus_per_task" in res:
        return int(res["gpus_per_task"]) * int(res["tasks_per_node"])
    return int(res.get("gpus_per_node", 0))


def snakemake_resources(resources: Mapping[str, Any], *, source: str = "the configuration") -> dict[str, Any]:
    """Snakemake ``resources`` of the training rule for ``training.resources``.

    Parameters
    ----------
    resources
        The ``training.resources`` block (missing keys take :data:`DEFAULT_TRAINING_RESOURCES`).
    source
        The configuration file(s), for error messages.

    Returns
    -------
    dict
        Resources for snakemake-executor-plugin-slurm 2.8 (see the module docstring), plus
        ``launcher``: the ``srun`` prefix of the rule's command ("" for one task).
    """
    res = _merged(resources)
    gpus = gpus_per_node(res, source=source)
    tasks = total_tasks(res)
    out: dict[str, Any] = {
        "nodes": int(res["nodes"]),
        "cpus_per_task": int(res["cpus_per_task"]),
        "mem_mb": int(res["mem_mb"]),
        "runtime": int(res["runtime_min"]),
        # never --ntasks-per-gpu: it would start one task (one copy of the job) per GPU
        "tasks_per_gpu": 0,
        "slurm_extra": f"'--signal=USR1@{TIME_LIMIT_WARNING_S}'",
        "launcher": srun_command(res, source=source),
    }
    if tasks > 1:
        out["mpi"] = "srun"  # the rule's command runs srun itself (see the module docstring)
        if int(res["tasks_per_node"]) > 1:
            out["tasks_per_node"] = int(res["tasks_per_node"])
        else:
            out["tasks"] = tasks  # with --nodes=N, SLURM puts one task on each node
        if gpus:
            out["gres"] = f"gpu:{gpus}"
    elif gpus:
        out["gpu"] = gpus  # one node: the job's total is the node's; one task sees all of them
    return out


def srun_command(resources: Mapping[str, Any], *, source: str = "the configuration") -> str:
    """The ``srun`` prefix that starts every worker of a multi-task job ("" for one task).

    The jobstep plugin removes the allocation's ``SLURM_*`` variables before running the rule,
    so the geometry is given in full; ``--kill-on-bad-exit`` stops the other workers when one
    fails (they would otherwise wait for it in the next all-reduce until the time limit).
    """
    res = _merged(resources)
    tasks = total_tasks(res)
    if tasks <= 1:
        return ""
    args = [
        "srun",
        f"--nodes={int(res['nodes'])}",
        f"--ntasks={tasks}",
        f"--ntasks-per-node={int(res['tasks_per_node'])}",
        f"--cpus-per-task={int(res['cpus_per_task'])}",
        "--kill-on-bad-exit=1",
    ]
    gpus = gpus_per_node(res, source=source)
    if gpus:
        args.append(f"--gres=gpu:{gpus}")
    return shlex.join(args)
