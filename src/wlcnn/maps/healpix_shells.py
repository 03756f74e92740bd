"""Full-sky HEALPix shells (the DES/LSST path, as UFalcon and CosmoGrid do) and patches cut from them.

Three sources of count shells, all giving ``int64 (12 nside²,)`` RING maps of particle counts:

- PkdGrav3 HEALPix light-cone shells (``.hpb``): :func:`counts_from_hpb` (read, and optionally
  degraded to a lower nside by summing sub-pixels);
- PkdGrav3 light-cone particles (``.lcp``, positions relative to the observer):
  :func:`counts_from_lightcone`;
- snapshots with periodic replicas: :func:`counts_from_snapshot` (observer at the transformed
  box's origin, every replica the shell reaches, the same random transforms as the pencil beam;
  a compiled kernel visits only the cells whose bounds reach the shell and bins with a HEALPix
  RING ``vec2pix`` identical to healpy's, :func:`vec2pix_ring`).

Overdensity: ``δ = N / N̄ - 1`` with ``N̄ = n̄ (4π / npix) (r_far³ - r_near³) / 3``
(:func:`expected_counts_healpix`, :func:`healpix_overdensity`; HEALPix pixels have equal
areas). Light cones covering only part of the sky are compared on the pixels inside their
footprint. Full-sky κ and κ_IA at the shells' nside: a near-to-far stack of δ maps through
:func:`wlcnn.lensing.born.born_convergence` (``map_ndim=1``); the HEALPix mode of
:mod:`wlcnn.maps.simulation` accumulates the same sum shell by shell.

:func:`patch_from_healpix` cuts a gnomonic patch (the :mod:`wlcnn.maps.gnomonic` pixel
convention) out of any HEALPix map, so that full-sky κ feeds the same downstream stages as the
pencil-beam patches.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import healpy as hp
import numba
import numpy as np

from wlcnn.io.pkd_healpix import HealpixShellReader
from wlcnn.io.pkd_lightcone import LightconeParticleReader
from wlcnn.maps.cellgrid import ParticleGrid
from wlcnn.maps.gnomonic import PatchGeometry, gnomonic_inverse
from wlcnn.maps.pencil_beam import BOUNDS_SLACK
from wlcnn.maps.symmetries import BoxTransform

__all__ = [
    "INTERPOLATIONS",
    "counts_from_hpb",
    "counts_from_lightcone",
    "counts_from_snapshot",
    "counts_from_snapshot_numpy",
    "degrade_counts",
    "expected_counts_healpix",
    "healpix_overdensity",
    "patch_centres",
    "patch_from_healpix",
    "shell_replicas",
    "shells_from_lightcone",
    "shells_from_positions",
    "vec2pix_ring",
]

#: Ways of sampling a HEALPix map at a patch's pixel centres.
INTERPOLATIONS = ("bilinear", "nearest")
#: 2/π as in HEALPix C++ (``inv_halfpi``).
_INV_HALFPI = 0.6366197723675813430755350534900574
_TWOTHIRD = 2.0 / 3.0
#: |cos θ| above which HEALPix uses sin θ directly (precision near the poles), as in C++.
_POLAR_STH = 0.99
_BASE_PIXELS = 12
#: Quarter turns in a full turn: ``phi / (π/2)`` is taken modulo this, as in C++ ``fmodulo``.
_QUARTER_TURNS = 4.0


#: atan(a) ≈ a · P(a²) on 0 <= a <= 1: coefficients of P, a least-squares fit on Chebyshev
#: nodes (degree 9 in a²). Maximum error 9.8e-10 rad, measured on 4e6 points of [0, 1].
_ATAN_COEFFS = (
    0.9999999841273959,
    -0.33333194735780913,
    0.19996625981583607,
    -0.14248418055936962,
    0.10882235116662756,
    -0.08222721954514318,
    0.055144646949627715,
    -0.028581811717909338,
    0.009606519306881433,
    -0.0015164396582589103,
)
#: Error bound used by the pixel guard: ten times the fit's measured maximum error (which also
#: covers the rounding of the octant reduction, ~1e-16 rad).
_ATAN_ERROR_BOUND = 1e-8
_HALF_PI = 0.5 * math.pi


# Inlined, straight-line (selects, unrolled polynomial): the vectorised light-cone pass calls it.
@numba.njit(cache=True, nogil=True, inline="always")
def _atan2_fast(y: float, x: float) -> float:  # pragma: no cover - compiled
    """``atan2(y, x)`` within ``_ATAN_ERROR_BOUND`` (octant reduction + polynomial), not both zero.

    About 4× cheaper than libm's ``atan2``, which is a third of the HEALPix kernels' time.
    """
    ax = abs(x)
    ay = abs(y)
    big = max(ax, ay)
    a = min(ax, ay) / big
    s = a * a
    c = _ATAN_COEFFS
    p = c[9]
    p = p * s + c[8]
    p = p * s + c[7]
    p = p * s + c[6]
    p = p * s + c[5]
    p = p * s + c[4]
    p = p * s + c[3]
    p = p * s + c[2]
    p = p * s + c[1]
    p = p * s + c[0]
    r = a * p
    r = _HALF_PI - r if ay > ax else r
    r = math.pi - r if x < 0.0 else r
    return -r if y < 0.0 else r


@numba.njit(cache=True, nogil=True)
def _near_integer(v: float, margin: float) -> bool:  # pragma: no cover - compiled
    """True when ``v`` lies within ``margin`` of an integer (its floor could change)."""
    f = v - math.floor(v)
    return f < margin or f > 1.0 - margin


@numba.njit(cache=True, nogil=True)
def _ring_pixel(
    nside: int, tt: float, cth: float, x: float, y: float, xl: float, margin: float
) -> int:  # pragma: no cover - compiled
    """RING pixel from ``tt = phi / (π/2)`` in [0, 4), ``cos θ`` and ``1/|v|``: healpix_cxx ``loc2pix``.

    With ``margin > 0``, ``tt`` is only known to within the error it implies: return -1 when a
    floor taken here lies within ``margin`` of an integer, so that the caller recomputes ``tt``
    exactly (``margin = 0``: no check).
    """
    za = abs(cth)
    if margin > 0.0 and _near_integer(tt, margin):
        return -1  # the quarter (and the wrap of tt at 0/4) could change
    if za <= _TWOTHIRD:
        nl4 = 4 * nside
        temp1 = nside * (0.5 + tt)
        temp2 = nside * cth * 0.75
        if margin > 0.0 and (_near_integer(temp1 - temp2, margin) or _near_integer(temp1 + temp2, margin)):
            return -1
        jp = int(temp1 - temp2)
        jm = int(temp1 + temp2)
        ir = nside + 1 + jp - jm
        kshift = 1 - (ir & 1)
        t1 = jp + jm - nside + kshift + 1 + nl4 + nl4  # > 0
        # (t1 >> 1) % nl4 by subtraction: t1 >> 1 < 3 nl4 here, and an integer division costs
        # more than the rest of the pixel arithmetic.
        ip = t1 >> 1
        while ip >= nl4:
            ip -= nl4
        return 2 * nside * (nside - 1) + (ir - 1) * nl4 + ip
    tp = tt - int(tt)
    if za < _POLAR_STH:
        tmp = nside * math.sqrt(3.0 * (1.0 - za))
    else:
        tmp = nside * (math.sqrt(x * x + y * y) * xl) / math.sqrt((1.0 + za) / 3.0)
    if margin > 0.0 and (_near_integer(tp * tmp, margin) or _near_integer((1.0 - tp) * tmp, margin)):
        return -1
    jp = int(tp * tmp)
    jm = int((1.0 - tp) * tmp)
    ir = jp + jm + 1
    if margin > 0.0 and _near_integer(tt * ir, margin):
        return -1
    ip = int(tt * ir)
    if cth > 0.0:
        return 2 * ir * (ir - 1) + ip
    return _BASE_PIXELS * nside * nside - 2 * ir * (ir + 1) + ip


@numba.njit(cache=True, nogil=True, inline="always")
def _quarter_turns(phi: float) -> float:  # pragma: no cover - compiled
    """``fmodulo(phi / (π/2), 4)`` for ``phi`` in ``[-π, π]`` (from atan2), as healpix_cxx."""
    tt = phi * _INV_HALFPI
    wrapped = tt + _QUARTER_TURNS
    wrapped = 0.0 if wrapped == _QUARTER_TURNS else wrapped
    return wrapped if tt < 0.0 else tt


@numba.njit(cache=True, nogil=True)
def _vec2pix_ring(nside: int, x: float, y: float, z: float) -> int:  # pragma: no cover - compiled
    """HEALPix RING pixel of a vector: a transcription of healpix_cxx ``vec2pix`` / ``loc2pix``.

    The azimuth comes from a fast ``atan2`` first; only where its error bound could move a
    floor (about ``8 nside × 1e-8`` of the vectors) is it recomputed with libm's ``atan2``, so
    the pixel is bit for bit healpy's (tested up to nside 8192).
    """
    xl = 1.0 / math.sqrt(x * x + y * y + z * z)
    cth = z * xl
    if x == 0.0 and y == 0.0:
        return _ring_pixel(nside, 0.0, cth, x, y, xl, 0.0)
    # tt errs by <= bound · 2/π; a floor of (at most nside ×) tt moves by <= nside × that,
    # plus rounding of the products (relative 1e-15 of values below 4 nside).
    margin = nside * (_ATAN_ERROR_BOUND * _INV_HALFPI + 1e-14) + 1e-14
    pix = _ring_pixel(nside, _quarter_turns(_atan2_fast(y, x)), cth, x, y, xl, margin)
    if pix >= 0:
        return pix
    return _ring_pixel(nside, _quarter_turns(math.atan2(y, x)), cth, x, y, xl, 0.0)


@numba.njit(cache=True, nogil=True)
def _vec2pix_many(nside, vec, out):  # pragma: no cover - compiled
    for i in range(vec.shape[0]):
        out[i] = _vec2pix_ring(nside, vec[i, 0], vec[i, 1], vec[i, 2])


def vec2pix_ring(nside: int, vec: np.ndarray) -> np.ndarray:
    """HEALPix RING pixel indices of vectors (compiled; equal to ``healpy.vec2pix``).

    Parameters
    ----------
    nside
        HEALPix resolution.
    vec
        ``(N, 3)`` vectors (need not be normalised).

    Returns
    -------
    numpy.ndarray
        int64 ``(N,)``.
    """
    vec = np.ascontiguousarray(vec, dtype=np.float64)
    out = np.empty(vec.shape[0], dtype=np.int64)
    _vec2pix_many(int(nside), vec, out)
    return out


@numba.njit(cache=True, nogil=True)
def _bounds(c, w, eps, sign, shift, box):  # pragma: no cover - compiled
    """Transformed range of cells ``c[0] .. c[1] - 1`` along one output axis (whole axis if split)."""
    lo = c[0] * w - eps
    hi = c[1] * w + eps
    if sign > 0:
        u_lo, u_hi = lo + shift, hi + shift
    else:
        u_lo, u_hi = shift - hi, shift - lo
    if u_hi < 0.0:
        return u_lo + box, u_hi + box
    if u_lo >= box:
        return u_lo - box, u_hi - box
    if u_lo < 0.0 or u_hi >= box:
        return 0.0, box
    return u_lo, u_hi


@numba.njit(cache=True, nogil=True)
def _misses_shell(rng, perm, signs, shift, box, w, eps, off, r2_lo, r2_hi):  # pragma: no cover
    """True when the transformed, offset box of the cell ranges ``rng`` (3, 2) cannot reach the shell."""
    dmin = 0.0
    dmax = 0.0
    for j in range(3):
        lo, hi = _bounds(rng[perm[j]], w, eps, signs[j], shift[j], box)
        lo += off[j]
        hi += off[j]
        l2 = lo * lo
        h2 = hi * hi
        if lo > 0.0 or hi < 0.0:
            dmin += min(l2, h2)
        dmax += max(l2, h2)
    return dmin > r2_hi or dmax < r2_lo


@numba.njit(cache=True, nogil=True)
def _healpix_kernel(
    pos, offsets, n_cells, replicas, perm, signs, shift, box, eps, r2_near, r2_far, nside, counts
):  # pragma: no cover - compiled
    """Count every particle image in ``r_near <= r < r_far`` into a RING map; return particles tested."""
    w = box / n_cells
    r2_lo = r2_near * (1.0 - 1e-9)
    r2_hi = r2_far * (1.0 + 1e-9)
    rng = np.zeros((3, 2), dtype=np.int64)
    tested = 0
    for k in range(replicas.shape[0]):
        off = replicas[k]
        for cx in range(n_cells):
            rng[0, 0], rng[0, 1] = cx, cx + 1
            # Whole column first (all cz): most columns of a replica miss a thin shell.
            rng[1, 0], rng[1, 1] = 0, n_cells
            rng[2, 0], rng[2, 1] = 0, n_cells
            if _misses_shell(rng, perm, signs, shift, box, w, eps, off, r2_lo, r2_hi):
                continue
            for cy in range(n_cells):
                rng[1, 0], rng[1, 1] = cy, cy + 1
                rng[2, 0], rng[2, 1] = 0, n_cells
                if _misses_shell(rng, perm, signs, shift, box, w, eps, off, r2_lo, r2_hi):
                    continue
                for cz in range(n_cells):
                    c = (cx * n_cells + cy) * n_cells + cz
                    start, stop = offsets[c], offsets[c + 1]
                    if start == stop:
                        continue
                    rng[2, 0], rng[2, 1] = cz, cz + 1
                    if _misses_shell(rng, perm, signs, shift, box, w, eps, off, r2_lo, r2_hi):
                        continue
                    tested += stop - start
                    for i in range(start, stop):
                        v0 = signs[0] * pos[i, perm[0]] + shift[0]
                        v1 = signs[1] * pos[i, perm[1]] + shift[1]
                        v2 = signs[2] * pos[i, perm[2]] + shift[2]
                        if v0 < 0.0:
                            v0 = v0 + box
                        if v0 >= box:
                            v0 = v0 - box
                        if v1 < 0.0:
                            v1 = v1 + box
                        if v1 >= box:
                            v1 = v1 - box
                        if v2 < 0.0:
                            v2 = v2 + box
                        if v2 >= box:
                            v2 = v2 - box
                        x = v0 + off[0]
                        y = v1 + off[1]
                        z = v2 + off[2]
                        r2 = x * x + y * y + z * z
                        if r2 < r2_near or r2 >= r2_far or r2 == 0.0:
                            continue
                        counts[_vec2pix_ring(nside, x, y, z)] += 1
    return tested


#: Counts carried from the uint16 map of the light-cone binning to the int64 one on a wrap.
LOW_COUNT_WRAP = 65536
#: The light-cone binning uses the uint16 map when it has at least one position per this many
#: map pixels (zeroing and adding the map costs ~1 ns per pixel, a cache miss tens per position).
LOW_MAP_MIN_FILL = 8
#: Particles per block of the light-cone binning: the vectorised pass's outputs (5 float64
#: arrays of this length) stay in L1 cache for the pixel pass.
POSITIONS_BLOCK = 512


# error_model="numpy": atan2_fast divides 0 / 0 for x = y = 0 (the pixel pass handles those).
@numba.njit(cache=True, nogil=True, error_model="numpy")
def _azimuth_pass(blk, r2, xl, cth, tt):  # pragma: no cover - compiled
    """Branch-free, vectorised pass: r², 1/r, cos θ and the fast azimuth ``tt`` of a block.

    Same expressions as :func:`_vec2pix_ring` (bit for bit: no fast-math), so the pixel pass
    below gives healpy's pixels; the polynomial ``atan2`` and its octant selects, a third of
    the time when branchy and scalar, run here 8 lanes at a time.
    """
    for i in range(blk.shape[0]):
        x = np.float64(blk[i, 0])  # float() keeps float32 in numba: positions in float64
        y = np.float64(blk[i, 1])
        z = np.float64(blk[i, 2])
        d2 = x * x + y * y + z * z
        r2[i] = d2
        inv = 1.0 / math.sqrt(d2)
        xl[i] = inv
        cth[i] = z * inv
        tt[i] = _quarter_turns(_atan2_fast(y, x))


@numba.njit(cache=True, nogil=True)
def _shell_pass(r2, r2_edges, m, shell):  # pragma: no cover - compiled
    """Shell index ``k`` with ``r2_edges[k] <= r2 < r2_edges[k + 1]`` of ``r2[:m]`` (in range).

    A branch-free binary search run one step at a time over the whole block (vectorised, the
    edges gathered): in random particle order a branchy search mispredicts at every level, which
    cost as much as the pixel arithmetic. Values outside the edges get some index, unused.
    """
    for i in range(m):
        shell[i] = 0
    # Invariant: the answer lies in [shell, shell + size); mid < shell + size <= n_edges - 1.
    size = r2_edges.shape[0] - 1
    while size > 1:
        half = size // 2
        for i in range(m):
            mid = shell[i] + half
            shell[i] = mid if r2[i] >= r2_edges[mid] else shell[i]
        size -= half


@numba.njit(cache=True, nogil=True)
def _positions_kernel(pos, r2_edges, nside, counts, low):  # pragma: no cover - compiled
    """Bin positions relative to the observer into radial shells (edges r²) and RING pixels.

    Per block: :func:`_azimuth_pass` (vectorised), then the pixel pass (the RING arithmetic
    and its guard, :func:`_ring_pixel`; libm's ``atan2`` where the guard asks for it).

    With a ``low`` map (uint16, same shape as the int64 ``counts``) the counts go there, and
    each time a pixel's ``low`` count wraps, 65536 to ``counts``: the map that random pixels
    hit is 4× smaller than the int64 one (at nside 256 and 6 shells, 9 MB instead of 38 MB),
    so that most increments hit the cache instead of memory; the caller adds ``low`` to
    ``counts``. An empty ``low`` (``size == 0``) counts straight into ``counts``.
    """
    n_edges = r2_edges.shape[0]
    use_low = low.size > 0
    r2 = np.empty(POSITIONS_BLOCK)
    xl = np.empty(POSITIONS_BLOCK)
    cth = np.empty(POSITIONS_BLOCK)
    tt = np.empty(POSITIONS_BLOCK)
    shell = np.empty(POSITIONS_BLOCK, dtype=np.int64)
    # As in _vec2pix_ring: the error bound of the fast azimuth, in units of the floors taken.
    margin = nside * (_ATAN_ERROR_BOUND * _INV_HALFPI + 1e-14) + 1e-14
    for b in range(0, pos.shape[0], POSITIONS_BLOCK):
        blk = pos[b : b + POSITIONS_BLOCK]
        m = blk.shape[0]
        _azimuth_pass(blk, r2, xl, cth, tt)
        _shell_pass(r2, r2_edges, m, shell)
        for i in range(m):
            d2 = r2[i]
            if d2 < r2_edges[0] or d2 >= r2_edges[n_edges - 1] or d2 == 0.0:
                continue
            lo = shell[i]
            x = np.float64(blk[i, 0])
            y = np.float64(blk[i, 1])
            if x == 0.0 and y == 0.0:
                pix = _ring_pixel(nside, 0.0, cth[i], x, y, xl[i], 0.0)
            else:
                pix = _ring_pixel(nside, tt[i], cth[i], x, y, xl[i], margin)
                if pix < 0:
                    turns = _quarter_turns(math.atan2(y, x))
                    pix = _ring_pixel(nside, turns, cth[i], x, y, xl[i], 0.0)
            if use_low:
                c = low[lo, pix] + 1
                if c == LOW_COUNT_WRAP:
                    counts[lo, pix] += LOW_COUNT_WRAP
                    c = 0
                low[lo, pix] = c
            else:
                counts[lo, pix] += 1


def shells_from_positions(
    pos: np.ndarray, *, r_edges: np.ndarray, nside: int, out: np.ndarray | None = None
) -> np.ndarray:
    """Count positions relative to the observer into radial shells and HEALPix RING pixels (compiled).

    Parameters
    ----------
    pos
        ``(N, 3)`` positions relative to the observer (e.g. light-cone particles), any float
        dtype and strides; any length unit (e.g. box units with ``r_edges`` divided by the box).
    r_edges
        Increasing shell edges (same unit); shell ``k`` is ``r_edges[k] <= r < r_edges[k + 1]``.
    nside
        HEALPix resolution.
    out
        int64 ``(len(r_edges) - 1, 12 nside²)`` array to add the counts to (None: a new one).

    Returns
    -------
    numpy.ndarray
        int64 ``(n_shells, 12 nside²)`` counts.

    Notes
    -----
    With at least one position per :data:`LOW_MAP_MIN_FILL` map pixels, the counts go through a
    temporary uint16 map (2 bytes per pixel and shell, a quarter of ``out``), which keeps the
    randomly hit map in cache; see :func:`_positions_kernel`.
    """
    edges = np.asarray(r_edges, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"r_edges must increase strictly, got {edges}")
    if out is None:
        out = np.zeros((edges.size - 1, hp.nside2npix(nside)), dtype=np.int64)
    if pos.shape[0]:
        # Strided views (e.g. the x, y, z columns of a memory-mapped record file) are read in
        # place: no copy of a large light cone.
        # The uint16 map costs a pass over the whole map (zeroing, adding): worth it only when
        # there are enough positions per pixel (e.g. not for a small chunk on a large map).
        use_low = pos.shape[0] * LOW_MAP_MIN_FILL >= out.size
        low = np.zeros(out.shape if use_low else (out.shape[0], 0), dtype=np.uint16)
        _positions_kernel(pos, edges * edges, int(nside), out, low)
        if use_low:
            out += low
    return out


def shell_replicas(r_near: float, r_far: float, box: float) -> np.ndarray:
    """Offsets ``n L`` (Mpc/h) of the box replicas that reach the shell ``r_near <= r < r_far``.

    Returns
    -------
    numpy.ndarray
        ``(R, 3)`` float64, in a fixed order.
    """
    n_max = math.floor(r_far * (1.0 + BOUNDS_SLACK) / box)
    out = []
    for i in range(-n_max - 1, n_max + 1):
        for j in range(-n_max - 1, n_max + 1):
            for k in range(-n_max - 1, n_max + 1):
                lo = np.array([i, j, k], dtype=np.float64) * box
                hi = lo + box
                dmin = float(np.sum(np.where((lo > 0) | (hi < 0), np.minimum(lo * lo, hi * hi), 0.0)))
                dmax = float(np.sum(np.maximum(lo * lo, hi * hi)))
                if dmin <= r_far**2 * (1 + BOUNDS_SLACK) and dmax >= r_near**2 * (1 - BOUNDS_SLACK):
                    out.append(lo)
    return np.array(out, dtype=np.float64).reshape(-1, 3)


def counts_from_snapshot(
    grid: ParticleGrid, *, r_near: float, r_far: float, nside: int, transform: BoxTransform
) -> tuple[np.ndarray, int]:
    """Full-sky count map of a shell cut from a snapshot with periodic replicas (fast path).

    Parameters
    ----------
    grid
        The snapshot's particles, sorted by cell.
    r_near, r_far
        Shell edges, comoving Mpc/h.
    nside
        HEALPix resolution of the map.
    transform
        Symmetry and shift of the box (the observer sits at the transformed box's origin).

    Returns
    -------
    tuple
        ``(counts, tested)``: int64 RING map ``(12 nside²,)`` and the particles tested.
    """
    counts = np.zeros(hp.nside2npix(nside), dtype=np.int64)
    replicas = shell_replicas(r_near, r_far, grid.box)
    if grid.n_particles == 0 or replicas.shape[0] == 0:
        return counts, 0
    tested = _healpix_kernel(
        grid.pos,
        grid.offsets,
        grid.n_cells,
        replicas,
        transform.perm,
        transform.signs,
        transform.shift_array,
        grid.box,
        BOUNDS_SLACK * grid.box,
        r_near**2,
        r_far**2,
        int(nside),
        counts,
    )
    return counts, int(tested)


def counts_from_snapshot_numpy(
    pos: np.ndarray, *, box: float, r_near: float, r_far: float, nside: int, transform: BoxTransform
) -> np.ndarray:
    """Straightforward reference of :func:`counts_from_snapshot` (every particle, every replica, healpy)."""
    v = transform.apply(pos)
    counts = np.zeros(hp.nside2npix(nside), dtype=np.int64)
    for off in shell_replicas(r_near, r_far, box):
        x, y, z = v[:, 0] + off[0], v[:, 1] + off[1], v[:, 2] + off[2]
        r2 = x * x + y * y + z * z
        keep = (r2 >= r_near**2) & (r2 < r_far**2) & (r2 > 0.0)
        if keep.any():
            pix = hp.vec2pix(nside, x[keep], y[keep], z[keep])
            counts += np.bincount(pix, minlength=counts.size)
    return counts


def degrade_counts(counts: np.ndarray, nside_out: int) -> np.ndarray:
    """Sum a RING count map into a lower resolution (exact: each coarse pixel is 4^k fine ones).

    Parameters
    ----------
    counts
        RING map ``(12 nside²,)``.
    nside_out
        Target nside, ``<= nside`` and a power-of-two fraction of it.

    Returns
    -------
    numpy.ndarray
        RING map ``(12 nside_out²,)``, same dtype.
    """
    nside_in = hp.npix2nside(counts.size)
    if nside_out == nside_in:
        return counts.copy()
    ratio = nside_in // nside_out
    if nside_out > nside_in or ratio * nside_out != nside_in or ratio & (ratio - 1):
        raise ValueError(f"cannot sum nside {nside_in} into nside {nside_out} (needs a power-of-two ratio)")
    nest = hp.reorder(counts, r2n=True)
    return hp.reorder(nest.reshape(-1, ratio * ratio).sum(axis=1).astype(counts.dtype), n2r=True)


def counts_from_hpb(
    path: str | Path | HealpixShellReader, *, nside: int | None = None, **reader_options: Any
) -> np.ndarray:
    """Count map of one PkdGrav3 ``.hpb`` light-cone shell.

    Parameters
    ----------
    path
        The step's ``<run>.<step>.hpb`` base name (or a thread file), or an opened reader.
    nside
        Output resolution (``<=`` the file's); None keeps the file's.
    **reader_options
        Passed to :class:`~wlcnn.io.pkd_healpix.HealpixShellReader` (``step_redshifts``, ...).

    Returns
    -------
    numpy.ndarray
        int64 RING map.
    """
    reader = path if isinstance(path, HealpixShellReader) else HealpixShellReader(path, **reader_options)
    counts = reader.read_counts()
    return counts if nside is None else degrade_counts(counts, nside)


def counts_from_lightcone(
    readers: Iterable[LightconeParticleReader],
    *,
    nside: int,
    r_near: float | None = None,
    r_far: float | None = None,
    chunk_size: int = 1 << 20,
) -> np.ndarray:
    """Count map of PkdGrav3 light-cone particles (one or several steps).

    Parameters
    ----------
    readers
        Light-cone readers (:class:`~wlcnn.io.pkd_lightcone.LightconeParticleReader`), opened
        with ``box`` so that positions are Mpc/h relative to the observer (any consistent unit
        works when no radial cut is given).
    nside
        HEALPix resolution.
    r_near, r_far
        Optional radial cut (same unit as the positions): keep ``r_near <= r < r_far``.
        Without it every particle of the given steps is counted (a step's particles are the
        shell crossed during that step). Binned by the compiled :func:`shells_from_positions`.
    chunk_size
        Particles per read.

    Returns
    -------
    numpy.ndarray
        int64 RING map.
    """
    edges = np.array([0.0 if r_near is None else r_near, np.inf if r_far is None else r_far])
    return shells_from_lightcone(readers, r_edges=edges, nside=nside, chunk_size=chunk_size)[0]


def shells_from_lightcone(
    readers: Iterable[LightconeParticleReader], *, r_edges: np.ndarray, nside: int, chunk_size: int = 1 << 20
) -> np.ndarray:
    """Count maps of several radial shells from PkdGrav3 light-cone particles, in one pass.

    Parameters
    ----------
    readers
        Light-cone readers opened with ``box`` (positions in Mpc/h relative to the observer).
    r_edges
        Increasing shell edges, Mpc/h.
    nside
        HEALPix resolution.
    chunk_size
        Particles per read.

    Returns
    -------
    numpy.ndarray
        int64 ``(len(r_edges) - 1, 12 nside²)`` RING count maps.
    """
    out = np.zeros((len(r_edges) - 1, hp.nside2npix(nside)), dtype=np.int64)
    for reader in readers:
        for chunk in reader.iter_chunks(chunk_size):
            shells_from_positions(chunk.pos, r_edges=r_edges, nside=nside, out=out)
    return out


def expected_counts_healpix(*, mean_density: float, r_near: float, r_far: float, nside: int) -> float:
    """Mean count per HEALPix pixel of a uniform box: ``n̄ (4π / npix) (r_far³ - r_near³) / 3``.

    Parameters
    ----------
    mean_density
        Particles per (Mpc/h)³.
    r_near, r_far
        Shell edges, Mpc/h.
    nside
        HEALPix resolution.
    """
    return mean_density * (4.0 * math.pi / hp.nside2npix(nside)) * (r_far**3 - r_near**3) / 3.0


def healpix_overdensity(
    counts: np.ndarray,
    *,
    mean_density: float,
    r_near: float,
    r_far: float,
) -> np.ndarray:
    """δ = N / N̄ - 1 of a full-sky RING count map (float64).

    Feed a stack of these (shells near to far) to
    :func:`wlcnn.lensing.born.born_convergence` with ``map_ndim=1`` for full-sky κ and κ_IA.

    Parameters
    ----------
    counts
        RING count map ``(12 nside²,)`` (or a stack ``(..., 12 nside²)`` of the same shell).
    mean_density
        Particles per (Mpc/h)³.
    r_near, r_far
        Shell edges, Mpc/h.
    """
    nside = hp.npix2nside(np.shape(counts)[-1])
    expected = expected_counts_healpix(mean_density=mean_density, r_near=r_near, r_far=r_far, nside=nside)
    return np.asarray(counts, dtype=np.float64) / expected - 1.0


def patch_centres(nside: int) -> np.ndarray:
    """Patch centres at the centres of the HEALPix pixels of a coarse ``nside`` (RING order).

    ``nside = 2`` gives 48 centres about 29 deg apart: non-overlapping 5×5 deg patches.

    Returns
    -------
    numpy.ndarray
        ``(12 nside², 2)`` float64 (longitude, latitude) in degrees.
    """
    lon, lat = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)), lonlat=True)
    return np.stack([lon, lat], axis=1)


def patch_from_healpix(
    hmap: np.ndarray,
    *,
    geometry: PatchGeometry,
    centre_lon_deg: float,
    centre_lat_deg: float,
    interpolation: str = "bilinear",
    oversample: int = 1,
    nest: bool = False,
) -> np.ndarray:
    """Cut a gnomonic patch out of a HEALPix map.

    Parameters
    ----------
    hmap
        HEALPix map ``(12 nside²,)`` (or ``(..., 12 nside²)`` for a stack).
    geometry
        The patch (pixel convention of :mod:`wlcnn.maps.gnomonic`: x east, y north).
    centre_lon_deg, centre_lat_deg
        Tangent point, degrees.
    interpolation
        ``"bilinear"`` (healpy's interpolation between the 4 nearest pixel centres) or
        ``"nearest"`` (value of the HEALPix pixel holding the point).
    oversample
        Sample ``oversample²`` points per patch pixel on a regular sub-grid and average them
        (a pixel-window average when HEALPix pixels are smaller than patch pixels).
    nest
        Whether ``hmap`` is in NESTED order.

    Returns
    -------
    numpy.ndarray
        float64 ``(..., n_pix, n_pix)`` indexed ``[y, x]``.
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    if oversample < 1:
        raise ValueError(f"oversample must be >= 1, got {oversample}")
    hmap = np.asarray(hmap)
    nside = hp.npix2nside(hmap.shape[-1])
    n, delta = geometry.n_pix, geometry.pixel_size_rad
    sub = (np.arange(oversample) + 0.5) / oversample - 0.5  # sub-pixel offsets in units of Δ
    fine = (geometry.centres[:, None] + sub[None, :] * delta).ravel()  # (n * oversample,)
    yy, xx = np.meshgrid(fine, fine, indexing="ij")
    lon, lat = gnomonic_inverse(xx, yy, centre_lon_deg=centre_lon_deg, centre_lat_deg=centre_lat_deg)
    flat = hmap.reshape(-1, hmap.shape[-1])
    out = np.empty((flat.shape[0], n * oversample, n * oversample), dtype=np.float64)
    if interpolation == "nearest":
        pix = hp.ang2pix(nside, lon, lat, lonlat=True, nest=nest)
        out[:] = flat[:, pix]
    else:
        for m in range(flat.shape[0]):
            out[m] = hp.get_interp_val(flat[m], lon, lat, lonlat=True, nest=nest)
    out = out.reshape(flat.shape[0], n, oversample, n, oversample).mean(axis=(2, 4))
    return out.reshape(*hmap.shape[:-1], n, n)
