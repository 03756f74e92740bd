r"""Minkowski functionals V0, V1, V2 of excursion sets (SPEC §10a; Kratochvil et al. 2012).

For a field κ, a threshold κ_t and the excursion set Σ = {κ >= κ_t} of a map of area A:

* V0 = area(Σ) / A, the area fraction above the threshold (dimensionless);
* V1 = (1 / 4A) ∫_∂Σ dl, a quarter of the boundary length per area (pixel⁻¹);
* V2 = (1 / 2πA) ∫_∂Σ k_g dl = Euler characteristic / A (pixel⁻²).

Lengths are in pixels: divide V1 by the pixel size (e.g. in arcmin) and V2 by its square for
physical units. For a Gaussian field with σ0² = ⟨κ²⟩, σ1² = ⟨|∇κ|²⟩ and ν = κ_t/σ0 (Tomita 1986;
Matsubara 2010): V0 = ½ erfc(ν/√2), V1 = σ1/(8√2 σ0) e^{−ν²/2},
V2 = σ1²/(2σ0²) ν e^{−ν²/2} / (2π)^{3/2}.

Estimator. ``thresholds`` are the edges of threshold bins; the functionals are reported at the
bin centres. V0 is the exact fraction of pixels at or above the centre. V1 and V2 are the
pixel estimators V1 = ⟨δ(κ−κ_t) |∇κ|⟩/4 and V2 = ⟨δ(κ−κ_t) (2κ_xκ_yκ_xy − κ_x²κ_yy −
κ_y²κ_xx)/|∇κ|²⟩/(2π), the δ being the bin's top hat (1/width inside it), so they are the
functionals averaged over the bin. Derivatives are central finite differences in pixel units,
so only pixels whose 3×3 neighbourhood lies in the map and is observed count (A is their
number): masked pixels and their neighbours are excluded. One compiled pass per map.

Examples
--------
>>> import numpy as np
>>> y, x = np.mgrid[:64, :64]
>>> blob = np.exp(-((x - 32.0) ** 2 + (y - 32.0) ** 2) / (2 * 6.0**2))   # one bump
>>> mf = minkowski_functionals(blob, [0.3, 0.7])   # a wide bin: many pixels on the contours
>>> round(float(mf.v2[0] * mf.area), 2)          # Euler characteristic of a disc: 1
1.0
>>> kt = np.linspace(0.3, 0.7, 401)             # contour κ = kt has radius 6 √(−2 ln kt)
>>> mean_length = np.mean(2 * np.pi * 6.0 * np.sqrt(-2 * np.log(kt)))
>>> round(float(mf.v1[0] * 4 * mf.area / mean_length), 2)     # boundary length, bin-averaged
1.01
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from wlcnn.statistics.maps import as_map_batch
from wlcnn.statistics.thresholds import ThresholdUnits, checked_edges, per_map_edges

__all__ = ["MinkowskiFunctionals", "minkowski_functionals"]

#: V1 = ⟨δ |∇κ|⟩ / 4: the boundary length per area over 4.
_V1_NORM = 4.0
#: V2 = ⟨δ curvature term⟩ / (2π).
_V2_NORM = 2.0 * np.pi
#: Edges whose widths agree to this are binned by direct indexing (the kernel re-checks the edge).
_UNIFORM_RTOL = 1e-9
#: Stand-in for "no mask" (the kernel takes an array either way).
_NO_MASK = np.ones((1, 1, 1), dtype=np.bool_)


@dataclass(frozen=True)
class MinkowskiFunctionals:
    """V0, V1, V2 of a batch of maps at the centres of threshold bins.

    Attributes
    ----------
    thresholds
        Bin centres, shape (..., n) in map units (per map when thresholds were in σ units).
    v0
        Area fraction at or above each centre, shape (..., n), dimensionless.
    v1
        Boundary length / (4 area), bin-averaged, shape (..., n), pixel⁻¹.
    v2
        Euler characteristic / area, bin-averaged, shape (..., n), pixel⁻².
    area
        Pixels that count (3×3 neighbourhood inside the map and observed), shape (...).
    """

    thresholds: np.ndarray
    v0: np.ndarray
    v1: np.ndarray
    v2: np.ndarray
    area: np.ndarray


# error_model="numpy": a map without counted pixels gives NaN, as the division in NumPy did.
@numba.njit(cache=True, nogil=True, error_model="numpy")
def _normalise(e, above, grad_sum, curv_sum, pixels, v0, v1, v2):  # pragma: no cover - compiled
    """One map's V0, V1, V2 from its sums (module doc), in the operation order NumPy used."""
    n_bins = e.size - 1
    # above[c] counts pixels between centre c-1 and centre c (c = n: above the last one).
    cumulative = 0.0
    for c in range(n_bins, 0, -1):
        cumulative += above[c]
        v0[c - 1] = cumulative / pixels
    for c in range(n_bins):
        width = e[c + 1] - e[c]
        v1[c] = grad_sum[c] / (_V1_NORM * width * pixels)
        v2[c] = curv_sum[c] / (_V2_NORM * width * pixels)


@numba.njit(cache=True, nogil=True)
def _minkowski_sums(maps, mask, has_mask, edges, v0, v1, v2, area):  # pragma: no cover
    """Per map: V0, V1, V2 per bin and the pixel count, written into ``v0``, ``v1``, ``v2``, ``area``.

    ``edges`` is ``(n_maps, n_edges)`` or ``(1, n_edges)`` (the same edges for every map).
    Sums per map: pixels between consecutive bin centres (``above``), Σ|∇κ| and Σ curvature
    term per bin; then the normalisation (module doc), in the order NumPy did it.
    """
    n_maps, n, _ = maps.shape
    n_bins = edges.shape[1] - 1
    per_map = edges.shape[0] > 1
    above = np.empty(n_bins + 1)
    grad_sum = np.empty(n_bins)
    curv_sum = np.empty(n_bins)
    for b in range(n_maps):
        above[:] = 0.0
        grad_sum[:] = 0.0
        curv_sum[:] = 0.0
        e = edges[b if per_map else 0]
        lo = e[0]
        hi = e[n_bins]
        inv_width = n_bins / (hi - lo)
        # Equal widths (to _UNIFORM_RTOL, the np.isclose test) allow direct indexing below.
        first_width = e[1] - e[0]
        uniform = True
        for i in range(1, n_bins):
            uniform &= abs((e[i + 1] - e[i]) - first_width) <= _UNIFORM_RTOL * abs(first_width)
        count = 0
        for i in range(1, n - 1):
            for j in range(1, n - 1):
                if has_mask:
                    ok = True
                    for di in range(-1, 2):
                        for dj in range(-1, 2):
                            if not mask[b, i + di, j + dj]:
                                ok = False
                    if not ok:
                        continue
                count += 1
                k = maps[b, i, j]
                if not k >= lo:  # below the bins, or NaN (which would index out of bounds below)
                    continue
                if k >= hi:
                    above[n_bins] += 1
                    continue
                if uniform:
                    # Equal widths: direct index, then a one-step fix for rounding at an edge.
                    left = min(int((k - lo) * inv_width), n_bins - 1)
                    if k < e[left]:
                        left -= 1
                    elif k >= e[left + 1]:
                        left += 1
                else:
                    # Bisection for arbitrary edges.
                    left = 0
                    right = n_bins
                    while right - left > 1:
                        mid = (left + right) // 2
                        if k >= e[mid]:
                            left = mid
                        else:
                            right = mid
                centre = 0.5 * (e[left] + e[left + 1])
                above[left + (k >= centre)] += 1  # branch-free: k >= centre half the time
                kx = 0.5 * (maps[b, i, j + 1] - maps[b, i, j - 1])
                ky = 0.5 * (maps[b, i + 1, j] - maps[b, i - 1, j])
                kxx = maps[b, i, j + 1] - 2.0 * k + maps[b, i, j - 1]
                kyy = maps[b, i + 1, j] - 2.0 * k + maps[b, i - 1, j]
                kxy = 0.25 * (
                    maps[b, i + 1, j + 1]
                    - maps[b, i + 1, j - 1]
                    - maps[b, i - 1, j + 1]
                    + maps[b, i - 1, j - 1]
                )
                g2 = kx * kx + ky * ky
                grad_sum[left] += np.sqrt(g2)
                if g2 > 0.0:
                    curv_sum[left] += (2.0 * kx * ky * kxy - kx * kx * kyy - ky * ky * kxx) / g2
        area[b] = count
        _normalise(e, above, grad_sum, curv_sum, float(count), v0[b], v1[b], v2[b])


def minkowski_functionals(
    kappa: npt.ArrayLike,
    thresholds: npt.ArrayLike,
    *,
    mask: npt.ArrayLike | None = None,
    units: ThresholdUnits = "absolute",
) -> MinkowskiFunctionals:
    """Minkowski functionals V0, V1, V2 of every map (module doc for definitions and units).

    Parameters
    ----------
    kappa
        Maps shaped (..., N, N).
    thresholds
        Increasing edges of the threshold bins (n + 1 edges give n values at the centres);
        absolute or in units of each map's σ0 (``units``).
    mask
        Boolean, ``True`` = observed, broadcastable to the maps; ``None``: all observed.
    units
        ``"absolute"`` (map units) or ``"sigma"`` (:mod:`wlcnn.statistics.thresholds`).

    Returns
    -------
    MinkowskiFunctionals
        Arrays shaped (..., n).

    Raises
    ------
    ValueError
        Maps not square, bad thresholds, mask or units.

    Examples
    --------
    >>> import numpy as np
    >>> maps = np.random.default_rng(1).normal(size=(2, 3, 32, 32))
    >>> mf = minkowski_functionals(maps, np.linspace(-3.0, 3.0, 18), units="sigma")
    >>> mf.v0.shape, mf.area.tolist()[0]
    ((2, 3, 17), [900, 900, 900])
    """
    batch, full_mask = as_map_batch(kappa, mask=mask)
    lead = np.shape(kappa)[:-2]
    checked = checked_edges(thresholds, name="thresholds")
    # Absolute edges are the same for every map: one row, which the kernel reuses.
    edges = (
        checked[None, :]
        if units == "absolute"
        else per_map_edges(checked, maps=batch, mask=full_mask, units=units)
    )
    n_bins = checked.size - 1
    v0, v1, v2 = np.empty((3, len(batch), n_bins))
    area = np.empty(len(batch), dtype=np.int64)
    mask_arg = full_mask if full_mask is not None else _NO_MASK
    _minkowski_sums(batch, mask_arg, full_mask is not None, edges, v0, v1, v2, area)
    centres = 0.5 * (edges[:, 1:] + edges[:, :-1])
    if units == "absolute":
        centres = np.broadcast_to(centres[0], (*lead, n_bins)).copy()
    else:
        centres = centres.reshape(*lead, n_bins)
    return MinkowskiFunctionals(
        thresholds=centres,
        v0=v0.reshape(*lead, n_bins),
        v1=v1.reshape(*lead, n_bins),
        v2=v2.reshape(*lead, n_bins),
        area=area.reshape(lead),
    )
