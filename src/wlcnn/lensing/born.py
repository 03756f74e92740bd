r"""Born-approximation shell weights and convergence / intrinsic-alignment maps (SPEC §3).

Units and notation (SPEC): :math:`D(z) = \int_0^z dz'/E(z')` is the *dimensionless* comoving
distance (comoving distance in units of the Hubble length c/H0 = 2997.92458 Mpc/h),
:math:`D(z_1, z_2) = D(z_2) - D(z_1)` (flat), :math:`a = 1/(1+z)`, :math:`E = H/H_0`,
:math:`D_+` the linear growth factor with :math:`D_+(0) = 1`. For a shell b spanning
:math:`[z_{lo}, z_{hi}]` and a source distribution n(z) cut at :math:`z_s`:

.. math::

    \Delta D_b &= D(z_{hi}) - D(z_{lo}) \\
    W_b &= \frac{\int_{\Delta z_b} \frac{dz}{E(z)} \int_z^{z_s} dz'\, n(z')
            \frac{D(z) D(z, z')}{D(z') a(z)}}{\Delta D_b \int_0^{z_s} dz'\, n(z')} \\
    W_b^{IA} &= \frac{\int_{\Delta z_b} dz\, F(z) n(z)}{\Delta D_b \int_0^{z_s} dz'\, n(z')},
    \qquad F(z) = -A_{IA} C_1 \rho_{crit} \Omega_m / D_+(z), \; A_{IA} = 1

and the maps are :math:`\kappa = \tfrac32 \Omega_m \sum_b W_b \Delta D_b \delta_b`,
:math:`\kappa_{IA} = \sum_b W_b^{IA} \Delta D_b \delta_b`, with :math:`\delta_b` the shell's
projected overdensity. W_b, W_b^IA, ΔD_b, κ and κ_IA are dimensionless (n(z) is per unit
redshift, any normalisation). κ_IA is linear in A_IA: a map for amplitude A is κ + A κ_IA.

Fast method (:func:`shell_weights`). Writing :math:`A(z) = \int_z^{z_s} n` and
:math:`B(z) = \int_z^{z_s} n/D`, the inner integral is :math:`D(z)[A(z) - D(z) B(z)]`, so every
shell needs only one-dimensional integrals. All of them are done at once on one composite grid:
breakpoints at 0, z_s, every shell edge and every n(z) node (n is linear between nodes, so each
integrand is smooth inside an interval), intervals subdivided to at most ``max_dz`` and, when
n(0+) > 0 (where n/D ~ 1/z), refined geometrically towards z = 0. Each interval carries a
fixed-order Gauss-Legendre rule and its spectral integration matrix (exact partial integrals of
the interpolating polynomial), which gives D, A and B at every node from cumulative sums: the
cost is O(N_grid) for all shells and bins together, not O(N_shells × N_grid).

Slow reference (:func:`born_weights_reference`, used by the tests): the SPEC double integral
literally, by nested adaptive quadrature (``scipy.integrate.quad``), with D(z) from an adaptive
high-order ODE integration of dD/dz = 1/E.

E(z) is the analytic flat ΛCDM expansion rate with the pyccl cosmology's matter, photon and
massless-neutrino densities (:class:`FlatLCDMBackground`, agrees with pyccl's spline to ~2e-6);
D+(z) is pyccl's (:func:`wlcnn.cosmology.growth_factor`).

Examples
--------
>>> import numpy as np
>>> from wlcnn.cosmology import make_cosmology
>>> from wlcnn.lensing.nz import NzTable
>>> from wlcnn.lensing.born import shell_weights
>>> cosmo = make_cosmology(omega_m=0.3, sigma8=0.8)
>>> nz = NzTable(z=np.array([0.0, 0.6, 1.2]), nz=np.array([0.0, 1.0, 0.0]))
>>> w = shell_weights(cosmo=cosmo, z_edges=[0.0, 0.3, 0.6, 0.9, 1.2], nz=[nz], z_source_max=1.2)
>>> w.born_weights.shape, bool(np.all(w.ia_weights[:, :-1] < 0))
((1, 4), True)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyccl
from scipy.integrate import quad, solve_ivp

from wlcnn.cosmology import growth_factor
from wlcnn.lensing.nz import NzTable, load_nz_from_config

__all__ = [
    "DEFAULT_MAX_DZ",
    "DEFAULT_QUADRATURE_ORDER",
    "IA_C1_RHO_CRIT",
    "BornMaps",
    "BornWeights",
    "FlatLCDMBackground",
    "ReferenceWeights",
    "born_convergence",
    "born_weights_reference",
    "dimensionless_comoving_distance",
    "ia_amplitude",
    "shell_weights",
    "shell_weights_from_config",
]

#: C1 ρcrit of the NLA model (C1 = 5e-14 h^-2 M_sun^-1 Mpc^3; SPEC §3, lensing.ia_c1_rho_crit).
IA_C1_RHO_CRIT = 0.0134
#: Gauss-Legendre points per interval of the composite grid (lensing.quadrature_order).
DEFAULT_QUADRATURE_ORDER = 16
#: Widest interval of the composite grid, in redshift (lensing.quadrature_max_dz).
DEFAULT_MAX_DZ = 0.05
#: Geometric refinement towards z = 0 (only when n(0+) > 0): interval ratio and the smallest
#: breakpoint relative to the first one. Ratio 2 keeps the 1/z singularity of n/D at a
#: distance of one interval width, where a 16-point rule still converges to ~1e-12.
_ORIGIN_RATIO = 2.0
_ORIGIN_FLOOR = 1e-12
#: Tolerances of the slow reference (relative; absolute 0 so that tiny weights are resolved).
_REFERENCE_EPSREL = 1e-11
_REFERENCE_LIMIT = 500
_ODE_RTOL, _ODE_ATOL = 1e-13, 1e-16
#: Shell redshifts in (-tolerance, 0) are taken as 0 (rounding in snapshot headers).
_NEGATIVE_Z_TOLERANCE = 1e-6


@dataclass(frozen=True)
class FlatLCDMBackground:
    r"""Flat ΛCDM background: :math:`E(z)^2 = \Omega_m (1+z)^3 + \Omega_r (1+z)^4 + \Omega_\Lambda`.

    Parameters
    ----------
    omega_m
        Matter density today (cold dark matter + baryons).
    omega_r
        Radiation density today (photons + massless neutrinos); 0 for a pure matter + Λ
        background. ``Omega_Lambda = 1 - omega_m - omega_r``.
    """

    omega_m: float
    omega_r: float = 0.0

    @classmethod
    def from_pyccl(cls, cosmo: pyccl.Cosmology) -> FlatLCDMBackground:
        """The background of a flat, w = -1, massless-neutrino pyccl cosmology.

        Raises
        ------
        ValueError
            If the cosmology is curved, has massive neutrinos or w != -1 (E(z) would need
            more than these three components).
        """
        m_nu = np.atleast_1d(cosmo["m_nu"]) if np.size(cosmo["m_nu"]) else np.zeros(1)
        if cosmo["Omega_k"] != 0.0 or np.any(m_nu > 0.0) or cosmo["w0"] != -1.0 or cosmo["wa"] != 0.0:
            raise ValueError("FlatLCDMBackground needs a flat LCDM cosmology with massless neutrinos")
        omega_g = float(cosmo["Omega_g"])
        # Massless neutrinos: N_eff (7/8) (4/11)^(4/3) times the photon density.
        omega_nu = float(cosmo["Neff"]) * 7.0 / 8.0 * (4.0 / 11.0) ** (4.0 / 3.0) * omega_g
        return cls(omega_m=float(cosmo["Omega_m"]), omega_r=omega_g + omega_nu)

    def e_of_z(self, z: npt.ArrayLike) -> np.ndarray:
        """Dimensionless expansion rate E(z) = H(z)/H0."""
        zp1 = 1.0 + np.asarray(z, dtype=np.float64)
        omega_l = 1.0 - self.omega_m - self.omega_r
        return np.sqrt((self.omega_r * zp1 + self.omega_m) * zp1**3 + omega_l)


@dataclass(frozen=True)
class BornWeights:
    """Born weights of every (tomographic bin, shell) for one cosmology and one set of n(z).

    Attributes
    ----------
    z_lo, z_hi
        Shell redshift bounds, shape (n_shells,), in the order the shells were given.
    delta_d
        ΔD_b, dimensionless comoving thickness (units of c/H0), shape (n_shells,).
    born_weights
        W_b, dimensionless, shape (n_bins, n_shells); 0 for shells beyond ``z_source_max``.
    ia_weights
        W_b^IA for A_IA = 1, dimensionless, shape (n_bins, n_shells); negative where n > 0.
    omega_m
        Ωm used in κ = (3/2) Ωm Σ W ΔD δ.
    z_source_max
        z_s: sources beyond it are ignored (the n(z) is cut there).
    ia_c1_rho_crit
        C1 ρcrit used in F(z).
    """

    z_lo: np.ndarray
    z_hi: np.ndarray
    delta_d: np.ndarray
    born_weights: np.ndarray
    ia_weights: np.ndarray
    omega_m: float
    z_source_max: float
    ia_c1_rho_crit: float

    @property
    def n_bins(self) -> int:
        """Number of tomographic bins."""
        return int(self.born_weights.shape[0])

    @property
    def n_shells(self) -> int:
        """Number of shells."""
        return int(self.born_weights.shape[1])

    @property
    def convergence_coefficients(self) -> np.ndarray:
        """(3/2) Ωm W_b ΔD_b, shape (n_bins, n_shells): κ = Σ_b coeff_b δ_b."""
        return 1.5 * self.omega_m * self.born_weights * self.delta_d[None, :]

    @property
    def ia_coefficients(self) -> np.ndarray:
        """W_b^IA ΔD_b, shape (n_bins, n_shells): κ_IA = Σ_b coeff_b δ_b (A_IA = 1)."""
        return self.ia_weights * self.delta_d[None, :]

    def as_dict(self) -> dict[str, Any]:
        """Plain arrays and numbers (for HDF5 attributes / JSON provenance)."""
        return {
            "z_lo": self.z_lo,
            "z_hi": self.z_hi,
            "delta_d": self.delta_d,
            "born_weights": self.born_weights,
            "ia_weights": self.ia_weights,
            "omega_m": self.omega_m,
            "z_source_max": self.z_source_max,
            "ia_c1_rho_crit": self.ia_c1_rho_crit,
        }


@dataclass(frozen=True)
class BornMaps:
    """Convergence and IA maps of one shell stack.

    Attributes
    ----------
    kappa
        κ, shape (..., n_bins, *map_shape).
    kappa_ia
        κ_IA for A_IA = 1, same shape.
    """

    kappa: np.ndarray
    kappa_ia: np.ndarray


@dataclass(frozen=True)
class ReferenceWeights:
    """Weights of one shell and one n(z) from :func:`born_weights_reference` (dimensionless)."""

    born_weight: float
    ia_weight: float
    delta_d: float


def ia_amplitude(
    *, cosmo: pyccl.Cosmology, z: npt.ArrayLike, a_ia: float = 1.0, c1_rho_crit: float = IA_C1_RHO_CRIT
) -> np.ndarray:
    """NLA amplitude F(z) = -A_IA C1 ρcrit Ωm / D+(z) (η = β = 0), dimensionless."""
    dplus = np.asarray(growth_factor(cosmo, np.atleast_1d(np.asarray(z, dtype=np.float64))))
    return (-a_ia * c1_rho_crit * float(cosmo["Omega_m"]) / dplus).reshape(np.shape(z))


@cache
def _gauss_legendre_rule(order: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes x, weights w on [-1, 1] and the partial-integration matrix S.

    ``S @ f(x)`` gives ∫_{-1}^{x_k} p(t) dt at every node, p the degree ``order - 1``
    polynomial through the samples: exact for polynomials, spectrally accurate for smooth f.
    """
    x, w = np.polynomial.legendre.leggauss(order)
    m = np.arange(order)
    vander = np.polynomial.legendre.legvander(x, order)  # P_0..P_order at the nodes
    # Discrete orthogonality of Legendre polynomials at Gauss nodes: V^-1 = diag((2m+1)/2) V^T W.
    inverse = ((2 * m + 1) / 2.0)[:, None] * vander[:, :order].T * w[None, :]
    # ∫_{-1}^{x} P_0 = x + 1;  ∫_{-1}^{x} P_m = (P_{m+1}(x) - P_{m-1}(x)) / (2m + 1), m >= 1.
    integrals = np.empty((order, order))
    integrals[:, 0] = x + 1.0
    integrals[:, 1:] = (vander[:, 2:] - vander[:, :-2]) / (2 * m[1:] + 1)
    return x, w, integrals @ inverse


def _shell_bounds(z_edges: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(z_lo, z_hi) per shell from 1-D monotonic edges or (n_shells, 2) pairs."""
    edges = np.asarray(z_edges, dtype=np.float64)
    # Header redshifts of a z = 0 snapshot can be a rounding error below 0 (e.g. -1e-16).
    edges = np.where((edges < 0.0) & (edges > -_NEGATIVE_Z_TOLERANCE), 0.0, edges)
    if edges.ndim == 1:
        if edges.size < 2:
            raise ValueError("z_edges needs at least two redshifts")
        step = np.diff(edges)
        if not (np.all(step > 0) or np.all(step < 0)):
            raise ValueError("1-D z_edges must be strictly monotonic (shell b lies between edges b and b+1)")
        lo, hi = np.minimum(edges[:-1], edges[1:]), np.maximum(edges[:-1], edges[1:])
    elif edges.ndim == 2 and edges.shape[1] == 2:
        lo, hi = edges.min(axis=1), edges.max(axis=1)
        if np.any(lo == hi):
            raise ValueError("every shell needs z_lo < z_hi")
    else:
        raise ValueError(f"z_edges must be 1-D or shaped (n_shells, 2), got {edges.shape}")
    if not np.all(np.isfinite(edges)) or np.any(lo < 0.0):
        raise ValueError("shell redshifts must be finite and >= 0")
    return lo, hi


def _composite_breakpoints(
    *, z_lo: np.ndarray, z_hi: np.ndarray, tables: Sequence[NzTable], z_source_max: float, max_dz: float
) -> np.ndarray:
    """Breakpoints of the composite grid (see the module docstring)."""
    z_top = max(z_source_max, float(z_hi.max()))
    points = [np.array([0.0, z_source_max, z_top]), z_lo, z_hi]
    points += [t.z[(t.z > 0.0) & (t.z < z_source_max)] for t in tables]
    base = np.unique(np.concatenate(points))
    pieces = []
    for a, b in itertools.pairwise(base):
        n_sub = max(1, math.ceil((b - a) / max_dz - 1e-9))
        pieces.append(np.linspace(a, b, n_sub + 1)[:-1])
    pieces.append(base[-1:])
    grid = np.concatenate(pieces)
    if any(float(t.evaluate(0.5 * grid[1])) > 0.0 for t in tables):
        # n(0+) > 0: n/D ~ 1/z. Geometric intervals keep the singularity one width away.
        first = grid[1]
        n_ref = math.ceil(math.log(1.0 / _ORIGIN_FLOOR) / math.log(_ORIGIN_RATIO))
        grid = np.unique(np.concatenate([grid, first * _ORIGIN_RATIO ** -np.arange(1.0, n_ref + 1)]))
    return grid


def shell_weights(
    *,
    cosmo: pyccl.Cosmology,
    z_edges: npt.ArrayLike,
    nz: NzTable | Sequence[NzTable],
    z_source_max: float,
    ia_c1_rho_crit: float = IA_C1_RHO_CRIT,
    order: int = DEFAULT_QUADRATURE_ORDER,
    max_dz: float = DEFAULT_MAX_DZ,
) -> BornWeights:
    """W_b, W_b^IA and ΔD_b of every shell and tomographic bin (fast composite quadrature).

    Parameters
    ----------
    cosmo
        Flat ΛCDM pyccl cosmology (:func:`wlcnn.cosmology.make_cosmology`).
    z_edges
        Shell redshifts: 1-D strictly monotonic edges (shell b between ``z_edges[b]`` and
        ``z_edges[b+1]``; decreasing edges keep the snapshots' order) or (n_shells, 2) pairs.
    nz
        One :class:`~wlcnn.lensing.nz.NzTable` per tomographic bin (any normalisation).
    z_source_max
        z_s of SPEC §3 (3.45 for KiDS-450): n(z) is cut there.
    ia_c1_rho_crit
        C1 ρcrit (0.0134).
    order, max_dz
        Gauss-Legendre points per interval and largest interval width in z; the defaults give
        ~1e-10 relative accuracy.

    Returns
    -------
    BornWeights
        Weights shaped (n_bins, n_shells); dimensionless.
    """
    tables = [nz] if isinstance(nz, NzTable) else list(nz)
    if not tables:
        raise ValueError("need at least one n(z)")
    if z_source_max <= 0.0 or order < 2 or max_dz <= 0.0:
        raise ValueError("need z_source_max > 0, order >= 2 and max_dz > 0")
    z_lo, z_hi = _shell_bounds(z_edges)
    background = FlatLCDMBackground.from_pyccl(cosmo)
    grid = _composite_breakpoints(
        z_lo=z_lo, z_hi=z_hi, tables=tables, z_source_max=z_source_max, max_dz=max_dz
    )
    x, w, partial = _gauss_legendre_rule(order)
    start, half = grid[:-1], 0.5 * np.diff(grid)
    nodes = start[:, None] + half[:, None] * (x[None, :] + 1.0)  # (n_int, q)

    def interval_integrals(f: np.ndarray) -> np.ndarray:
        return half * (f @ w)

    def from_start(f: np.ndarray) -> np.ndarray:
        return half[:, None] * (f @ partial.T)  # ∫ from the interval start to each node

    def tail(f: np.ndarray) -> np.ndarray:
        full = interval_integrals(f)
        # Σ over later intervals, then add the rest of this interval beyond the node.
        after = np.flip(np.cumsum(np.flip(full, -1), -1), -1) - full
        return after[..., None] + full[..., None] - from_start(f)

    i_lo, i_hi = np.searchsorted(grid, z_lo), np.searchsorted(grid, z_hi)
    if not (np.array_equal(grid[i_lo], z_lo) and np.array_equal(grid[i_hi], z_hi)):
        raise AssertionError("shell edges must be grid breakpoints")  # internal invariant
    bounds = np.stack([i_lo, i_hi], axis=1).ravel()

    def per_shell(full: np.ndarray) -> np.ndarray:
        # Sum the intervals of each shell directly: a difference of cumulative sums would lose
        # the relative precision of tiny weights (shells far beyond a bin's n(z)).
        padded = np.concatenate([full, np.zeros((*full.shape[:-1], 1))], axis=-1)
        return np.add.reduceat(padded, bounds, axis=-1)[..., ::2]

    inv_e = 1.0 / background.e_of_z(nodes)
    d_interval = interval_integrals(inv_e)
    dist = (np.cumsum(d_interval) - d_interval)[:, None] + from_start(inv_e)  # D at nodes, all > 0
    n = np.stack([t.evaluate(nodes) for t in tables]) * (nodes <= z_source_max)  # (n_bins, n_int, q)
    n_total = interval_integrals(n).sum(axis=-1)  # ∫_0^{z_s} n, (n_bins,)
    inner = tail(n) - dist * tail(n / dist)  # A - D B = ∫_z^{z_s} n (1 - D/D')
    lensing = per_shell(interval_integrals((1.0 + nodes) * inv_e * dist * inner))
    dplus = np.asarray(growth_factor(cosmo, nodes.ravel())).reshape(nodes.shape)
    ia = per_shell(interval_integrals(n / dplus))
    delta_d = per_shell(d_interval)
    norm = delta_d[None, :] * n_total[:, None]
    omega_m = background.omega_m
    born = lensing / norm
    ia_weights = -ia_c1_rho_crit * omega_m * ia / norm + 0.0  # + 0.0: no negative zeros
    return BornWeights(
        z_lo=z_lo,
        z_hi=z_hi,
        delta_d=delta_d,
        born_weights=born,
        ia_weights=ia_weights,
        omega_m=omega_m,
        z_source_max=float(z_source_max),
        ia_c1_rho_crit=float(ia_c1_rho_crit),
    )


def shell_weights_from_config(
    *,
    cosmo: pyccl.Cosmology,
    z_edges: npt.ArrayLike,
    lensing: Mapping[str, Any],
    base_dir: str | Path = ".",
    realisation: int | None = None,
) -> BornWeights:
    """:func:`shell_weights` with the n(z) and constants of a configuration's ``lensing`` block.

    Parameters
    ----------
    cosmo
        Flat ΛCDM pyccl cosmology of the simulation.
    z_edges
        Shell redshifts (see :func:`shell_weights`), from the snapshots' true redshifts.
    lensing
        The ``lensing`` mapping: ``nz_files`` / ``nz_bootstrap_pattern``, ``z_source_max``,
        optional ``ia_c1_rho_crit``, ``quadrature_order``, ``quadrature_max_dz``,
        ``nz_z_convention``, ``nz_columns``.
    base_dir
        Directory the n(z) paths are relative to.
    realisation
        None for the mean n(z) (training maps) or a bootstrap realisation index (test set).

    Returns
    -------
    BornWeights
    """
    return shell_weights(
        cosmo=cosmo,
        z_edges=z_edges,
        nz=load_nz_from_config(lensing, base_dir=base_dir, realisation=realisation),
        z_source_max=float(lensing["z_source_max"]),
        ia_c1_rho_crit=float(lensing.get("ia_c1_rho_crit", IA_C1_RHO_CRIT)),
        order=int(lensing.get("quadrature_order", DEFAULT_QUADRATURE_ORDER)),
        max_dz=float(lensing.get("quadrature_max_dz", DEFAULT_MAX_DZ)),
    )


def dimensionless_comoving_distance(
    *,
    cosmo: pyccl.Cosmology,
    z: npt.ArrayLike,
    order: int = DEFAULT_QUADRATURE_ORDER,
    max_dz: float = DEFAULT_MAX_DZ,
) -> np.ndarray:
    """D(z) = ∫_0^z dz'/E(z') (units of c/H0), by the composite Gauss-Legendre rule of the weights.

    Parameters
    ----------
    cosmo
        Flat ΛCDM pyccl cosmology.
    z
        Redshift(s) >= 0.
    order, max_dz
        As in :func:`shell_weights`.

    Returns
    -------
    numpy.ndarray
        D(z), shape of ``z``; multiply by 2997.92458 for Mpc/h.
    """
    z_arr = np.asarray(z, dtype=np.float64)
    if np.any(z_arr < 0.0):
        raise ValueError("z must be >= 0")
    background = FlatLCDMBackground.from_pyccl(cosmo)
    x, w, _ = _gauss_legendre_rule(order)
    flat = z_arr.ravel()
    out = np.zeros_like(flat)
    for i, zi in enumerate(flat):
        if zi == 0.0:
            continue
        edges = np.linspace(0.0, zi, max(1, math.ceil(zi / max_dz)) + 1)
        half = 0.5 * np.diff(edges)
        nodes = edges[:-1, None] + half[:, None] * (x[None, :] + 1.0)
        out[i] = np.sum(half * ((1.0 / background.e_of_z(nodes)) @ w))
    return out.reshape(z_arr.shape)


def born_weights_reference(
    *,
    cosmo: pyccl.Cosmology,
    z_lo: float,
    z_hi: float,
    nz: NzTable,
    z_source_max: float,
    ia_c1_rho_crit: float = IA_C1_RHO_CRIT,
    epsrel: float = _REFERENCE_EPSREL,
) -> ReferenceWeights:
    """Slow reference for one shell and one n(z): SPEC §3 by nested adaptive quadrature.

    The double integral is evaluated literally (outer ``quad`` over the shell, inner ``quad``
    over z' ∈ [z, z_s] with the n(z) nodes as break points); D(z) comes from an adaptive
    8th-order Runge-Kutta integration (DOP853, rtol 1e-13) of dD/dz = 1/E with dense output.
    Seconds per shell: for tests and benchmarks only.

    Parameters
    ----------
    cosmo
        Flat ΛCDM pyccl cosmology.
    z_lo, z_hi
        Shell bounds, ``0 <= z_lo < z_hi``.
    nz
        Source distribution of one tomographic bin.
    z_source_max
        z_s (n is cut there).
    ia_c1_rho_crit
        C1 ρcrit.
    epsrel
        Relative tolerance of every ``quad``.

    Returns
    -------
    ReferenceWeights
        W_b, W_b^IA (A_IA = 1) and ΔD_b.
    """
    if not 0.0 <= z_lo < z_hi:
        raise ValueError("need 0 <= z_lo < z_hi")
    background = FlatLCDMBackground.from_pyccl(cosmo)
    z_top = max(z_hi, z_source_max)
    sol = solve_ivp(
        lambda _z, _y: [1.0 / float(background.e_of_z(_z))],
        (0.0, z_top),
        [0.0],
        method="DOP853",
        rtol=_ODE_RTOL,
        atol=_ODE_ATOL,
        dense_output=True,
    )

    # Memoised: quad's Kronrod nodes on the inner sub-intervals between n(z) nodes are the same
    # for every outer z, so most D(z') values repeat (a ~20x speed-up, same numbers).
    @cache
    def dist(z: float) -> float:
        return float(sol.sol(z)[0])

    @cache
    def n_of(z: float) -> float:
        return float(nz.evaluate(z)) if z <= z_source_max else 0.0

    def breaks(a: float, b: float) -> list[float]:
        return [float(p) for p in nz.z if a < p < b]

    def integrate(f: Any, a: float, b: float) -> float:
        if b <= a:
            return 0.0
        return quad(f, a, b, points=breaks(a, b) or None, epsabs=0.0, epsrel=epsrel, limit=_REFERENCE_LIMIT)[
            0
        ]

    def inner(z: float) -> float:
        d_z = dist(z)
        # n(z') D(z) D(z, z') / (D(z') a(z)), the a(z) = 1/(1+z) factor applied outside.
        return integrate(lambda zp: n_of(zp) * d_z * (dist(zp) - d_z) / dist(zp), z, z_source_max)

    top = min(z_hi, z_source_max)
    numerator = integrate(lambda z: (1.0 + z) / float(background.e_of_z(z)) * inner(z), z_lo, top)
    n_total = integrate(n_of, 0.0, z_source_max)
    delta_d = quad(lambda z: 1.0 / float(background.e_of_z(z)), z_lo, z_hi, epsabs=0.0, epsrel=epsrel)[0]
    ia_num = integrate(
        lambda z: n_of(z) * float(ia_amplitude(cosmo=cosmo, z=z, c1_rho_crit=ia_c1_rho_crit)), z_lo, top
    )
    return ReferenceWeights(
        born_weight=numerator / (delta_d * n_total),
        ia_weight=ia_num / (delta_d * n_total) + 0.0,
        delta_d=delta_d,
    )


def born_convergence(
    *,
    delta_shells: npt.ArrayLike,
    weights: BornWeights,
    map_ndim: int = 2,
    dtype: npt.DTypeLike = np.float64,
) -> BornMaps:
    """κ and κ_IA of every tomographic bin from a stack of shell overdensity maps.

    κ = (3/2) Ωm Σ_b W_b ΔD_b δ_b and κ_IA = Σ_b W_b^IA ΔD_b δ_b (A_IA = 1).

    Parameters
    ----------
    delta_shells
        δ_b (dimensionless), shaped (..., n_shells, y, x) for patches (``map_ndim=2``) or
        (..., n_shells, npix) for HEALPix (``map_ndim=1``); shells in the order of ``weights``.
    weights
        :func:`shell_weights` for the same shells.
    map_ndim
        Number of trailing map axes.
    dtype
        Arithmetic and output dtype (float64 by default: 50 float32 shells summed in float32
        would lose ~1e-6 relative, more than the weights' accuracy).

    Returns
    -------
    BornMaps
        ``kappa`` and ``kappa_ia`` shaped (..., n_bins, y, x) or (..., n_bins, npix).
    """
    delta = np.asarray(delta_shells)
    if map_ndim < 1 or delta.ndim < map_ndim + 1:
        raise ValueError(f"delta_shells needs a shell axis and {map_ndim} map axes, got shape {delta.shape}")
    shell_axis = delta.ndim - map_ndim - 1
    if delta.shape[shell_axis] != weights.n_shells:
        raise ValueError(
            f"delta_shells has {delta.shape[shell_axis]} shells on axis {shell_axis}, "
            f"weights have {weights.n_shells}"
        )
    map_shape = delta.shape[shell_axis + 1 :]
    flat = delta.reshape(*delta.shape[: shell_axis + 1], -1).astype(dtype, copy=False)
    out_shape = (*delta.shape[:shell_axis], weights.n_bins, *map_shape)
    kappa = np.matmul(weights.convergence_coefficients.astype(dtype), flat).reshape(out_shape)
    kappa_ia = np.matmul(weights.ia_coefficients.astype(dtype), flat).reshape(out_shape)
    return BornMaps(kappa=kappa, kappa_ia=kappa_ia)
