"""Shear catalogue ingestion: FITS, HDF5 and Parquet, read in chunks, validated, mapped.

A catalogue is one file or several (e.g. one per KiDS-450 field) read as one. Columns are
named by :class:`~wlcnn.survey.settings.ColumnMap` (KiDS-450 defaults). Every chunk is checked
before use, with these outcomes:

Errors (always; the message names the file, the column, the row and what was expected):
    missing file, unknown format, missing column (with the available ones listed),
    non-numeric or multi-dimensional column, empty catalogue, Dec outside [-90, 90] deg
    (a sign of a wrong column or unit, never of a bad galaxy), a file none of whose rows is
    usable (every row dropped below: all weights zero, all e1/e2 NaN, ...).

Counted drops (``invalid_rows: drop``) or errors (``invalid_rows: error``), in this order, a row
counted under the first reason that applies:
    ``non_finite_<field>``   NaN or ±inf in that field's column (or a Parquet null),
    ``abs_e_ge_1``           |e| = sqrt(e1² + e2²) >= 1 (not an ellipticity),
    ``negative_weight``      weight < 0.

Always dropped and counted (legitimate catalogue content, not an error):
    ``zero_weight``          weight == 0 (no shear information; a pixel holding only such
                             galaxies would have an undefined shear),
    ``selection: <cut>``     rows failing a configured selection (``survey.selections``).

Sign conventions: e1, e2 are multiplied by -1 where ``flip_e1`` / ``flip_e2`` is set, so that
they are defined in the map frame (x towards increasing RA, y towards increasing Dec). RA is
wrapped into [0, 360).

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from astropy.io import fits
>>> path = pathlib.Path(tempfile.mkdtemp()) / "cat.fits"
>>> cols = {"RAJ2000": [1.0, 2.0], "DECJ2000": [0.0, 0.5], "e1": [0.1, np.nan], "e2": [0.0, 0.1],
...         "weight": [1.0, 2.0], "Z_B": [0.2, 0.4], "m": [0.0, 0.0]}
>>> fits.BinTableHDU.from_columns([fits.Column(name=k, format="D", array=np.array(v))
...                                for k, v in cols.items()]).writeto(path)
>>> cat, drops = read_catalogue([path])
>>> len(cat), drops.counts
(1, {'non_finite_e1': 1})
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wlcnn.survey.settings import ColumnMap, Selection

__all__ = [
    "CATALOGUE_FIELDS",
    "Catalogue",
    "CatalogueError",
    "DropCounts",
    "detect_format",
    "iter_catalogue_chunks",
    "iter_validated_chunks",
    "read_catalogue",
]

log = logging.getLogger(__name__)

#: Fields of a validated catalogue, in storage order.
CATALOGUE_FIELDS = ("ra", "dec", "e1", "e2", "weight", "z_b", "m")
#: Declination limits (degrees).
_DEC_LIMIT = 90.0
_FULL_CIRCLE_DEG = 360.0
#: First bytes of each supported format.
_MAGIC = {b"SIMPLE  =": "fits", b"\x89HDF\r\n\x1a\n": "hdf5", b"PAR1": "parquet"}
_SUFFIXES = {
    ".fits": "fits",
    ".fit": "fits",
    ".fts": "fits",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".hdf": "hdf5",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_MAGIC_BYTES = max(len(m) for m in _MAGIC)


class CatalogueError(ValueError):
    """A catalogue cannot be used as it is; the message names file, column, row and the problem.

    Parameters
    ----------
    path
        The catalogue file.
    column
        The offending column (``None`` when the problem is the file itself).
    expected, found
        What was needed and what the file holds.
    row
        0-based row number in the file, where one row is at fault.
    """

    def __init__(
        self, path: str | Path, column: str | None, expected: str, found: str, *, row: int | None = None
    ) -> None:
        self.path = Path(path)
        self.column = column
        self.expected = expected
        self.found = found
        self.row = row
        where = "" if column is None else f" column {column!r}"
        where += "" if row is None else f" (row {row})"
        super().__init__(f"{self.path}:{where}: expected {expected}, found {found}")


@dataclass
class Catalogue:
    """Validated galaxies, float64 arrays in degrees (positions) and map-frame ellipticities.

    ``m`` is zero where the catalogue has no per-object multiplicative bias column.
    """

    ra: np.ndarray
    dec: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    weight: np.ndarray
    z_b: np.ndarray
    m: np.ndarray

    def __len__(self) -> int:
        return int(self.ra.shape[0])

    def select(self, keep: np.ndarray) -> Catalogue:
        """The rows where ``keep`` is true (or at the indices ``keep``)."""
        return Catalogue(**{name: getattr(self, name)[keep] for name in CATALOGUE_FIELDS})

    @staticmethod
    def concatenate(parts: Sequence[Catalogue]) -> Catalogue:
        """One catalogue from several (in order)."""
        if not parts:
            return Catalogue(**{name: np.empty(0) for name in CATALOGUE_FIELDS})
        return Catalogue(
            **{name: np.concatenate([getattr(p, name) for p in parts]) for name in CATALOGUE_FIELDS}
        )


@dataclass
class DropCounts:
    """Rows read and rows dropped per reason (see the module docstring for the reasons)."""

    n_read: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, reason: str, n: int) -> None:
        """Count ``n`` more rows dropped for ``reason`` (zero counts are not recorded)."""
        if n:
            self.counts[reason] = self.counts.get(reason, 0) + int(n)

    def merge(self, other: DropCounts) -> None:
        """Add another chunk's counts."""
        self.n_read += other.n_read
        for reason, n in other.counts.items():
            self.add(reason, n)

    @property
    def n_dropped(self) -> int:
        """Total rows dropped."""
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"n_read": self.n_read, "n_kept": self.n_read - self.n_dropped, "dropped": dict(self.counts)}


def detect_format(path: str | Path, *, declared: str = "auto") -> str:
    """``"fits"``, ``"hdf5"`` or ``"parquet"``: ``declared`` unless ``"auto"``, else from the bytes.

    Raises
    ------
    CatalogueError
        If the file is missing or its format is not recognised.
    """
    path = Path(path)
    if not path.is_file():
        raise CatalogueError(path, None, "an existing catalogue file", "no such file")
    if declared != "auto":
        return declared
    with open(path, "rb") as fh:
        head = fh.read(_MAGIC_BYTES)
    for magic, fmt in _MAGIC.items():
        if head.startswith(magic):
            return fmt
    # Compressed FITS (.fits.gz) has no FITS magic in its first bytes: fall back on the name.
    for suffix in reversed(path.suffixes):
        if suffix.lower() in _SUFFIXES:
            return _SUFFIXES[suffix.lower()]
    raise CatalogueError(path, None, "a FITS, HDF5 or Parquet file", f"first bytes {head!r}")


def _resolve(path: Path, available: Sequence[str], wanted: str) -> str:
    """The stored name of column ``wanted`` (exact, else a unique case-insensitive match)."""
    if wanted in available:
        return wanted
    folded = [a for a in available if a.lower() == wanted.lower()]
    if len(folded) == 1:
        return folded[0]
    raise CatalogueError(path, wanted, "this column to exist", f"columns {sorted(available)}")


def _fits_chunks(
    path: Path, columns: Sequence[str], table: str | int | None, chunk_rows: int
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    from astropy.io import fits  # local: only FITS users pay for the import

    with fits.open(path, memmap=True) as hdul:
        if table is None:
            tables = [h for h in hdul if isinstance(h, fits.BinTableHDU | fits.TableHDU)]
            if not tables:
                raise CatalogueError(path, None, "a binary table HDU", f"HDUs {[h.name for h in hdul]}")
            hdu = tables[0]
        else:
            try:
                hdu = hdul[table]
            except (KeyError, IndexError):
                raise CatalogueError(
                    path, None, f"HDU {table!r} (survey.catalogue_table)", f"HDUs {[h.name for h in hdul]}"
                ) from None
        names = list(hdu.columns.names)
        stored = {c: _resolve(path, names, c) for c in columns}
        n_rows = int(hdu.header.get("NAXIS2", 0))
        for start in range(0, n_rows, chunk_rows):
            rows = hdu.data[start : start + chunk_rows]
            yield start, {c: np.asarray(rows[s]) for c, s in stored.items()}


def _hdf5_chunks(
    path: Path, columns: Sequence[str], table: str | int | None, chunk_rows: int
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    import h5py

    where = "/" if table is None else str(table)
    with h5py.File(path, "r") as fh:
        if where not in fh:
            raise CatalogueError(
                path,
                None,
                f"group or dataset {where!r} (survey.catalogue_table)",
                f"top-level keys {sorted(fh)}",
            )
        node = fh[where]
        if isinstance(node, h5py.Dataset):
            if node.dtype.names is None:
                raise CatalogueError(
                    path,
                    None,
                    f"{where!r} to be a group of columns or a compound table",
                    f"a plain dataset of dtype {node.dtype}",
                )
            stored = {c: _resolve(path, node.dtype.names, c) for c in columns}
            n_rows = node.shape[0]
            for start in range(0, n_rows, chunk_rows):
                rows = node[start : start + chunk_rows]
                yield start, {c: np.asarray(rows[s]) for c, s in stored.items()}
            return
        names = [k for k in node if isinstance(node[k], h5py.Dataset)]
        stored = {c: _resolve(path, names, c) for c in columns}
        lengths = {c: node[s].shape[0] if node[s].ndim else 0 for c, s in stored.items()}
        n_rows = max(lengths.values()) if lengths else 0
        for c, n in lengths.items():
            if n != n_rows:
                raise CatalogueError(path, stored[c], f"{n_rows} rows like the other columns", f"{n} rows")
        for start in range(0, n_rows, chunk_rows):
            yield start, {c: np.asarray(node[s][start : start + chunk_rows]) for c, s in stored.items()}


def _parquet_chunks(
    path: Path,
    columns: Sequence[str],
    table: str | int | None,  # noqa: ARG001 - the _READERS signature; a Parquet file holds one table
    chunk_rows: int,
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise CatalogueError(path, None, "pyarrow installed to read Parquet", "no pyarrow") from exc
    pf = pq.ParquetFile(path)
    stored = {c: _resolve(path, pf.schema_arrow.names, c) for c in columns}
    start = 0
    for batch in pf.iter_batches(batch_size=chunk_rows, columns=list(dict.fromkeys(stored.values()))):
        out = {}
        for c, s in stored.items():
            arrow = batch.column(batch.schema.get_field_index(s))
            if arrow.null_count:
                # Nulls become NaN, then count as non-finite values (a float copy is needed).
                arrow = arrow.cast("float64")
            out[c] = arrow.to_numpy(zero_copy_only=False)
        yield start, out
        start += batch.num_rows


_READERS = {"fits": _fits_chunks, "hdf5": _hdf5_chunks, "parquet": _parquet_chunks}


def iter_catalogue_chunks(
    path: str | Path,
    *,
    columns: Sequence[str],
    chunk_rows: int,
    format: str = "auto",
    table: str | int | None = None,
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Yield ``(first_row, {column: values})`` chunks of at most ``chunk_rows`` rows.

    Only the named columns are read. Values are returned as stored (no validation).

    Raises
    ------
    CatalogueError
        Missing file, unknown format, missing column.
    """
    path = Path(path)
    fmt = detect_format(path, declared=format)
    try:
        yield from _READERS[fmt](path, list(dict.fromkeys(columns)), table, chunk_rows)
    except CatalogueError:
        raise
    except (OSError, ValueError, TypeError) as exc:
        raise CatalogueError(
            path, None, f"a readable {fmt} catalogue", f"{type(exc).__name__}: {exc}"
        ) from exc


def _numeric(path: Path, column: str, values: np.ndarray) -> np.ndarray:
    if values.ndim != 1:
        raise CatalogueError(path, column, "a scalar (one value per row) column", f"shape {values.shape}")
    if not (np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_):
        raise CatalogueError(path, column, "a numeric column", f"dtype {values.dtype}")
    return values.astype(np.float64, copy=False)


class _Validator:
    """Validates chunks of one file; holds the policy and the column map."""

    def __init__(
        self, path: Path, columns: ColumnMap, selections: Sequence[Selection], invalid_rows: str
    ) -> None:
        if invalid_rows not in ("drop", "error"):
            raise ValueError(f"invalid_rows must be 'drop' or 'error', not {invalid_rows!r}")
        self.path = path
        self.columns = columns
        self.selections = tuple(selections)
        self.invalid_rows = invalid_rows

    def _bad(
        self,
        reason: str,
        column: str,
        bad: np.ndarray,
        first_row: int,
        values: np.ndarray,
        *,
        expected: str,
        drops: DropCounts,
        keep: np.ndarray,
    ) -> None:
        bad = bad & keep
        n_bad = int(bad.sum())
        if not n_bad:
            return
        if self.invalid_rows == "error":
            i = int(np.flatnonzero(bad)[0])
            raise CatalogueError(
                self.path,
                column,
                expected,
                f"{values[i]!r} ({n_bad} such row(s) in this chunk; "
                "set survey.invalid_rows: drop to drop and count them)",
                row=first_row + i,
            )
        drops.add(reason, n_bad)
        keep &= ~bad

    def __call__(self, first_row: int, raw: Mapping[str, np.ndarray]) -> tuple[Catalogue, DropCounts]:
        cm = self.columns
        values = {f: _numeric(self.path, col, raw[col]) for f, col in cm.items()}
        n = values["ra"].shape[0]
        drops = DropCounts(n_read=n)
        dec = values["dec"]
        outside = np.abs(dec) > _DEC_LIMIT  # NaN compares False: counted below as non-finite
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise CatalogueError(
                self.path,
                cm.dec,
                "declinations in [-90, 90] degrees (wrong column or unit?)",
                f"{dec[i]!r} ({int(outside.sum())} row(s) in this chunk)",
                row=first_row + i,
            )
        keep = np.ones(n, dtype=bool)
        for f, col in cm.items():
            v = values[f]
            self._bad(
                f"non_finite_{f}",
                col,
                ~np.isfinite(v),
                first_row,
                v,
                expected="finite values",
                drops=drops,
                keep=keep,
            )
        modulus = np.hypot(values["e1"], values["e2"])
        self._bad(
            "abs_e_ge_1",
            f"{cm.e1}/{cm.e2}",
            modulus >= 1.0,
            first_row,
            modulus,
            expected="|e| = sqrt(e1^2 + e2^2) < 1",
            drops=drops,
            keep=keep,
        )
        w = values["weight"]
        self._bad(
            "negative_weight", cm.weight, w < 0, first_row, w, expected="weights >= 0", drops=drops, keep=keep
        )
        zero = keep & (w == 0)
        drops.add("zero_weight", int(zero.sum()))
        keep &= ~zero
        for cut in self.selections:
            passed = cut.keep(_numeric(self.path, cut.column, raw[cut.column]))
            failed = keep & ~passed
            drops.add(f"selection: {cut.label}", int(failed.sum()))
            keep &= passed
        idx = np.flatnonzero(keep)
        m = values["m"][idx] if "m" in values else np.zeros(idx.size)
        cat = Catalogue(
            ra=np.mod(values["ra"][idx], _FULL_CIRCLE_DEG),
            dec=dec[idx],
            e1=values["e1"][idx],
            e2=values["e2"][idx],
            weight=w[idx],
            z_b=values["z_b"][idx],
            m=m,
        )
        return cat, drops


def iter_validated_chunks(
    paths: Sequence[str | Path] | str | Path,
    *,
    columns: ColumnMap | None = None,
    selections: Sequence[Selection] = (),
    invalid_rows: str = "drop",
    flip_e1: bool = False,
    flip_e2: bool = False,
    chunk_rows: int = 1 << 20,
    format: str = "auto",
    table: str | int | None = None,
) -> Iterator[tuple[Catalogue, DropCounts]]:
    """Yield validated ``(Catalogue, DropCounts)`` chunks of one or several catalogue files.

    Parameters
    ----------
    paths
        Catalogue file(s), read in order as one catalogue.
    columns
        Column names (KiDS-450 defaults when ``None``).
    selections
        Row cuts (``survey.selections``).
    invalid_rows
        ``"drop"`` (count and drop) or ``"error"`` (stop at the first bad row).
    flip_e1, flip_e2
        Multiply e1 / e2 by -1 (into the map frame's convention).
    chunk_rows
        Rows read at once; memory is a few times ``chunk_rows`` × the number of columns.
    format, table
        ``survey.catalogue_format`` and ``survey.catalogue_table``.

    Raises
    ------
    CatalogueError
        For every error case of the module docstring, naming file, column and row.
    """
    columns = columns or ColumnMap()
    paths = [paths] if isinstance(paths, str | Path) else list(paths)
    wanted = [col for _, col in columns.items()] + [s.column for s in selections]
    for path_arg in paths:
        path = Path(path_arg)
        validate = _Validator(path, columns, selections, invalid_rows)
        file_drops = DropCounts()
        for first_row, raw in iter_catalogue_chunks(
            path, columns=wanted, chunk_rows=chunk_rows, format=format, table=table
        ):
            cat, drops = validate(first_row, raw)
            file_drops.merge(drops)
            if flip_e1:
                cat.e1 = -cat.e1
            if flip_e2:
                cat.e2 = -cat.e2
            yield cat, drops
        if file_drops.n_read == 0:
            raise CatalogueError(path, None, "at least one row", "an empty table")
        if file_drops.n_dropped == file_drops.n_read:
            _no_usable_galaxy(path, columns, selections, file_drops)


def _no_usable_galaxy(
    path: Path, columns: ColumnMap, selections: Sequence[Selection], drops: DropCounts
) -> None:
    """Raise for a file none of whose rows survived validation (all weights 0, all e NaN, ...).

    Such a file is broken (or mis-configured), not merely noisy: without this it would only
    fail much later, with an unrelated numerical error in the maps stage.
    """
    reason = max(drops.counts, key=lambda r: drops.counts[r])
    fields = dict(columns.items())
    if reason.startswith("selection: "):
        label = reason.removeprefix("selection: ")
        column = next((c.column for c in selections if c.label == label), label)
    elif reason.startswith("non_finite_"):
        column = fields.get(reason.removeprefix("non_finite_"), reason)
    elif reason == "abs_e_ge_1":
        column = f"{columns.e1}/{columns.e2}"
    else:  # zero or negative weights
        column = columns.weight
    raise CatalogueError(
        path,
        column,
        "at least one usable galaxy (finite values, |e| < 1, weight > 0, passing the selections)",
        f"all {drops.n_read} rows dropped: {drops.counts}",
    )


def read_catalogue(paths: Sequence[str | Path] | str | Path, **options: Any) -> tuple[Catalogue, DropCounts]:
    """Read and validate whole catalogue(s); ``options`` as for :func:`iter_validated_chunks`.

    Returns
    -------
    catalogue, drops
        The kept rows and the counts of every drop reason.
    """
    parts, total = [], DropCounts()
    for cat, drops in iter_validated_chunks(paths, **options):
        parts.append(cat)
        total.merge(drops)
    log.info(
        "read %d catalogue rows, kept %d; drops: %s",
        total.n_read,
        total.n_read - total.n_dropped,
        total.counts,
    )
    return Catalogue.concatenate(parts), total
