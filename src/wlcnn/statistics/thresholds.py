"""Thresholds and bin edges in absolute map units or in units of each map's σ0.

The Minkowski functionals, peak counts and pixel histogram all take a 1-D array of increasing
edges and ``units``: ``"absolute"`` (map units, e.g. κ) or ``"sigma"``, in which case an edge ν
stands for ν σ0 of each map, σ0 the standard deviation of its observed pixels (about its mean;
the mean is not subtracted from the map, so ν = κ/σ0 as in SPEC §10a for zero-mean κ).

Examples
--------
>>> import numpy as np
>>> maps = np.stack([np.full((4, 4), 0.0), np.full((4, 4), 0.0)])
>>> maps[0, 0, 0], maps[1, 0, 0] = 4.0, 8.0
>>> per_map_edges(np.array([-1.0, 0.0, 1.0]), maps=maps, mask=None, units="sigma").round(2)
array([[-0.97,  0.  ,  0.97],
       [-1.94,  0.  ,  1.94]])
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from wlcnn.statistics.maps import valid_std

__all__ = ["ThresholdUnits", "check_edges", "checked_edges", "per_map_edges"]

ThresholdUnits = Literal["absolute", "sigma"]

#: Distinct edge arrays remembered by :func:`checked_edges` (a job uses a handful).
_EDGES_CACHE_SIZE = 64
_edges_cache: dict[tuple[str, int, str, bytes], np.ndarray] = {}


def check_edges(edges: npt.ArrayLike, *, name: str, min_size: int = 2) -> np.ndarray:
    """Increasing, finite 1-D edges as float64.

    Parameters
    ----------
    edges
        Candidate edges.
    name
        Argument name for the error message.
    min_size
        Fewest edges accepted.

    Returns
    -------
    numpy.ndarray
        The edges, float64.

    Raises
    ------
    ValueError
        Not 1-D, too few, not finite or not strictly increasing.
    """
    arr = np.asarray(edges, dtype=np.float64)
    if arr.ndim != 1 or arr.size < min_size or not np.all(np.isfinite(arr)) or np.any(np.diff(arr) <= 0):
        raise ValueError(
            f"{name}: expected >= {min_size} finite, strictly increasing values, found {np.asarray(edges)!r}"
        )
    return arr


def checked_edges(edges: npt.ArrayLike, *, name: str, min_size: int = 2) -> np.ndarray:
    """:func:`check_edges`, remembered: the same edges are checked once per process.

    A statistic called map by map with the same edges would otherwise spend more time checking
    them than counting (issue 16). The key is the edges' bytes, so an edited array is re-checked.

    Parameters
    ----------
    edges
        Candidate edges.
    name
        Argument name for the error message.
    min_size
        Fewest edges accepted.

    Returns
    -------
    numpy.ndarray
        The edges, float64, read-only (shared between calls).

    Raises
    ------
    ValueError
        As :func:`check_edges` (bad edges are not remembered).

    Examples
    --------
    >>> e = checked_edges([0.0, 1.0, 2.0], name="bins")
    >>> e.flags.writeable, checked_edges([0.0, 1.0, 2.0], name="bins") is e
    (False, True)
    """
    raw = np.asarray(edges)
    # Only plain numbers have bytes that say their values (object arrays hold pointers).
    cacheable = raw.ndim == 1 and raw.dtype.kind in "fiu"
    key = (name, min_size, raw.dtype.str, raw.tobytes()) if cacheable else None
    if key is not None and (hit := _edges_cache.get(key)) is not None:
        return hit
    arr = check_edges(raw, name=name, min_size=min_size).copy()
    arr.setflags(write=False)
    if key is not None:
        if len(_edges_cache) >= _EDGES_CACHE_SIZE:
            # Oldest first (dicts keep insertion order); None: another thread may have evicted it.
            _edges_cache.pop(next(iter(_edges_cache)), None)
        _edges_cache[key] = arr
    return arr


def per_map_edges(
    edges: np.ndarray, *, maps: np.ndarray, mask: np.ndarray | None, units: ThresholdUnits
) -> np.ndarray:
    """Absolute edges for every map, shape ``(n_maps, n_edges)``.

    Parameters
    ----------
    edges
        Increasing edges (:func:`check_edges`).
    maps, mask
        ``(n_maps, N, N)`` maps and observed pixels (or ``None``).
    units
        ``"absolute"`` or ``"sigma"`` (module doc).

    Returns
    -------
    numpy.ndarray
        Contiguous float64 ``(n_maps, n_edges)``.

    Raises
    ------
    ValueError
        Unknown ``units``, or ``"sigma"`` for a constant map (σ0 = 0) or one without observed pixels.
    """
    if units == "absolute":
        return np.ascontiguousarray(np.broadcast_to(edges, (len(maps), edges.size)))
    if units == "sigma":
        sigma = valid_std(maps, mask)
        bad = np.flatnonzero(~(sigma > 0))
        if bad.size:
            raise ValueError(
                f"maps: expected a positive standard deviation for thresholds in units of sigma,"
                f" found {sigma[bad[0]]} for map {int(bad[0])}"
            )
        return np.ascontiguousarray(sigma[:, None] * edges[None, :])
    raise ValueError(f"units: expected 'absolute' or 'sigma', found {units!r}")
