"""Per-map cost of multi-plane ray tracing vs the Born sum over the same shells (issue 17).

Setup (KiDS-450 scale): one 128² patch (5 deg), the paper's 51 snapshot redshifts (50 shells,
z_s = 3.45) or the first ``--planes`` of them, four KiDS-like n(z) (as in
``bench_born_weights.py``), Ωm = 0.29, σ8 = 0.78; shell overdensities are unit Gaussian noise
(the cost does not depend on the values).

What is timed (best of ``--repeat`` after one warm-up call), per map = one shell stack → 4 bins:

- ``born``: :func:`wlcnn.lensing.born.born_convergence` (κ and κ_IA: one matrix product);
- ``ray tracing, order k``: :func:`wlcnn.lensing.ray_tracing.ray_traced_maps` (κ, γ, ω) with
  bilinear (1) or cubic-spline (3) interpolation and the default padding 64 (256² FFT grid);
- ``lens planes``: :func:`wlcnn.lensing.ray_tracing.lens_planes` (distances, source weights), once
  per cosmology and n(z), not per map.

Usage::

    .venv/bin/python bench/bench_ray_tracing.py [--planes 50] [--repeat 3] [--out bench/out]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from wlcnn.config import output_redshifts
from wlcnn.cosmology import make_cosmology
from wlcnn.lensing.born import born_convergence, shell_weights
from wlcnn.lensing.nz import NzTable, synthetic_nz_histograms
from wlcnn.lensing.ray_tracing import DEFAULT_PADDING, INTERPOLATION_ORDERS, lens_planes, ray_traced_maps

#: The paper's snapshot spacing and source range (SPEC §1, §3).
KIDS_REDSHIFTS = {"z_max": 3.45, "z_switch": 1.55, "dz_high": 0.1, "dz_low": 0.05}
Z_SOURCE_MAX = 3.45
#: KiDS-450 DIR files: 70 histogram bins of width 0.05 on [0, 3.5].
NZ_Z_MAX, NZ_BIN_WIDTH = 3.5, 0.05
OMEGA_M, SIGMA8 = 0.29, 0.78
N_PIX = 128


def best_time(func: Callable[[], Any], repeat: int) -> float:
    """Best wall time of ``repeat`` calls after one warm-up call, in seconds."""
    func()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def kids_like_nz() -> list[NzTable]:
    """Four KiDS-like n(z) as the reader returns them (lower-edge histograms -> mid-points)."""
    z_lower, hist = synthetic_nz_histograms(z_max=NZ_Z_MAX, bin_width=NZ_BIN_WIDTH)
    mids = np.concatenate([[0.0], z_lower + 0.5 * NZ_BIN_WIDTH])
    return [NzTable(z=mids, nz=np.concatenate([[0.0], h])) for h in hist]


def main(argv: list[str] | None = None) -> int:
    """Time Born and ray tracing on one patch; print a table and write a JSON record."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--planes", type=int, default=50, help="number of shells (lowest redshifts first)")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions")
    parser.add_argument(
        "--padding", type=int, default=DEFAULT_PADDING, help="zero padding of the Poisson solve"
    )
    parser.add_argument("--out", type=Path, default=Path("bench/out"), help="directory for the JSON record")
    args = parser.parse_args(argv)

    cosmo = make_cosmology(omega_m=OMEGA_M, sigma8=SIGMA8)
    edges = np.sort(output_redshifts(KIDS_REDSHIFTS))[: args.planes + 1]
    weights = shell_weights(cosmo=cosmo, z_edges=edges, nz=kids_like_nz(), z_source_max=Z_SOURCE_MAX)
    delta = np.random.default_rng(0).standard_normal((weights.n_shells, N_PIX, N_PIX))

    timings = {
        "born": best_time(lambda: born_convergence(delta_shells=delta, weights=weights), args.repeat),
        "lens_planes": best_time(lambda: lens_planes(weights=weights, cosmo=cosmo), args.repeat),
    }
    for order in INTERPOLATION_ORDERS:
        timings[f"ray_tracing_order_{order}"] = best_time(
            lambda order=order: ray_traced_maps(
                delta_shells=delta,
                weights=weights,
                cosmo=cosmo,
                padding=args.padding,
                interpolation_order=order,
            ),
            args.repeat,
        )
    print(f"one {N_PIX}² patch, {weights.n_shells} planes, {weights.n_bins} bins, padding {args.padding}")
    print(f"{'method':<24}{'s per map':>12}{'ms per plane':>14}{'x Born':>10}")
    for name, seconds in timings.items():
        print(
            f"{name:<24}{seconds:>12.4f}{1e3 * seconds / weights.n_shells:>14.2f}"
            f"{seconds / timings['born']:>10.0f}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    record = {
        "n_pix": N_PIX,
        "n_planes": weights.n_shells,
        "n_bins": weights.n_bins,
        "padding": args.padding,
        "seconds_per_map": timings,
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    (args.out / "bench_ray_tracing.json").write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
