"""How DAG construction scales with the size of the cosmology grid.

For grids of increasing size (default 9, 57, 200 cosmologies, each with the paper's 10 training
+ 2 test simulations and 51 snapshots), runs ``snakemake --dry-run`` on the paper-scale
configuration and reports the wall time and the number of jobs per rule. The simulations are
declared ``mock_pm`` so that no simulation files need to exist; every other setting is the
paper's.

Usage: .venv/bin/python bench/bench_dag.py [--sizes 9 57 200] [--out bench/out]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from wlcnn.grid import format_grid, sigma8_line_grid

REPO = Path(__file__).resolve().parents[1]
PRIOR = {"omega_m": [0.1, 0.5], "sigma8": [0.4, 1.4]}


def grid_with(n: int) -> list[tuple[float, float]]:
    """At least ``n`` points on constant-Sigma8 lines (denser lines until enough), first ``n`` kept."""
    k = 2
    while True:
        pts = sigma8_line_grid(
            sigma8_lines=np.linspace(0.5, 1.0, k), omega_m=np.linspace(0.1, 0.5, k), prior=PRIOR
        )
        if len(pts) >= n:
            return pts[:n]
        k += 1


def touch(path: Path) -> Path:
    path.touch()
    return path


def dry_run(n: int, workdir: Path) -> dict:
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    grid = workdir / f"grid_{n}.csv"
    grid.write_text(format_grid(grid_with(n), n_train=10, n_test=2, mocks=[(0.25, 0.849)]))
    cfg["cosmology"]["grid"] = str(grid)
    cfg["run"]["output_dir"] = str(workdir / f"results_{n}")
    sims = cfg["simulations"]
    sims["code"] = "mock_pm"
    sims.pop("directory", None)
    sims.pop("snapshot_pattern", None)
    sims["mock_pm"] = {"n_mesh": 512, "n_steps": 100, "lpt_order": 2}
    # The survey catalogue and the KiDS n(z) files are user data: stand-ins that only need to exist.
    cfg["survey"]["catalogue"] = str(touch(workdir / "catalogue.fits"))
    cfg["lensing"]["nz_files"] = [str(touch(workdir / f"nz_bin{i}.txt")) for i in range(1, 5)]
    path = workdir / f"config_{n}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", "--configfile", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    counts = {m[0]: int(m[1]) for m in re.findall(r"^(\w+)\s+(\d+)$", proc.stdout + proc.stderr, re.M)}
    return {"cosmologies": n, "seconds": round(elapsed, 2), "jobs": counts}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[9, 57, 200])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            row = dry_run(n, Path(tmp))
            rows.append(row)
            total = row["jobs"].get("total", sum(row["jobs"].values()))
            per_rule = ", ".join(f"{k}={v}" for k, v in row["jobs"].items() if k != "total")
            print(f"{n:5d} cosmologies: dry run {row['seconds']:6.2f} s, {total} jobs ({per_rule})")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_dag.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
