r"""Multi-plane ray tracing through the Born shells (flat-sky patches; SPEC §1 mocks, issue 17).

Every shell b of a pencil-beam stack (the same δ_b and the same :class:`~wlcnn.lensing.born.BornWeights`
as :func:`~wlcnn.lensing.born.born_convergence`) becomes one thin lens plane, and rays are shot
back from the observer through all planes with the multi-plane lens equation (Hilbert et al. 2009,
A&A 499, 31, eqs. 8-16). Units as in :mod:`wlcnn.lensing.born`: D is the dimensionless comoving
distance (units of c/H0), angles are in pixels of the patch (the lens equation is linear in the
angles, so no other angular unit enters).

Lens planes. Shell b (after sorting by distance) is a plane at :math:`z_b = (z_{lo} + z_{hi})/2`,
:math:`D_b = D(z_b)`, with the convergence-like surface density

.. math::

    \kappa_b(\theta) = \tfrac32 \Omega_m (1 + z_b)\, D_b\, \Delta D_b\, \delta_b(\theta),

the prefactor of the Born integrand (3/2 Ωm H0²/c² χ (1+z) Δχ in units c/H0 = 1): a source at
distance D_s behind the plane alone sees κ = (D_s - D_b)/D_s κ_b. Its deflection potential solves
:math:`\nabla^2 \psi_b = 2 \kappa_b` by a 2-D FFT on the patch zero-padded by ``padding`` pixels on
every side (default 64, SPEC §5's κ→γ padding): the mass outside the patch is taken as the mean
(δ = 0), and the periodic images of the padded grid are ``padding`` pixels away. The FFT fixes
only the zero-mean part; the padded grid's mean :math:`\bar\kappa_b` is added back as a uniform
sheet (ψ = κ̄ |θ - θ_c|²/2, θ_c the patch centre), so that the plane's Hessian has trace exactly
2 κ_b. A constant deflection is not fixed by the Poisson equation but shifts the rays on every
later plane; it is set so that the mean deflection over the padded grid is that of the isolated
(non-periodic) mass of the plane to dipole order: the constant -Σ κ_b (θ - θ_c) / M² (M² padded
pixels) is added, which for a single lens is the sheet centred on its centroid. Two offset SIS
planes then agree with the analytic two-plane lens equation to 0.007 pixel for deflections of
2.6 pixels (0.017 pixel without this gauge). Deflection α_b = ∇ψ_b and shear matrix U_b = ∇∇ψ_b are spectral
derivatives (the Nyquist lines of the odd derivatives are zeroed, as in
:func:`wlcnn.survey.kaiser_squires.ks_kernels`), so one plane reproduces the Born κ and the
Kaiser-Squires γ of :func:`~wlcnn.survey.kaiser_squires.kappa_to_gamma` to rounding.

Ray recursion. A ray seen at pixel centre θ is at angular position β_k on plane k and its
distortion matrix is A_k = ∂β_k/∂θ = I - B_k (flat space):

.. math::

    \beta_k = \theta - \sum_{i<k} \frac{D_k - D_i}{D_k} \alpha_i(\beta_i), \qquad
    B_k = \sum_{i<k} \frac{D_k - D_i}{D_k} U_i(\beta_i) (I - B_i).

Both are kept as two running sums (Σ α_i and Σ D_i α_i, likewise for U_i A_i), so a plane costs
O(pixels) whatever its index. α_b and U_b are interpolated at β_b on the padded grid (periodic
beyond it; rays never get there: deflections are a few pixels, the padding 64) with a cubic
B-spline by default (``interpolation_order=3``; its prefilter is applied in Fourier space with the
derivatives) or bilinearly (``1``). Bilinear interpolation averages neighbouring pixels and so
smooths the off-grid planes: on 128² KiDS-like stacks it lowers the ray-traced κ power by 1-2 %
at ℓ = 1500-3000 relative to Born, an artefact the cubic spline removes (< 0.1 %, see
``tests/lensing/test_ray_tracing.py``). At the first plane rays sit on the pixel centres, where
both are exact. Tracking B rather than
A keeps κ = tr(B)/2 free of the cancellation 1 - (1 - κ).

Sources and tomographic bins. Source plane b is the far edge of shell b, :math:`D(z_{hi})`; the
maps of bin j are :math:`\sum_b p_{jb} X_b` for X = κ, γ1, γ2, ω of source plane b, with

.. math::

    \kappa = \tfrac12 (B_{11} + B_{22}), \quad \gamma_1 = \tfrac12 (B_{11} - B_{22}), \quad
    \gamma_2 = \tfrac12 (B_{12} + B_{21}), \quad \omega = \tfrac12 (B_{21} - B_{12})

(axis 1 = x, the last array axis; A = [[1-κ-γ1, -γ2+ω], [-γ2-ω, 1-κ+γ1]] as in Hilbert et al.).
The source weights p_jb come from the Born weights W_jb themselves (the same n(z) integral): they
are the unique solution of the triangular system

.. math::

    \sum_{s \ge b} p_{js} (1 + z_b) D_b \frac{D_s - D_b}{D_s} = W_{jb} \quad \text{for every shell } b,

so that the ray-traced maps linearised in δ (Born limit, one plane or many) are *exactly*
:func:`~wlcnn.lensing.born.born_convergence`'s κ and its Kaiser-Squires γ: the difference
ray tracing - Born is the post-Born physics (lens-lens coupling, deflected paths) only, not a
different discretisation of the n(z) integral. p_jb approximates the n(z) fraction of shell b (sum
0.95-0.99 for KiDS-like bins); its lowest shells get small negative weights (≈ -0.02 for the
first) that correct the thin-plane placement of shells whose D varies by a large factor. The IA
map is not lensing and stays :func:`~wlcnn.lensing.born.born_convergence`'s κ_IA.

Limits. Mass outside the patch is unknown (zero-padded), so post-Born terms within a few
deflection lengths of the patch edge are incomplete, as the Born maps' shear is there.

Examples
--------
>>> import numpy as np
>>> from wlcnn.cosmology import make_cosmology
>>> from wlcnn.lensing.born import born_convergence, shell_weights
>>> from wlcnn.lensing.nz import NzTable
>>> cosmo = make_cosmology(omega_m=0.3, sigma8=0.8)
>>> nz = NzTable(z=np.array([0.0, 0.6, 1.2]), nz=np.array([0.0, 1.0, 0.0]))
>>> weights = shell_weights(cosmo=cosmo, z_edges=[0.0, 0.4, 0.8, 1.2], nz=[nz], z_source_max=1.2)
>>> delta = 0.1 * np.random.default_rng(1).standard_normal((3, 32, 32))
>>> maps = ray_traced_maps(delta_shells=delta, weights=weights, cosmo=cosmo, padding=16)
>>> maps.kappa.shape, maps.gamma.shape
((1, 32, 32), (1, 2, 32, 32))
>>> born = born_convergence(delta_shells=delta, weights=weights).kappa
>>> bool(np.abs(maps.kappa - born).max() < 0.01 * np.abs(born).max())
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyccl
from scipy import ndimage
from scipy.linalg import solve_triangular

from wlcnn.lensing.born import BornWeights, dimensionless_comoving_distance

__all__ = [
    "DEFAULT_INTERPOLATION_ORDER",
    "DEFAULT_PADDING",
    "INTERPOLATION_ORDERS",
    "LensPlanes",
    "RayTracedMaps",
    "RayTrace",
    "lens_planes",
    "ray_traced_maps",
    "trace_rays",
]

#: Zero padding (pixels per side) of the Poisson solve: SPEC §5's κ→γ padding (survey.ks_padding).
DEFAULT_PADDING = 64
#: Interpolation of the plane fields at the rays: 1 bilinear, 3 cubic B-spline (module docstring).
INTERPOLATION_ORDERS = (1, 3)
_CUBIC = 3
DEFAULT_INTERPOLATION_ORDER = _CUBIC
#: Relative tolerance on shell edges touching (z_hi of one shell vs z_lo of the next).
_EDGE_RTOL = 1e-9
#: Matrix components in the order (xx, xy, yx, yy); index 0 = x (last array axis), 1 = y.
_XX, _XY, _YX, _YY = 0, 1, 2, 3


@dataclass(frozen=True)
class LensPlanes:
    """Thin lens planes of a shell stack, sorted by distance (see the module docstring).

    Attributes
    ----------
    shell_index
        Index of each plane's shell in the :class:`~wlcnn.lensing.born.BornWeights` order,
        shape (n_planes,).
    redshift, distance
        z_b and D_b = D(z_b) of each lens plane (D dimensionless, units of c/H0).
    source_distance
        D(z_hi) of each shell: the source plane behind lens plane b.
    surface_density_coefficients
        (3/2) Ωm (1 + z_b) D_b ΔD_b: κ_b = coefficient × δ_b, shape (n_planes,).
    source_weights
        p_jb, shape (n_bins, n_planes): κ of bin j = Σ_b p_jb κ(source plane b).
    """

    shell_index: np.ndarray
    redshift: np.ndarray
    distance: np.ndarray
    source_distance: np.ndarray
    surface_density_coefficients: np.ndarray
    source_weights: np.ndarray

    @property
    def n_planes(self) -> int:
        """Number of lens (and source) planes."""
        return int(self.distance.size)


@dataclass(frozen=True)
class RayTracedMaps:
    """Ray-traced maps of every tomographic bin.

    Attributes
    ----------
    kappa
        κ, shape (..., n_bins, y, x), like :attr:`wlcnn.lensing.born.BornMaps.kappa`.
    gamma
        (γ1, γ2), shape (..., n_bins, 2, y, x) (component axis -3, as
        :func:`wlcnn.survey.kaiser_squires.kappa_to_gamma`).
    rotation
        ω, shape (..., n_bins, y, x); zero in the Born limit.
    """

    kappa: np.ndarray
    gamma: np.ndarray
    rotation: np.ndarray


@dataclass(frozen=True)
class RayTrace:
    """Ray positions and distortion at the source planes of :func:`trace_rays`.

    Attributes
    ----------
    positions
        β at every source plane, pixel units of the unpadded patch (pixel (iy, ix) centre at
        (x, y) = (ix, iy)), shape (n_sources, 2, y, x), component 0 = x.
    distortion
        B = I - A at every source plane, shape (n_sources, 2, 2, y, x), B[:, i, j] = ∂(θ - β)_i/∂θ_j.
    """

    positions: np.ndarray
    distortion: np.ndarray


def lens_planes(*, weights: BornWeights, cosmo: pyccl.Cosmology) -> LensPlanes:
    """Lens planes, source planes and source weights of the shells of ``weights``.

    Parameters
    ----------
    weights
        Born weights of the shells (:func:`wlcnn.lensing.born.shell_weights`); the shells must not
        overlap.
    cosmo
        The flat ΛCDM cosmology of ``weights`` (for the distances).

    Returns
    -------
    LensPlanes

    Raises
    ------
    ValueError
        If shells overlap.
    """
    order = np.argsort(weights.z_lo, kind="stable")
    z_lo, z_hi = weights.z_lo[order], weights.z_hi[order]
    if np.any(z_hi[:-1] > z_lo[1:] * (1.0 + _EDGE_RTOL)):
        raise ValueError("ray tracing needs non-overlapping shells (z_hi of a shell <= z_lo of the next)")
    z_plane = 0.5 * (z_lo + z_hi)
    d_plane = dimensionless_comoving_distance(cosmo=cosmo, z=z_plane)
    d_source = dimensionless_comoving_distance(cosmo=cosmo, z=z_hi)
    # Born-limit kernel g[b, s] = (1 + z_b) D_b (D_s - D_b)/D_s of lens b for source plane s >= b.
    kernel = np.triu(
        (1.0 + z_plane)[:, None]
        * d_plane[:, None]
        * (d_source[None, :] - d_plane[:, None])
        / d_source[None, :]
    )
    born = weights.born_weights[:, order]
    source_weights = solve_triangular(kernel, born.T, lower=False).T
    coefficients = 1.5 * weights.omega_m * (1.0 + z_plane) * d_plane * weights.delta_d[order]
    return LensPlanes(
        shell_index=order,
        redshift=z_plane,
        distance=d_plane,
        source_distance=d_source,
        surface_density_coefficients=coefficients,
        source_weights=source_weights,
    )


def _plane_fields(
    plane_kappa: np.ndarray, *, padding: int, order: int
) -> tuple[np.ndarray, float, np.ndarray]:
    """(α_x, α_y, U_xx, U_xy, U_yy) on the padded grid, shape (5, M, M), pixel units; κ̄; dipole.

    The dipole (2,) is Σ κ (θ - θ_c) / M² over the padded grid (the gauge of the module docstring).

    For ``order`` 3 the arrays are the periodic cubic B-spline coefficients of the fields (the
    prefilter is a division by the B-spline's transfer function, done with the derivatives, so it
    costs nothing); for ``order`` 1 the field values. The sheet κ̄ of the padded mean is added to
    U here (a constant is its own spline coefficient) and to α at interpolation time.
    """
    n = plane_kappa.shape[-1]
    m = n + 2 * padding
    padded = np.pad(plane_kappa, padding)
    spectrum = np.fft.rfft2(padded)
    k_y = 2.0 * np.pi * np.fft.fftfreq(m)[:, None]
    k_x = 2.0 * np.pi * np.fft.rfftfreq(m)[None, :]
    k_sq = k_x**2 + k_y**2
    k_sq[0, 0] = 1.0  # the k = 0 mode is the sheet, handled separately
    potential = -2.0 * spectrum / k_sq
    potential[0, 0] = 0.0
    sheet = float(spectrum[0, 0].real) / (m * m)
    # Odd derivatives at the Nyquist lines are not real; zero them (as the KS kernel D2 does).
    odd_x, odd_y = 1j * k_x, 1j * k_y
    if m % 2 == 0:
        odd_x = np.where(np.isclose(np.abs(k_x), np.pi), 0.0, odd_x)
        odd_y = np.where(np.isclose(np.abs(k_y), np.pi), 0.0, odd_y)
    kernels = (odd_x, odd_y, -(k_x**2) + 0j, odd_x * odd_y, -(k_y**2) + 0j)
    if order == _CUBIC:
        # Cubic B-spline at the integers (1/6, 2/3, 1/6): transfer (2 + cos k)/3 per axis.
        potential = potential / ((2.0 + np.cos(k_x)) * (2.0 + np.cos(k_y)) / 9.0)
    fields = np.fft.irfft2(np.stack([k * potential for k in kernels]), s=(m, m))
    fields[2] += sheet
    fields[4] += sheet
    offsets = np.arange(n) - 0.5 * (n - 1)  # pixel centres relative to θ_c
    dipole = np.array([(plane_kappa * offsets[None, :]).sum(), (plane_kappa * offsets[:, None]).sum()]) / (
        m * m
    )
    return fields, sheet, dipole


def _interpolate(coefficients: np.ndarray, pos_x: np.ndarray, pos_y: np.ndarray, *, order: int) -> np.ndarray:
    """Fields at fractional grid positions (periodic), shape (F, *pos.shape).

    ``coefficients`` (F, M, M) from :func:`_plane_fields` with the same ``order``: 1 bilinear,
    3 cubic B-spline (an interpolant: it passes through the grid values).
    """
    coordinates = np.stack([pos_y, pos_x])
    out = np.empty((coefficients.shape[0], *pos_x.shape))
    for f, field in enumerate(coefficients):
        out[f] = ndimage.map_coordinates(field, coordinates, order=order, mode="grid-wrap", prefilter=False)
    return out


def _matmul2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel 2×2 products of (4, ...) arrays in (xx, xy, yx, yy) order."""
    return np.stack(
        [
            a[_XX] * b[_XX] + a[_XY] * b[_YX],
            a[_XX] * b[_XY] + a[_XY] * b[_YY],
            a[_YX] * b[_XX] + a[_YY] * b[_YX],
            a[_YX] * b[_XY] + a[_YY] * b[_YY],
        ]
    )


def _trace(
    plane_kappa: np.ndarray,
    *,
    lens_distances: np.ndarray,
    source_distances: np.ndarray,
    padding: int,
    order: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (n_src, 2, n, n) and B (n_src, 4, n, n); lens planes sorted, sources sorted."""
    n = plane_kappa.shape[-1]
    iy, ix = np.meshgrid(np.arange(n, dtype=np.float64), np.arange(n, dtype=np.float64), indexing="ij")
    theta = np.stack([ix, iy])
    centre = 0.5 * (n - 1)
    sum_alpha = np.zeros((2, n, n))
    sum_d_alpha = np.zeros((2, n, n))
    sum_m = np.zeros((4, n, n))
    sum_d_m = np.zeros((4, n, n))
    positions = np.empty((source_distances.size, 2, n, n))
    distortion = np.empty((source_distances.size, 4, n, n))
    n_lens = lens_distances.size
    lens = 0
    for s, d_s in enumerate(source_distances):
        # Deflect at every lens plane in front of this source plane, in order of distance.
        while lens < n_lens and lens_distances[lens] < d_s:
            d_l = lens_distances[lens]
            beta = theta - sum_alpha + sum_d_alpha / d_l
            b_before = sum_m - sum_d_m / d_l
            fields, sheet, dipole = _plane_fields(plane_kappa[lens], padding=padding, order=order)
            at_ray = _interpolate(fields, beta[0] + padding, beta[1] + padding, order=order)
            alpha = at_ray[:2] + sheet * (beta - centre) - dipole[:, None, None]
            shear = np.stack([at_ray[2], at_ray[3], at_ray[3], at_ray[4]])
            identity_minus_b = -b_before
            identity_minus_b[_XX] += 1.0
            identity_minus_b[_YY] += 1.0
            m_l = _matmul2(shear, identity_minus_b)
            sum_alpha += alpha
            sum_d_alpha += d_l * alpha
            sum_m += m_l
            sum_d_m += d_l * m_l
            lens += 1
        positions[s] = theta - sum_alpha + sum_d_alpha / d_s
        distortion[s] = sum_m - sum_d_m / d_s
    return positions, distortion


def trace_rays(
    *,
    plane_kappa: npt.ArrayLike,
    lens_distances: npt.ArrayLike,
    source_distances: npt.ArrayLike,
    padding: int = DEFAULT_PADDING,
    interpolation_order: int = DEFAULT_INTERPOLATION_ORDER,
) -> RayTrace:
    """Shoot one ray per pixel centre through thin lens planes (the recursion of the module docstring).

    Parameters
    ----------
    plane_kappa
        κ_b of every lens plane (convergence for a source at infinity), shape (n_planes, n, n).
    lens_distances
        D_b of the planes (any distance unit, > 0), strictly increasing, shape (n_planes,).
    source_distances
        Distances of the source planes (same unit, > 0), increasing, shape (n_sources,).
    padding
        Zero padding (pixels per side) of the per-plane Poisson solve; 0 for periodic planes.
    interpolation_order
        Interpolation of α and U at the ray positions: 1 bilinear, 3 cubic spline (default).

    Returns
    -------
    RayTrace
        Positions and B = I - A at every source plane.

    Raises
    ------
    ValueError
        For inconsistent shapes, non-positive or unsorted distances, or negative padding.
    """
    kappa = np.asarray(plane_kappa, dtype=np.float64)
    d_lens = np.asarray(lens_distances, dtype=np.float64)
    d_source = np.asarray(source_distances, dtype=np.float64)
    if kappa.ndim != 3 or kappa.shape[1] != kappa.shape[2] or kappa.shape[0] != d_lens.size:
        raise ValueError(
            f"plane_kappa must be (n_planes, n, n) with n_planes = {d_lens.size}, got {kappa.shape}"
        )
    if d_lens.ndim != 1 or d_source.ndim != 1 or np.any(d_lens <= 0) or np.any(d_source <= 0):
        raise ValueError("lens_distances and source_distances must be 1-D and positive")
    if np.any(np.diff(d_lens) <= 0) or np.any(np.diff(d_source) < 0):
        raise ValueError("lens_distances must increase strictly and source_distances must not decrease")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    if interpolation_order not in INTERPOLATION_ORDERS:
        raise ValueError(
            f"interpolation_order must be one of {INTERPOLATION_ORDERS}, got {interpolation_order}"
        )
    positions, distortion = _trace(
        kappa, lens_distances=d_lens, source_distances=d_source, padding=padding, order=interpolation_order
    )
    n = kappa.shape[-1]
    return RayTrace(positions=positions, distortion=distortion.reshape(d_source.size, 2, 2, n, n))


def ray_traced_maps(
    *,
    delta_shells: npt.ArrayLike,
    weights: BornWeights,
    cosmo: pyccl.Cosmology,
    padding: int = DEFAULT_PADDING,
    interpolation_order: int = DEFAULT_INTERPOLATION_ORDER,
) -> RayTracedMaps:
    """Ray-traced κ, γ and ω of every tomographic bin from a stack of shell overdensity patches.

    Parameters
    ----------
    delta_shells
        δ_b, shape (..., n_shells, n, n) (square patches), shells in the order of ``weights``, as
        for :func:`wlcnn.lensing.born.born_convergence`.
    weights
        :func:`wlcnn.lensing.born.shell_weights` of the same shells (non-overlapping).
    cosmo
        The cosmology of ``weights``.
    padding
        Zero padding (pixels per side) of the per-plane Poisson solve (default 64, SPEC §5).
    interpolation_order
        1 (bilinear) or 3 (cubic spline, default); see the module docstring.

    Returns
    -------
    RayTracedMaps
        κ and ω shaped (..., n_bins, n, n), γ shaped (..., n_bins, 2, n, n); float64.

    Raises
    ------
    ValueError
        For a shell count different from ``weights``, non-square maps or overlapping shells.
    """
    delta = np.asarray(delta_shells, dtype=np.float64)
    if delta.ndim < 3 or delta.shape[-1] != delta.shape[-2]:
        raise ValueError(f"delta_shells must be (..., n_shells, n, n) square patches, got {delta.shape}")
    if delta.shape[-3] != weights.n_shells:
        raise ValueError(
            f"delta_shells has {delta.shape[-3]} shells on axis -3, weights have {weights.n_shells}"
        )
    planes = lens_planes(weights=weights, cosmo=cosmo)
    lead, n = delta.shape[:-3], delta.shape[-1]
    stacks = delta.reshape(-1, *delta.shape[-3:])
    kappa = np.empty((stacks.shape[0], weights.n_bins, n, n))
    gamma = np.empty((stacks.shape[0], weights.n_bins, 2, n, n))
    rotation = np.empty_like(kappa)
    coefficients = planes.surface_density_coefficients[:, None, None]
    for i, stack in enumerate(stacks):
        trace = trace_rays(
            plane_kappa=coefficients * stack[planes.shell_index],
            lens_distances=planes.distance,
            source_distances=planes.source_distance,
            padding=padding,
            interpolation_order=interpolation_order,
        )
        b = trace.distortion
        per_source = np.stack(
            [
                0.5 * (b[:, 0, 0] + b[:, 1, 1]),
                0.5 * (b[:, 0, 0] - b[:, 1, 1]),
                0.5 * (b[:, 0, 1] + b[:, 1, 0]),
                0.5 * (b[:, 1, 0] - b[:, 0, 1]),
            ]
        )
        per_bin = np.einsum("js,qsyx->jqyx", planes.source_weights, per_source)
        kappa[i], gamma[i], rotation[i] = per_bin[:, 0], per_bin[:, 1:3], per_bin[:, 3]
    return RayTracedMaps(
        kappa=kappa.reshape(*lead, weights.n_bins, n, n),
        gamma=gamma.reshape(*lead, weights.n_bins, 2, n, n),
        rotation=rotation.reshape(*lead, weights.n_bins, n, n),
    )
