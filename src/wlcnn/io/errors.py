"""Errors raised by the snapshot readers.

Every error names the file, the place in it (byte offset, block or field) and what was
expected against what was found, so that the one bad file out of thousands can be fixed
without a debugger.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "SnapshotError",
    "TruncatedFileError",
    "RecordMarkerError",
    "ParticleCountError",
    "UnknownFormatError",
    "PositionRangeError",
    "RedshiftOrderError",
    "UnitError",
    "HeaderValueError",
]


class SnapshotError(ValueError):
    """A snapshot or light-cone file cannot be read as what it claims to be.

    Parameters
    ----------
    path
        The offending file.
    where
        Byte offset, block name or field, e.g. ``"offset 268"`` or ``"/Header/NumPart_Total"``.
    expected, found
        What the reader needed and what the file holds.
    """

    def __init__(self, path: str | Path, where: str, expected: str, found: str) -> None:
        self.path = Path(path)
        self.where = where
        self.expected = expected
        self.found = found
        super().__init__(f"{self.path}: {where}: expected {expected}, found {found}")


class TruncatedFileError(SnapshotError):
    """The file ends before the data its header announces."""


class RecordMarkerError(SnapshotError):
    """A Fortran record marker (Gadget binary) does not match the block it wraps."""


class ParticleCountError(SnapshotError):
    """The header's particle counts disagree with the data (or across files of one snapshot)."""


class UnknownFormatError(SnapshotError):
    """No reader recognises the file."""


class PositionRangeError(SnapshotError):
    """Particle positions fall outside the periodic box."""


class RedshiftOrderError(SnapshotError):
    """A snapshot series whose redshifts are not strictly monotonic."""


class UnitError(SnapshotError):
    """The configured length unit is implausible for the header's box size."""


class HeaderValueError(SnapshotError):
    """A header fact is impossible (NaN, out of range) or disagrees with the other header facts."""
