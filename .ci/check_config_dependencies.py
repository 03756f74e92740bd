"""Property test (run after the demo): a configuration edit reruns exactly the rules that depend on it.

For every leaf of ``config/demo.yaml`` (each element of a list too) a valid perturbation is made
(numbers: a small change; booleans: the other value; strings: another value the schema allows, or a new name)
and a Snakemake dry run on the finished demo (default ``--rerun-triggers``) says which rules
would rerun. That set must equal the rules declared to depend on the key in
``workflow/schemas/dependencies.yaml`` (the map the rules' ``config`` params are cut from),
plus everything downstream of them in the demo's rule graph. Leaves with no valid perturbation
are skipped with a reason and listed. An edited n(z) file (content, not name) must rerun the
rules that read n(z) files, and their descendants, but no ingestion.

Dry runs use Snakemake's Python API in worker processes (one interpreter per core, imports paid
once). Nothing is modified for good. Exit code 0: every checked key agrees; 1: a mismatch.

    python .ci/check_config_dependencies.py [--jobs N] [--only PREFIX]
"""

from __future__ import annotations

import argparse
import copy
import fnmatch
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO / "config" / "demo.yaml"
DEPENDENCIES = REPO / "workflow" / "schemas" / "dependencies.yaml"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
#: Relative change of a float leaf (small, so that range checks still pass).
FLOAT_STEP = 0.01
#: Change of a float leaf that is zero (a relative step would leave it unchanged).
ZERO_STEP = 0.01
#: Rule with no outputs that only names the targets (reruns whenever anything does).
TARGET_RULE = "all"
#: Appended to a free-form name (run name, output directory, labels) to make another valid one.
NAME_SUFFIX = "_edited"
#: Catalogue column names: only the columns the catalogue file has are valid.
CATALOGUE_COLUMNS = "survey.columns."
#: Members of a combination: only the run's statistics are valid.
COMBINATION_MEMBERS = "inference.combinations.members"
#: Matches any rule in the ``structure`` section of the dependency map.
ANY_RULE = "*"

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Outcome:
    """What a dry run with one perturbed leaf showed."""

    path: str
    expected: frozenset[str]
    rerun: frozenset[str] | None
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return self.skipped is not None or self.rerun == self.expected


def leaves(node: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every scalar of a configuration, with its path (list indices included)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from leaves(value, (*path, key))
    elif isinstance(node, list):
        if not node:
            yield path, node
        for i, value in enumerate(node):
            yield from leaves(value, (*path, i))
    else:
        yield path, node


def dotted(path: Path_) -> str:
    """The key path without list indices, as the dependency map names it."""
    return ".".join(str(p) for p in path if not isinstance(p, int))


def shown(path: Path_) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def schema_node(schema: Mapping[str, Any], path: Path_) -> Mapping[str, Any]:
    """The schema entry describing ``path`` (empty where the schema does not say)."""
    node: Mapping[str, Any] = schema
    for p in path:
        if isinstance(p, int):
            node = node.get("items", {})
        else:
            props = node.get("properties", {})
            node = props.get(p, node.get("additionalProperties") or {})
        if not isinstance(node, Mapping):
            return {}
    return node


def candidates(value: Any, schema: Mapping[str, Any], *, key: str) -> tuple[list[Any], str]:
    """Valid-looking new values for a leaf, or the reason why there are none."""
    if isinstance(value, bool):
        return [not value], ""
    if "enum" in schema:
        others = [v for v in schema["enum"] if v != value]
        return others[:2], "" if others else "the schema allows no other value"
    if isinstance(value, int):
        return [value + 1, value - 1], ""
    if isinstance(value, float):
        if value == 0:
            return [ZERO_STEP, -ZERO_STEP], ""
        return [value * (1 + FLOAT_STEP), value * (1 - FLOAT_STEP)], ""
    if value is None:
        return [], "null (a default chosen at run time): no generic valid value"
    if isinstance(value, list):
        return [], "empty list: no element to perturb"
    if key.startswith(CATALOGUE_COLUMNS):
        return [], "names a column of the catalogue file: no other valid value"
    if key == COMBINATION_MEMBERS:
        return [], "names a statistic of the run (a network or power_spectrum): no other valid value"
    if "{" in value or (REPO / value).is_file():
        return [], "names a file or a file pattern: no generic valid alternative (n(z) content: see below)"
    return [f"{value}{NAME_SUFFIX}"], ""


def perturbed(cfg: Mapping[str, Any], path: Path_, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(dict(cfg))
    node: Any = out
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return out


def is_valid(cfg: Mapping[str, Any]) -> str:
    """Empty if the configuration passes the workflow's own validation, else the first problem."""
    from wlcnn.config import validate_config

    try:
        validate_config(dict(cfg), source="<perturbed>", base_dir=REPO)
    except ValueError as exc:
        return str(exc).splitlines()[-1].strip()
    return ""


# --- dry runs (in worker processes) ---------------------------------------------------------


def dry_run(configfile: str) -> tuple[frozenset[str], dict[str, set[str]]]:
    """Rules whose jobs would run (default rerun triggers) and the rule graph (rule -> its inputs' rules)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.enums import Quietness
    from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL, Quietness.RULES, Quietness.PROGRESS})) as api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=[Path(configfile)]),
            snakefile=REPO / "Snakefile",
            workdir=REPO,
        )
        workflow_api.dag(dag_settings=DAGSettings())
        # Snakemake's API has no "which jobs would run" call; a dry run prints them. The DAG
        # that --dry-run builds is reached as its printing commands reach it.
        workflow = workflow_api._workflow
        workflow._prepare_dag(forceall=False, ignore_incomplete=False, lock_warn_only=True, nolock=True)
        workflow._build_dag()
        dag = workflow.dag
        rerun = frozenset(job.rule.name for job in dag.needrun_jobs())
        graph: dict[str, set[str]] = {}
        for job in dag.jobs:
            graph.setdefault(job.rule.name, set()).update(dep.rule.name for dep in dag.dependencies[job])
    return rerun, graph


def _worker_dry_run(configfile: str) -> tuple[frozenset[str] | None, str]:
    try:
        return dry_run(configfile)[0], ""
    except Exception as exc:  # noqa: BLE001 - a perturbation Snakemake refuses is skipped, not fatal
        lines = [line for line in str(exc).splitlines() if line.strip()]
        return None, (lines[0] if lines else type(exc).__name__)


# --- expectations from the dependency map ---------------------------------------------------


def direct_rules(key: str, deps: Mapping[str, Any], rules: set[str]) -> set[str]:
    """Rules that read ``key`` through their params or whose files it names (the map, not the DAG)."""
    ancestors = [".".join(key.split(".")[: i + 1]) for i in range(key.count(".") + 1)]
    out = set()
    for rule, paths in deps["params"].items():
        keep = [p for p in paths if not p.startswith("~")]
        drop = [p[1:] for p in paths if p.startswith("~")]
        if any(key == p or key.startswith(p + ".") for p in keep) and not any(
            fnmatch.fnmatch(a, d) for a in ancestors for d in drop
        ):
            out.add(rule)
    for derived, base in deps.get("use_rule", {}).items():
        if base in out:
            out.add(derived)
    for prefix, named in deps.get("structure", {}).items():
        if (key == prefix or key.startswith(prefix + ".")) and isinstance(named, list):
            out |= rules if ANY_RULE in named else set(named)
    return out & rules


def exact_rules(key: str, deps: Mapping[str, Any], rules: set[str]) -> set[str]:
    """Rules a key reaches with no propagation (``structure`` entries with ``downstream: false``)."""
    out: set[str] = set()
    for prefix, named in deps.get("structure", {}).items():
        if (key == prefix or key.startswith(prefix + ".")) and isinstance(named, Mapping):
            out |= set(named["rules"])
    return out & rules


def expected_rules(key: str, deps: Mapping[str, Any], graph: Mapping[str, set[str]]) -> frozenset[str]:
    """What the dependency map says a change of ``key`` reruns."""
    rules = set(graph)
    exact = exact_rules(key, deps, rules)
    if exact:  # the key's effect is declared rule by rule (params reached per job, not per rule)
        return without_target(exact)
    return without_target(downstream(direct_rules(key, deps, rules), graph))


def downstream(start: set[str], graph: Mapping[str, set[str]]) -> set[str]:
    """``start`` and every rule that (transitively) consumes their outputs."""
    out, changed = set(start), True
    while changed:
        changed = False
        for rule, inputs in graph.items():
            if rule not in out and inputs & out:
                out.add(rule)
                changed = True
    return out


def without_target(rules: frozenset[str] | set[str]) -> frozenset[str]:
    return frozenset(rules) - {TARGET_RULE}


# --- the checks -----------------------------------------------------------------------------


def check_keys(
    cfg: dict[str, Any],
    deps: Mapping[str, Any],
    graph: Mapping[str, set[str]],
    *,
    jobs: int,
    only: str,
    tmp: Path,
) -> list[Outcome]:
    schema = yaml.safe_load(SCHEMA.read_text())
    outcomes: list[Outcome] = []
    pending: list[tuple[Path_, list[Path], frozenset[str]]] = []
    for path, value in leaves(cfg):
        key = dotted(path)
        if only and not shown(path).startswith(only):
            continue
        expected = expected_rules(key, deps, graph)
        values, reason = candidates(value, schema_node(schema, path), key=key)
        files, problems = [], []
        for i, new in enumerate(values):
            candidate = perturbed(cfg, path, new)
            problem = is_valid(candidate)
            if problem:
                problems.append(f"{new!r}: {problem}")
                continue
            f = tmp / f"{len(pending):04d}_{i}.yaml"
            f.write_text(yaml.safe_dump(candidate, sort_keys=False))
            files.append(f)
        if not files:
            outcomes.append(Outcome(shown(path), expected, None, reason or "; ".join(problems)))
            continue
        pending.append((path, files, expected))
    # First candidate of every key in parallel; a key whose first candidate Snakemake refuses
    # tries its second in a later round.
    # spawn: the parent has run Snakemake (threads, an event loop), which a fork would copy
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        round_ = 0
        while pending:
            results = list(pool.map(_worker_dry_run, [str(files[round_]) for _, files, _ in pending]))
            retry = []
            for (path, files, expected), (rerun, error) in zip(pending, results, strict=True):
                if rerun is not None:
                    outcomes.append(Outcome(shown(path), expected, without_target(rerun)))
                elif round_ + 1 < len(files):
                    retry.append((path, files, expected))
                else:
                    outcomes.append(Outcome(shown(path), expected, None, f"Snakemake refuses it: {error}"))
            pending, round_ = retry, round_ + 1
    return outcomes


def check_nz_file(cfg: Mapping[str, Any], deps: Mapping[str, Any], graph: Mapping[str, set[str]]) -> Outcome:
    """A new n(z) estimate in an existing file (same name) reruns what reads n(z) files."""
    nz = REPO / cfg["lensing"]["nz_files"][0]
    stat, original = nz.stat(), nz.read_bytes()
    expected = expected_rules("lensing.nz_files", deps, graph)
    try:
        # Snakemake compares the content of small inputs, not only their mtime
        nz.write_bytes(original + b"# a new n(z) estimate\n")
        rerun, _ = dry_run(str(DEMO_CONFIG))
    finally:
        nz.write_bytes(original)
        os.utime(nz, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return Outcome(f"content of {nz.relative_to(REPO)}", expected, without_target(rerun))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel dry runs")
    parser.add_argument("--only", default="", help="check only keys starting with this path")
    args = parser.parse_args(argv)
    started = time.monotonic()
    cfg = yaml.safe_load(DEMO_CONFIG.read_text())
    deps = yaml.safe_load(DEPENDENCIES.read_text())
    baseline, graph = dry_run(str(DEMO_CONFIG))
    if without_target(baseline):
        print(f"demo not complete: would run {sorted(baseline)}", file=sys.stderr)
        return 1
    unknown = (set(deps["params"]) | set(deps.get("use_rule", {}))) - set(graph)
    if unknown:
        print(f"note: rules of the map not in the demo's DAG: {sorted(unknown)}")
    with tempfile.TemporaryDirectory(prefix="wlcnn-config-deps-") as tmp:
        outcomes = check_keys(cfg, deps, graph, jobs=args.jobs, only=args.only, tmp=Path(tmp))
    if not args.only:
        outcomes.append(check_nz_file(cfg, deps, graph))
    checked = [o for o in outcomes if o.skipped is None]
    skipped = [o for o in outcomes if o.skipped is not None]
    for o in skipped:
        print(f"skipped {o.path}: {o.skipped}")
    bad = [o for o in checked if not o.ok]
    for o in bad:
        assert o.rerun is not None
        print(
            f"MISMATCH {o.path}: reruns {sorted(o.rerun)}; the dependency map says {sorted(o.expected)}"
            f" (extra: {sorted(o.rerun - o.expected)}, missing: {sorted(o.expected - o.rerun)})"
        )
    print(
        f"config dependencies: {len(checked)} keys checked, {len(skipped)} skipped, {len(bad)} mismatches "
        f"({time.monotonic() - started:.0f} s, {args.jobs} parallel dry runs)"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
