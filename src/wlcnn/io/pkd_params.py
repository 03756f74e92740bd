"""Helpers for PKDGRAV3 runs: parameter files, step -> redshift tables, per-step file sets.

PKDGRAV3 writes its light-cone outputs once per time step and per thread, as
``<achOutName>.<step:05d>.<kind>.<thread>`` (``kind`` is ``lcp`` for light-cone particles and
``hpb`` for HEALPix count maps). The files themselves store neither the step's redshift nor the
box size nor the cosmology: those come from the run's parameter file (``.par``, read by
:func:`read_par`) and its log (``.log``, one row per step, read by :func:`load_step_redshifts`).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# RHO_CRIT0 lives with the header checks (which need it) and is re-exported here.
from wlcnn.io._header_checks import (
    RHO_CRIT0,
    SCALE_FACTOR_TOLERANCE,
    check_box,
    check_density_parameter,
    check_particle_count,
)
from wlcnn.io.errors import HeaderValueError, ParticleCountError, SnapshotError

__all__ = [
    "RHO_CRIT0",
    "VELOCITY_UNIT_FACTOR",
    "PkdParams",
    "StepFiles",
    "find_step_files",
    "load_step_redshifts",
    "parse_step_name",
    "read_par",
    "resolve_step_files",
    "step_redshift_facts",
]

#: Hubble constant in units of h km/s per Mpc.
H0_KMS_PER_MPC_H = 100.0

#: PKDGRAV3 code units have G = 1 and a mean density of Omega_m (particle masses sum to
#: Omega_m), so the critical density is 3 / (8 pi) and the Hubble constant in code units is
#: sqrt(8 pi / 3). A code velocity (box lengths per code time) is therefore
#: ``100 km/s/(Mpc/h) * L / sqrt(8 pi / 3)`` km/s for a box of L Mpc/h: multiply by L (Mpc/h) and
#: by this factor.
VELOCITY_UNIT_FACTOR = H0_KMS_PER_MPC_H / math.sqrt(8.0 * math.pi / 3.0)

#: How errors name a step -> redshift table given as a mapping rather than a file.
STEP_MAPPING_NAME = Path("step_redshifts")
#: Columns of a two-column step table (``step z``).
_TABLE_COLUMNS = 2
#: Column holding the redshift in a PKDGRAV3 ``.log`` file (column 1 is the code time).
_LOG_REDSHIFT_COLUMN = 1
#: Steps are written with five digits (``%05d``) by PKDGRAV3.
_STEP_FILE = re.compile(r"^(?P<prefix>.+)\.(?P<step>\d+)\.(?P<kind>lcp|hpb)(?:\.(?P<thread>\d+))?$")


@dataclass(frozen=True)
class PkdParams:
    """The facts of a PKDGRAV3 parameter file that the readers need.

    Attributes
    ----------
    path
        The ``.par`` file.
    box
        ``dBoxSize`` in Mpc/h (None when absent).
    hubble
        ``h``.
    omega_m, omega_lambda
        ``dOmega0``, ``dLambda``.
    n_grid
        ``nGrid`` (the run has ``nGrid**3`` particles).
    nside_healpix
        ``nSideHealpix`` (0 or None: no HEALPix maps).
    out_name
        ``achOutName``, the prefix of every output file.
    values
        Every ``name = value`` assignment: Python literals parsed, anything else (e.g. calls to
        the ``accuracy`` module) kept as its source text.
    """

    path: Path
    box: float | None = None
    hubble: float | None = None
    omega_m: float | None = None
    omega_lambda: float | None = None
    n_grid: int | None = None
    nside_healpix: int | None = None
    out_name: str | None = None
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def particle_mass(self) -> float:
        """Mass per particle in M_sun/h, ``Omega_m rho_crit L^3 / nGrid^3`` (NaN when unknown)."""
        if self.omega_m is None or self.box is None or not self.n_grid:
            return math.nan
        return self.omega_m * RHO_CRIT0 * self.box**3 / self.n_grid**3


def _strip_comment(line: str) -> str:
    """Cut a ``#`` comment, ignoring ``#`` inside quoted strings."""
    quote: str | None = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line


def _number(values: Mapping[str, Any], key: str) -> float | None:
    value = values.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def read_par(path: str | Path) -> PkdParams:
    """Parse a PKDGRAV3 ``.par`` file (Python syntax: ``name = value  # comment``).

    Parameters
    ----------
    path
        The parameter file.

    Returns
    -------
    PkdParams
        The parsed facts; parameters the file does not set are None.
    """
    path = Path(path)
    values: dict[str, Any] = {}
    for raw in path.read_text().splitlines():
        line = _strip_comment(raw).strip()
        # ``from accuracy import ...`` lines and blank lines carry no parameter.
        if not line or line.startswith(("from ", "import ")) or "=" not in line:
            continue
        name, _, text = line.partition("=")
        name, text = name.strip(), text.strip()
        if not name.isidentifier():
            continue
        try:
            values[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            values[name] = text
    n_grid = _number(values, "nGrid")
    nside = _number(values, "nSideHealpix")
    out_name = values.get("achOutName")
    box, hubble, omega_m = _number(values, "dBoxSize"), _number(values, "h"), _number(values, "dOmega0")
    check_density_parameter(path, "dOmega0", omega_m)
    check_density_parameter(path, "h", hubble)
    check_box(path, "dBoxSize", box, unit="Mpc/h")
    if n_grid is not None:
        if not (math.isfinite(n_grid) and n_grid >= 1 and n_grid == int(n_grid)):
            raise HeaderValueError(path, "nGrid", "a whole number >= 1 (particles per side)", repr(n_grid))
        check_particle_count(path, "nGrid^3", int(n_grid) ** 3)
    return PkdParams(
        path=path,
        box=box,
        hubble=hubble,
        omega_m=omega_m,
        omega_lambda=_number(values, "dLambda"),
        n_grid=None if n_grid is None else int(n_grid),
        nside_healpix=None if nside is None else int(nside),
        out_name=out_name if isinstance(out_name, str) else None,
        values=values,
    )


def load_step_redshifts(source: str | Path | Mapping[int, float]) -> dict[int, float]:
    """Load a step -> redshift table.

    Parameters
    ----------
    source
        A mapping (returned as a dict), or a text file: either two columns ``step z`` (``#``
        comments allowed), or a PKDGRAV3 ``.log`` file (three or more columns: row ``i`` is
        step ``i``, row 0 the initial conditions, the redshift at the end of the step in the
        second column).

    Returns
    -------
    dict
        ``{step: z}`` with z at the end of the step (tiny negative round-off such as ``-0.0``
        at the last step is clipped to 0).
    """
    if isinstance(source, Mapping):
        return {
            int(k): _checked_step_redshift(STEP_MAPPING_NAME, f"step {k}", float(v))
            for k, v in source.items()
        }
    path = Path(source)
    table = np.loadtxt(path, comments="#", ndmin=2)
    steps: np.ndarray  # float step numbers read from a table, or int row numbers
    if table.shape[1] == _TABLE_COLUMNS:
        steps, z = table[:, 0], table[:, 1]
        if not np.allclose(steps, np.round(steps)):
            raise SnapshotError(path, "column 1", "integer step numbers", f"{steps[:3].tolist()} ...")
        column = _TABLE_COLUMNS
    elif table.shape[1] > _TABLE_COLUMNS:
        steps, z = np.arange(table.shape[0]), table[:, _LOG_REDSHIFT_COLUMN]
        column = _LOG_REDSHIFT_COLUMN + 1
    else:
        raise SnapshotError(path, "columns", "'step z' or a PKDGRAV3 .log", f"{table.shape[1]} column(s)")
    return {
        int(s): _checked_step_redshift(path, f"row {row + 1}, column {column} (step {int(s)})", float(zz))
        for row, (s, zz) in enumerate(zip(steps, z, strict=True))
    }


def _checked_step_redshift(path: Path, field: str, z: float) -> float:
    """A step's redshift with round-off below 0 clipped; NaN or a real negative z is an error."""
    # z >= -tol is a <= 1 + tol to first order: the same slack as for a header's scale factor.
    if -SCALE_FACTOR_TOLERANCE <= z <= 0.0:  # the last step of a run to z = 0 prints -0.000000
        return 0.0
    if not (math.isfinite(z) and z > 0.0):
        raise HeaderValueError(
            path, field, f"a redshift z >= 0 (round-off down to -{SCALE_FACTOR_TOLERANCE:g})", repr(z)
        )
    return z


def step_redshift_facts(step: int, table: Mapping[int, float] | None) -> tuple[float, float, dict[str, Any]]:
    """Scale factor, redshift and range facts of one light-cone step.

    A step's light-cone output holds what crossed the past light cone during the step, i.e.
    between the redshift at the end of the previous step and the one at the end of this step.

    Returns
    -------
    a, z, extra
        ``a`` and ``z`` at the end of the step (NaN when the table lacks it), and
        ``{"redshift_min": z_end, "redshift_max": z_start}`` (None where unknown).
    """
    z_end = None if table is None else table.get(step)
    z_start = None if table is None else table.get(step - 1)
    extra = {"redshift_min": z_end, "redshift_max": z_start}
    if z_end is None:
        return math.nan, math.nan, extra
    return 1.0 / (1.0 + z_end), z_end, extra


@dataclass(frozen=True)
class StepFiles:
    """The per-thread files of one step of a PKDGRAV3 light-cone output.

    Attributes
    ----------
    base
        ``<prefix>.<step>.<kind>`` (the thread files are ``base.0``, ``base.1``, ...).
    step
        The step number.
    kind
        ``"lcp"`` or ``"hpb"``.
    files
        The thread files in thread order.
    """

    base: Path
    step: int
    kind: str
    files: tuple[Path, ...]


def parse_step_name(path: Path) -> tuple[str, int, str, int | None] | None:
    """Split ``prefix.NNNNN.kind[.T]`` into (prefix, step, kind, thread); None if it does not match."""
    m = _STEP_FILE.match(path.name)
    if m is None:
        return None
    thread = m.group("thread")
    return m.group("prefix"), int(m.group("step")), m.group("kind"), None if thread is None else int(thread)


def _thread_files(base: Path) -> list[Path]:
    """Every ``base.<thread>`` file, in thread order; raises if the sequence has a gap."""
    pattern = re.compile(re.escape(base.name) + r"\.(\d+)$")
    found: dict[int, Path] = {}
    if base.parent.is_dir():
        for candidate in base.parent.iterdir():
            m = pattern.match(candidate.name)
            if m is not None and candidate.is_file():
                found[int(m.group(1))] = candidate
    return _ordered_threads(base, found)


def _ordered_threads(base: Path, found: Mapping[int, Path]) -> list[Path]:
    """Order the thread files ``found`` ({thread: path}); raise on none or on a gap."""
    if not found:
        raise FileNotFoundError(f"{base}: no thread files {base.name}.0, {base.name}.1, ...")
    missing = sorted(set(range(max(found) + 1)) - set(found))
    if missing:
        raise ParticleCountError(
            base.with_name(f"{base.name}.{missing[0]}"),
            "thread files",
            f"contiguous thread files {base.name}.0 ... {base.name}.{max(found)}",
            f"missing thread(s) {missing}",
        )
    return [found[t] for t in sorted(found)]


def resolve_step_files(path: str | Path, kind: str, *, all_threads: bool) -> StepFiles:
    """Find the thread files of the step named by ``path``.

    Parameters
    ----------
    path
        A thread file ``prefix.NNNNN.kind.T`` or the step's base name ``prefix.NNNNN.kind``.
    kind
        ``"lcp"`` or ``"hpb"``.
    all_threads
        With a thread file: read every thread of its step (True) or that file only (False).
        A base name always means every thread.

    Raises
    ------
    FileNotFoundError
        No such file / no thread file.
    ParticleCountError
        The thread numbers have a gap (a thread file is missing).
    SnapshotError
        The name is not ``prefix.NNNNN.kind[.T]``.
    """
    path = Path(path)
    parts = parse_step_name(path)
    if parts is None or parts[2] != kind:
        raise SnapshotError(path, "file name", f"<prefix>.<step>.{kind}[.<thread>]", repr(path.name))
    _, step, _, thread = parts
    # Keep the step digits as written (PKDGRAV3 uses %05d, but do not assume it).
    base = path if thread is None else path.with_name(path.name.rsplit(".", 1)[0])
    if thread is not None and not all_threads:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such light-cone file")
        return StepFiles(base=base, step=step, kind=kind, files=(path,))
    return StepFiles(base=base, step=step, kind=kind, files=tuple(_thread_files(base)))


def find_step_files(directory: str | Path, kind: str, *, prefix: str | None = None) -> dict[int, StepFiles]:
    """Every step of a run's light-cone output in ``directory``.

    Parameters
    ----------
    directory
        The run's output directory.
    kind
        ``"lcp"`` or ``"hpb"``.
    prefix
        ``achOutName`` of the run; None: the only prefix found (error if several).

    Returns
    -------
    dict
        ``{step: StepFiles}`` sorted by step.
    """
    directory = Path(directory)
    prefixes: set[str] = set()
    # One directory listing for the whole run (a run may have steps x threads files).
    threads: dict[int, dict[int, Path]] = {}
    bases: dict[int, Path] = {}
    for candidate in sorted(directory.iterdir()):
        parts = parse_step_name(candidate)
        if parts is None or parts[2] != kind or parts[3] is None or not candidate.is_file():
            continue
        if prefix is not None and parts[0] != prefix:
            continue
        prefixes.add(parts[0])
        threads.setdefault(parts[1], {})[parts[3]] = candidate
        bases.setdefault(parts[1], candidate.with_name(candidate.name.rsplit(".", 1)[0]))
    if len(prefixes) > 1:
        raise ValueError(f"{directory}: several runs ({sorted(prefixes)}); pass prefix=")
    if not threads:
        which = f" for {prefix!r}" if prefix else ""
        raise FileNotFoundError(f"{directory}: no *.{kind}.<thread> files{which}")
    return {
        s: StepFiles(base=bases[s], step=s, kind=kind, files=tuple(_ordered_threads(bases[s], threads[s])))
        for s in sorted(threads)
    }
