"""The workflow passes Snakemake's linter (every rule has log:, conda:, no hidden env vars...)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_snakemake_lint_is_clean():
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--configfile", "config/demo.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0 and "Lints for" not in out, out[-3000:]


def test_no_workflow_script_shadows_an_installed_module():
    # Snakemake runs a script with its directory first on sys.path: a script named like a module
    # (coverage.py) replaces that module for every library the job imports (numba imports coverage).
    import importlib.util

    # modules libraries import when present (numba: coverage), installed here or not
    optional = {"coverage"}
    scripts = sorted((REPO / "workflow" / "scripts").glob("*.py"))
    assert scripts
    shadowing = [p.name for p in scripts if p.stem in optional or importlib.util.find_spec(p.stem)]
    assert not shadowing, f"workflow scripts named like importable modules: {shadowing}"
    assert importlib.util.find_spec("statistics") is not None  # the check sees the standard library
