"""Where a product keeps its provenance record, how it is read back, and its seal.

A product holds its record as the root ``provenance`` attribute (HDF5), the ``PROVJSON`` card of
the primary header (FITS), the ``provenance`` key (JSON), or a sidecar ``<file>.prov.json``
(plots, tables, files of other codes). Every record is *sealed* when its product is written
(:func:`seal_product`, called by :func:`wlcnn.atomic.atomic_paths` just before the rename, and
by :func:`wlcnn.provenance.write_sidecar`): the ``seal`` key holds a SHA-256 of the product's
content, excluding the record itself, and a SHA-256 of the record (``seal`` included, its own
``record`` digest left out). ``wlcnn audit`` checks both. What "content" means per kind of file:

``hdf5``   every group and dataset in sorted name order: name, dtype, shape, the data bytes and
           all attributes (sorted), except the root ``provenance`` attribute that holds the record
``json``   the object without its ``provenance`` key, as canonical JSON (sorted keys)
``fits``   every HDU: header cards (sorted) except ``PROVJSON``/``CHECKSUM``/``DATASUM``, and the
           data bytes
``file``   the whole file (products whose record is a ``<file>.prov.json`` sidecar)

This module depends on no other wlcnn module, so that the writers (:mod:`wlcnn.atomic`), the
record makers (:mod:`wlcnn.provenance`) and the auditor (:mod:`wlcnn.audit`) can all use it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FITS_MAGIC",
    "FITS_PROVENANCE_CARD",
    "FITS_VOLATILE_CARDS",
    "HDF5_MAGIC",
    "PROVENANCE_ATTRIBUTE",
    "SEAL_ALGORITHM",
    "SEAL_KEY",
    "SIDECAR_SUFFIX",
    "ProvenanceError",
    "canonical_json",
    "content_digest",
    "file_checksum",
    "read_provenance",
    "read_record",
    "record_digest",
    "seal_product",
    "seal_record",
    "shorten",
]

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


class ProvenanceError(ValueError):
    """A provenance record cannot be used: not JSON, not an object, malformed or cyclic.

    Parameters
    ----------
    path
        The file holding the record (the sidecar for sidecar records).
    where
        The place in the record, e.g. ``"inputs[2].path"``.
    expected, found
        What the audit needed and what the record holds.
    """

    def __init__(self, path: str | Path, where: str, expected: str, found: str) -> None:
        self.path = Path(path)
        self.where = where
        self.expected = expected
        self.found = found
        super().__init__(f"{self.path}: {where}: expected {expected}, found {found}")


def shorten(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters (an ellipsis marks the cut), for one-line messages."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parse_record(text: Any, *, path: Path, where: str) -> dict[str, Any] | None:
    """The record stored as ``text`` (None when empty); a clear error when it is not an object."""
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    if not isinstance(text, str):
        raise ProvenanceError(path, where, "a JSON text", f"a {type(text).__name__}")
    if not text.strip():
        return None
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
        found = f"text that is not JSON ({shorten(str(exc))})"
        raise ProvenanceError(path, where, "a JSON object", found) from None
    if not isinstance(record, dict):
        raise ProvenanceError(path, where, "a JSON object", f"a JSON {type(record).__name__}")
    return record


def read_record(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The record of ``path`` and where it came from (``"sidecar"``, ``"hdf5"``, ...)."""
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    if sidecar.is_file():
        try:
            text = sidecar.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ProvenanceError(sidecar, "content", "a UTF-8 JSON object", shorten(str(exc))) from None
        record = _parse_record(text, path=sidecar, where="content")
        if record is None:
            raise ProvenanceError(sidecar, "content", "a JSON object", "an empty file")
        return record, "sidecar"
    if not path.is_file():
        return None, None
    with open(path, "rb") as fh:
        head = fh.read(len(HDF5_MAGIC))
    if head == HDF5_MAGIC:
        import h5py

        try:
            with h5py.File(path, "r") as fh:
                text = fh.attrs.get(PROVENANCE_ATTRIBUTE)
        except (OSError, KeyError, ValueError) as exc:
            raise ProvenanceError(path, "HDF5 structure", "a readable HDF5 file", shorten(str(exc))) from None
        return _parse_record(text, path=path, where=f"attribute '{PROVENANCE_ATTRIBUTE}'"), "hdf5"
    if head.startswith(FITS_MAGIC):  # FITS: the record is the primary header's PROVJSON card
        from astropy.io import fits

        try:
            text = fits.getheader(path).get(FITS_PROVENANCE_CARD)
        except (OSError, ValueError) as exc:
            raise ProvenanceError(path, "FITS header", "a readable FITS header", shorten(str(exc))) from None
        return _parse_record(text, path=path, where=f"header card {FITS_PROVENANCE_CARD}"), "fits"
    if path.suffix == ".json":
        try:
            document = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            return None, None  # a plain data file, not a product with a record
        if not isinstance(document, dict) or PROVENANCE_ATTRIBUTE not in document:
            return None, None
        record = document[PROVENANCE_ATTRIBUTE]
        if not isinstance(record, dict):
            raise ProvenanceError(
                path, f"key '{PROVENANCE_ATTRIBUTE}'", "a JSON object", f"a JSON {type(record).__name__}"
            )
        return record, "json"
    return None, None


def read_provenance(path: str | Path) -> dict[str, Any] | None:
    """The provenance record of ``path`` (None when it has none).

    Raises
    ------
    ProvenanceError
        The record exists but is not a JSON object.
    """
    record, _ = read_record(Path(path))
    return record or None


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
