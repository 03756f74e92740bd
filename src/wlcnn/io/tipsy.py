"""Reader for PKDGRAV3 standard tipsy snapshots (big-endian XDR).

Layout (every number big-endian)::

    header   double a; int32 nbodies, ndim, nsph, ndark, nstar, pad      (32 bytes)
             -- or the same without ``pad`` (28 bytes), recognised from the file size
    gas      nsph  x 48 bytes: float mass, pos[3], vel[3], rho, temp, hsmooth, metals, phi
    dark     ndark x 36 bytes: float mass, pos[3], vel[3], eps, phi
    star     nstar x 44 bytes: float mass, pos[3], vel[3], metals, tform, eps, phi

Only the dark-matter particles are read (gas and star records are skipped by offset).

PKDGRAV3 code units: lengths in box units (positions in ``[-0.5, 0.5)``), G = 1 and masses
summing to Omega_m (so the critical density is ``3 / (8 pi)``), velocities ``dx/dt`` in box
lengths per code time. Hence, for a box of L Mpc/h:

- position ``(x + 0.5) L`` comoving Mpc/h, in ``[0, L)``;
- peculiar velocity ``v a 100 L / sqrt(8 pi / 3)`` km/s;
- particle mass ``m rho_crit0 L^3`` M_sun/h, with rho_crit0 = :data:`~wlcnn.io.pkd_params.RHO_CRIT0`.

Tipsy stores no box size, no IDs and no cosmology beyond Omega_m (the mass sum). Pass ``box``
(Mpc/h) to get canonical units; without it positions and velocities are the canonical values
divided by the box side (``header.extra["length_unit"] == "box"``: positions in ``[0, 1)``,
velocities in km/s per Mpc/h of box), ``header.box`` and ``header.particle_mass`` are NaN, and
``inspect`` still works. There is no ID column: PKDGRAV3 writes particles in their fixed
``iOrder`` (0-based, the light-cone particle ID), the same in every snapshot of a run, so the
index in the file is the ID; ``ParticleChunk.ids`` is None.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from wlcnn.io._header_checks import HeaderFields, check_header, check_particle_mass, check_scale_factor
from wlcnn.io.base import DEFAULT_CHUNK_SIZE, ParticleChunk, SnapshotHeader, SnapshotReader
from wlcnn.io.errors import (
    HeaderValueError,
    ParticleCountError,
    PositionRangeError,
    SnapshotError,
    TruncatedFileError,
)
from wlcnn.io.pkd_params import RHO_CRIT0, VELOCITY_UNIT_FACTOR, PkdParams, read_par

__all__ = ["DARK_DTYPE", "GAS_DTYPE", "STAR_DTYPE", "TipsyReader"]

#: ``double a; int nbodies, ndim, nsph, ndark, nstar`` without the trailing pad.
_HEADER_STRUCT = struct.Struct(">diiiii")
#: The same header read little-endian (only to recognise a file written in the wrong order).
_HEADER_STRUCT_LITTLE = struct.Struct("<diiiii")
#: Standard header: the struct above plus a 4-byte pad to align the particles on 8 bytes.
HEADER_BYTES = 32
#: The variant some writers use, without the pad.
HEADER_BYTES_NOPAD = _HEADER_STRUCT.size
#: Tipsy files of a 3-D simulation say so in the header.
NDIM = 3

GAS_DTYPE = np.dtype(
    [
        ("mass", ">f4"),
        ("pos", ">f4", (3,)),
        ("vel", ">f4", (3,)),
        ("rho", ">f4"),
        ("temp", ">f4"),
        ("hsmooth", ">f4"),
        ("metals", ">f4"),
        ("phi", ">f4"),
    ]
)
DARK_DTYPE = np.dtype(
    [("mass", ">f4"), ("pos", ">f4", (3,)), ("vel", ">f4", (3,)), ("eps", ">f4"), ("phi", ">f4")]
)
STAR_DTYPE = np.dtype(
    [
        ("mass", ">f4"),
        ("pos", ">f4", (3,)),
        ("vel", ">f4", (3,)),
        ("metals", ">f4"),
        ("tform", ">f4"),
        ("eps", ">f4"),
        ("phi", ">f4"),
    ]
)

#: Plausible scale factors for :meth:`TipsyReader.sniff` (a = 1e-4 is z ~ 1e4, far before any
#: N-body start; a = 1.5 leaves room for runs into the future). Only the sniffer enforces it.
SNIFF_A_MIN = 1e-4
SNIFF_A_MAX = 1.5
#: Box-unit positions must lie in [-0.5, 0.5). PKDGRAV3 holds positions in double precision and
#: casts them to float32 on output, so a position just below 0.5 may be written as exactly 0.5:
#: that one value is accepted and wrapped to the lower edge.
BOX_HALF = 0.5
#: Where the header fields lie, as the error messages name them. Tipsy stores no Omega_m
#: (the masses sum to it), no h and no box (both come from options or the run's .par file).
TIPSY_FIELDS = HeaderFields(
    a="offset 0 (header field a)",
    redshift="none (tipsy stores a only)",
    omega_m="particle masses (their sum is Omega_m)",
    hubble="h (option or .par file)",
    box="box (option or .par file)",
    n_particles="offset 20 (header field ndark)",
    particle_mass="dark particle 0, field mass",
)
#: Relative tolerance of the equal-mass check (the masses are written as identical float32).
MASS_RTOL = 1e-6


@dataclass(frozen=True)
class _Layout:
    """Where everything lies in one tipsy file."""

    a: float
    nsph: int
    ndark: int
    nstar: int
    header_bytes: int

    @property
    def gas_offset(self) -> int:
        return self.header_bytes

    @property
    def dark_offset(self) -> int:
        return self.header_bytes + self.nsph * GAS_DTYPE.itemsize

    @property
    def star_offset(self) -> int:
        return self.dark_offset + self.ndark * DARK_DTYPE.itemsize

    @property
    def end(self) -> int:
        return self.star_offset + self.nstar * STAR_DTYPE.itemsize


def _parse_layout(path: Path, fh: Any, size: int) -> _Layout:
    """Read and validate the header against the file size; raises :class:`SnapshotError` subclasses."""
    head = fh.read(HEADER_BYTES)
    if len(head) < HEADER_BYTES_NOPAD:
        raise TruncatedFileError(
            path, "offset 0 (header)", f"a {HEADER_BYTES}-byte tipsy header", f"a {size}-byte file"
        )
    a, nbodies, ndim, nsph, ndark, nstar = _HEADER_STRUCT.unpack_from(head)
    # ndim first: in a file of the wrong byte order every other field is garbage too.
    if ndim != NDIM:
        hint = ""
        if _HEADER_STRUCT_LITTLE.unpack_from(head)[2] == NDIM:
            hint = (
                f" ({NDIM} read little-endian: a native-order tipsy file, but PKDGRAV3's standard "
                "tipsy is big-endian)"
            )
        raise SnapshotError(path, "offset 12 (header field ndim)", f"{NDIM} (big-endian)", f"{ndim}{hint}")
    if min(nbodies, nsph, ndark, nstar) < 0 or nbodies != nsph + ndark + nstar:
        raise ParticleCountError(
            path,
            "offset 8 (header field nbodies)",
            f"nbodies = nsph + ndark + nstar = {nsph} + {ndark} + {nstar} = {nsph + ndark + nstar}",
            f"nbodies = {nbodies}",
        )
    check_scale_factor(path, TIPSY_FIELDS.a, a)
    body = _Layout(a, nsph, ndark, nstar, 0).end
    if size == HEADER_BYTES + body:
        return _Layout(a, nsph, ndark, nstar, HEADER_BYTES)
    # A 28-byte header is only believed when bytes 28..31 are not a zero pad: in the unpadded
    # variant they hold the first particle's mass, and a standard file cut 4 bytes short would
    # otherwise be misread, shifted by 4 bytes.
    if size == HEADER_BYTES_NOPAD + body and head[HEADER_BYTES_NOPAD:HEADER_BYTES] != bytes(4):
        return _Layout(a, nsph, ndark, nstar, HEADER_BYTES_NOPAD)
    expected = (
        f"{HEADER_BYTES + body} bytes (header {HEADER_BYTES} + {nsph} gas x {GAS_DTYPE.itemsize} + "
        f"{ndark} dark x {DARK_DTYPE.itemsize} + {nstar} star x {STAR_DTYPE.itemsize})"
    )
    if size < HEADER_BYTES + body:
        layout = _Layout(a, nsph, ndark, nstar, HEADER_BYTES)
        complete = max(0, size - layout.dark_offset) // DARK_DTYPE.itemsize
        raise TruncatedFileError(
            path,
            f"offset {size} (end of file)",
            expected,
            f"{size} bytes: the file ends inside the particle data ({min(complete, ndark)} of {ndark} dark "
            "particle records complete)",
        )
    extra_bytes = size - HEADER_BYTES - body
    raise ParticleCountError(
        path, "file size", expected, f"{size} bytes: {extra_bytes} bytes more than the header's counts"
    )


class TipsyReader(SnapshotReader):
    """PKDGRAV3 standard (big-endian) tipsy snapshot; yields the dark-matter particles.

    Parameters
    ----------
    path
        The tipsy file.
    box
        Box side in Mpc/h (tipsy does not store it). None: positions and velocities stay in box
        units (see the module docstring); ``header.box`` and ``header.particle_mass`` are NaN.
    hubble
        h, stored as ``header.hubble`` (tipsy does not store it).
    omega_lambda
        Omega_Lambda, stored as ``header.omega_lambda``.
    params
        A PKDGRAV3 ``.par`` file: fills ``box`` (dBoxSize), ``hubble`` (h) and ``omega_lambda``
        (dLambda) where they are not given explicitly.

    Notes
    -----
    ``header.omega_m`` is the mass sum, computed from the header as count x first mass of each
    species (exact for PKDGRAV3's equal-mass particles; :meth:`iter_chunks` checks that every
    dark particle has that mass, and :meth:`sum_masses` does the exact sum). ``header.a`` is the
    header's scale factor, ``header.redshift = 1/a - 1``. ``header.n_particles`` counts the
    dark particles only; ``extra`` has ``nsph``, ``ndark``, ``nstar``, ``header_bytes`` (32 or 28),
    ``length_unit`` and ``velocity_unit``.
    """

    format = "tipsy"

    def __init__(
        self,
        path: str | Path,
        *,
        box: float | None = None,
        hubble: float | None = None,
        omega_lambda: float | None = None,
        params: str | Path | None = None,
    ) -> None:
        self.path = Path(path)
        par = None
        if params is not None:
            par = read_par(params)
            box = par.box if box is None else box
            hubble = par.hubble if hubble is None else hubble
            omega_lambda = par.omega_lambda if omega_lambda is None else omega_lambda
        if box is not None and not (math.isfinite(box) and box > 0):
            raise ValueError(f"box must be a positive length in Mpc/h, got {box!r}")
        self.box = None if box is None else float(box)
        size = self.path.stat().st_size
        with open(self.path, "rb") as fh:
            self._layout = layout = _parse_layout(self.path, fh, size)
            first_mass = {}
            for name, count, offset in (
                ("gas", layout.nsph, layout.gas_offset),
                ("dark", layout.ndark, layout.dark_offset),
                ("star", layout.nstar, layout.star_offset),
            ):
                if count:
                    fh.seek(offset)
                    first_mass[name] = float(np.frombuffer(fh.read(4), ">f4")[0])
        self._dark_mass = first_mass.get("dark", math.nan)
        omega_m = (
            layout.nsph * first_mass.get("gas", 0.0)
            + layout.ndark * first_mass.get("dark", 0.0)
            + layout.nstar * first_mass.get("star", 0.0)
        )
        scale = 1.0 if self.box is None else self.box
        particle_mass = math.nan if self.box is None else self._dark_mass * RHO_CRIT0 * self.box**3
        self._check_header_facts(omega_m=omega_m, hubble=hubble, particle_mass=particle_mass, par=par)
        self.header = SnapshotHeader(
            format=self.format,
            files=(self.path,),
            n_particles=layout.ndark,
            a=layout.a,
            redshift=1.0 / layout.a - 1.0,
            box=math.nan if self.box is None else self.box,
            particle_mass=particle_mass,
            omega_m=omega_m if layout.nsph + layout.ndark + layout.nstar else None,
            omega_lambda=omega_lambda,
            hubble=hubble,
            has_ids=False,
            has_velocities=True,
            extra={
                "nsph": layout.nsph,
                "ndark": layout.ndark,
                "nstar": layout.nstar,
                "header_bytes": layout.header_bytes,
                "length_unit": "box" if self.box is None else "Mpc/h",
                "velocity_unit": "km/s per Mpc/h of box" if self.box is None else "km/s",
            },
        )
        # Code velocity -> peculiar km/s (divided by the box side when the box is unknown).
        self._vel_factor = layout.a * VELOCITY_UNIT_FACTOR * scale
        self._scale = scale

    def _check_header_facts(
        self, *, omega_m: float, hubble: float | None, particle_mass: float, par: PkdParams | None
    ) -> None:
        """Masses, Omega_m (their sum) and h; with a .par file, the mass against its dOmega0."""
        layout = self._layout
        fields = replace(
            TIPSY_FIELDS,
            particle_mass=f"offset {layout.dark_offset} (dark particle 0, field mass)",
        )
        if layout.ndark and not (math.isfinite(self._dark_mass) and self._dark_mass > 0.0):
            raise HeaderValueError(
                self.path, fields.particle_mass, "a finite mass > 0 (code units)", repr(self._dark_mass)
            )
        n_bodies = layout.nsph + layout.ndark + layout.nstar
        check_header(self.path, fields, omega_m=omega_m if n_bodies else None, hubble=hubble)
        # Only for dark-matter-only files, and only against an Omega_m stated elsewhere (the
        # .par file): the header's own Omega_m *is* the mass sum.
        if par is not None and par.omega_m is not None and self.box is not None and n_bodies == layout.ndark:
            check_particle_mass(
                self.path,
                fields.particle_mass,
                particle_mass,
                omega_m=par.omega_m,
                box=self.box,
                n_particles=layout.ndark,
                fields=replace(fields, omega_m=f"dOmega0 ({par.path.name})", box="dBoxSize"),
            )

    @classmethod
    def sniff(cls, path: Path) -> str | None:
        """``"tipsy"`` if the header is plausible and the file size matches it exactly, else None."""
        try:
            size = Path(path).stat().st_size
            with open(path, "rb") as fh:
                layout = _parse_layout(Path(path), fh, size)
        except (OSError, SnapshotError, struct.error):
            return None
        return cls.format if SNIFF_A_MIN <= layout.a <= SNIFF_A_MAX else None

    @classmethod
    def recognise(cls, path: Path) -> str | None:
        """``"tipsy"`` for a header with ndim = 3 and consistent counts in either byte order.

        Neither the scale factor nor the file size is looked at, so that the reader reports a
        truncated file, an impossible a or the wrong byte order itself.
        """
        try:
            with open(path, "rb") as fh:
                head = fh.read(HEADER_BYTES_NOPAD)
            for layout in (_HEADER_STRUCT, _HEADER_STRUCT_LITTLE):
                _, nbodies, ndim, nsph, ndark, nstar = layout.unpack_from(head)
                if ndim == NDIM and min(nsph, ndark, nstar) >= 0 and nbodies == nsph + ndark + nstar:
                    return cls.format
        except (OSError, struct.error):
            return None
        return None

    def _read_records(self, fh: Any, offset: int, index: int, count: int, dtype: np.dtype) -> np.ndarray:
        fh.seek(offset + index * dtype.itemsize)
        rec = np.fromfile(fh, dtype=dtype, count=count)
        if rec.shape[0] != count:
            got = offset + index * dtype.itemsize + rec.nbytes
            raise TruncatedFileError(
                self.path,
                f"offset {got} (particle record {index + rec.shape[0]})",
                f"{count} records of {dtype.itemsize} bytes from offset {offset + index * dtype.itemsize}",
                f"{rec.shape[0]} (file ends)",
            )
        return rec

    def iter_chunks(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[ParticleChunk]:
        """Yield the dark particles in file order, at most ``chunk_size`` at a time.

        Raises
        ------
        PositionRangeError
            A position outside ``[-0.5, 0.5)`` box units.
        SnapshotError
            Dark particles of unequal mass (the header's ``particle_mass`` would be wrong).
        """
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        layout = self._layout
        with open(self.path, "rb") as fh:
            for start in range(0, layout.ndark, chunk_size):
                count = min(chunk_size, layout.ndark - start)
                rec = self._read_records(fh, layout.dark_offset, start, count, DARK_DTYPE)
                self._check_masses(rec["mass"], start)
                x = rec["pos"].astype(np.float64)
                self._check_positions(x, start)
                # Shift [-0.5, 0.5) to [0, 1) and wrap the one allowed edge value 0.5 to 0.
                pos = np.mod(x + BOX_HALF, 1.0) * self._scale
                pos32 = pos.astype(np.float32)
                # Rounding to float32 can turn a value just below the box side into the box side.
                pos32[pos32 >= np.float32(self._scale)] = 0.0
                vel = (rec["vel"].astype(np.float64) * self._vel_factor).astype(np.float32)
                yield ParticleChunk(pos=pos32, vel=vel, ids=None)

    def _check_masses(self, mass: np.ndarray, start: int) -> None:
        bad = np.flatnonzero(~np.isclose(mass, self._dark_mass, rtol=MASS_RTOL, atol=0.0))
        if bad.size:
            i = start + int(bad[0])
            raise SnapshotError(
                self.path,
                f"offset {self._layout.dark_offset + i * DARK_DTYPE.itemsize} "
                f"(dark particle {i}, field mass)",
                f"equal dark-matter masses {self._dark_mass!r}",
                f"{float(mass[bad[0]])!r} ({bad.size} unequal in this chunk)",
            )

    def _check_positions(self, x: np.ndarray, start: int) -> None:
        bad_rows = np.flatnonzero(((x < -BOX_HALF) | (x > BOX_HALF) | ~np.isfinite(x)).any(axis=1))
        if bad_rows.size:
            i = start + int(bad_rows[0])
            raise PositionRangeError(
                self.path,
                f"offset {self._layout.dark_offset + i * DARK_DTYPE.itemsize} (dark particle {i}, field pos)",
                "positions in [-0.5, 0.5) box units",
                f"pos = {x[bad_rows[0]].tolist()} ({bad_rows.size} particle(s) out of range in this chunk)",
            )

    def sum_masses(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> float:
        """Exact (float64) sum of every particle mass, gas, dark and star: Omega_m for PKDGRAV3.

        Reads the whole file in chunks of ``chunk_size`` records.
        """
        layout = self._layout
        total = 0.0
        with open(self.path, "rb") as fh:
            for count, offset, dtype in (
                (layout.nsph, layout.gas_offset, GAS_DTYPE),
                (layout.ndark, layout.dark_offset, DARK_DTYPE),
                (layout.nstar, layout.star_offset, STAR_DTYPE),
            ):
                for start in range(0, count, chunk_size):
                    n = min(chunk_size, count - start)
                    rec = self._read_records(fh, offset, start, n, dtype)
                    total += float(rec["mass"].sum(dtype=np.float64))
        return total
