"""The snapshot formats: their registry, detection from a file's content, and opening.

Re-exported by :mod:`wlcnn.io` (``from wlcnn.io import open_snapshot``). Each format name maps
to its reader class, imported only when that format is used (so that h5py is only needed for
HDF5 files).
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from wlcnn.io.base import SnapshotReader
from wlcnn.io.errors import SnapshotError, UnknownFormatError

__all__ = [
    "FORMATS",
    "GENERIC_OPTIONS",
    "RECOGNITION_ORDER",
    "detect_format",
    "open_snapshot",
    "reader_class",
]

#: Options any reader may be given; a reader that has no use for one ignores it, so one set of
#: options (from the configuration) can be passed whatever the detected format.
GENERIC_OPTIONS = frozenset({"length_unit", "box", "step_redshifts"})

#: format name -> "module:ClassName" (imported lazily so that h5py is only needed for HDF5).
FORMATS: dict[str, str] = {
    "gadget1": "wlcnn.io.gadget:GadgetBinaryReader",
    "gadget2": "wlcnn.io.gadget:GadgetBinaryReader",
    "gadget-hdf5": "wlcnn.io.gadget_hdf5:GadgetHDF5Reader",
    "tipsy": "wlcnn.io.tipsy:TipsyReader",
    "pkd-lightcone": "wlcnn.io.pkd_lightcone:LightconeParticleReader",
    "pkd-healpix": "wlcnn.io.pkd_healpix:HealpixShellReader",
}


#: The order in which :func:`detect_format` asks the readers to *recognise* a file that no
#: reader's strict ``sniff`` accepted: strongest evidence first (an 8-byte HDF5 signature,
#: PKDGRAV3's ``.lcp``/``.hpb`` file names, tipsy's ndim = 3 and consistent counts), a single
#: Gadget record marker last.
RECOGNITION_ORDER = ("gadget-hdf5", "pkd-lightcone", "pkd-healpix", "tipsy", "gadget1")


def reader_class(format: str) -> type[SnapshotReader]:
    """Return the reader class registered for ``format``."""
    try:
        target = FORMATS[format]
    except KeyError:
        raise ValueError(f"unknown format {format!r}; allowed: {sorted(FORMATS)} or 'auto'") from None
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def _first_file(path: Path) -> Path:
    """The file whose bytes identify a (possibly multi-file) snapshot named by ``path``."""
    if path.exists():
        return path
    for candidate in (path.with_name(path.name + ".0"), path.with_name(path.name + ".0.hdf5")):
        if candidate.exists():
            return candidate
    hdf5 = path.with_name(path.name + ".hdf5")
    if hdf5.exists():
        return hdf5
    raise FileNotFoundError(f"{path}: no such snapshot (nor {path.name}.0 / {path.name}.hdf5)")


def detect_format(path: str | Path) -> str:
    """Detect the format of a snapshot or light-cone file from its content.

    Two passes: first every reader's strict ``sniff`` (the file looks intact); then, in
    :data:`RECOGNITION_ORDER`, every reader's ``recognise`` (magic numbers and structure
    only), so that a damaged file of a recognisable format goes to its reader, which names
    the damage (a bad marker, a truncation, mixed byte order, a missing group), instead of
    being reported as an unknown format.

    Raises
    ------
    UnknownFormatError
        When no reader recognises the file; the message lists the formats tried and the
        file's first bytes.
    """
    path = Path(path)
    first = _first_file(path)
    if first.is_dir():
        raise UnknownFormatError(first, "path", "a snapshot or light-cone file", "a directory")
    seen: set[str] = set()
    for name, target in FORMATS.items():
        if target in seen:
            continue
        seen.add(target)
        cls = reader_class(name)
        fmt = cls.sniff(first)
        if fmt:
            return fmt if isinstance(fmt, str) else name
    for name in RECOGNITION_ORDER:
        fmt = reader_class(name).recognise(first)
        if fmt:
            return fmt
    with open(first, "rb") as fh:
        head = fh.read(16)
    raise UnknownFormatError(
        first,
        "offset 0",
        f"one of the formats {sorted(FORMATS)}",
        f"{first.stat().st_size} bytes starting with {head!r}",
    )


def open_snapshot(path: str | Path, *, format: str = "auto", **options: Any) -> SnapshotReader:
    """Open any supported snapshot or light-cone file.

    Parameters
    ----------
    path
        A file, or the base name of a multi-file snapshot (``snapshot_005`` for
        ``snapshot_005.0 ... snapshot_005.N``).
    format
        ``"auto"`` (detect from content) or one of :data:`FORMATS`.
    **options
        Passed to the reader: ``length_unit`` (Gadget binary: ``"kpc/h"``, ``"Mpc/h"`` or
        None to infer from the box size), ``box`` (Mpc/h; tipsy and light-cone files, which
        store positions in box units), ``step_redshifts`` (light-cone files: mapping step ->
        redshift, or a path to a two-column table).

    Examples
    --------
    >>> from wlcnn.io import open_snapshot
    >>> reader = open_snapshot("snapshot_006")            # doctest: +SKIP
    >>> reader.header.redshift, reader.header.n_particles  # doctest: +SKIP
    (0.0, 32768)
    """
    path = Path(path)
    fmt = detect_format(path) if format == "auto" else format
    cls = reader_class(fmt)
    params = inspect.signature(cls.__init__).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = set(options) - set(params) - GENERIC_OPTIONS
        if unknown:
            raise TypeError(f"{cls.__name__} got unknown options {sorted(unknown)}")
        options = {k: v for k, v in options.items() if k in params}
    try:
        return cls(path, **options)  # type: ignore[call-arg]  # readers take (path, **options); the ABC has no __init__
    except SnapshotError:
        raise
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:  # never let a low-level error hide the file name
        raise SnapshotError(path, "header", f"a readable {fmt} file", f"{type(exc).__name__}: {exc}") from exc
