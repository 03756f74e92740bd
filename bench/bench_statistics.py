"""Map-statistics benchmark: per-map cost on a 128² map and batched throughput (maps/s).

Usage::

    .venv/bin/python bench/bench_statistics.py [--n-pix 128] [--batch 256] [--repeat 20] [--out FILE]

For each statistic, measured in the same run on the same Gaussian random maps:

* ``wlcnn``: :mod:`wlcnn.statistics` (power spectrum in 20 ℓ bins, Minkowski functionals at 17
  thresholds = 16 bins, peak counts in 16 height bins);
* ``numpy``: the fairest straightforward alternative: the spectrum with a full-plane ``fft2``
  and a boolean mask per bin; MFs as lenstools does them (``np.gradient`` derivatives, then
  ``np.histogram`` weighted by |∇κ| and by the curvature term); peaks with
  ``scipy.ndimage.maximum_filter`` and ``np.histogram``;
* ``floor``: ``np.fft.rfft2`` of the maps, the least any FFT-based spectrum can cost (and a
  reference for the others: one pass over the map);
* ``tf``: :mod:`wlcnn.statistics.tf_statistics` (float32 TensorFlow ops; spectrum and peaks) on
  a stack of ``--tf-batch`` maps already held as a tensor, on this machine's CPU (skipped with
  ``--no-tf``).

Per map: best of ``--repeat`` calls on one map (after a warm-up call that also compiles the
numba kernels). Batched: one call on ``--batch`` maps, best of 3, reported as maps/s and as ms
per map. lenstools 1.2 (does not build with numpy 2) is quoted in ``bench/README.md``, not run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy
from scipy import ndimage

from wlcnn.statistics import minkowski_functionals, peak_counts, power_spectrum

SIDE_DEG = 5.0
ELL_EDGES = np.geomspace(100.0, 4000.0, 21)
N_THRESHOLDS = 17
NU_RANGE = 3.0
#: lenstools 1.2 on one 128² map (issue 15), milliseconds.
LENSTOOLS_MS = {"power_spectrum": 0.19, "minkowski": 0.87, "peaks": 0.23}


def _numpy_spectrum(maps: np.ndarray) -> np.ndarray:
    n = maps.shape[-1]
    k = np.fft.fftfreq(n) * n
    ell = 2 * np.pi / np.deg2rad(SIDE_DEG) * np.hypot(k[:, None], k[None, :])
    power = np.abs(np.fft.fft2(maps)) ** 2 * np.deg2rad(SIDE_DEG) ** 2 / n**4
    return np.stack(
        [power[..., (ell >= lo) & (ell < hi)].mean(axis=-1) for lo, hi in itertools.pairwise(ELL_EDGES)],
        axis=-1,
    )


def _numpy_minkowski(maps: np.ndarray, edges: np.ndarray) -> np.ndarray:
    out = []
    for m in maps.reshape(-1, *maps.shape[-2:]):
        gy, gx = np.gradient(m)
        gyy, gyx = np.gradient(gy)
        _, gxx = np.gradient(gx)
        g2 = gx**2 + gy**2
        with np.errstate(invalid="ignore", divide="ignore"):
            curv = np.where(g2 > 0, (2 * gx * gy * gyx - gx**2 * gyy - gy**2 * gxx) / g2, 0.0)
        width = np.diff(edges)
        v0 = np.array([(m >= t).mean() for t in 0.5 * (edges[1:] + edges[:-1])])
        v1 = np.histogram(m, bins=edges, weights=np.sqrt(g2))[0] / (4 * width * m.size)
        v2 = np.histogram(m, bins=edges, weights=curv)[0] / (2 * np.pi * width * m.size)
        out.append(np.stack([v0, v1, v2]))
    return np.array(out)


def _numpy_peaks(maps: np.ndarray, edges: np.ndarray) -> np.ndarray:
    out = []
    for m in maps.reshape(-1, *maps.shape[-2:]):
        is_peak = m == ndimage.maximum_filter(m, size=3, mode="constant", cval=-np.inf)
        out.append(np.histogram(m[1:-1, 1:-1][is_peak[1:-1, 1:-1]], bins=edges)[0])
    return np.array(out)


def _best(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _tf_rows(
    results: dict[str, dict[str, dict[str, float]]], *, maps: np.ndarray, edges: np.ndarray, n_maps: int
) -> None:
    """Add the TensorFlow rows: one call on ``n_maps`` float32 maps held as a tensor, best of 3."""
    import tensorflow as tf  # only for these rows (``--no-tf`` skips the import)

    from wlcnn.statistics.tf_statistics import peak_counts_tf, power_spectrum_tf

    stack = tf.constant(np.resize(maps, (n_maps, *maps.shape[1:])).astype(np.float32))
    calls = {
        "power_spectrum": lambda: power_spectrum_tf(stack, side_deg=SIDE_DEG, ell_edges=ELL_EDGES).numpy(),
        "peaks": lambda: peak_counts_tf(stack, edges).numpy(),
    }
    for stat, fn in calls.items():
        seconds = _best(fn, 3)
        results[stat]["tf"] = {
            "batch_maps_per_s": n_maps / seconds,
            "batch_ms_per_map": seconds / n_maps * 1e3,
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n-pix", type=int, default=128)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--tf-batch", type=int, default=4096)
    parser.add_argument("--no-tf", action="store_true", help="skip the TensorFlow rows")
    parser.add_argument("--out", type=Path, default=Path("bench/out/bench_statistics.json"))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    k = np.fft.fftfreq(args.n_pix) * 2 * np.pi
    smooth = np.exp(-((np.hypot(k[:, None], k[None, :]) * 2.0) ** 2))  # 2-pixel Gaussian smoothing
    maps = np.fft.ifft2(np.fft.fft2(rng.standard_normal((args.batch, args.n_pix, args.n_pix))) * smooth).real
    edges = np.linspace(-NU_RANGE, NU_RANGE, N_THRESHOLDS) * maps.std()
    one = maps[:1]
    cases = {
        "power_spectrum": {
            "wlcnn": lambda m: power_spectrum(m, side_deg=SIDE_DEG, ell_edges=ELL_EDGES),
            "numpy": _numpy_spectrum,
        },
        "minkowski": {
            "wlcnn": lambda m: minkowski_functionals(m, edges),
            "numpy": lambda m: _numpy_minkowski(m, edges),
        },
        "peaks": {"wlcnn": lambda m: peak_counts(m, edges), "numpy": lambda m: _numpy_peaks(m, edges)},
        "rfft2_floor": {"floor": np.fft.rfft2},
    }
    results: dict[str, dict[str, dict[str, float]]] = {}
    for stat, methods in cases.items():
        results[stat] = {}
        for name, fn in methods.items():
            per_map = _best(lambda fn=fn: fn(one), args.repeat)
            batch = _best(lambda fn=fn: fn(maps), 3)
            results[stat][name] = {
                "per_map_ms": per_map * 1e3,
                "batch_maps_per_s": args.batch / batch,
                "batch_ms_per_map": batch / args.batch * 1e3,
            }
    if not args.no_tf:
        _tf_rows(results, maps=maps, edges=edges, n_maps=args.tf_batch)
    print(
        f"{'statistic':15s} {'method':8s} {'per map ms':>11s} {'maps/s (batch)':>15s}"
        f" {'batch ms/map':>13s} {'lenstools ms':>13s}"
    )
    for stat, methods in results.items():
        for name, r in methods.items():
            quoted = f"{LENSTOOLS_MS[stat]:13.2f}" if stat in LENSTOOLS_MS and name == "wlcnn" else " " * 13
            single = f"{r['per_map_ms']:11.3f}" if "per_map_ms" in r else f"{'-':>11s}"
            print(
                f"{stat:15s} {name:8s} {single} {r['batch_maps_per_s']:15.0f}"
                f" {r['batch_ms_per_map']:13.4f} {quoted}"
            )
    for stat, ref in LENSTOOLS_MS.items():
        r = results[stat]["wlcnn"]
        print(
            f"{stat}: lenstools / wlcnn per map = {ref / r['per_map_ms']:.1f}x,"
            f" batched {ref / r['batch_ms_per_map']:.1f}x"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "n_pix": args.n_pix,
        "batch": args.batch,
        "repeat": args.repeat,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "machine": platform.machine(),
        "tf_batch": None if args.no_tf else args.tf_batch,
        "load_average": os.getloadavg(),
        "lenstools_quoted_ms": LENSTOOLS_MS,
    }
    args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))


if __name__ == "__main__":
    main()
