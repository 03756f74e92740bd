"""No configuration value reaches a shell as code (issue 11, item 1).

Two lines of defence, each tested on its own:

* ``wlcnn config`` (and the workflow, which runs the same validation) refuses path settings that
  hold shell metacharacters or control characters, naming the file, the field, what a path may
  hold and what was found;
* with validation bypassed, the map rule's real command line (``MAPS_SHELL`` of
  workflow/rules/common.smk, formatted by a real Snakemake job) hands malicious values to the
  program verbatim: nothing runs. The same job with the quoting removed does run the injected
  command, so the test can fail.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from wlcnn.cli import main
from wlcnn.config import validate_config

REPO = Path(__file__).resolve().parents[2]
COMMON_SMK = REPO / "workflow" / "rules" / "common.smk"
#: An interpolation of a job's files or settings in a shell command without Snakemake's :q.
UNQUOTED = re.compile(r"\{(input|output|log|params|resources)[^}:]*\}")
JOB_TIMEOUT_S = 240
#: MPI ranks the fake launcher is given (any number: it only records its arguments).
TASKS = 2


@pytest.fixture(scope="module")
def demo() -> dict[str, Any]:
    return yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


def _files(root: Path) -> set[Path]:
    """Every file and directory under ``root``, hidden ones included."""
    return set(root.rglob("*"))


# ---- first line of defence: the configuration is refused -------------------------------------


def _set(cfg: dict[str, Any], key: str, value: Any) -> None:
    *blocks, last = key.split(".")
    node = cfg
    for block in blocks:
        node = node[block]
    node[last] = value


MARKER = "/tmp/wlcnn-injected-marker"  # noqa: S108 - a fixed path an injected command would create

BAD_PATHS = [
    ("run.output_dir", f"results/x$(touch {MARKER})y", "run.output_dir", "'$'"),
    ("run.output_dir", "results/demo\n", "run.output_dir", "'\\n'"),
    ("run.output_dir", "results/a\0b", "run.output_dir", "'\\x00'"),
    ("cosmology.grid", "config/grids/demo.csv; touch x", "cosmology.grid", "';'"),
    ("simulations.directory", "/data/`id`", "simulations.directory", "'`'"),
    (
        "simulations.snapshot_pattern",
        "{cosmology}/{simulation}/s_{snapshot:03d} && id",
        "snapshot_pattern",
        "'&'",
    ),
    ("simulations.lightcone_pattern", "{cosmology}/{simulation$(id)}/pkd", "lightcone_pattern", "'$'"),
    (
        "simulations.lightcone_steps_pattern",
        "{cosmology}/{not a placeholder}.log",
        "lightcone_steps_pattern",
        "{",
    ),
    ("lensing.nz_files", ["data/demo/nz/nz_bin1.txt", "nz_bin2.txt > /etc/x"], "lensing.nz_files[1]", "'>'"),
    ("lensing.nz_bootstrap_pattern", "nz/bin{bin}_{realisation:04d}.txt|sh", "nz_bootstrap_pattern", "'|'"),
    ("survey.catalogue", "cat.fits'; id; '", "survey.catalogue", '"\'"'),
    ("survey.catalogue", ["a.fits", "b(1).fits"], "survey.catalogue[1]", "'('"),
    ("inference.blinding_secret", "secret*.json", "inference.blinding_secret", "'*'"),
]


@pytest.mark.parametrize(("key", "value", "field", "offending"), BAD_PATHS, ids=lambda v: repr(v)[:40])
def test_config_with_shell_metacharacters_in_a_path_is_refused(
    demo, tmp_path, capsys, key, value, field, offending
) -> None:
    cfg = copy.deepcopy(demo)
    _set(cfg, key, value)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    before = _files(tmp_path)

    assert main(["config", str(path), "--base-dir", str(REPO)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wlcnn config: error: invalid configuration") and str(path) in err
    problem = next(line for line in err.splitlines() if field in line)
    assert "expected a path" in problem and "shell metacharacters" in problem  # what a path may hold
    assert "found" in problem and offending in problem  # and what it held
    assert "Traceback" not in err
    assert _files(tmp_path) == before  # nothing written, no hidden temporaries
    assert not Path(MARKER).exists()


def test_the_reported_injection_is_refused_by_the_real_command(demo, tmp_path) -> None:
    """The config of the report, through the installed entry point (exit code, one clear message)."""
    cfg = copy.deepcopy(demo)
    marker = tmp_path / "marker"
    cfg["run"]["output_dir"] = f"results/x$(touch {marker})y"
    path = tmp_path / "injected.yaml"
    path.write_text(yaml.safe_dump(cfg))
    done = subprocess.run(
        [sys.executable, "-m", "wlcnn.cli", "config", str(path), "--base-dir", str(REPO)],
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT_S,
    )
    assert done.returncode == 2, done.stderr
    assert f"invalid configuration {path}" in done.stderr
    assert "run.output_dir: expected a path without shell metacharacters" in done.stderr
    assert "Traceback" not in done.stderr
    assert not marker.exists() and not (REPO / "results" / f"x$(touch {marker})y").exists()


def test_paths_with_spaces_and_placeholders_are_valid(demo, tmp_path) -> None:
    cfg = copy.deepcopy(demo)
    cfg["run"]["output_dir"] = str(tmp_path / "my run" / "results")
    cfg["lensing"]["nz_bootstrap_pattern"] = "data/demo/nz/bootstrap/nz_bin{bin}_{realisation:04d}.txt"
    cfg["simulations"]["snapshot_pattern"] = "{cosmology}/{simulation}/snapshot {snapshot:03d}"
    validate_config(cfg, source="spaces.yaml", base_dir=REPO, check_files=True)


def test_no_unquoted_interpolation_in_any_shell_command() -> None:
    """The grep of the issue, in Python: every {input,output,log,params,resources} uses :q."""
    offenders = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted((REPO / "workflow" / "rules").glob("*.smk"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if not line.lstrip().startswith("#") and UNQUOTED.search(line)
    ]
    assert offenders == []


# ---- second line of defence: the real command line quotes what it is given -------------------


def _maps_shell(source: str, *, quoted: bool = True) -> str:
    """The map rule's command template (``MAPS_SHELL`` of common.smk) for a shells.source."""
    text = COMMON_SMK.read_text()
    match = re.search(r"^MAPS_SHELL = (\(.*?^\))", text, flags=re.MULTILINE | re.DOTALL)
    assert match, "MAPS_SHELL not found in common.smk"
    # the expression of our own common.smk; it names MAPS_SOURCE, which literal_eval cannot substitute
    shell = eval(match.group(1), {"__builtins__": {}}, {"MAPS_SOURCE": source})  # noqa: S307
    return shell if quoted else shell.replace(":q}", "}")


#: Stands in for mpiexec: records the arguments it was given (the command line after the shell).
FAKE_MPI = """\
#!{python}
import json, sys
args = sys.argv[1:]
with open(args[args.index("--out") + 1], "w") as fh:
    json.dump(args, fh)
with open(args[args.index("--log") + 1], "w") as fh:
    fh.write("ran\\n")
"""

SNAKEFILE = """\
MAPS_SHELL = {shell!r}

rule maps:
    input:
        **{{config["input_key"]: config["input"]}},
    output:
        config["out"],
    params:
        args=config["params"],
        base_dir=config["base_dir"],
    log:
        config["log"],
    resources:
        mpi=config["mpi"],
        tasks={tasks},
    shell:
        MAPS_SHELL
"""


def _run_map_job(
    root: Path, values: dict[str, str], *, source: str, quoted: bool = True
) -> subprocess.CompletedProcess:
    """Run the map rule's command in a real one-job Snakemake workflow under ``root``."""
    launcher = Path(values["mpi"])
    launcher.parent.mkdir(parents=True, exist_ok=True)
    launcher.write_text(FAKE_MPI.format(python=sys.executable))
    launcher.chmod(0o755)
    Path(values["input"]).parent.mkdir(parents=True, exist_ok=True)
    Path(values["input"]).write_text("{}\n")
    input_key = "manifest" if source == "snapshots" else "step_redshifts"
    (root / "config.yaml").write_text(yaml.safe_dump({**values, "input_key": input_key}))
    shell = _maps_shell(source, quoted=quoted)
    (root / "Snakefile").write_text(SNAKEFILE.format(shell=shell, tasks=TASKS))
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", "config.yaml"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT_S,
    )


def _malicious(root: Path, marker: Path) -> dict[str, str]:
    """A value for every interpolated field, each of which would run ``touch marker`` unquoted."""
    return {
        "input": str(root / f"in|touch {marker}|" / "manifest.json"),
        "out": str(root / f"out$(touch {marker})" / "maps.h5"),
        "log": str(root / f"logs`touch {marker}`" / "maps.log"),
        "params": json.dumps({"note": f"'; touch {marker}; echo '"}),
        "base_dir": f"{root}/base; touch {marker}",
        "mpi": str(root / "bin" / "mpi"),
    }


def _expected_argv(values: dict[str, str], *, source: str) -> list[str]:
    input_flag = "--manifest" if source == "snapshots" else "--step-redshifts"
    return [
        "-n", str(TASKS), "python", "-m", "wlcnn.maps.mpi", "--params", values["params"],
        input_flag, values["input"], "--out", values["out"], "--base-dir", values["base_dir"],
        "--log", values["log"],
    ]  # fmt: skip


@pytest.mark.parametrize("source", ["snapshots", "lightcone_healpix"])
def test_map_command_passes_malicious_values_verbatim(tmp_path, source) -> None:
    marker = tmp_path / "marker"
    values = _malicious(tmp_path, marker)
    done = _run_map_job(tmp_path, values, source=source)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not marker.exists(), "a configuration value was run by the shell"
    assert json.loads(Path(values["out"]).read_text()) == _expected_argv(values, source=source)
    assert Path(values["log"]).read_text() == "ran\n"


def test_without_quoting_the_same_job_runs_the_injected_command(tmp_path) -> None:
    """Control: the values above are real injections (the command without :q runs them)."""
    marker = tmp_path / "marker"
    _run_map_job(tmp_path, _malicious(tmp_path, marker), source="snapshots", quoted=False)
    assert marker.exists()


def test_map_command_works_with_spaces_in_every_path(tmp_path) -> None:
    root = tmp_path / "my project"
    values = {
        "input": str(root / "results dir" / "ingested" / "manifest.json"),
        "out": str(root / "results dir" / "maps" / "sim 0.h5"),
        "log": str(root / "results dir" / "logs" / "maps 0.log"),
        "params": json.dumps({"shells": {"n_pix": 128}, "note": "two  spaces"}),
        "base_dir": str(root / "base dir"),
        "mpi": str(root / "bin dir" / "fake mpiexec"),
    }
    root.mkdir()
    done = _run_map_job(root, values, source="snapshots")
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(Path(values["out"]).read_text()) == _expected_argv(values, source="snapshots")
