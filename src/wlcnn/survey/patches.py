"""Patches: gnomonic projection about each patch centre, pixels, tomographic bins, Table I.

Map layout (shared with the simulated maps): a patch is a square of side ``patch_size_deg`` in
the gnomonic tangent plane about its centre, split into ``n_pix``² pixels of side
Δ = patch_size_deg / n_pix. Pixel (iy, ix) is centred at

    x = (ix + 0.5 − n_pix/2) Δ,   y = (iy + 0.5 − n_pix/2) Δ,

with x increasing towards increasing RA (east) and y towards increasing Dec at the centre.
Maps are arrays (..., iy, ix). The gnomonic coordinates of a direction p (unit vector) about
the centre c are x = (p·ê)/(p·c), y = (p·n̂)/(p·c) (radians, converted to degrees), with ê and n̂
the local east and north unit vectors at c.

A galaxy belongs to the first patch (in configuration order) whose square contains it; patches
should not overlap, and galaxies in more than one patch are counted (``n_multiple``). Galaxies in
no patch are dropped (the paper keeps ≈10.5 of 12.5 M). Tomographic bin b holds
``zb_edges[b] < Z_B <= zb_edges[b+1]`` (paper: 0.1 < z ≤ 0.3, ...).

Examples
--------
>>> import numpy as np
>>> x, y = gnomonic(np.array([181.0]), np.array([0.0]), centre=(180.0, 0.0))
>>> round(float(x[0]), 6), round(float(y[0]), 6)   # tan(1 deg) in degrees
(1.000102, 0.0)
>>> ra, dec = inverse_gnomonic(x, y, centre=(180.0, 0.0))
>>> round(float(ra[0]), 9), round(float(dec[0]), 9)
(181.0, 0.0)
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "PatchAssignment",
    "SelectionTable",
    "assign_patches",
    "format_selection_table",
    "gnomonic",
    "inverse_gnomonic",
    "pixel_centres",
    "tomographic_bin",
]


def _unit_vectors(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    cos_dec = np.cos(dec)
    return np.stack([cos_dec * np.cos(ra), cos_dec * np.sin(ra), np.sin(dec)])


def _frame(centre: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre, east and north unit vectors at ``centre`` = (RA, Dec) in degrees."""
    ra0, dec0 = np.radians(centre[0]), np.radians(centre[1])
    c = np.array([np.cos(dec0) * np.cos(ra0), np.cos(dec0) * np.sin(ra0), np.sin(dec0)])
    east = np.array([-np.sin(ra0), np.cos(ra0), 0.0])
    north = np.array([-np.sin(dec0) * np.cos(ra0), -np.sin(dec0) * np.sin(ra0), np.cos(dec0)])
    return c, east, north


def gnomonic(ra: np.ndarray, dec: np.ndarray, *, centre: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Gnomonic (tangent-plane) coordinates in degrees of (RA, Dec) in degrees about ``centre``.

    Points on the far hemisphere (where the projection is undefined) get NaN.
    """
    p = _unit_vectors(np.asarray(ra, dtype=float), np.asarray(dec, dtype=float))
    c, east, north = _frame(centre)
    cos_c = np.tensordot(c, p, axes=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        front = cos_c > 0
        x = np.where(front, np.tensordot(east, p, axes=1) / cos_c, np.nan)
        y = np.where(front, np.tensordot(north, p, axes=1) / cos_c, np.nan)
    return np.degrees(x), np.degrees(y)


def inverse_gnomonic(
    x: np.ndarray, y: np.ndarray, *, centre: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """(RA in [0, 360), Dec) in degrees of gnomonic coordinates (degrees) about ``centre``."""
    c, east, north = _frame(centre)
    xr, yr = np.radians(np.asarray(x, dtype=float)), np.radians(np.asarray(y, dtype=float))
    v = c[:, None] + np.outer(east, xr.ravel()) + np.outer(north, yr.ravel())
    v /= np.linalg.norm(v, axis=0)
    ra = np.mod(np.degrees(np.arctan2(v[1], v[0])), 360.0)
    dec = np.degrees(np.arcsin(np.clip(v[2], -1.0, 1.0)))
    return ra.reshape(np.shape(x)), dec.reshape(np.shape(x))


def pixel_centres(*, n_pix: int, patch_size_deg: float) -> np.ndarray:
    """Gnomonic coordinate (degrees) of the pixel centres along one axis (x or y)."""
    delta = patch_size_deg / n_pix
    return (np.arange(n_pix) + 0.5 - n_pix / 2) * delta


def tomographic_bin(z_b: np.ndarray, edges: Sequence[float] | np.ndarray) -> np.ndarray:
    """Bin index of each Z_B (bins ``(edges[b], edges[b+1]]``), -1 outside every bin."""
    edges = np.asarray(edges, dtype=float)
    b = np.searchsorted(edges, z_b, side="left") - 1
    return np.where((z_b > edges[0]) & (z_b <= edges[-1]), b, -1).astype(np.int64)


@dataclass
class PatchAssignment:
    """Where each galaxy falls: ``patch`` (-1 = in no patch), pixel ``iy``, ``ix`` (-1 likewise)."""

    patch: np.ndarray
    iy: np.ndarray
    ix: np.ndarray
    n_multiple: int = 0

    @property
    def inside(self) -> np.ndarray:
        """Boolean: the galaxy is in a patch."""
        return self.patch >= 0


def assign_patches(
    ra: np.ndarray,
    dec: np.ndarray,
    *,
    centres: np.ndarray | Sequence[Sequence[float]],
    patch_size_deg: float,
    n_pix: int,
) -> PatchAssignment:
    """Assign galaxies to patches and pixels (see the module docstring for the conventions).

    Parameters
    ----------
    ra, dec
        Positions in degrees.
    centres
        (n_patches, 2) patch centres [RA, Dec] in degrees.
    patch_size_deg, n_pix
        Patch side (degrees, tangent plane) and pixels per side.
    """
    ra, dec = np.asarray(ra, dtype=float), np.asarray(dec, dtype=float)
    n = ra.shape[0]
    patch = np.full(n, -1, dtype=np.int64)
    iy = np.full(n, -1, dtype=np.int64)
    ix = np.full(n, -1, dtype=np.int64)
    hits = np.zeros(n, dtype=np.int64)
    delta = patch_size_deg / n_pix
    half = np.radians(patch_size_deg / 2)
    # Any point of the square lies within the angle of its corner, atan(sqrt(2) tan(half)),
    # of the centre: a cheap dot-product pre-selection before the projection.
    cos_reach = np.cos(np.arctan(np.sqrt(2.0) * np.tan(half)))
    p = _unit_vectors(ra, dec)
    for k, centre in enumerate(np.asarray(centres, dtype=float).reshape(-1, 2)):
        c, east, north = _frame(centre)
        cos_c = np.tensordot(c, p, axes=1)
        cand = np.flatnonzero(cos_c >= cos_reach * (1 - 1e-12))
        if cand.size == 0:
            continue
        pc = p[:, cand]
        x = np.degrees(np.tensordot(east, pc, axes=1) / cos_c[cand])
        y = np.degrees(np.tensordot(north, pc, axes=1) / cos_c[cand])
        jx = np.floor(x / delta + n_pix / 2).astype(np.int64)
        jy = np.floor(y / delta + n_pix / 2).astype(np.int64)
        ok = (jx >= 0) & (jx < n_pix) & (jy >= 0) & (jy < n_pix)
        cand, jx, jy = cand[ok], jx[ok], jy[ok]
        hits[cand] += 1
        first = patch[cand] < 0
        patch[cand[first]], iy[cand[first]], ix[cand[first]] = k, jy[first], jx[first]
    return PatchAssignment(patch=patch, iy=iy, ix=ix, n_multiple=int((hits > 1).sum()))


@dataclass
class SelectionTable:
    """The paper's Table I and the drops before it.

    Attributes
    ----------
    per_bin_in_bin
        (n_bins,) galaxies passing validation with Z_B in each bin (Table I "Number of objects").
    per_patch_bin_kept
        (n_patches, n_bins) galaxies kept in each patch and bin ("After projection" summed over
        patches).
    catalogue_drops
        Validation drops (:class:`~wlcnn.survey.catalogue.DropCounts` dictionary).
    n_zb_outside
        Validated galaxies with Z_B outside every bin.
    n_multiple
        Galaxies inside more than one patch (assigned to the first).
    """

    zb_edges: tuple[float, ...]
    per_bin_in_bin: np.ndarray
    per_patch_bin_kept: np.ndarray
    catalogue_drops: Mapping[str, Any] = field(default_factory=dict)
    n_zb_outside: int = 0
    n_multiple: int = 0

    @property
    def per_bin_kept(self) -> np.ndarray:
        """(n_bins,) galaxies kept per bin, summed over patches."""
        return self.per_patch_bin_kept.sum(axis=0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "zb_edges": list(self.zb_edges),
            "per_bin_in_bin": self.per_bin_in_bin.tolist(),
            "per_bin_kept": self.per_bin_kept.tolist(),
            "per_patch_bin_kept": self.per_patch_bin_kept.tolist(),
            "catalogue_drops": dict(self.catalogue_drops),
            "n_zb_outside": self.n_zb_outside,
            "n_outside_patches": int(self.per_bin_in_bin.sum() - self.per_bin_kept.sum()),
            "n_multiple": self.n_multiple,
        }


def format_selection_table(table: SelectionTable) -> str:
    """The selection table as Markdown, laid out like the paper's Table I."""
    rows = ["| Z_B cut | objects | after projection |", "|---|---:|---:|"]
    kept = table.per_bin_kept
    for b, (lo, hi) in enumerate(itertools.pairwise(table.zb_edges)):
        rows.append(f"| {lo:g} < z <= {hi:g} | {int(table.per_bin_in_bin[b]):,} | {int(kept[b]):,} |")
    rows.append(f"| total | {int(table.per_bin_in_bin.sum()):,} | {int(kept.sum()):,} |")
    drops = dict(table.catalogue_drops.get("dropped", {}))
    drops["z_b_outside_bins"] = table.n_zb_outside
    lines = [*rows, "", f"catalogue rows read: {table.catalogue_drops.get('n_read', 0):,}"]
    lines += [f"dropped ({reason}): {n:,}" for reason, n in drops.items() if n]
    if table.n_multiple:
        lines.append(f"in more than one patch (kept in the first): {table.n_multiple:,}")
    return "\n".join(lines)
