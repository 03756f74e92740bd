"""The survey catalogue with its rendered galaxies' shapes replaced by their measured ones.

The constraints from measured shapes are compared with those from exact shapes on the survey
catalogue itself, so that both carry the shape noise and galaxy density the simulations'
covariance was built for (a thinned catalogue would be far noisier than the simulated surveys).
The "exact" catalogue is the survey mock unchanged; the "measured" one is this module's output:
the same file, row for row and column for column, except the ellipticities of the galaxies
rendered as stamps (``render_mock_stamps``), which become the CNN's measurements of their stamps
(``measure_shapes``).

A measured catalogue follows the KiDS convention, e = g̃ − c with a per-object m the survey
stage applies to the simulations. Here the simulations are those of the survey, whose m column is
kept, so the measured ellipticity is fully calibrated before it replaces the exact one:
e = (g̃ − c) / (1 + m_CNN). The exact ellipticity it replaces already carries the mock's own
(1 + m) shear response, which the rendered stamp inherits, so the kept m column still describes
the replaced rows. Weights, positions, redshifts and every other column are kept.

Galaxies are matched by their exact (RA, Dec): the measured catalogue carries the positions of
the catalogue it was drawn from bit for bit; every measured galaxy must match exactly one row.

The FITS file written keeps every HDU, column and header card of the survey catalogue; its
``PROVJSON`` card holds a new provenance record (inputs: both catalogues) with the survey
catalogue's own record under ``extra.catalogue_provenance``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from wlcnn.atomic import atomic_path
from wlcnn.survey.catalogue import CatalogueError
from wlcnn.survey.settings import ColumnMap

__all__ = ["PROVENANCE_CARD", "match_rows", "merge_measured_shapes", "read_merge_summary"]

#: Primary-header card holding a catalogue's provenance record (as the mocks write it).
PROVENANCE_CARD = "PROVJSON"
#: Bytes of one (RA, Dec) key: two float64.
_KEY_BYTES = 16


def _position_keys(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """One opaque key per (RA, Dec) pair, equal exactly when both coordinates are bit-identical."""
    pairs = np.ascontiguousarray(np.stack([np.asarray(ra, np.float64), np.asarray(dec, np.float64)], axis=1))
    return pairs.view(np.dtype((np.void, _KEY_BYTES))).ravel()


def match_rows(
    ra: np.ndarray, dec: np.ndarray, *, measured_ra: np.ndarray, measured_dec: np.ndarray, path: str | Path
) -> np.ndarray:
    """Row of the catalogue (``ra``, ``dec``) of each measured galaxy, by exact position.

    Raises
    ------
    CatalogueError
        (naming ``path``, the measured catalogue) when a measured galaxy has no row, more than
        one row, or two measured galaxies share a row.
    """
    keys = _position_keys(ra, dec)
    wanted = _position_keys(measured_ra, measured_dec)
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    where = np.searchsorted(ordered, wanted)
    inside = np.minimum(where, max(len(ordered) - 1, 0))
    found = (
        (where < len(ordered)) & (ordered[inside] == wanted) if len(ordered) else np.zeros(len(wanted), bool)
    )
    if not np.all(found):
        first = int(np.flatnonzero(~found)[0])
        raise CatalogueError(
            path,
            "ra/dec",
            "every measured galaxy at the exact position of a survey-catalogue galaxy",
            f"{int(np.sum(~found))} without a match, first at "
            f"({float(measured_ra[first])!r}, {float(measured_dec[first])!r})",
            row=first,
        )
    after = np.minimum(where + 1, len(ordered) - 1)
    ambiguous = (where + 1 < len(ordered)) & (ordered[after] == wanted)
    if np.any(ambiguous):
        first = int(np.flatnonzero(ambiguous)[0])
        raise CatalogueError(
            path, "ra/dec", "one survey-catalogue galaxy per position", "several at one position", row=first
        )
    rows = order[where]
    if np.unique(rows).size != rows.size:
        raise CatalogueError(path, "ra/dec", "each galaxy measured once", "a galaxy measured twice")
    return rows


def _column(table: Any, name: str, path: str | Path) -> np.ndarray:
    if name not in table.columns.names:
        raise CatalogueError(
            path, name, "this column (survey.columns)", f"columns {sorted(table.columns.names)}"
        )
    return np.asarray(table.data[name])


def _table_hdu(hdul: Any, path: str | Path, table: str | int | None) -> Any:
    from astropy.io import fits  # lazy: only FITS users pay for the import

    if table is not None:
        try:
            return hdul[table]
        except (KeyError, IndexError):
            raise CatalogueError(
                path, None, f"HDU {table!r} (survey.catalogue_table)", f"HDUs {[h.name for h in hdul]}"
            ) from None
    tables = [h for h in hdul if isinstance(h, fits.BinTableHDU)]
    if not tables:
        raise CatalogueError(path, None, "a binary table HDU", f"HDUs {[h.name for h in hdul]}")
    return tables[0]


def merge_measured_shapes(
    catalogue: str | Path,
    measured: str | Path,
    out: str | Path,
    *,
    column_map: ColumnMap,
    provenance: Mapping[str, Any],
    table: str | int | None = None,
) -> dict[str, Any]:
    """Write ``catalogue`` with the measured galaxies' ellipticities replaced (see the module docstring).

    Parameters
    ----------
    catalogue
        The survey catalogue (FITS) the rendered galaxies were drawn from.
    measured
        The measured catalogue (``measure_shapes``; same column names and sign flips).
    out
        The merged catalogue (FITS), written atomically.
    column_map
        The survey's column names (``survey.columns``).
    provenance
        The record of this step; the catalogue's own record is added under ``extra``.
    table
        HDU of the survey catalogue's table (``survey.catalogue_table``; default: the first).

    Returns
    -------
    dict
        ``n_rows``, ``n_replaced`` and ``replaced_fraction``.

    Raises
    ------
    CatalogueError
        Missing column, unmatched galaxy, or a measured m with 1 + m ≤ 0.
    """
    from astropy.io import fits  # lazy: only FITS users pay for the import

    if column_map.m is None:
        raise CatalogueError(
            measured, "m", "a per-object m column (survey.columns.m) to calibrate with", "none"
        )
    with fits.open(measured) as hdul:
        shear = _table_hdu(hdul, measured, None)
        m_ra, m_dec = (
            np.asarray(_column(shear, c, measured), np.float64) for c in (column_map.ra, column_map.dec)
        )
        m_e1, m_e2, m_m = (
            np.asarray(_column(shear, c, measured), np.float64)
            for c in (column_map.e1, column_map.e2, column_map.m)
        )
    response = 1.0 + m_m
    if np.any(~(response > 0)):
        first = int(np.flatnonzero(~(response > 0))[0])
        raise CatalogueError(
            measured,
            column_map.m,
            "1 + m > 0 (a positive shear response)",
            f"m = {float(m_m[first])!r}",
            row=first,
        )
    with fits.open(catalogue) as source:
        hdul = fits.HDUList([h.copy() for h in source])
    hdu = _table_hdu(hdul, catalogue, table)
    rows = match_rows(
        _column(hdu, column_map.ra, catalogue),
        _column(hdu, column_map.dec, catalogue),
        measured_ra=m_ra,
        measured_dec=m_dec,
        path=measured,
    )
    for name, values in ((column_map.e1, m_e1), (column_map.e2, m_e2)):
        column = hdu.data[name]
        column[rows] = (values / response).astype(column.dtype)
    primary = hdul[0].header
    record = dict(provenance)
    extra = dict(record.get("extra") or {})
    own = primary.get(PROVENANCE_CARD)
    extra["catalogue_provenance"] = json.loads(own) if own else None
    n_rows = int(hdu.data.shape[0])
    summary = {
        "n_rows": n_rows,
        "n_replaced": int(rows.size),
        "replaced_fraction": rows.size / max(n_rows, 1),
    }
    record["extra"] = {**extra, **summary}
    primary[PROVENANCE_CARD] = json.dumps(record, default=str)
    with atomic_path(out, suffix=".fits") as tmp:
        hdul.writeto(tmp, overwrite=True)
    return summary


def read_merge_summary(path: str | Path) -> dict[str, Any]:
    """``n_rows``, ``n_replaced`` and ``replaced_fraction`` of a merged catalogue (from its header).

    Raises
    ------
    CatalogueError
        The file has no provenance record of :func:`merge_measured_shapes`.
    """
    from astropy.io import fits  # lazy: only FITS users pay for the import

    try:
        card = fits.getheader(path, 0).get(PROVENANCE_CARD)
        extra = json.loads(card)["extra"] if card else {}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CatalogueError(path, None, f"a FITS file with a {PROVENANCE_CARD} record", str(exc)) from None
    keys = ("n_rows", "n_replaced", "replaced_fraction")
    if not all(k in extra for k in keys):
        raise CatalogueError(
            path, None, f"a merge record ({', '.join(keys)}) in {PROVENANCE_CARD}", f"{sorted(extra)}"
        )
    return {k: extra[k] for k in keys}
