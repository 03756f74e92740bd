"""Tests of wlcnn.cosmology against independent calculations (analytic LCDM, quadrature)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

from wlcnn.cosmology import (
    RHO_CRIT_MSUN_H_MPC3,
    comoving_distance,
    critical_density_msun_h_mpc3,
    growth_factor,
    growth_rate,
    hubble_e,
    linear_power,
    make_cosmology,
    nonlinear_power,
    omega_m_of_z,
)

OMEGA_M, SIGMA8, H = 0.26, 0.84, 0.6736
C_KM_S = 299792.458
HUBBLE_DISTANCE_MPC_H = C_KM_S / 100.0  # c / H0 in Mpc/h
TOPHAT_RADIUS = 8.0  # Mpc/h
#: Radiation today with T_CMB = 2.7255 K and N_eff = 3.044 massless neutrinos:
#: Omega_gamma h^2 = 2.4728e-5 (T/2.7255)^4, neutrinos 7/8 (4/11)^(4/3) N_eff of it.
OMEGA_GAMMA_H2 = 2.4728e-5
NEUTRINO_PER_PHOTON = 7.0 / 8.0 * (4.0 / 11.0) ** (4.0 / 3.0) * 3.044
REDSHIFTS = np.array([0.0, 0.3, 1.0, 2.0, 5.0])


@pytest.fixture(scope="module")
def lcdm():
    """Pure matter + Lambda (what N-body codes assume)."""
    return make_cosmology(omega_m=OMEGA_M, sigma8=SIGMA8, radiation=False)


@pytest.fixture(scope="module")
def with_radiation():
    return make_cosmology(omega_m=OMEGA_M, sigma8=SIGMA8)


def e_analytic(z, omega_r: float = 0.0):
    a = 1.0 / (1.0 + np.asarray(z, dtype=float))
    return np.sqrt(OMEGA_M * a**-3 + omega_r * a**-4 + 1.0 - OMEGA_M - omega_r)


def test_hubble_e_matches_analytic_lcdm(lcdm, with_radiation):
    # pyccl evaluates E(a) from splines: ~2e-6 relative at z = 5.
    np.testing.assert_allclose(hubble_e(lcdm, REDSHIFTS), e_analytic(REDSHIFTS), rtol=1e-5)
    omega_r = OMEGA_GAMMA_H2 * (1.0 + NEUTRINO_PER_PHOTON) / H**2
    np.testing.assert_allclose(hubble_e(with_radiation, REDSHIFTS), e_analytic(REDSHIFTS, omega_r), rtol=1e-4)
    # Radiation changes E(z) by less than 1e-3 below z = 3 (the documented difference).
    z = np.linspace(0.0, 3.0, 7)
    assert np.max(np.abs(hubble_e(with_radiation, z) / hubble_e(lcdm, z) - 1.0)) < 1e-3
    assert isinstance(hubble_e(lcdm, 1.0), float)
    assert hubble_e(lcdm, [[0.0, 1.0]]).shape == (1, 2)


def test_omega_m_of_z(lcdm):
    z = 1.5
    expected = OMEGA_M * (1 + z) ** 3 / e_analytic(z) ** 2
    assert omega_m_of_z(lcdm, z) == pytest.approx(expected, rel=1e-6)


def test_comoving_distance_matches_quadrature(lcdm):
    for z in REDSHIFTS[1:]:
        integral, _ = integrate.quad(lambda zz: 1.0 / e_analytic(zz), 0.0, z, epsabs=0, epsrel=1e-10)
        assert comoving_distance(lcdm, z) == pytest.approx(HUBBLE_DISTANCE_MPC_H * integral, rel=1e-5)
    assert comoving_distance(lcdm, 0.0) == pytest.approx(0.0, abs=1e-8)


def growth_analytic(z: float) -> float:
    """Unnormalised growing mode of flat matter + Lambda: D ∝ E(a) ∫_0^a da' / (a' E(a'))^3."""
    a = 1.0 / (1.0 + z)
    integral, _ = integrate.quad(
        lambda x: 1.0 / (x * e_analytic(1.0 / x - 1.0)) ** 3, 0.0, a, epsabs=0, epsrel=1e-11
    )
    return float(e_analytic(z)) * integral


def test_growth_factor_matches_lcdm_integral(lcdm):
    d0 = growth_analytic(0.0)
    for z in REDSHIFTS:
        assert growth_factor(lcdm, z) == pytest.approx(growth_analytic(z) / d0, rel=1e-4)


def test_growth_rate_matches_derivative(lcdm):
    # f = dlnD/dlna from a centred difference of the analytic D.
    step = 1e-4
    for z in (0.0, 1.0, 3.0):
        lna = -np.log1p(z)
        d_plus = growth_analytic(np.exp(-(lna + step)) - 1.0)
        d_minus = growth_analytic(np.exp(-(lna - step)) - 1.0)
        f_numeric = (np.log(d_plus) - np.log(d_minus)) / (2 * step)
        assert growth_rate(lcdm, z) == pytest.approx(f_numeric, rel=1e-4)
    # The familiar approximation f ~ Omega_m(z)^0.55 to ~1%.
    assert growth_rate(lcdm, 0.5) == pytest.approx(omega_m_of_z(lcdm, 0.5) ** 0.55, rel=0.01)


def test_growth_with_radiation_is_close(with_radiation, lcdm):
    # pyccl integrates growth in the full background; radiation slows early growth slightly
    # (measured ~1e-3 relative at z = 5 after normalising at z = 0).
    ratio = growth_factor(with_radiation, REDSHIFTS) / growth_factor(lcdm, REDSHIFTS)
    np.testing.assert_allclose(ratio, 1.0, atol=5e-3)


def sigma_r(cosmo, radius: float, z: float = 0.0) -> float:
    """rms linear overdensity in a top-hat sphere of ``radius`` Mpc/h, by quadrature in ln k."""
    lnk = np.linspace(np.log(1e-4), np.log(1e2), 8001)
    k = np.exp(lnk)
    x = k * radius
    window = 3.0 * (np.sin(x) - x * np.cos(x)) / x**3
    integrand = k**3 * linear_power(cosmo, k, z) * window**2 / (2.0 * np.pi**2)
    return float(np.sqrt(integrate.simpson(integrand, x=lnk)))


def test_linear_power_units_recover_sigma8(lcdm):
    # If k or P were in the wrong units (Mpc vs Mpc/h) this would be off by tens of per cent.
    assert sigma_r(lcdm, TOPHAT_RADIUS) == pytest.approx(SIGMA8, rel=0.01)
    # And P(k, z) = P(k, 0) D(z)^2.
    k = np.array([0.01, 0.1, 1.0])
    np.testing.assert_allclose(
        linear_power(lcdm, k, 2.0), linear_power(lcdm, k, 0.0) * growth_factor(lcdm, 2.0) ** 2, rtol=1e-4
    )


def test_nonlinear_power_boost(lcdm):
    k = np.array([0.01, 0.5, 1.0])
    boost = nonlinear_power(lcdm, k, 0.0) / linear_power(lcdm, k, 0.0)
    assert boost[0] == pytest.approx(1.0, abs=0.01)
    assert 2.0 < boost[1] < boost[2]
    assert np.shape(nonlinear_power(lcdm, 0.5, 0.0)) == ()


def test_critical_density():
    # 3 H0^2 / (8 pi G) with H0 = 100 km/s/Mpc, G = 4.30091e-9 Mpc (km/s)^2 / M_sun.
    gravitational_constant = 4.30091e-9
    expected = 3.0 * 100.0**2 / (8.0 * np.pi * gravitational_constant)
    assert critical_density_msun_h_mpc3() == RHO_CRIT_MSUN_H_MPC3
    assert pytest.approx(expected, rel=1e-4) == RHO_CRIT_MSUN_H_MPC3


def test_invalid_inputs(lcdm):
    with pytest.raises(ValueError, match="omega_b"):
        make_cosmology(omega_m=0.04, sigma8=0.8)
    with pytest.raises(ValueError, match="redshift"):
        hubble_e(lcdm, -1.0)
    with pytest.raises(ValueError, match="positive"):
        linear_power(lcdm, [0.0, 0.1], 0.0)
