"""Units, conversions and checks shared by every Gadget reader (binary and HDF5).

Both :mod:`wlcnn.io.gadget` and :mod:`wlcnn.io.gadget_hdf5` convert and check particles with
these functions, so that every Gadget format gives bit-identical particles. Private to
:mod:`wlcnn.io`: the public names are re-exported by :mod:`wlcnn.io.gadget`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import numpy as np

from wlcnn.io.errors import PositionRangeError, SnapshotError, UnitError

__all__ = [
    "BOX_RANGE_MPC",
    "DM_TYPE",
    "KPC_BOX_THRESHOLD",
    "LENGTH_UNIT_DIVISORS",
    "MASS_UNIT_MSUN_H",
    "NDIM",
    "N_TYPES",
    "POSITION_TOLERANCE",
    "LengthUnit",
    "check_positions",
    "check_unequal_masses_option",
    "mass_from_samples",
    "resolve_length_unit",
    "to_canonical",
    "velocity_factor",
]

#: A length unit a Gadget file may store positions and the box in.
LengthUnit = Literal["kpc/h", "Mpc/h"]

#: The length units understood, as the factor that converts them to Mpc/h by *division*.
LENGTH_UNIT_DIVISORS: dict[str, float] = {"kpc/h": 1000.0, "Mpc/h": 1.0}

#: When the unit is inferred: a BoxSize above this is taken to be in kpc/h (no cosmological
#: box analysed here is larger than 5 Gpc/h, nor smaller than 5 Mpc/h).
KPC_BOX_THRESHOLD = 5000.0

#: Plausible box sides in Mpc/h after conversion; anything else means a wrong length unit.
BOX_RANGE_MPC = (1.0, 20000.0)

#: Gadget masses are in units of 1e10 M_sun/h.
MASS_UNIT_MSUN_H = 1e10

#: Relative slack on the box edges before positions count as outside (float32 round-off
#: of a position converted from kpc/h may land exactly on the box side).
POSITION_TOLERANCE = 1e-6

#: Gadget has six particle types; dark matter is type 1.
N_TYPES = 6
DM_TYPE = 1
#: Components of a position or velocity.
NDIM = 3


def resolve_length_unit(
    raw_box: float,
    length_unit: str | None,
    *,
    path: Path,
    field_name: str = "Header/BoxSize",
    source: str = "configured",
) -> tuple[str, float, float]:
    """Pick the file's length unit and check that the box is plausible in it.

    Returns
    -------
    unit, divisor, box
        The unit name, the divisor that converts file lengths to Mpc/h, and the box in Mpc/h.

    Raises
    ------
    UnitError
        When the box in Mpc/h falls outside :data:`BOX_RANGE_MPC`.
    """
    if length_unit is None:
        unit = "kpc/h" if raw_box > KPC_BOX_THRESHOLD else "Mpc/h"
        how = f"inferred from BoxSize (> {KPC_BOX_THRESHOLD:g} means kpc/h)"
    elif length_unit in LENGTH_UNIT_DIVISORS:
        unit, how = length_unit, source
    else:
        allowed = sorted(LENGTH_UNIT_DIVISORS)
        raise ValueError(f"length_unit must be one of {allowed} or None, not {length_unit!r}")
    divisor = LENGTH_UNIT_DIVISORS[unit]
    box = float(raw_box) / divisor
    lo, hi = BOX_RANGE_MPC
    if not (lo <= box <= hi):  # also catches NaN
        raise UnitError(
            path,
            field_name,
            f"a box of {lo:g} to {hi:g} Mpc/h with length unit {unit!r} ({how})",
            f"BoxSize = {raw_box!r} in the file, i.e. {box:g} Mpc/h",
        )
    return unit, divisor, box


def to_canonical(
    pos: np.ndarray,
    vel: np.ndarray,
    *,
    length_divisor: float,
    velocity_factor: np.float32,
) -> None:
    """Convert a chunk in place: positions to Mpc/h, velocities to peculiar km/s.

    Both are single float32 passes over the chunk (no temporaries); the division is correctly
    rounded so that a kpc/h file and the same data in Mpc/h agree to the last bit.
    """
    if length_divisor != 1.0:
        np.divide(pos, np.float32(length_divisor), out=pos)
    if velocity_factor != np.float32(1.0):
        np.multiply(vel, velocity_factor, out=vel)


def velocity_factor(a: float) -> np.float32:
    """Gadget stores ``u = v_pec / sqrt(a)``: the factor that turns ``u`` into ``v_pec``."""
    return np.float32(math.sqrt(a))


def check_positions(pos: np.ndarray, box: float, *, path: Path, first_index: int, where: str) -> None:
    """Check that a chunk lies in ``[0, box)`` and wrap round-off at the edges, in place.

    The common case costs one integer max over the chunk: for non-negative floats the IEEE
    bit patterns are ordered like the values, and negative values, NaN and infinities all have
    larger patterns than ``box`` read as uint32, so a single ``max`` tells whether anything
    needs a closer look.

    Raises
    ------
    PositionRangeError
        When a coordinate is outside ``[-tol * box, box * (1 + tol)]`` or not finite.
    """
    if pos.size == 0:
        return
    box32 = np.float32(box)
    if int(pos.view(np.uint32).max()) < int(box32.view(np.uint32)):
        return
    lo, hi = -POSITION_TOLERANCE * box, box * (1.0 + POSITION_TOLERANCE)
    bad = ~(np.isfinite(pos) & (pos >= lo) & (pos <= hi))
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        value = tuple(float(x) for x in pos[row])
        raise PositionRangeError(
            path,
            f"particle {first_index + row} of type {DM_TYPE} ({where})",
            f"positions in [0, {box:g}) Mpc/h",
            f"{value} Mpc/h",
        )
    # Round-off only: fold the few values on the edges back into [0, box).
    pos[pos < 0] += box32
    pos[pos >= box32] -= box32
    pos[pos < 0] = 0.0  # -tiny + box rounds to box, minus box leaves -0.0 at worst


def mass_from_samples(
    lo: float, hi: float, mean: float, *, path: Path, where: str, unequal_masses: str
) -> tuple[float, str]:
    """Turn the min/max/mean of a per-particle mass column into one particle mass.

    Returns
    -------
    mass, source
        Mass in file units and a description for ``header.extra["mass_source"]``.
    """
    if not (np.isfinite(lo) and lo > 0):
        raise SnapshotError(path, where, "positive finite particle masses", f"minimum {lo!r}")
    if lo == hi:
        return lo, f"{where} (all equal)"
    if unequal_masses == "mean":
        return mean, f"{where} (mean of unequal masses: min {lo!r}, max {hi!r})"
    raise SnapshotError(
        path,
        where,
        "equal-mass dark matter (pass unequal_masses='mean' to use the mean)",
        f"masses from {lo!r} to {hi!r}",
    )


def check_unequal_masses_option(unequal_masses: str) -> None:
    """Reject an ``unequal_masses`` option other than ``"error"`` or ``"mean"`` (a caller's bug)."""
    if unequal_masses not in ("error", "mean"):
        raise ValueError(f"unequal_masses must be 'error' or 'mean', not {unequal_masses!r}")
