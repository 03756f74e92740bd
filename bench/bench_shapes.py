"""Speed of the shapes stage: stamps simulated, and stamps measured by the CNN and by HSM, per core.

What is timed (one process, one thread for TensorFlow so that the rates are per core):

- ``simulate``: :func:`wlcnn.shapes.stamps.simulate_stamps` of ``--n`` unaugmented stamps with
  the demo's stamp settings (GalSim Sérsic ⊗ Moffat, 32 × 32, noise);
- ``cnn``: :func:`wlcnn.shapes.estimator.measure_cnn` of the same stamps with the Table 2
  network (untrained weights: the cost does not depend on them), batches of ``--batch``, after
  one warm-up call (graph tracing excluded);
- ``hsm``: :func:`wlcnn.shapes.moments.hsm_shear` (GalSim HSM re-Gaussianisation, the
  moments baseline) of the same stamps.

The goal of issue 19 is a CNN at least 10 times faster than HSM per core. With ``--train STEPS``
the network is also trained on ``--n-train`` augmented stamps and both estimators are
calibrated on the ``--n`` stamps (m, c and RMS error per component), a larger version of the
demo's calibration. Usage::

    .venv/bin/python bench/bench_shapes.py [--n 4000] [--batch 1024] [--train 0] [--out bench/out]

Measured numbers are in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
SEED = 2019


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def main() -> None:
    """Run the benchmark and print / write its results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=4000, help="stamps simulated and measured")
    parser.add_argument("--batch", type=int, default=1024, help="stamps per network call")
    parser.add_argument("--train", type=int, default=0, help="also train this many steps and calibrate both")
    parser.add_argument("--n-train", type=int, default=20000, help="training stamps (with --train)")
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow threads (1: per core)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = parser.parse_args()

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    from wlcnn.shapes.calibration import apply_calibration, fit_bias, rms_error
    from wlcnn.shapes.estimator import build_shear_cnn, load_estimator, measure_cnn, train_shear_estimator
    from wlcnn.shapes.moments import hsm_shear
    from wlcnn.shapes.settings import calibration_settings, estimator_settings, stamp_settings
    from wlcnn.shapes.stamps import psf_image, simulate_stamps

    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg = stamp_settings(config)
    results: dict[str, Any] = {"n": args.n, "batch": args.batch, "threads": args.threads}

    clock = time.perf_counter()
    stamps = simulate_stamps(cfg, seed=SEED, label="bench", start=0, stop=args.n, augment=False)
    results["simulate_per_s"] = _rate(args.n, time.perf_counter() - clock)

    model = build_shear_cnn(stamp_size=cfg.stamp_size, dropout=estimator_settings(config).dropout)
    measure_cnn(model, stamps.stamps[: args.batch], batch_size=args.batch)  # warm-up: tracing
    clock = time.perf_counter()
    g_cnn = measure_cnn(model, stamps.stamps, batch_size=args.batch)
    results["cnn_per_s"] = _rate(args.n, time.perf_counter() - clock)

    method = calibration_settings(config).moments_method
    clock = time.perf_counter()
    hsm = hsm_shear(
        stamps.stamps, psf_image=psf_image(cfg), pixel_scale_arcsec=cfg.pixel_scale_arcsec, method=method
    )
    results["hsm_per_s"] = _rate(args.n, time.perf_counter() - clock)
    results["hsm_failed"] = hsm.n_failed
    results["cnn_over_hsm_speed"] = results["cnn_per_s"] / results["hsm_per_s"]

    if args.train:
        train = simulate_stamps(cfg, seed=SEED, label="bench_train", start=0, stop=args.n_train, augment=True)
        with tempfile.TemporaryDirectory() as tmp:
            info = train_shear_estimator(
                train.stamps,
                train.shear,
                settings=replace(estimator_settings(config), steps=args.train),
                seed=SEED,
                out_dir=tmp,
                fingerprint_config={"bench": args.train, "n_train": args.n_train},
            )
            g_cnn = measure_cnn(
                load_estimator(Path(tmp) / "model.keras"), stamps.stamps, batch_size=args.batch
            )
        results["training"] = info
        for name, g in (("cnn", g_cnn), ("hsm", hsm.g)):
            fit = fit_bias(stamps.shear, g)
            results[name] = {**fit.to_dict(), "rms": rms_error(stamps.shear, apply_calibration(g, fit))}
        results["rms_ratio_cnn_over_hsm"] = float(
            np.mean(results["cnn"]["rms"]) / np.mean(results["hsm"]["rms"])
        )

    results["machine"] = {
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "tensorflow": tf.__version__,
    }
    print(json.dumps(results, indent=1, default=str))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_shapes.json").write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
