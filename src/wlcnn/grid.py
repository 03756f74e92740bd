"""The cosmology grid: which (Ωm, σ8) were simulated, how many times, and for what.

The grid is a CSV table with columns ``id, omega_m, sigma8, role, n_sims``. ``role`` is
``train`` (simulations that build the training set), ``test`` (held-out simulations of the same
cosmology: test maps never come from training boxes) or ``mock`` (mock observations, never used
for training). A cosmology appears once per role it has; its simulations are numbered
consecutively over its rows, in table order, so ``sim00``–``sim09`` are the 10 training runs
and ``sim10``–``sim11`` the 2 test runs of the paper's setup.

The paper lays its 57 cosmologies along lines of constant Σ8 = σ8 (Ωm/0.3)^0.6 inside the
prior box; :func:`sigma8_line_grid` generates such grids (also as ``wlcnn grid``).

Examples
--------
>>> from wlcnn.grid import sigma8_line_grid
>>> pts = sigma8_line_grid(sigma8_lines=[0.5, 0.75, 1.0], omega_m=[0.1, 0.3, 0.5],
...                        prior={"omega_m": [0.1, 0.5], "sigma8": [0.4, 1.4]})
>>> [(round(om, 2), round(s8, 3)) for om, s8 in pts][:3]
[(0.1, 0.967), (0.3, 0.5), (0.3, 0.75)]
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DEGENERACY_EXPONENT",
    "ROLES",
    "Cosmology",
    "GridError",
    "Simulation",
    "format_grid",
    "read_grid",
    "sigma8_line_grid",
    "simulations",
]

#: Σ8 = σ8 (Ωm/0.3)^α with α = 0.6: the lensing degeneracy direction the grid follows.
DEGENERACY_EXPONENT = 0.6
#: Ωm pivot of Σ8 and S8.
OMEGA_M_PIVOT = 0.3
ROLES = ("train", "test", "mock")
COLUMNS = ("id", "omega_m", "sigma8", "role", "n_sims")
#: Cosmology ids are used in file names.
_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


class GridError(ValueError):
    """The grid table is malformed; the message names the file, row and column."""


@dataclass(frozen=True)
class Cosmology:
    """One row group of the grid: a cosmology and its simulations per role."""

    id: str
    omega_m: float
    sigma8: float
    n_sims: Mapping[str, int]

    @property
    def s8(self) -> float:
        """S8 = σ8 (Ωm/0.3)^0.5."""
        return self.sigma8 * (self.omega_m / OMEGA_M_PIVOT) ** 0.5


@dataclass(frozen=True)
class Simulation:
    """One N-body run: ``name`` is ``sim{index:02d}``."""

    cosmology: Cosmology
    index: int
    role: str

    @property
    def name(self) -> str:
        """Directory-safe simulation name."""
        return f"sim{self.index:02d}"


def sigma8_line_grid(
    *, sigma8_lines: Sequence[float], omega_m: Sequence[float], prior: Mapping[str, Sequence[float]]
) -> list[tuple[float, float]]:
    """Points (Ωm, σ8) on lines of constant Σ8 = σ8 (Ωm/0.3)^0.6 inside the prior box.

    For each Σ8 value and each Ωm value, σ8 = Σ8 (0.3/Ωm)^0.6; points outside the prior box are
    dropped. Returned sorted by Σ8 then Ωm.
    """
    om_lo, om_hi = prior["omega_m"]
    s8_lo, s8_hi = prior["sigma8"]
    points = []
    for big_sigma in sigma8_lines:
        for om in omega_m:
            s8 = big_sigma * (OMEGA_M_PIVOT / om) ** DEGENERACY_EXPONENT
            if om_lo <= om <= om_hi and s8_lo <= s8 <= s8_hi:
                points.append((float(om), float(s8)))
    return points


def format_grid(
    points: Iterable[tuple[float, float]],
    *,
    n_train: int,
    n_test: int,
    mocks: Iterable[tuple[float, float]] = (),
    n_mock_sims: int = 1,
) -> str:
    """CSV text of a grid: each point gets a train and a test row; mocks get a mock row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for i, (om, s8) in enumerate(points):
        cid = f"c{i:03d}"
        writer.writerow([cid, f"{om:.6f}", f"{s8:.6f}", "train", n_train])
        if n_test:
            writer.writerow([cid, f"{om:.6f}", f"{s8:.6f}", "test", n_test])
    for j, (om, s8) in enumerate(mocks):
        writer.writerow([f"mock{j:02d}", f"{om:.6f}", f"{s8:.6f}", "mock", n_mock_sims])
    return out.getvalue()


def read_grid(path: str | Path, *, prior: Mapping[str, Sequence[float]] | None = None) -> list[Cosmology]:
    """Read and validate a grid table.

    Raises
    ------
    GridError
        Missing/extra columns, a non-numeric value, an unknown role, a non-positive n_sims, one
        id with two different (Ωm, σ8), a duplicate (id, role), or a train/test cosmology
        outside the prior box.
    """
    path = Path(path)
    with open(path, newline="") as fh:
        reader = csv.DictReader(line for line in fh if not line.lstrip().startswith("#"))
        header = tuple(reader.fieldnames or ())
        if header != COLUMNS:
            raise GridError(f"{path}: header: expected columns {list(COLUMNS)}, found {list(header)}")
        rows = list(reader)
    params: dict[str, tuple[float, float]] = {}
    counts: dict[str, dict[str, int]] = {}
    for lineno, row in enumerate(rows, start=2):
        where = f"{path}: line {lineno}"
        cid = row["id"]
        if not cid or set(cid) - _ID_CHARS:
            raise GridError(f"{where}: column 'id': expected letters, digits, '_' or '-', found {cid!r}")
        try:
            om, s8, n = float(row["omega_m"]), float(row["sigma8"]), int(row["n_sims"])
        except (TypeError, ValueError) as exc:
            raise GridError(
                f"{where}: expected numbers in omega_m, sigma8 and an integer n_sims ({exc})"
            ) from None
        role = row["role"]
        if role not in ROLES:
            raise GridError(f"{where}: column 'role': expected one of {list(ROLES)}, found {role!r}")
        if n < 1:
            raise GridError(f"{where}: column 'n_sims': expected >= 1, found {n}")
        if not (0 < om < 1 and s8 > 0):
            raise GridError(f"{where}: expected 0 < omega_m < 1 and sigma8 > 0, found ({om}, {s8})")
        if cid in params and not np.allclose(params[cid], (om, s8)):
            raise GridError(
                f"{where}: id {cid!r} already has (omega_m, sigma8) = {params[cid]}, found ({om}, {s8})"
            )
        if role in counts.get(cid, {}):
            raise GridError(f"{where}: duplicate row for id {cid!r} and role {role!r}")
        if prior is not None and role != "mock":
            (om_lo, om_hi), (s8_lo, s8_hi) = prior["omega_m"], prior["sigma8"]
            if not (om_lo <= om <= om_hi and s8_lo <= s8 <= s8_hi):
                raise GridError(
                    f"{where}: ({om}, {s8}) outside the prior box "
                    f"omega_m {[om_lo, om_hi]}, sigma8 {[s8_lo, s8_hi]}"
                )
        params[cid] = (om, s8)
        counts.setdefault(cid, {})[role] = n
    if not params:
        raise GridError(f"{path}: no cosmologies")
    return [Cosmology(id=cid, omega_m=om, sigma8=s8, n_sims=counts[cid]) for cid, (om, s8) in params.items()]


def simulations(grid: Iterable[Cosmology], *, roles: Iterable[str] = ROLES) -> list[Simulation]:
    """Every simulation of the grid with one of ``roles``, numbered per cosmology (see module doc)."""
    wanted = set(roles)
    out = []
    for cosmo in grid:
        index = 0
        for role, n in cosmo.n_sims.items():
            for _ in range(n):
                if role in wanted:
                    out.append(Simulation(cosmology=cosmo, index=index, role=role))
                index += 1
    return out
