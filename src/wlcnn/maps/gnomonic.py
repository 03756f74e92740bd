"""The square gnomonic patch: pixel convention, exact pixel solid angles, sky <-> plane.

Pixel convention (shared with the survey stage). A patch of side ``patch_size`` (radians, a
length in the tangent plane) has ``n`` × ``n`` pixels of side ``Δ = patch_size / n``. Pixel
``(iy, ix)`` is centred at the gnomonic (tangent-plane) coordinates::

    x = (ix + 0.5 - n/2) Δ,    y = (iy + 0.5 - n/2) Δ

and maps are indexed ``[..., y, x]``. The plane is tangent to the unit sphere at the patch
centre; a direction ``u`` projects to ``(x, y) = (u·e_x, u·e_y) / (u·e_c)`` with ``e_c`` the
centre, ``e_x`` pointing east (increasing longitude) and ``e_y`` north (increasing latitude).
For the pencil beam through a box, ``e_c``, ``e_x``, ``e_y`` are the (rotated) box's z, x and y
axes: ``x = X/Z``, ``y = Y/Z``.

Gnomonic pixels of equal plane size do not subtend equal solid angles: a pixel at plane
position (x, y) subtends ``Δ² / (1 + x² + y²)^{3/2}`` to first order, 0.6 % less in the corners
than in the centre of a 5 deg patch. :meth:`PatchGeometry.pixel_solid_angles` integrates this
exactly: the solid angle of the plane rectangle ``[x1, x2] × [y1, y2]`` is
``F(x2, y2) - F(x1, y2) - F(x2, y1) + F(x1, y1)`` with ``F(x, y) = arctan(x y / sqrt(1 + x² + y²))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = [
    "PatchGeometry",
    "gnomonic_forward",
    "gnomonic_inverse",
    "rectangle_solid_angle",
]

#: A gnomonic patch spans less than a half turn (the tangent plane maps one hemisphere).
_MAX_PATCH_SIZE_DEG = 180.0


def rectangle_solid_angle(x1: np.ndarray, x2: np.ndarray, y1: np.ndarray, y2: np.ndarray) -> np.ndarray:
    """Exact solid angle (sr) of the tangent-plane rectangle ``[x1, x2] × [y1, y2]``.

    Parameters
    ----------
    x1, x2, y1, y2
        Plane coordinates (dimensionless, i.e. radians at the tangent point); broadcast.

    Returns
    -------
    numpy.ndarray
        Solid angle in steradians.
    """

    def corner(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.arctan(x * y / np.sqrt(1.0 + x * x + y * y))

    return corner(x2, y2) - corner(x1, y2) - corner(x2, y1) + corner(x1, y1)


@dataclass(frozen=True)
class PatchGeometry:
    """A square gnomonic patch of ``n_pix`` × ``n_pix`` pixels.

    Attributes
    ----------
    n_pix
        Pixels per side (128 for KiDS-450).
    patch_size_deg
        Side of the patch in the tangent plane, degrees (5 for KiDS-450).
    """

    n_pix: int
    patch_size_deg: float

    def __post_init__(self) -> None:
        if self.n_pix < 1:
            raise ValueError(f"n_pix must be >= 1, got {self.n_pix}")
        if not 0.0 < self.patch_size_deg < _MAX_PATCH_SIZE_DEG:
            raise ValueError(f"patch_size_deg must be in (0, 180), got {self.patch_size_deg}")

    @property
    def patch_size_rad(self) -> float:
        """Patch side in the tangent plane, radians."""
        return math.radians(self.patch_size_deg)

    @property
    def pixel_size_rad(self) -> float:
        """Pixel side Δ in the tangent plane, radians."""
        return self.patch_size_rad / self.n_pix

    @property
    def pixel_size_arcmin(self) -> float:
        """Pixel side Δ, arcmin (2.34 for KiDS-450)."""
        return self.patch_size_deg * 60.0 / self.n_pix

    @property
    def half_width(self) -> float:
        """Half the patch side, ``a = n Δ / 2`` (plane units): the patch is ``|x|, |y| < a``."""
        return 0.5 * self.patch_size_rad

    @cached_property
    def edges(self) -> np.ndarray:
        """Pixel edges along x (and y), ``n + 1`` plane coordinates from ``-a`` to ``a``."""
        return (np.arange(self.n_pix + 1, dtype=np.float64) - 0.5 * self.n_pix) * self.pixel_size_rad

    @cached_property
    def centres(self) -> np.ndarray:
        """Pixel centres along x (and y): ``(i + 0.5 - n/2) Δ``, ``n`` values."""
        return (np.arange(self.n_pix, dtype=np.float64) + 0.5 - 0.5 * self.n_pix) * self.pixel_size_rad

    @cached_property
    def pixel_solid_angles(self) -> np.ndarray:
        """Exact solid angle of every pixel, sr, shape ``(n, n)`` indexed ``[y, x]``."""
        e = self.edges
        return rectangle_solid_angle(e[None, :-1], e[None, 1:], e[:-1, None], e[1:, None])

    @property
    def solid_angle(self) -> float:
        """Exact solid angle of the whole patch, sr: ``4 arctan(a² / sqrt(1 + 2 a²))``."""
        a = self.half_width
        return 4.0 * math.atan(a * a / math.sqrt(1.0 + 2.0 * a * a))

    def pixel_index(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pixel of plane coordinates, with the arithmetic of the projection kernels.

        Returns
        -------
        tuple
            ``(iy, ix, inside)``: integer indices and a mask of the points inside the patch.
        """
        inv = 1.0 / self.pixel_size_rad
        a = self.half_width
        ix = np.floor((np.asarray(x, dtype=np.float64) + a) * inv)
        iy = np.floor((np.asarray(y, dtype=np.float64) + a) * inv)
        inside = (ix >= 0) & (ix < self.n_pix) & (iy >= 0) & (iy < self.n_pix)
        return iy.astype(np.int64), ix.astype(np.int64), inside


def _tangent_basis(lon0: float, lat0: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors (centre, east, north) at longitude/latitude (radians)."""
    cl, sl, cb, sb = math.cos(lon0), math.sin(lon0), math.cos(lat0), math.sin(lat0)
    centre = np.array([cb * cl, cb * sl, sb])
    east = np.array([-sl, cl, 0.0])
    north = np.array([-sb * cl, -sb * sl, cb])
    return centre, east, north


def gnomonic_forward(
    lon_deg: np.ndarray, lat_deg: np.ndarray, *, centre_lon_deg: float, centre_lat_deg: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project directions onto the plane tangent at a centre.

    Parameters
    ----------
    lon_deg, lat_deg
        Longitude (e.g. RA) and latitude (e.g. Dec) of the directions, degrees.
    centre_lon_deg, centre_lat_deg
        Tangent point, degrees.

    Returns
    -------
    tuple
        ``(x, y, front)``: plane coordinates (x east, y north; radians at the tangent point)
        and a mask of the directions in the front hemisphere (the others have no image).
    """
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    c, e, n = _tangent_basis(math.radians(centre_lon_deg), math.radians(centre_lat_deg))
    u = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)
    cosc = u @ c
    front = cosc > 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        x = (u @ e) / cosc
        y = (u @ n) / cosc
    return x, y, front


def gnomonic_inverse(
    x: np.ndarray, y: np.ndarray, *, centre_lon_deg: float, centre_lat_deg: float
) -> tuple[np.ndarray, np.ndarray]:
    """Directions of plane points (inverse of :func:`gnomonic_forward`).

    Parameters
    ----------
    x, y
        Plane coordinates (x east, y north).
    centre_lon_deg, centre_lat_deg
        Tangent point, degrees.

    Returns
    -------
    tuple
        ``(lon_deg, lat_deg)``, longitude in ``[0, 360)``.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    c, e, n = _tangent_basis(math.radians(centre_lon_deg), math.radians(centre_lat_deg))
    v = c + x[..., None] * e + y[..., None] * n
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    lat = np.degrees(np.arcsin(np.clip(v[..., 2], -1.0, 1.0)))
    lon = np.degrees(np.arctan2(v[..., 1], v[..., 0])) % 360.0
    return lon, lat
