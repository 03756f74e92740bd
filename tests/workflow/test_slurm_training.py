"""Multi-worker and multi-GPU training jobs through a real SLURM cluster (``slurm`` marker).

Each test submits a throwaway workflow through ``profiles/slurm`` whose rule takes its resources
and ``srun`` launcher from :func:`wlcnn.training.slurm.snakemake_resources`, exactly as the
training rule does. What the job got is read from SLURM (``scontrol show job`` / ``show step``
inside the job), not from the profile. Skips without a cluster unless WLCNN_REQUIRE_SLURM=1:

    bash .ci/slurm/up.sh /tmp/wlcnn-slurm
    WLCNN_REQUIRE_SLURM=1 .venv/bin/pytest -m slurm tests/workflow/test_slurm_training.py
"""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.workflow.test_slurm_cluster import _explain, run_through_slurm, slurm_cluster, submissions
from wlcnn.training import load_trained_model, train_network
from wlcnn.training.forward import StandInForwardModel
from wlcnn.training.synthetic import write_synthetic_map_files

__all__ = ["slurm_cluster"]  # the fixture, shared with the other cluster tests

COSMOLOGIES = [(0.2, 0.9), (0.3, 0.8), (0.4, 0.7), (0.25, 0.6)]
#: As tests/training/test_distributed.py: a large Adam epsilon makes a wrong loss normalisation
#: across workers show in the weights.
TRAINING = {
    "networks": ["tiny"],
    "n_steps": 8,
    "cosmologies_per_step": 4,
    "learning_rate": 1e-2,
    "adam_epsilon": 1e-3,
    "log_every": 4,
    "validation_every": 4,
    "checkpoint_every": 4,
}
SEED, N_PATCHES = 42, 4
RTOL, ATOL = 1e-4, 1e-6


def _free_port_pair() -> int:
    """A port p with p + 1 free as well (the two workers of one node listen on p and p + 1)."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    pytest.fail("no two consecutive free ports")


def _fields(text: str) -> dict[str, str]:
    return dict(m.groups() for m in re.finditer(r"(\w+)=(\S+)", text))


@pytest.mark.slurm
def test_two_task_training_job_runs_two_workers_with_the_weights_of_one(
    slurm_cluster: str, tmp_path: Path
) -> None:
    train, val = write_synthetic_map_files(
        tmp_path / "maps", cosmologies=COSMOLOGIES, n_realisations=5, n_bins=2, n_pix=16, seed=8
    )
    trainer = tmp_path / "worker.py"
    trainer.write_text(
        f"""
import os, shlex, subprocess, sys
if sys.argv[1]:  # the launcher (srun ...): as wlcnn.training.job, run one of this per task
    cmd = [*shlex.split(sys.argv[1]), sys.executable, __file__, ""]
    os.execvp(cmd[0], cmd)
from wlcnn.training import train_network
from wlcnn.training.distribute import make_distribution
from wlcnn.training.forward import StandInForwardModel
rank = os.environ["SLURM_PROCID"]
step_id = os.environ["SLURM_JOB_ID"] + "." + os.environ["SLURM_STEP_ID"]
step = subprocess.run(["scontrol", "show", "step", step_id], capture_output=True, text=True).stdout
dist = make_distribution()
with open(f"worker{{rank}}.txt", "w") as f:
    f.write(f"rank={{rank}} kind={{dist.kind}} workers={{dist.num_workers}} replicas={{dist.num_replicas}} "
            f"index={{dist.worker_index}}\\n" + step)
train_network(train_files={[str(p) for p in train]!r}, validation_files={[str(p) for p in val]!r},
              out_dir="out", preset="tiny", training_config={TRAINING!r}, base_seed={SEED},
              n_patches={N_PATCHES}, forward_model=StandInForwardModel(), strategy=dist.strategy,
              checkpoint_dir="checkpoints")
"""
    )
    os.environ["WLCNN_TF_PORT_BASE"] = str(_free_port_pair())
    try:
        proc = run_through_slurm(
            tmp_path,
            f"""
            from wlcnn.training.slurm import snakemake_resources
            JOB = snakemake_resources(
                dict(nodes=1, tasks_per_node=2, cpus_per_task=1, mem_mb=3000, runtime_min=15)
            )

            rule train:
                output: "out/model.keras"
                threads: JOB["cpus_per_task"]
                resources: **JOB
                shell:
                    "scontrol show job $SLURM_JOB_ID > job.txt; "
                    "{sys.executable} worker.py {{resources.launcher:q}}"
            """,
        )
    finally:
        del os.environ["WLCNN_TF_PORT_BASE"]
    assert proc.returncode == 0, _explain(proc)
    assert [rule for rule, _ in submissions(proc)] == ["train"]
    # what SLURM allocated: 2 tasks on 1 node ...
    job = _fields((tmp_path / "job.txt").read_text())
    assert (job.get("NumNodes"), job.get("NumTasks")) == ("1", "2"), job
    # ... and the step ran as 2 workers of one MultiWorkerMirroredStrategy
    workers = [(tmp_path / f"worker{i}.txt").read_text() for i in range(2)]
    for i, text in enumerate(workers):
        first = _fields(text.splitlines()[0])
        assert first == {
            "rank": str(i),
            "kind": "multi_worker",
            "workers": "2",
            "replicas": "2",
            "index": str(i),
        }, text
        assert re.search(r"\bTasks=2\b", text), text  # scontrol show step: the step had 2 tasks
    # after N steps, the weights of one worker on one device
    reference = train_network(
        train_files=train,
        validation_files=val,
        out_dir=tmp_path / "one",
        preset="tiny",
        training_config=TRAINING,
        base_seed=SEED,
        n_patches=N_PATCHES,
        forward_model=StandInForwardModel(),
    )
    got = load_trained_model(tmp_path / "out" / "model.keras").get_weights()
    for a, b in zip(got, reference.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


@pytest.mark.slurm
def test_job_asking_two_gpus_is_one_task_that_sees_both(slurm_cluster: str, tmp_path: Path) -> None:
    if "gpu:2" not in slurm_cluster:
        msg = f"the cluster has no node with 2 GPUs (sinfo: {slurm_cluster.strip()!r})"
        if os.environ.get("WLCNN_REQUIRE_SLURM") == "1":
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    proc = run_through_slurm(
        tmp_path,
        """
        from wlcnn.training.slurm import snakemake_resources
        JOB = snakemake_resources(dict(gpus_per_node=2, cpus_per_task=1, mem_mb=1000, runtime_min=10))

        rule gpus:
            output: "gpus.txt"
            threads: JOB["cpus_per_task"]
            resources: **JOB
            shell:
                "{resources.launcher} sh -c 'echo task=$SLURM_PROCID "
                "CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES >> tasks.txt'; "
                "scontrol -d show job $SLURM_JOB_ID > {output}"
        """,
    )
    assert proc.returncode == 0, _explain(proc)
    tasks = (tmp_path / "tasks.txt").read_text().splitlines()
    assert len(tasks) == 1, tasks  # one copy of the command, not one per GPU
    visible = _fields(tasks[0])["CUDA_VISIBLE_DEVICES"].split(",")
    assert len(visible) == 2 and len(set(visible)) == 2, tasks
    job: dict[str, Any] = _fields((tmp_path / "gpus.txt").read_text())
    assert job.get("NumTasks") == "1", job
    assert re.fullmatch(r"gpu(:\w+)?:2\(IDX:0-1\)", job.get("GRES", "")), job
