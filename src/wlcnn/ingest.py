"""Ingestion of one simulation's snapshot series into the canonical format.

All headers are read and checked first (format, cosmology against the grid, strictly
decreasing redshifts matching the requested outputs), so a bad series fails before anything is
written. Then each snapshot is streamed into a staged temporary file; only when the whole series
has been written are they renamed to their final names (:func:`wlcnn.atomic.atomic_paths`), so a
failure in snapshot 5 of 7 leaves none of them behind. A manifest JSON, written last, lists the
series for the downstream stages. An output path that is one of the inputs is refused before
anything is read.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wlcnn.atomic import atomic_paths, atomic_write_text, check_output_paths
from wlcnn.io import open_snapshot
from wlcnn.io.base import SnapshotReader
from wlcnn.io.canonical import check_box, check_cosmology, check_redshift_series, write_canonical
from wlcnn.provenance import file_record, provenance_record, utc_now

__all__ = ["MANIFEST_SCHEMA", "ingest_simulation", "resolve_snapshot_files"]

MANIFEST_SCHEMA = "wlcnn.manifest/1"
log = logging.getLogger(__name__)


def resolve_snapshot_files(base: str | Path) -> list[Path]:
    """The file(s) of a snapshot named by ``base`` (``base``, or ``base.0 ... base.N[.hdf5]``)."""
    base = Path(base)
    if base.is_file():
        return [base]
    for suffix in ("", ".hdf5"):
        parts: dict[int, Path] = {}
        for candidate in base.parent.glob(f"{base.name}.*{suffix}"):
            index = candidate.name[len(base.name) + 1 :].removesuffix(suffix)
            if index.isdigit():
                parts[int(index)] = candidate
        if parts:
            return [parts[k] for k in sorted(parts)]
    if (hdf5 := base.with_name(base.name + ".hdf5")).is_file():
        return [hdf5]
    raise FileNotFoundError(f"{base}: no snapshot file (nor {base.name}.0 ..., nor {base.name}.hdf5)")


def ingest_simulation(
    snapshots: Sequence[str | Path],
    outputs: Sequence[str | Path],
    manifest: str | Path,
    *,
    cosmology: Mapping[str, float],
    requested_redshifts: Sequence[float] | None,
    redshift_tolerance: float,
    chunk_size: int,
    format: str = "auto",
    reader_options: Mapping[str, Any] | None = None,
    keep_velocities: bool = False,
    checksum: str = "sha256",
    identity: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Ingest a simulation's snapshots (ordered by output index) into canonical files.

    Returns the manifest (also written to ``manifest``).

    Raises
    ------
    wlcnn.atomic.OutputPathError
        An output (or the manifest) is one of the snapshot files, a directory, or named twice.
    """
    if len(snapshots) != len(outputs):
        raise ValueError(f"{len(snapshots)} snapshots but {len(outputs)} output paths")
    options = dict(reader_options or {})
    readers: list[SnapshotReader] = [open_snapshot(s, format=format, **options) for s in snapshots]
    check_output_paths([*outputs, manifest], inputs=[f for reader in readers for f in reader.header.files])
    for reader in readers:
        check_cosmology(reader.header, cosmology)
        check_box(reader.header, options.get("box"))
    check_redshift_series(
        [r.header for r in readers], requested=requested_redshifts, tolerance=redshift_tolerance
    )
    log.info(
        "checked %d snapshot headers: z = %.4f ... %.4f",
        len(readers),
        readers[0].header.redshift,
        readers[-1].header.redshift,
    )
    config_subset = {
        "cosmology": dict(cosmology),
        "format": format,
        "reader_options": options,
        "keep_velocities": keep_velocities,
        "identity": dict(identity or {}),
    }
    entries = []
    started_all, t_all = utc_now(), time.perf_counter()
    with atomic_paths(outputs, suffix=".h5") as staged:
        for i, (reader, out, tmp) in enumerate(zip(readers, outputs, staged, strict=True)):
            entries.append(
                _ingest_one(
                    reader,
                    out,
                    tmp,
                    index=i,
                    n_total=len(readers),
                    t_all=t_all,
                    cosmology=cosmology,
                    chunk_size=chunk_size,
                    keep_velocities=keep_velocities,
                    checksum=checksum,
                    config_subset=config_subset,
                )
            )
    # checksums of the final files: the staged ones are sealed (their record rewritten) on rename
    for entry, out in zip(entries, outputs, strict=True):
        entry["output"] = file_record(out, checksum=checksum)
    outputs_prov = provenance_record(
        step="ingest_simulation",
        inputs=[e["output"] for e in entries],
        config=config_subset,
        started=started_all,
    )
    result = {
        "schema": MANIFEST_SCHEMA,
        "identity": dict(identity or {}),
        "cosmology": dict(cosmology),
        "box": readers[0].header.box,
        "snapshots": entries,
        "provenance": outputs_prov,
    }
    atomic_write_text(manifest, json.dumps(result, indent=1))
    return result


def _ingest_one(
    reader: SnapshotReader,
    out: str | Path,
    tmp: Path,
    *,
    index: int,
    n_total: int,
    t_all: float,
    cosmology: Mapping[str, float],
    chunk_size: int,
    keep_velocities: bool,
    checksum: str,
    config_subset: Mapping[str, Any],
) -> dict[str, Any]:
    """Write one snapshot of a series to its staged temporary ``tmp``; its manifest entry."""
    started, t0 = utc_now(), time.perf_counter()
    inputs = [file_record(f, checksum=checksum) for f in reader.header.files]
    prov = provenance_record(step="ingest", inputs=inputs, config=config_subset, started=started)
    write_canonical(
        reader,
        tmp,
        cosmology=cosmology,
        chunk_size=chunk_size,
        keep_velocities=keep_velocities,
        provenance=prov,
    )
    dt = time.perf_counter() - t0
    nbytes = sum(rec["size"] for rec in inputs)
    log.info(
        "[%d/%d] %s -> %s: z=%.4f N=%d %.1f MB/s (elapsed %.1f s)",
        index + 1,
        n_total,
        reader.header.files[0].name,
        Path(out).name,
        reader.header.redshift,
        reader.header.n_particles,
        nbytes / max(dt, 1e-9) / 1e6,
        time.perf_counter() - t_all,
    )
    return {
        "index": index,
        "path": str(Path(out).resolve()),
        "redshift": reader.header.redshift,
        "a": reader.header.a,
        "n_particles": reader.header.n_particles,
        "source": inputs,
    }
