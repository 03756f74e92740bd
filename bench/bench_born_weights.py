"""Time and accuracy of the Born shell weights: fast composite Gauss-Legendre vs adaptive quadrature.

Setup (KiDS-450 scale): the paper's 51 snapshot redshifts (50 shells, z_s = 3.45), four KiDS-like
n(z) in the DIR histogram format (bin width 0.05 up to z = 3.5, made by
:func:`wlcnn.lensing.nz.synthetic_nz_histograms`), Ωm = 0.29, σ8 = 0.78.

What is timed (best of ``--repeat`` after one warm-up call):

- ``fast, 1 shell``: :func:`wlcnn.lensing.born.shell_weights` for one shell and one bin
  (W_b, W_b^IA, ΔD_b), the unit UFalcon's per-shell timings refer to;
- ``fast, all``: all 50 shells × 4 bins in one call (what a map job does);
- ``reference, 1 shell``: :func:`wlcnn.lensing.born.born_weights_reference` (nested
  ``scipy.integrate.quad`` at rtol 1e-11, D(z) from DOP853) for the same shell and bin, once.

The relative differences fast - reference are printed for every shell of ``--check-shells``.
Usage::

    .venv/bin/python bench/bench_born_weights.py [--repeat 20] [--shell 30] [--out bench/out]

Measured on the development VM (2 vCPUs, Python 3.11, numpy 2.4, pyccl 3.3.6), default options:
fast one shell 0.6 ms, all 50 shells × 4 bins 1.0 ms, reference 0.12 s for the same shell (0.03-0.5 s
depending on shell and n(z)); largest |fast/reference - 1| over the checked shells 1.6e-12 (W_b),
7e-11 (W_b^IA, limited by pyccl's D+ spline) and 2e-16 (ΔD_b). For scale: UFalcon 2.0.0 takes ~78 s
per shell by default and ~0.08 s in its fast mode (numbers quoted in the issue, not measured here).
Run this script for the numbers on your machine.
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
from wlcnn.lensing.born import born_weights_reference, shell_weights
from wlcnn.lensing.nz import NzTable, synthetic_nz_histograms

#: The paper's snapshot spacing and source range (SPEC §1, §3).
KIDS_REDSHIFTS = {"z_max": 3.45, "z_switch": 1.55, "dz_high": 0.1, "dz_low": 0.05}
Z_SOURCE_MAX = 3.45
#: KiDS-450 DIR files: 70 histogram bins of width 0.05 on [0, 3.5].
NZ_Z_MAX, NZ_BIN_WIDTH = 3.5, 0.05
OMEGA_M, SIGMA8 = 0.29, 0.78


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
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=20, help="timed repetitions of the fast method")
    parser.add_argument("--shell", type=int, default=30, help="index of the timed shell (snapshot order)")
    parser.add_argument("--bin", type=int, default=2, help="tomographic bin (0-based) of the timed shell")
    parser.add_argument(
        "--check-shells",
        type=int,
        nargs="*",
        default=[0, 10, 30, 45, 49],
        help="shells compared with the reference (all four bins)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/out"), help="directory for the JSON record")
    args = parser.parse_args(argv)

    cosmo = make_cosmology(omega_m=OMEGA_M, sigma8=SIGMA8)
    edges = output_redshifts(KIDS_REDSHIFTS)
    tables = kids_like_nz()
    lo, hi = sorted((float(edges[args.shell]), float(edges[args.shell + 1])))
    table = tables[args.bin]

    t_fast_one = best_time(
        lambda: shell_weights(cosmo=cosmo, z_edges=[[lo, hi]], nz=[table], z_source_max=Z_SOURCE_MAX),
        args.repeat,
    )
    t_fast_all = best_time(
        lambda: shell_weights(cosmo=cosmo, z_edges=edges, nz=tables, z_source_max=Z_SOURCE_MAX), args.repeat
    )
    start = time.perf_counter()
    born_weights_reference(cosmo=cosmo, z_lo=lo, z_hi=hi, nz=table, z_source_max=Z_SOURCE_MAX)
    t_ref_one = time.perf_counter() - start

    fast = shell_weights(cosmo=cosmo, z_edges=edges, nz=tables, z_source_max=Z_SOURCE_MAX)
    worst = {"born_weights": 0.0, "ia_weights": 0.0, "delta_d": 0.0}
    rows = []
    for s in args.check_shells:
        for b, t in enumerate(tables):
            ref = born_weights_reference(
                cosmo=cosmo,
                z_lo=float(fast.z_lo[s]),
                z_hi=float(fast.z_hi[s]),
                nz=t,
                z_source_max=Z_SOURCE_MAX,
            )
            w, w_ia = fast.born_weights[b, s], fast.ia_weights[b, s]
            diffs = {
                "born_weights": abs(w / ref.born_weight - 1) if ref.born_weight else abs(w),
                "ia_weights": abs(w_ia / ref.ia_weight - 1) if ref.ia_weight else abs(w_ia),
                "delta_d": abs(fast.delta_d[s] / ref.delta_d - 1),
            }
            worst = {k: max(worst[k], float(v)) for k, v in diffs.items()}
            rows.append(
                {
                    "shell": s,
                    "bin": b,
                    "z_lo": float(fast.z_lo[s]),
                    "z_hi": float(fast.z_hi[s]),
                    **{k: float(v) for k, v in diffs.items()},
                }
            )

    print(f"shell {args.shell} (z {lo:.2f}-{hi:.2f}), bin {args.bin + 1}; 50 shells x 4 bins for 'all'")
    print(f"{'method':<24}{'seconds':>12}")
    print(f"{'fast, 1 shell':<24}{t_fast_one:>12.5f}")
    print(f"{'fast, all 200 weights':<24}{t_fast_all:>12.5f}")
    print(f"{'reference, 1 shell':<24}{t_ref_one:>12.5f}")
    print(f"speed-up on one shell: {t_ref_one / t_fast_one:.0f}x")
    print(
        "largest |fast/reference - 1| over shells "
        + ", ".join(map(str, args.check_shells))
        + ": "
        + ", ".join(f"{k} {v:.1e}" for k, v in worst.items())
    )
    args.out.mkdir(parents=True, exist_ok=True)
    record = {
        "fast_one_shell_s": t_fast_one,
        "fast_all_s": t_fast_all,
        "reference_one_shell_s": t_ref_one,
        "worst_relative_difference": worst,
        "checks": rows,
        "python": platform.python_version(),
    }
    (args.out / "bench_born_weights.json").write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
