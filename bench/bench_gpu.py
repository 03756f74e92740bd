"""GPU readiness (issue 14, item 5): forward-model and training throughput of every preset, in one command.

Runs ``bench/bench_survey.py`` once (surveys/s of the NumPy and TensorFlow forward models, one
survey per call) and ``bench/bench_training.py`` once per (preset, precision), each in its own
process so that its memory is its own: steps/s, maps/s, input-wait fraction, the forward model's
batched surveys/s, peak host memory (the process's max RSS) and, on a GPU, peak device memory.
Writes ``<out>/gpu.json`` and a Markdown table ``<out>/gpu.md`` and prints the table, with the
goals (input wait < 10 %, forward model ≥ 200 surveys/s) marked met or not.

Precisions: ``fp32`` and ``mixed`` (float16 on a GPU, bfloat16 on a CPU, which has no fast
float16). Works on a CPU too (slowly; ``--quick`` shrinks everything for a smoke test).

    bash bench/gpu.sh                                  # every preset, fp32 and mixed, paper batch
    bash bench/gpu.sh --presets tiny resnet_3x3_15 --out bench/out/gpu-h100
    bash bench/gpu.sh --quick --presets tiny           # CPU smoke test (seconds)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
PRESETS = ["tiny", "tiny_5x5", "resnet_5x5_10", "resnet_3x3_15", "resnet_3x3_25"]
PRECISIONS = ["fp32", "mixed"]
#: bench_training mode of each precision, on a GPU and on a CPU.
TRAINING_MODE = {
    ("fp32", True): "fp32",
    ("fp32", False): "fp32",
    ("mixed", True): "fp16",
    ("mixed", False): "bf16",
}
#: The issue's goals.
INPUT_WAIT_GOAL = 0.10
SURVEYS_PER_S_GOAL = 200.0
#: The paper's batch: 8 surveys (cosmologies) of 20 patches per step.
PAPER_COSMOLOGIES, PAPER_PATCHES = 8, 20
#: --quick: one tiny survey per step, one measured step, a small synthetic survey.
QUICK = {"cosmologies": 1, "patches": 1, "steps": 1, "survey": ["--patches", "1", "--galaxies", "20000"]}
#: ru_maxrss is in KiB on Linux.
KIB_PER_MIB = 1024


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", default=PRESETS, help="network presets (default: all)")
    p.add_argument("--precisions", nargs="+", default=PRECISIONS, choices=PRECISIONS)
    p.add_argument("--cosmologies", type=int, default=PAPER_COSMOLOGIES, help="surveys per step (paper: 8)")
    p.add_argument("--patches", type=int, default=PAPER_PATCHES, help="patches per survey (paper: 20)")
    p.add_argument("--steps", type=int, default=10, help="measured steps per run (as many again warm up)")
    p.add_argument("--quick", action="store_true", help="tiny sizes for a CPU smoke test")
    p.add_argument("--out", type=Path, default=BENCH / "out", help="directory of gpu.json and gpu.md")
    return p.parse_args(argv)


def _run(cmd: list[str]) -> tuple[int, float, str]:
    """Run ``cmd``; its exit status, its peak RSS in MiB and its output."""
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        return proc.returncode, usage.ru_maxrss / KIB_PER_MIB, log.read()


def _has_gpu() -> bool:
    """Whether TensorFlow sees a GPU (asked in a child process: this one stays TensorFlow-free)."""
    code = "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    return out.returncode == 0 and out.stdout.strip().splitlines()[-1:] != ["0"]


def survey_benchmark(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """bench_survey.py's results (one survey per call, NumPy and TensorFlow) and its peak RSS."""
    out = work / "survey.json"
    extra = QUICK["survey"] if args.quick else ["--patches", str(args.patches)]
    cmd = [sys.executable, str(BENCH / "bench_survey.py"), *extra, "--json", str(out)]
    rc, rss, log = _run(cmd)
    if rc != 0:
        return {"error": log[-2000:]}
    return {**json.loads(out.read_text()), "peak_host_memory_mib": rss}


def training_benchmark(args: argparse.Namespace, work: Path, *, preset: str, mode: str) -> dict[str, Any]:
    """One bench_training.py run (one preset, one mode) and its peak RSS."""
    out = work / f"training-{preset}-{mode}.json"
    sizes = QUICK if args.quick else vars(args)
    cmd = [
        sys.executable,
        str(BENCH / "bench_training.py"),
        *("--presets", preset, "--modes", mode),
        *("--steps", str(sizes["steps"]), "--tiny-steps", str(sizes["steps"])),
        *("--cosmologies", str(sizes["cosmologies"]), "--patches", str(sizes["patches"])),
        *("--json", str(out)),
    ]
    rc, rss, log = _run(cmd)
    if rc != 0:
        return {"preset": preset, "mode": mode, "error": log[-2000:]}
    info = json.loads(out.read_text())
    row = info["results"][0]
    return {
        **row,
        "forward_surveys_per_s": info["forward_surveys_per_s"],
        "device": info["device"],
        "peak_host_memory_mib": rss,
    }


def _mark(ok: bool) -> str:
    return "yes" if ok else "**no**"


def markdown(result: dict[str, Any]) -> str:
    """The Markdown table of a :func:`main` result."""
    s = result["survey"]
    lines = [
        (
            f"Device: {result['device']}; {result['cpus']} CPUs; batch {result['cosmologies']} surveys x "
            f"{result['patches']} patches; {result['date']}."
        ),
        "",
    ]
    if "error" in s:
        lines += ["Forward model benchmark failed (see gpu.json).", ""]
    else:
        lines += [
            "| forward model, one survey per call | surveys/s | peak host MiB |",
            "|---|---:|---:|",
            f"| NumPy (float64) | {s.get('numpy_surveys_per_s', float('nan')):.2f} | |",
            (
                f"| TensorFlow ({s.get('tf_device', '?')}) | {s.get('tf_surveys_per_s', float('nan')):.2f} "
                f"| {s['peak_host_memory_mib']:.0f} |"
            ),
            "",
        ]
    lines += [
        (
            "| preset | precision | steps/s | maps/s | input wait | wait < 10 % "
            "| forward surveys/s (batched) | >= 200 | peak host MiB | peak device MiB |"
        ),
        "|---|---|---:|---:|---:|---|---:|---|---:|---:|",
    ]
    for r in result["training"]:
        if "error" in r:
            lines.append(f"| {r['preset']} | {r['precision']} | failed: see gpu.json | | | | | | | |")
            continue
        device = "n/a" if r["peak_device_memory_mib"] is None else f"{r['peak_device_memory_mib']:.0f}"
        lines.append(
            f"| {r['preset']} | {r['precision']} ({r['mode']}) "
            f"| {r['steps_per_s']:.3f} | {r['maps_per_s']:.1f} "
            f"| {100 * r['input_wait']:.1f} % | {_mark(r['input_wait'] < INPUT_WAIT_GOAL)} "
            f"| {r['forward_surveys_per_s']:.1f} | {_mark(r['forward_surveys_per_s'] >= SURVEYS_PER_S_GOAL)} "
            f"| {r['peak_host_memory_mib']:.0f} | {device} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    gpu = _has_gpu()
    result: dict[str, Any] = {
        "device": "GPU" if gpu else (platform.processor() or "CPU"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
        "quick": args.quick,
        "cosmologies": QUICK["cosmologies"] if args.quick else args.cosmologies,
        "patches": QUICK["patches"] if args.quick else args.patches,
        "goals": {"input_wait_below": INPUT_WAIT_GOAL, "surveys_per_s_at_least": SURVEYS_PER_S_GOAL},
        "training": [],
    }
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench_gpu_") as tmp:
        work = Path(tmp)
        result["survey"] = survey_benchmark(args, work)
        failed |= "error" in result["survey"]
        for preset in args.presets:
            for precision in args.precisions:
                mode = TRAINING_MODE[(precision, gpu)]
                row = {"precision": precision, **training_benchmark(args, work, preset=preset, mode=mode)}
                failed |= "error" in row
                result["training"].append(row)
                print(
                    f"{preset} {precision}: {'failed' if 'error' in row else 'done'}",
                    file=sys.stderr,
                    flush=True,
                )
    if gpu and result["training"]:
        result["device"] = result["training"][0].get("device", "GPU")
    table = markdown(result)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (args.out / "gpu.md").write_text(table)
    print(table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
