"""Distribution: 2 logical CPUs (MirroredStrategy) and 2 worker processes (MultiWorkerMirroredStrategy
via TF_CONFIG on 127.0.0.1) give the weights of one device with the same global batch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from wlcnn.training import load_trained_model, train_network
from wlcnn.training.distribute import expand_tasks_per_node, slurm_cluster_resolver, tf_config_tasks
from wlcnn.training.forward import StandInForwardModel
from wlcnn.training.history import read_history
from wlcnn.training.synthetic import write_synthetic_map_files

REPO = Path(__file__).resolve().parents[2]
COSMOLOGIES = [(0.2, 0.9), (0.3, 0.8), (0.4, 0.7), (0.25, 0.6)]
#: A large Adam epsilon makes the update depend on the gradient's scale, so a wrong loss
#: normalisation across replicas would show in the weights (Adam is otherwise scale-invariant).
TRAINING = {
    "networks": ["tiny"],
    "n_steps": 12,
    "cosmologies_per_step": 4,
    "learning_rate": 1e-2,
    "adam_epsilon": 1e-3,
    "log_every": 4,
    "validation_every": 4,
    "checkpoint_every": 6,
}
SUBPROCESS_TIMEOUT_S = 240
#: demo.yaml: run.seed and survey.n_patches used by the command line.
SEED, N_PATCHES = 42, 4


@pytest.fixture(scope="module")
def maps(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], list[Path]]:
    return write_synthetic_map_files(
        tmp_path_factory.mktemp("maps"), cosmologies=COSMOLOGIES, n_realisations=5, n_bins=2, n_pix=16, seed=8
    )


@pytest.fixture(scope="module")
def reference(maps: tuple[list[Path], list[Path]], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One device (the default strategy), in this process."""
    return train_network(
        train_files=maps[0],
        validation_files=maps[1],
        out_dir=tmp_path_factory.mktemp("one"),
        preset="tiny",
        training_config=TRAINING,
        base_seed=SEED,
        n_patches=N_PATCHES,
        forward_model=StandInForwardModel(),
    )


def _config(tmp: Path) -> Path:
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    assert cfg["run"]["seed"] == SEED and cfg["survey"]["n_patches"] == N_PATCHES
    cfg["cosmology"]["grid"] = str(REPO / cfg["cosmology"]["grid"])
    cfg["training"] = TRAINING
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS")
    }
    env.update({"TF_CPP_MIN_LOG_LEVEL": "2", **extra})
    return env


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _assert_same_weights(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)


def test_two_logical_cpus_match_one_device(
    maps: tuple[list[Path], list[Path]], reference: Any, tmp_path: Path
) -> None:
    script = textwrap.dedent(f"""
        import numpy as np
        from wlcnn.training.distribute import make_distribution
        dist = make_distribution(logical_cpus=2)
        assert dist.kind == "mirrored" and dist.num_replicas == 2, dist
        from wlcnn.training import train_network
        from wlcnn.training.forward import StandInForwardModel
        r = train_network(train_files={[str(p) for p in maps[0]]!r},
                          validation_files={[str(p) for p in maps[1]]!r},
                          out_dir={str(tmp_path / "two")!r}, preset="tiny", training_config={TRAINING!r},
                          base_seed={SEED}, n_patches={N_PATCHES}, forward_model=StandInForwardModel(),
                          strategy=dist.strategy)
        np.savez({str(tmp_path / "w.npz")!r}, *r.model.get_weights())
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    with np.load(tmp_path / "w.npz") as npz:
        two = [npz[f"arr_{i}"] for i in range(len(npz.files))]
    _assert_same_weights(two, reference.model.get_weights())
    np.testing.assert_allclose(
        [r["train_loss"] for r in read_history(tmp_path / "two" / "history.csv")],
        [r["train_loss"] for r in read_history(reference.history_path)],
        rtol=1e-4,
    )


def test_two_worker_processes_match_one_device(
    maps: tuple[list[Path], list[Path]], reference: Any, tmp_path: Path
) -> None:
    config = _config(tmp_path)
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for i in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
        cmd = [
            sys.executable,
            "-m",
            "wlcnn.training",
            "--config",
            str(config),
            "--network",
            "tiny",
            "--maps",
            *map(str, maps[0] + maps[1]),
            "--out",
            str(tmp_path / "out"),
            "--log",
            str(tmp_path / f"worker{i}.log"),
        ]
        procs.append(
            subprocess.Popen(
                cmd,
                env=_env(TF_CONFIG=tf_config),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=tmp_path,
            )
        )
    outputs = []
    try:
        outputs.extend(p.communicate(timeout=SUBPROCESS_TIMEOUT_S)[0] for p in procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    logs = [(tmp_path / f"worker{i}.log").read_text() for i in range(2)]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-3000:] for o in outputs) + "\n".join(logs)
    assert "multi_worker strategy: 2 replica(s) over 2 worker(s); this is worker 1" in logs[1]
    _assert_same_weights(
        load_trained_model(tmp_path / "out" / "model.keras").get_weights(), reference.model.get_weights()
    )
    np.testing.assert_allclose(
        [r["train_loss"] for r in read_history(tmp_path / "out" / "history.csv")],
        [r["train_loss"] for r in read_history(reference.history_path)],
        rtol=1e-4,
    )


def test_slurm_step_resolves_a_cluster_of_all_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "SLURM_PROCID": "3",
        "SLURM_LOCALID": "1",
        "SLURM_STEP_NUM_TASKS": "4",
        "SLURM_STEP_NODELIST": "gpu[07-08]",
        "SLURM_STEP_TASKS_PER_NODE": "2(x2)",
        "CUDA_VISIBLE_DEVICES": "4,5,6,7",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    resolver = slurm_cluster_resolver(port_base=9100)
    spec = resolver.cluster_spec().as_dict()
    assert spec == {"worker": ["gpu07:9100", "gpu07:9101", "gpu08:9100", "gpu08:9101"]}
    assert (resolver.task_type, resolver.task_id) == ("worker", 3)
    # The second task of a node gets the second half of the node's GPUs, by SLURM's own ids.
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "6,7"
    # CPU nodes: no GPUs, still a valid cluster.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert len(slurm_cluster_resolver(port_base=9100).cluster_spec().as_dict()["worker"]) == 4


def test_cluster_helpers() -> None:
    assert expand_tasks_per_node("3(x2),2,1") == [3, 3, 2, 1]
    assert tf_config_tasks({"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1", "b:2"]}})}) == 2
    assert tf_config_tasks({}) == 0
