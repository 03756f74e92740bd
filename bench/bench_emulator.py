"""Generation speed of the GAN emulator against the simulation + projection path (issue 18).

What is timed: :func:`wlcnn.emulator.validation.generation_speed` (a compiled generator call on
a batch of latents, after warm-up; the device TensorFlow picks: the GPU when there is one) for
the full-size conditional generator of the seed paper at wlcnn's maps (128² × 4 tomographic
bins, 64 base filters) and for the demo's tiny one (32² × 4, 8 filters). Weights are untrained:
the cost of a forward pass does not depend on them.

The simulation path's cost per map is read from a finished run's Snakemake benchmark files
(``mock_simulation``, ``ingest_simulation``, ``simulation_maps`` of every simulation), divided
by the maps they made (simulations × ``shells.n_realisations``). The seed paper's reference
rate is 1024 maps of 256² in ≈ 15 s on one 2017 GPU (≈ 70 maps/s); the issue's goal is ≥ 10×
that per GPU (≥ 700 maps/s of 128² × 4).

Usage::

    .venv/bin/python bench/bench_emulator.py [--results results/demo] [--maps 2048] [--batch 256]

Measured on the development VM (2 vCPUs shared, TensorFlow 2.21 CPU): see bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path
from typing import Any

#: The seed paper's generation rate (maps/s on one GPU) and the issue's goal per GPU.
SEED_PAPER_MAPS_PER_S = 1024 / 15.0
GOAL_MAPS_PER_S = 700.0
#: Configurations timed: name -> emulator settings.
CONFIGS = {
    "full 128^2 x 4, f=64": {"n_pix": 128, "base_filters": 64},
    "demo 32^2 x 4, f=8": {"n_pix": 32, "base_filters": 8},
}
N_BINS = 4
#: Rules of the simulation + projection path whose benchmark files are summed.
SIMULATION_RULES = ("mock_simulation", "ingest_simulation", "simulation_maps")
#: Maps per simulation of the demo (shells.n_realisations).
DEMO_REALISATIONS = 100


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Time every configuration, read the simulation cost, print and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--results", type=Path, default=Path("results/demo"), help="a finished run's output_dir"
    )
    parser.add_argument("--realisations", type=int, default=DEMO_REALISATIONS, help="maps per simulation")
    parser.add_argument("--maps", type=int, default=2048, help="maps generated per timing")
    parser.add_argument("--batch", type=int, default=256, help="generation batch")
    parser.add_argument("--out", type=Path, default=Path("bench/out/bench_emulator.json"))
    args = parser.parse_args(argv)

    import tensorflow as tf  # lazy: the module docstring and --help need no TensorFlow

    from wlcnn.emulator.networks import build_generator  # lazy: imports keras
    from wlcnn.emulator.settings import EmulatorSettings
    from wlcnn.emulator.validation import generation_speed, simulation_cost_per_map

    files = sorted(p for rule in SIMULATION_RULES for p in (args.results / "benchmarks" / rule).glob("*.tsv"))
    n_sims = len({p.name for p in files})
    cost = simulation_cost_per_map(files, n_maps=n_sims * args.realisations)
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    rows = {}
    for name, sizes in CONFIGS.items():
        generator = build_generator(EmulatorSettings(**sizes), n_bins=N_BINS)
        speed = generation_speed(generator, n_maps=args.maps, batch=args.batch, condition=[0.0, 0.0], seed=0)
        speed["speed_up_wall"] = speed["maps_per_second"] * cost.wall_seconds_per_map if cost else None
        rows[name] = speed
        print(
            f"{name:24s} {device}: {speed['maps_per_second']:10.1f} maps/s  "
            f"({speed['maps_per_second'] / SEED_PAPER_MAPS_PER_S:.2f} x the seed paper's GPU rate)"
        )
    if cost:
        print(
            f"simulation + projection path ({n_sims} simulations, {args.results}): "
            f"{cost.wall_seconds_per_map:.3g} s wall, {cost.cpu_seconds_per_map:.3g} CPU-s per 128^2 x 4 map"
        )
    record = {
        "device": device,
        "platform": platform.platform(),
        "tensorflow": tf.__version__,
        "generation": rows,
        "simulation_path": cost.__dict__ if cost else None,
        "seed_paper_maps_per_s": SEED_PAPER_MAPS_PER_S,
        "goal_maps_per_s": GOAL_MAPS_PER_S,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    return record


if __name__ == "__main__":
    main()
