"""Loading and validating the pipeline configuration.

The whole configuration is checked against ``workflow/schemas/config.schema.yaml`` (shipped in
the package as ``wlcnn/data/config.schema.yaml``) *before anything runs*. Every problem is
reported at once, each with its key path and the allowed values, so that a misspelt key or an
out-of-range number never passes silently.

Examples
--------
>>> from wlcnn.config import output_redshifts
>>> z = output_redshifts({"z_max": 3.45, "z_switch": 1.55, "dz_high": 0.1, "dz_low": 0.05})
>>> len(z), float(z[0]), float(z[19]), float(z[20]), float(z[-1])
(51, 3.45, 1.55, 1.5, 0.0)
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
import string
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import yaml

from wlcnn.grid import GridError, read_grid, simulations
from wlcnn.inference.map_statistics import map_statistics_config_problems

__all__ = [
    "ConfigError",
    "RAY_TRACED_SUFFIX",
    "box_size_mpc_h",
    "fixed_parameters",
    "load_config",
    "load_schema",
    "output_redshifts",
    "validate_config",
]

#: Name of a ray-traced mock observation: the grid mock's name (``<cosmology>_<simulation>``) + this.
RAY_TRACED_SUFFIX = "_rt"
#: Snapshot redshifts are rounded to this many decimals (the spacing rule works in steps of 0.05).
_REDSHIFT_DECIMALS = 10


class ConfigError(ValueError):
    """The configuration is invalid; ``problems`` lists every problem found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid configuration {source} ({len(problems)} problem(s)):\n{lines}")


@cache
def load_schema() -> dict[str, Any]:
    """Return the configuration JSON schema (a dict)."""
    text = resources.files("wlcnn").joinpath("data/config.schema.yaml").read_text()
    return yaml.safe_load(text)


def _key_path(path: Any) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else str(p) for p in path]
    return ".".join(parts).replace(".[", "[") or "<top level>"


def _subschema(schema: Mapping[str, Any], path: Any) -> Mapping[str, Any]:
    """Follow ``properties`` (and simple ``$ref``) along a key path, for the allowed-key lists."""
    node: Mapping[str, Any] = schema
    root = schema
    for key in path:
        if "$ref" in node:
            node = root["$defs"][node["$ref"].split("/")[-1]]
        node = node.get("items", {}) if isinstance(key, int) else node.get("properties", {}).get(key, {})
    return node


def _describe(error: jsonschema.ValidationError, schema: Mapping[str, Any]) -> list[str]:
    where = _key_path(error.absolute_path)
    kind = error.validator
    if kind == "additionalProperties":
        allowed = sorted(_subschema(schema, error.absolute_path).get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        out = []
        for key in extra:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            out.append(f"{where}: unknown key '{key}'{hint}; allowed keys: {allowed}")
        return out
    if kind == "required":
        return [f"{where}: {error.message}"]
    if kind == "enum":
        return [f"{where}: {error.instance!r} is not allowed; allowed values: {error.validator_value}"]
    if kind == "type":
        return [
            (
                f"{where}: expected {error.validator_value}, found {type(error.instance).__name__} "
                f"{error.instance!r}"
            )
        ]
    if kind in {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}:
        bound = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[kind]
        return [f"{where}: {error.instance!r} out of range; allowed: {bound} {error.validator_value}"]
    if kind in {"not", "pattern"} and "description" in error.schema:
        # Path checks (no shell metacharacters): say what a path may hold and which characters
        # of the value are not allowed, instead of the raw regular expression.
        found = f"found {error.instance!r}"
        if kind == "not" and isinstance(error.instance, str):
            bad = sorted(set(re.findall(error.validator_value["pattern"], error.instance)))
            found += f" (contains {', '.join(repr(c) for c in bad)})"
        return [f"{where}: expected {error.schema['description']}; {found}"]
    if kind == "oneOf" and error.context:
        # The branch whose type the value has says more than "is not of type" of the others.
        same_type = [e for e in error.context if e.validator != "type"]
        best = jsonschema.exceptions.best_match(same_type or error.context)
        if best.validator in {"not", "pattern"}:
            return _describe(best, schema)
        return [f"{where}: does not match any allowed form ({best.message})"]
    return [f"{where}: {error.message}"]


def _lightcone_problems(cfg: Mapping[str, Any], source: str) -> list[str]:
    """What a PkdGrav3 light-cone source (``shells.source: lightcone_*``) needs."""
    problems: list[str] = []
    shells, sims = cfg["shells"], cfg["simulations"]
    if shells.get("mode", "pencil_beam") != "healpix":
        problems.append(
            f"shells.source: {source!r} requires shells.mode 'healpix' (a light cone is the sky of one "
            f"observer, cut into patches at the patch centres), found {shells.get('mode', 'pencil_beam')!r}"
        )
    if sims["code"] != "pkdgrav3":
        problems.append(
            f"shells.source: {source!r} reads PkdGrav3 light-cone files and requires "
            f"simulations.code 'pkdgrav3', found {sims['code']!r}"
        )
    problems.extend(
        f"simulations.{key}: required when shells.source is {source!r}"
        for key in ("directory", "lightcone_pattern")
        if key not in sims
    )
    if shells.get("n_realisations", 1) != 1:
        problems.append(
            f"shells.n_realisations: must be 1 when shells.source is {source!r} (one light cone is one sky: "
            f"12 patch_nside^2 patches; raise shells.patch_nside for more), found {shells['n_realisations']}"
        )
    return problems


def _tomographic_bin_problems(cfg: Mapping[str, Any]) -> list[str]:
    """Per-bin lists whose length must match the tomographic bins of ``survey.zb_edges``."""
    survey = cfg.get("survey", {})
    if "zb_edges" not in survey:
        return []
    n_bins = len(survey["zb_edges"]) - 1
    problems = [
        f"survey.{key}: expected {n_bins} values (one per tomographic bin of survey.zb_edges), "
        f"found {len(survey[key])}"
        for key in ("multiplicative_bias", "additive_bias")
        if key in survey and len(survey[key]) != n_bins
    ]
    nz = cfg.get("lensing", {}).get("nz_files")
    if nz is not None and len(nz) != n_bins:
        problems.append(f"lensing.nz_files: expected {n_bins} files (one per bin), found {len(nz)}")
    return problems


def _semantic_problems(cfg: Mapping[str, Any], *, base_dir: Path) -> list[str]:
    """Checks a JSON schema cannot express (orderings, lengths that must agree, files)."""
    problems: list[str] = []
    prior = cfg["cosmology"]["prior"]
    for name, (lo, hi) in prior.items():
        if not lo < hi:
            problems.append(f"cosmology.prior.{name}: expected [low, high] with low < high, found {[lo, hi]}")
    sampler = cfg.get("inference", {}).get("sampler", {})
    if "max_steps" in sampler and "n_steps" in sampler and sampler["max_steps"] < sampler["n_steps"]:
        problems.append(
            "inference.sampler.max_steps: expected at least inference.sampler.n_steps "
            f"({sampler['n_steps']}), found {sampler['max_steps']}"
        )
    sims = cfg["simulations"]
    z_out = sims["output_redshifts"]
    # Checks below that compute the snapshot redshifts run only on a usable list: the problem is
    # reported once, never as a traceback of the code that trips over it.
    z_problems = _output_redshift_problems(z_out)
    problems.extend(z_problems)
    problems.extend(_placeholder_problems(cfg))
    source = cfg.get("shells", {}).get("source", "snapshots")
    if source != "snapshots":
        problems.extend(_lightcone_problems(cfg, source))
    elif sims["code"] != "mock_pm":
        problems.extend(
            f"simulations.{key}: required when simulations.code is {sims['code']!r}"
            for key in ("directory", "snapshot_pattern")
            if key not in sims
        )
    if sims["code"] == "mock_pm" and "mock_pm" not in sims:
        problems.append("simulations.mock_pm: required when simulations.code is 'mock_pm'")
    if not z_problems and (z0 := sims["z_initial"]) <= float(np.max(output_redshifts(z_out))):
        problems.append(f"simulations.z_initial: {z0} must exceed the highest output redshift")
    problems.extend(_tomographic_bin_problems(cfg))
    if "survey" in cfg:
        from wlcnn.survey import survey_config_problems  # lazy: scipy; keeps config import light

        problems.extend(survey_config_problems(cfg))
    if "inference" in cfg:
        from wlcnn.inference.eb_null import (  # lazy: scipy; keeps config import light
            eb_null_config_problems,
        )
        from wlcnn.inference.posterior_estimator import (  # lazy: numba, scipy; keeps config import light
            posterior_estimator_config_problems,
        )

        problems.extend(map_statistics_config_problems(cfg))
        problems.extend(posterior_estimator_config_problems(cfg))
        problems.extend(eb_null_config_problems(cfg))
    if "shapes" in cfg:
        from wlcnn.shapes.constraints_comparison import (  # lazy: only runs with a shapes block pay for it
            shape_constraints_config_problems,
        )

        problems.extend(shape_constraints_config_problems(cfg))
    grid_path = base_dir / cfg["cosmology"]["grid"]
    if missing := _missing_file("cosmology.grid", grid_path):
        problems.append(missing)
    else:
        try:
            grid = read_grid(grid_path, prior=prior)
        except GridError as exc:
            problems.append(f"cosmology.grid: {exc}")
        else:
            if source == "snapshots" and grid and not z_problems:
                problems.extend(_shell_thickness_problems(cfg, grid))
            problems.extend(_mock_problems(cfg, grid))
            if "statistics" in cfg:
                from wlcnn.statistics.compare import (  # lazy: numba, scipy; keeps config import light
                    compare_config_problems,
                )

                names: dict[str, list[str]] = {c.id: [] for c in grid}
                for sim in simulations(grid):
                    names[sim.cosmology.id].append(sim.name)
                problems.extend(compare_config_problems(cfg, simulation_names=names))
            if "emulator" in cfg:
                from wlcnn.emulator.settings import (  # lazy: keeps config import light
                    emulator_config_problems,
                )

                trained = [c.id for c in grid if c.n_sims.get("train") and c.n_sims.get("test")]
                problems.extend(emulator_config_problems(cfg, grid_ids=trained))
    return problems


def _mock_problems(cfg: Mapping[str, Any], grid: Any) -> list[str]:
    """Mock declarations (issue 17) must name the grid's mock cosmologies and simulations.

    ``cosmology.mock_overrides`` may change the fixed parameters of cosmologies that have only
    ``mock`` simulations (never of training or test ones: the emulator assumes one fixed
    cosmology); ``survey.mock.ray_traced`` names grid mock simulations, whose shells must be kept.
    """
    grid_path = cfg["cosmology"]["grid"]
    mock_only = sorted(c.id for c in grid if set(c.n_sims) == {"mock"})
    problems = [
        f"cosmology.mock_overrides.{cid}: expected a cosmology of {grid_path} with only "
        f"'mock' simulations (one of {mock_only}), found {cid!r}"
        for cid in cfg["cosmology"].get("mock_overrides", {})
        if cid not in mock_only
    ]
    traced = cfg.get("survey", {}).get("mock", {}).get("ray_traced", [])
    mock_names = [f"{s.cosmology.id}_{s.name}" for s in simulations(grid, roles=["mock"])]
    problems.extend(
        f"survey.mock.ray_traced: expected mock simulations of {grid_path} (one of {mock_names}), "
        f"found {name!r}"
        for name in traced
        if name not in mock_names
    )
    # issue 17: baryonified mocks name grid mock simulations and strengths of baryons.strengths
    baryonified = cfg.get("survey", {}).get("mock", {}).get("baryonified", {})
    strengths = sorted(cfg.get("baryons", {}).get("strengths", {}))
    for name, wanted in baryonified.items():
        if name not in mock_names:
            problems.append(
                f"survey.mock.baryonified: expected mock simulations of {grid_path} (one of {mock_names}), "
                f"found {name!r}"
            )
        problems.extend(
            f"survey.mock.baryonified.{name}: expected strengths of baryons.strengths (one of {strengths}), "
            f"found {strength!r}"
            for strength in wanted
            if strength not in strengths
        )
    keep = cfg.get("shells", {}).get("keep_shells", [])
    if traced and "mock" not in keep:
        problems.append(
            f"shells.keep_shells: expected 'mock' among the roles (survey.mock.ray_traced traces the "
            f"mock simulations' shells), found {keep}"
        )
    return problems


def fixed_parameters(cfg: Mapping[str, Any], cosmology_id: str) -> dict[str, float]:
    """``cosmology.fixed`` with a mock cosmology's ``cosmology.mock_overrides`` applied (h, Ωb, n_s).

    Parameters
    ----------
    cfg
        The validated configuration.
    cosmology_id
        A grid cosmology id.

    Returns
    -------
    dict
        ``omega_b``, ``h``, ``n_s`` of that cosmology's simulations.
    """
    cosmology = cfg["cosmology"]
    return {**cosmology["fixed"], **cosmology.get("mock_overrides", {}).get(cosmology_id, {})}


def _output_redshift_problems(z_out: Mapping[str, float] | list[float]) -> list[str]:
    """What makes ``simulations.output_redshifts`` unusable (the schema has checked the types)."""
    key = "simulations.output_redshifts"
    values = list(z_out.values()) if isinstance(z_out, Mapping) else list(z_out)
    if not all(math.isfinite(v) for v in values):
        return [f"{key}: expected finite redshifts, found {z_out}"]
    if isinstance(z_out, Mapping):
        if z_out["z_switch"] > z_out["z_max"]:
            return [
                (
                    f"{key}: expected z_switch <= z_max, found z_switch = {z_out['z_switch']} > "
                    f"z_max = {z_out['z_max']}"
                )
            ]
        return []
    if any(b >= a for a, b in itertools.pairwise(z_out)):
        return [f"{key}: expected strictly decreasing redshifts, found {z_out}"]
    return []


#: Placeholders the code fills into each path pattern (``str.format`` keywords).
_PATTERN_FIELDS = {
    "simulations.snapshot_pattern": {"cosmology", "simulation", "snapshot"},
    "simulations.lightcone_pattern": {"cosmology", "simulation"},
    "simulations.lightcone_steps_pattern": {"cosmology", "simulation"},
    "lensing.nz_bootstrap_pattern": {"bin", "realisation"},
}


def _placeholder_problems(cfg: Mapping[str, Any]) -> list[str]:
    """Path patterns may only name the placeholders the code fills in (else a KeyError later)."""
    problems: list[str] = []
    for key, allowed in _PATTERN_FIELDS.items():
        block, name = key.split(".")
        pattern = cfg.get(block, {}).get(name)
        if pattern is None:
            continue
        # The schema has checked the brace syntax, so the pattern parses.
        used = {field for _, field, _, _ in string.Formatter().parse(pattern) if field is not None}
        if unknown := sorted(used - allowed):
            problems.append(
                f"{key}: expected placeholders among {sorted(allowed)}, found {unknown} in {pattern!r}"
            )
    return problems


def _missing_file(key: str, path: Path) -> str | None:
    """The problem with an input file the configuration names, or None if it is a file."""
    if path.is_file():
        return None
    if path.is_dir():
        return f"{key}: expected a file, found a directory: {path}"
    return f"{key}: expected an existing file, {path} does not exist"


def _missing_file_problems(cfg: Mapping[str, Any], *, base_dir: Path) -> list[str]:
    """Input files the configuration names that are not there (n(z) tables, survey catalogue).

    The bootstrap n(z) files (``lensing.nz_bootstrap_pattern``) are not required: no workflow
    stage reads them yet, and a paper-scale run has thousands.
    """
    problems: list[str] = []
    lensing = cfg.get("lensing", {})
    nz_files = lensing.get("nz_files", [])
    for i, path in enumerate(nz_files):
        if missing := _missing_file(f"lensing.nz_files[{i}]", base_dir / path):
            problems.append(missing)
    survey = cfg.get("survey", {})
    # With survey.mock the workflow writes (and reads) its own mock catalogue instead.
    if "catalogue" in survey and "mock" not in survey:
        catalogue = survey["catalogue"]
        keys_paths = (
            [("survey.catalogue", catalogue)]
            if isinstance(catalogue, str)
            else [(f"survey.catalogue[{i}]", p) for i, p in enumerate(catalogue)]
        )
        for key, path in keys_paths:
            if missing := _missing_file(key, base_dir / path):
                problems.append(missing)
    return problems


def _shell_thickness_problems(cfg: Mapping[str, Any], grid: Any) -> list[str]:
    """Shells cut from snapshots through periodic replicas must be thinner than the box.

    Checked for the grid's lowest Ωm, whose distances, and so shells, are the largest.
    """
    from wlcnn.cosmology import simulation_cosmology  # lazy: pyccl is slow to import
    from wlcnn.maps.shells import (  # lazy: pyccl is slow to import
        check_shell_thickness,
        shells_from_redshifts,
    )

    sims = cfg["simulations"]
    widest = min(grid, key=lambda c: c.omega_m)
    fixed = cfg["cosmology"]["fixed"]
    cosmo = simulation_cosmology({"omega_m": widest.omega_m, "sigma8": widest.sigma8, **fixed})
    shells = shells_from_redshifts(
        output_redshifts(sims["output_redshifts"]),
        cosmo=cosmo,
        z_max=cfg.get("lensing", {}).get("z_source_max"),
    )
    try:
        check_shell_thickness(
            shells,
            box=box_size_mpc_h(sims, h=fixed["h"]),
            source=f"simulations.output_redshifts / box_size (cosmology {widest.id})",
        )
    except ValueError as exc:
        return [str(exc)]
    return []


def validate_config(
    cfg: Any, *, source: str = "<config>", base_dir: str | Path = ".", check_files: bool = False
) -> None:
    """Validate a configuration mapping; raise :class:`ConfigError` listing every problem.

    Parameters
    ----------
    cfg
        The parsed configuration.
    source
        Name used in the error message (the YAML file).
    base_dir
        Directory relative to which file paths in the configuration are resolved.
    check_files
        Also require the input files the configuration names (n(z) tables, survey catalogue
        unless ``survey.mock``) to exist; the grid table is always read.
        ``wlcnn config`` and the workflow check them; the library default does not, so that
        a template such as ``config/config.yaml`` can be read before its data are in place.
    """
    schema = load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    problems: list[str] = []
    for error in sorted(validator.iter_errors(cfg), key=lambda e: list(map(str, e.absolute_path))):
        problems.extend(_describe(error, schema))
    if not problems:
        problems = _semantic_problems(cfg, base_dir=Path(base_dir))
        if check_files:
            problems.extend(_missing_file_problems(cfg, base_dir=Path(base_dir)))
    if problems:
        raise ConfigError(source, problems)


def load_config(path: str | Path, *, base_dir: str | Path = ".", check_files: bool = False) -> dict[str, Any]:
    """Read a YAML configuration file and validate it (see :func:`validate_config`)."""
    path = Path(path)
    try:
        cfg = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [f"not valid YAML: {exc}"]) from exc
    validate_config(cfg, source=str(path), base_dir=base_dir, check_files=check_files)
    return cfg


def output_redshifts(spec: Mapping[str, float] | list[float]) -> np.ndarray:
    """Requested snapshot redshifts, decreasing.

    Either an explicit list, or the paper's rule: steps of ``dz_high`` from ``z_max`` down to
    ``z_switch`` (inclusive), then steps of ``dz_low`` down to 0 (inclusive).
    """
    if not isinstance(spec, Mapping):
        return np.asarray(spec, dtype=float)
    z_max, z_switch = spec["z_max"], spec["z_switch"]
    n_high = int(np.floor((z_max - z_switch) / spec["dz_high"] + 1e-9)) + 1
    high = z_max - spec["dz_high"] * np.arange(n_high)
    n_low = int(np.floor(high[-1] / spec["dz_low"] + 1e-9))
    low = high[-1] - spec["dz_low"] * np.arange(1, n_low + 1)
    z = np.round(np.concatenate([high, low]), _REDSHIFT_DECIMALS)
    return np.where(np.abs(z) < 10.0**-_REDSHIFT_DECIMALS, 0.0, z)


def box_size_mpc_h(sims: Mapping[str, Any], *, h: float) -> float:
    """Box side in Mpc/h from ``simulations.box_size`` and ``box_unit``."""
    size = float(sims["box_size"])
    return size * h if sims["box_unit"] == "Mpc" else size
