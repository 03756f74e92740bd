"""How DAG construction scales with the size of the cosmology grid, and what SLURM gets.

For grids of increasing size (default 9, 57, 200 cosmologies, each with the paper's 10 training
+ 2 test simulations and 51 snapshots), dry-runs the paper-scale configuration twice:

* ``snakemake -n --quiet rules``: the wall time of building the DAG and the jobs per rule;
* ``snakemake -n --profile profiles/slurm`` (its job groups and ``cores``, the full job listing):
  the wall time with grouping and the number of cluster submissions after grouping, per rule
  or group (one per group job, one per ungrouped job; the ``all`` target runs on the submit
  host), and the jobs in each group job.

The simulations are declared ``mock_pm`` so that no simulation files need to exist; every other
setting is the paper's. A dry run submits nothing: no cluster is needed.

Usage: .venv/bin/python bench/bench_dag.py [--sizes 9 57 200] [--out bench/out] [--no-groups]
(``--no-groups``: only the first dry run.)
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
PROFILE = REPO / "profiles" / "slurm"
#: Rules without a run/shell/script section: Snakemake runs them on the submit host.
LOCAL_RULES = {"all"}


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


def paper_config(n: int, workdir: Path) -> Path:
    """The paper-scale configuration on a grid of ``n`` cosmologies, written into ``workdir``."""
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
    return path


def snakemake_dry_run(config: Path, *args: str) -> tuple[float, str]:
    """Wall time and output of ``snakemake -n ARGS --configfile CONFIG``."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", *args, "--configfile", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,  # a failure is raised below with Snakemake's own message
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return elapsed, proc.stdout + proc.stderr


def dry_run(n: int, workdir: Path, groups: bool = True) -> dict:
    config = paper_config(n, workdir)
    seconds, text = snakemake_dry_run(config, "--quiet", "rules")
    counts = {m[0]: int(m[1]) for m in re.findall(r"^(\w+)\s+(\d+)$", text, re.MULTILINE)}
    row = {"cosmologies": n, "seconds": round(seconds, 2), "jobs": counts}
    if groups:
        # the full listing (not --quiet): it names the group jobs and their members
        seconds, text = snakemake_dry_run(config, "--profile", str(PROFILE))
        row["seconds_grouped"] = round(seconds, 2)
        row.update(submissions(text))
    return row


def submissions(dry_run_text: str) -> dict:
    """Cluster submissions in a dry-run listing: one per group job, one per ungrouped job.

    Returns ``submissions`` (per group as ``group:NAME`` and per ungrouped rule) and
    ``group_jobs`` (per group, the number of jobs in each of its group jobs).
    """
    per_key: dict[str, int] = {}
    group_jobs: dict[str, list[int]] = {}
    members: list[int] | None = None  # the sizes list of the group job being read
    for line in dry_run_text.splitlines():
        if m := re.search(r"\] Group job (\S+) \(jobs in", line):
            key = f"group:{m.group(1)}"
            per_key[key] = per_key.get(key, 0) + 1
            members = group_jobs.setdefault(m.group(1), [])
            members.append(0)
        elif m := re.match(r"(    )?(?:local)?rule (\w+):$", line):
            if m.group(1):  # indented: a member of the group job above
                if members is not None:
                    members[-1] += 1
            else:
                members = None
                if m.group(2) not in LOCAL_RULES:
                    per_key[m.group(2)] = per_key.get(m.group(2), 0) + 1
    return {"submissions": per_key, "group_jobs": group_jobs}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[9, 57, 200])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    parser.add_argument("--no-groups", action="store_true", help="skip the dry run with the SLURM profile")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            row = dry_run(n, Path(tmp), groups=not args.no_groups)
            rows.append(row)
            total = row["jobs"].get("total", sum(row["jobs"].values()))
            per_rule = ", ".join(f"{k}={v}" for k, v in row["jobs"].items() if k != "total")
            print(
                f"{n:5d} cosmologies: dry run {row['seconds']:6.2f} s, {total} jobs ({per_rule})", flush=True
            )
            if "submissions" not in row:
                continue
            subs = ", ".join(f"{k}={v}" for k, v in sorted(row["submissions"].items(), key=lambda kv: -kv[1]))
            sizes = ", ".join(
                f"{g} {min(v)}-{max(v)}" if min(v) != max(v) else f"{g} {v[0]}"
                for g, v in row["group_jobs"].items()
            )
            print(
                f"{'':18s} with profiles/slurm: dry run {row['seconds_grouped']:6.2f} s, "
                f"{sum(row['submissions'].values())} SLURM submissions ({subs}); jobs per group job: {sizes}",
                flush=True,
            )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_dag.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
