"""Work sharing of a map job over MPI ranks: the communicator type, rank splitting, the gather.

Every realisation is seeded by its identity, never by the rank, and rank 0 writes the ranks'
blocks in realisation order, so a map file's data are the same for any number of ranks. Nothing
here imports mpi4py: a communicator is anything with the :class:`Comm` methods (an
``mpi4py.MPI.Comm``), and ``None`` means a single process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from wlcnn.maps.mapfile import MapFileWriter

__all__ = ["Comm", "gather_to_root", "rank_and_size", "split_range"]


class Comm(Protocol):
    """The part of an ``mpi4py.MPI.Comm`` the map stage uses."""

    def Get_rank(self) -> int:
        """The rank of the calling process."""
        ...

    def Get_size(self) -> int:
        """Number of ranks."""
        ...

    def Send(self, buf: Any, dest: int, tag: int = 0) -> None:
        """Send a buffer (blocking)."""
        ...

    def Recv(self, buf: Any, source: int, tag: int = 0) -> None:
        """Receive into a buffer (blocking)."""
        ...

    def Abort(self, errorcode: int = 0) -> None:
        """Terminate every rank."""
        ...


def rank_and_size(comm: Comm | None) -> tuple[int, int]:
    """``(rank, size)`` of a communicator; ``(0, 1)`` for None (a single process)."""
    if comm is None:
        return 0, 1
    return comm.Get_rank(), comm.Get_size()


def split_range(n: int, size: int, rank: int) -> range:
    """The contiguous block of ``range(n)`` owned by ``rank`` of ``size`` (sizes differ by at most 1).

    Examples
    --------
    >>> [list(split_range(5, 2, r)) for r in range(2)]
    [[0, 1, 2], [3, 4]]
    """
    if not 0 <= rank < size:
        raise ValueError(f"rank {rank} outside [0, {size})")
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))


def gather_to_root(
    comm: Comm | None,
    blocks: Mapping[str, tuple[np.ndarray | None, int]],
    *,
    writer: MapFileWriter | None,
    n_realisations: int,
) -> None:
    """Send every rank's blocks to rank 0, which writes them in realisation order.

    Parameters
    ----------
    comm
        Communicator, or None (single process: write the local blocks).
    blocks
        ``name -> (array, rows per realisation)``; the arrays hold this rank's realisations
        (:func:`split_range`) and the same names are None on every rank.
    writer
        :class:`wlcnn.maps.mapfile.MapFileWriter` on rank 0, None elsewhere.
    n_realisations
        Realisations in the split.

    Notes
    -----
    Rank 0 holds its own blocks and one other rank's at a time. Arrays travel as raw buffers
    (``Send``/``Recv``), in a fixed order of names.
    """
    rank, size = rank_and_size(comm)
    names = [name for name in sorted(blocks) if blocks[name][0] is not None]
    if rank != 0:
        assert comm is not None  # a rank other than 0 exists only with a communicator
        for tag, name in enumerate(names):
            comm.Send(np.ascontiguousarray(blocks[name][0]), dest=0, tag=tag)
        return
    assert writer is not None  # rank 0 writes
    for source in range(size):
        owned = split_range(n_realisations, size, source)
        for tag, name in enumerate(names):
            own, rows = blocks[name]
            assert own is not None
            if source == 0:
                data = own
            else:
                assert comm is not None
                data = np.empty((len(owned) * rows, *own.shape[1:]), dtype=own.dtype)
                comm.Recv(data, source=source, tag=tag)
            writer.write_block(owned.start * rows, **{name: data})
