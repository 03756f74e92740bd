"""Patch pixel convention, exact pixel solid angles, gnomonic projection, shell definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

from wlcnn.cosmology import make_cosmology
from wlcnn.maps.gnomonic import PatchGeometry, gnomonic_forward, gnomonic_inverse
from wlcnn.maps.shells import shells_from_redshifts

C_OVER_H0 = 2997.92458  # Mpc/h


def test_pixel_centres_follow_the_agreed_convention():
    g = PatchGeometry(n_pix=128, patch_size_deg=5.0)
    delta = math.radians(5.0) / 128
    assert g.pixel_size_arcmin == pytest.approx(2.34375)
    for i in (0, 1, 63, 64, 127):
        assert g.centres[i] == pytest.approx((i + 0.5 - 64) * delta, abs=1e-15)
    assert g.edges[0] == pytest.approx(-g.half_width) and g.edges[-1] == pytest.approx(g.half_width)
    iy, ix, inside = g.pixel_index(np.array([g.centres[3]]), np.array([g.centres[100]]))
    assert (iy[0], ix[0], inside[0]) == (100, 3, True)  # arrays are [y, x]


@pytest.mark.parametrize(("n_pix", "size"), [(8, 40.0), (16, 5.0)])
def test_pixel_solid_angles_match_a_direct_integral(n_pix, size):
    g = PatchGeometry(n_pix=n_pix, patch_size_deg=size)
    omega = g.pixel_solid_angles
    # Independent: dΩ = dx dy / (1 + x² + y²)^(3/2), midpoint rule on a fine sub-grid per pixel.
    sub = 200
    e = g.edges
    for iy, ix in [(0, 0), (0, n_pix - 1), (n_pix // 2, n_pix // 2), (1, n_pix // 3)]:
        xs = e[ix] + (np.arange(sub) + 0.5) * (e[ix + 1] - e[ix]) / sub
        ys = e[iy] + (np.arange(sub) + 0.5) * (e[iy + 1] - e[iy]) / sub
        xx, yy = np.meshgrid(xs, ys)
        direct = np.sum((1 + xx**2 + yy**2) ** -1.5) * (e[1] - e[0]) ** 2 / sub**2
        assert omega[iy, ix] == pytest.approx(direct, rel=1e-6)
    assert omega.sum() == pytest.approx(g.solid_angle, rel=1e-12)
    # Corners subtend less than the centre: about the ratio of (1 + x² + y²)^(-3/2) at the centres.
    xc, xm = g.centres[0], g.centres[n_pix // 2]
    ratio = omega[0, 0] / omega[n_pix // 2, n_pix // 2]
    assert ratio < 1.0
    assert ratio == pytest.approx(((1 + 2 * xc**2) / (1 + 2 * xm**2)) ** -1.5, rel=1e-2)
    assert np.allclose(omega, omega[::-1, :]) and np.allclose(omega, omega.T)


def test_gnomonic_forward_matches_the_textbook_formula_and_inverts():
    rng = np.random.default_rng(3)
    lon0, lat0 = 200.0, -31.5
    lon = lon0 + rng.uniform(-4, 4, 500)
    lat = lat0 + rng.uniform(-4, 4, 500)
    x, y, front = gnomonic_forward(lon, lat, centre_lon_deg=lon0, centre_lat_deg=lat0)
    assert front.all()
    # Snyder (1987), Map Projections - A Working Manual, eqs. (22-4), (22-5), (5-3).
    phi, lam, phi0, lam0 = map(np.radians, (lat, lon, lat0, lon0))
    cosc = np.sin(phi0) * np.sin(phi) + np.cos(phi0) * np.cos(phi) * np.cos(lam - lam0)
    xs = np.cos(phi) * np.sin(lam - lam0) / cosc
    ys = (np.cos(phi0) * np.sin(phi) - np.sin(phi0) * np.cos(phi) * np.cos(lam - lam0)) / cosc
    assert np.allclose(x, xs, atol=1e-13) and np.allclose(y, ys, atol=1e-13)
    lon2, lat2 = gnomonic_inverse(x, y, centre_lon_deg=lon0, centre_lat_deg=lat0)
    assert np.allclose(lon2, lon % 360, atol=1e-9) and np.allclose(lat2, lat, atol=1e-9)


def test_shells_use_true_header_redshifts_near_to_far():
    cosmo = make_cosmology(omega_m=0.3, sigma8=0.8, radiation=False)
    z = [1.4032, 1.2011, 0.9987, 0.5, 0.0]  # header redshifts, not the requested ones
    shells = shells_from_redshifts(z, cosmo=cosmo)
    assert [s.snapshot for s in shells] == [4, 3, 2, 1]  # snapshot k fills [z_k, z_(k-1)]
    assert [(s.z_near, s.z_far) for s in shells] == [
        (0.0, 0.5),
        (0.5, 0.9987),
        (0.9987, 1.2011),
        (1.2011, 1.4032),
    ]
    assert shells[0].r_near == 0.0
    for s in shells:
        assert s.r_far > s.r_near
        # Independent distance: c/H0 ∫ dz / E(z), E² = Ωm (1+z)³ + 1 - Ωm.
        ref = C_OVER_H0 * quad(lambda zz: (0.3 * (1 + zz) ** 3 + 0.7) ** -0.5, 0, s.z_far, epsrel=1e-12)[0]
        assert s.r_far == pytest.approx(ref, rel=2e-5)
    with pytest.raises(ValueError, match="decreasing"):
        shells_from_redshifts([0.5, 1.0], cosmo=cosmo)
