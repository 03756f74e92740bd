"""Shape and mask checks shared by the map statistics.

Every statistic takes maps shaped ``(..., N, N)`` (a leading batch of any rank, square maps) and
an optional boolean ``mask``, ``True`` where a pixel is observed, broadcastable to the maps
(one ``(N, N)`` footprint for all maps, or one per map).

Examples
--------
>>> import numpy as np
>>> maps, mask = as_map_batch(np.zeros((2, 3, 8, 8)), mask=np.ones((8, 8), dtype=bool))
>>> maps.shape, mask.shape
((6, 8, 8), (6, 8, 8))
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["as_map_batch", "valid_std"]


def as_map_batch(
    kappa: npt.ArrayLike, *, mask: npt.ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Maps as a contiguous float64 batch ``(n_maps, N, N)`` and the mask broadcast to it.

    Parameters
    ----------
    kappa
        Maps shaped ``(..., N, N)``.
    mask
        Boolean, ``True`` for observed pixels, broadcastable to ``kappa``; ``None`` for none.

    Returns
    -------
    tuple
        ``(maps, mask)``: maps ``(n_maps, N, N)`` float64 and the mask as a ``(n_maps, N, N)``
        bool array (``None`` if no mask was given). The leading shape is ``kappa.shape[:-2]``.

    Raises
    ------
    ValueError
        Maps that are not square 2-D arrays, or a mask that does not broadcast to them.
    """
    maps = np.asarray(kappa, dtype=np.float64)
    if maps.ndim < 2 or maps.shape[-1] != maps.shape[-2]:
        raise ValueError(f"maps: expected square maps shaped (..., N, N), found shape {maps.shape}")
    batch = np.ascontiguousarray(maps.reshape(-1, *maps.shape[-2:]))
    if mask is None:
        return batch, None
    mask_arr = np.asarray(mask)
    if mask_arr.dtype != np.bool_:
        raise ValueError(f"mask: expected a boolean array (True = observed), found dtype {mask_arr.dtype}")
    try:
        full = np.broadcast_to(mask_arr, maps.shape)
    except ValueError:
        raise ValueError(
            f"mask: expected a shape broadcastable to the maps {maps.shape}, found {mask_arr.shape}"
        ) from None
    return batch, np.ascontiguousarray(full.reshape(batch.shape))


def valid_std(maps: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Standard deviation of each map's observed pixels, shape ``(n_maps,)``.

    Parameters
    ----------
    maps
        ``(n_maps, N, N)`` maps.
    mask
        ``(n_maps, N, N)`` observed pixels, or ``None`` (all).

    Returns
    -------
    numpy.ndarray
        σ0 about each map's own mean (NaN for a map without observed pixels).
    """
    if mask is None:
        return maps.reshape(len(maps), -1).std(axis=1)
    n = mask.reshape(len(maps), -1).sum(axis=1)
    values = np.where(mask, maps, 0.0).reshape(len(maps), -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = values.sum(axis=1) / n
        dev = np.where(mask, maps - mean[:, None, None], 0.0).reshape(len(maps), -1)
        return np.sqrt((dev**2).sum(axis=1) / n)
