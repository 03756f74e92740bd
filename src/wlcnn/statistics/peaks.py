"""Peak counts: local maxima over the 8 neighbours, binned in height (SPEC §10a).

A pixel is a peak when it is strictly higher than all 8 neighbours. Only pixels whose 3×3
neighbourhood lies inside the map and is observed can be peaks (masked pixels and their
neighbours are excluded, as are the map's border pixels, whose neighbourhood is incomplete).
Heights are binned with ``edges[i] <= κ < edges[i+1]`` in absolute units or in units of each
map's σ0. For a peak density per unit area divide by :attr:`PeakCounts.area` (pixels).

The compiled kernel compares every pixel with its neighbours without branches (a vectorisable
loop of ``&``), then bins the rare peaks: a data-dependent branch per pixel would be mispredicted
about half the time on a noisy map.

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
from wlcnn.statistics.thresholds import ThresholdUnits, check_edges, per_map_edges

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


@numba.njit(cache=True, nogil=True)
def _count_peaks(maps, mask, has_mask, edges, counts, area):  # pragma: no cover - compiled
    """Per map: peaks per height bin and the number of eligible pixels."""
    n_maps, n, _ = maps.shape
    n_bins = edges.shape[1] - 1
    flags = np.zeros(n, dtype=np.bool_)
    ok = np.ones(n, dtype=np.bool_)
    for b in range(n_maps):
        e = edges[b]
        eligible = 0
        for i in range(1, n - 1):
            up = maps[b, i - 1]
            row = maps[b, i]
            down = maps[b, i + 1]
            for j in range(1, n - 1):
                c = row[j]
                flags[j] = (
                    (c > row[j - 1])
                    & (c > row[j + 1])
                    & (c > up[j - 1])
                    & (c > up[j])
                    & (c > up[j + 1])
                    & (c > down[j - 1])
                    & (c > down[j])
                    & (c > down[j + 1])
                )
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
                    if c < e[0] or c >= e[n_bins]:
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
    edges = per_map_edges(check_edges(bins, name="bins"), maps=batch, mask=full_mask, units=units)
    counts = np.zeros((len(batch), edges.shape[1] - 1), dtype=np.int64)
    area = np.zeros(len(batch), dtype=np.int64)
    mask_arg = full_mask if full_mask is not None else np.ones((1, 1, 1), dtype=np.bool_)
    _count_peaks(batch, mask_arg, full_mask is not None, edges, counts, area)
    return PeakCounts(
        edges=edges.reshape(*lead, -1) if units == "sigma" else edges[0].copy(),
        counts=counts.reshape(*lead, -1),
        area=area.reshape(lead),
    )
