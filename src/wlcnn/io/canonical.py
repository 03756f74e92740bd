"""The canonical ingested snapshot: one HDF5 file per snapshot, whatever code wrote it.

Layout (``format = "wlcnn.snapshot"``, ``format_version = 1``)::

    /                      attrs: format, format_version, redshift, a, box, particle_mass,
                                  n_particles, omega_m, omega_lambda, h, sigma8, omega_b, n_s,
                                  source_format, source_reader, units (JSON), provenance (JSON)
    /particles/pos         float32 (N, 3) comoving Mpc/h, in [0, box) for snapshots;
                           relative to the observer for light-cone particles
    /particles/ids         uint64 (N,)     where the source format has IDs
    /particles/vel         float32 (N, 3)  peculiar km/s, only with keep_velocities
    /healpix/counts        int64 (12 nside^2,) RING, for HEALPix light-cone shells instead of
                           /particles

Positions are streamed from the reader into chunked, pre-sized datasets, so memory is a small
multiple of one chunk. The file is written under a temporary name and renamed at the end:
a failure (bad input, time-out) leaves no output and never damages an existing file.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from wlcnn.atomic import atomic_path
from wlcnn.io.base import DEFAULT_CHUNK_SIZE, SnapshotHeader, SnapshotReader
from wlcnn.io.errors import ParticleCountError, RedshiftOrderError, SnapshotError

__all__ = [
    "CANONICAL_FORMAT",
    "CANONICAL_VERSION",
    "UNITS",
    "CosmologyMismatchError",
    "check_box",
    "check_cosmology",
    "check_redshift_series",
    "describe_canonical",
    "is_canonical_file",
    "read_canonical_header",
    "write_canonical",
]

CANONICAL_FORMAT = "wlcnn.snapshot"
CANONICAL_VERSION = 1
UNITS = {"pos": "comoving Mpc/h", "vel": "peculiar km/s", "box": "Mpc/h", "particle_mass": "M_sun/h"}
#: Relative tolerance on Ωm and h between a file's header and the grid entry it is ingested as.
COSMOLOGY_RTOL = 1e-3
_H5_CHUNK_ROWS = 1 << 16  # HDF5 storage chunk: 768 kB of float32 positions
#: Root attributes :func:`write_canonical` always writes (``sigma8``, ``omega_b``, ``n_s`` are optional).
_REQUIRED_ATTRS = (
    "format_version",
    "redshift",
    "a",
    "box",
    "particle_mass",
    "n_particles",
    "omega_m",
    "omega_lambda",
    "h",
    "source_format",
    "units",
    "provenance",
    "source_header",
)
#: Root attributes stored as JSON text.
_JSON_ATTRS = ("units", "provenance", "source_header")
#: HEALPix maps have 12 nside^2 pixels.
HEALPIX_BASE_PIXELS = 12


class CosmologyMismatchError(SnapshotError):
    """The cosmology stored in a file disagrees with the grid entry it was filed under."""


def check_cosmology(header: SnapshotHeader, cosmology: Mapping[str, float]) -> None:
    """Raise :class:`CosmologyMismatchError` if header and configured cosmology disagree.

    Catches snapshots mislabeled by directory: the one file of cosmology A sitting in the
    folder of cosmology B.
    """
    pairs = (("omega_m", header.omega_m, cosmology.get("omega_m")), ("h", header.hubble, cosmology.get("h")))
    for name, found, expected in pairs:
        if found is None or expected is None:
            continue
        if not math.isclose(found, expected, rel_tol=COSMOLOGY_RTOL):
            raise CosmologyMismatchError(
                header.files[0], f"header {name}", f"{expected} (from the cosmology grid)", f"{found}"
            )


def check_box(header: SnapshotHeader, box: float | None) -> None:
    """Raise :class:`CosmologyMismatchError` if the header's box differs from the configured one."""
    if box is None or not math.isfinite(header.box):
        return
    if not math.isclose(header.box, box, rel_tol=COSMOLOGY_RTOL):
        raise CosmologyMismatchError(
            header.files[0], "header box size", f"{box} Mpc/h (simulations.box_size)", f"{header.box} Mpc/h"
        )


def check_redshift_series(
    headers: Sequence[SnapshotHeader], *, requested: Sequence[float] | None = None, tolerance: float = 0.0
) -> None:
    """Check that a simulation's snapshots have strictly decreasing redshifts.

    With ``requested``, each header redshift must also be within ``tolerance`` of the requested
    one (codes write at the first step past a requested z, so a small tolerance is normal).
    """
    for prev, cur in itertools.pairwise(headers):
        if not cur.redshift < prev.redshift:
            raise RedshiftOrderError(
                cur.files[0],
                "header redshift",
                f"a redshift below that of the previous snapshot {prev.files[0].name} "
                f"(z = {prev.redshift:.6f})",
                f"z = {cur.redshift:.6f}",
            )
    if requested is not None:
        if len(requested) != len(headers):
            raise ParticleCountError(
                headers[0].files[0].parent,
                "snapshot series",
                f"{len(requested)} snapshots",
                f"{len(headers)}",
            )
        for header, z_req in zip(headers, requested, strict=True):
            if abs(header.redshift - z_req) > tolerance:
                raise RedshiftOrderError(
                    header.files[0],
                    "header redshift",
                    f"z = {z_req} within {tolerance} (simulations.output_redshifts)",
                    f"z = {header.redshift:.6f}",
                )


def write_canonical(
    reader: SnapshotReader,
    path: str | Path,
    *,
    cosmology: Mapping[str, float],
    chunk_size: int,
    keep_velocities: bool = False,
    provenance: Mapping[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Stream a snapshot into the canonical HDF5 format (atomically).

    Parameters
    ----------
    reader
        An opened reader (:func:`wlcnn.io.open_snapshot`).
    path
        Output file.
    cosmology
        ``omega_m, sigma8, h, omega_b, n_s`` of the grid entry; checked against the header with
        :func:`check_cosmology` and stored (the header wins where it has a value).
    chunk_size
        Particles per streamed chunk.
    keep_velocities
        Also store velocities.
    provenance
        Provenance record (:func:`wlcnn.provenance.provenance_record`), stored as JSON.
    progress
        Called with (particles written, total) after every chunk.
    """
    header = reader.header
    check_cosmology(header, cosmology)
    path = Path(path)
    n = header.n_particles
    attrs: dict[str, Any] = {
        "format": CANONICAL_FORMAT,
        "format_version": CANONICAL_VERSION,
        "redshift": header.redshift,
        "a": header.a,
        "box": header.box,
        "particle_mass": header.particle_mass,
        "n_particles": n,
        "omega_m": header.omega_m if header.omega_m is not None else cosmology["omega_m"],
        "omega_lambda": header.omega_lambda
        if header.omega_lambda is not None
        else 1.0 - cosmology["omega_m"],
        "h": header.hubble if header.hubble is not None else cosmology["h"],
        "source_format": header.format,
        "source_reader": f"{type(reader).__module__}:{type(reader).__name__}",
        "source_header": json.dumps(header.to_dict(), default=str),
        "units": json.dumps(UNITS),
        "provenance": json.dumps(dict(provenance or {}), default=str),
    }
    for key in ("sigma8", "omega_b", "n_s"):
        if key in cosmology:
            attrs[key] = cosmology[key]
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w") as out:
        out.attrs.update(attrs)
        if header.format == "pkd-healpix":
            out.create_dataset("healpix/counts", data=reader.read_counts().astype(np.int64))  # type: ignore[attr-defined]
        else:
            _stream_particles(
                reader, out, n=n, chunk_size=chunk_size, keep_velocities=keep_velocities, progress=progress
            )
    return path


def _stream_particles(
    reader: SnapshotReader,
    out: h5py.File,
    *,
    n: int,
    chunk_size: int,
    keep_velocities: bool,
    progress: Callable[[int, int], None] | None,
) -> None:
    rows = max(1, min(n, _H5_CHUNK_ROWS))
    grp = out.create_group("particles")
    pos = grp.create_dataset("pos", shape=(n, 3), dtype=np.float32, chunks=(rows, 3))
    ids = (
        grp.create_dataset("ids", shape=(n,), dtype=np.uint64, chunks=(rows,))
        if reader.header.has_ids
        else None
    )
    vel = None
    if keep_velocities and reader.header.has_velocities:
        vel = grp.create_dataset("vel", shape=(n, 3), dtype=np.float32, chunks=(rows, 3))
    start = 0
    for chunk in reader.iter_chunks(chunk_size):
        stop = start + len(chunk)
        if stop > n:
            raise ParticleCountError(
                reader.header.files[0], "particle data", f"{n} particles (header)", f"more than {n}"
            )
        pos[start:stop] = chunk.pos
        if ids is not None:
            ids[start:stop] = chunk.ids
        if vel is not None:
            vel[start:stop] = chunk.vel
        start = stop
        if progress is not None:
            progress(start, n)
    if start != n:
        raise ParticleCountError(
            reader.header.files[0], "particle data", f"{n} particles (header)", f"{start}"
        )


def read_canonical_header(path: str | Path) -> dict[str, Any]:
    """Attributes of a canonical file (JSON fields decoded), checking its format tag and version.

    Raises
    ------
    SnapshotError
        Not a canonical file, a newer format version, or a missing or unreadable attribute.
    """
    try:
        with h5py.File(path, "r") as fh:
            attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in fh.attrs.items()}
    except OSError as exc:
        raise SnapshotError(path, "HDF5 superblock", "a readable HDF5 file", str(exc)) from exc
    if attrs.get("format") != CANONICAL_FORMAT:
        raise SnapshotError(path, "attribute 'format'", repr(CANONICAL_FORMAT), repr(attrs.get("format")))
    missing = [key for key in _REQUIRED_ATTRS if key not in attrs]
    if missing:
        raise SnapshotError(path, f"attribute {missing[0]!r}", "the attribute", "nothing (missing)")
    version = attrs["format_version"]
    if not isinstance(version, int | np.integer) or not 1 <= version <= CANONICAL_VERSION:
        raise SnapshotError(
            path, "attribute 'format_version'", f"an integer 1 ... {CANONICAL_VERSION}", repr(version)
        )
    for key in _JSON_ATTRS:
        try:
            attrs[key] = json.loads(attrs[key])
        except (TypeError, ValueError) as exc:
            raise SnapshotError(
                path, f"attribute {key!r}", "a JSON text", f"{attrs[key]!r:.80} ({exc})"
            ) from exc
    return attrs


def is_canonical_file(path: str | Path) -> bool:
    """True when ``path`` is an HDF5 file tagged ``format = "wlcnn.snapshot"`` (never raises)."""
    try:
        with h5py.File(path, "r") as fh:
            return fh.attrs.get("format") == CANONICAL_FORMAT
    except (OSError, ValueError):
        return False


def describe_canonical(path: str | Path, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> dict[str, Any]:
    """Facts of a canonical file in the shape of ``wlcnn inspect``'s summary of a snapshot.

    Streams the positions once (``chunk_size`` rows at a time) for their range, and checks the
    datasets against ``n_particles``.

    Returns
    -------
    dict
        ``format`` (``"wlcnn.snapshot"``), ``n_particles``, ``a``, ``z``, ``box``,
        ``particle_mass``, ``pos_min``, ``pos_max``, ``omega_m``, ``omega_lambda``, ``h``,
        ``has_ids``, ``files`` and ``extra`` (``format_version``, ``source_format``, the
        cosmology the file was filed under, ``nside`` for HEALPix shells, ``datasets``:
        name -> ``[dtype, shape]``).

    Raises
    ------
    SnapshotError
        A damaged canonical file: missing attributes or datasets, shapes that disagree with
        ``n_particles``.
    """
    path = Path(path)
    attrs = read_canonical_header(path)
    n = int(attrs["n_particles"])
    pos_min = pos_max = None
    extra: dict[str, Any] = {
        "format_version": int(attrs["format_version"]),
        "source_format": attrs["source_format"],
        **{key: attrs[key] for key in ("sigma8", "omega_b", "n_s") if key in attrs},
    }
    with h5py.File(path, "r") as fh:
        datasets: dict[str, list[Any]] = {}

        def note_dataset(name: str, obj: h5py.HLObject) -> None:
            if isinstance(obj, h5py.Dataset):
                datasets[name] = [str(obj.dtype), list(obj.shape)]

        fh.visititems(note_dataset)
        if "particles/pos" in fh:
            pos = fh["particles/pos"]
            for name, shape in (
                ("particles/pos", (n, 3)),
                ("particles/ids", (n,)),
                ("particles/vel", (n, 3)),
            ):
                if name in fh and fh[name].shape != shape:
                    raise ParticleCountError(
                        path, f"/{name}", f"shape {shape} (attribute n_particles = {n})", f"{fh[name].shape}"
                    )
            lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
            for start in range(0, n, chunk_size):
                rows = pos[start : start + chunk_size]
                lo, hi = np.minimum(lo, rows.min(axis=0)), np.maximum(hi, rows.max(axis=0))
            if n:
                pos_min, pos_max = lo.tolist(), hi.tolist()
            has_ids = "particles/ids" in fh
        elif "healpix/counts" in fh:
            counts = fh["healpix/counts"][...]
            nside = math.isqrt(counts.size // HEALPIX_BASE_PIXELS)
            if counts.ndim != 1 or HEALPIX_BASE_PIXELS * nside**2 != counts.size or counts.sum() != n:
                raise ParticleCountError(
                    path,
                    "/healpix/counts",
                    f"12 nside^2 pixel counts summing to n_particles = {n}",
                    f"shape {counts.shape}, sum {int(counts.sum())}",
                )
            extra["nside"] = nside
            has_ids = False
        else:
            raise SnapshotError(path, "/particles/pos", "particles or /healpix/counts", "neither dataset")
    extra["datasets"] = datasets

    def number(key: str) -> float | None:
        value = float(attrs[key])
        return value if math.isfinite(value) else None

    return {
        "format": CANONICAL_FORMAT,
        "n_particles": n,
        "a": number("a"),
        "z": number("redshift"),
        "box": number("box"),
        "particle_mass": number("particle_mass"),
        "pos_min": pos_min,
        "pos_max": pos_max,
        "omega_m": number("omega_m"),
        "omega_lambda": number("omega_lambda"),
        "h": number("h"),
        "has_ids": has_ids,
        "files": [str(path)],
        "extra": extra,
    }
