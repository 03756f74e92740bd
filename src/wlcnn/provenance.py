"""Provenance records: what made a result file.

Every file the pipeline writes carries (as an HDF5 attribute or a sidecar ``.prov.json``) a
record of its inputs with checksums, the configuration subset that affects it, the code
version and git state, key dependency versions, host, SLURM job id and start/end times. The
record format (a JSON object, ``schema`` = :data:`PROVENANCE_SCHEMA`) is what ``wlcnn audit``
walks back to the simulation files.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
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

__all__ = [
    "KEY_PACKAGES",
    "PROVENANCE_SCHEMA",
    "file_checksum",
    "file_record",
    "git_state",
    "provenance_record",
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
_HASH_BLOCK = 8 << 20  # 8 MiB reads: near disk speed, small memory


def utc_now() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def file_checksum(path: str | Path, *, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


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
    """Write ``record`` beside ``path`` as ``<path>.prov.json`` (for files that cannot hold it)."""
    from wlcnn.atomic import atomic_write_text

    sidecar = Path(path).with_name(Path(path).name + ".prov.json")
    atomic_write_text(sidecar, json.dumps(dict(record), indent=1, default=str))
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
    from wlcnn.audit import read_provenance  # local: audit imports this module

    record = provenance_record(step=step, inputs=[file_record(p) for p in sources], config={},
                               started=started or utc_now())
    written = []
    for path in outputs:
        sidecar = Path(path).with_name(Path(path).name + ".prov.json")
        if sidecar.exists() or read_provenance(path) is None:
            written.append(write_sidecar(path, record))
    return written
