"""Benchmark of one test-summaries job (SPEC §7): NumPy vs batched TensorFlow forward model.

Runs what ``workflow/scripts/test_summaries.py`` runs for one cosmology of a finished run (its
test map files, patch maps and, for a network label, its trained model), once per forward model,
and reports the process CPU time and wall time of each and the largest difference between their
summaries (relative to the spread of the summaries over the surveys: the two paths see the same
draws, so it measures float32 rounding only). Imports and file reads are inside the timing, as
in the job; the TensorFlow import is timed separately.

    python bench/bench_test_summaries.py --config config/demo.yaml --cosmology c004 \\
        --labels power_spectrum peaks minkowski --json bench_test_summaries.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from wlcnn.config import load_config
from wlcnn.inference.analysis import DEFAULTS
from wlcnn.inference.predictors import STATISTICS, make_predictor
from wlcnn.inference.summaries import Summaries, compute_summaries
from wlcnn.inference.survey_sets import FORWARD_MODELS, SimulatedSurveys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--config", type=Path, default=Path("config/demo.yaml"), help="a finished run's config"
    )
    parser.add_argument("--base-dir", type=Path, default=Path(), help="directory its paths are relative to")
    parser.add_argument("--cosmology", default="c004", help="grid id of the test cosmology (default c004)")
    parser.add_argument("--labels", nargs="+", default=["power_spectrum"], help="statistics or one network")
    parser.add_argument("--forward-models", nargs="+", default=list(FORWARD_MODELS), choices=FORWARD_MODELS)
    parser.add_argument("--n-surveys", type=int, default=None, help="surveys per A_IA (default: config's)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here too")
    return parser.parse_args(argv)


def _test_maps(out: Path, cosmology: str) -> list[str]:
    """The cosmology's map files that kept their shells (the test simulations)."""
    import h5py  # lazy: only the benchmark's file scan needs it here

    found = []
    for path in sorted((out / "maps" / cosmology).glob("*.h5")):
        with h5py.File(path, "r") as fh:
            if "shells/delta" in fh:
                found.append(str(path))
    return found


def run_job(
    *,
    cfg: dict[str, Any],
    base_dir: Path,
    cosmology: str,
    labels: list[str],
    forward_model: str,
    n_surveys: int,
) -> tuple[Summaries, float, float]:
    """One job's summaries, its CPU seconds and wall seconds."""
    out = base_dir / cfg["run"]["output_dir"]
    settings = {**DEFAULTS, **cfg["inference"]}
    cpu, wall = time.process_time(), time.perf_counter()
    model = None if labels[0] in STATISTICS else str(out / "training" / labels[0] / "model.keras")
    predictors = [make_predictor(label, config=cfg, model_path=model) for label in labels]
    maps = _test_maps(out, cosmology)

    def predict(batch: np.ndarray) -> np.ndarray:
        return np.concatenate([p(batch) for p, _ in predictors], axis=-1)

    def make_survey_for(cosmology_id: str, a: float) -> SimulatedSurveys:  # noqa: ARG001 - one cosmology
        return SimulatedSurveys(
            map_files=maps,
            config=cfg,
            patch_maps_path=out / "survey" / "patch_maps.h5",
            a_ia=a,
            base_dir=base_dir,
            forward_model=forward_model,
        )

    summaries = compute_summaries(
        label="+".join(labels),
        predict=predict,
        make_survey_for=make_survey_for,
        # the node coordinates are only stored, never used by the summaries: placeholders
        cosmologies=[(cosmology, 0.0, 0.0)],
        a_ia=np.linspace(*(float(a) for a in settings["a_ia_range"]), int(settings["n_a_ia"])),
        n_surveys=n_surveys,
        base_seed=int(cfg["run"]["seed"]),
        batch_size=int(settings["batch_size"]),
    )
    return summaries, time.process_time() - cpu, time.perf_counter() - wall


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.config, base_dir=args.base_dir)
    n_surveys = args.n_surveys or int({**DEFAULTS, **cfg["inference"]}["n_surveys"])
    cpu, wall = time.process_time(), time.perf_counter()
    import tensorflow as tf  # noqa: F401 # lazy: timed apart, it is paid once per job on either path

    result: dict[str, Any] = {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "config": str(args.config),
        "cosmology": args.cosmology,
        "labels": args.labels,
        "surveys": n_surveys * int(cfg["inference"]["n_a_ia"]),
        "tensorflow_import": {"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall},
        "jobs": {},
    }
    done: dict[str, Summaries] = {}
    for forward_model in args.forward_models:
        summaries, cpu_s, wall_s = run_job(
            cfg=cfg,
            base_dir=args.base_dir,
            cosmology=args.cosmology,
            labels=args.labels,
            forward_model=forward_model,
            n_surveys=n_surveys,
        )
        done[forward_model] = summaries
        result["jobs"][forward_model] = {"cpu_s": cpu_s, "wall_s": wall_s}
        print(f"{forward_model:>10}: {cpu_s:7.1f} CPU-s  {wall_s:7.1f} s wall", file=sys.stderr)
    if len(done) == len(FORWARD_MODELS):
        a, b = (np.asarray(done[m].predictions) for m in FORWARD_MODELS)
        spread = np.asarray(done[FORWARD_MODELS[1]].predictions).std(axis=2, keepdims=True)
        result["max_difference_over_spread"] = float(
            np.max(np.abs(a - b) / np.where(spread > 0, spread, 1.0))
        )
        print(
            f"max |TF - NumPy| / survey spread: {result['max_difference_over_spread']:.2e}", file=sys.stderr
        )
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
