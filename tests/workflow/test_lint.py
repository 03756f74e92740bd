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


def test_every_rule_has_a_log_and_a_benchmark():
    # where the demo's time goes must be measurable: every job writes a log and a benchmark file;
    # a `use rule … with:` that moves the log (new wildcards) must move the benchmark too
    import re

    missing = []
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        lines = smk.read_text().splitlines()
        starts = [
            i for i, line in enumerate(lines) if re.match(r"\s*(rule \w+:|use rule .* with:)\s*$", line)
        ]
        for a, b in zip(starts, [*starts[1:], len(lines)], strict=False):
            head, block = lines[a].strip(), "\n".join(lines[a:b])
            has_log, has_bench = (
                re.search(r"^\s+log:", block, re.MULTILINE),
                re.search(r"^\s+benchmark:", block, re.MULTILINE),
            )
            if head.startswith("use rule"):
                if has_log and not has_bench:
                    missing.append(f"{smk.name}: {head} (log moved, benchmark not)")
            elif not (has_log and has_bench):
                missing.append(f"{smk.name}: {head}")
    # the checker sees rules at all (and the target rule `all` in the Snakefile is not among them)
    assert starts
    assert not missing, "rules without log: or benchmark:\n" + "\n".join(missing)
