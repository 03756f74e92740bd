"""The reader contract shared by every simulation format.

Canonical units, whatever the code wrote:

- positions: comoving Mpc/h. Snapshots: in ``[0, box)``. Light-cone particles: relative to the
  observer (not wrapped, they span many box replicas).
- velocities: peculiar velocity in km/s.
- particle mass: M_sun/h (one value; all formats read here carry equal-mass dark matter).
- box: Mpc/h.

A reader opens the file(s) and parses the header eagerly (cheap, a few hundred bytes) and
streams the particles lazily in chunks of at most ``chunk_size`` particles, so memory stays a
small multiple of one chunk whatever the snapshot size.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "ParticleChunk",
    "SnapshotHeader",
    "SnapshotReader",
    "concatenate_chunks",
]

#: Particles per chunk: 2**20 particles is 12 MB of float32 positions.
DEFAULT_CHUNK_SIZE = 1 << 20


@dataclass(frozen=True)
class SnapshotHeader:
    """Header facts of one snapshot (possibly spread over several files).

    Attributes
    ----------
    format
        Detected format name: ``gadget1``, ``gadget2``, ``gadget-hdf5``, ``tipsy``,
        ``pkd-lightcone`` or ``pkd-healpix``.
    files
        Every file that makes up the snapshot, in reading order.
    n_particles
        Total particle count (for HEALPix shells: the summed pixel counts).
    a, redshift
        Scale factor and redshift from the header; NaN when the format stores neither
        (light-cone files: use the step-redshift table of the run).
    box
        Periodic box side in Mpc/h (NaN when unknown).
    particle_mass
        Mass per particle in M_sun/h (NaN when unknown).
    omega_m, omega_lambda, hubble
        Cosmology where the file stores it (``hubble`` is h), else None.
    has_ids, has_velocities
        Whether the format stores particle IDs and velocities.
    extra
        Format-specific facts worth printing (``nside``, ``step``, ``id_bytes``, ...).
    """

    format: str
    files: tuple[Path, ...]
    n_particles: int
    a: float
    redshift: float
    box: float
    particle_mass: float
    omega_m: float | None = None
    omega_lambda: float | None = None
    hubble: float | None = None
    has_ids: bool = False
    has_velocities: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (paths as strings)."""
        out = asdict(self)
        out["files"] = [str(f) for f in self.files]
        return out


@dataclass
class ParticleChunk:
    """A contiguous slice of particles in canonical units.

    Attributes
    ----------
    pos
        ``(n, 3)`` float32 comoving Mpc/h.
    vel
        ``(n, 3)`` float32 peculiar km/s, or None when the format has no velocities.
    ids
        ``(n,)`` uint64 particle IDs, or None when the format has none.
    """

    pos: np.ndarray
    vel: np.ndarray | None = None
    ids: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.pos.shape[0])


def concatenate_chunks(chunks: Iterator[ParticleChunk] | list[ParticleChunk]) -> ParticleChunk:
    """Join chunks into one (for tests and small files only: loads everything)."""
    chunks = list(chunks)
    if not chunks:
        return ParticleChunk(pos=np.empty((0, 3), np.float32))
    pos = np.concatenate([c.pos for c in chunks])
    vel = None if chunks[0].vel is None else np.concatenate([c.vel for c in chunks])
    ids = None if chunks[0].ids is None else np.concatenate([c.ids for c in chunks])
    return ParticleChunk(pos=pos, vel=vel, ids=ids)


class SnapshotReader(abc.ABC):
    """Base class of all readers.

    Subclasses parse and validate the header in ``__init__`` (raising a
    :class:`wlcnn.io.errors.SnapshotError` subclass on bad input), expose it as
    :attr:`header`, and implement :meth:`iter_chunks`.
    """

    #: Format name, as in :attr:`SnapshotHeader.format`.
    format: str = ""

    header: SnapshotHeader

    @classmethod
    @abc.abstractmethod
    def sniff(cls, path: Path) -> str | None:
        """Cheaply tell whether ``path`` is in this format (reads a few bytes).

        Returns the format name (e.g. ``"gadget2"``) or None. Must never raise on foreign files.
        """

    @classmethod
    def recognise(cls, path: Path) -> str | None:
        """Tell whether ``path`` is in this format *even if it is damaged*.

        Looks at magic numbers and structure only (never at the values or the file size), so
        that a truncated or corrupted file is handed to this reader, which then reports what
        is wrong, instead of being called "unknown format". :func:`wlcnn.io.detect_format`
        asks it only after every reader's :meth:`sniff` declined. Must never raise; the
        default is :meth:`sniff`.
        """
        return cls.sniff(path)

    @abc.abstractmethod
    def iter_chunks(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[ParticleChunk]:
        """Yield the particles in chunks of at most ``chunk_size``, in file order."""

    def read(self) -> ParticleChunk:
        """Read every particle at once (convenience for small files and tests)."""
        return concatenate_chunks(self.iter_chunks())

    def __repr__(self) -> str:
        h = self.header
        return f"<{type(self).__name__} {h.files[0]} N={h.n_particles} z={h.redshift:.4f}>"
