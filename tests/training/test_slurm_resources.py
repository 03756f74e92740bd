"""``training.resources`` -> what reaches sbatch and srun (wlcnn.training.slurm), without a cluster.

The sbatch line is made by the installed executor plugin's own ``get_submit_command`` (the
version pinned in pyproject.toml), from the resources a Snakemake dry run prints for the
training job: an independent check of what SLURM would be asked for.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from wlcnn.config import ConfigError
from wlcnn.training.slurm import snakemake_resources, srun_command

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "profiles" / "slurm"
DRY_RUN_TIMEOUT_S = 300
TWO_NODES_FOUR_GPUS = {
    "nodes": 2,
    "tasks_per_node": 1,
    "gpus_per_node": 4,
    "cpus_per_task": 8,
    "mem_mb": 64000,
    "runtime_min": 720,
}


class _Resources(dict):
    """Snakemake's job resources: attribute and ``get`` access."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def sbatch_line(resources: dict[str, Any], *, threads: int = 1) -> str:
    """The installed plugin's sbatch command (and gres part) for a job with ``resources``."""
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    job = type("Job", (), {"resources": _Resources(resources), "threads": threads})()
    params = {
        "run_uuid": "u",
        "slurm_logfile": "log",
        "comment_str": "rule_train_network",
        "account": "",
        "partition": "",
        "workdir": "",
    }
    return get_submit_command(job, params) + set_gres_string(job)


def _flags(line: str) -> set[str]:
    return {w for w in line.split() if w.startswith("-")}


def test_two_nodes_four_gpus_one_task_per_node() -> None:
    res = snakemake_resources(TWO_NODES_FOUR_GPUS)
    line = sbatch_line(res, threads=res["cpus_per_task"])
    flags = _flags(line)
    assert {"--nodes=2", "--ntasks=2", "--gres=gpu:4", "--cpus-per-task=8", "--mem", "-t"} <= flags, line
    assert re.search(r"--mem 64000\b", line) and re.search(r"-t 720\b", line), line
    assert "--signal=USR1@300" in line, line
    # never a per-job GPU count (2 nodes x 4 is 8, not 4) nor one task per GPU (copies of the job)
    assert not any(f.startswith(("--gpus", "--ntasks-per-gpu")) for f in flags), line
    assert res["launcher"].split() == [
        "srun",
        "--nodes=2",
        "--ntasks=2",
        "--ntasks-per-node=1",
        "--cpus-per-task=8",
        "--kill-on-bad-exit=1",
        "--gres=gpu:4",
    ]


def test_one_node_two_gpus_is_one_task_with_both() -> None:
    res = snakemake_resources({"gpus_per_node": 2, "cpus_per_task": 2})
    line = sbatch_line(res, threads=2)
    flags = _flags(line)
    assert "--gpus=2" in flags, line
    assert not any(f.startswith(("--ntasks-per-gpu", "--nodes=2")) for f in flags), line
    assert res["launcher"] == "" and "mpi" not in res  # the jobstep plugin's srun -n1 runs it once


def test_tasks_per_node_and_gpus_per_task() -> None:
    res = snakemake_resources({"nodes": 3, "tasks_per_node": 2, "gpus_per_task": 2})
    line = sbatch_line(res)
    assert {"--nodes=3", "--ntasks-per-node=2", "--gres=gpu:4"} <= _flags(line), line
    assert "--ntasks=6" in srun_command({"nodes": 3, "tasks_per_node": 2, "gpus_per_task": 2})
    cpu_only = snakemake_resources({"nodes": 2})
    assert "--ntasks=2" in _flags(sbatch_line(cpu_only)) and "gres" not in cpu_only


def test_both_gpu_fields_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        snakemake_resources({"gpus_per_node": 4, "gpus_per_task": 1}, source="x.yaml")
    msg = str(err.value)
    assert "x.yaml" in msg and "training.resources" in msg
    assert "expected one of gpus_per_node, gpus_per_task" in msg and "gpus_per_node=4, gpus_per_task=1" in msg


def _dry_run(tmp_path: Path, resources: dict[str, Any]) -> subprocess.CompletedProcess:
    out = tmp_path / "out"
    override = tmp_path / "override.yaml"
    demo = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    override.write_text(
        yaml.safe_dump({"run": {**demo["run"], "output_dir": str(out)}, "training": {"resources": resources}})
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "-p",
            "--profile",
            str(PROFILE),
            "--cores",
            "2",
            "--configfile",
            "config/demo.yaml",
            str(override),
            "--",
            str(out / "training" / "tiny" / "model.keras"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=DRY_RUN_TIMEOUT_S,
    )


def _job_block(stdout: str, rule: str) -> str:
    """The dry run's lines of ``rule``'s job, up to and with its shell command."""
    start = stdout.index(f"rule {rule}:")
    end = stdout.find("\n", stdout.index("Shell command:", start))
    return stdout[start : end if end > 0 else None]


def test_dry_run_reaches_sbatch_and_srun(tmp_path: Path) -> None:
    """A 2-node x 4-GPU config: the dry run's resources, turned into sbatch by the plugin."""
    proc = _dry_run(tmp_path, TWO_NODES_FOUR_GPUS)
    assert proc.returncode == 0, proc.stderr[-4000:]
    block = _job_block(proc.stdout, "train_network")
    printed = re.search(r"^\s*resources: (.*)$", block, re.MULTILINE)
    assert printed, block
    resources: dict[str, Any] = {}
    for item in re.split(r", (?=\w+=)", printed.group(1)):
        key, _, value = item.partition("=")
        resources[key] = int(value) if value.isdigit() else value
    line = sbatch_line(resources, threads=resources["cpus_per_task"])
    print(f"sbatch for training.resources = {TWO_NODES_FOUR_GPUS}:\n  {line}")  # the report's number
    assert {"--nodes=2", "--ntasks=2", "--gres=gpu:4", "--cpus-per-task=8"} <= _flags(line), line
    assert re.search(r"--mem 64000\b", line) and re.search(r"-t 720\b", line), line
    assert not any(f.startswith(("--gpus", "--ntasks-per-gpu")) for f in _flags(line)), line
    # the command runs under srun, one worker per node, each with the node's 4 GPUs
    shell = re.search(r"^Shell command: (.*)$", block, re.MULTILINE)
    assert shell, block
    words = shlex.split(shell.group(1))
    assert words[:3] == ["python", "-m", "wlcnn.training.job"], words[:6]
    launcher = next(w.removeprefix("--launcher=") for w in words if w.startswith("--launcher="))
    assert launcher == (
        "srun --nodes=2 --ntasks=2 --ntasks-per-node=1 --cpus-per-task=8 --kill-on-bad-exit=1 --gres=gpu:4"
    )
    # what each worker runs: the same command without the launcher
    from wlcnn.training.job import _worker_command

    worker = _worker_command(words[3:], launcher)
    assert worker[: len(launcher.split())] == launcher.split() and "--launcher" not in worker
    assert worker[len(launcher.split()) + 1 :][:2] == ["-m", "wlcnn.training.job"]


def test_local_command_parses_with_an_empty_launcher(tmp_path: Path) -> None:
    # one task: no srun; Snakemake quotes an empty value as nothing, so the flag must be --launcher=
    proc = _dry_run(tmp_path, {"cpus_per_task": 2})
    assert proc.returncode == 0, proc.stderr[-4000:]
    shell = re.search(r"^Shell command: (.*)$", _job_block(proc.stdout, "train_network"), re.MULTILINE)
    assert shell
    words = shlex.split(shell.group(1))
    from wlcnn.training.job import _parser

    for word in words:  # the parser checks that its input files exist (a dry run made none)
        if word.endswith(".h5"):
            Path(word).parent.mkdir(parents=True, exist_ok=True)
            Path(word).touch()
    args = _parser().parse_args(words[3:])
    assert args.launcher == "" and args.network == "tiny"


def test_dry_run_refuses_both_gpu_fields(tmp_path: Path) -> None:
    proc = _dry_run(tmp_path, {"gpus_per_node": 4, "gpus_per_task": 1})
    assert proc.returncode != 0
    err = proc.stdout + proc.stderr
    assert "override.yaml" in err and "training.resources" in err, err[-3000:]
    assert "expected one of gpus_per_node, gpus_per_task" in err and "found both" in err, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert not (tmp_path / "out").exists()


def test_one_task_per_node_gets_all_of_its_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """MultiWorkerMirroredStrategy makes one replica per GPU the resolver reports for the task."""
    from wlcnn.training.distribute import slurm_cluster_resolver

    env = {
        "SLURM_PROCID": "1",
        "SLURM_LOCALID": "0",
        "SLURM_STEP_NUM_TASKS": "2",
        "SLURM_STEP_NODELIST": "gpu[07-08]",
        "SLURM_STEP_TASKS_PER_NODE": "1(x2)",
        "CUDA_VISIBLE_DEVICES": "0,1,2,3",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    resolver = slurm_cluster_resolver(port_base=9100)
    assert resolver.cluster_spec().as_dict() == {"worker": ["gpu07:9100", "gpu08:9100"]}
    assert resolver.num_accelerators() == {"GPU": 4}
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1,2,3"
    # two tasks on a node split its GPUs; a CPU node has none (one CPU replica per worker)
    monkeypatch.setenv("SLURM_STEP_TASKS_PER_NODE", "2")
    monkeypatch.setenv("SLURM_STEP_NODELIST", "gpu07")
    assert slurm_cluster_resolver(port_base=9100).num_accelerators() == {"GPU": 2}
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert slurm_cluster_resolver(port_base=9100).num_accelerators() == {"GPU": 0}


def test_job_entry_point_refuses_a_missing_map_file(tmp_path: Path) -> None:
    """The training rule's command: a missing input is exit 2 and one line, nothing written."""
    missing = tmp_path / "missing.h5"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "wlcnn.training.job",
            "--params",
            "{}",
            "--network",
            "tiny",
            "--train",
            str(missing),
            "--patch-maps",
            str(missing),
            "--out-dir",
            str(tmp_path / "out"),
            "--checkpoints",
            str(tmp_path / "ck"),
            "--log",
            str(tmp_path / "train.log"),
        ],
        capture_output=True,
        text=True,
        timeout=DRY_RUN_TIMEOUT_S,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "--train" in last and "expected an existing file" in last and str(missing) in last, last
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
