"""Provenance records: what made a result file.

Every file the pipeline writes carries (as an HDF5 attribute or a sidecar ``.prov.json``) a
record of its inputs with checksums, the configuration subset that affects it, the code
version and git state, key dependency versions, host, SLURM job id and start/end times. The
record format (a JSON object, ``schema`` = :data:`PROVENANCE_SCHEMA`) is what ``wlcnn audit``
walks back to the simulation files.

Every record is *sealed* when its product is written; where records live, how they are read
and what the seal covers is :mod:`wlcnn.records` (whose names are re-exported here).
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as _metadata
import json
import os
import platform
import socket
import subprocess
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from wlcnn.atomic import atomic_write_text
from wlcnn.records import (
    PROVENANCE_ATTRIBUTE,
    SEAL_ALGORITHM,
    SEAL_KEY,
    SIDECAR_SUFFIX,
    canonical_json,
    content_digest,
    file_checksum,
    read_provenance,
    record_digest,
    seal_product,
    seal_record,
)

__all__ = [
    "KEY_PACKAGES",
    "PROVENANCE_ATTRIBUTE",
    "PROVENANCE_SCHEMA",
    "SEAL_ALGORITHM",
    "SEAL_KEY",
    "SIDECAR_SUFFIX",
    "canonical_json",
    "content_digest",
    "file_checksum",
    "file_record",
    "git_state",
    "provenance_record",
    "record_digest",
    "seal_product",
    "seal_record",
    "software_versions",
    "utc_now",
    "write_rendered_sidecars",
    "write_sidecar",
]

PROVENANCE_SCHEMA = "wlcnn.provenance/1"
#: Dependencies whose versions can change a result.
KEY_PACKAGES = (
    "numpy",
    "scipy",
    "h5py",
    "pyccl",
    "healpy",
    "astropy",
    "tensorflow",
    "tensorflow-cpu",
    "snakemake",
    "mpi4py",
    "emcee",
    "getdist",
)


def utc_now() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def file_record(path: str | Path, *, checksum: str = "sha256") -> dict[str, Any]:
    """``{path, size, <algorithm>}`` of a file (no digest when ``checksum == "none"``)."""
    path = Path(path).resolve()
    record: dict[str, Any] = {"path": str(path), "size": path.stat().st_size}
    if checksum != "none":
        record[checksum] = file_checksum(path, algorithm=checksum)
    return record


@cache
def git_state(directory: str | Path | None = None) -> dict[str, Any]:
    """Commit and dirtiness of the git tree holding the code (None outside a checkout)."""
    where = Path(directory) if directory else Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=where, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


@cache
def software_versions() -> dict[str, str]:
    """Installed versions of the key dependencies (absent ones are left out)."""
    versions = {"python": platform.python_version()}
    for name in ("wlcnn", *KEY_PACKAGES):
        try:
            versions[name] = _metadata.version(name)
        except _metadata.PackageNotFoundError:
            continue
    return versions


def provenance_record(
    *,
    step: str,
    inputs: Iterable[Mapping[str, Any]],
    config: Mapping[str, Any],
    started: str,
    finished: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble a provenance record.

    Parameters
    ----------
    step
        What produced the file (``"ingest"``, ``"mock_simulation"``, ...).
    inputs
        :func:`file_record` of every input file.
    config
        The configuration subset that affects this output (and only that, so that unrelated
        edits do not make it look stale).
    started, finished
        UTC ISO times (:func:`utc_now`); ``finished`` defaults to now.
    extra
        Step-specific facts.
    """
    return {
        "schema": PROVENANCE_SCHEMA,
        "step": step,
        "inputs": list(inputs),
        "config": dict(config),
        "code": {"wlcnn": software_versions().get("wlcnn"), **git_state()},
        "software": software_versions(),
        "host": socket.gethostname(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "started": started,
        "finished": finished or utc_now(),
        **({"extra": dict(extra)} if extra else {}),
    }


def write_sidecar(path: str | Path, record: Mapping[str, Any]) -> Path:
    """Write ``record`` beside ``path`` as ``<path>.prov.json`` (for files that cannot hold it).

    The record is sealed with the SHA-256 of ``path`` (when it exists) and of the record itself,
    so that ``wlcnn audit`` detects an edited file or an edited sidecar.
    """
    path = Path(path)
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    content = file_checksum(path, algorithm=SEAL_ALGORITHM) if path.is_file() else None
    sealed = seal_record(record, scope="file", content=content)
    atomic_write_text(sidecar, json.dumps(sealed, indent=1, default=str))
    return sidecar


def write_rendered_sidecars(
    outputs: Iterable[str | Path], *, sources: Iterable[str | Path], step: str, started: str | None = None
) -> list[Path]:
    """Provenance sidecars for files rendered from others (plots, Markdown tables, plain JSON).

    Their record lists the ``sources`` (with checksums) as inputs; the sources carry the full
    records, so ``wlcnn audit`` follows a plot back to the simulations. Outputs that hold a
    record themselves (HDF5 ``provenance`` attribute, JSON ``provenance`` key) are skipped.

    Returns
    -------
    list of Path
        The sidecars written.
    """
    record = provenance_record(
        step=step, inputs=[file_record(p) for p in sources], config={}, started=started or utc_now()
    )
    written = []
    for path in outputs:
        sidecar = Path(path).with_name(Path(path).name + SIDECAR_SUFFIX)
        if sidecar.exists() or read_provenance(path) is None:
            written.append(write_sidecar(path, record))
    return written
