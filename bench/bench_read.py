"""Read throughput of the Gadget readers against pynbody, ``numpy.fromfile`` and the ``readinto`` ceiling.

Files: the real fixtures (Gadget-2 formats 1, 2, 3 of the 32^3 run) and a synthetic N^3
Gadget-2 format-1 snapshot written on the fly with :func:`wlcnn.io.gadget_writer.write_gadget_snapshot`
into a temporary directory (deleted afterwards).

Methods, each timed ``--repeat`` times, interleaved, on a warm page cache:

- ``wlcnn``: ``open_snapshot(path).iter_chunks()`` over every particle (positions, velocities,
  IDs, converted to Mpc/h, km/s, uint64, range-checked), chunks discarded as they come;
- ``pynbody``: ``pynbody.load(path)`` then ``pos``, ``vel`` and ``iord`` loaded fully;
- ``raw``: ``numpy.fromfile(path, dtype=uint8)``, the whole file, no parsing;
- ``readinto``: unbuffered ``readinto`` of the whole file into a buffer allocated once and
  reused: the page-cache ceiling (``fromfile`` pays a fresh allocation and its page faults).

Peak memory is measured with ``tracemalloc`` (numpy reports its buffers to it) in separate,
untimed runs. Usage::

    .venv/bin/python bench/bench_read.py [--n 256] [--out bench/out] [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import statistics
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from wlcnn.cosmology import critical_density_msun_h_mpc3
from wlcnn.io import open_snapshot
from wlcnn.io.gadget_writer import write_gadget_snapshot

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FIXTURES = Path(os.environ.get("WLCNN_FIXTURES", REPO.parent / "shared" / "fixtures" / "nbody"))
#: Bytes per MB in the reported throughputs (decimal, like disk vendors and dd).
MB = 1e6
#: Synthetic snapshot: box in Mpc/h, scale factor, velocity dispersion in km/s, seed.
SYNTH_BOX = 256.0
SYNTH_A = 0.5
SYNTH_SIGMA_V = 300.0
SYNTH_SEED = 12345
#: Fixture files are tiny (~1 MB): time them more often to beat timer noise.
FIXTURE_REPEAT_FACTOR = 10


def read_wlcnn(path: Path) -> int:
    n = 0
    for chunk in open_snapshot(path).iter_chunks():
        n += len(chunk)
    return n


def read_pynbody(path: Path) -> int:
    import pynbody  # optional benchmark dependency: imported only when measured

    f = pynbody.load(str(path))
    for name in ("pos", "vel", "iord"):  # pynbody loads lazily: touching the array reads it
        f[name]
    return len(f)


def read_raw(path: Path) -> int:
    return int(np.fromfile(path, dtype=np.uint8).size)


#: Buffer of the ``readinto`` ceiling, allocated once and reused (its first touch is untimed).
_READINTO_BUFFER: dict[str, bytearray] = {}


def read_readinto(path: Path) -> int:
    """The page-cache ceiling: unbuffered ``readinto`` of the whole file into a reused buffer."""
    size = path.stat().st_size
    buf = _READINTO_BUFFER.get("buf")
    if buf is None or len(buf) < size:
        buf = _READINTO_BUFFER["buf"] = bytearray(size)
    view = memoryview(buf)[:size]
    got = 0
    with open(path, "rb", buffering=0) as fh:
        while got < size:
            n = fh.readinto(view[got:])
            if not n:
                break
            got += n
    return got


METHODS: dict[str, Callable[[Path], int]] = {
    "wlcnn": read_wlcnn,
    "pynbody": read_pynbody,
    "raw": read_raw,
    "readinto": read_readinto,
}


def make_synthetic(directory: Path, n1d: int) -> Path:
    """Write an n1d^3 dark-matter snapshot (format 1, kpc/h) like a real Gadget-2 output."""
    n = n1d**3
    rng = np.random.default_rng(SYNTH_SEED)
    pos = rng.uniform(0.0, SYNTH_BOX, (n, 3)).astype(np.float32)
    vel = rng.normal(0.0, SYNTH_SIGMA_V, (n, 3)).astype(np.float32)
    ids = (rng.permutation(n) + 1).astype(np.uint32)  # Gadget outputs are not sorted by ID
    path = directory / f"snapshot_N{n1d}"
    write_gadget_snapshot(
        path,
        pos=pos,
        vel=vel,
        ids=ids,
        box=SYNTH_BOX,
        a=SYNTH_A,
        omega_m=0.3,
        omega_lambda=0.7,
        hubble=0.7,
        particle_mass=0.3 * critical_density_msun_h_mpc3() * SYNTH_BOX**3 / n1d**3,  # what the readers check
    )
    return path


def peak_memory(fn: Callable[[Path], int], path: Path) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        fn(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def bench_file(label: str, path: Path, repeat: int, methods: list[str]) -> dict[str, Any]:
    size = path.stat().st_size
    n_part = open_snapshot(path).header.n_particles
    counts = {m: METHODS[m](path) for m in methods}  # warm-up (page cache, imports) + sanity
    if counts.get("pynbody", n_part) != n_part or counts["wlcnn"] != n_part:
        raise RuntimeError(f"{path}: particle counts disagree: {counts} vs header {n_part}")
    times: dict[str, list[float]] = {m: [] for m in methods}
    for _ in range(repeat):
        for m in methods:  # interleaved so that drift hits every method alike
            gc.collect()
            t0 = time.perf_counter()
            METHODS[m](path)
            times[m].append(time.perf_counter() - t0)
    result: dict[str, Any] = {
        "file": str(path),
        "label": label,
        "bytes": size,
        "particles": n_part,
        "methods": {},
    }
    for m in methods:
        best, median = min(times[m]), statistics.median(times[m])
        result["methods"][m] = {
            "best_s": best,
            "median_s": median,
            "MB_per_s_best": size / best / MB,
            "MB_per_s_median": size / median / MB,
            "particles_per_s_best": n_part / best,
            "times_s": times[m],
        }
    best = {m: result["methods"][m]["best_s"] for m in methods}
    median = {m: result["methods"][m]["median_s"] for m in methods}
    if "pynbody" in methods:
        result["speedup_vs_pynbody_best"] = best["pynbody"] / best["wlcnn"]
        result["speedup_vs_pynbody_median"] = median["pynbody"] / median["wlcnn"]
    result["fraction_of_readinto_best"] = best["readinto"] / best["wlcnn"]
    result["fraction_of_readinto_median"] = median["readinto"] / median["wlcnn"]
    result["fraction_of_raw_best"] = best["raw"] / best["wlcnn"]
    result["fraction_of_raw_median"] = median["raw"] / median["wlcnn"]
    result["peak_memory_bytes"] = {m: peak_memory(METHODS[m], path) for m in methods}
    return result


def print_table(results: list[dict[str, Any]]) -> None:
    head = (
        f"{'file':<22}{'MB':>8}{'method':>9}{'best s':>9}{'median s':>10}{'MB/s':>9}"
        f"{'Mpart/s':>9}{'peak MB':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        for m, v in r["methods"].items():
            print(
                f"{r['label']:<22}{r['bytes'] / MB:>8.1f}{m:>9}{v['best_s']:>9.4f}{v['median_s']:>10.4f}"
                f"{v['MB_per_s_best']:>9.0f}{v['particles_per_s_best'] / 1e6:>9.1f}"
                f"{r['peak_memory_bytes'][m] / MB:>9.1f}"
            )
        ratios = f"  wlcnn = {r['fraction_of_readinto_best']:.2f}x readinto"
        ratios += f" (median {r['fraction_of_readinto_median']:.2f}x)"
        ratios += f", {r['fraction_of_raw_best']:.2f}x raw"
        if "speedup_vs_pynbody_best" in r:
            ratios += f", {r['speedup_vs_pynbody_best']:.1f}x pynbody"
        ratios += f" (best; median {r['fraction_of_raw_median']:.2f}x raw"
        if "speedup_vs_pynbody_median" in r:
            ratios += f", {r['speedup_vs_pynbody_median']:.1f}x pynbody"
        print(ratios + ")")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=256, help="particles per side of the synthetic snapshot")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out", help="directory for the JSON")
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions per method (best/median)")
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES, help="real N-body fixtures")
    parser.add_argument("--tmpdir", type=Path, default=None, help="where to write the synthetic snapshot")
    parser.add_argument("--no-pynbody", action="store_true", help="skip pynbody (e.g. not installed)")
    args = parser.parse_args(argv)
    logging.getLogger("pynbody").setLevel(logging.ERROR)
    # pynbody warns that the fixtures carry no unit metadata; irrelevant to timing
    warnings.filterwarnings("ignore", module="pynbody")

    methods = ["wlcnn", "raw", "readinto"] if args.no_pynbody else ["wlcnn", "pynbody", "raw", "readinto"]
    results: list[dict[str, Any]] = []
    g2 = args.fixtures / "gadget2_N32"
    if g2.is_dir():
        for fmt, name in ((1, "snapshot_006"), (2, "snapshot_006"), (3, "snapshot_006.hdf5")):
            path = g2 / f"fmt{fmt}" / name
            repeat = args.repeat * FIXTURE_REPEAT_FACTOR
            results.append(bench_file(f"fixture fmt{fmt} 32^3", path, repeat, methods))
    else:
        print(f"fixtures not found at {g2}; only the synthetic snapshot is measured")
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        t0 = time.perf_counter()
        path = make_synthetic(Path(tmp), args.n)
        write_s = time.perf_counter() - t0
        results.append(bench_file(f"synthetic fmt1 {args.n}^3", path, args.repeat, methods))
        results[-1]["write_s"] = write_s
    print_table(results)

    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "bench_read.json"
    meta = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "repeat": args.repeat,
        "page_cache": "warm (each file read once before timing)",
    }
    try:
        import pynbody

        meta["pynbody"] = pynbody.__version__
    except ImportError:
        pass
    out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
