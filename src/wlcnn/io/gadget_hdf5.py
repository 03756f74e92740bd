"""Gadget HDF5 snapshots: Gadget-2 SnapFormat 3 and GADGET-4, single or multi-file.

Layout (one file)::

    /Header       attributes NumPart_ThisFile[6], NumPart_Total[6], (NumPart_Total_HighWord[6]),
                  MassTable[6], Time, Redshift, BoxSize, NumFilesPerSnapshot,
                  Omega0, OmegaLambda, HubbleParam (Gadget-2 only)
    /Parameters   GADGET-4 only: every run-time parameter as an attribute (Omega0, OmegaLambda,
                  HubbleParam, UnitLength_in_cm, ...)
    /PartType1    Coordinates (N, 3), Velocities (N, 3) = v_pec / sqrt(a), ParticleIDs (N,),
                  Masses (N,) only when MassTable[1] == 0

A multi-file snapshot is ``snapshot_005.0.hdf5 ... snapshot_005.K.hdf5``. Only type 1 (dark
matter) is read; the datasets are streamed with hyperslab reads straight into the arrays that
are yielded (HDF5 converts byte order and width on the way), then converted in place with the
same code as the binary reader, so every format gives bit-identical particles.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from wlcnn.io._gadget_common import (
    DM_TYPE,
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
from wlcnn.io._header_checks import (
    HeaderFields,
    check_box,
    check_header,
    check_mass_table,
    check_particle_mass,
)
from wlcnn.io.base import DEFAULT_CHUNK_SIZE, ParticleChunk, SnapshotHeader, SnapshotReader
from wlcnn.io.canonical import CANONICAL_FORMAT
from wlcnn.io.errors import ParticleCountError, SnapshotError, TruncatedFileError, UnitError

if TYPE_CHECKING:  # h5py is imported lazily: detecting other formats must not need it
    import h5py

__all__ = ["CM_PER_KPC", "GadgetHDF5Reader", "HDF5_SIGNATURE"]

#: First bytes of an HDF5 file (when it has no user block).
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: One kiloparsec in cm, Gadget's usual ``UnitLength_in_cm`` (1 kpc/h with h folded in).
CM_PER_KPC = 3.085678e21
#: Relative slack when matching ``UnitLength_in_cm`` to kpc or Mpc (parameter files print
#: the value with 6 significant digits).
UNIT_MATCH_TOLERANCE = 1e-3
#: ``UnitLength_in_cm`` in kpc for each length unit understood.
UNIT_IN_KPC: dict[str, float] = {"kpc/h": 1.0, "Mpc/h": 1000.0}

_PART = f"PartType{DM_TYPE}"
#: The header fields as Gadget names them in HDF5 (Omega0 and HubbleParam move to
#: /Parameters in GADGET-4 files; the reader substitutes the field it found).
HDF5_FIELDS = HeaderFields(
    a="/Header/Time",
    redshift="/Header/Redshift",
    omega_m="/Header/Omega0",
    hubble="/Header/HubbleParam",
    box="/Header/BoxSize",
    n_particles=f"/Header/NumPart_Total[{DM_TYPE}]",
    particle_mass=f"/Header/MassTable[{DM_TYPE}]",
)
_MULTIFILE_RE = re.compile(r"^(?P<base>.+)\.(?P<index>\d+)\.hdf5$")
_TRUNCATED_RE = re.compile(r"eof = (?P<eof>\d+).*stored_eof = (?P<stored>\d+)")
_REQUIRED_HEADER = ("NumPart_ThisFile", "NumPart_Total", "MassTable", "Time", "Redshift", "BoxSize")


def _h5py() -> Any:
    import h5py

    return h5py


@dataclass
class _HFile:
    """Header facts of one file of the snapshot."""

    path: Path
    attrs: dict[str, Any]
    npart: tuple[int, ...]
    totals: tuple[int, ...]
    num_files: int

    @property
    def n_dm(self) -> int:
        return self.npart[DM_TYPE]


def _open(path: Path) -> h5py.File:
    """Open ``path`` read-only, turning HDF5's low-level errors into :class:`SnapshotError`."""
    h5py = _h5py()
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        message = str(exc)
        match = _TRUNCATED_RE.search(message)
        if match or "truncated" in message:
            stored = match["stored"] if match else "?"
            raise TruncatedFileError(
                path,
                "HDF5 superblock end-of-file address",
                f"{stored} bytes",
                f"{path.stat().st_size} bytes ({message})",
            ) from exc
        raise SnapshotError(path, "HDF5 superblock", "a readable HDF5 file", message) from exc


def _attr(group: Any, name: str, path: Path, where: str) -> Any:
    if name not in group.attrs:
        raise SnapshotError(path, f"{where}/{name}", "the attribute", "nothing (missing)")
    return group.attrs[name]


class GadgetHDF5Reader(SnapshotReader):
    """Streaming reader of Gadget HDF5 snapshots (Gadget-2 SnapFormat 3 and GADGET-4).

    Parameters
    ----------
    path
        A file (``snapshot_005.hdf5`` or ``snapshot_005.3.hdf5``) or the base name of the
        snapshot (``snapshot_005``).
    length_unit
        Unit of positions and ``BoxSize``: ``"kpc/h"``, ``"Mpc/h"`` or None. When the file
        records ``UnitLength_in_cm`` (GADGET-4 ``/Parameters``), that decides, and a different
        explicit ``length_unit`` raises :class:`UnitError`; otherwise as the binary reader
        (None infers kpc/h when ``BoxSize`` > 5000).
    unequal_masses
        ``"error"`` or ``"mean"``: what to do when ``MassTable[1]`` is 0 and the ``Masses``
        dataset holds unequal values.
    box
        Optional expected box side in Mpc/h, checked against the header.
    step_redshifts
        Accepted and ignored (a light-cone option).

    Raises
    ------
    TruncatedFileError, ParticleCountError, UnitError, SnapshotError
        On malformed input, naming the file, the field and what was expected and found.
    """

    format = "gadget-hdf5"

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
        first_info, params = self._read_header(first, with_params=True)
        files = self._snapshot_files(first, first_info.num_files)
        infos = [first_info if f == first else self._read_header(f)[0] for f in files]
        self._check_headers(infos)
        attrs = first_info.attrs
        cosmology = {name: self._cosmology_value(attrs, params, name) for name in ("Omega0", "HubbleParam")}
        omega_m, omega_m_field = cosmology["Omega0"]
        hubble, hubble_field = cosmology["HubbleParam"]
        fields = replace(HDF5_FIELDS, omega_m=omega_m_field, hubble=hubble_field)
        # Before the datasets are looked up from the mass table and before the unit is resolved.
        check_header(
            first,
            fields,
            a=float(attrs["Time"]),
            redshift=float(attrs["Redshift"]),
            omega_m=omega_m,
            hubble=hubble,
            n_particles=first_info.totals[DM_TYPE],
        )
        check_box(first, fields.box, float(attrs["BoxSize"]), unit="in the file's length unit")
        mass_table = np.asarray(attrs["MassTable"], dtype=np.float64).reshape(-1)
        for t in range(N_TYPES):
            if first_info.totals[t]:
                check_mass_table(first, f"/Header/MassTable[{t}]", float(mass_table[t]))
        self._id_bytes = 4  # updated from the ParticleIDs dataset of any non-empty file
        for info in infos:
            self._check_datasets(info)
        self._files = infos

        unit_option = self._length_unit(first, params, attrs, length_unit)
        source = "configured" if unit_option == length_unit else "from UnitLength_in_cm"
        raw_box = float(attrs["BoxSize"])
        unit, self._length_divisor, box_mpc = resolve_length_unit(
            raw_box, unit_option, path=first, field_name="/Header/BoxSize", source=source
        )
        if box is not None and not math.isclose(box, box_mpc, rel_tol=POSITION_TOLERANCE):
            raise UnitError(first, "/Header/BoxSize", f"{box:g} Mpc/h (the box option)", f"{box_mpc:g} Mpc/h")
        self._box = box_mpc
        a = float(attrs["Time"])
        self._velocity_factor = velocity_factor(a)
        mass_file, mass_source = self._particle_mass(infos, unequal_masses)
        totals = first_info.totals
        # Only for dark-matter-only files: with baryons the dark-matter mass involves Omega_b,
        # which the header does not store.
        if (
            omega_m is not None
            and totals[DM_TYPE]
            and not any(totals[t] for t in range(N_TYPES) if t != DM_TYPE)
        ):
            check_particle_mass(
                first,
                fields.particle_mass if mass_table[DM_TYPE] > 0 else f"/{_PART}/Masses",
                mass_file * MASS_UNIT_MSUN_H,
                omega_m=omega_m,
                box=box_mpc,
                n_particles=totals[DM_TYPE],
                fields=fields,
            )
        omega_lambda, _ = self._cosmology_value(attrs, params, "OmegaLambda")
        extra: dict[str, Any] = {
            "id_bytes": self._id_bytes,
            "num_files": len(files),
            "snap_format": 3,
            "flavour": "gadget4" if params else "gadget2",
            "length_unit": unit,
            "mass_source": mass_source,
        }
        skipped = {t: totals[t] for t in range(N_TYPES) if t != DM_TYPE and totals[t]}
        if skipped:
            extra["skipped_types"] = skipped
        self.header = SnapshotHeader(
            format=self.format,
            files=tuple(files),
            n_particles=totals[DM_TYPE],
            a=a,
            redshift=float(attrs["Redshift"]),
            box=box_mpc,
            particle_mass=mass_file * MASS_UNIT_MSUN_H,
            omega_m=omega_m,
            omega_lambda=omega_lambda,
            hubble=hubble,
            has_ids=True,
            has_velocities=True,
            extra=extra,
        )

    # -- discovery ---------------------------------------------------------------------------

    @classmethod
    def sniff(cls, path: Path) -> str | None:
        """Return ``"gadget-hdf5"`` for an HDF5 file with ``/Header`` holding ``NumPart_ThisFile``.

        A file that starts with the HDF5 signature but cannot be opened (e.g. truncated) is
        claimed too, so that the reader, not "unknown format", explains what is wrong with it.
        """
        try:
            with open(path, "rb") as fh:
                signature = fh.read(len(HDF5_SIGNATURE))
            h5py = _h5py()
            if signature != HDF5_SIGNATURE and not h5py.is_hdf5(path):  # is_hdf5 handles user blocks
                return None
            try:
                f = h5py.File(path, "r")
            except OSError:
                return cls.format if signature == HDF5_SIGNATURE else None
            with f:
                header = f.get("Header")
                if isinstance(header, h5py.Group) and "NumPart_ThisFile" in header.attrs:
                    return cls.format
        except Exception:  # noqa: BLE001 - sniffing must never raise on a foreign file
            return None
        return None

    @classmethod
    def recognise(cls, path: Path) -> str | None:
        """``"gadget-hdf5"`` for any HDF5 file, however damaged: the reader says what is missing."""
        try:
            with open(path, "rb") as fh:
                signature = fh.read(len(HDF5_SIGNATURE))
            if signature == HDF5_SIGNATURE or _h5py().is_hdf5(path):
                return cls.format
        except Exception:  # noqa: BLE001 - recognising must never raise on a foreign file
            return None
        return None

    @staticmethod
    def _first_file(path: Path) -> Path:
        if path.is_file():
            return path
        for candidate in (path.with_name(path.name + ".hdf5"), path.with_name(path.name + ".0.hdf5")):
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(f"{path}: no such snapshot (nor {path.name}.hdf5 / {path.name}.0.hdf5)")

    @staticmethod
    def _snapshot_files(first: Path, num_files: int) -> list[Path]:
        if num_files <= 1:
            return [first]
        match = _MULTIFILE_RE.match(first.name)
        if match is None:
            raise ParticleCountError(
                first,
                "/Header/NumFilesPerSnapshot",
                f"a file named <base>.<k>.hdf5 ({num_files} files)",
                repr(first.name),
            )
        base = match["base"]
        files = [first.with_name(f"{base}.{k}.hdf5") for k in range(num_files)]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise ParticleCountError(
                first,
                "/Header/NumFilesPerSnapshot",
                f"{num_files} files {base}.0.hdf5 ... {base}.{num_files - 1}.hdf5",
                f"missing {missing}",
            )
        return files

    # -- header ------------------------------------------------------------------------------

    @staticmethod
    def _read_header(path: Path, *, with_params: bool = False) -> tuple[_HFile, dict[str, Any]]:
        with _open(path) as f:
            if "Header" not in f:
                # Imported here: canonical imports h5py eagerly, which detection must not need.

                found = "nothing (missing)"
                if f.attrs.get("format") == CANONICAL_FORMAT:
                    found += f": a {CANONICAL_FORMAT} file, already ingested (use it as is)"
                raise SnapshotError(path, "/Header", "a Gadget header group", found)
            group = f["Header"]
            for name in _REQUIRED_HEADER:
                _attr(group, name, path, "/Header")
            attrs = dict(group.attrs.items())
            params: dict[str, Any] = {}
            if with_params and "Parameters" in f:
                params = dict(f["Parameters"].attrs.items())
        npart = tuple(int(x) for x in np.asarray(attrs["NumPart_ThisFile"]).reshape(-1))
        low = [int(x) for x in np.asarray(attrs["NumPart_Total"]).reshape(-1)]
        # GADGET-4 stores 64-bit totals and no high words; Gadget-2 splits them in two.
        high_word = attrs.get("NumPart_Total_HighWord", np.zeros(len(low), dtype=np.uint32))
        high = [int(x) for x in np.asarray(high_word).reshape(-1)]
        if len(npart) != N_TYPES or len(low) != N_TYPES or len(high) != N_TYPES or min(npart) < 0:
            raise ParticleCountError(
                path,
                "/Header/NumPart_ThisFile",
                f"{N_TYPES} non-negative counts per attribute",
                f"NumPart_ThisFile={list(npart)}, NumPart_Total={low}",
            )
        totals = tuple(lo + (hi << 32) for lo, hi in zip(low, high, strict=True))
        num_files = int(np.asarray(attrs.get("NumFilesPerSnapshot", 1)).reshape(-1)[0])
        return _HFile(path=path, attrs=attrs, npart=npart, totals=totals, num_files=num_files), params

    @staticmethod
    def _check_headers(infos: list[_HFile]) -> None:
        f0 = infos[0]
        for info in infos[1:]:
            if info.totals != f0.totals:
                raise ParticleCountError(
                    info.path, "/Header/NumPart_Total", f"{f0.totals} as in {f0.path.name}", str(info.totals)
                )
            for name in ("Time", "BoxSize", "MassTable"):
                if not np.array_equal(info.attrs[name], f0.attrs[name]):
                    raise SnapshotError(
                        info.path,
                        f"/Header/{name}",
                        f"{f0.attrs[name]!r} as in {f0.path.name}",
                        repr(info.attrs[name]),
                    )
        for t in range(N_TYPES):
            summed = sum(info.npart[t] for info in infos)
            if summed != f0.totals[t]:
                raise ParticleCountError(
                    f0.path,
                    f"/Header/NumPart_Total[{t}]",
                    f"the sum of NumPart_ThisFile[{t}] over {len(infos)} file(s) = {summed} "
                    f"(per file {[info.npart[t] for info in infos]})",
                    str(f0.totals[t]),
                )

    def _check_datasets(self, info: _HFile) -> None:
        """Shapes of the type-1 datasets against NumPart_ThisFile[1]; record the ID width."""
        n = info.n_dm
        if n == 0:
            return
        mass_needed = float(np.asarray(info.attrs["MassTable"])[DM_TYPE]) == 0
        with _open(info.path) as f:
            for name, shape in (
                ("Coordinates", (n, NDIM)),
                ("Velocities", (n, NDIM)),
                ("ParticleIDs", (n,)),
                ("Masses", (n,)),
            ):
                if name == "Masses" and not mass_needed:
                    continue
                where = f"/{_PART}/{name}"
                if where not in f:
                    raise ParticleCountError(
                        info.path,
                        where,
                        f"a dataset of shape {shape} (NumPart_ThisFile[{DM_TYPE}] = {n})",
                        "nothing",
                    )
                if f[where].shape != shape:
                    raise ParticleCountError(
                        info.path,
                        where,
                        f"shape {shape} from /Header/NumPart_ThisFile[{DM_TYPE}]",
                        f"shape {f[where].shape}",
                    )
            self._id_bytes = int(f[f"/{_PART}/ParticleIDs"].dtype.itemsize)

    @staticmethod
    def _cosmology_value(
        attrs: dict[str, Any], params: dict[str, Any], name: str
    ) -> tuple[float | None, str]:
        """A cosmological parameter from /Header (Gadget-2) or /Parameters (GADGET-4), and its field."""
        for source, where in ((attrs, "/Header"), (params, "/Parameters")):
            if name in source:
                return float(np.asarray(source[name]).reshape(-1)[0]), f"{where}/{name}"
        return None, f"/Header/{name}"

    @staticmethod
    def _length_unit(
        path: Path, params: dict[str, Any], attrs: dict[str, Any], length_unit: str | None
    ) -> str | None:
        """Return the unit ``UnitLength_in_cm`` declares (if recorded), checked against the option."""
        for source, where in ((params, "/Parameters"), (attrs, "/Header")):
            if "UnitLength_in_cm" not in source:
                continue
            value = float(source["UnitLength_in_cm"])
            field_name = f"{where}/UnitLength_in_cm"
            declared = None
            for unit, kpc in UNIT_IN_KPC.items():
                if abs(value / (kpc * CM_PER_KPC) - 1.0) < UNIT_MATCH_TOLERANCE:
                    declared = unit
            if declared is None:
                raise UnitError(
                    path,
                    field_name,
                    " or ".join(f"{kpc * CM_PER_KPC:.6g} cm ({u})" for u, kpc in UNIT_IN_KPC.items()),
                    f"{value!r} cm",
                )
            if length_unit is not None and length_unit != declared:
                raise UnitError(
                    path,
                    field_name,
                    f"{length_unit!r} (the length_unit option)",
                    f"{value!r} cm, i.e. {declared!r}",
                )
            return declared
        return length_unit

    def _particle_mass(self, infos: list[_HFile], unequal_masses: str) -> tuple[float, str]:
        table = float(np.asarray(infos[0].attrs["MassTable"])[DM_TYPE])
        if table > 0:
            return table, f"/Header/MassTable[{DM_TYPE}]"
        lo, hi, total, count = math.inf, -math.inf, 0.0, 0
        where = f"/{_PART}/Masses"
        for info in infos:
            if info.n_dm == 0:
                continue
            with _open(info.path) as f:
                ds = f[where]
                for first in range(0, info.n_dm, DEFAULT_CHUNK_SIZE):
                    values = ds[first : first + DEFAULT_CHUNK_SIZE].astype(np.float64)
                    lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
                    total += float(values.sum())
                    count += len(values)
        if count == 0:
            return math.nan, "none (no dark-matter particles)"
        return mass_from_samples(
            lo, hi, total / count, path=infos[0].path, where=where, unequal_masses=unequal_masses
        )

    # -- streaming -------------------------------------------------------------------------------

    def iter_chunks(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[ParticleChunk]:
        """Yield dark-matter particles in file order, at most ``chunk_size`` per chunk."""
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, not {chunk_size}")
        for info in self._files:
            if info.n_dm == 0:
                continue
            with _open(info.path) as f:
                group = f[_PART]
                coords, vels, pids = group["Coordinates"], group["Velocities"], group["ParticleIDs"]
                for first in range(0, info.n_dm, chunk_size):
                    stop = min(first + chunk_size, info.n_dm)
                    n = stop - first
                    pos = np.empty((n, NDIM), dtype=np.float32)
                    vel = np.empty((n, NDIM), dtype=np.float32)
                    ids = np.empty(n, dtype=np.uint64)
                    sel = np.s_[first:stop]
                    try:
                        coords.read_direct(pos, source_sel=sel)
                        vels.read_direct(vel, source_sel=sel)
                        pids.read_direct(ids, source_sel=sel)
                    except OSError as exc:
                        raise SnapshotError(
                            info.path, f"/{_PART} rows {first}:{stop}", "readable datasets", str(exc)
                        ) from exc
                    to_canonical(
                        pos, vel, length_divisor=self._length_divisor, velocity_factor=self._velocity_factor
                    )
                    check_positions(
                        pos, self._box, path=info.path, first_index=first, where=f"/{_PART}/Coordinates"
                    )
                    yield ParticleChunk(pos=pos, vel=vel, ids=ids)
