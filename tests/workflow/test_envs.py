"""Per-rule conda environments: they parse, pin what their rule imports, and agree with pyproject.

conda cannot run here, so the environments are checked as files: for every rule, the third-party
distributions that its script really loads (imported in a subprocess, read off ``sys.modules``)
must be pinned in the rule's ``conda:`` environment, at versions that satisfy pyproject.toml.
"""

import ast
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
# conda-forge package names that differ from the PyPI distribution names.
CONDA_NAME = {"tensorflow-cpu": "tensorflow", "pyyaml": "pyyaml", "mpi4py": "mpi4py"}
# Distributions that come with Python or with conda itself.
IGNORED = {"pip", "setuptools", "wheel", "wlcnn"}


def _rules() -> list[dict]:
    rules = []
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text()
        for block in re.split(r"\n\s*rule ", text)[1:]:
            name = block.split(":", 1)[0].strip()
            # conda: str(ENVS / "x.yaml"), or a lambda choosing among several env files
            conda = re.search(r"conda:\s*\n(.*?)\n\s*(?:script|shell|run):", block, re.DOTALL)
            envs = re.findall(r'"(\w+\.yaml)"', conda.group(1)) if conda else []
            script = re.search(r'script:\s*\n\s*"\.\./scripts/([^"]+)"', block)
            rules.append({"rule": name, "file": smk.name, "envs": envs, "script": script and script.group(1)})
    return rules


def _env(name: str) -> dict[str, str]:
    """{package: version} of an env file (every entry must be pinned)."""
    spec = yaml.safe_load((REPO / "envs" / name).read_text())
    pins = {}
    for dep in spec["dependencies"]:
        if isinstance(dep, dict):  # the pip: section installs wlcnn itself
            continue
        package, _, version = dep.partition("=")
        pins[package.lower()] = version
    return pins


def _script_distributions(script: str) -> set[str]:
    tree = ast.parse((REPO / "workflow" / "scripts" / script).read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    code = (
        "import importlib, json, sys\n"
        f"for m in {sorted(modules)!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted({k.split('.')[0] for k in sys.modules})))"
    )
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )
    dists = importlib.metadata.packages_distributions()
    out = set()
    for module in loaded:
        for dist in dists.get(module, []):
            out.add(dist.lower())
    return out - IGNORED


RULES = [r for r in _rules() if r["script"]]


def _declared() -> dict[str, Requirement]:
    """pyproject requirements (dependencies and extras) by conda package name."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        requirements += [Requirement(r) for r in extra if not r.startswith("wlcnn")]
    return {CONDA_NAME.get(r.name.lower(), r.name.lower()): r for r in requirements}


def test_every_rule_has_a_conda_env_that_exists():
    rules = _rules()
    assert rules, "no rules found"
    for rule in rules:
        if rule["rule"] == "all":
            continue
        assert rule["envs"], f"rule {rule['rule']} ({rule['file']}) has no conda: env"
        for env in rule["envs"]:
            assert (REPO / "envs" / env).is_file(), rule


@pytest.mark.parametrize("env", sorted(p.name for p in (REPO / "envs").glob("*.yaml")))
def test_env_parses_and_pins_everything(env):
    pins = _env(env)
    assert "python" in pins and pins["python"].startswith("3.1")
    unpinned = [p for p, v in pins.items() if not v and p != "pip"]
    assert not unpinned, f"{env}: unpinned {unpinned}"


@pytest.mark.parametrize("rule", RULES, ids=[r["rule"] for r in RULES])
def test_env_pins_what_the_rule_imports(rule):
    # Declared dependencies the script really loads; their own dependencies are conda's business.
    needed = {CONDA_NAME.get(d, d) for d in _script_distributions(rule["script"])} & set(_declared())
    for env in rule["envs"]:
        missing = sorted(needed - set(_env(env)))
        assert not missing, f"envs/{env} (rule {rule['rule']}) lacks {missing}"


def test_env_versions_satisfy_pyproject():
    by_name = _declared()
    for env in (REPO / "envs").glob("*.yaml"):
        for package, version in _env(env.name).items():
            req = by_name.get(package)
            if req is None or not version:
                continue
            # a conda pin "2.4" means 2.4.*: its lowest release must satisfy pyproject's range
            assert req.specifier.contains(Version(version), prereleases=True), (
                f"envs/{env.name}: {package}={version} outside pyproject's {req}"
            )


def test_env_files_install_wlcnn_from_the_workflow_directory(tmp_path, monkeypatch):
    # Snakemake copies an env file to .snakemake/conda/<hash>.yaml before `conda env create`, and
    # conda hands the pip: entries to pip as a requirements file next to that copy, so a relative
    # path would resolve inside .snakemake/. The entries use ${WLCNN_ROOT}, which pip expands and
    # which the workflow exports as its own directory.
    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    assert "WLCNN_ROOT=str(Path(workflow.basedir).resolve())" in common
    monkeypatch.setenv("WLCNN_ROOT", str(REPO))
    monkeypatch.chdir(tmp_path)  # anywhere else: the copy's directory
    for env in sorted((REPO / "envs").glob("*.yaml")):
        pip = [d for d in yaml.safe_load(env.read_text())["dependencies"] if isinstance(d, dict)]
        (line,) = pip[0]["pip"]
        assert line.split()[:2] == ["--no-deps", "-e"], env.name
        target = Path(os.path.expandvars(line.split()[2]))
        assert target.is_absolute() and (target / "pyproject.toml").is_file(), (env.name, line)
        assert 'name = "wlcnn"' in (target / "pyproject.toml").read_text()
