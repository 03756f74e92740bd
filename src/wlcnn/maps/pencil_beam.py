"""Pencil-beam shells: project a snapshot's particles in one shell onto a gnomonic patch.

The observer sits at the origin of the transformed box (after the random symmetry and shift of
:mod:`wlcnn.maps.symmetries`, so effectively at a random place) and looks along the transformed
box's +z axis: a particle at ``(X, Y, Z)`` (comoving Mpc/h, box replicas at ``X + n L``) has
gnomonic coordinates ``x = X / Z``, ``y = Y / Z`` (:mod:`wlcnn.maps.gnomonic` convention, maps
indexed ``[y, x]``) and distance ``r = |(X, Y, Z)|``. It is counted in the shell when
``r_near <= r < r_far`` and in pixel ``(iy, ix)`` with ``ix = floor((x + a) / Δ)``.

The overdensity is ``δ = N / N̄ - 1`` with ``N̄ = n̄ Ω_pix (r_far³ - r_near³) / 3``: the global
mean particle density times the exact volume of the pixel's frustum (its exact solid angle,
:attr:`PatchGeometry.pixel_solid_angles`, times the radial extent).

Only particles that can fall in the beam are touched. The frustum's bounding box is split by
box replica; each piece is mapped back through the inverse transform to at most 8
axis-aligned boxes of original coordinates, i.e. ranges of cells of a
:class:`~wlcnn.maps.cellgrid.ParticleGrid`; the compiled kernel then skips every such cell whose
(transformed) bounds miss the frustum, and tests the particles of the others exactly. At low
redshift the beam is a fraction of a per cent of the box.

:func:`project_counts_numpy` is the straightforward reference (transform every particle, test
every replica); it uses the same floating-point expressions, so both give identical counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numba
import numpy as np

from wlcnn.maps.cellgrid import ParticleGrid, arc_cell_ranges
from wlcnn.maps.gnomonic import PatchGeometry
from wlcnn.maps.prefetch import prefetch
from wlcnn.maps.shells import Shell
from wlcnn.maps.symmetries import BoxTransform

__all__ = [
    "BOUNDS_SLACK",
    "BeamRegions",
    "ShellProjector",
    "beam_regions",
    "beam_replicas",
    "expected_counts",
    "overdensity",
    "project_counts",
    "project_counts_numpy",
]

#: Relative slack on the conservative bounds (cell selection, per-cell tests): they must never
#: drop a particle that the exact per-particle test keeps, whatever the rounding.
BOUNDS_SLACK = 1e-9
#: A replica's piece of the beam maps back to at most 2 cell ranges per axis: 2³ cell boxes.
MAX_PIECES_PER_REPLICA = 8


def _frustum_bounds(shell: Shell, geometry: PatchGeometry) -> tuple[float, float, float]:
    """(z_min, z_max, half_width_max): bounding box of the beam's frustum, Mpc/h, with slack."""
    a = geometry.half_width * (1.0 + BOUNDS_SLACK)
    # The pixel corners are the directions furthest from the axis: (a, a, 1) / sqrt(1 + 2a²).
    z_min = shell.r_near / math.sqrt(1.0 + 2.0 * a * a) * (1.0 - BOUNDS_SLACK)
    z_max = shell.r_far * (1.0 + BOUNDS_SLACK)
    return z_min, z_max, a * z_max


def beam_replicas(shell: Shell, geometry: PatchGeometry, box: float) -> np.ndarray:
    """Box replicas the beam's bounding box reaches.

    Returns
    -------
    numpy.ndarray
        ``(R, 3)`` float64 offsets ``n L`` (Mpc/h) of the replicas, in a fixed order.
    """
    z_min, z_max, xh = _frustum_bounds(shell, geometry)
    nz = range(math.floor(z_min / box), math.floor(z_max / box) + 1)
    nxy = range(math.floor(-xh / box), math.floor(xh / box) + 1)
    return np.array(
        [(nx * box, ny * box, k * box) for k in nz for nx in nxy for ny in nxy], dtype=np.float64
    ).reshape(-1, 3)


@dataclass(frozen=True)
class BeamRegions:
    """Cell boxes (of original coordinates) to visit for one shell and one transform.

    Attributes
    ----------
    cells
        ``(K, 6)`` int64 half-open cell ranges ``cx0, cx1, cy0, cy1, cz0, cz1``.
    offsets
        ``(K, 3)`` float64 replica offset (Mpc/h) to add after the transform.
    """

    cells: np.ndarray
    offsets: np.ndarray

    @property
    def n_cells(self) -> int:
        """Number of cells the boxes cover."""
        c = self.cells
        return int(np.sum((c[:, 1] - c[:, 0]) * (c[:, 3] - c[:, 2]) * (c[:, 5] - c[:, 4])))


@numba.njit(cache=True, nogil=True)
def _region_boxes(
    z_min, z_max, a, box, n_cells, perm, signs, shift, cells, offsets
):  # pragma: no cover - compiled
    """Fill ``cells`` / ``offsets`` with the beam's cell boxes per replica; return how many.

    Compiled (per realisation, it was a third of a low-redshift map's time in Python).
    ``cells`` must hold ``n_z n_xy² 8`` rows (replicas along z and across, 2 pieces per axis).
    """
    per_input = np.empty((3, 2, 2), dtype=np.int64)  # cell ranges per input axis
    n_per_input = np.empty(3, dtype=np.int64)
    n_boxes = 0
    for nz in range(math.floor(z_min / box), math.floor(z_max / box) + 1):
        z_lo, z_hi = max(z_min, nz * box), min(z_max, (nz + 1) * box)
        if z_lo >= z_hi:
            continue
        xh = a * z_hi  # the frustum is widest at the replica's far face
        for nx in range(math.floor(-xh / box), math.floor(xh / box) + 1):
            x_lo, x_hi = max(-xh, nx * box), min(xh, (nx + 1) * box)
            for ny in range(math.floor(-xh / box), math.floor(xh / box) + 1):
                y_lo, y_hi = max(-xh, ny * box), min(xh, (ny + 1) * box)
                if x_lo >= x_hi or y_lo >= y_hi:
                    continue
                for j in range(3):
                    if j == 0:
                        lo, hi = x_lo - nx * box, x_hi - nx * box
                    elif j == 1:
                        lo, hi = y_lo - ny * box, y_hi - ny * box
                    else:
                        lo, hi = z_lo - nz * box, z_hi - nz * box
                    lo, hi = max(lo, 0.0), min(hi, box)
                    # Same expression as BoxTransform.preimage_arc.
                    start = (lo - shift[j]) % box if signs[j] > 0 else (shift[j] - hi) % box
                    axis = perm[j]
                    n_per_input[axis] = arc_cell_ranges(start, hi - lo, n_cells, box, per_input[axis])
                for rx in range(n_per_input[0]):
                    for ry in range(n_per_input[1]):
                        for rz in range(n_per_input[2]):
                            cells[n_boxes, 0] = per_input[0, rx, 0]
                            cells[n_boxes, 1] = per_input[0, rx, 1]
                            cells[n_boxes, 2] = per_input[1, ry, 0]
                            cells[n_boxes, 3] = per_input[1, ry, 1]
                            cells[n_boxes, 4] = per_input[2, rz, 0]
                            cells[n_boxes, 5] = per_input[2, rz, 1]
                            offsets[n_boxes, 0] = nx * box
                            offsets[n_boxes, 1] = ny * box
                            offsets[n_boxes, 2] = nz * box
                            n_boxes += 1
    return n_boxes


def beam_regions(
    shell: Shell, geometry: PatchGeometry, transform: BoxTransform, grid: ParticleGrid
) -> BeamRegions:
    """The cells of ``grid`` that can hold particles of the beam, per replica.

    The beam's bounding box is cut per replica into boxes of the transformed frame (their
    transverse size grows with the replica's far edge), each mapped back to original
    coordinates (per axis a periodic arc, :meth:`BoxTransform.preimage_arc`, so up to 2 cell
    ranges per axis, :func:`~wlcnn.maps.cellgrid.arc_cell_ranges`).

    Returns
    -------
    BeamRegions
        Disjoint cell boxes per replica: no particle image is visited twice.
    """
    box = grid.box
    if not math.isclose(transform.box, box, rel_tol=1e-12):
        raise ValueError(f"transform box {transform.box} differs from the particles' box {box}")
    a = geometry.half_width * (1.0 + BOUNDS_SLACK)
    z_min, z_max, xh = _frustum_bounds(shell, geometry)
    n_z = math.floor(z_max / box) - math.floor(z_min / box) + 1
    n_xy = math.floor(xh / box) - math.floor(-xh / box) + 1
    max_boxes = n_z * n_xy * n_xy * MAX_PIECES_PER_REPLICA
    cells = np.empty((max_boxes, 6), dtype=np.int64)
    offsets = np.empty((max_boxes, 3), dtype=np.float64)
    n_boxes = _region_boxes(
        z_min,
        z_max,
        a,
        box,
        grid.n_cells,
        transform.perm,
        transform.signs,
        transform.shift_array,
        cells,
        offsets,
    )
    return BeamRegions(cells=cells[:n_boxes], offsets=offsets[:n_boxes])


#: Particles binned per pass of the vectorised loop: their pixel indices stay in L1 cache.
BIN_BLOCK = 2048
#: Lanes of the widest float64 vectors (AVX-512); the pixel pass is padded to a multiple.
SIMD_WIDTH = 8
#: Bins (a power of 2) past the map that collect the particles the kernel drops.
TRASH_BINS = 8
#: Particles of the next cell column prefetched per row (4 cache lines of float32: a prefetch
#: 2 columns ahead, or of 8 lines, was no better).
PREFETCH_PARTICLES = 64
#: float32 values per 64-byte cache line.
CACHE_LINE_FLOATS = 16


@numba.njit(cache=True, nogil=True)
def _cell_wrap(
    c: int, w: float, eps: float, sign: float, shift: float, box: float
) -> tuple[float, float, float, bool]:
    """Transformed range of one cell along one output axis and the wrap its particles take.

    Returns ``(lo, hi, wrap, split)``: the range after the periodic wrap, the wrap (0, +box or
    -box) that every particle of the cell takes, and whether the box face cuts the cell (its
    particles then wrap differently and the whole axis is returned).
    """
    lo = c * w - eps
    hi = (c + 1) * w + eps
    if sign > 0:
        u_lo, u_hi = lo + shift, hi + shift
    else:
        u_lo, u_hi = shift - hi, shift - lo
    if u_hi < 0.0:
        return u_lo + box, u_hi + box, box, False
    if u_lo >= box:
        return u_lo - box, u_hi - box, -box, False
    if u_lo < 0.0 or u_hi >= box:
        return 0.0, box, 0.0, True
    return u_lo, u_hi, 0.0, False


# error_model="numpy": x / z may divide by zero for particles that the mask then drops; the
# default Python model would add a per-particle check and keep the loop from vectorising.
# Inlined into the kernel (itself compiled with the numpy error model, or the inlined loop no
# longer vectorises): a call per run cost ~50 ns, and runs hold ~20-50 particles.
@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _bin_run(
    u0s,
    u1s,
    u2s,
    start,
    stop,
    signs,
    shift,
    off,
    box,
    r2_near,
    r2_far,
    a,
    inv_delta,
    n_pix,
    pix,
    flat,
):  # pragma: no cover - compiled
    """Bin particles ``start:stop`` into ``flat`` (its last bins collect the particles dropped).

    ``u0s, u1s, u2s`` are the input coordinate rows feeding output axes 0, 1, 2 (the
    permutation is applied by choosing the rows). Per block of :data:`BIN_BLOCK`: a branch-free
    pass computes every particle's flat pixel index (a trash bin when it misses the shell or
    the patch), then a scatter pass counts them. The periodic wrap is the per-particle one of
    :meth:`BoxTransform.apply`, written as selects: same expressions, identical counts (adding
    a per-cell constant wrap instead, where no box face cuts the cells, was no faster).
    """
    trash = n_pix * n_pix
    s0, s1, s2 = signs[0], signs[1], signs[2]
    t0, t1, t2 = shift[0], shift[1], shift[2]
    ox, oy, oz = off[0], off[1], off[2]
    nf = float(n_pix)
    n_rows = u0s.shape[0]
    for b in range(start, stop, BIN_BLOCK):
        m = min(BIN_BLOCK, stop - b)
        # Runs are short (~20-50 particles): the pixel pass runs on whole SIMD vectors, reading
        # past the run into the next particles (their indices are computed, never counted),
        # instead of leaving up to SIMD_WIDTH - 1 particles to a scalar remainder loop.
        m_vec = (m + SIMD_WIDTH - 1) // SIMD_WIDTH * SIMD_WIDTH
        if b + m_vec > n_rows:
            m_vec = m
        # Slices indexed from 0: with ``b + i`` numba's negative-index wrap stays in the loop
        # and halves its speed (measured).
        c0 = u0s[b : b + m_vec]
        c1 = u1s[b : b + m_vec]
        c2 = u2s[b : b + m_vec]
        for i in range(m_vec):
            # Same expressions as BoxTransform.apply / project_counts_numpy (identical counts).
            v0 = s0 * np.float64(c0[i]) + t0
            v1 = s1 * np.float64(c1[i]) + t1
            v2 = s2 * np.float64(c2[i]) + t2
            v0 = v0 + box if v0 < 0.0 else v0
            v0 = v0 - box if v0 >= box else v0
            v1 = v1 + box if v1 < 0.0 else v1
            v1 = v1 - box if v1 >= box else v1
            v2 = v2 + box if v2 < 0.0 else v2
            v2 = v2 - box if v2 >= box else v2
            x = v0 + ox
            y = v1 + oy
            z = v2 + oz
            r2 = x * x + y * y + z * z
            fx = (x / z + a) * inv_delta
            fy = (y / z + a) * inv_delta
            ok = (
                (z > 0.0)
                & (r2 >= r2_near)
                & (r2 < r2_far)
                & (fx >= 0.0)
                & (fy >= 0.0)
                & (fx < nf)
                & (fy < nf)
            )
            gx = fx if ok else 0.0
            gy = fy if ok else 0.0
            k = int(gy) * n_pix + int(gx)
            # Dropped particles go round-robin to TRASH_BINS bins: consecutive increments of
            # one trash bin would form a chain of dependent read-modify-writes.
            pix[i] = k if ok else trash + (i & (TRASH_BINS - 1))
        for i in range(m):
            flat[pix[i]] += 1


@numba.njit(cache=True, nogil=True, inline="always")
def _cell_may_hit(lo, hi, a_slack, r2_lo, r2_hi):  # pragma: no cover - compiled
    """Conservative test of a cell's transformed bounds ``lo, hi`` against the beam's frustum."""
    if hi[2] <= 0.0:
        return False
    reach = a_slack * hi[2]
    if lo[0] > reach or hi[0] < -reach or lo[1] > reach or hi[1] < -reach:
        return False
    dmin = 0.0
    dmax = 0.0
    for j in range(3):
        l2 = lo[j] * lo[j]
        h2 = hi[j] * hi[j]
        if lo[j] > 0.0 or hi[j] < 0.0:
            dmin += min(l2, h2)
        dmax += max(l2, h2)
    return not (dmin > r2_hi or dmax < r2_lo)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _pencil_kernel(
    u0s,
    u1s,
    u2s,
    offsets,
    n_cells,
    cells,
    replica,
    perm,
    signs,
    shift,
    box,
    eps,
    a,
    a_slack,
    inv_delta,
    n_pix,
    r2_near,
    r2_far,
    flat,
):  # pragma: no cover - compiled
    """Count the particles of the listed cell boxes into the patch; return particles tested.

    ``flat`` holds the ``n_pix²`` pixel counts, row-major, then :data:`TRASH_BINS` bins for
    the particles dropped. Cells that pass the conservative frustum test are merged along
    ``cz`` (their particles are contiguous) into runs binned by :func:`_bin_run`; the start of
    the next cell column is prefetched (:func:`~wlcnn.maps.prefetch.prefetch`).
    """
    w = box / n_cells
    r2_lo = r2_near * (1.0 - BOUNDS_SLACK)
    r2_hi = r2_far * (1.0 + BOUNDS_SLACK)
    # Each output axis's cell ranges, per cell index of the input axis feeding it: computed
    # once per call instead of once per cell.
    lo_t = np.empty((3, n_cells))
    hi_t = np.empty((3, n_cells))
    axis_of = np.empty(3, dtype=np.int64)  # output axis fed by input axis (cx, cy, cz)
    for j in range(3):
        axis_of[perm[j]] = j
        for c in range(n_cells):
            lo_t[j, c], hi_t[j, c], _, _ = _cell_wrap(c, w, eps, signs[j], shift[j], box)
    jx, jy, jz = axis_of[0], axis_of[1], axis_of[2]
    tested = 0
    lo = np.zeros(3)
    hi = np.zeros(3)
    off = np.zeros(3)
    pix = np.empty(BIN_BLOCK, dtype=np.int64)
    for k in range(cells.shape[0]):
        off[0], off[1], off[2] = replica[k, 0], replica[k, 1], replica[k, 2]
        cz0, cz1 = cells[k, 4], cells[k, 5]
        for cx in range(cells[k, 0], cells[k, 1]):
            lo[jx] = lo_t[jx, cx] + off[jx]
            hi[jx] = hi_t[jx, cx] + off[jx]
            for cy in range(cells[k, 2], cells[k, 3]):
                lo[jy] = lo_t[jy, cy] + off[jy]
                hi[jy] = hi_t[jy, cy] + off[jy]
                first = (cx * n_cells + cy) * n_cells
                # Ask for the next column's first cache lines while this one is binned.
                if cy + 1 < cells[k, 3]:
                    ahead = offsets[first + n_cells + cz0]
                    for q in range(0, PREFETCH_PARTICLES, CACHE_LINE_FLOATS):
                        prefetch(u0s, ahead + q)
                        prefetch(u1s, ahead + q)
                        prefetch(u2s, ahead + q)
                run_start = -1
                run_stop = -1
                # One step past the column's last cell closes its last run.
                for cz in range(cz0, cz1 + 1):
                    keep = False
                    start = stop = 0
                    if cz < cz1:
                        start, stop = offsets[first + cz], offsets[first + cz + 1]
                        if start == stop:
                            continue  # an empty cell does not break a run
                        lo[jz] = lo_t[jz, cz] + off[jz]
                        hi[jz] = hi_t[jz, cz] + off[jz]
                        keep = _cell_may_hit(lo, hi, a_slack, r2_lo, r2_hi)
                    if keep:
                        tested += stop - start
                        if run_start >= 0 and start == run_stop:
                            run_stop = stop
                            continue
                    if run_start >= 0:
                        _bin_run(
                            u0s, u1s, u2s, run_start, run_stop, signs, shift,
                            off, box, r2_near, r2_far, a, inv_delta, n_pix, pix, flat,
                        )  # fmt: skip
                        run_start = -1
                    if keep:
                        run_start, run_stop = start, stop
    return tested


def project_counts(
    grid: ParticleGrid, shell: Shell, geometry: PatchGeometry, transform: BoxTransform
) -> tuple[np.ndarray, int]:
    """Particle counts of one shell realisation (fast path).

    Parameters
    ----------
    grid
        The snapshot's particles, sorted by cell.
    shell
        Radial range (``r_near``, ``r_far`` in Mpc/h).
    geometry
        The patch.
    transform
        The realisation's symmetry and shift.

    Returns
    -------
    tuple
        ``(counts, tested)``: int64 ``(n_pix, n_pix)`` counts indexed ``[y, x]`` and the number
        of particles the kernel tested (the pre-selection's cost).
    """
    regions = beam_regions(shell, geometry, transform, grid)
    n_pix2 = geometry.n_pix * geometry.n_pix
    # The counts, row-major, then the kernel's trash bins (counted into, never read): no copy.
    flat = np.zeros(n_pix2 + TRASH_BINS, dtype=np.int64)
    counts = flat[:n_pix2].reshape(geometry.n_pix, geometry.n_pix)
    if regions.cells.shape[0] == 0 or grid.n_particles == 0:
        return counts, 0
    perm = transform.perm
    tested = _pencil_kernel(
        grid.columns[perm[0]],
        grid.columns[perm[1]],
        grid.columns[perm[2]],
        grid.offsets,
        grid.n_cells,
        regions.cells,
        regions.offsets,
        transform.perm,
        transform.signs,
        transform.shift_array,
        grid.box,
        BOUNDS_SLACK * grid.box,
        geometry.half_width,
        geometry.half_width * (1.0 + BOUNDS_SLACK),
        1.0 / geometry.pixel_size_rad,
        geometry.n_pix,
        shell.r_near**2,
        shell.r_far**2,
        flat,
    )
    return counts, int(tested)


def project_counts_numpy(
    pos: np.ndarray, *, box: float, shell: Shell, geometry: PatchGeometry, transform: BoxTransform
) -> np.ndarray:
    """Straightforward reference: transform every particle and test every replica.

    Same floating-point expressions as the kernel (identical counts); used by the tests and as
    the benchmark's baseline.

    Parameters
    ----------
    pos
        ``(N, 3)`` positions in ``[0, box]``, comoving Mpc/h.
    box
        Box side, Mpc/h.
    shell, geometry, transform
        As for :func:`project_counts`.

    Returns
    -------
    numpy.ndarray
        int64 counts ``(n_pix, n_pix)`` indexed ``[y, x]``.
    """
    n = geometry.n_pix
    a = geometry.half_width
    inv_delta = 1.0 / geometry.pixel_size_rad
    v = transform.apply(pos)
    flat = np.zeros(n * n, dtype=np.int64)
    for off in beam_replicas(shell, geometry, box):
        x = v[:, 0] + off[0]
        y = v[:, 1] + off[1]
        z = v[:, 2] + off[2]
        r2 = x * x + y * y + z * z
        keep = (z > 0.0) & (r2 >= shell.r_near**2) & (r2 < shell.r_far**2)
        x, y, z = x[keep], y[keep], z[keep]
        fx = (x / z + a) * inv_delta
        fy = (y / z + a) * inv_delta
        inside = (fx >= 0.0) & (fy >= 0.0) & (fx < n) & (fy < n)
        pix = np.floor(fy[inside]).astype(np.int64) * n + np.floor(fx[inside]).astype(np.int64)
        flat += np.bincount(pix, minlength=n * n)
    return flat.reshape(n, n)


def expected_counts(shell: Shell, geometry: PatchGeometry, mean_density: float) -> np.ndarray:
    """Mean count per pixel for a uniform box, N̄ = n̄ Ω_pix (r_far³ - r_near³) / 3.

    Parameters
    ----------
    shell
        Radial range, Mpc/h.
    geometry
        The patch (exact pixel solid angles).
    mean_density
        Global mean particle density, particles per (Mpc/h)³.

    Returns
    -------
    numpy.ndarray
        float64 ``(n_pix, n_pix)``.
    """
    return mean_density * geometry.pixel_solid_angles * shell.volume_per_steradian


def overdensity(counts: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """δ = N / N̄ - 1 as float32 (computed in float64)."""
    return (counts / expected - 1.0).astype(np.float32)


@dataclass
class ShellProjector:
    """Projects realisations of one shell from one snapshot.

    Attributes
    ----------
    grid
        The snapshot's particles, sorted by cell.
    shell
        The shell.
    geometry
        The patch.
    expected
        N̄ per pixel (from the grid's global mean density).
    tested
        Running total of particles tested by the kernel (benchmark statistic).
    """

    grid: ParticleGrid
    shell: Shell
    geometry: PatchGeometry
    expected: np.ndarray = field(init=False)
    tested: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.expected = expected_counts(self.shell, self.geometry, self.grid.mean_density)

    def counts(self, transform: BoxTransform) -> np.ndarray:
        """int64 counts of one realisation."""
        counts, tested = project_counts(self.grid, self.shell, self.geometry, transform)
        self.tested += tested
        return counts

    def delta(self, transform: BoxTransform) -> np.ndarray:
        """float32 overdensity of one realisation, ``(n_pix, n_pix)`` indexed ``[y, x]``."""
        return overdensity(self.counts(transform), self.expected)
