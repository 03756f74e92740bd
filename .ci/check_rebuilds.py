"""Single-stage rebuilds (run after the demo): an edit reruns exactly the affected stages.

1. A likelihood setting (inference.sampler.n_steps) changes: only the likelihood rules rerun.
2. An n(z) file changes: the maps and everything after them rerun; ingestion does not.
3. A Fig. 4 validation setting changes: only the validation reruns, no map or survey.
4. A new list of snapshot redshifts: the simulations, their ingestion and everything after rerun.
Each case is a Snakemake dry run on the finished demo; nothing is modified for good.
"""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def rerun_jobs(*configfiles: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", "--configfile", *configfiles],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout
    return {m[0] for m in re.findall(r"^(\w+)\s+(\d+)$", out, re.M)} - {"total", "job"}


def main() -> int:
    ok = True
    baseline = rerun_jobs("config/demo.yaml")
    if baseline - {"all"}:
        print(f"demo not complete: would run {sorted(baseline)}", file=sys.stderr)
        return 1
    cfg = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        yaml.safe_dump({"inference": {**cfg["inference"], "sampler": {**cfg["inference"]["sampler"],
                                                                       "n_steps": 2000}}}, fh)
    jobs = rerun_jobs("config/demo.yaml", fh.name)
    os.unlink(fh.name)
    # the likelihood stage: the survey's analyses, the systematics mocks', and their plots
    allowed = {"constrain", "mock_constrain", "compare_constraints", "robustness_plot", "all"}
    print(f"likelihood setting changed -> reruns {sorted(jobs)}")
    ok &= jobs <= allowed and "constrain" in jobs
    nz = REPO / cfg["lensing"]["nz_files"][0]
    stat, original = nz.stat(), nz.read_bytes()
    try:
        # A new n(z) file (Snakemake compares the content of small inputs, not only their mtime).
        nz.write_bytes(original + b"# a new n(z) estimate\n")
        jobs = rerun_jobs("config/demo.yaml")
    finally:
        nz.write_bytes(original)
        os.utime(nz, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    print(f"n(z) file changed -> reruns {sorted(jobs)}")
    ok &= "simulation_maps" in jobs and "constrain" in jobs
    ok &= not jobs & {"mock_simulation", "ingest_simulation"}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        yaml.safe_dump({"lensing": {**cfg["lensing"], "validation_tolerance": 0.2}}, fh)
    jobs = rerun_jobs("config/demo.yaml", fh.name)
    os.unlink(fh.name)
    print(f"validation setting changed -> reruns {sorted(jobs)}")
    ok &= jobs == {"maps_power_spectrum_validation", "all"}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        yaml.safe_dump({"simulations": {**cfg["simulations"], "output_redshifts": {
            **cfg["simulations"]["output_redshifts"], "dz_low": 0.05}}}, fh)
    jobs = rerun_jobs("config/demo.yaml", fh.name)
    os.unlink(fh.name)
    print(f"snapshot redshifts changed -> reruns {sorted(jobs)}")
    ok &= {"mock_simulation", "ingest_simulation", "simulation_maps", "constrain"} <= jobs
    print("single-stage rebuilds: " + ("ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
