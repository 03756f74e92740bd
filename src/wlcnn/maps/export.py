"""Full-sky HEALPix maps of a map file as standard HEALPix FITS (readable by ``healpy.read_map``).

A map file made in HEALPix mode with ``shells.store_fullsky: true`` holds full-sky RING maps
``/healpix/kappa`` and ``/healpix/kappa_ia`` (sky, bin, npix) beside its patches (see
:mod:`wlcnn.maps.mapfile`). :func:`export_healpix` writes one of them, one tomographic bin of one
sky, with :func:`healpy.write_map` (RING ordering, float32, values unchanged), atomically, with
the provenance record in the primary header card ``PROVJSON`` as the FITS catalogues of
:mod:`wlcnn.survey` carry it (so ``wlcnn audit`` follows it back to the map file).

Examples
--------
``wlcnn export-healpix results/demo/maps/c000/sim00.h5 kappa_bin0.fits --field kappa --bin 0``
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from wlcnn.atomic import atomic_path, check_output_paths
from wlcnn.maps.mapfile import MapFileContentError, read_map_attrs
from wlcnn.provenance import file_record, provenance_record, utc_now
from wlcnn.records import FITS_PROVENANCE_CARD

__all__ = ["FULLSKY_FIELDS", "HEALPIX_MODE", "export_healpix", "read_fullsky_map"]

#: Map-file ``mode`` whose files can hold full-sky maps; the others hold patches only.
HEALPIX_MODE = "healpix"
#: Full-sky fields of a map file and what each one is (written as the FITS column's comment).
FULLSKY_FIELDS = {
    "kappa": "convergence kappa (dimensionless, Born approximation)",
    "kappa_ia": "intrinsic-alignment convergence kappa_IA for A_IA = 1 (dimensionless)",
}
#: Group of the full-sky datasets in a map file.
_FULLSKY_GROUP = "healpix"
#: The stored maps are float32; written as such so that the FITS values equal the HDF5 ones.
_FITS_DTYPE = np.float32


def _index(path: Path, field: str, value: int, count: int, what: str) -> None:
    if not 0 <= value < count:
        raise MapFileContentError(path, field, f"{what} in 0 ... {count - 1}", str(value))


def read_fullsky_map(
    path: str | Path, *, field: str = "kappa", bin_index: int = 0, realisation: int = 0
) -> np.ndarray:
    """One full-sky RING map (float32, npix) of a HEALPix-mode map file.

    Parameters
    ----------
    path
        Map file written by the maps stage.
    field
        ``"kappa"`` or ``"kappa_ia"``.
    bin_index
        Tomographic bin, 0-based.
    realisation
        Full sky, 0-based: its patches are realisations ``realisation * P ... (realisation + 1) * P - 1``
        of the patch stacks (``P = patches_per_sky``).

    Raises
    ------
    MapFileError
        Not a map file, a patch-mode file (no full sky), no stored full-sky maps, or an index out of
        range; the message names the file, the field, what was expected and what was found.
    """
    path = Path(path)
    attrs = read_map_attrs(path)
    mode = attrs.get("mode")
    if mode != HEALPIX_MODE:
        raise MapFileContentError(
            path,
            "mode",
            f"'{HEALPIX_MODE}' (full-sky maps; shells.mode: healpix)",
            f"{mode!r} (a patch-mode file holds patches only, no full sky)",
        )
    if field not in FULLSKY_FIELDS:
        raise MapFileContentError(path, "--field", f"one of {sorted(FULLSKY_FIELDS)}", repr(field))
    name = f"{_FULLSKY_GROUP}/{field}"
    with h5py.File(path, "r") as fh:
        if name not in fh:
            raise MapFileContentError(
                path, name, "full-sky maps (written with shells.store_fullsky: true)", "no such dataset"
            )
        dataset = fh[name]
        if dataset.ndim != 3:  # (sky, bin, npix)
            raise MapFileContentError(path, name, "a (sky, bin, npix) array", f"shape {dataset.shape}")
        n_skies, n_bins, npix = dataset.shape
        _index(path, f"{name} (realisation)", realisation, n_skies, "a full-sky realisation")
        _index(path, f"{name} (bin)", bin_index, n_bins, "a tomographic bin")
        values = np.asarray(dataset[realisation, bin_index], dtype=_FITS_DTYPE)
    nside = attrs.get("nside")
    # 12 nside^2 pixels: a map that does not fill the sphere cannot be written as HEALPix.
    if nside is None or 12 * int(nside) ** 2 != npix:
        raise MapFileContentError(path, "nside", f"12 nside^2 = {npix} pixels of {name}", repr(nside))
    return values


def export_healpix(
    map_path: str | Path,
    out_path: str | Path,
    *,
    field: str = "kappa",
    bin_index: int = 0,
    realisation: int = 0,
) -> Path:
    """Write one full-sky map of ``map_path`` as a HEALPix FITS file ``out_path``, atomically.

    The file is what :func:`healpy.write_map` writes (a binary table, RING ordering, NSIDE and
    ORDERING cards) with ``WL*`` cards naming its source, and the provenance record in the
    primary header card ``PROVJSON``. ``healpy.read_map(out_path)`` returns the stored float32
    values unchanged.

    Parameters
    ----------
    map_path
        HEALPix-mode map file with full-sky maps.
    out_path
        FITS file to write; its directory must exist.
    field, bin_index, realisation
        See :func:`read_fullsky_map`.

    Returns
    -------
    Path
        ``out_path``.

    Raises
    ------
    MapFileError
        See :func:`read_fullsky_map`; nothing is written.
    OutputPathError
        ``out_path`` is the map file, a directory, or in a missing directory.
    """
    import healpy as hp
    from astropy.io import fits

    started = utc_now()
    map_path, out_path = Path(map_path), Path(out_path)
    check_output_paths([out_path], inputs=[map_path], where="OUT", parents_must_exist=True)
    values = read_fullsky_map(map_path, field=field, bin_index=bin_index, realisation=realisation)
    attrs = read_map_attrs(map_path)
    nside = hp.npix2nside(values.size)
    selection = {"field": field, "bin": bin_index, "realisation": realisation}
    record = provenance_record(
        step="export_healpix",
        inputs=[file_record(map_path)],
        config=selection,
        started=started,
        extra={
            "nside": nside,
            "cosmology_id": attrs.get("cosmology_id"),
            "simulation": attrs.get("simulation"),
        },
    )
    cards: list[tuple[str, Any, str]] = [
        ("WLFIELD", field, "kappa (Born) or kappa_ia (A_IA = 1)"),
        ("WLBIN", bin_index, "tomographic bin (0-based)"),
        ("WLREAL", realisation, "full-sky realisation (0-based)"),
        ("WLCOSMO", str(attrs.get("cosmology_id", "")), "cosmology id of the grid"),
        ("WLSIM", str(attrs.get("simulation", "")), "simulation"),
    ]
    # healpy insists on a FITS-like name; the temporary ends in .fits and is renamed when sealed.
    with atomic_path(out_path, suffix=".fits", suffix_last=True) as tmp:
        hp.write_map(
            str(tmp),
            values,
            nest=False,
            dtype=_FITS_DTYPE,
            column_names=[field.upper()],
            extra_header=cards,
            overwrite=True,
        )
        with fits.open(tmp, mode="update", memmap=False) as hdus:
            # Long strings are stored with the FITS CONTINUE convention.
            hdus[0].header[FITS_PROVENANCE_CARD] = json.dumps(record, default=str)
    return out_path
