"""Born shell weights (SPEC §3) against a slow adaptive reference, limits and pyccl; Born sums."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyccl
import pytest
from scipy.integrate import quad

from wlcnn.config import load_config, output_redshifts
from wlcnn.cosmology import growth_factor, make_cosmology
from wlcnn.lensing.born import (
    FlatLCDMBackground,
    born_convergence,
    born_weights_reference,
    dimensionless_comoving_distance,
    ia_amplitude,
    shell_weights,
    shell_weights_from_config,
)
from wlcnn.lensing.nz import NzTable

REPO = Path(__file__).resolve().parents[2]
Z_S = 3.45  # KiDS-450 z_s
HUBBLE_MPC_H = pyccl.physical_constants.CLIGHT_HMPC  # c/H0 in Mpc/h
KIDS_Z = {"z_max": 3.45, "z_switch": 1.55, "dz_high": 0.1, "dz_low": 0.05}


@pytest.fixture(scope="module")
def cosmo() -> pyccl.Cosmology:
    return make_cosmology(omega_m=0.29, sigma8=0.78)


def _narrow() -> NzTable:
    z = np.round(np.arange(0.65, 0.9501, 0.01), 10)
    return NzTable(z=z, nz=np.exp(-0.5 * ((z - 0.8) / 0.03) ** 2))


def _wide() -> NzTable:
    # n(0) > 0 (exercises the 1/z refinement) and nodes beyond z_s (exercises the cut at z_s).
    z = np.round(np.arange(0.0, 3.5001, 0.1), 10)
    return NzTable(z=z, nz=(0.2 + z**2) * np.exp(-((z / 0.9) ** 1.5)))


@pytest.mark.parametrize(
    ("make_nz", "shells"),
    [
        (_narrow, [(0.0, 0.05), (0.8, 0.85), (0.9, 0.95), (0.95, 1.0), (3.35, 3.45)]),
        (_wide, [(0.0, 0.05), (1.0, 1.05), (2.45, 2.55), (3.35, 3.45)]),
    ],
)
def test_fast_weights_match_adaptive_quadrature(cosmo, make_nz, shells):
    nz = make_nz()
    edges = output_redshifts(KIDS_Z)  # snapshot order, decreasing: shells between neighbours
    fast = shell_weights(cosmo=cosmo, z_edges=edges, nz=[nz], z_source_max=Z_S)
    pairs = zip(fast.z_lo, fast.z_hi, strict=True)
    index = {(round(lo, 6), round(hi, 6)): i for i, (lo, hi) in enumerate(pairs)}
    for lo, hi in shells:
        i = index[(lo, hi)]
        ref = born_weights_reference(cosmo=cosmo, z_lo=lo, z_hi=hi, nz=nz, z_source_max=Z_S)
        assert fast.delta_d[i] == pytest.approx(ref.delta_d, rel=1e-6, abs=0)
        assert fast.born_weights[0, i] == pytest.approx(ref.born_weight, rel=1e-6, abs=0), (lo, hi)
        assert fast.ia_weights[0, i] == pytest.approx(ref.ia_weight, rel=1e-6, abs=0), (lo, hi)


def test_single_source_plane_gives_the_lensing_efficiency(cosmo):
    # n(z') -> δ(z' - z_p): W_b = <D(z) D(z, z_p) / (D(z_p) a(z))>_shell (average in dD), with D
    # and E from pyccl here (not from the module's background).
    z_p, width = 1.0, 1e-4
    plane = NzTable(z=np.array([z_p - width, z_p, z_p + width]), nz=np.array([0.0, 1.0, 0.0]))
    shells = np.array([[0.0, 0.05], [0.3, 0.35], [0.85, 0.9], [1.1, 1.2], [0.95, 1.05]])
    w = shell_weights(cosmo=cosmo, z_edges=shells, nz=[plane], z_source_max=Z_S)
    h = cosmo["h"]

    def dist(z: float) -> float:
        return float(pyccl.comoving_radial_distance(cosmo, 1 / (1 + z))) * h / HUBBLE_MPC_H

    def inv_e(z: float) -> float:
        return 1.0 / float(pyccl.h_over_h0(cosmo, 1 / (1 + z)))

    d_p = dist(z_p)
    for (lo, hi), weight, dd in zip(shells[:3], w.born_weights[0, :3], w.delta_d[:3], strict=True):
        num = quad(lambda z: inv_e(z) * dist(z) * (d_p - dist(z)) / d_p * (1 + z), lo, hi, epsrel=1e-10)[0]
        delta_d = quad(inv_e, lo, hi, epsrel=1e-10)[0]
        assert dd == pytest.approx(delta_d, rel=2e-5)
        assert weight == pytest.approx(num / delta_d, rel=2e-5)
    assert w.born_weights[0, 3] == 0.0  # behind the sources: no lensing
    assert np.all(w.ia_weights[0, :4] == 0.0)  # no sources in these shells: no IA
    # The shell holding the plane: W^IA = F(z_p) / ΔD_b (second order in the width).
    f_p = float(ia_amplitude(cosmo=cosmo, z=z_p))
    assert w.ia_weights[0, 4] == pytest.approx(f_p / w.delta_d[4], rel=1e-6)


def test_background_matches_pyccl_and_exact_cases():
    z = np.array([0.01, 0.1, 0.5, 1.0, 2.0, 3.45])
    for radiation in (True, False):
        cosmo = make_cosmology(omega_m=0.3, sigma8=0.8, radiation=radiation)
        bg = FlatLCDMBackground.from_pyccl(cosmo)
        np.testing.assert_allclose(bg.e_of_z(z), pyccl.h_over_h0(cosmo, 1 / (1 + z)), rtol=1e-5)
        d_ccl = pyccl.comoving_radial_distance(cosmo, 1 / (1 + z)) * cosmo["h"] / HUBBLE_MPC_H
        np.testing.assert_allclose(dimensionless_comoving_distance(cosmo=cosmo, z=z), d_ccl, rtol=2e-6)
    # Einstein-de Sitter: D = 2 (1 - 1/sqrt(1+z)) and D+ = a exactly.
    eds = make_cosmology(omega_m=1.0, sigma8=0.8, radiation=False)
    np.testing.assert_allclose(
        dimensionless_comoving_distance(cosmo=eds, z=z), 2 * (1 - 1 / np.sqrt(1 + z)), rtol=1e-13
    )
    np.testing.assert_allclose(growth_factor(eds, z), 1 / (1 + z), rtol=2e-6)
    # Matter + Λ: D+ ∝ E(a) ∫_0^a da' / (a' E(a'))^3 (Heath 1977), normalised at a = 1.
    lcdm = make_cosmology(omega_m=0.3, sigma8=0.8, radiation=False)
    e = FlatLCDMBackground.from_pyccl(lcdm).e_of_z

    def heath(a: float) -> float:
        return float(e(1 / a - 1)) * quad(lambda x: (x * float(e(1 / x - 1))) ** -3, 0, a, epsrel=1e-12)[0]

    expected = np.array([heath(1 / (1 + zi)) for zi in z]) / heath(1.0)
    np.testing.assert_allclose(growth_factor(lcdm, z), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="flat LCDM"):
        FlatLCDMBackground.from_pyccl(
            pyccl.Cosmology(Omega_c=0.25, Omega_b=0.05, h=0.7, n_s=0.96, sigma8=0.8, m_nu=0.1)
        )


def test_weight_structure_signs_and_invariances(cosmo):
    nz = _wide()
    edges = output_redshifts(KIDS_Z)
    w = shell_weights(cosmo=cosmo, z_edges=edges, nz=[nz, _narrow()], z_source_max=Z_S)
    assert w.born_weights.shape == (2, 50) and w.n_shells == 50 and w.n_bins == 2
    assert np.all(w.born_weights[0] > 0)  # wide n(z): sources behind every shell below z_s
    assert np.all(w.born_weights >= 0)
    assert np.all(w.ia_weights[0] < 0)  # n > 0 everywhere below z_s: F(z) < 0 for A_IA > 0
    narrow_support = (w.z_hi > 0.65) & (w.z_lo < 0.95)
    assert np.all(w.ia_weights[1, narrow_support] < 0) and np.all(w.ia_weights[1, ~narrow_support] == 0)
    assert np.all(w.born_weights[1, w.z_lo >= 0.95] == 0) and np.all(w.born_weights[1, w.z_hi <= 0.65] > 0)
    # shells keep the order given; pairs and edges agree; normalisation of n(z) is irrelevant
    increasing = shell_weights(
        cosmo=cosmo, z_edges=edges[::-1], nz=[NzTable(z=nz.z, nz=7 * nz.nz)], z_source_max=Z_S
    )
    np.testing.assert_allclose(increasing.born_weights[0, ::-1], w.born_weights[0], rtol=1e-9)
    np.testing.assert_allclose(increasing.ia_weights[0, ::-1], w.ia_weights[0], rtol=1e-9)  # D+ spline
    # W ΔD is an integral over the shell: additive when a shell is split
    split = shell_weights(
        cosmo=cosmo, z_edges=[[0.2, 0.3], [0.2, 0.25], [0.25, 0.3]], nz=[nz], z_source_max=Z_S
    )
    wd = split.born_weights[0] * split.delta_d
    assert wd[0] == pytest.approx(wd[1] + wd[2], rel=1e-12)
    ia = split.ia_weights[0] * split.delta_d
    assert ia[0] == pytest.approx(ia[1] + ia[2], rel=1e-12)
    # the coarse settings converge to the same numbers (the defaults are not at the edge)
    coarse = shell_weights(
        cosmo=cosmo, z_edges=edges, nz=[nz, _narrow()], z_source_max=Z_S, order=8, max_dz=0.1
    )
    np.testing.assert_allclose(coarse.born_weights, w.born_weights, rtol=1e-8, atol=1e-14)
    with pytest.raises(ValueError, match="monotonic"):
        shell_weights(cosmo=cosmo, z_edges=[0.0, 0.2, 0.1], nz=[nz], z_source_max=Z_S)


def test_born_convergence_sums_shells_for_patches_and_healpix(cosmo):
    edges = output_redshifts({"z_max": 1.4, "z_switch": 0.6, "dz_high": 0.2, "dz_low": 0.1})
    w = shell_weights(cosmo=cosmo, z_edges=edges, nz=[_narrow(), _wide()], z_source_max=1.4)
    rng = np.random.default_rng(1)
    delta = rng.normal(size=(3, w.n_shells, 8, 6)).astype(np.float32)
    maps = born_convergence(delta_shells=delta, weights=w)
    assert maps.kappa.shape == (3, 2, 8, 6) and maps.kappa.dtype == np.float64
    for r in range(3):
        for b in range(2):
            expected = sum(
                1.5 * w.omega_m * w.born_weights[b, s] * w.delta_d[s] * delta[r, s].astype(float)
                for s in range(w.n_shells)
            )
            expected_ia = sum(
                w.ia_weights[b, s] * w.delta_d[s] * delta[r, s].astype(float) for s in range(w.n_shells)
            )
            np.testing.assert_allclose(maps.kappa[r, b], expected, rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(maps.kappa_ia[r, b], expected_ia, rtol=1e-12, atol=1e-15)
    healpix = born_convergence(delta_shells=delta.reshape(3, w.n_shells, 48), weights=w, map_ndim=1)
    np.testing.assert_allclose(healpix.kappa.reshape(maps.kappa.shape), maps.kappa, rtol=1e-14)
    # a uniform overdensity δ in every shell gives κ = δ (3/2) Ωm Σ W ΔD: positive; κ_IA negative
    uniform = born_convergence(delta_shells=np.ones((w.n_shells, 4, 4)), weights=w)
    assert np.all(uniform.kappa > 0) and np.all(uniform.kappa_ia < 0)
    with pytest.raises(ValueError, match="shells"):
        born_convergence(delta_shells=delta[:, :-1], weights=w)


def test_weights_from_the_demo_config(cosmo):
    cfg = load_config(REPO / "config" / "demo.yaml", base_dir=REPO)
    edges = output_redshifts(cfg["simulations"]["output_redshifts"])
    mean = shell_weights_from_config(cosmo=cosmo, z_edges=edges, lensing=cfg["lensing"], base_dir=REPO)
    boot = shell_weights_from_config(
        cosmo=cosmo, z_edges=edges, lensing=cfg["lensing"], base_dir=REPO, realisation=0
    )
    assert mean.born_weights.shape == (4, len(edges) - 1)
    assert mean.z_source_max == 1.4 and mean.ia_c1_rho_crit == 0.0134
    assert not np.allclose(mean.born_weights, boot.born_weights, rtol=1e-4)
    # higher bins see more lensing from the lowest shells
    assert np.all(np.diff(mean.born_weights[:, -1]) > 0)
