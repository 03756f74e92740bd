"""Gadget-2 binary snapshots (SnapFormat 1 and 2): the writer.

Writes dark-matter particles as Gadget-2 itself does for a dark-matter-only run (the layout is
described in :mod:`wlcnn.io.gadget`, whose reader reads these files back bit for bit).
"""

from __future__ import annotations

import itertools
import math
import os
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from wlcnn.atomic import atomic_path
from wlcnn.io._gadget_common import DM_TYPE, LENGTH_UNIT_DIVISORS, MASS_UNIT_MSUN_H, NDIM, LengthUnit
from wlcnn.io._gadget_records import (
    BYTEORDER_NAMES,
    FMT2_LABEL_PAYLOAD,
    HEADER_BYTES,
    MARKER_BYTES,
    MAX_RECORD_BYTES,
    gadget_header_dtype,
)

__all__ = ["write_gadget_snapshot"]

#: Particles converted per slice when writing (bounds the writer's temporary memory).
WRITE_CHUNK = 1 << 20
#: Largest particle count an int32 ``npart`` field holds.
MAX_NPART_PER_FILE = 2**31 - 1
#: How far (in ulps) to look for a MassTable value that reads back exactly.
MASS_ULP_SEARCH = 4


def _mass_to_file(particle_mass: float) -> float:
    """MassTable value (1e10 M_sun/h) that the reader turns back into exactly ``particle_mass``.

    ``m / 1e10 * 1e10`` is not always ``m`` in floating point; a few ulps around the quotient
    are tried so that a read-write-read cycle is lossless.
    """
    guess = particle_mass / MASS_UNIT_MSUN_H
    candidate = guess
    for _ in range(MASS_ULP_SEARCH):
        if candidate * MASS_UNIT_MSUN_H == particle_mass:
            return candidate
        candidate = float(np.nextafter(candidate, math.inf))
    candidate = guess
    for _ in range(MASS_ULP_SEARCH):
        if candidate * MASS_UNIT_MSUN_H == particle_mass:
            return candidate
        candidate = float(np.nextafter(candidate, -math.inf))
    return guess


def _record(fh: BinaryIO, order: str, snap_format: int, label: str, nbytes: int) -> bytes:
    """Write the SnapFormat-2 label (if any) and return the marker that opens and closes the block."""
    marker = struct.pack(f"{order}I", nbytes)
    if snap_format == 2:
        fh.write(
            struct.pack(
                f"{order}I4sII",
                FMT2_LABEL_PAYLOAD,
                label.encode("ascii"),
                nbytes + 2 * MARKER_BYTES,
                FMT2_LABEL_PAYLOAD,
            )
        )
    fh.write(marker)
    return marker


def _write_one_file(
    target: Path,
    *,
    header: np.ndarray,
    pos: np.ndarray,
    vel: np.ndarray,
    ids: np.ndarray,
    lo: int,
    hi: int,
    order: str,
    snap_format: int,
    length_factor: float,
    sqrt_a: float,
    id_dtype: np.dtype,
) -> None:
    """Write particles ``lo:hi`` to ``target`` via a temporary file renamed into place."""
    n = hi - lo
    f4 = np.dtype(f"{order}f4")
    # the file is closed (and synced) before the rename
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        marker = _record(fh, order, snap_format, "HEAD", HEADER_BYTES)
        fh.write(header.tobytes())
        fh.write(marker)
        if n > 0:  # Gadget-2 writes no particle blocks for an empty file
            marker = _record(fh, order, snap_format, "POS ", NDIM * f4.itemsize * n)
            for s in range(lo, hi, WRITE_CHUNK):
                e = min(s + WRITE_CHUNK, hi)
                fh.write((np.asarray(pos[s:e], dtype=np.float64) * length_factor).astype(f4).tobytes())
            fh.write(marker)
            marker = _record(fh, order, snap_format, "VEL ", NDIM * f4.itemsize * n)
            for s in range(lo, hi, WRITE_CHUNK):
                e = min(s + WRITE_CHUNK, hi)
                fh.write((np.asarray(vel[s:e], dtype=np.float64) / sqrt_a).astype(f4).tobytes())
            fh.write(marker)
            marker = _record(fh, order, snap_format, "ID  ", id_dtype.itemsize * n)
            for s in range(lo, hi, WRITE_CHUNK):
                e = min(s + WRITE_CHUNK, hi)
                fh.write(np.asarray(ids[s:e]).astype(id_dtype).tobytes())
            fh.write(marker)
        fh.flush()
        os.fsync(fh.fileno())  # the data must be on disk before the rename makes it visible


def write_gadget_snapshot(
    path: str | Path,
    *,
    pos: npt.ArrayLike,
    vel: npt.ArrayLike,
    ids: npt.ArrayLike,
    box: float,
    a: float,
    omega_m: float,
    omega_lambda: float,
    hubble: float,
    particle_mass: float,
    snap_format: int = 1,
    length_unit: LengthUnit = "kpc/h",
    n_files: int = 1,
    byteorder: str = "<",
) -> list[Path]:
    """Write dark-matter particles as a Gadget-2 binary snapshot (SnapFormat 1 or 2).

    The files are what Gadget-2 itself writes for a dark-matter-only run: a 256-byte header
    with all particles as type 1 and their mass in ``MassTable[1]``, then the POS, VEL and ID
    blocks in Fortran records (plus 8-byte labels for SnapFormat 2). Each file is written to a
    temporary name in the same directory and renamed into place, so a reader never sees a
    half-written file. Positions are written as given (neither wrapped nor checked).

    Parameters
    ----------
    path
        Output file; with ``n_files > 1`` the files are ``path.0 ... path.{n_files-1}``.
    pos
        ``(N, 3)`` comoving positions in Mpc/h.
    vel
        ``(N, 3)`` peculiar velocities in km/s (written as Gadget's ``u = v / sqrt(a)``).
    ids
        ``(N,)`` non-negative integer IDs; written as uint32 when all are below 2**32, else uint64.
    box
        Box side in Mpc/h.
    a
        Scale factor (``Time``); ``Redshift`` is written as ``1/a - 1`` like Gadget-2 does.
    omega_m, omega_lambda, hubble
        Cosmology for ``Omega0``, ``OmegaLambda`` and ``HubbleParam``.
    particle_mass
        Particle mass in M_sun/h (written to ``MassTable[1]`` in 1e10 M_sun/h).
    snap_format
        1 or 2.
    length_unit
        Unit of positions and ``BoxSize`` in the file: ``"kpc/h"`` (Gadget's default) or ``"Mpc/h"``.
    n_files
        Number of files to split the particles over (contiguous, nearly equal parts).
    byteorder
        ``"<"`` little-endian or ``">"`` big-endian.

    Returns
    -------
    list of Path
        The files written, in order.

    Raises
    ------
    ValueError
        On inconsistent shapes, invalid options, or a file too large for 32-bit record markers
        (use more files).
    """
    target = Path(path)
    pos_a, vel_a, ids_a = np.asarray(pos), np.asarray(vel), np.asarray(ids)
    n = int(pos_a.shape[0]) if pos_a.ndim == 2 else -1
    if pos_a.shape != (n, NDIM) or vel_a.shape != (n, NDIM) or ids_a.shape != (n,):
        raise ValueError(
            f"need pos (N, 3), vel (N, 3), ids (N,); got {pos_a.shape}, {vel_a.shape}, {ids_a.shape}"
        )
    if snap_format not in (1, 2):
        raise ValueError(f"snap_format must be 1 or 2, not {snap_format!r}")
    if length_unit not in LENGTH_UNIT_DIVISORS:
        raise ValueError(f"length_unit must be one of {sorted(LENGTH_UNIT_DIVISORS)}, not {length_unit!r}")
    if byteorder not in BYTEORDER_NAMES:
        raise ValueError(f"byteorder must be '<' or '>', not {byteorder!r}")
    if not isinstance(n_files, int | np.integer) or n_files < 1:
        raise ValueError(f"n_files must be a positive integer, not {n_files!r}")
    for name, value in (("box", box), ("a", a), ("particle_mass", particle_mass)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be positive and finite, not {value!r}")
    if n and not np.issubdtype(ids_a.dtype, np.integer):
        raise ValueError(f"ids must be integers, not {ids_a.dtype}")
    if n and int(ids_a.min()) < 0:
        raise ValueError("ids must be non-negative")
    wide = n > 0 and int(ids_a.max()) >= 2**32
    id_dtype = np.dtype(f"{byteorder}{'u8' if wide else 'u4'}")

    bounds = [n * k // n_files for k in range(n_files + 1)]
    largest = max(hi - lo for lo, hi in itertools.pairwise(bounds))
    if largest > MAX_NPART_PER_FILE or NDIM * 4 * largest > MAX_RECORD_BYTES:
        raise ValueError(
            f"{largest} particles per file overflow Gadget-2's 32-bit record markers; "
            "use more files (n_files)"
        )

    length_factor = LENGTH_UNIT_DIVISORS[length_unit]
    files = [target] if n_files == 1 else [target.with_name(f"{target.name}.{k}") for k in range(n_files)]
    header = np.zeros(1, dtype=gadget_header_dtype(byteorder))
    header["mass"][0, DM_TYPE] = _mass_to_file(float(particle_mass))
    header["time"] = a
    header["redshift"] = 1.0 / a - 1.0
    header["npart_total"][0, DM_TYPE] = n % 2**32
    header["npart_total_highword"][0, DM_TYPE] = n >> 32
    header["num_files"] = n_files
    header["box"] = box * length_factor
    header["omega0"] = omega_m
    header["omega_lambda"] = omega_lambda
    header["hubble"] = hubble
    sqrt_a = math.sqrt(a)
    for k, file in enumerate(files):
        lo, hi = bounds[k], bounds[k + 1]
        header["npart"][0, DM_TYPE] = hi - lo
        _write_one_file(
            file,
            header=header,
            pos=pos_a,
            vel=vel_a,
            ids=ids_a,
            lo=lo,
            hi=hi,
            order=byteorder,
            snap_format=snap_format,
            length_factor=length_factor,
            sqrt_a=sqrt_a,
            id_dtype=id_dtype,
        )
    return files
