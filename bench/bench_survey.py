"""Benchmark of the survey forward model: shape noise and CNN input assembly, NumPy vs TensorFlow.

Two measurements, on a synthetic survey of KiDS-450 size (20 patches x 4 bins of 128^2 pixels,
~10.5 M galaxies by default, 10 % of the pixels masked):

- shape noise: galaxy rotations per second (draw the angles, rotate, weighted pixel sums);
- full input assembly: surveys per second, one survey = 20 patches x 12 channels (draws, A_IA and
  m-bias, padded KS, masks, noise with mode removal, smoothing, second KS).

TensorFlow runs on whatever device it finds (a GPU when one is visible; set
CUDA_VISIBLE_DEVICES= to force the CPU). Run ``python bench/bench_survey.py --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from wlcnn.seeding import rng_for
from wlcnn.survey.forward_model import ForwardModel, TFForwardModel, stateless_seed
from wlcnn.survey.shape_noise import draw_rotation_angles, noise_ingredients, shape_noise_numpy

#: KiDS-450 after projection (paper's Table I): 10,561,462 galaxies in 20 patches x 4 bins.
KIDS_GALAXIES = 10_561_462
A_IA_RANGE = (-6.0, 6.0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patches", type=int, default=20, help="patches per survey (default 20)")
    parser.add_argument("--bins", type=int, default=4, help="tomographic bins (default 4)")
    parser.add_argument("--n-pix", type=int, default=128, help="pixels per side (default 128)")
    parser.add_argument(
        "--padding", type=int, default=64, help="KS zero padding, pixels per side (default 64)"
    )
    parser.add_argument(
        "--galaxies",
        type=int,
        default=KIDS_GALAXIES,
        help=f"galaxies in the survey (default {KIDS_GALAXIES:,}, KiDS-450 after projection)",
    )
    parser.add_argument("--masked-fraction", type=float, default=0.1, help="fraction of masked pixels")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions per measurement")
    parser.add_argument("--skip-numpy", action="store_true", help="time TensorFlow only")
    parser.add_argument("--skip-tf", action="store_true", help="time NumPy only")
    parser.add_argument("--threads", type=int, default=0, help="TF intra-op threads (0: TF's default)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    return parser.parse_args(argv)


def synthetic_model(args: argparse.Namespace) -> ForwardModel:
    """A forward model with a random mask and ``args.galaxies`` galaxies spread over it."""
    rng = rng_for(0, "bench_survey")
    shape = (args.patches, args.bins, args.n_pix, args.n_pix)
    mask = rng.random(shape) > args.masked_fraction
    observed = np.flatnonzero(mask)
    index = observed[rng.integers(0, observed.size, args.galaxies)]
    ing = noise_ingredients(
        pixel_index=index,
        weight=rng.gamma(2.0, 6.0, args.galaxies),
        e1=rng.normal(0, 0.29, args.galaxies),
        e2=rng.normal(0, 0.29, args.galaxies),
        map_shape=shape,
    )
    return ForwardModel(
        mask=ing.inverse_weight_sum > 0,
        noise=ing,
        multiplicative_bias=np.full(args.bins, -0.015),
        multiplicative_bias_sigma=0.01,
        padding=args.padding,
        smoothing_sigma_pix=2.34 / (5 * 60 / 128),
        smoothing_truncate=4.0,
    )


def time_interleaved(fns: dict[str, Callable[[int], object]], repeats: int) -> dict[str, float]:
    """Best-of-``repeats`` seconds per call of each function, after one warm-up call each.

    The functions take turns in every repetition, so that a machine shared with other jobs slows
    all of them alike and their ratios stay meaningful.
    """
    for fn in fns.values():
        fn(-1)  # tracing, caches
    best = dict.fromkeys(fns, float("inf"))
    for i in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn(i)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    model = synthetic_model(args)
    n_gal = model.noise.n_galaxies
    rng = rng_for(0, "bench_survey", "maps")
    shape = (args.patches, args.bins, args.n_pix, args.n_pix)
    kappa = (rng.standard_normal(shape) * 0.02).astype(np.float32)
    kappa_ia = (rng.standard_normal(shape) * 0.004).astype(np.float32)
    results: dict[str, object] = {
        "galaxies": n_gal,
        "survey_shape": [args.patches, args.n_pix, args.n_pix, 3 * args.bins],
        "padding": args.padding,
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
    }
    fns: dict[str, Callable[[int], object]] = {}
    if not args.skip_numpy:

        def numpy_noise(i: int) -> None:
            shape_noise_numpy(model.noise, phase=draw_rotation_angles(rng_for(1, "noise", i), n_gal))

        def numpy_survey(i: int) -> None:
            model.simulate(kappa, kappa_ia, model.draw(rng_for(1, "survey", i), a_ia_range=A_IA_RANGE))

        fns["numpy_noise"], fns["numpy_survey"] = numpy_noise, numpy_survey
    if not args.skip_tf:
        import tensorflow as tf

        if args.threads:
            tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf_model = TFForwardModel(model)
        results["tf_device"] = ", ".join(
            d.name for d in tf.config.list_logical_devices() if d.device_type != "CPU"
        )
        results["tf_device"] = results["tf_device"] or "CPU"
        k_t, kia_t = tf.constant(kappa), tf.constant(kappa_ia)

        @tf.function
        def tf_noise_graph(seed: tf.Tensor) -> tf.Tensor:
            from wlcnn.survey.shape_noise import draw_rotation_angles_tf, shape_noise_tf

            phase = draw_rotation_angles_tf(seed, n_gal)
            return shape_noise_tf(
                tf_model.pixel_index, tf_model.weighted_modulus, tf_model.inverse_weight_sum, phase=phase
            )

        def tf_noise(i: int) -> None:
            tf_noise_graph(tf.constant(stateless_seed(1, "noise", i))).numpy()

        def tf_survey(i: int) -> None:
            out, _ = tf_model.simulate_seeded(
                k_t, kia_t, stateless_seed(1, "survey", i), a_ia_range=A_IA_RANGE
            )
            out.numpy()  # wait for the device

        fns["tf_noise"], fns["tf_survey"] = tf_noise, tf_survey
    for name, t in time_interleaved(fns, args.repeats).items():
        impl, what = name.split("_")
        results[f"{name}_s"] = t
        results[f"{impl}_rotations_per_s" if what == "noise" else f"{impl}_surveys_per_s"] = (
            n_gal / t if what == "noise" else 1 / t
        )
    results["load_average"] = os.getloadavg()
    if "numpy_survey_s" in results and "tf_survey_s" in results:
        results["speedup_noise"] = results["numpy_noise_s"] / results["tf_noise_s"]
        results["speedup_survey"] = results["numpy_survey_s"] / results["tf_survey_s"]
    print(
        f"survey: {args.patches} patches x {args.bins} bins x {args.n_pix}^2, {n_gal:,} galaxies, "
        f"padding {args.padding}"
    )
    for impl in ("numpy", "tf"):
        if f"{impl}_noise_s" in results:
            label = "NumPy" if impl == "numpy" else f"TF ({results['tf_device']})"
            print(
                f"{label:>16}: noise {results[f'{impl}_rotations_per_s'] / 1e6:8.1f} M rotations/s "
                f"({results[f'{impl}_noise_s'] * 1e3:7.1f} ms)   assembly "
                f"{results[f'{impl}_surveys_per_s']:7.2f} surveys/s "
                f"({results[f'{impl}_survey_s'] * 1e3:7.1f} ms)"
            )
    if "speedup_survey" in results:
        print(
            f"TF / NumPy speed-up: noise {results['speedup_noise']:.2f}x, "
            f"assembly {results['speedup_survey']:.2f}x"
        )
    print(
        "load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f} on {} CPUs".format(
            *results["load_average"], os.cpu_count()
        )
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
