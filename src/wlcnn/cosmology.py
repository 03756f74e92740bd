"""Background cosmology and linear/non-linear matter power, as a thin layer over pyccl.

Everything the pipeline needs from a cosmology goes through this module so that the unit
conventions live in one place. pyccl works in Mpc (no h): wave numbers in 1/Mpc, power in
Mpc^3, distances in Mpc. The pipeline works in h-units throughout, like the N-body codes:

- wave number ``k`` in h/Mpc,
- power spectra in (Mpc/h)^3,
- distances in Mpc/h,
- densities in (M_sun/h) / (Mpc/h)^3.

The conversions are ``k[1/Mpc] = k[h/Mpc] * h``, ``P[(Mpc/h)^3] = P[Mpc^3] * h^3`` and
``d[Mpc/h] = d[Mpc] * h``.

Redshift arguments accept a scalar or an array; functions return a float for a scalar and an
array of the broadcast shape otherwise.

Examples
--------
>>> from wlcnn.cosmology import make_cosmology, growth_factor, linear_power
>>> cosmo = make_cosmology(omega_m=0.26, sigma8=0.84)
>>> round(growth_factor(cosmo, 0.0), 6)
1.0
>>> linear_power(cosmo, [0.1, 1.0], 0.0).shape
(2,)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pyccl

__all__ = [
    "DEFAULT_H",
    "DEFAULT_N_S",
    "DEFAULT_OMEGA_B",
    "RHO_CRIT_MSUN_H_MPC3",
    "comoving_distance",
    "critical_density_msun_h_mpc3",
    "growth_factor",
    "growth_rate",
    "hubble_e",
    "linear_power",
    "make_cosmology",
    "nonlinear_power",
    "omega_m_of_z",
    "simulation_cosmology",
]

#: Critical density today, 3 H0^2 / (8 pi G), in (M_sun/h) / (Mpc/h)^3. Independent of h in
#: these units; this is the value Gadget-2 and N-GenIC use (G = 43007.1 in their units).
RHO_CRIT_MSUN_H_MPC3 = 2.77536627e11

#: Planck 2018 (TT,TE,EE+lowE+lensing) baryon density, dimensionless Hubble rate and spectral
#: index: the defaults of the fixtures' runs (only the baryons' imprint on the transfer function
#: depends on Omega_b; the simulations are dark-matter only).
DEFAULT_OMEGA_B = 0.0493
DEFAULT_H = 0.6736
DEFAULT_N_S = 0.9649

ArrayLike = npt.ArrayLike


def make_cosmology(
    *,
    omega_m: float,
    sigma8: float,
    omega_b: float = DEFAULT_OMEGA_B,
    h: float = DEFAULT_H,
    n_s: float = DEFAULT_N_S,
    transfer_function: str = "eisenstein_hu",
    radiation: bool = True,
) -> pyccl.Cosmology:
    """Build a flat LCDM pyccl cosmology (massless neutrinos, w = -1).

    Parameters
    ----------
    omega_m
        Total matter density today, Omega_m (cold dark matter plus baryons).
    sigma8
        rms linear density contrast in spheres of 8 Mpc/h at z = 0; normalises P(k).
    omega_b
        Baryon density today; ``Omega_c = omega_m - omega_b``.
    h
        Dimensionless Hubble constant, H0 / (100 km/s/Mpc).
    n_s
        Primordial spectral index.
    transfer_function
        pyccl transfer function: ``"eisenstein_hu"`` (analytic fit, fast, no extra
        dependency), ``"bbks"`` or ``"boltzmann_camb"`` (needs the ``camb`` package; slower
        but what the fixtures' initial conditions used).
    radiation
        Whether the background contains radiation (CMB photons at T = 2.7255 K and 3.044
        massless neutrino species, Omega_r ~ 9e-5, as pyccl does by default). Pass False
        for the pure matter + Lambda background that N-body codes such as Gadget-2 and the
        particle-mesh code in :mod:`wlcnn.nbody` assume (then Omega_Lambda = 1 - Omega_m
        exactly); the difference in E(z) is below 1e-3 at z < 3.

    Returns
    -------
    pyccl.Cosmology
        Flat cosmology (Omega_k = 0; pyccl sets Omega_Lambda = 1 - Omega_m - Omega_r).

    Raises
    ------
    ValueError
        If ``omega_b`` is not in ``(0, omega_m)`` or ``sigma8``, ``h`` are not positive.
    """
    if not 0.0 < omega_b < omega_m:
        raise ValueError(f"need 0 < omega_b < omega_m; got omega_b={omega_b}, omega_m={omega_m}")
    if sigma8 <= 0.0 or h <= 0.0:
        raise ValueError(f"sigma8 and h must be positive; got sigma8={sigma8}, h={h}")
    extra: dict[str, Any] = {} if radiation else {"Omega_g": 0.0, "Neff": 0.0}
    return pyccl.Cosmology(
        Omega_c=omega_m - omega_b,
        Omega_b=omega_b,
        h=h,
        n_s=n_s,
        sigma8=sigma8,
        Omega_k=0.0,
        transfer_function=transfer_function,
        matter_power_spectrum="halofit",
        **extra,
    )


def simulation_cosmology(
    parameters: Mapping[str, float], *, transfer_function: str = "eisenstein_hu"
) -> pyccl.Cosmology:
    """The pyccl cosmology of an N-body simulation: matter + Lambda, no radiation.

    The one way the pipeline builds the cosmology of a simulation (its shells' distances, the
    Born weights of its maps, the theory its maps are checked against, the surveys drawn from
    them): the background the N-body codes integrate (the light-cone fixtures' particle radii
    agree with these distances to 3e-5), so that distances and weights match the particles.

    Parameters
    ----------
    parameters
        ``omega_m`` and ``sigma8`` (required); ``omega_b``, ``h``, ``n_s`` (default
        :data:`DEFAULT_OMEGA_B`, :data:`DEFAULT_H`, :data:`DEFAULT_N_S`). Other keys are ignored.
    transfer_function
        As for :func:`make_cosmology`.

    Returns
    -------
    pyccl.Cosmology
        :func:`make_cosmology` with ``radiation=False``.

    Raises
    ------
    KeyError
        If ``omega_m`` or ``sigma8`` is missing.
    """
    return make_cosmology(
        omega_m=float(parameters["omega_m"]),
        sigma8=float(parameters["sigma8"]),
        omega_b=float(parameters.get("omega_b", DEFAULT_OMEGA_B)),
        h=float(parameters.get("h", DEFAULT_H)),
        n_s=float(parameters.get("n_s", DEFAULT_N_S)),
        transfer_function=transfer_function,
        radiation=False,
    )


def _scale_factor(z: ArrayLike) -> np.ndarray:
    """Scale factor ``1 / (1 + z)``; validates ``z > -1``."""
    z_arr = np.asarray(z, dtype=np.float64)
    if np.any(z_arr <= -1.0):
        raise ValueError("redshift must be > -1")
    return 1.0 / (1.0 + z_arr)


def _like_input(z: ArrayLike, value: np.ndarray) -> float | np.ndarray:
    """Return a Python float when ``z`` was a scalar, else the array."""
    if np.ndim(z) == 0:
        return float(np.asarray(value).reshape(()))
    return np.asarray(value, dtype=np.float64)


def hubble_e(cosmo: pyccl.Cosmology, z: ArrayLike) -> float | np.ndarray:
    """Dimensionless expansion rate E(z) = H(z) / H0.

    Parameters
    ----------
    cosmo
        pyccl cosmology (see :func:`make_cosmology`).
    z
        Redshift(s).

    Returns
    -------
    float or numpy.ndarray
        E(z); H(z) in km/s/(Mpc/h) is ``100 * E(z)``.
    """
    a = np.atleast_1d(_scale_factor(z)).ravel()
    return _like_input(z, pyccl.h_over_h0(cosmo, a).reshape(np.shape(z)))


def omega_m_of_z(cosmo: pyccl.Cosmology, z: ArrayLike) -> float | np.ndarray:
    """Matter density parameter at redshift z, Omega_m(z) = Omega_m (1+z)^3 / E(z)^2.

    Parameters
    ----------
    cosmo
        pyccl cosmology.
    z
        Redshift(s).

    Returns
    -------
    float or numpy.ndarray
        Omega_m(z) (dimensionless).
    """
    a = np.atleast_1d(_scale_factor(z)).ravel()
    return _like_input(z, pyccl.omega_x(cosmo, a, "matter").reshape(np.shape(z)))


def comoving_distance(cosmo: pyccl.Cosmology, z: ArrayLike) -> float | np.ndarray:
    """Line-of-sight comoving distance to redshift z.

    Parameters
    ----------
    cosmo
        pyccl cosmology.
    z
        Redshift(s).

    Returns
    -------
    float or numpy.ndarray
        Comoving distance in Mpc/h (= c/H0 * int_0^z dz'/E(z'), c/H0 = 2997.92458 Mpc/h).
    """
    a = np.atleast_1d(_scale_factor(z)).ravel()
    d_mpc = pyccl.comoving_radial_distance(cosmo, a)
    return _like_input(z, (d_mpc * cosmo["h"]).reshape(np.shape(z)))


def growth_factor(cosmo: pyccl.Cosmology, z: ArrayLike) -> float | np.ndarray:
    """Linear growth factor D+(z) of the growing mode, normalised to D+(0) = 1.

    Parameters
    ----------
    cosmo
        pyccl cosmology.
    z
        Redshift(s).

    Returns
    -------
    float or numpy.ndarray
        D+(z) (dimensionless). pyccl integrates the growth ODE with the full background,
        radiation included when the cosmology has it.
    """
    a = np.atleast_1d(_scale_factor(z)).ravel()
    return _like_input(z, pyccl.growth_factor(cosmo, a).reshape(np.shape(z)))


def growth_rate(cosmo: pyccl.Cosmology, z: ArrayLike) -> float | np.ndarray:
    """Logarithmic growth rate f(z) = d ln D+ / d ln a.

    Parameters
    ----------
    cosmo
        pyccl cosmology.
    z
        Redshift(s).

    Returns
    -------
    float or numpy.ndarray
        f(z) (dimensionless; ~ Omega_m(z)^0.55 in LCDM).
    """
    a = np.atleast_1d(_scale_factor(z)).ravel()
    return _like_input(z, pyccl.growth_rate(cosmo, a).reshape(np.shape(z)))


def _power(cosmo: pyccl.Cosmology, k_hmpc: ArrayLike, z: float, function: Any) -> float | np.ndarray:
    """Evaluate a pyccl power function in h-units (k in h/Mpc -> P in (Mpc/h)^3)."""
    if np.ndim(z) != 0:
        raise ValueError("z must be a scalar; loop over redshifts")
    a = float(_scale_factor(float(z)))
    h = cosmo["h"]
    k = np.asarray(k_hmpc, dtype=np.float64)
    if np.any(k <= 0.0):
        raise ValueError("k must be positive")
    p_mpc3 = function(cosmo, np.atleast_1d(k).ravel() * h, a)
    p = np.asarray(p_mpc3).reshape(k.shape) * h**3
    return _like_input(k_hmpc, p)


def linear_power(cosmo: pyccl.Cosmology, k_hmpc: ArrayLike, z: float) -> float | np.ndarray:
    """Linear matter power spectrum P_lin(k, z).

    Parameters
    ----------
    cosmo
        pyccl cosmology.
    k_hmpc
        Wave number(s) in h/Mpc.
    z
        Redshift (scalar).

    Returns
    -------
    float or numpy.ndarray
        P_lin in (Mpc/h)^3, same shape as ``k_hmpc``; equals P_lin(k, 0) D+(z)^2.
    """
    return _power(cosmo, k_hmpc, z, pyccl.linear_matter_power)


def nonlinear_power(cosmo: pyccl.Cosmology, k_hmpc: ArrayLike, z: float) -> float | np.ndarray:
    """Non-linear matter power spectrum from halofit (Takahashi et al. 2012, as in pyccl).

    Parameters
    ----------
    cosmo
        pyccl cosmology (built with ``matter_power_spectrum="halofit"``, the default of
        :func:`make_cosmology`).
    k_hmpc
        Wave number(s) in h/Mpc.
    z
        Redshift (scalar).

    Returns
    -------
    float or numpy.ndarray
        P_halofit in (Mpc/h)^3, same shape as ``k_hmpc``.
    """
    return _power(cosmo, k_hmpc, z, pyccl.nonlin_matter_power)


def critical_density_msun_h_mpc3() -> float:
    """Critical density today in (M_sun/h) / (Mpc/h)^3.

    Returns
    -------
    float
        :data:`RHO_CRIT_MSUN_H_MPC3` = 2.77536627e11; the mean matter density is
        ``omega_m`` times this.
    """
    return RHO_CRIT_MSUN_H_MPC3
