"""Paper-scale resources from measurement (issue 14, item 7): a map job's memory and time.

Runs the map job (``python -m wlcnn.maps.mpi --no-mpi``, one process, role ``test``: shell stacks
kept, the largest case) on one ingested simulation of a finished run at two particle counts
(the snapshots as they are, and every ``--thin``-th particle of them, written to a temporary
directory with the particle mass scaled) and two realisation counts, and records each run's CPU
time, wall time and peak RSS (``os.wait4``). Fits

    CPU s = t0 + n_snapshots * (a * n_particles + n_realisations * (c + d * n_particles))

(every rank reads and sorts every snapshot: a; each realisation of each shell projects a beam
whose particle count grows with the snapshot's, d, and fills its pixels, c) by least squares.
The constants of :func:`wlcnn.maps.plan.map_job_runtime_min` come from this fit (d per unit
particle density: d × box³). Prints a Markdown table (measured against fitted CPU time, peak
RSS against :func:`wlcnn.maps.plan.estimate_memory_mb`) and the paper-scale job (256³ particles
in 500 Mpc/h, 1000 realisations, 51 snapshots, 8 ranks) as the workflow would request it;
``--json`` writes everything.

    python bench/bench_resources.py --manifest results/demo/ingested/c000/sim00/manifest.json \\
        --config config/demo.yaml --json bench/out/bench_resources.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from wlcnn.config import load_config
from wlcnn.maps.plan import estimate_memory_mb, map_job_memory_mb, map_job_runtime_min

#: The paper's simulations: 256³ particles in 500 Mpc/h, 1000 projections per snapshot, 51
#: snapshots (shells), 8 MPI ranks (config/config.yaml).
PAPER = {"n_particles": 256**3, "box_mpc_h": 500.0, "n_realisations": 1000, "n_snapshots": 51, "mpi_tasks": 8}
#: ru_maxrss is in KiB on Linux.
KIB_PER_MIB = 1024


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", type=Path, required=True, help="an ingested simulation's manifest.json")
    p.add_argument("--config", type=Path, default=Path("config/demo.yaml"), help="its run's configuration")
    p.add_argument("--base-dir", type=Path, default=Path(), help="directory the config's paths refer to")
    p.add_argument("--thin", type=int, default=8, help="the small size keeps every thin-th particle")
    p.add_argument("--realisations", type=int, nargs="+", default=[10, 100, 400], help="realisation counts")
    p.add_argument("--json", type=Path, default=None, help="write the measurements and fit here")
    return p.parse_args(argv)


def thinned_manifest(manifest: Path, *, thin: int, out_dir: Path) -> Path:
    """A copy of the simulation with every ``thin``-th particle (mass × thin), and its manifest."""
    info = json.loads(manifest.read_text())
    for snap in info["snapshots"]:
        src = Path(snap["path"])
        dst = out_dir / src.name
        with h5py.File(src, "r") as fin, h5py.File(dst, "w") as fout:
            for name, value in fin.attrs.items():
                fout.attrs[name] = value
            for name in ("pos", "ids"):
                if f"particles/{name}" in fin:
                    fout.create_dataset(f"particles/{name}", data=fin[f"particles/{name}"][::thin])
            n = int(fout["particles/pos"].shape[0])
            fout.attrs["n_particles"] = n
            if "particle_mass" in fin.attrs:
                fout.attrs["particle_mass"] = fin.attrs["particle_mass"] * thin
        snap.update(path=str(dst), n_particles=n)
        snap["output"] = {"path": str(dst)}
    path = out_dir / "manifest.json"
    path.write_text(json.dumps(info, indent=1))
    return path


def run_map_job(
    *, manifest: Path, config: dict[str, Any], base_dir: Path, n_realisations: int, out: Path
) -> dict[str, float]:
    """One map job: its CPU seconds (user + system), wall seconds and peak RSS in MiB."""
    info = json.loads(manifest.read_text())
    params = {
        "shells": {**config["shells"], "n_realisations": n_realisations, "mpi_tasks": 1},
        "lensing": config["lensing"],
        "seed": int(config["run"]["seed"]),
        "role": "test",
        "cosmology": info["cosmology"],
    }
    cmd = [sys.executable, "-m", "wlcnn.maps.mpi", "--no-mpi", "--params", json.dumps(params)]
    cmd += ["--manifest", str(manifest), "--out", str(out), "--base-dir", str(base_dir)]
    start = os.times()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = os.times().elapsed - start.elapsed
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"map job failed: {proc.stderr.read()[-2000:] if proc.stderr else ''}")
    return {
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "wall_s": wall,
        "peak_rss_mib": usage.ru_maxrss / KIB_PER_MIB,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = load_config(args.config, base_dir=args.base_dir)
    full = json.loads(args.manifest.read_text())
    n_snapshots = len(full["snapshots"])
    n_bins = len(config["lensing"]["nz_files"])
    n_pix = int(config["shells"]["n_pix"])
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_resources_") as tmp:
        work = Path(tmp)
        (work / "thin").mkdir()
        manifests = {
            1: args.manifest,
            args.thin: thinned_manifest(args.manifest, thin=args.thin, out_dir=work / "thin"),
        }
        for manifest in manifests.values():
            n_particles = int(json.loads(manifest.read_text())["snapshots"][0]["n_particles"])
            for r in args.realisations:
                m = run_map_job(
                    manifest=manifest,
                    config=config,
                    base_dir=args.base_dir,
                    n_realisations=r,
                    out=work / "maps.h5",
                )
                model = estimate_memory_mb(
                    n_particles=n_particles,
                    n_realisations=r,
                    n_shells=n_snapshots,
                    n_bins=n_bins,
                    n_pix=n_pix,
                )
                rows.append({"n_particles": n_particles, "n_realisations": r, **m, "model_mb": model})
                print(f"N={n_particles} R={r}: {m}", file=sys.stderr, flush=True)
    design = np.array(
        [
            [
                1.0,
                n_snapshots * row["n_particles"],
                n_snapshots * row["n_realisations"],
                n_snapshots * row["n_realisations"] * row["n_particles"],
            ]
            for row in rows
        ]
    )
    cpu = np.array([row["cpu_s"] for row in rows])
    coefficients, *_ = np.linalg.lstsq(design, cpu, rcond=None)
    t0, a, c, d = coefficients
    fitted = design @ coefficients
    target = PAPER
    shells = {
        **config["shells"],
        "n_realisations": target["n_realisations"],
        "mpi_tasks": target["mpi_tasks"],
    }
    job = {"source": "snapshots", "n_particles": target["n_particles"], "n_shells": target["n_snapshots"]}
    paper_runtime = map_job_runtime_min(shells, box_mpc_h=target["box_mpc_h"], **job)
    paper_mem = map_job_memory_mb(shells, n_bins=n_bins, **job)
    result = {
        "measurements": rows,
        "n_snapshots": n_snapshots,
        "fit": {
            "t0_s": t0,
            "a_s_per_particle_snapshot": a,
            "c_s_per_shell_realisation": c,
            "d_s_per_particle_shell_realisation": d,
        },
        "fit_relative_residuals": ((fitted - cpu) / cpu).tolist(),
        "target": target,
        "target_runtime_min": paper_runtime,
        "target_memory_mb": paper_mem,
    }
    print("| particles | realisations | CPU s | fit CPU s | wall s | peak RSS MiB | model MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for row, fit in zip(rows, fitted, strict=True):
        print(
            f"| {row['n_particles']} | {row['n_realisations']} | {row['cpu_s']:.1f} | {fit:.1f} "
            f"| {row['wall_s']:.1f} | {row['peak_rss_mib']:.0f} | {row['model_mb']} |"
        )
    box = float(json.loads(args.manifest.read_text())["box"])
    print(
        f"\nfit: t0 = {t0:.2f} s, a = {a:.3e} s, c = {c:.3e} s, d = {d:.3e} s "
        f"(d x box^3 = {d * box**3:.3e} s)"
    )
    print(f"paper-scale job {target}: runtime {paper_runtime} min, memory {paper_mem} MB (workflow request)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
