"""Provenance records: what made a result file.

Every file the pipeline writes carries (as an HDF5 attribute or a sidecar ``.prov.json``) a
record of its inputs with checksums, the configuration subset that affects it, the code
version and git state, key dependency versions, host, SLURM job id and start/end times. The
record format (a JSON object, ``schema`` = :data:`PROVENANCE_SCHEMA`) is what ``wlcnn audit``
walks back to the simulation files.

Every record is *sealed* when its product is written (:func:`seal_product`, called by
:func:`wlcnn.atomic.atomic_path` just before the rename, and :func:`write_sidecar`): the
``seal`` key holds a SHA-256 of the product's content, excluding the record itself, and a
SHA-256 of the record (``seal`` included, its own ``record`` digest left out). ``wlcnn audit``
checks both, so a byte flipped in a product, or an edited record, is reported even when no
consumer has recorded a checksum of the file yet. What "content" means per kind of file:

``hdf5``   every group and dataset in sorted name order: name, dtype, shape, the data bytes and
           all attributes (sorted), except the root ``provenance`` attribute that holds the record
``json``   the object without its ``provenance`` key, as canonical JSON (sorted keys)
``fits``   every HDU: header cards (sorted) except ``PROVJSON``/``CHECKSUM``/``DATASUM``, and the
           data bytes
``file``   the whole file (products whose record is a ``<file>.prov.json`` sidecar)
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

import numpy as np

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
_HASH_BLOCK = 8 << 20  # 8 MiB reads: near disk speed, small memory
#: Where a product keeps its record: HDF5 root attribute / JSON key, FITS primary header card.
PROVENANCE_ATTRIBUTE = "provenance"
FITS_PROVENANCE_CARD = "PROVJSON"
#: FITS cards that change whenever the record (or the file layout) does, not with the content.
FITS_VOLATILE_CARDS = frozenset({FITS_PROVENANCE_CARD, "CHECKSUM", "DATASUM"})
#: Suffix of the record of a file that cannot hold one itself.
SIDECAR_SUFFIX = ".prov.json"
#: Key of the content and record digests inside a record.
SEAL_KEY = "seal"
SEAL_ALGORITHM = "sha256"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
FITS_MAGIC = b"SIMPLE"


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


def canonical_json(obj: Any) -> bytes:
    """Key-sorted, whitespace-free JSON bytes of ``obj``: equal objects give equal bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()


def _attribute_bytes(value: Any) -> bytes:
    """Bytes of an HDF5 attribute value that change with its type, shape or content."""
    if isinstance(value, str):
        return b"str:" + value.encode()
    if isinstance(value, bytes):
        return b"bytes:" + value
    array = np.asarray(value)
    if array.dtype.kind in "OSU":  # strings and objects: their text, not memory addresses
        return f"{array.dtype.kind}{array.shape}:".encode() + canonical_json(array.tolist())
    return f"{array.dtype.str}{array.shape}:".encode() + np.ascontiguousarray(array).tobytes()


def _hash_dataset(digest: Any, dataset: Any) -> None:
    """Feed a dataset's dtype, shape and data to ``digest``, block by block along axis 0."""
    digest.update(f"{dataset.dtype.str}{dataset.shape}".encode())
    if dataset.shape is None:  # null dataspace: no data
        return
    if dataset.ndim == 0 or dataset.dtype.kind == "O":
        data = np.asarray(dataset[()])
        digest.update(_attribute_bytes(data) if data.dtype.kind == "O" else data.tobytes())
        return
    row_bytes = max(1, dataset.dtype.itemsize * int(np.prod(dataset.shape[1:], dtype=np.int64)))
    rows = max(1, _HASH_BLOCK // row_bytes)
    for start in range(0, dataset.shape[0], rows):
        digest.update(np.ascontiguousarray(dataset[start : start + rows]).tobytes())


def hdf5_content_digest(fh: Any) -> str:
    """SHA-256 of an open HDF5 file's content, the root ``provenance`` attribute excluded.

    Groups and datasets are visited in sorted name order; each contributes its name, its
    attributes (sorted) and, for datasets, dtype, shape and data bytes.
    """
    import h5py

    digest = hashlib.new(SEAL_ALGORITHM)
    names = [""]
    fh.visit(names.append)
    for name in sorted(names):
        obj = fh[name] if name else fh
        kind = "dataset" if isinstance(obj, h5py.Dataset) else "group"
        digest.update(f"\0{kind}:{name}\0".encode())
        for key in sorted(obj.attrs):
            if not name and key == PROVENANCE_ATTRIBUTE:
                continue
            digest.update(f"\0attr:{key}\0".encode() + _attribute_bytes(obj.attrs[key]))
        if kind == "dataset":
            _hash_dataset(digest, obj)
    return digest.hexdigest()


def fits_content_digest(hdus: Any) -> str:
    """SHA-256 of an open FITS file's content: header cards (the record's left out) and data."""
    digest = hashlib.new(SEAL_ALGORITHM)
    for index, hdu in enumerate(hdus):
        cards = sorted(
            (key, repr(value)) for key, value in hdu.header.items() if key not in FITS_VOLATILE_CARDS
        )
        digest.update(f"\0hdu:{index}\0".encode() + canonical_json(cards))
        if hdu.data is not None:
            digest.update(np.ascontiguousarray(hdu.data).tobytes())
    return digest.hexdigest()


def json_content_digest(document: Mapping[str, Any]) -> str:
    """SHA-256 of a JSON object without its ``provenance`` key (canonical JSON)."""
    content = {k: v for k, v in document.items() if k != PROVENANCE_ATTRIBUTE}
    return hashlib.new(SEAL_ALGORITHM, canonical_json(content)).hexdigest()


def _file_kind(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(len(HDF5_MAGIC))
    if head == HDF5_MAGIC:
        return "hdf5"
    if head.startswith(FITS_MAGIC):
        return "fits"
    if path.suffix == ".json" and not path.name.endswith(SIDECAR_SUFFIX):
        return "json"
    return "file"


def content_digest(path: str | Path, *, scope: str | None = None) -> str:
    """SHA-256 of a product's content as its seal defines it (see the module docstring).

    Parameters
    ----------
    path
        The product.
    scope
        ``"hdf5"``, ``"json"``, ``"fits"`` or ``"file"``; None: from the file's content.

    Raises
    ------
    OSError, ValueError
        The file cannot be read as ``scope``.
    """
    path = Path(path)
    scope = scope or _file_kind(path)
    if scope == "hdf5":
        import h5py

        with h5py.File(path, "r") as fh:
            return hdf5_content_digest(fh)
    if scope == "fits":
        from astropy.io import fits

        with fits.open(path, memmap=False) as hdus:
            return fits_content_digest(hdus)
    if scope == "json":
        document = json.loads(path.read_text())
        if not isinstance(document, dict):
            raise ValueError(f"{path}: expected a JSON object, found {type(document).__name__}")
        return json_content_digest(document)
    return file_checksum(path, algorithm=SEAL_ALGORITHM)


def record_digest(record: Mapping[str, Any]) -> str:
    """SHA-256 of a record, its seal's own ``record`` digest left out."""
    body = dict(record)
    if isinstance(body.get(SEAL_KEY), Mapping):
        body[SEAL_KEY] = {k: v for k, v in body[SEAL_KEY].items() if k != "record"}
    return hashlib.new(SEAL_ALGORITHM, canonical_json(body)).hexdigest()


def seal_record(record: Mapping[str, Any], *, scope: str, content: str | None) -> dict[str, Any]:
    """A copy of ``record`` with its ``seal``: the content digest and the record's own digest."""
    # Through JSON first: the digest must be that of the record as it will be read back.
    sealed = {k: v for k, v in json.loads(json.dumps(dict(record), default=str)).items() if k != SEAL_KEY}
    sealed[SEAL_KEY] = {"algorithm": SEAL_ALGORITHM, "scope": scope, "content": content}
    sealed[SEAL_KEY]["record"] = record_digest(sealed)
    return sealed


def seal_product(path: str | Path) -> bool:
    """Seal the record a finished product holds (HDF5 attribute, JSON key, FITS card), in place.

    Files without an embedded record (plots, tables, sidecars, snapshots of other codes) are
    left untouched: their record is a sidecar, sealed by :func:`write_sidecar`. Called on the
    temporary file by :func:`wlcnn.atomic.atomic_path`, so every product is sealed once,
    whichever writer made it.

    Returns
    -------
    bool
        Whether a record was sealed.
    """
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return False
    kind = _file_kind(path)
    if kind == "hdf5":
        import h5py

        with h5py.File(path, "r+") as fh:
            record = _loads_record(fh.attrs.get(PROVENANCE_ATTRIBUTE))
            if record is None:
                return False
            fh.attrs[PROVENANCE_ATTRIBUTE] = json.dumps(
                seal_record(record, scope=kind, content=hdf5_content_digest(fh)), default=str
            )
        return True
    if kind == "fits":
        from astropy.io import fits

        with fits.open(path, mode="update", memmap=False) as hdus:
            record = _loads_record(hdus[0].header.get(FITS_PROVENANCE_CARD))
            if record is None:
                return False
            content = fits_content_digest(hdus)
            hdus[0].header[FITS_PROVENANCE_CARD] = json.dumps(
                seal_record(record, scope=kind, content=content), default=str
            )
        return True
    if kind == "json":
        try:
            text = path.read_text()
            document = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return False
        if not isinstance(document, dict) or not isinstance(document.get(PROVENANCE_ATTRIBUTE), dict):
            return False
        document[PROVENANCE_ATTRIBUTE] = seal_record(
            document[PROVENANCE_ATTRIBUTE], scope=kind, content=json_content_digest(document)
        )
        path.write_text(json.dumps(document, indent=1, default=str) + ("\n" if text.endswith("\n") else ""))
        return True
    return False


def _loads_record(text: Any) -> dict[str, Any] | None:
    """A stored record as a dict (None when absent or not a JSON object: nothing to seal)."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    if not isinstance(text, str) or not text:
        return None
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


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
    from wlcnn.atomic import atomic_write_text

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
    from wlcnn.audit import read_provenance  # local: audit imports this module

    record = provenance_record(
        step=step, inputs=[file_record(p) for p in sources], config={}, started=started or utc_now()
    )
    written = []
    for path in outputs:
        sidecar = Path(path).with_name(Path(path).name + SIDECAR_SUFFIX)
        if sidecar.exists() or read_provenance(path) is None:
            written.append(write_sidecar(path, record))
    return written
