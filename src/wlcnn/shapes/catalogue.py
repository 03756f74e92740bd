"""Stamp catalogue → the shear catalogue the survey stage reads (same columns and provenance).

A stamp catalogue holds, per galaxy, a postage stamp and its position and photometric redshift:

- HDF5 (the layout of :mod:`wlcnn.shapes.stamps`): datasets ``stamps`` (N, S, S), ``ra``,
  ``dec``, ``z_b`` (degrees; the PSF the stamps were observed with in the ``psf`` attribute);
- FITS: a binary table with columns ``ra``, ``dec``, ``z_b`` (any case) and an image HDU
  ``STAMPS`` of shape (N, S, S).

Each stamp is measured by the trained CNN (:mod:`wlcnn.shapes.estimator`); the catalogue
follows the KiDS (lensfit) convention the survey stage expects: e = g̃ − c (additive bias
removed), and a per-object multiplicative bias m, which the survey stage applies to the
simulations, never to the data. m and the weight come from the calibration of the same
estimator in bins of S/N (:func:`wlcnn.shapes.calibration.binned_bias`): the bin of an object is
that of its S/N estimated from the stamp (:func:`estimate_snr`), m is the bin's mean over the
two components and the weight is the inverse square of the bin's RMS error.

The FITS file written has the survey's configured column names (``survey.columns``) and sign
flips, and its provenance record in the primary header's ``PROVJSON`` card, like the mocks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from wlcnn.atomic import atomic_path
from wlcnn.shapes.estimator import measure_cnn
from wlcnn.shapes.stamps import read_stamp_file
from wlcnn.survey.catalogue import CatalogueError, detect_format
from wlcnn.survey.settings import ColumnMap

__all__ = [
    "STAMP_CATALOGUE_COLUMNS",
    "estimate_snr",
    "measure_stamp_catalogue",
    "per_object_calibration",
    "read_stamp_catalogue",
    "write_shear_catalogue",
]

#: Per-galaxy columns a stamp catalogue must have besides its stamps.
STAMP_CATALOGUE_COLUMNS = ("ra", "dec", "z_b")
#: FITS image HDU holding the stamps of a FITS stamp catalogue.
FITS_STAMPS_HDU = "STAMPS"
#: Width in pixels of the stamp border the noise level is estimated from.
NOISE_BORDER_PIX = 2
#: Median absolute deviation → standard deviation of a Gaussian.
_MAD_TO_SIGMA = 1.4826


def read_stamp_catalogue(path: str | Path, *, stamp_size: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Stamps (N, S, S) and the columns of :data:`STAMP_CATALOGUE_COLUMNS` of a stamp catalogue.

    Raises
    ------
    CatalogueError
        Missing file, unknown format, missing column or HDU, wrong stamp shape, row mismatch.
    """
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "hdf5":
        stamps, columns = read_stamp_file(
            path, stamp_size=stamp_size, require=STAMP_CATALOGUE_COLUMNS, truth=False
        )
        return np.asarray(stamps), {k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}
    if fmt != "fits":
        raise CatalogueError(path, None, "an HDF5 or FITS stamp catalogue", f"a {fmt} file")
    from astropy.io import fits  # lazy: only FITS users pay for the import

    with fits.open(path) as hdul:
        names = [h.name for h in hdul]
        if FITS_STAMPS_HDU not in names:
            raise CatalogueError(path, FITS_STAMPS_HDU, "an image HDU of stamps", f"HDUs {names}")
        stamps = np.asarray(hdul[FITS_STAMPS_HDU].data, dtype=np.float32)
        tables = [h for h in hdul if isinstance(h, fits.BinTableHDU)]
        if not tables:
            raise CatalogueError(path, None, "a binary table HDU", f"HDUs {names}")
        available = list(tables[0].columns.names)
        columns = {}
        for wanted in STAMP_CATALOGUE_COLUMNS:
            match = [a for a in available if a.lower() == wanted]
            if len(match) != 1:
                raise CatalogueError(path, wanted, "this column to exist", f"columns {sorted(available)}")
            columns[wanted] = np.asarray(tables[0].data[match[0]], dtype=np.float64)
    if stamps.ndim != 3 or stamps.shape[1:] != (stamp_size, stamp_size):
        raise CatalogueError(
            path,
            FITS_STAMPS_HDU,
            f"shape (N, {stamp_size}, {stamp_size}) (shapes.stamps.stamp_size)",
            f"shape {stamps.shape}",
        )
    for name, values in columns.items():
        if values.shape[0] != stamps.shape[0]:
            raise CatalogueError(
                path, name, f"{stamps.shape[0]} rows (one per stamp)", f"{values.shape[0]} rows"
            )
    return stamps, columns


def estimate_snr(stamps: np.ndarray) -> np.ndarray:
    """Optimal S/N of each stamp, sqrt(max(Σ I² − N σ², 0)) / σ, σ from the border pixels' MAD."""
    x = np.asarray(stamps, dtype=np.float64)
    border = np.ones(x.shape[1:], dtype=bool)
    border[NOISE_BORDER_PIX:-NOISE_BORDER_PIX, NOISE_BORDER_PIX:-NOISE_BORDER_PIX] = False
    edge = x[:, border]
    sigma = _MAD_TO_SIGMA * np.median(np.abs(edge - np.median(edge, axis=1, keepdims=True)), axis=1)
    sigma = np.maximum(sigma, np.finfo(float).tiny)
    n_pix = x.shape[1] * x.shape[2]
    power = np.sum(x**2, axis=(1, 2)) - n_pix * sigma**2
    return np.sqrt(np.maximum(power, 0.0)) / sigma


def per_object_calibration(
    snr: np.ndarray, calibration: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-object additive bias (N, 2), multiplicative bias m (N,) and weight (N,).

    ``calibration`` is one estimator's entry of the calibration JSON (``fit`` and ``by_snr``).
    """
    by_snr = calibration["by_snr"]
    edges = np.asarray(by_snr["edges"], dtype=float)
    n_bins = len(edges) - 1
    which = np.clip(np.searchsorted(edges, snr, side="right") - 1, 0, n_bins - 1)
    m_bins = np.mean(np.asarray(by_snr["m"], dtype=float), axis=1)
    rms_bins = np.asarray(by_snr["rms"], dtype=float)
    overall_m = float(np.mean(calibration["fit"]["m"]))
    overall_rms = float(np.mean(calibration["rms"]))
    # a bin without a fit (too few objects) falls back on the overall calibration
    m_bins = np.where(np.isfinite(m_bins), m_bins, overall_m)
    rms_bins = np.where(np.isfinite(rms_bins) & (rms_bins > 0), rms_bins, overall_rms)
    additive = np.broadcast_to(np.asarray(calibration["fit"]["c"], dtype=float), (snr.shape[0], 2))
    return additive, m_bins[which], 1.0 / rms_bins[which] ** 2


def measure_stamp_catalogue(
    path: str | Path, *, model: Any, calibration: Mapping[str, Any], stamp_size: int, batch_size: int
) -> dict[str, np.ndarray]:
    """Measure a stamp catalogue with the CNN: the shear catalogue's fields (see the module docstring).

    Parameters
    ----------
    path
        Stamp catalogue (HDF5 or FITS).
    model
        The trained estimator (:func:`wlcnn.shapes.estimator.load_estimator`).
    calibration
        The CNN's entry of the calibration JSON.
    stamp_size, batch_size
        Stamp side the network expects; stamps per network call.

    Returns
    -------
    dict
        ``ra``, ``dec``, ``e1``, ``e2``, ``weight``, ``z_b``, ``m`` arrays.
    """
    stamps, columns = read_stamp_catalogue(path, stamp_size=stamp_size)
    raw = measure_cnn(model, stamps, batch_size=batch_size)
    additive, m, weight = per_object_calibration(estimate_snr(stamps), calibration)
    e = raw - additive
    return {**columns, "e1": e[:, 0], "e2": e[:, 1], "weight": weight, "m": m}


def write_shear_catalogue(
    path: str | Path,
    *,
    columns: Mapping[str, np.ndarray],
    column_map: ColumnMap,
    flip_e1: bool,
    flip_e2: bool,
    provenance: Mapping[str, Any],
) -> None:
    """Write a shear catalogue (fields ra, dec, e1, e2, weight, z_b, m; map frame) as FITS, atomically.

    The e1 / e2 flips of the survey configuration are applied, so that the survey stage's reader
    (which applies them back) sees the map-frame values.
    """
    from astropy.io import fits  # lazy: only the writer needs astropy

    e1 = -np.asarray(columns["e1"]) if flip_e1 else np.asarray(columns["e1"])
    e2 = -np.asarray(columns["e2"]) if flip_e2 else np.asarray(columns["e2"])
    table = [
        fits.Column(name=column_map.ra, format="D", unit="deg", array=np.asarray(columns["ra"])),
        fits.Column(name=column_map.dec, format="D", unit="deg", array=np.asarray(columns["dec"])),
        fits.Column(name=column_map.e1, format="E", array=e1.astype(np.float32)),
        fits.Column(name=column_map.e2, format="E", array=e2.astype(np.float32)),
        fits.Column(name=column_map.weight, format="E", array=np.asarray(columns["weight"], np.float32)),
        fits.Column(name=column_map.z_b, format="E", array=np.asarray(columns["z_b"], np.float32)),
    ]
    if column_map.m is not None:
        table.append(fits.Column(name=column_map.m, format="E", array=np.asarray(columns["m"], np.float32)))
    primary = fits.PrimaryHDU()
    primary.header["ORIGIN"] = "wlcnn shapes"
    primary.header["PROVJSON"] = json.dumps(dict(provenance), default=str)
    hdus = fits.HDUList([primary, fits.BinTableHDU.from_columns(table, name="SHEAR")])
    with atomic_path(path, suffix=".fits") as tmp:
        hdus.writeto(tmp, overwrite=True)
