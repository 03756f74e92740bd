"""Readers for the N-body outputs the pipeline ingests, and the canonical particle format.

Use :func:`open_snapshot` for any supported file; it detects the format from the file's own
bytes (never from its name alone) and returns a :class:`~wlcnn.io.base.SnapshotReader`. A
damaged file of a recognisable format goes to its reader, which names the damage; every reader
checks its header facts (scale factor, redshift, Omega_m, h, box, counts, particle mass) with
the shared checks of ``wlcnn.io._header_checks`` and raises
:class:`~wlcnn.io.errors.HeaderValueError` naming file, field, expected and found.

=================  ==========================================================  =============
format name        what                                                        module
=================  ==========================================================  =============
``gadget1``        Gadget-2 SnapFormat 1 (Fortran records), single/multi-file  ``gadget``
``gadget2``        Gadget-2 SnapFormat 2 (8-byte block labels)                 ``gadget``
``gadget-hdf5``    Gadget-2 SnapFormat 3 and GADGET-4 HDF5                     ``gadget_hdf5``
``tipsy``          PkdGrav3 standard (XDR, big-endian) tipsy snapshot          ``tipsy``
``pkd-lightcone``  PkdGrav3 light-cone particles (``*.lcp.T``)                 ``pkd_lightcone``
``pkd-healpix``    PkdGrav3 HEALPix light-cone shells (``*.hpb.T``)            ``pkd_healpix``
=================  ==========================================================  =============

The format registry, detection and :func:`open_snapshot` live in :mod:`wlcnn.io.formats`; the
names below are loaded on first use (:mod:`wlcnn._lazy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wlcnn._lazy import attach

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from wlcnn.io.base import DEFAULT_CHUNK_SIZE, ParticleChunk, SnapshotHeader, SnapshotReader
    from wlcnn.io.errors import SnapshotError, UnknownFormatError
    from wlcnn.io.formats import (
        FORMATS,
        GENERIC_OPTIONS,
        RECOGNITION_ORDER,
        detect_format,
        open_snapshot,
        reader_class,
    )

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "FORMATS",
    "GENERIC_OPTIONS",
    "RECOGNITION_ORDER",
    "ParticleChunk",
    "SnapshotError",
    "SnapshotHeader",
    "SnapshotReader",
    "UnknownFormatError",
    "detect_format",
    "open_snapshot",
    "reader_class",
]

#: Public name -> the submodule that defines it (loaded on first use).
_HOME = {
    "DEFAULT_CHUNK_SIZE": "base",
    "ParticleChunk": "base",
    "SnapshotHeader": "base",
    "SnapshotReader": "base",
    "SnapshotError": "errors",
    "UnknownFormatError": "errors",
    "FORMATS": "formats",
    "GENERIC_OPTIONS": "formats",
    "RECOGNITION_ORDER": "formats",
    "detect_format": "formats",
    "open_snapshot": "formats",
    "reader_class": "formats",
}

__getattr__, __dir__ = attach(__name__, _HOME, public=__all__)
