"""Compare the content of two results (files or run directories), provenance apart.

Two runs of the same configuration write the same science but different provenance records
(start and end times, host, SLURM job id), so their files differ byte-wise. :func:`diff_paths`
compares what the files *contain* and lists the provenance differences separately:

* HDF5: the set of groups and datasets, each dataset's dtype, shape and bytes (bit for bit, so
  NaN equals NaN and -0.0 differs from 0.0), and every attribute except the root ``provenance``.
* JSON: the parsed document without its ``provenance`` key; ``<file>.prov.json`` sidecars are
  all provenance.
* FITS: every HDU's header cards (except ``PROVJSON``, ``CHECKSUM``, ``DATASUM``) and data bytes.
* Everything else (CSV, Markdown, text, PNG, model files): byte for byte.

Two results are *identical* when no content difference is found; provenance-only differences
are listed but do not count.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wlcnn.records import (
    FITS_MAGIC,
    FITS_PROVENANCE_CARD,
    FITS_VOLATILE_CARDS,
    HDF5_MAGIC,
    PROVENANCE_ATTRIBUTE,
    SIDECAR_SUFFIX,
)

__all__ = ["DiffInputError", "Difference", "DiffReport", "diff_paths", "format_report"]

#: Bytes of a dataset compared at a time (bounds memory for large map stacks).
_BLOCK_BYTES = 8 << 20
#: Characters of a value shown in a difference.
_VALUE_SHOWN = 60
#: Bytes read at a time when comparing plain files.
_FILE_BLOCK = 1 << 20


class DiffInputError(ValueError):
    """An argument of :func:`diff_paths` cannot be compared (missing, unreadable, mismatched kinds).

    Parameters
    ----------
    path
        The offending file or directory.
    where
        What was being read, e.g. ``"HDF5 structure"``.
    expected, found
        What the comparison needed and what it found.
    """

    def __init__(self, path: str | Path, where: str, expected: str, found: str) -> None:
        self.path = Path(path)
        self.where = where
        self.expected = expected
        self.found = found
        super().__init__(f"{self.path}: {where}: expected {expected}, found {found}")


@dataclass(frozen=True)
class Difference:
    """One difference: the file (relative to the compared roots), the place in it, and what."""

    file: str
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.detail}"


@dataclass
class DiffReport:
    """Content and provenance differences between two results."""

    content: list[Difference] = field(default_factory=list)
    provenance: list[Difference] = field(default_factory=list)
    files: int = 0

    @property
    def identical(self) -> bool:
        """True when the contents are the same (provenance differences allowed)."""
        return not self.content


def _show(value: Any) -> str:
    text = json.dumps(value, default=str, sort_keys=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= _VALUE_SHOWN else text[: _VALUE_SHOWN - 1] + "…"


def _json_differences(a: Any, b: Any, *, where: str) -> Iterator[tuple[str, str]]:
    """(place, detail) of every leaf where two parsed JSON values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            place = f"{where}.{key}" if where else str(key)
            if key not in b:
                yield place, "only in A"
            elif key not in a:
                yield place, "only in B"
            else:
                yield from _json_differences(a[key], b[key], where=place)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _json_differences(x, y, where=f"{where}[{i}]")
    elif json.dumps(a, default=str, sort_keys=True) != json.dumps(b, default=str, sort_keys=True):
        yield where or "document", f"{_show(a)} != {_show(b)}"


def _kind(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(len(HDF5_MAGIC))
    if head == HDF5_MAGIC:
        return "hdf5"
    if head.startswith(FITS_MAGIC):
        return "fits"
    if path.name.endswith(SIDECAR_SUFFIX):
        return "sidecar"
    if path.suffix == ".json":
        return "json"
    return "bytes"


def _decode_record(text: Any) -> Any:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    try:
        return json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError:
        return text


def _attribute_equal(a: Any, b: Any) -> bool:
    if isinstance(a, (str, bytes)) or isinstance(b, (str, bytes)):
        return type(a) is type(b) and a == b
    x, y = np.asarray(a), np.asarray(b)
    if x.dtype.kind == "O" or y.dtype.kind == "O":
        return x.dtype == y.dtype and x.shape == y.shape and x.tolist() == y.tolist()
    return x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()


#: Root attributes that record where a file came from (the source snapshot's header and paths),
#: compared like the provenance record: two runs in different directories differ there only.
_RECORD_ATTRIBUTES = ("source_header",)


def _dereferenced(value: Any, fh: Any) -> Any:
    """An attribute with HDF5 object references (netCDF dimension scales) as the objects' names.

    References are addresses inside one file: two files that point at the same-named objects are
    equal, whatever the addresses.
    """
    import h5py

    def name(item: Any) -> Any:
        if isinstance(item, h5py.Reference):
            return fh[item].name if item else None
        if isinstance(item, tuple):  # REFERENCE_LIST rows: (reference, dimension index)
            return tuple(name(x) for x in item)
        if isinstance(item, np.ndarray):
            return [name(x) for x in item.tolist()] if item.dtype.kind in "OV" else item
        return item

    array = np.asarray(value) if not isinstance(value, str | bytes) else None
    if array is None or array.dtype.kind not in "OV":
        return value
    return json.dumps([name(x) for x in array.tolist()], default=str)


def _dataset_difference(a: Any, b: Any) -> str | None:
    """What differs between two HDF5 datasets (None: identical dtype, shape and bytes)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return f"dtype/shape {a.dtype}{a.shape} != {b.dtype}{b.shape}"
    if a.shape is None:
        return None
    if a.ndim == 0 or a.dtype.kind == "O":
        x, y = np.asarray(a[()]), np.asarray(b[()])
        same = x.tolist() == y.tolist() if x.dtype.kind == "O" else x.tobytes() == y.tobytes()
        return None if same else "values differ"
    row_bytes = max(1, a.dtype.itemsize * int(np.prod(a.shape[1:], dtype=np.int64)))
    rows = max(1, _BLOCK_BYTES // row_bytes)
    differing = 0
    for start in range(0, a.shape[0], rows):
        x = np.ascontiguousarray(a[start : start + rows])
        y = np.ascontiguousarray(b[start : start + rows])
        # Bytes, not values: NaN == NaN, and a changed sign of zero is a change.
        xb = x.view(np.uint8).reshape(x.size, -1) if x.size else x.reshape(0, 1)
        yb = y.view(np.uint8).reshape(y.size, -1) if y.size else y.reshape(0, 1)
        differing += int(np.count_nonzero((xb != yb).any(axis=1)))
    return f"{differing} of {a.size} values differ" if differing else None


def _diff_hdf5(a: Path, b: Path, rel: str, report: DiffReport) -> None:
    import h5py

    def objects(fh: Any) -> dict[str, Any]:
        found: dict[str, Any] = {"/": fh}
        fh.visititems(lambda name, obj: found.__setitem__("/" + name, obj))
        return found

    def opened(path: Path) -> Any:
        try:
            return h5py.File(path, "r")
        except OSError as exc:
            raise DiffInputError(path, "HDF5 structure", "a readable HDF5 file", str(exc)) from None

    try:
        with opened(a) as fa, opened(b) as fb:
            oa, ob = objects(fa), objects(fb)
            for name in sorted(set(oa) | set(ob)):
                if name not in ob or name not in oa:
                    side = "A" if name in oa else "B"
                    report.content.append(Difference(rel, name, f"only in {side}"))
                    continue
                x, y = oa[name], ob[name]
                if isinstance(x, h5py.Dataset) != isinstance(y, h5py.Dataset):
                    report.content.append(
                        Difference(rel, name, "a dataset in one file, a group in the other")
                    )
                    continue
                if isinstance(x, h5py.Dataset):
                    detail = _dataset_difference(x, y)
                    if detail:
                        report.content.append(Difference(rel, name, detail))
                for key in sorted(set(x.attrs) | set(y.attrs)):
                    place = f"{name}@{key}" if name != "/" else f"@{key}"
                    if name == "/" and key in (PROVENANCE_ATTRIBUTE, *_RECORD_ATTRIBUTES):
                        for where, detail in _json_differences(
                            _decode_record(x.attrs.get(key)), _decode_record(y.attrs.get(key)), where=""
                        ):
                            report.provenance.append(Difference(rel, f"@{key}.{where}", detail))
                    elif key not in y.attrs or key not in x.attrs:
                        report.content.append(
                            Difference(rel, place, f"only in {'A' if key in x.attrs else 'B'}")
                        )
                    elif not _attribute_equal(
                        _dereferenced(x.attrs[key], fa), _dereferenced(y.attrs[key], fb)
                    ):
                        report.content.append(
                            Difference(rel, place, f"{_show(x.attrs[key])} != {_show(y.attrs[key])}")
                        )
    except OSError as exc:  # a dataset or attribute that cannot be read
        raise DiffInputError(f"{a} | {b}", "HDF5 data", "readable datasets", str(exc)) from None


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None


def _diff_json(a: Path, b: Path, rel: str, report: DiffReport, *, sidecar: bool) -> None:
    da, db = _load_json(a), _load_json(b)
    if da is None or db is None:
        _diff_bytes(a, b, rel, report)
        return
    if sidecar:
        for where, detail in _json_differences(da, db, where=""):
            report.provenance.append(Difference(rel, where, detail))
        return
    if isinstance(da, dict) and isinstance(db, dict):
        pa, pb = da.pop(PROVENANCE_ATTRIBUTE, None), db.pop(PROVENANCE_ATTRIBUTE, None)
        for where, detail in _json_differences(pa, pb, where=PROVENANCE_ATTRIBUTE):
            report.provenance.append(Difference(rel, where, detail))
    for where, detail in _json_differences(da, db, where=""):
        report.content.append(Difference(rel, where, detail))


def _diff_fits(a: Path, b: Path, rel: str, report: DiffReport) -> None:
    from astropy.io import fits

    def opened(path: Path) -> Any:
        try:
            return fits.open(path, memmap=False)
        except (OSError, ValueError) as exc:
            raise DiffInputError(path, "FITS structure", "a readable FITS file", str(exc)) from None

    try:
        with opened(a) as ha, opened(b) as hb:
            if len(ha) != len(hb):
                report.content.append(Difference(rel, "HDUs", f"{len(ha)} != {len(hb)}"))
                return
            for i, (x, y) in enumerate(zip(ha, hb, strict=True)):
                cards_a = {k: v for k, v in x.header.items() if k not in FITS_VOLATILE_CARDS}
                cards_b = {k: v for k, v in y.header.items() if k not in FITS_VOLATILE_CARDS}
                for where, detail in _json_differences(cards_a, cards_b, where=f"HDU {i} header"):
                    report.content.append(Difference(rel, where, detail))
                if (x.data is None) != (y.data is None) or (
                    x.data is not None
                    and np.ascontiguousarray(x.data).tobytes() != np.ascontiguousarray(y.data).tobytes()
                ):
                    report.content.append(Difference(rel, f"HDU {i} data", "bytes differ"))
            for where, detail in _json_differences(
                _decode_record(ha[0].header.get(FITS_PROVENANCE_CARD)),
                _decode_record(hb[0].header.get(FITS_PROVENANCE_CARD)),
                where=FITS_PROVENANCE_CARD,
            ):
                report.provenance.append(Difference(rel, where, detail))
    except (OSError, ValueError) as exc:  # data that cannot be read
        raise DiffInputError(f"{a} | {b}", "FITS data", "readable HDUs", str(exc)) from None


def _diff_bytes(a: Path, b: Path, rel: str, report: DiffReport) -> None:
    size_a, size_b = a.stat().st_size, b.stat().st_size
    offset = 0
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(_FILE_BLOCK), fb.read(_FILE_BLOCK)
            if x != y:
                pairs = zip(x, y, strict=False)
                first = next((i for i, (p, q) in enumerate(pairs) if p != q), min(len(x), len(y)))
                report.content.append(
                    Difference(
                        rel, "bytes", f"differ from offset {offset + first} (sizes {size_a}, {size_b})"
                    )
                )
                return
            if not x:
                return
            offset += len(x)


def _diff_files(a: Path, b: Path, rel: str, report: DiffReport) -> None:
    report.files += 1
    kind_a, kind_b = _kind(a), _kind(b)
    if kind_a != kind_b:
        report.content.append(Difference(rel, "format", f"{kind_a} != {kind_b}"))
    elif kind_a == "hdf5":
        _diff_hdf5(a, b, rel, report)
    elif kind_a == "fits":
        _diff_fits(a, b, rel, report)
    elif kind_a in {"json", "sidecar"}:
        _diff_json(a, b, rel, report, sidecar=kind_a == "sidecar")
    else:
        _diff_bytes(a, b, rel, report)


def _files_under(root: Path, exclude: Sequence[str]) -> set[str]:
    found = set()
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not any(fnmatch.fnmatch(rel, pattern) for pattern in exclude):
            found.add(rel)
    return found


def diff_paths(a: str | Path, b: str | Path, *, exclude: Sequence[str] = ()) -> DiffReport:
    """Compare two files, or every file of two directories, content and provenance apart.

    Parameters
    ----------
    a, b
        Two files, or two directories (compared file by file, by relative path).
    exclude
        Glob patterns of relative paths to leave out (directories only), e.g. ``"logs/*"``.

    Raises
    ------
    DiffInputError
        A path is missing, one is a file and the other a directory, or a file cannot be read.
    """
    a, b = Path(a), Path(b)
    for path in (a, b):
        if not path.exists():
            raise DiffInputError(path, "path", "an existing file or directory", "nothing")
        if not (path.is_file() or path.is_dir()):
            raise DiffInputError(path, "path", "a regular file or a directory", "another kind of file")
    report = DiffReport()
    if a.is_file() and b.is_file():
        _diff_files(a, b, a.name if a.name == b.name else f"{a.name} | {b.name}", report)
        return report
    if a.is_dir() != b.is_dir():
        # B is named: A sets what kind of argument is expected
        raise DiffInputError(
            b,
            "path",
            "a directory like the other argument" if a.is_dir() else "a file like the other argument",
            "a file" if b.is_file() else "a directory",
        )
    files_a, files_b = _files_under(a, exclude), _files_under(b, exclude)
    for rel in sorted(files_a | files_b):
        if rel not in files_b or rel not in files_a:
            side = "A" if rel in files_a else "B"
            target = report.provenance if rel.endswith(SIDECAR_SUFFIX) else report.content
            target.append(Difference(rel, "file", f"only in {side}"))
            continue
        _diff_files(a / rel, b / rel, rel, report)
    return report


def format_report(report: DiffReport, *, a: str | Path, b: str | Path) -> str:
    """Text listing: content differences, then provenance-only differences, then a verdict."""
    lines = [f"A = {a}", f"B = {b}"]
    if report.content:
        lines.append(f"content differences ({len(report.content)}):")
        lines += [f"  {d}" for d in report.content]
    if report.provenance:
        lines.append(f"provenance-only differences ({len(report.provenance)}):")
        lines += [f"  {d}" for d in report.provenance]
    verdict = "identical content" if report.identical else "contents differ"
    lines.append(
        f"{verdict}: {report.files} file(s) compared, {len(report.content)} content and "
        f"{len(report.provenance)} provenance difference(s)"
    )
    return "\n".join(lines)
