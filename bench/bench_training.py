"""Training throughput of the CNN presets: steps/s, maps/s and the time spent waiting for input.

Each measurement is a real :func:`wlcnn.training.train_network` run (input pipeline from HDF5
map files, forward model inside the step, network, loss, all-reduce, clipped Adam) of
``2 * --steps`` steps: the first ``--steps`` warm up (tracing, XLA compilation, page cache),
the history row of the second ``--steps`` is reported. The forward model is the survey's
(:class:`wlcnn.survey.forward_model.TFForwardModel` on a synthetic KiDS-450-like survey: 10 %
masked pixels, the paper's galaxy density) or the stand-in (``--forward stand-in``); its own
cost is measured separately ("forward surveys/s"), so that the step time can be split into
forward model and network.

Columns:

- steps/s: optimizer steps per second (one step = ``--cosmologies`` surveys of ``--patches``
  patches of 128² pixels);
- maps/s: κ maps consumed per second = steps/s × surveys × patches × bins;
- input wait: fraction of the wall time the loop waited for the next batch (``tf.data`` reading
  HDF5): the target on a GPU is < 10 %.

Usage::

    .venv/bin/python bench/bench_training.py                         # CPU defaults (small batch)
    .venv/bin/python bench/bench_training.py --presets tiny --modes fp32 bf16 --steps 10
    .venv/bin/python bench/bench_training.py --cosmologies 8 --patches 20 --modes fp32 fp16 fp16+xla  # GPU

The paper's batch (8 surveys × 20 patches) takes tens of seconds per step on 2 CPU cores; the
CPU defaults use 2 × 4 patches and report maps/s, which is comparable between batch sizes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
#: KiDS-450 after projection: 10.56 M galaxies on 20 patches (paper's Table I).
GALAXIES_PER_PATCH = 10_561_462 // 20
MASKED_FRACTION = 0.1
#: Bytes per MiB (memory is reported in MiB).
MIB = 2**20
N_BINS, N_PIX = 4, 128
MODES = {
    "fp32": {"mixed_precision": "none", "xla": False},
    "fp32+xla": {"mixed_precision": "none", "xla": True},
    "bf16": {"mixed_precision": "bfloat16", "xla": False},
    "bf16+xla": {"mixed_precision": "bfloat16", "xla": True},
    "fp16": {"mixed_precision": "float16", "xla": False},
    "fp16+xla": {"mixed_precision": "float16", "xla": True},
}
PRESET_NAMES = ["tiny", "tiny_5x5", "resnet_5x5_10", "resnet_3x3_15", "resnet_3x3_25"]
COSMOLOGIES = [
    (0.2, 0.9),
    (0.3, 0.8),
    (0.4, 0.7),
    (0.25, 0.6),
    (0.35, 1.0),
    (0.3, 0.65),
    (0.45, 0.6),
    (0.15, 1.2),
]


def survey_forward(n_patches: int, seed: int = 0) -> Any:
    """The survey forward model on a synthetic KiDS-like survey of ``n_patches`` patches."""
    from wlcnn.survey.forward_model import ForwardModel, TFForwardModel
    from wlcnn.survey.shape_noise import noise_ingredients
    from wlcnn.training.forward import SurveyForwardModel

    rng = np.random.default_rng(seed)
    shape = (n_patches, N_BINS, N_PIX, N_PIX)
    mask = rng.random(shape) > MASKED_FRACTION
    n_gal = GALAXIES_PER_PATCH * n_patches
    index = np.sort(rng.choice(np.flatnonzero(mask.ravel()), size=n_gal, replace=True))
    ing = noise_ingredients(
        pixel_index=index,
        weight=rng.gamma(2.0, 3.0, n_gal),
        e1=rng.normal(0, 0.29, n_gal),
        e2=rng.normal(0, 0.29, n_gal),
        map_shape=shape,
    )
    model = ForwardModel(
        mask=np.bincount(index, minlength=mask.size).reshape(shape) > 0,
        noise=ing,
        multiplicative_bias=np.array([-0.015, -0.011, -0.010, -0.020]),
        multiplicative_bias_sigma=0.01,
        padding=64,
        smoothing_sigma_pix=1.0,
        smoothing_truncate=4.0,
    )
    return SurveyForwardModel(TFForwardModel(model), identity="bench")


def forward_rate(forward: Any, *, surveys: int, n_patches: int, repeats: int = 5) -> float:
    """Surveys per second of the forward model alone (batch of ``surveys``)."""
    import tensorflow as tf

    kappa = tf.random.stateless_normal((surveys, n_patches, N_BINS, N_PIX, N_PIX), seed=(1, 2)) * 0.02
    a_ia = tf.zeros((surveys,))
    seeds = tf.constant(np.arange(2 * surveys).reshape(surveys, 2), tf.int64)
    fn = tf.function(lambda k, ki, a, s: forward(k, ki, a, s, noise=True))
    fn(kappa, kappa, a_ia, seeds).numpy()
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(kappa, kappa, a_ia, seeds).numpy()
        best = min(best, time.perf_counter() - t0)
    return surveys / best


def measure(
    *,
    preset: str,
    mode: str,
    maps: tuple[list[Path], list[Path]],
    forward: Any,
    steps: int,
    cosmologies: int,
    patches: int,
    workdir: Path,
) -> dict[str, Any]:
    import tensorflow as tf

    from wlcnn.training import train_network
    from wlcnn.training.history import read_history

    config = {
        "n_steps": 2 * steps,
        "log_every": steps,
        "validation_every": 10**9,
        "checkpoint_every": 10**9,
        "cosmologies_per_step": cosmologies,
        "learning_rate": 1e-4,
        "input_threads": 2,
        "prefetch_batches": 2,
        **MODES[mode],
    }
    out = workdir / f"{preset}-{mode}"
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:  # peak device memory of this run alone
        tf.config.experimental.reset_memory_stats("GPU:0")
    t0 = time.perf_counter()
    train_network(
        train_files=maps[0],
        validation_files=[],
        out_dir=out,
        preset=preset,
        training_config=config,
        base_seed=1,
        n_patches=patches,
        forward_model=forward,
    )
    row = read_history(out / "history.csv")[-1]
    peak = tf.config.experimental.get_memory_info("GPU:0")["peak"] / MIB if gpus else None
    return {
        "preset": preset,
        "mode": mode,
        "steps_per_s": row["steps_per_s"],
        "maps_per_s": row["maps_per_s"],
        "input_wait": row["input_wait"],
        "wall_s": time.perf_counter() - t0,
        "steps": steps,
        "peak_device_memory_mib": peak,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", default=PRESET_NAMES)
    p.add_argument(
        "--modes", nargs="+", default=["fp32", "fp32+xla", "bf16", "bf16+xla"], choices=list(MODES)
    )
    p.add_argument("--steps", type=int, default=4, help="measured steps (as many again warm up)")
    p.add_argument("--tiny-steps", type=int, default=20, help="measured steps of the tiny presets")
    p.add_argument("--cosmologies", type=int, default=2, help="surveys per step (paper: 8)")
    p.add_argument("--patches", type=int, default=4, help="patches per survey (paper: 20)")
    p.add_argument("--forward", choices=["survey", "stand-in"], default="survey")
    p.add_argument("--json", default=str(REPO / "bench" / "out" / "bench_training.json"))
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from wlcnn.training.forward import StandInForwardModel
    from wlcnn.training.synthetic import write_synthetic_map_files

    gpus = tf.config.list_physical_devices("GPU")
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_training_") as tmp:
        work = Path(tmp)
        n_cosmo = max(args.cosmologies, 4)
        maps = write_synthetic_map_files(
            work / "maps",
            cosmologies=(COSMOLOGIES * 4)[:n_cosmo],
            n_realisations=max(args.patches, 4),
            n_bins=N_BINS,
            n_pix=N_PIX,
            seed=1,
            n_test_sims=0,
        )
        forward = survey_forward(args.patches) if args.forward == "survey" else StandInForwardModel()
        fwd = forward_rate(forward, surveys=args.cosmologies, n_patches=args.patches)
        print(
            f"forward model ({args.forward}): {fwd:.2f} surveys/s of {args.patches} patches "
            f"({fwd / args.cosmologies:.2f} steps/s if alone)",
            flush=True,
        )
        for preset in args.presets:
            for mode in args.modes:
                steps = args.tiny_steps if preset.startswith("tiny") else args.steps
                try:
                    r = measure(
                        preset=preset,
                        mode=mode,
                        maps=maps,
                        forward=forward,
                        steps=steps,
                        cosmologies=args.cosmologies,
                        patches=args.patches,
                        workdir=work,
                    )
                except Exception as exc:  # noqa: BLE001 - a mode a device does not support: record, go on
                    r = {"preset": preset, "mode": mode, "error": f"{type(exc).__name__}: {exc}"[:300]}
                results.append(r)
                if "error" in r:
                    print(f"{preset:14s} {mode:9s} ERROR {r['error']}", flush=True)
                else:
                    print(
                        f"{preset:14s} {mode:9s} {r['steps_per_s']:8.3f} steps/s "
                        f"{r['maps_per_s']:9.1f} maps/s input wait {100 * r['input_wait']:5.1f}%  "
                        f"({r['wall_s']:.0f} s)",
                        flush=True,
                    )
    info = {
        "device": [d.name for d in gpus] or platform.processor() or "cpu",
        "cpus": os.cpu_count(),
        "tensorflow": tf.__version__,
        "cosmologies_per_step": args.cosmologies,
        "patches": args.patches,
        "bins": N_BINS,
        "n_pix": N_PIX,
        "forward": args.forward,
        "forward_surveys_per_s": fwd,
        "load_average": os.getloadavg(),
        "results": results,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(info, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
