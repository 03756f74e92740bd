"""Peak counts: local maxima over the 8 neighbours, binned in height (SPEC §10a).

A pixel is a peak when it is strictly higher than all 8 neighbours. Only pixels whose 3×3
neighbourhood lies inside the map and is observed can be peaks (masked pixels and their
neighbours are excluded, as are the map's border pixels, whose neighbourhood is incomplete).
Heights are binned with ``edges[i] <= κ < edges[i+1]`` in absolute units or in units of each
map's σ0. For a peak density per unit area divide by :attr:`PeakCounts.area` (pixels).

The compiled kernel compares every pixel with its neighbours without branches (a vectorisable
loop of ``&`` against the side neighbours and the maxima of the three pixels above and below,
each row's maxima computed once), then bins the rare peaks: a data-dependent branch per pixel
would be mispredicted about half the time on a noisy map. The edges are checked once per
process (:func:`~wlcnn.statistics.thresholds.checked_edges`), so calling it map by map costs
little more than the kernel.

Examples
--------
>>> import numpy as np
>>> m = np.zeros((1, 8, 8))
>>> m[0, 2, 2], m[0, 5, 5], m[0, 5, 6] = 1.0, 3.0, 2.0      # two peaks; (5, 6) is not one
>>> pk = peak_counts(m, [0.5, 1.5, 2.5, 3.5])
>>> pk.counts.tolist(), pk.area.tolist()
([[1, 0, 1]], [36])
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from wlcnn.statistics.maps import as_map_batch
from wlcnn.statistics.thresholds import ThresholdUnits, checked_edges, per_map_edges

__all__ = ["PeakCounts", "peak_counts"]


@dataclass(frozen=True)
class PeakCounts:
    """Peak counts of a batch of maps.

    Attributes
    ----------
    edges
        Height bin edges in map units, shape (..., n + 1) (per map for σ units).
    counts
        Peaks per bin, shape (..., n), int64.
    area
        Pixels that could be peaks (3×3 neighbourhood inside the map and observed), shape (...).
    """

    edges: np.ndarray
    counts: np.ndarray
    area: np.ndarray


@numba.njit(cache=True, nogil=True, inline="always")
def _max_nan(a, b):  # pragma: no cover - compiled
    """The larger of a and b, NaN if either is NaN (so a NaN neighbour blocks a peak, as ``>`` does)."""
    return a if (a > b or np.isnan(a)) else b


@numba.njit(cache=True, nogil=True)
def _count_peaks(maps, mask, has_mask, edges, counts, area):  # pragma: no cover - compiled
    """Per map: peaks per height bin and the number of eligible pixels.

    ``edges`` is ``(n_maps, n_edges)`` or ``(1, n_edges)`` (the same edges for every map).
    A pixel is compared with the maxima of the three pixels above and below it (kept for a
    rolling window of three rows, so each is computed once) and its two side neighbours:
    4 comparisons instead of 8, same result (NaN-propagating maxima).
    """
    n_maps, n, _ = maps.shape
    n_bins = edges.shape[1] - 1
    per_map = edges.shape[0] > 1
    triple = np.empty((3, n))  # rolling: max over columns j-1, j, j+1 of rows i-1, i, i+1
    flags = np.zeros(n, dtype=np.bool_)
    ok = np.ones(n, dtype=np.bool_)
    for b in range(n_maps):
        e = edges[b if per_map else 0]
        lo = e[0]
        hi = e[n_bins]
        eligible = 0
        for r in range(min(2, n)):  # rows 0 and 1; the loop below adds row i + 1
            for j in range(1, n - 1):
                triple[r, j] = _max_nan(_max_nan(maps[b, r, j - 1], maps[b, r, j]), maps[b, r, j + 1])
        for i in range(1, n - 1):
            up = triple[(i - 1) % 3]
            down_max = triple[(i + 1) % 3]
            row = maps[b, i]
            down = maps[b, i + 1]
            for j in range(1, n - 1):
                down_max[j] = _max_nan(_max_nan(down[j - 1], down[j]), down[j + 1])
            for j in range(1, n - 1):
                c = row[j]
                flags[j] = (c > up[j]) & (c > down_max[j]) & (c > row[j - 1]) & (c > row[j + 1])
            if has_mask:
                for j in range(1, n - 1):
                    good = True
                    for di in range(-1, 2):
                        for dj in range(-1, 2):
                            good &= mask[b, i + di, j + dj]
                    ok[j] = good
                    eligible += good
            else:
                eligible += n - 2
            for j in range(1, n - 1):
                if flags[j] and ok[j]:
                    c = row[j]
                    if c < lo or c >= hi:
                        continue
                    left = 0
                    right = n_bins
                    while right - left > 1:
                        mid = (left + right) // 2
                        if c >= e[mid]:
                            left = mid
                        else:
                            right = mid
                    counts[b, left] += 1
            if has_mask:
                ok[:] = True
        area[b] = eligible


#: Stand-in for "no mask" (the kernel takes an array either way).
_NO_MASK = np.ones((1, 1, 1), dtype=np.bool_)


def peak_counts(
    kappa: npt.ArrayLike,
    bins: npt.ArrayLike,
    *,
    mask: npt.ArrayLike | None = None,
    units: ThresholdUnits = "absolute",
) -> PeakCounts:
    """Number of local maxima (8 neighbours) of every map per height bin (module doc).

    Parameters
    ----------
    kappa
        Maps shaped (..., N, N).
    bins
        Increasing height bin edges, absolute or in units of each map's σ0 (``units``).
    mask
        Boolean, ``True`` = observed, broadcastable to the maps; ``None``: all observed.
    units
        ``"absolute"`` (map units) or ``"sigma"`` (:mod:`wlcnn.statistics.thresholds`).

    Returns
    -------
    PeakCounts
        Counts shaped (..., n_bins).

    Raises
    ------
    ValueError
        Maps not square, bad bins, mask or units.

    Examples
    --------
    >>> import numpy as np
    >>> maps = np.random.default_rng(2).normal(size=(3, 64, 64))
    >>> pk = peak_counts(maps, np.linspace(-4.0, 4.0, 9), units="sigma")
    >>> pk.counts.shape, bool(pk.counts.sum() > 0.1 * 62**2)   # white noise: ~1 in 9 pixels
    ((3, 8), True)
    """
    batch, full_mask = as_map_batch(kappa, mask=mask)
    lead = np.shape(kappa)[:-2]
    checked = checked_edges(bins, name="bins")
    # Absolute edges are the same for every map: one row, which the kernel reuses.
    edges = (
        checked[None, :]
        if units == "absolute"
        else per_map_edges(checked, maps=batch, mask=full_mask, units=units)
    )
    counts = np.zeros((len(batch), checked.size - 1), dtype=np.int64)
    area = np.empty(len(batch), dtype=np.int64)
    mask_arg = full_mask if full_mask is not None else _NO_MASK
    _count_peaks(batch, mask_arg, full_mask is not None, edges, counts, area)
    return PeakCounts(
        edges=edges.reshape(*lead, -1) if units == "sigma" else checked.copy(),
        counts=counts.reshape(*lead, -1),
        area=area.reshape(lead),
    )
