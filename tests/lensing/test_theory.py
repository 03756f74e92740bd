"""Theory spectra vs pyccl conventions, Born weights vs pyccl (Limber), flat-sky estimator, Fig. 4."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyccl
import pytest

from wlcnn.cosmology import comoving_distance, make_cosmology
from wlcnn.lensing.born import ia_amplitude, shell_weights
from wlcnn.lensing.nz import read_nz_bins
from wlcnn.lensing.plots import plot_power_spectrum_validation
from wlcnn.lensing.random_fields import gaussian_random_field
from wlcnn.lensing.theory import (
    PYCCL_IA_C1_RHO_CRIT,
    binned_theory,
    born_limber_spectra,
    flat_sky_power_spectrum,
    fundamental_ell,
    lensing_spectra,
    nyquist_ell,
    pyccl_ia_bias_scale,
)
from wlcnn.seeding import rng_for

REPO = Path(__file__).resolve().parents[2]
Z_S = 1.4  # the demo n(z) end at the demo's highest snapshot
SIDE_DEG, N_PIX = 5.0, 128


@pytest.fixture(scope="module")
def cosmo() -> pyccl.Cosmology:
    return make_cosmology(omega_m=0.29, sigma8=0.78)


@pytest.fixture(scope="module")
def demo_nz():
    return read_nz_bins([REPO / "data" / "demo" / "nz" / f"nz_bin{b}.txt" for b in range(1, 5)])


@pytest.fixture(scope="module")
def spectra(cosmo, demo_nz):
    return lensing_spectra(cosmo=cosmo, nz=demo_nz, ell=np.geomspace(60.0, 3000.0, 6), z_source_max=Z_S)


def test_pyccl_nla_convention_is_spec_f_of_z_with_its_own_c1_rho_crit(cosmo, demo_nz):
    # pyccl's IA tracer (A_IA = 1) must equal an explicit tracer whose transfer is SPEC's
    # F(z) = -C1ρcrit Ωm / D+(z) with C1ρcrit = 5e-14 RHO_CRITICAL: sign, Ωm, 1/D+ all checked.
    assert pytest.approx(0.013877, rel=1e-4) == PYCCL_IA_C1_RHO_CRIT
    assert pyccl_ia_bias_scale(c1_rho_crit=0.0134) == pytest.approx(0.0134 / 0.0138768, rel=1e-4)
    nz = demo_nz[2]
    z = np.linspace(0.0, nz.z[-1], 200)
    dndz = (z, nz.evaluate(z))
    ell = np.array([100.0, 1000.0])
    library = pyccl.WeakLensingTracer(cosmo, dndz=dndz, has_shear=False, ia_bias=(z, np.ones_like(z)))
    explicit = pyccl.Tracer()
    f_of_z = ia_amplitude(cosmo=cosmo, z=z, c1_rho_crit=PYCCL_IA_C1_RHO_CRIT)
    explicit.add_tracer(
        cosmo,
        kernel=pyccl.get_density_kernel(cosmo, dndz=dndz),
        transfer_a=(1 / (1 + z[::-1]), f_of_z[::-1]),
        der_bessel=-1,
        der_angles=2,
    )
    lens = pyccl.WeakLensingTracer(cosmo, dndz=dndz)
    np.testing.assert_allclose(
        pyccl.angular_cl(cosmo, library, library, ell),
        pyccl.angular_cl(cosmo, explicit, explicit, ell),
        rtol=1e-4,
    )
    gi_lib = pyccl.angular_cl(cosmo, lens, library, ell)
    np.testing.assert_allclose(gi_lib, pyccl.angular_cl(cosmo, lens, explicit, ell), rtol=1e-4)
    assert np.all(gi_lib < 0)


def test_spectra_structure_and_ia_rescaling(cosmo, demo_nz, spectra):
    s = spectra
    assert s.gg.shape == s.gi.shape == s.ii.shape == (4, 4, 6)
    np.testing.assert_array_equal(s.gg, np.swapaxes(s.gg, 0, 1))
    diag = np.arange(4)
    assert np.all(s.gg > 0) and np.all(s.gi[diag, diag] < 0) and np.all(s.ii[diag, diag] > 0)
    np.testing.assert_allclose(s.auto(1.0), (s.gg + 2 * s.gi + s.ii)[diag, diag], rtol=1e-14)
    np.testing.assert_allclose(s.auto(0.0), s.gg[diag, diag], rtol=1e-14)
    assert np.all(s.auto(1.0) < s.auto(0.0))  # GI dominates II for A_IA = 1: IA lowers the spectra
    pyccl_norm = lensing_spectra(
        cosmo=cosmo,
        nz=demo_nz[:2],
        ell=s.ell,
        z_source_max=Z_S,
        ia_c1_rho_crit=PYCCL_IA_C1_RHO_CRIT,
        field="shear",
    )
    shear = lensing_spectra(cosmo=cosmo, nz=demo_nz[:2], ell=s.ell, z_source_max=Z_S, field="shear")
    scale = 0.0134 / PYCCL_IA_C1_RHO_CRIT
    np.testing.assert_allclose(shear.ii, pyccl_norm.ii * scale**2, rtol=1e-10)
    np.testing.assert_allclose(shear.gi, pyccl_norm.gi * scale, rtol=1e-10)
    ell = s.ell
    to_kappa = ell * (ell + 1) / ((ell + 2) * (ell - 1))
    np.testing.assert_allclose(s.gg[:2, :2] / shear.gg, np.broadcast_to(to_kappa, shear.gg.shape), rtol=1e-10)


def test_born_weighted_matter_power_reproduces_pyccl(cosmo, demo_nz, spectra):
    # Independent check of W_b and W_b^IA: the Limber spectra of Born maps made of thin shells
    # (Σ_b q_b² ∫_shell P_δ(ℓ/χ)/χ²) converge to pyccl's continuous-kernel C_ℓ (GG, GI, II).
    edges = np.round(np.arange(0.0, Z_S + 1e-9, 0.02), 10)
    weights = shell_weights(cosmo=cosmo, z_edges=edges, nz=demo_nz, z_source_max=Z_S)
    born = born_limber_spectra(cosmo=cosmo, weights=weights, ell=spectra.ell, shell_average="distance")
    np.testing.assert_allclose(born.gg, spectra.gg, rtol=0.015)
    diag = np.arange(4)
    np.testing.assert_allclose(born.gi[diag, diag], spectra.gi[diag, diag], rtol=0.015)
    np.testing.assert_allclose(born.ii[diag, diag], spectra.ii[diag, diag], rtol=0.015)
    np.testing.assert_allclose(born.auto(1.0), spectra.auto(1.0), rtol=0.015)


def test_volume_averaged_shells_of_white_noise_give_the_poisson_count_noise(cosmo, demo_nz):
    # Counts N/N̄ in a pixel frustum average δ with weight χ² dχ. For white 3D noise
    # P(k) = 1/n̄ (a Poisson particle set) the Limber spectrum of such Born maps must be the exact
    # count noise Σ_b c_b² / (n̄ V_b), V_b = (χ_f³ - χ_n³)/3 per sr, including the first shell
    # that starts at the observer (where a uniform-in-χ average would diverge).
    n_bar = 0.02  # particles per (Mpc/h)^3
    edges = np.array([0.0, 0.1, 0.3, 0.6, 1.0, Z_S])
    weights = shell_weights(cosmo=cosmo, z_edges=edges, nz=demo_nz, z_source_max=Z_S)
    h = float(cosmo["h"])

    class WhiteNoise:
        def __call__(self, k, a):
            return np.full_like(np.asarray(k, dtype=float), 1.0 / n_bar) / h**3  # Mpc^3

    white = pyccl.Cosmology(
        Omega_c=cosmo["Omega_c"],
        Omega_b=cosmo["Omega_b"],
        h=h,
        n_s=cosmo["n_s"],
        sigma8=cosmo["sigma8"],
        transfer_function="eisenstein_hu",
    )
    white.get_nonlin_power = lambda *args, **kwargs: WhiteNoise()
    ell = np.array([50.0, 500.0, 5000.0])
    born = born_limber_spectra(cosmo=white, weights=weights, ell=ell, field="convergence")
    chi = np.asarray(comoving_distance(cosmo, edges))
    per_sr = n_bar * (chi[1:] ** 3 - chi[:-1] ** 3) / 3.0
    coeff = weights.convergence_coefficients  # (3/2) Ωm W_b ΔD_b
    expected = (coeff**2 / per_sr).sum(axis=1)
    diag = np.arange(coeff.shape[0])
    # the Limber prefactor (ℓ+2)(ℓ+1)ℓ(ℓ-1)/(ℓ+1/2)^4 -> 1 for convergence at high ℓ
    np.testing.assert_allclose(born.gg[diag, diag][:, -1], expected, rtol=1e-3)


def test_patch_window_theory_matches_cut_outs_of_larger_skies():
    # The DFT of a 5 deg cut-out sees C_l through the square patch window: predicted by
    # binned_theory(patch_window=True), checked on periodic 20 deg fields cut into 16 patches.
    ell = np.geomspace(5.0, 2.0e4, 300)
    cl = 1e-9 * (ell / 100.0) ** -1.2  # steep at low l, where the window matters
    big = gaussian_random_field(ell=ell, cl=cl, n_pix=512, side_deg=20.0, rng=rng_for(7, "patch"), n_maps=40)
    cuts = big.reshape(40, 4, 128, 4, 128).transpose(0, 1, 3, 2, 4).reshape(-1, 128, 128)
    edges = np.array([90.0, 115.0, 148.0, 190.0, 243.0, 400.0])
    measured = flat_sky_power_spectrum(cuts, side_deg=5.0, ell_edges=edges).cl
    mean, err = measured.mean(axis=0), measured.std(axis=0) / np.sqrt(len(cuts))
    windowed = binned_theory(ell=ell, cl=cl, side_deg=5.0, n_pix=128, ell_edges=edges, patch_window=True)
    periodic = binned_theory(ell=ell, cl=cl, side_deg=5.0, n_pix=128, ell_edges=edges)
    assert np.all(np.abs(mean - windowed) < 3.5 * err)
    # and the window is not negligible at the first rings: the periodic prediction is off there
    assert np.max(np.abs(windowed / periodic - 1)[:2]) > 0.03


def test_independent_shells_lose_power_only_at_low_ell(cosmo, demo_nz):
    # Uncorrelated neighbouring shells (random rotations per snapshot) miss the line-of-sight
    # correlation across shell edges: a few per cent less power at l ~ 100 for thin distant
    # shells, nothing where k_perp * width >> 1.
    edges = np.array([0.0, 0.075, 0.15, 0.3, 0.45, 0.6, 0.8, 1.0, 1.2, Z_S])
    weights = shell_weights(cosmo=cosmo, z_edges=edges, nz=demo_nz, z_source_max=Z_S)
    ell = np.array([100.0, 3000.0])
    limber = born_limber_spectra(cosmo=cosmo, weights=weights, ell=ell)
    exact = born_limber_spectra(cosmo=cosmo, weights=weights, ell=ell, independent_shells=True)
    ratio = exact.ii[np.arange(4), np.arange(4)] / limber.ii[np.arange(4), np.arange(4)]
    assert np.all(ratio[:, 0] < 0.995) and np.all(ratio[:, 0] > 0.85)
    np.testing.assert_allclose(ratio[:, 1], 1.0, atol=0.005)


def test_white_noise_has_flat_spectrum_sigma2_times_pixel_area():
    rng = rng_for(0, "test", "white")
    sigma = 0.02
    n_maps = 100
    maps = rng.normal(0.0, sigma, size=(n_maps, N_PIX, N_PIX))
    edges = np.geomspace(fundamental_ell(side_deg=SIDE_DEG), nyquist_ell(side_deg=SIDE_DEG, n_pix=N_PIX), 9)
    ps = flat_sky_power_spectrum(maps, side_deg=SIDE_DEG, ell_edges=edges)
    pixel_sr = (np.deg2rad(SIDE_DEG) / N_PIX) ** 2
    assert ps.cl.shape == (n_maps, 8)
    # 4 sigma of the sample variance (±k modes are one independent mode): ~1 % at high ℓ
    rtol = 4.0 / np.sqrt(ps.n_modes / 2 * n_maps)
    assert np.all(np.abs(ps.cl.mean(axis=0) / (sigma**2 * pixel_sr) - 1) < rtol)
    assert rtol[-1] < 0.01
    assert fundamental_ell(side_deg=SIDE_DEG) == pytest.approx(72.0, abs=0.1)
    assert nyquist_ell(side_deg=SIDE_DEG, n_pix=N_PIX) == pytest.approx(4608.0, abs=0.1)
    assert np.all((ps.ell >= edges[:-1]) & (ps.ell < edges[1:]))


def test_estimator_recovers_input_spectrum_of_gaussian_fields(spectra):
    ell_in, cl_in = spectra.ell, spectra.gg[1, 1]
    rng = rng_for(0, "test", "grf")
    maps = gaussian_random_field(ell=ell_in, cl=cl_in, n_pix=N_PIX, side_deg=SIDE_DEG, rng=rng, n_maps=400)
    edges = np.geomspace(100.0, 3000.0, 8)
    ps = flat_sky_power_spectrum(maps, side_deg=SIDE_DEG, ell_edges=edges)
    expected = binned_theory(ell=ell_in, cl=cl_in, side_deg=SIDE_DEG, n_pix=N_PIX, ell_edges=edges)
    np.testing.assert_allclose(ps.cl.mean(axis=0), expected, rtol=0.05)
    # cross-spectra: of a map with itself = auto; of independent maps ≈ 0
    cross = flat_sky_power_spectrum(maps[:10], side_deg=SIDE_DEG, ell_edges=edges, other=maps[:10])
    np.testing.assert_allclose(cross.cl, ps.cl[:10], rtol=1e-12)
    mixed = flat_sky_power_spectrum(maps[:200], side_deg=SIDE_DEG, ell_edges=edges, other=maps[200:])
    assert np.all(np.abs(mixed.cl.mean(axis=0)) < 0.15 * expected)


def test_pixel_window_of_block_averaged_maps():
    # Maps whose pixels average a finer field (like particle counts) carry sinc² windows.
    ell_in = np.geomspace(10.0, 3e4, 50)
    cl_in = 1e-9 * (ell_in / 1000.0) ** -1.5
    rng = rng_for(0, "test", "window")
    fine = gaussian_random_field(ell=ell_in, cl=cl_in, n_pix=4 * N_PIX, side_deg=SIDE_DEG, rng=rng, n_maps=30)
    coarse = fine.reshape(30, N_PIX, 4, N_PIX, 4).mean(axis=(2, 4))
    edges = np.geomspace(800.0, 2000.0, 4)  # below ~Nyquist/2, where aliasing is negligible
    measured = flat_sky_power_spectrum(coarse, side_deg=SIDE_DEG, ell_edges=edges).cl.mean(axis=0)
    windowed = binned_theory(
        ell=ell_in, cl=cl_in, side_deg=SIDE_DEG, n_pix=N_PIX, ell_edges=edges, pixel_window=True
    )
    bare = binned_theory(ell=ell_in, cl=cl_in, side_deg=SIDE_DEG, n_pix=N_PIX, ell_edges=edges)
    np.testing.assert_allclose(measured, windowed, rtol=0.05)
    assert windowed[-1] < 0.9 * bare[-1]  # the window matters at these ℓ


def test_fig4_plot_from_arrays(tmp_path, spectra):
    ell = spectra.ell
    th, th_ia = spectra.auto(0.0), spectra.auto(1.0)
    path = tmp_path / "fig4.png"
    fig = plot_power_spectrum_validation(
        ell=ell,
        sim_mean=th * 1.05,
        sim_err=0.05 * th,
        theory_ell=ell,
        theory=th,
        sim_mean_ia=th_ia * 0.97,
        sim_err_ia=0.05 * th_ia,
        theory_ia=th_ia,
        ell_range=(100.0, 2000.0),
        title="test",
        path=path,
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(fig.axes) == 8
    assert [p.name for p in tmp_path.iterdir()] == ["fig4.png"]  # atomic: no temporary left
    with pytest.raises(ValueError, match="together"):
        plot_power_spectrum_validation(
            ell=ell, sim_mean=th, sim_err=th, theory_ell=ell, theory=th, sim_mean_ia=th
        )
    with pytest.raises(ValueError, match="sim_mean"):
        plot_power_spectrum_validation(ell=ell[:-1], sim_mean=th, sim_err=th, theory_ell=ell, theory=th)
