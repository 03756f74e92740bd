"""Multi-plane ray tracing: Born limit, analytic lenses (one and two SIS planes), Born-vs-RT spectra."""

from __future__ import annotations

import numpy as np
import pyccl
import pytest

from wlcnn.config import output_redshifts
from wlcnn.cosmology import make_cosmology, nonlinear_power
from wlcnn.lensing.born import born_convergence, dimensionless_comoving_distance, shell_weights
from wlcnn.lensing.nz import NzTable, synthetic_nz_histograms
from wlcnn.lensing.random_fields import gaussian_random_field
from wlcnn.lensing.ray_tracing import lens_planes, ray_traced_maps, trace_rays
from wlcnn.statistics.power_spectrum import power_spectrum
from wlcnn.survey.kaiser_squires import kappa_to_gamma

Z_S = 3.45  # KiDS-450 z_s
KIDS_Z = {"z_max": 3.45, "z_switch": 1.55, "dz_high": 0.1, "dz_low": 0.05}
HUBBLE_MPC_H = pyccl.physical_constants.CLIGHT_HMPC  # c/H0 in Mpc/h
SIDE_DEG, N_PIX = 5.0, 128  # KiDS-450 patch
#: Sub-pixels per axis for the pixel-averaged SIS surface density.
SUPERSAMPLE = 8


@pytest.fixture(scope="module")
def cosmo() -> pyccl.Cosmology:
    return make_cosmology(omega_m=0.29, sigma8=0.78)


def _kids_like_nz() -> list[NzTable]:
    z_lower, hist = synthetic_nz_histograms(z_max=3.5, bin_width=0.05)
    mids = np.concatenate([[0.0], z_lower + 0.025])
    return [NzTable(z=mids, nz=np.concatenate([[0.0], h])) for h in hist]


def _wide_nz() -> NzTable:
    return NzTable(z=np.array([0.0, 0.6, 1.4]), nz=np.array([0.0, 1.0, 0.0]))


# ---- Born limit ----


def test_single_plane_reproduces_born(cosmo: pyccl.Cosmology) -> None:
    """One shell: no multi-plane coupling, so κ = Born κ and γ = KS(Born κ) to rounding."""
    weights = shell_weights(cosmo=cosmo, z_edges=[0.3, 0.5], nz=[_wide_nz()], z_source_max=1.4)
    delta = np.random.default_rng(0).standard_normal((2, 1, 64, 64))  # two realisations
    maps = ray_traced_maps(delta_shells=delta, weights=weights, cosmo=cosmo, padding=32)
    born = born_convergence(delta_shells=delta, weights=weights).kappa
    assert maps.kappa.shape == born.shape == (2, 1, 64, 64)
    scale = np.abs(born).max()
    np.testing.assert_allclose(maps.kappa, born, rtol=0, atol=1e-13 * scale)
    np.testing.assert_allclose(maps.gamma, kappa_to_gamma(born, padding=32), rtol=0, atol=1e-13 * scale)
    assert np.abs(maps.rotation).max() < 1e-15 * scale


def test_single_lens_single_source_plane() -> None:
    """trace_rays, one plane: B = (D_s - D_l)/D_s ∇∇ψ, trace 2 κ, with κ from the input."""
    kappa = 0.01 * np.random.default_rng(1).standard_normal((1, 32, 32))
    trace = trace_rays(plane_kappa=kappa, lens_distances=[1.0], source_distances=[3.0], padding=16)
    b = trace.distortion[0]
    np.testing.assert_allclose(
        0.5 * (b[0, 0] + b[1, 1]), 2.0 / 3.0 * kappa[0], rtol=0, atol=1e-14 * np.abs(kappa).max()
    )
    np.testing.assert_array_equal(b[0, 1], b[1, 0])  # a single plane has no rotation


@pytest.mark.parametrize("interpolation_order", [1, 3])
def test_many_planes_post_born_is_second_order(cosmo: pyccl.Cosmology, interpolation_order: int) -> None:
    """50 KiDS shells: RT - Born vanishes like ε² when δ is scaled by ε (the Born limit is exact)."""
    z = output_redshifts(KIDS_Z)
    weights = shell_weights(cosmo=cosmo, z_edges=z, nz=_kids_like_nz()[2:], z_source_max=Z_S)
    delta = np.random.default_rng(2).standard_normal((weights.n_shells, 32, 32))
    diffs = []
    for eps in (1e-3, 2e-3):
        rt = ray_traced_maps(
            delta_shells=eps * delta,
            weights=weights,
            cosmo=cosmo,
            padding=16,
            interpolation_order=interpolation_order,
        )
        born = born_convergence(delta_shells=eps * delta, weights=weights).kappa
        diffs.append(np.abs(rt.kappa - born).max() / np.abs(born).max())
    assert diffs[0] < 1e-3
    assert diffs[1] / diffs[0] == pytest.approx(2.0, rel=0.05)  # relative difference ∝ ε


def test_source_weights_follow_nz(cosmo: pyccl.Cosmology) -> None:
    """p_jb solve the Born triangular system; they sum to ~1 and peak where n(z) does."""
    z = output_redshifts(KIDS_Z)
    nz = _kids_like_nz()
    weights = shell_weights(cosmo=cosmo, z_edges=z, nz=nz, z_source_max=Z_S)
    planes = lens_planes(weights=weights, cosmo=cosmo)
    assert np.all(np.diff(planes.distance) > 0)
    kernel = (
        (1.0 + planes.redshift)[:, None]
        * planes.distance[:, None]
        * np.clip(1.0 - planes.distance[:, None] / planes.source_distance[None, :], 0.0, None)
    )
    born = weights.born_weights[:, planes.shell_index]
    np.testing.assert_allclose(planes.source_weights @ kernel.T, born, rtol=1e-10, atol=1e-14)
    total = planes.source_weights.sum(axis=1)
    assert np.all((total > 0.9) & (total < 1.0))
    z_mid = planes.redshift
    for j, table in enumerate(nz):
        peak_nz = table.z[np.argmax(table.nz)]
        assert abs(z_mid[np.argmax(planes.source_weights[j])] - peak_nz) < 0.15


# ---- analytic lenses ----


def _sis_kappa(
    *, n: int, einstein_radius: float, truncation: float, centre: tuple[float, float]
) -> np.ndarray:
    """Pixel-averaged κ of a truncated SIS (θ_E / 2r for r < truncation), pixel units, [y, x]."""
    sub = (np.arange(SUPERSAMPLE) + 0.5) / SUPERSAMPLE - 0.5
    pix = np.arange(n, dtype=np.float64)
    x = (pix[None, :, None, None] + sub[None, None, None, :]) - centre[0]
    y = (pix[:, None, None, None] + sub[None, None, :, None]) - centre[1]
    r = np.hypot(x, y)
    return np.where(r < truncation, einstein_radius / (2.0 * r), 0.0).mean(axis=(2, 3))


def _sis_deflection_and_hessian(
    pos: np.ndarray, *, einstein_radius: float, truncation: float, centre: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Analytic α (2, ...) and ∇∇ψ (2, 2, ...) of the truncated SIS at positions (2, ...)."""
    dx, dy = pos[0] - centre[0], pos[1] - centre[1]
    r = np.hypot(dx, dy)
    n = np.stack([dx / r, dy / r])
    inside = r < truncation
    # Inside: ψ = θ_E r; outside: ψ = θ_E R_t ln r (+ const), the 2-D shell theorem.
    magnitude = np.where(inside, einstein_radius, einstein_radius * truncation / r)
    eye = np.eye(2).reshape(2, 2, *([1] * (pos.ndim - 1)))
    nn = np.einsum("i...,j...->ij...", n, n)
    hessian = np.where(
        inside, einstein_radius / r * (eye - nn), einstein_radius * truncation / r**2 * (eye - 2.0 * nn)
    )
    return magnitude * n, hessian


@pytest.mark.parametrize(
    ("padding", "r_max", "tolerance"),
    # Padding 64: the periodic images (256 px apart) bend α by up to 2 % of θ_E in the patch
    # corners (r > 64 px); the inner 64 px stay within 1 %. Padding 256: 0.6 % everywhere.
    [(64, 64.0, 1e-2), (256, 91.0, 6e-3)],
)
def test_sis_single_plane_matches_analytic_lens(padding: int, r_max: float, tolerance: float) -> None:
    """α = θ_E (constant) inside the truncation, θ_E R_t / r outside; γ_t and μ = 1/det A analytic.

    Measured (8 px < r, |r - R_t| > 8 px): max |Δα| / θ_E = 0.8 % (padding 64, r < 64 px),
    0.5 % (padding 256, r < 91 px), largest at r ≈ 8 px (pixelised core) and r ≈ R_t (the edge).
    """
    n, theta_e, r_t, centre = N_PIX, 3.0, 40.0, (63.5, 63.5)  # centre on a pixel corner
    d_l, d_s = 1.0, 2.0
    f = (d_s - d_l) / d_s
    kappa = _sis_kappa(n=n, einstein_radius=theta_e, truncation=r_t, centre=centre)
    trace = trace_rays(plane_kappa=kappa[None], lens_distances=[d_l], source_distances=[d_s], padding=padding)
    iy, ix = np.meshgrid(np.arange(n, dtype=np.float64), np.arange(n, dtype=np.float64), indexing="ij")
    theta = np.stack([ix, iy])
    alpha = (theta - trace.positions[0]) / f
    alpha_true, hessian = _sis_deflection_and_hessian(
        theta, einstein_radius=theta_e, truncation=r_t, centre=centre
    )
    r = np.hypot(ix - centre[0], iy - centre[1])
    away = (r > 8.0) & (np.abs(r - r_t) > 8.0) & (r < r_max)
    alpha_error = np.hypot(*(alpha - alpha_true))[away].max() / theta_e
    assert alpha_error < tolerance
    b_true = f * hessian
    b = trace.distortion[0]
    det_a = (1.0 - b[0, 0]) * (1.0 - b[1, 1]) - b[0, 1] * b[1, 0]
    det_true = (1.0 - b_true[0, 0]) * (1.0 - b_true[1, 1]) - b_true[0, 1] * b_true[1, 0]
    magnification_error = np.abs(det_true / det_a - 1.0)[away].max()  # μ = 1 / det A
    assert magnification_error < tolerance
    # γ_t: 2 % within 12 px of the pixelised core and of the truncation edge.
    inner = (r > 12.0) & (r < r_t - 12.0)
    # Tangential shear γ_t = -(γ1 cos 2φ + γ2 sin 2φ) = f θ_E / (2 r) inside.
    phi = np.arctan2(iy - centre[1], ix - centre[0])
    gamma1, gamma2 = 0.5 * (b[0, 0] - b[1, 1]), 0.5 * (b[0, 1] + b[1, 0])
    gamma_t = -(gamma1 * np.cos(2 * phi) + gamma2 * np.sin(2 * phi))
    np.testing.assert_allclose(gamma_t[inner], (f * theta_e / (2.0 * r))[inner], rtol=2e-2)


@pytest.mark.parametrize("interpolation_order", [1, 3])
def test_two_sis_planes_match_direct_recursion(interpolation_order: int) -> None:
    """Two offset SIS planes: β and A against the two-plane lens equation in plain numpy."""
    n = N_PIX
    lenses = [  # (distance, θ_E, truncation, centre), pixel units
        (1.0, 3.0, 45.0, (63.5, 63.5)),
        (1.5, 2.0, 45.0, (70.5, 58.5)),
    ]
    d_s = 2.5
    kappa = np.stack(
        [_sis_kappa(n=n, einstein_radius=te, truncation=rt, centre=c) for _, te, rt, c in lenses]
    )
    trace = trace_rays(
        plane_kappa=kappa,
        lens_distances=[lens[0] for lens in lenses],
        source_distances=[d_s],
        padding=64,
        interpolation_order=interpolation_order,
    )
    rays = np.array([[80, 63], [50, 40], [40, 75], [63, 90], [85, 85], [45, 60]])  # (ix, iy), off-centre
    theta = rays.T.astype(np.float64)
    (d_1, te_1, rt_1, c_1), (d_2, te_2, rt_2, c_2) = lenses
    alpha_1, u_1 = _sis_deflection_and_hessian(theta, einstein_radius=te_1, truncation=rt_1, centre=c_1)
    beta_2 = theta - (d_2 - d_1) / d_2 * alpha_1
    alpha_2, u_2 = _sis_deflection_and_hessian(beta_2, einstein_radius=te_2, truncation=rt_2, centre=c_2)
    beta_s = theta - (d_s - d_1) / d_s * alpha_1 - (d_s - d_2) / d_s * alpha_2
    a_2 = np.eye(2)[:, :, None] - (d_2 - d_1) / d_2 * u_1
    b_s = (d_s - d_1) / d_s * u_1 + (d_s - d_2) / d_s * np.einsum("ijr,jkr->ikr", u_2, a_2)
    assert np.all(np.hypot(*(beta_2 - np.array(c_2)[:, None])) > 8.0)  # rays avoid the second core
    got_beta = trace.positions[0][:, rays[:, 1], rays[:, 0]]
    got_b = trace.distortion[0][:, :, rays[:, 1], rays[:, 0]]
    np.testing.assert_allclose(got_beta, beta_s, rtol=0, atol=0.01)  # pixels; deflections ~ 2-3 px
    np.testing.assert_allclose(got_b, b_s, rtol=0, atol=3e-3 * np.abs(b_s).max())
    assert np.abs(got_b[0, 1] - got_b[1, 0]).max() > 0  # two planes: A is not symmetric


# ---- Gaussian random shells: Born vs ray-traced spectra ----


def test_ray_traced_power_spectrum_agrees_with_born(cosmo: pyccl.Cosmology) -> None:
    """KiDS-like 50-shell stack of Gaussian δ (halofit shell spectra): C_ℓ(RT) / C_ℓ(Born) - 1.

    Measured (two 128² 5 deg patches, four bins): |ratio - 1| <= 0.1 % for ℓ < 3000 in κ and γ,
    <= 0.4 % in 3000-4000 (the literature's post-Born corrections are < 1 % below ℓ = 3000).
    """
    z = output_redshifts(KIDS_Z)
    weights = shell_weights(cosmo=cosmo, z_edges=z, nz=_kids_like_nz(), z_source_max=Z_S)
    rng = np.random.default_rng(3)
    ell = np.geomspace(10.0, 2e4, 200)
    n_maps = 2
    delta = np.empty((n_maps, weights.n_shells, N_PIX, N_PIX))
    for b in range(weights.n_shells):
        z_mid = 0.5 * (weights.z_lo[b] + weights.z_hi[b])
        chi = float(dimensionless_comoving_distance(cosmo=cosmo, z=z_mid)) * HUBBLE_MPC_H
        cl = nonlinear_power(cosmo, (ell + 0.5) / chi, z_mid) / (chi**2 * weights.delta_d[b] * HUBBLE_MPC_H)
        delta[:, b] = gaussian_random_field(
            ell=ell, cl=cl, n_pix=N_PIX, side_deg=SIDE_DEG, rng=rng, n_maps=n_maps
        )
    rt = ray_traced_maps(delta_shells=delta, weights=weights, cosmo=cosmo)
    born = born_convergence(delta_shells=delta, weights=weights).kappa
    edges = np.array([72.0, 200.0, 400.0, 700.0, 1000.0, 1500.0, 2000.0, 3000.0])
    cl_born = power_spectrum(born, side_deg=SIDE_DEG, ell_edges=edges).cl.mean(axis=0)
    cl_rt = power_spectrum(rt.kappa, side_deg=SIDE_DEG, ell_edges=edges).cl.mean(axis=0)
    assert np.abs(cl_rt / cl_born - 1.0).max() < 5e-3
    gamma_born = kappa_to_gamma(born, padding=64)
    for component in range(2):
        g_born = power_spectrum(gamma_born[:, :, component], side_deg=SIDE_DEG, ell_edges=edges).cl.mean(
            axis=0
        )
        g_rt = power_spectrum(rt.gamma[:, :, component], side_deg=SIDE_DEG, ell_edges=edges).cl.mean(axis=0)
        assert np.abs(g_rt / g_born - 1.0).max() < 5e-3
    # Post-Born effects are real but small: maps differ, the rotation is a tiny fraction of κ.
    assert np.abs(rt.kappa - born).max() > 1e-3 * np.abs(born).max()
    cl_rot = power_spectrum(rt.rotation, side_deg=SIDE_DEG, ell_edges=edges).cl.mean(axis=0)
    assert np.all(cl_rot < 1e-3 * cl_born)


# ---- bad arguments ----


def test_bad_arguments(cosmo: pyccl.Cosmology) -> None:
    """Shell count, overlapping shells and unsorted planes raise ValueError naming the problem."""
    weights = shell_weights(cosmo=cosmo, z_edges=[0.1, 0.3, 0.5], nz=[_wide_nz()], z_source_max=1.4)
    with pytest.raises(ValueError, match="3 shells on axis -3, weights have 2"):
        ray_traced_maps(delta_shells=np.zeros((3, 8, 8)), weights=weights, cosmo=cosmo)
    overlapping = shell_weights(
        cosmo=cosmo, z_edges=[[0.1, 0.3], [0.2, 0.5]], nz=[_wide_nz()], z_source_max=1.4
    )
    with pytest.raises(ValueError, match="non-overlapping"):
        ray_traced_maps(delta_shells=np.zeros((2, 8, 8)), weights=overlapping, cosmo=cosmo)
    with pytest.raises(ValueError, match="increase strictly"):
        trace_rays(plane_kappa=np.zeros((2, 8, 8)), lens_distances=[2.0, 1.0], source_distances=[3.0])
    with pytest.raises(ValueError, match="interpolation_order must be one of"):
        trace_rays(
            plane_kappa=np.zeros((1, 8, 8)),
            lens_distances=[1.0],
            source_distances=[3.0],
            interpolation_order=2,
        )
