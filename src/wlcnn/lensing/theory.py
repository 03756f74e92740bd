r"""Theory spectra (pyccl), flat-sky map power spectra and the paper's Fig. 4.

Theory. :func:`lensing_spectra` gives, for every pair of tomographic bins, the lensing (GG),
lensing × intrinsic-alignment (GI) and IA (II) angular power spectra of the NLA model for
A_IA = 1 (Limber, halofit non-linear matter power, pyccl ``WeakLensingTracer``). For amplitude
A the observed spectrum is GG + A (GI + IG) + A² II, i.e. GG + 2A GI + A² II for an auto-spectrum
(:meth:`LensingSpectra.total`), matching maps κ + A κ_IA.

IA normalisation. pyccl's ``WeakLensingTracer(..., ia_bias=(z, A))`` (``use_A_ia=True``)
multiplies the density kernel by ``-A 5e-14 ρcrit Ωm / D+(z)`` with ``ρcrit =
pyccl.physical_constants.RHO_CRITICAL`` = 2.775e11 h² M_sun Mpc⁻³, i.e. the NLA F(z) of SPEC §3
(η = β = 0, same sign, same 1/D+ normalised at z = 0) but with C1ρcrit = 0.013877 instead of the
0.0134 of the KiDS/Fluri convention. This module therefore passes
``A × ia_c1_rho_crit / 0.013877`` to pyccl, so theory and maps share F(z) exactly; the tests check
pyccl's convention against an explicit tracer built from F(z).

Convergence vs shear. The maps are convergence maps, so by default (``field="convergence"``)
pyccl's spin-2 spectra, which carry the prefactor (ℓ+2)!/(ℓ-2)!/(ℓ+½)⁴, are converted to the
convergence prefactor [ℓ(ℓ+1)]²/(ℓ+½)⁴ (a < 0.3 % change for ℓ > 30).

n(z). Tables are cut at ``z_source_max`` like the Born weights and resampled onto a fine grid
(spacing <= 0.005) before they reach pyccl, whose splines then follow the same piecewise-linear
function the weights integrate.

Flat-sky estimator (:func:`wlcnn.statistics.power_spectrum`, the project's one, called by
:func:`flat_sky_power_spectrum`). For an N×N map of side θ (radians) the estimate at Fourier
mode k (integer frequencies) is :math:`\hat C(\ell_k) = |\tilde\kappa_k|^2 \theta^2 / N^4` with
:math:`\tilde\kappa` the unnormalised DFT and :math:`\ell_k = 2\pi |k| / \theta`; a white-noise
map of pixel variance σ² has C = σ² Ω_pix. Bins average the modes with
``edges[i] <= ℓ < edges[i+1]``; :func:`binned_theory` averages a theory curve over the same
modes (optionally times the pixel window sinc²), which is what the estimator's mean is.

The Fig. 4 plot is in :mod:`wlcnn.lensing.plots`, Gaussian random maps of a theory spectrum in
:mod:`wlcnn.lensing.random_fields`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyccl

from wlcnn.cosmology import comoving_distance
from wlcnn.lensing._flat_sky_modes import bin_index, interp_loglog, mode_ell
from wlcnn.lensing.born import IA_C1_RHO_CRIT, BornWeights, FlatLCDMBackground
from wlcnn.lensing.nz import NzTable
from wlcnn.statistics.power_spectrum import FlatSkySpectrum, power_spectrum

__all__ = [
    "HUBBLE_DISTANCE_MPC_H",
    "PYCCL_IA_C1_RHO_CRIT",
    "Field",
    "FlatSkySpectrum",
    "LensingSpectra",
    "binned_theory",
    "born_limber_spectra",
    "flat_sky_power_spectrum",
    "fundamental_ell",
    "lensing_spectra",
    "nyquist_ell",
    "pyccl_ia_bias_scale",
]

Field = Literal["convergence", "shear"]
ShellAverage = Literal["volume", "distance"]

#: c/H0 in Mpc/h.
HUBBLE_DISTANCE_MPC_H = float(pyccl.physical_constants.CLIGHT_HMPC)
#: C1 ρcrit implied by pyccl's NLA normalisation (C1 = 5e-14, ρcrit = RHO_CRITICAL) ≈ 0.013877.
PYCCL_IA_C1_RHO_CRIT = 5e-14 * float(pyccl.physical_constants.RHO_CRITICAL)
#: Largest n(z) node spacing handed to pyccl (its splines then follow the piecewise-linear n).
_PYCCL_NZ_MAX_DZ = 0.005
#: Lowest multipole of a shear field (spin 2: ℓ = 0, 1 carry no shear).
_ELL_MIN = 2.0
#: Redshift samples of the IA amplitude handed to pyccl (it splines A(z)/D+(z) in a).
_IA_Z_SAMPLES = 256
#: Gauss-Legendre points per shell in :func:`born_limber_spectra`.
_LIMBER_ORDER = 12


def pyccl_ia_bias_scale(*, c1_rho_crit: float = IA_C1_RHO_CRIT) -> float:
    """Factor on A_IA that makes pyccl's NLA amplitude use ``c1_rho_crit`` (0.0134 / 0.013877)."""
    return c1_rho_crit / PYCCL_IA_C1_RHO_CRIT


def fundamental_ell(*, side_deg: float) -> float:
    """Lowest non-zero multipole of a square patch: 2π / θ_side (72 for 5 deg)."""
    return 2.0 * np.pi / np.deg2rad(side_deg)


def nyquist_ell(*, side_deg: float, n_pix: int) -> float:
    """Nyquist multipole along an axis: π N / θ_side (4608 for 128 pixels on 5 deg)."""
    return np.pi * n_pix / np.deg2rad(side_deg)


@dataclass(frozen=True)
class LensingSpectra:
    """Angular power spectra of every pair of tomographic bins for A_IA = 1 (dimensionless).

    Attributes
    ----------
    ell
        Multipoles, shape (n_ell,).
    gg
        Lensing × lensing, shape (n_bins, n_bins, n_ell), symmetric.
    gi
        ``gi[i, j]`` = lensing of bin i × IA of bin j, shape (n_bins, n_bins, n_ell); negative.
    ii
        IA × IA, shape (n_bins, n_bins, n_ell), symmetric.
    field
        ``"convergence"`` or ``"shear"`` (E-mode) prefactors.
    """

    ell: np.ndarray
    gg: np.ndarray
    gi: np.ndarray
    ii: np.ndarray
    field: Field = "convergence"

    def total(self, a_ia: float = 0.0) -> np.ndarray:
        """GG + A (GI + IG) + A² II for every bin pair, shape (n_bins, n_bins, n_ell)."""
        return self.gg + a_ia * (self.gi + np.swapaxes(self.gi, 0, 1)) + a_ia**2 * self.ii

    def auto(self, a_ia: float = 0.0) -> np.ndarray:
        """Auto-spectra GG + 2A GI + A² II of each bin, shape (n_bins, n_ell)."""
        total = self.total(a_ia)
        idx = np.arange(total.shape[0])
        return total[idx, idx]


def _ell_prefactor_from_shear(ell: np.ndarray, field: Field) -> np.ndarray:
    """Factor turning pyccl's spin-2 spectra into ``field`` spectra."""
    if field == "shear":
        return np.ones_like(ell)
    # [l(l+1)]^2 / [(l+2)(l+1)l(l-1)] = l(l+1) / ((l+2)(l-1))
    return ell * (ell + 1.0) / ((ell + 2.0) * (ell - 1.0))


def _limber_prefactor(ell: np.ndarray, field: Field) -> np.ndarray:
    """Angular prefactor (as in pyccl) of a spin-0 (convergence) or spin-2 (shear) Limber spectrum."""
    if field == "shear":
        return (ell + 2.0) * (ell + 1.0) * ell * (ell - 1.0) / (ell + 0.5) ** 4
    return (ell * (ell + 1.0)) ** 2 / (ell + 0.5) ** 4


def _check_ell(ell: npt.ArrayLike) -> np.ndarray:
    ell_arr = np.asarray(ell, dtype=np.float64)
    if ell_arr.ndim != 1 or np.any(ell_arr < _ELL_MIN):
        raise ValueError("ell must be a 1-D array of multipoles >= 2")
    return ell_arr


def _pyccl_dndz(table: NzTable, *, z_source_max: float) -> tuple[np.ndarray, np.ndarray]:
    """(z, n) for pyccl: cut at z_s, every node kept, gaps split to <= _PYCCL_NZ_MAX_DZ."""
    t = table.truncated(z_max=z_source_max)
    pieces = [
        np.linspace(a, b, max(1, int(np.ceil((b - a) / _PYCCL_NZ_MAX_DZ))) + 1)[:-1]
        for a, b in zip(t.z[:-1], t.z[1:], strict=True)
    ]
    z = np.concatenate([*pieces, t.z[-1:]])
    return z, t.evaluate(z)


def lensing_spectra(
    *,
    cosmo: pyccl.Cosmology,
    nz: Sequence[NzTable],
    ell: npt.ArrayLike,
    z_source_max: float,
    ia_c1_rho_crit: float = IA_C1_RHO_CRIT,
    field: Field = "convergence",
) -> LensingSpectra:
    """GG, GI and II spectra (NLA, A_IA = 1, halofit) of every pair of tomographic bins.

    Parameters
    ----------
    cosmo
        pyccl cosmology (:func:`wlcnn.cosmology.make_cosmology`; its non-linear power is
        halofit).
    nz
        One n(z) per tomographic bin.
    ell
        Multipoles (>= 2).
    z_source_max
        z_s: n(z) is cut there, as for the Born weights.
    ia_c1_rho_crit
        C1 ρcrit of F(z) (0.0134); pyccl's own 0.013877 is rescaled (module docstring).
    field
        ``"convergence"`` (κ maps) or ``"shear"`` prefactors.

    Returns
    -------
    LensingSpectra
        Dimensionless C_ℓ.
    """
    ell_arr = _check_ell(ell)
    if field not in ("convergence", "shear"):
        raise ValueError(f"field must be 'convergence' or 'shear', got {field!r}")
    scale = pyccl_ia_bias_scale(c1_rho_crit=ia_c1_rho_crit)
    lens, ia = [], []
    for table in nz:
        dndz = _pyccl_dndz(table, z_source_max=z_source_max)
        z_ia = np.linspace(0.0, float(dndz[0][-1]), _IA_Z_SAMPLES)
        lens.append(pyccl.WeakLensingTracer(cosmo, dndz=dndz, has_shear=True))
        ia.append(
            pyccl.WeakLensingTracer(
                cosmo, dndz=dndz, has_shear=False, ia_bias=(z_ia, np.full_like(z_ia, scale))
            )
        )
    n_bins = len(lens)
    gg = np.empty((n_bins, n_bins, ell_arr.size))
    ii = np.empty_like(gg)
    gi = np.empty_like(gg)
    for i in range(n_bins):
        for j in range(n_bins):
            gi[i, j] = pyccl.angular_cl(cosmo, lens[i], ia[j], ell_arr)
            if j >= i:
                gg[i, j] = gg[j, i] = pyccl.angular_cl(cosmo, lens[i], lens[j], ell_arr)
                ii[i, j] = ii[j, i] = pyccl.angular_cl(cosmo, ia[i], ia[j], ell_arr)
    factor = _ell_prefactor_from_shear(ell_arr, field)
    return LensingSpectra(ell=ell_arr, gg=gg * factor, gi=gi * factor, ii=ii * factor, field=field)


#: Slab projection: sin²u/u² is integrated over |u| <= _SLAB_U_MAX (the tail beyond holds
#: < 2/(π U) of the weight, times P ratios < 1) on _SLAB_POINTS points (~10 per oscillation).
_SLAB_U_MAX = 300.0
_SLAB_POINTS = 2001


def _within_k(power: np.ndarray, k: np.ndarray, k_min: float | None, k_max: float | None) -> np.ndarray:
    """``power`` with the modes outside ``k_min <= k <= k_max`` set to zero (None: no bound)."""
    if k_min is None and k_max is None:
        return power
    return np.where((k >= (k_min or 0.0)) & (k <= (k_max or np.inf)), power, 0.0)


def _slab_projection_factor(
    pk: Any,
    *,
    cosmo: pyccl.Cosmology,
    z_lo: float,
    z_hi: float,
    ell: np.ndarray,
    k_min: float | None,
    k_max: float | None,
) -> np.ndarray:
    """Exact / Limber projected power of a uniform slab of one shell's width, per ℓ.

    With u = k_∥ Δχ / 2: (1/π) ∫ du sin²u/u² P(√(k⊥² + (2u/Δχ)²)) / P(k⊥), k⊥ = (ℓ + ½)/χ̄,
    at the shell's mid redshift (P from ``pk``, h units handled as in the caller).
    """
    h = float(cosmo["h"])
    chi_lo, chi_hi = np.asarray(comoving_distance(cosmo, np.array([z_lo, z_hi])), dtype=np.float64)
    width = chi_hi - chi_lo
    z_mid = 0.5 * (z_lo + z_hi)
    chi_mid = float(np.asarray(comoving_distance(cosmo, np.array([z_mid])))[0])
    u = np.linspace(0.0, _SLAB_U_MAX, _SLAB_POINTS)
    kernel = np.sinc(u / np.pi) ** 2  # sin²u/u², even in u: integrate over u >= 0, twice
    du = u[1] - u[0]
    quad = np.full(u.size, du)
    quad[[0, -1]] = 0.5 * du
    k_perp = (ell + 0.5) / chi_mid  # h/Mpc
    k = np.sqrt(k_perp[:, None] ** 2 + (2.0 * u[None, :] / width) ** 2)
    power = _within_k(pk(k.ravel() * h, 1.0 / (1.0 + z_mid)).reshape(k.shape), k, k_min, k_max)
    limber = _within_k(pk(k_perp * h, 1.0 / (1.0 + z_mid)), k_perp, k_min, k_max)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = (2.0 / np.pi) * (power * kernel[None, :]) @ quad / limber
    return np.where(limber > 0, factor, 1.0)


def born_limber_spectra(
    *,
    cosmo: pyccl.Cosmology,
    weights: BornWeights,
    ell: npt.ArrayLike,
    field: Field = "convergence",
    shell_average: ShellAverage = "volume",
    k_min: float | None = None,
    k_max: float | None = None,
    independent_shells: bool = False,
) -> LensingSpectra:
    r"""Limber spectra of Born maps built with ``weights``: an independent check of the weights.

    The Born maps have piecewise-constant radial kernels, (3/2) Ωm W_b for κ and W_b^IA for
    κ_IA per unit D on shell b, so in Limber's approximation

    .. math:: C^{XY}_\ell = \sum_b q^X_b q^Y_b \left(\frac{H_0}{c}\right)^3
              \int_{\Delta z_b} \frac{dz}{E(z)} \frac{P_{NL}((\ell+\tfrac12)/\chi, z)}{D(z)^2}

    (χ = (c/H0) D in Mpc/h, P in (Mpc/h)³). With thin shells this must match pyccl's continuous
    kernels (:func:`lensing_spectra`) to the shell discretisation error (Δz = 0.02: < 0.3 %).
    With thick shells it is the expected spectrum of the Born maps themselves, the right
    reference for validating the projection: the paper's shells (Δz = 0.05 below z = 1.55) differ
    from continuous theory by up to 3 % (5 % with IA) in the lowest bin, the demo's (Δz = 0.1,
    0.2) by up to 25 % at ℓ ≈ 80.

    Parameters
    ----------
    cosmo
        The cosmology of ``weights``.
    weights
        Born weights (:func:`wlcnn.lensing.born.shell_weights`).
    ell
        Multipoles (>= 2).
    field
        Prefactor convention, as in :func:`lensing_spectra`.
    shell_average
        How δ_b averages the density along a ray through shell b. ``"volume"`` (default): as
        counts N/N̄ in a pixel's frustum do, weighting each distance by χ² dχ, which moves a
        thick shell's weight to its far side (for the demo's first shell, 0 < z < 0.1, this
        changes C_ℓ by tens of per cent); ``"distance"``: uniform in χ, the continuous Born
        integral's weighting. The two agree for thin shells.
    k_min, k_max
        If given (h/Mpc), leave out the power of modes with k < k_min or k > k_max: the part
        of C_ℓ that a simulation resolving only k_min <= k <= k_max can reproduce (see
        :func:`wlcnn.maps.validation.power_spectrum_validation`).
    independent_shells
        The maps' shells come from different snapshots, each randomly rotated and shifted, so
        neighbouring shells are uncorrelated, unlike slabs of one continuous field. Limber's
        per-shell term integrates the line-of-sight correlation across the shell edges; here
        each shell's term is instead the exact projection of a slab of its width,
        Δχ ∫ dk_∥/2π sinc²(k_∥Δχ/2) P(√(k⊥² + k_∥²)) (flat sky, at the shell's mean distance),
        as a factor on its Limber term. It matters at low ℓ for thin distant shells (the demo's
        at ℓ ≈ 100: 10-30 % less power) and tends to 1 where k⊥ Δχ >> 1.

    Returns
    -------
    LensingSpectra
    """
    if shell_average not in ("volume", "distance"):
        raise ValueError(f"shell_average must be 'volume' or 'distance', got {shell_average!r}")
    ell_arr = _check_ell(ell)
    background = FlatLCDMBackground.from_pyccl(cosmo)
    x, w = np.polynomial.legendre.leggauss(_LIMBER_ORDER)
    pk = cosmo.get_nonlin_power()
    h = float(cosmo["h"])
    shell_integrals = np.empty((weights.n_shells, ell_arr.size))
    for b, (lo, hi) in enumerate(zip(weights.z_lo, weights.z_hi, strict=True)):
        half = 0.5 * (hi - lo)
        z = lo + half * (x + 1.0)
        chi = np.asarray(comoving_distance(cosmo, z))  # Mpc/h
        k = (ell_arr[None, :] + 0.5) / chi[:, None]  # h/Mpc, (q, n_ell)
        power = np.array([pk(k[i] * h, 1.0 / (1.0 + z[i])) for i in range(z.size)]) * h**3  # (Mpc/h)^3
        power = _within_k(power, k, k_min, k_max)
        d = chi / HUBBLE_DISTANCE_MPC_H
        integrand = power / (background.e_of_z(z) * d**2)[:, None] / HUBBLE_DISTANCE_MPC_H**3
        if shell_average == "volume":
            # δ_b = ∫ w δ dχ with w = 3χ²/(χ_f³ - χ_n³) instead of 1/Δχ: Limber weight (w Δχ)²
            d_near, d_far = np.asarray(comoving_distance(cosmo, np.array([lo, hi]))) / HUBBLE_DISTANCE_MPC_H
            volume_weight = 3.0 * d**2 * (d_far - d_near) / (d_far**3 - d_near**3)
            integrand = integrand * (volume_weight**2)[:, None]
        shell_integrals[b] = half * (w @ integrand)
        if independent_shells:
            shell_integrals[b] *= _slab_projection_factor(
                pk, cosmo=cosmo, z_lo=lo, z_hi=hi, ell=ell_arr, k_min=k_min, k_max=k_max
            )
    q_g = weights.convergence_coefficients / weights.delta_d  # (3/2) Ωm W_b
    q_i = weights.ia_weights
    pref = _limber_prefactor(ell_arr, field)

    def pair(qa: np.ndarray, qb: np.ndarray) -> np.ndarray:
        return np.einsum("is,js,sl->ijl", qa, qb, shell_integrals) * pref

    return LensingSpectra(ell=ell_arr, gg=pair(q_g, q_g), gi=pair(q_g, q_i), ii=pair(q_i, q_i), field=field)


def flat_sky_power_spectrum(
    maps: npt.ArrayLike,
    *,
    side_deg: float,
    ell_edges: npt.ArrayLike,
    other: npt.ArrayLike | None = None,
) -> FlatSkySpectrum:
    """Azimuthally averaged flat-sky (cross-)power spectrum of square maps.

    Parameters
    ----------
    maps
        Maps shaped (..., N, N) (e.g. (realisation, bin, 128, 128)).
    side_deg
        Side of a map in degrees (5 for KiDS-450 patches).
    ell_edges
        Increasing multipole bin edges.
    other
        Second set of maps of the same shape for a cross-spectrum (Re of κ̃₁ κ̃₂*).

    Returns
    -------
    FlatSkySpectrum
        ``cl`` shaped (..., n_ell).
    """
    # The project's one estimator (SPEC §10): Fig. 4 and the power-spectrum analysis share it.
    return power_spectrum(maps, side_deg=side_deg, ell_edges=ell_edges, other=other)


def binned_theory(
    *,
    ell: npt.ArrayLike,
    cl: npt.ArrayLike,
    side_deg: float,
    n_pix: int,
    ell_edges: npt.ArrayLike,
    pixel_window: bool = False,
    patch_window: bool = False,
) -> np.ndarray:
    """A theory C_ℓ averaged over the DFT modes of each bin, as the estimator averages.

    Parameters
    ----------
    ell, cl
        Theory curve, ``cl`` shaped (..., n_ell_theory) (log-log interpolated).
    side_deg, n_pix
        Map geometry.
    ell_edges
        Bin edges of :func:`flat_sky_power_spectrum`.
    pixel_window
        Multiply every mode by the square-pixel window sinc²(k_x/N) sinc²(k_y/N), for maps whose
        pixels average the field (particle counts per pixel).
    patch_window
        The maps are cut from a larger sky, not periodic: the DFT power of a mode is then the
        spectrum convolved with the patch's square window |W|² (width ~ the fundamental
        ℓ = 360°/side), computed on a grid ``_PATCH_OVERSAMPLE`` times finer in ℓ. It matters at
        the lowest multipoles (the demo's ℓ ≈ 100: -9 to +7 %). False: periodic maps (e.g.
        :func:`wlcnn.lensing.random_fields.gaussian_random_field`), the mode's own C_ℓ.

    Returns
    -------
    numpy.ndarray
        Shape (..., n_bins); NaN for bins without modes.
    """
    ell_t = np.asarray(ell, dtype=np.float64)
    cl_t = np.asarray(cl, dtype=np.float64)
    edges = np.asarray(ell_edges, dtype=np.float64)
    if patch_window:
        return _patch_windowed_theory(
            ell=ell_t, cl=cl_t, side_deg=side_deg, n_pix=n_pix, ell_edges=edges, pixel_window=pixel_window
        )
    ell_modes, ky, kx = mode_ell(n_pix=n_pix, side_deg=side_deg)
    idx = bin_index(ell_modes, edges)
    keep = idx >= 0
    at = ell_modes.ravel()[keep]
    values = interp_loglog(ell_t, cl_t, at)  # (n_modes, ...)
    if pixel_window:
        window = (np.sinc(kx / n_pix) * np.sinc(ky / n_pix)).ravel()[keep] ** 2
        values = values * window.reshape(-1, *([1] * (values.ndim - 1)))
    n_ell = edges.size - 1
    counts = np.bincount(idx[keep], minlength=n_ell).astype(np.float64)
    flat = values.reshape(at.size, -1)
    sums = np.stack([np.bincount(idx[keep], weights=column, minlength=n_ell) for column in flat.T])
    with np.errstate(invalid="ignore", divide="ignore"):
        out = sums / counts
    return out.reshape(*cl_t.shape[:-1], n_ell)


#: Patch-window convolution: ℓ grid this many times finer than the map's DFT modes.
_PATCH_OVERSAMPLE = 4


def _patch_windowed_theory(
    *, ell: np.ndarray, cl: np.ndarray, side_deg: float, n_pix: int, ell_edges: np.ndarray, pixel_window: bool
) -> np.ndarray:
    """:func:`binned_theory` for non-periodic maps: C_ℓ ⊛ |W_patch|², averaged per bin."""
    f = _PATCH_OVERSAMPLE
    fine = f * n_pix
    freq = np.fft.fftfreq(fine, d=1.0 / fine)  # fine integer frequencies; mode f·n is coarse mode n
    ky, kx = np.meshgrid(freq, freq, indexing="ij")
    ell_fine = 2.0 * np.pi * np.hypot(kx, ky) / (f * np.deg2rad(side_deg))
    curves = cl.reshape(-1, ell.size)
    values = interp_loglog(ell, curves, ell_fine.ravel()).reshape(fine, fine, -1)
    values = np.moveaxis(values, -1, 0)  # (n_curves, fine, fine)
    if pixel_window:
        values = values * ((np.sinc(kx / fine) * np.sinc(ky / fine)) ** 2)[None]
    patch = np.zeros((fine, fine))
    patch[:n_pix, :n_pix] = 1.0
    window = np.abs(np.fft.fft2(patch)) ** 2
    window /= window.sum()
    # E|κ̃(n)|² = Σ_m C(m) |W(f n - m)|²: a circular convolution on the fine grid
    convolved = np.real(np.fft.ifft2(np.fft.fft2(values) * np.fft.fft2(window)[None]))[:, ::f, ::f]
    ell_modes, _, _ = mode_ell(n_pix=n_pix, side_deg=side_deg)
    idx = bin_index(ell_modes, ell_edges)
    keep = idx >= 0
    n_ell = ell_edges.size - 1
    counts = np.bincount(idx[keep], minlength=n_ell).astype(np.float64)
    sums = np.stack([np.bincount(idx[keep], weights=c.ravel()[keep], minlength=n_ell) for c in convolved])
    with np.errstate(invalid="ignore", divide="ignore"):
        out = sums / counts
    return out.reshape(*cl.shape[:-1], n_ell)
