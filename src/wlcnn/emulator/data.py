"""Simulated κ maps as the emulator sees them: block-averaged to its size, channels last.

The map files hold ``kappa`` shaped (n_realisations, n_bins, N, N); the networks take
(n_maps, n, n, n_bins) with the tomographic bins as channels (joint emulation). Averaging
``N / n`` × ``N / n`` pixel blocks keeps the patch's side in degrees, so statistics of
emulated and simulated maps are computed on the same sky.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from wlcnn.statistics.compare import read_kappa_maps

__all__ = ["CosmologyMaps", "block_average", "channels_first", "read_emulator_maps"]


def block_average(maps: npt.ArrayLike, *, n_pix: int) -> np.ndarray:
    """Average (..., N, N) maps over (N / n_pix)² pixel blocks -> (..., n_pix, n_pix).

    Raises
    ------
    ValueError
        ``n_pix`` does not divide N.
    """
    arr = np.asarray(maps, dtype=np.float64)
    side = arr.shape[-1]
    if side % n_pix:
        raise ValueError(f"n_pix: expected a divisor of the maps' side {side}, found {n_pix}")
    f = side // n_pix
    return arr.reshape(*arr.shape[:-2], n_pix, f, n_pix, f).mean(axis=(-3, -1))


def channels_first(maps: np.ndarray) -> np.ndarray:
    """(n, N, N, bins) -> (n, bins, N, N), the layout of :mod:`wlcnn.statistics`."""
    return np.moveaxis(maps, -1, 1)


@dataclass(frozen=True)
class CosmologyMaps:
    """The maps of one cosmology.

    Attributes
    ----------
    cosmology
        Grid id.
    omega_m, sigma8
        Its parameters.
    maps
        κ, shape (n_maps, n_pix, n_pix, n_bins).
    side_deg
        Side of a map, degrees.
    """

    cosmology: str
    omega_m: float
    sigma8: float
    maps: np.ndarray
    side_deg: float


def read_emulator_maps(paths: Sequence[str | Path], *, n_pix: int) -> CosmologyMaps:
    """The κ maps of one cosmology's map files at the emulator's size.

    Raises
    ------
    wlcnn.maps.mapfile.MapFileContentError
        A file that is missing, damaged, without κ, or of another geometry.
    ValueError
        ``n_pix`` does not divide the maps' side.
    """
    kappa, attrs = read_kappa_maps(list(paths))
    # the attribute is JSON text in the file; the reader may have parsed it already
    raw = attrs["cosmology"]
    cosmo: dict[str, Any] = dict(raw) if isinstance(raw, Mapping) else json.loads(raw)
    maps = np.moveaxis(block_average(kappa, n_pix=n_pix), 1, -1)
    return CosmologyMaps(
        cosmology=str(attrs["cosmology_id"]),
        omega_m=float(cosmo["omega_m"]),
        sigma8=float(cosmo["sigma8"]),
        maps=maps,
        side_deg=float(attrs["patch_size_deg"]),
    )
