"""Gadget-2 binary snapshots (SnapFormat 1 and 2): the streaming reader.

Layout of one file (SnapFormat 1)::

    [256][header: 256 bytes][256]
    [12 N][POS: float32 x,y,z per particle, types 0..5 in order][12 N]
    [12 N][VEL: float32 u = v_pec / sqrt(a)][12 N]
    [4 N or 8 N][ID: uint32 or uint64][same]
    [4 M][MASS: float32, only types with MassTable[t] == 0 and N_t > 0][4 M]   (optional)
    ... gas-only blocks (U, RHO, HSML, ...) which are never needed here

where every ``[n]`` is a 4-byte Fortran record marker holding the size of the record it wraps.
SnapFormat 2 puts an extra 8-byte record ``[8]["POS " + int32 (record size + 8)][8]`` before
each block. ``N`` counts the particles of all types in *this* file; a snapshot may be split
over ``snapshot_005.0 ... snapshot_005.K`` (``NumFiles`` in the header).

The reader validates the whole structure (markers, labels, counts, file sizes) when it is
constructed, then streams type-1 (dark matter) particles with ``seek`` + ``readinto`` into
freshly allocated arrays of at most ``chunk_size`` rows, so memory is bounded by a few chunks
whatever the snapshot size. Positions are converted to comoving Mpc/h, velocities from
Gadget's ``u = v_pec / sqrt(a)`` to peculiar km/s, the mass from 1e10 M_sun/h to M_sun/h.

The writer lives in :mod:`wlcnn.io.gadget_writer` (re-exported here), the unit conversions
and checks shared with the HDF5 reader in :mod:`wlcnn.io._gadget_common`.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
import numpy.typing as npt

from wlcnn.io._gadget_common import (
    BOX_RANGE_MPC,
    DM_TYPE,
    KPC_BOX_THRESHOLD,
    MASS_UNIT_MSUN_H,
    N_TYPES,
    NDIM,
    POSITION_TOLERANCE,
    LengthUnit,
    check_positions,
    check_unequal_masses_option,
    mass_from_samples,
    resolve_length_unit,
    to_canonical,
    velocity_factor,
)
from wlcnn.io._gadget_records import (
    BYTEORDER_NAMES,
    FLOAT_WIDTHS,
    FMT2_LABEL_PAYLOAD,
    FMT2_LABEL_RECORD,
    HEADER_BYTES,
    ID_WIDTHS,
    MARKER_BYTES,
    MARKER_MODULUS,
    gadget_header_dtype,
)
from wlcnn.io._header_checks import (
    HeaderFields,
    check_box,
    check_header,
    check_mass_table,
    check_particle_mass,
)
from wlcnn.io.base import DEFAULT_CHUNK_SIZE, ParticleChunk, SnapshotHeader, SnapshotReader
from wlcnn.io.errors import (
    ParticleCountError,
    RecordMarkerError,
    SnapshotError,
    TruncatedFileError,
    UnitError,
    UnknownFormatError,
)
from wlcnn.io.gadget_writer import write_gadget_snapshot

__all__ = [
    "BOX_RANGE_MPC",
    "GadgetBinaryReader",
    "KPC_BOX_THRESHOLD",
    "LengthUnit",
    "MASS_UNIT_MSUN_H",
    "POSITION_TOLERANCE",
    "gadget_header_dtype",
    "write_gadget_snapshot",
]

#: The header fields as Gadget-2 names them (``io_header`` in its documentation).
GADGET_BINARY_FIELDS = HeaderFields(
    a="Header/Time",
    redshift="Header/Redshift",
    omega_m="Header/Omega0",
    hubble="Header/HubbleParam",
    box="Header/BoxSize",
    n_particles=f"Header/NumPart_Total[{DM_TYPE}]",
    particle_mass=f"Header/MassTable[{DM_TYPE}]",
)

_MULTIFILE_RE = re.compile(r"^(?P<base>.+)\.(?P<index>\d+)$")


# --------------------------------------------------------------------------------------------
# Reader
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Block:
    """Where one block's payload lies in a file."""

    label: str
    start: int  # byte offset of the payload (after the opening marker)
    nbytes: int


@dataclass
class _FileLayout:
    """Everything needed to stream one file of a snapshot."""

    path: Path
    size: int
    header: np.void
    npart: tuple[int, ...]
    blocks: dict[str, _Block] = field(default_factory=dict)
    id_bytes: int = 4
    float_bytes: int = 4

    @property
    def n_dm(self) -> int:
        return self.npart[DM_TYPE]

    @property
    def n_in_file(self) -> int:
        return sum(self.npart)

    @property
    def n_before_dm(self) -> int:
        """Rows of lower types that precede dark matter in the POS/VEL/ID blocks."""
        return sum(self.npart[:DM_TYPE])


def _sniff_bytes(head: bytes, *, strict: bool = True) -> tuple[str, str] | None:
    """Format name and byte order of a Gadget binary file from its first bytes, else None.

    ``strict`` also requires the closing marker of the first record, which keeps foreign
    binary files whose first word happens to be 256 or 8 from being claimed.
    """
    if len(head) < MARKER_BYTES:
        return None
    for order in ("<", ">"):
        (first,) = struct.unpack(f"{order}I", head[:MARKER_BYTES])
        if first == HEADER_BYTES:
            close = HEADER_BYTES + MARKER_BYTES
            # Too short to confirm (or not asked to): let the reader report what is wrong.
            if len(head) < close + MARKER_BYTES or not strict:
                return "gadget1", order
            (closing,) = struct.unpack(f"{order}I", head[close : close + MARKER_BYTES])
            if closing == HEADER_BYTES:
                return "gadget1", order
        if first == FMT2_LABEL_PAYLOAD and head[MARKER_BYTES : 2 * MARKER_BYTES] == b"HEAD":
            close = MARKER_BYTES + FMT2_LABEL_PAYLOAD
            if len(head) < close + MARKER_BYTES or not strict:
                return "gadget2", order
            (closing,) = struct.unpack(f"{order}I", head[close : close + MARKER_BYTES])
            if closing == FMT2_LABEL_PAYLOAD:
                return "gadget2", order
    if not strict and len(head) >= HEADER_BYTES + 2 * MARKER_BYTES:
        # A damaged opening marker with the header record's closing marker intact.
        close = HEADER_BYTES + MARKER_BYTES
        for order in ("<", ">"):
            if struct.unpack(f"{order}I", head[close : close + MARKER_BYTES])[0] == HEADER_BYTES:
                return "gadget1", order
    return None


def _read_head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(FMT2_LABEL_RECORD + HEADER_BYTES + 2 * MARKER_BYTES)


def _sniff_file(path: Path, *, strict: bool = True) -> tuple[str, str] | None:
    try:
        head = _read_head(path)
    except OSError:
        return None
    return _sniff_bytes(head, strict=strict)


def _read_exact(fh: BinaryIO, offset: int, buf: np.ndarray, *, path: Path, where: str) -> None:
    """Fill the native, C-contiguous ``buf`` with the bytes at ``offset`` (no extra copy)."""
    fh.seek(offset)
    view = memoryview(buf).cast("B")  # type: ignore[arg-type]  # ndarray has the buffer protocol; the stubs omit it on 3.11
    total = view.nbytes
    got = 0
    while got < total:  # a single read() returns at most ~2 GiB on Linux
        n = fh.readinto(view[got:])  # type: ignore[attr-defined]  # open(..., "rb") files have it; BinaryIO omits it
        if not n:
            raise TruncatedFileError(
                path, f"{where}, offset {offset + got}", f"{total} bytes", f"end of file after {got} bytes"
            )
        got += n


def _unpack_u32(raw: bytes, order: str) -> int:
    return int(struct.unpack(f"{order}I", raw)[0])


def _byte_order_hint(marker: int, expected: Collection[int], order: str) -> str:
    """Say so when a wrong marker is an expected one in the other byte order (mixed byte order)."""
    swapped = int.from_bytes(marker.to_bytes(MARKER_BYTES, "little"), "big")
    if marker in expected or swapped not in expected:
        return ""
    other = BYTEORDER_NAMES[">" if order == "<" else "<"]
    return f" (= {swapped} read {other}-endian: the file mixes byte orders)"


class GadgetBinaryReader(SnapshotReader):
    """Streaming reader of Gadget-2 SnapFormat 1 and 2 snapshots (single or multi-file).

    Parameters
    ----------
    path
        A file, the base name of a multi-file snapshot (``snapshot_005`` for
        ``snapshot_005.0 ... .K``) or any one of its files.
    length_unit
        Unit of positions and ``BoxSize`` in the file: ``"kpc/h"``, ``"Mpc/h"`` or None to infer
        it (``BoxSize`` > 5000 means kpc/h).
    unequal_masses
        When the mass table is 0 and masses come from the MASS block: ``"error"`` (default)
        requires all dark-matter masses to be equal, ``"mean"`` uses their mean and records the
        spread in ``header.extra["mass_source"]``.
    box
        Optional expected box side in Mpc/h (the option tipsy files need); when given, the
        header's box must agree to 1e-6, else :class:`UnitError`.
    step_redshifts
        Accepted and ignored (a light-cone option), so that one option set can be passed to
        :func:`wlcnn.io.open_snapshot` for any format.

    Raises
    ------
    TruncatedFileError, RecordMarkerError, ParticleCountError, UnitError, UnknownFormatError
        On malformed input; every message names the file, the offset or field, the expected
        and the found value.
    """

    format = "gadget1"

    def __init__(
        self,
        path: str | Path,
        *,
        length_unit: LengthUnit | None = None,
        unequal_masses: Literal["error", "mean"] = "error",
        box: float | None = None,
        step_redshifts: object = None,
    ) -> None:
        del step_redshifts  # not meaningful for snapshots; accepted for a uniform option set
        check_unequal_masses_option(unequal_masses)
        first = self._first_file(Path(path))
        sniffed = _sniff_file(first)
        if sniffed is None:
            # Looser than sniff(): trust the first marker alone, so that a damaged header is
            # reported as such (RecordMarkerError) rather than as an unknown format.
            sniffed = _sniff_bytes(_read_head(first), strict=False)
        if sniffed is None:
            with open(first, "rb") as fh:
                head = fh.read(16)
            raise UnknownFormatError(
                first,
                "offset 0",
                "a Gadget-2 record marker 256 (format 1) or 8 + 'HEAD' (format 2)",
                repr(head),
            )
        self.format, self._order = sniffed
        self._snap_format = 1 if self.format == "gadget1" else 2

        first_layout = self._read_header(first)
        files = self._snapshot_files(first, int(first_layout.header["num_files"]))
        layouts = [first_layout if f == first else self._read_header(f) for f in files]
        self._check_headers(layouts)
        h0 = layouts[0].header
        totals = self._totals(h0)
        # Before the blocks are planned from the mass table and before the unit is resolved,
        # so that a NaN or negative fact is named as such rather than failing later.
        check_header(
            files[0],
            GADGET_BINARY_FIELDS,
            a=float(h0["time"]),
            redshift=float(h0["redshift"]),
            omega_m=float(h0["omega0"]),
            hubble=float(h0["hubble"]),
            n_particles=totals[DM_TYPE],
        )
        check_box(files[0], GADGET_BINARY_FIELDS.box, float(h0["box"]), unit="in the file's length unit")
        for t in range(N_TYPES):
            if totals[t]:
                check_mass_table(files[0], f"Header/MassTable[{t}]", float(h0["mass"][t]))
        for lay in layouts:
            self._scan_blocks(lay)
        self._layouts = layouts
        id_widths = {lay.id_bytes for lay in layouts if lay.n_in_file}
        float_widths = {lay.float_bytes for lay in layouts if lay.n_in_file}
        if len(id_widths) > 1 or len(float_widths) > 1:
            raise RecordMarkerError(
                files[-1],
                "blocks ID/POS",
                "the same ID and float widths in every file",
                f"{id_widths} / {float_widths}",
            )
        self._id_bytes = id_widths.pop() if id_widths else ID_WIDTHS[0]
        self._float_bytes = float_widths.pop() if float_widths else FLOAT_WIDTHS[0]

        unit, self._length_divisor, box_mpc = resolve_length_unit(
            float(h0["box"]), length_unit, path=files[0]
        )
        if box is not None and not math.isclose(box, box_mpc, rel_tol=POSITION_TOLERANCE):
            raise UnitError(
                files[0], "Header/BoxSize", f"{box:g} Mpc/h (the box option)", f"{box_mpc:g} Mpc/h"
            )
        self._box = box_mpc
        a = float(h0["time"])
        self._velocity_factor = velocity_factor(a)
        mass_file, mass_source = self._particle_mass(layouts, unequal_masses)

        skipped = {t: totals[t] for t in range(N_TYPES) if t != DM_TYPE and totals[t]}
        # With gas or stars the dark-matter mass is (Omega_m - Omega_b) rho_crit L^3 / N and
        # Omega_b is not in the header: the mass is only checked for dark-matter-only files.
        if not skipped and totals[DM_TYPE]:
            check_particle_mass(
                files[0],
                GADGET_BINARY_FIELDS.particle_mass if float(h0["mass"][DM_TYPE]) > 0 else "block MASS",
                mass_file * MASS_UNIT_MSUN_H,
                omega_m=float(h0["omega0"]),
                box=box_mpc,
                n_particles=totals[DM_TYPE],
                fields=GADGET_BINARY_FIELDS,
            )
        extra: dict[str, Any] = {
            "id_bytes": self._id_bytes,
            "byteorder": BYTEORDER_NAMES[self._order],
            "num_files": len(files),
            "snap_format": self._snap_format,
            "length_unit": unit,
            "float_bytes": self._float_bytes,
            "mass_source": mass_source,
        }
        if skipped:
            extra["skipped_types"] = skipped
        self.header = SnapshotHeader(
            format=self.format,
            files=tuple(files),
            n_particles=totals[DM_TYPE],
            a=a,
            redshift=float(h0["redshift"]),
            box=box_mpc,
            particle_mass=mass_file * MASS_UNIT_MSUN_H,
            omega_m=float(h0["omega0"]),
            omega_lambda=float(h0["omega_lambda"]),
            hubble=float(h0["hubble"]),
            has_ids=True,
            has_velocities=True,
            extra=extra,
        )

    # -- discovery ---------------------------------------------------------------------------

    @classmethod
    def sniff(cls, path: Path) -> str | None:
        """Return ``"gadget1"`` or ``"gadget2"`` when ``path`` starts like a Gadget-2 file."""
        found = _sniff_file(Path(path))
        return None if found is None else found[0]

    @classmethod
    def recognise(cls, path: Path) -> str | None:
        """Like :meth:`sniff`, but one intact marker of the header record is enough.

        A file whose first marker is 256 (or ``8`` + ``"HEAD"``), or whose header record ends
        with the marker 256, in either byte order, is a Gadget file however damaged the rest.
        """
        found = _sniff_file(Path(path), strict=False)
        return None if found is None else found[0]

    @staticmethod
    def _first_file(path: Path) -> Path:
        if path.is_file():
            return path
        zeroth = path.with_name(path.name + ".0")
        if zeroth.is_file():
            return zeroth
        raise FileNotFoundError(f"{path}: no such snapshot (nor {zeroth.name})")

    @staticmethod
    def _snapshot_files(first: Path, num_files: int) -> list[Path]:
        if num_files <= 1:  # some IC generators write 0 for a single file
            return [first]
        match = _MULTIFILE_RE.match(first.name)
        if match is None:
            raise ParticleCountError(
                first,
                "Header/NumFiles",
                f"a file named <base>.<k> (NumFiles = {num_files})",
                repr(first.name),
            )
        base = match["base"]
        files = [first.with_name(f"{base}.{k}") for k in range(num_files)]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise ParticleCountError(
                first,
                "Header/NumFiles",
                f"{num_files} files {base}.0 ... {base}.{num_files - 1}",
                f"missing {missing}",
            )
        return files

    # -- header and structure ------------------------------------------------------------------

    def _read_header(self, path: Path) -> _FileLayout:
        size = path.stat().st_size
        sniffed = _sniff_file(path, strict=False)
        if sniffed != (self.format, self._order):
            found = (
                "not a Gadget binary file" if sniffed is None else f"{sniffed[0]}, byte order {sniffed[1]!r}"
            )
            raise RecordMarkerError(
                path, "offset 0", f"{self.format} with byte order {self._order!r} like the first file", found
            )
        offset = FMT2_LABEL_RECORD if self._snap_format == 2 else 0
        needed = offset + HEADER_BYTES + 2 * MARKER_BYTES
        if size < needed:
            raise TruncatedFileError(
                path, f"block HEAD at offset {offset}", f"at least {needed} bytes", f"{size} bytes"
            )
        with open(path, "rb") as fh:
            fh.seek(offset)
            raw = fh.read(HEADER_BYTES + 2 * MARKER_BYTES)
            if self._snap_format == 2:
                fh.seek(0)
                self._check_label(path, fh.read(FMT2_LABEL_RECORD), 0, "HEAD", HEADER_BYTES)
        opening = _unpack_u32(raw[:MARKER_BYTES], self._order)
        closing = _unpack_u32(raw[-MARKER_BYTES:], self._order)
        if opening != HEADER_BYTES or closing != HEADER_BYTES:
            hints = "".join(_byte_order_hint(m, (HEADER_BYTES,), self._order) for m in (opening, closing))
            raise RecordMarkerError(
                path,
                f"block HEAD markers at offsets {offset} and {offset + HEADER_BYTES + MARKER_BYTES}",
                f"{HEADER_BYTES} and {HEADER_BYTES}",
                f"{opening} and {closing}{hints}",
            )
        header = np.frombuffer(raw[MARKER_BYTES:-MARKER_BYTES], dtype=gadget_header_dtype(self._order))[0]
        npart = tuple(int(n) for n in header["npart"])
        if min(npart) < 0:
            raise ParticleCountError(path, "Header/NumPart_ThisFile", "non-negative counts", str(npart))
        return _FileLayout(path=path, size=size, header=header, npart=npart)

    @staticmethod
    def _totals(header: np.void) -> tuple[int, ...]:
        """NumPart_Total with the high words (snapshots of more than 2**32 particles) added."""
        return tuple(
            int(lo) + (int(hi) << 32)
            for lo, hi in zip(header["npart_total"], header["npart_total_highword"], strict=True)
        )

    def _check_headers(self, layouts: list[_FileLayout]) -> None:
        """Cross-file consistency: totals, counts, time, box and mass table."""
        h0 = layouts[0].header
        totals = self._totals(h0)
        for lay in layouts[1:]:
            h = lay.header
            if self._totals(h) != totals:
                raise ParticleCountError(
                    lay.path,
                    "Header/NumPart_Total",
                    f"{totals} as in {layouts[0].path.name}",
                    str(self._totals(h)),
                )
            for name, label in (("time", "Time"), ("box", "BoxSize"), ("num_files", "NumFiles")):
                if h[name] != h0[name]:
                    raise SnapshotError(
                        lay.path,
                        f"Header/{label}",
                        f"{h0[name]!r} as in {layouts[0].path.name}",
                        repr(h[name]),
                    )
            if not np.array_equal(h["mass"], h0["mass"]):
                raise SnapshotError(
                    lay.path,
                    "Header/MassTable",
                    f"{h0['mass'].tolist()} as in {layouts[0].path.name}",
                    str(h["mass"].tolist()),
                )
        summed = [sum(lay.npart[t] for lay in layouts) for t in range(N_TYPES)]
        for t in range(N_TYPES):
            if summed[t] != totals[t]:
                per_file = [lay.npart[t] for lay in layouts]
                raise ParticleCountError(
                    layouts[0].path,
                    f"Header/NumPart_Total[{t}]",
                    f"the sum of NumPart_ThisFile[{t}] over {len(layouts)} file(s) = {summed[t]} "
                    f"(per file {per_file})",
                    f"{totals[t]}",
                )

    def _check_label(self, path: Path, raw: bytes, offset: int, label: str, payload: int | None) -> None:
        """Validate one SnapFormat-2 label record ``[8][label, payload + 8][8]``.

        ``payload`` None skips the size field (checked later, once the item width is known).
        """
        m1, name, next_size, m2 = struct.unpack(f"{self._order}I4sII", raw)
        if m1 != FMT2_LABEL_PAYLOAD or m2 != FMT2_LABEL_PAYLOAD:
            raise RecordMarkerError(
                path,
                f"format-2 label record of block {label.strip()} at offset {offset}",
                f"markers {FMT2_LABEL_PAYLOAD} and {FMT2_LABEL_PAYLOAD}",
                f"{m1} and {m2}",
            )
        if name != label.encode("ascii"):
            raise RecordMarkerError(
                path,
                f"format-2 block label at offset {offset + MARKER_BYTES}",
                repr(label),
                repr(name.decode("latin-1")),
            )
        if payload is None:
            return
        expected_next = (payload + 2 * MARKER_BYTES) % MARKER_MODULUS
        if next_size != expected_next:
            raise RecordMarkerError(
                path,
                f"format-2 label {label.strip()}: size field at offset {offset + 2 * MARKER_BYTES}",
                f"{expected_next} (block of {payload} bytes + 8)",
                str(next_size),
            )

    def _planned_blocks(self, lay: _FileLayout, id_bytes: int, float_bytes: int) -> list[tuple[str, int]]:
        """List the blocks the header announces for this file, as (label, payload bytes)."""
        n = lay.n_in_file
        if n == 0:  # Gadget writes no particle block at all for an empty file
            return []
        blocks = [("POS ", NDIM * float_bytes * n), ("VEL ", NDIM * float_bytes * n), ("ID  ", id_bytes * n)]
        n_mass = self._n_mass_rows(lay)
        if n_mass:
            blocks.append(("MASS", float_bytes * n_mass))
        return blocks

    @staticmethod
    def _n_mass_rows(lay: _FileLayout) -> int:
        mass = lay.header["mass"]
        return sum(lay.npart[t] for t in range(N_TYPES) if lay.npart[t] > 0 and mass[t] == 0)

    def _block_overhead(self) -> int:
        return 2 * MARKER_BYTES + (FMT2_LABEL_RECORD if self._snap_format == 2 else 0)

    def _check_size(self, lay: _FileLayout, id_bytes: int, float_bytes: int) -> None:
        """Compare the file size with the blocks the header announces, before reading them."""
        offset = self._block_overhead() + HEADER_BYTES
        for label, nbytes in self._planned_blocks(lay, id_bytes, float_bytes):
            end = offset + self._block_overhead() + nbytes
            if lay.size < end:
                raise TruncatedFileError(
                    lay.path,
                    f"block {label.strip()} at offset {offset} (file ends at offset {lay.size})",
                    f"at least {self._required_size(lay, id_bytes, float_bytes)} bytes for "
                    f"NumPart_ThisFile = {list(lay.npart)}",
                    f"{lay.size} bytes",
                )
            offset = end

    def _required_size(self, lay: _FileLayout, id_bytes: int, float_bytes: int) -> int:
        return (
            self._block_overhead()
            + HEADER_BYTES
            + sum(self._block_overhead() + nb for _, nb in self._planned_blocks(lay, id_bytes, float_bytes))
        )

    def _scan_blocks(self, lay: _FileLayout) -> None:
        """Locate POS, VEL, ID (and MASS) and validate every marker and label on the way."""
        # Smallest widths first: a file shorter than even that is certainly truncated.
        self._check_size(lay, ID_WIDTHS[0], FLOAT_WIDTHS[0])
        offset = self._block_overhead() + HEADER_BYTES
        n = lay.n_in_file
        if n == 0:
            return
        with open(lay.path, "rb") as fh:
            # None: the width POS established (VEL and MASS share the float width of POS).
            for label, per_row, allowed in (
                ("POS ", NDIM * n, FLOAT_WIDTHS),
                ("VEL ", NDIM * n, None),
                ("ID  ", n, ID_WIDTHS),
                ("MASS", self._n_mass_rows(lay), None),
            ):
                if per_row == 0:
                    continue
                widths = (lay.float_bytes,) if allowed is None else allowed
                block, width = self._read_block(fh, lay, offset, label, per_row, widths=widths)
                lay.blocks[label.strip()] = block
                if label == "POS ":
                    lay.float_bytes = width
                elif label == "ID  ":
                    lay.id_bytes = width
                # Widths are known now; recheck the size with them before going further.
                self._check_size(lay, lay.id_bytes, lay.float_bytes)
                offset = block.start + block.nbytes + MARKER_BYTES

    def _read_block(
        self,
        fh: BinaryIO,
        lay: _FileLayout,
        offset: int,
        label: str,
        n_items: int,
        *,
        widths: tuple[int, ...],
    ) -> tuple[_Block, int]:
        """Validate the (label and) markers of the block at ``offset``; return it and its item width."""
        o = self._order
        name = label.strip()
        if self._snap_format == 2:
            fh.seek(offset)
            raw_label = fh.read(FMT2_LABEL_RECORD)
            self._check_label(lay.path, raw_label, offset, label, None)
            offset += FMT2_LABEL_RECORD
        fh.seek(offset)
        opening = _unpack_u32(fh.read(MARKER_BYTES), o)
        candidates = {(w * n_items) % MARKER_MODULUS: w for w in widths}
        if opening not in candidates:
            expected = " or ".join(f"{w * n_items} ({w}-byte items)" for w in widths)
            raise RecordMarkerError(
                lay.path,
                f"opening marker of block {name} at offset {offset}",
                f"{expected} for {n_items} items from the header NumPart_ThisFile = {list(lay.npart)}",
                f"{opening}{_byte_order_hint(opening, candidates, o)}",
            )
        width = candidates[opening]
        nbytes = width * n_items
        if self._snap_format == 2:
            self._check_label(lay.path, raw_label, offset - FMT2_LABEL_RECORD, label, nbytes)
        end = offset + MARKER_BYTES + nbytes
        if lay.size < end + MARKER_BYTES:
            raise TruncatedFileError(
                lay.path,
                f"block {name} at offset {offset}",
                f"{end + MARKER_BYTES} bytes",
                f"{lay.size} bytes",
            )
        fh.seek(end)
        closing = _unpack_u32(fh.read(MARKER_BYTES), o)
        if closing != opening:
            raise RecordMarkerError(
                lay.path,
                f"closing marker of block {name} at offset {end}",
                f"{opening} (the opening marker at offset {offset})",
                f"{closing}{_byte_order_hint(closing, (opening,), o)}",
            )
        return _Block(label=name, start=offset + MARKER_BYTES, nbytes=nbytes), width

    def _particle_mass(self, layouts: list[_FileLayout], unequal_masses: str) -> tuple[float, str]:
        """Return the dark-matter particle mass in 1e10 M_sun/h (mass table or MASS block)."""
        table = float(layouts[0].header["mass"][DM_TYPE])
        if table > 0:
            return table, f"Header/MassTable[{DM_TYPE}]"
        lo, hi, total, count = math.inf, -math.inf, 0.0, 0
        dtype = np.dtype(f"{self._order}f{self._float_bytes}")
        for lay in layouts:
            if lay.n_dm == 0:
                continue
            block = lay.blocks["MASS"]
            mass = lay.header["mass"]
            rows_before = sum(lay.npart[t] for t in range(DM_TYPE) if lay.npart[t] > 0 and mass[t] == 0)
            start = block.start + rows_before * self._float_bytes
            with open(lay.path, "rb", buffering=0) as fh:
                for first in range(0, lay.n_dm, DEFAULT_CHUNK_SIZE):
                    n = min(DEFAULT_CHUNK_SIZE, lay.n_dm - first)
                    buf = np.empty(n, dtype=f"f{self._float_bytes}")
                    _read_exact(fh, start + first * self._float_bytes, buf, path=lay.path, where="block MASS")
                    values = buf.view(dtype).astype(np.float64)
                    lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
                    total += float(values.sum())
                    count += n
        if count == 0:
            return math.nan, "none (no dark-matter particles)"
        return mass_from_samples(
            lo, hi, total / count, path=layouts[0].path, where="block MASS", unequal_masses=unequal_masses
        )

    # -- streaming -------------------------------------------------------------------------------

    def iter_chunks(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[ParticleChunk]:
        """Yield dark-matter particles in file order, at most ``chunk_size`` per chunk.

        Each chunk is read with one seek + ``readinto`` per block straight into the arrays that
        are yielded (fresh for every chunk, so a consumer may keep them), converted in place.
        A chunk never spans two files.
        """
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, not {chunk_size}")
        swap = self._order != "<" if np.little_endian else self._order != ">"
        fb, ib = self._float_bytes, self._id_bytes
        biggest = min(chunk_size, max((lay.n_dm for lay in self._layouts), default=0))
        # Scratch buffers are never yielded, so one per iteration is enough.
        id_scratch = np.empty(biggest, dtype=np.uint32) if ib == ID_WIDTHS[0] else None
        f8_scratch = np.empty((biggest, NDIM), dtype=np.float64) if fb == FLOAT_WIDTHS[1] else None
        for lay in self._layouts:
            if lay.n_dm == 0:
                continue
            skip = lay.n_before_dm
            pos_start = lay.blocks["POS"].start + skip * NDIM * fb
            vel_start = lay.blocks["VEL"].start + skip * NDIM * fb
            id_start = lay.blocks["ID"].start + skip * ib
            with open(lay.path, "rb", buffering=0) as fh:
                for first in range(0, lay.n_dm, chunk_size):
                    n = min(chunk_size, lay.n_dm - first)
                    step = first * NDIM * fb
                    pos = self._read_floats(
                        fh, pos_start + step, n, lay.path, where="block POS", swap=swap, f8_scratch=f8_scratch
                    )
                    vel = self._read_floats(
                        fh, vel_start + step, n, lay.path, where="block VEL", swap=swap, f8_scratch=f8_scratch
                    )
                    ids = np.empty(n, dtype=np.uint64)
                    if id_scratch is None:
                        _read_exact(fh, id_start + first * ib, ids, path=lay.path, where="block ID")
                        if swap:
                            ids.byteswap(inplace=True)
                    else:
                        scratch = id_scratch[:n]
                        _read_exact(fh, id_start + first * ib, scratch, path=lay.path, where="block ID")
                        if swap:
                            scratch.byteswap(inplace=True)
                        np.copyto(ids, scratch)  # widen to the canonical uint64
                    to_canonical(
                        pos, vel, length_divisor=self._length_divisor, velocity_factor=self._velocity_factor
                    )
                    check_positions(
                        pos,
                        self._box,
                        path=lay.path,
                        first_index=first,
                        where=f"block POS at offset {pos_start + first * NDIM * fb}",
                    )
                    yield ParticleChunk(pos=pos, vel=vel, ids=ids)

    @staticmethod
    def _read_floats(
        fh: BinaryIO,
        offset: int,
        n: int,
        path: Path,
        *,
        where: str,
        swap: bool,
        f8_scratch: npt.NDArray[np.float64] | None,
    ) -> npt.NDArray[np.float32]:
        out = np.empty((n, NDIM), dtype=np.float32)
        if f8_scratch is None:
            _read_exact(fh, offset, out, path=path, where=where)
            if swap:
                out.byteswap(inplace=True)
            return out
        scratch = f8_scratch[:n]
        _read_exact(fh, offset, scratch, path=path, where=where)
        if swap:
            scratch.byteswap(inplace=True)
        np.copyto(out, scratch, casting="same_kind")
        return out
