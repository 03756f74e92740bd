"""A cell index of a snapshot's particles, so that a projection touches only the particles it needs.

The particles are sorted once per snapshot by the cubic cell that holds them (cell ``(cx, cy,
cz)`` of side ``box / n_cells``, flattened as ``(cx * n + cy) * n + cz``), and ``offsets[c] ...
offsets[c + 1]`` delimits cell ``c``'s particles. A pencil beam at low redshift covers a tiny
part of the box: the projection kernels visit only the cells its frustum can reach (1000
realisations then cost much less than 1000 passes over the whole snapshot).

Positions are stored one row per axis (structure of arrays): a kernel then loads 8 consecutive
particles' coordinates of one axis with one vector load, where interleaved ``(N, 3)`` rows cost
shuffles (the pencil-beam binning loop ran 4× slower on them, measured).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

__all__ = ["DEFAULT_PARTICLES_PER_CELL", "MAX_CELLS_PER_SIDE", "ParticleGrid", "arc_cell_ranges"]

#: Mean particles per cell. Fewer means tighter pre-selection but more per-cell overhead; the
#: per-cell bounds test costs about as much as ~10 particles.
DEFAULT_PARTICLES_PER_CELL = 16
#: Upper bound on cells per side (128^3 cells: 17 MB of offsets).
MAX_CELLS_PER_SIDE = 128
#: Margin, as a fraction of the box, by which :func:`arc_cell_ranges` widens an arc so that
#: rounding at cell faces never drops a cell.
CELL_FACE_MARGIN = 1e-9


@numba.njit(cache=True, nogil=True)
def arc_cell_ranges(start, width, n_cells, box, out):  # pragma: no cover - compiled
    """Cell index ranges covering the periodic arc ``[start, start + width]`` of one axis.

    Compiled so that the pencil-beam kernels can call it per realisation without Python.

    Parameters
    ----------
    start
        Arc start in ``[0, box)``, Mpc/h.
    width
        Arc length, Mpc/h (``>= box`` means the whole axis).
    n_cells
        Cells per side.
    box
        Box side, Mpc/h.
    out
        ``(2, 2)`` int64, filled with disjoint, sorted half-open ranges ``[c0, c1)``.

    Returns
    -------
    int
        Number of ranges written (1 or 2; 0 only for an arc that covers no cell).
    """
    eps = CELL_FACE_MARGIN * box
    if width + 2 * eps >= box:
        out[0, 0], out[0, 1] = 0, n_cells
        return 1
    lo, hi = start - eps, start + width + eps
    # An arc crossing a box face is two pieces; the one starting at 0 comes first (sorted).
    if lo < 0.0:
        a0, b0, a1, b1, n_pieces = 0.0, hi, lo + box, box, 2
    elif hi > box:
        a0, b0, a1, b1, n_pieces = 0.0, hi - box, lo, box, 2
    else:
        a0, b0, a1, b1, n_pieces = lo, hi, 0.0, 0.0, 1
    n_out = 0
    for piece in range(n_pieces):
        a, b = (a0, b0) if piece == 0 else (a1, b1)
        c0 = max(0, math.floor(a * n_cells / box))
        c1 = min(n_cells, math.floor(b * n_cells / box) + 1)
        if c0 >= c1:
            continue
        # Two pieces of an arc that nearly closes can share a cell: merge so that no cell (and
        # so no particle) is visited twice for one region.
        if n_out > 0 and c0 <= out[n_out - 1, 1]:
            out[n_out - 1, 1] = max(out[n_out - 1, 1], c1)
        else:
            out[n_out, 0], out[n_out, 1] = c0, c1
            n_out += 1
    return n_out


@numba.njit(cache=True, nogil=True)
def _cell_keys(pos, inv_width, n_cells, keys, counts):  # pragma: no cover - compiled
    """Flattened cell index of every particle; ``counts[c + 1]`` += 1 for cell ``c``."""
    for i in range(pos.shape[0]):
        cx = min(max(math.floor(pos[i, 0] * inv_width), 0), n_cells - 1)
        cy = min(max(math.floor(pos[i, 1] * inv_width), 0), n_cells - 1)
        cz = min(max(math.floor(pos[i, 2] * inv_width), 0), n_cells - 1)
        key = (cx * n_cells + cy) * n_cells + cz
        keys[i] = key
        counts[key + 1] += 1


@numba.njit(cache=True, nogil=True)
def _scatter(pos, keys, cursor, out):  # pragma: no cover - compiled
    """Place each particle at the next free slot of its cell (``out``: one row per axis)."""
    for i in range(pos.shape[0]):
        k = keys[i]
        j = cursor[k]
        out[0, j] = pos[i, 0]
        out[1, j] = pos[i, 1]
        out[2, j] = pos[i, 2]
        cursor[k] = j + 1


@dataclass(frozen=True)
class ParticleGrid:
    """Particles sorted by cell.

    Attributes
    ----------
    columns
        ``(3, N)`` float32 positions sorted by cell, one row per axis (x, y, z), comoving Mpc/h
        in ``[0, box]``.
    offsets
        ``(n_cells³ + 1,)`` int64: cell ``c`` holds ``columns[:, offsets[c]:offsets[c + 1]]``.
    n_cells
        Cells per side.
    box
        Box side, Mpc/h.
    """

    columns: np.ndarray
    offsets: np.ndarray
    n_cells: int
    box: float

    @property
    def pos(self) -> np.ndarray:
        """``(N, 3)`` float32 positions sorted by cell (a view of :attr:`columns`, not contiguous)."""
        return self.columns.T

    @property
    def n_particles(self) -> int:
        """Number of particles."""
        return int(self.columns.shape[1])

    @property
    def cell_size(self) -> float:
        """Cell side, Mpc/h."""
        return self.box / self.n_cells

    @property
    def mean_density(self) -> float:
        """Global mean particle number density, particles per (Mpc/h)³."""
        return self.n_particles / self.box**3

    @classmethod
    def build(
        cls,
        pos: np.ndarray,
        *,
        box: float,
        n_cells: int | None = None,
        particles_per_cell: int = DEFAULT_PARTICLES_PER_CELL,
    ) -> ParticleGrid:
        """Sort particles into cells.

        Parameters
        ----------
        pos
            ``(N, 3)`` positions in ``[0, box]``, comoving Mpc/h (float32 is kept as is).
        box
            Box side, Mpc/h.
        n_cells
            Cells per side; None chooses about ``particles_per_cell`` particles per cell.
        particles_per_cell
            Target mean occupation when ``n_cells`` is None.

        Raises
        ------
        ValueError
            If positions lie outside ``[0, box]`` (the canonical files guarantee ``[0, box)``).
        """
        pos = np.ascontiguousarray(pos, dtype=np.float32)
        if pos.ndim != 2 or pos.shape[1] != 3:
            raise ValueError(f"positions must have shape (N, 3), got {pos.shape}")
        if not box > 0:
            raise ValueError(f"box must be positive, got {box}")
        n = pos.shape[0]
        if n and (float(pos.min()) < 0.0 or float(pos.max()) > box):
            raise ValueError(f"positions outside [0, {box}] Mpc/h: min {pos.min()}, max {pos.max()}")
        if n_cells is None:
            n_cells = round((max(n, 1) / particles_per_cell) ** (1.0 / 3.0))
        n_cells = max(1, min(int(n_cells), MAX_CELLS_PER_SIDE))
        offsets = np.zeros(n_cells**3 + 1, dtype=np.int64)
        keys = np.empty(n, dtype=np.int64)
        _cell_keys(pos, n_cells / box, n_cells, keys, offsets)
        np.cumsum(offsets, out=offsets)
        # Counting sort (O(N), stable): particles keep their file order within a cell.
        columns = np.empty((3, n), dtype=np.float32)
        _scatter(pos, keys, offsets.copy(), columns)
        return cls(columns=columns, offsets=offsets, n_cells=n_cells, box=float(box))

    def cell_ranges(self, start: float, width: float) -> list[tuple[int, int]]:
        """Cell index ranges covering the periodic arc ``[start, start + width]`` of one axis.

        Parameters
        ----------
        start
            Arc start in ``[0, box)``, Mpc/h.
        width
            Arc length, Mpc/h (``>= box`` means the whole axis).

        Returns
        -------
        list of (int, int)
            Disjoint half-open ranges ``[c0, c1)`` of cell indices, at most two
            (:func:`arc_cell_ranges`). A margin of :data:`CELL_FACE_MARGIN` of the box guards
            against rounding at cell faces.
        """
        out = np.empty((2, 2), dtype=np.int64)
        n = arc_cell_ranges(float(start), float(width), self.n_cells, self.box, out)
        return [(int(out[k, 0]), int(out[k, 1])) for k in range(n)]
