"""Pixel-intensity histogram (the one-point PDF of CosmoGAN's first test, SPEC §10).

The histogram of each map's observed pixels in bins ``edges[i] <= κ < edges[i+1]``, absolute or
in units of the map's σ0, normalised as a PDF: the fraction of observed pixels in a bin over
its width, so that it integrates to the fraction of pixels inside the edges. One
``np.bincount`` for the whole batch.

Examples
--------
>>> import numpy as np
>>> maps = np.random.default_rng(0).normal(size=(200, 32, 32))
>>> h = pixel_histogram(maps, [-1.0, 0.0, 1.0])
>>> np.round(h.pdf.mean(axis=0), 2)         # N(0, 1): 0.3413 per unit width on each side
array([0.34, 0.34])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from wlcnn.statistics.maps import as_map_batch
from wlcnn.statistics.thresholds import ThresholdUnits, check_edges, per_map_edges

__all__ = ["PixelHistogram", "pixel_histogram"]


@dataclass(frozen=True)
class PixelHistogram:
    """Pixel PDF of a batch of maps.

    Attributes
    ----------
    edges
        Bin edges in map units, shape (n + 1,) or (..., n + 1) for σ units.
    pdf
        Fraction of observed pixels per bin over the bin width, shape (..., n), 1 / map units.
    n_pixels
        Observed pixels per map, shape (...).
    """

    edges: np.ndarray
    pdf: np.ndarray
    n_pixels: np.ndarray


def pixel_histogram(
    kappa: npt.ArrayLike,
    bins: npt.ArrayLike,
    *,
    mask: npt.ArrayLike | None = None,
    units: ThresholdUnits = "absolute",
) -> PixelHistogram:
    """Histogram of every map's observed pixel values, normalised as a PDF (module doc).

    Parameters
    ----------
    kappa
        Maps shaped (..., N, N).
    bins
        Increasing bin edges, absolute or in units of each map's σ0 (``units``).
    mask
        Boolean, ``True`` = observed, broadcastable to the maps; ``None``: all observed.
    units
        ``"absolute"`` (map units) or ``"sigma"`` (:mod:`wlcnn.statistics.thresholds`).

    Returns
    -------
    PixelHistogram
        PDF shaped (..., n_bins).

    Raises
    ------
    ValueError
        Maps not square, bad bins, mask or units.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.arange(16.0).reshape(4, 4)
    >>> pixel_histogram(m, [0.0, 8.0, 16.0], mask=m < 12).pdf.tolist()   # 8 and 4 of 12 pixels
    [0.08333333333333333, 0.041666666666666664]
    """
    batch, full_mask = as_map_batch(kappa, mask=mask)
    lead = np.shape(kappa)[:-2]
    edges = per_map_edges(check_edges(bins, name="bins"), maps=batch, mask=full_mask, units=units)
    n_maps, n_edges = edges.shape
    n_bins = n_edges - 1
    values = batch.reshape(n_maps, -1)
    if units == "absolute":
        which = np.searchsorted(edges[0], values, side="right") - 1
    else:
        which = np.stack(
            [np.searchsorted(e, v, side="right") - 1 for e, v in zip(edges, values, strict=True)]
        )
    inside = (which >= 0) & (which < n_bins)
    if full_mask is not None:
        inside &= full_mask.reshape(n_maps, -1)
    # One bincount for the batch: map m's bin b is slot m * n_bins + b.
    slots = (which + n_bins * np.arange(n_maps)[:, None])[inside]
    counts = np.bincount(slots, minlength=n_maps * n_bins).reshape(n_maps, n_bins)
    n_pixels = (
        full_mask.reshape(n_maps, -1).sum(axis=1)
        if full_mask is not None
        else np.full(n_maps, values.shape[1])
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        pdf = counts / (n_pixels[:, None] * np.diff(edges, axis=1))
    return PixelHistogram(
        edges=edges.reshape(*lead, n_edges) if units == "sigma" else edges[0].copy(),
        pdf=pdf.reshape(*lead, n_bins),
        n_pixels=n_pixels.reshape(lead),
    )
