"""bench/gpu.sh (issue 14, item 5): the GPU-readiness command runs end to end on a CPU."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: The quick run starts three TensorFlow processes; far more than this means something hangs.
TIMEOUT_S = 300


def test_gpu_command_writes_json_and_table_on_a_cpu(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # the CPU path, also on a machine with a GPU
    command = ["bash", str(REPO / "bench" / "gpu.sh"), "--quick", "--presets", "tiny", "--precisions", "fp32"]
    result = subprocess.run(
        [*command, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["gpu.json", "gpu.md"]
    info = json.loads((out / "gpu.json").read_text())
    assert info["device"] != "GPU" and info["quick"] is True
    survey = info["survey"]
    assert survey["numpy_surveys_per_s"] > 0 and survey["tf_surveys_per_s"] > 0
    assert survey["peak_host_memory_mib"] > 0
    (row,) = info["training"]
    assert (row["preset"], row["precision"], row["mode"]) == ("tiny", "fp32", "fp32")
    assert row["steps_per_s"] > 0 and row["forward_surveys_per_s"] > 0
    assert 0.0 <= row["input_wait"] <= 1.0
    # host memory from the child's rusage: at least the TensorFlow runtime (hundreds of MiB)
    assert row["peak_host_memory_mib"] > 100 and row["peak_device_memory_mib"] is None
    table = (out / "gpu.md").read_text()
    assert "| tiny | fp32 (fp32) |" in table and "n/a" in table
    assert table.strip() in result.stdout
