"""Baryonic correction model: profiles, displacement, P(k) suppression, canonical files."""

from __future__ import annotations

import copy
from dataclasses import asdict
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from wlcnn.config import ConfigError, load_config, validate_config
from wlcnn.io.errors import SnapshotError
from wlcnn.nbody.baryons import (
    BaryonParameters,
    baryon_profiles,
    baryonify_canonical,
    displace_particles,
    predicted_power_ratio,
    r200_comoving,
)
from wlcnn.nbody.fof import HaloCatalogue
from wlcnn.nbody.power import power_spectrum

OMEGA_M, OMEGA_B, REDSHIFT = 0.3, 0.05, 0.0
BOX = 200.0
PARTICLE_MASS = 2.0e11
PARAMS = BaryonParameters(
    log10_m_c=14.0,
    eta=0.5,
    beta=2.0,
    central_galaxy_amplitude=0.09,
    central_galaxy_pivot=2.5e11,
    central_galaxy_slope=0.6,
    max_radius_r200=10.0,
)


def _nfw_haloes(
    rng: np.random.Generator, *, n_haloes: int, n_background: int
) -> tuple[np.ndarray, HaloCatalogue]:
    """Particles drawn from the model's own DMO profiles around random centres, plus a uniform field."""
    masses = 10.0 ** rng.uniform(14.0, 15.0, n_haloes)
    centres = rng.uniform(0.0, BOX, (n_haloes, 3))
    radii = r200_comoving(masses, redshift=REDSHIFT, omega_m=OMEGA_M)
    parts = []
    for centre, mass, radius in zip(centres, masses, radii, strict=True):
        prof = baryon_profiles(mass, redshift=REDSHIFT, omega_m=OMEGA_M, omega_b=OMEGA_B, parameters=PARAMS)
        n = int(mass * prof.mass_dmo[-1] / PARTICLE_MASS)
        r = np.interp(rng.uniform(0.0, prof.mass_dmo[-1], n), prof.mass_dmo, prof.x) * radius
        direction = rng.normal(size=(n, 3))
        direction /= np.linalg.norm(direction, axis=1)[:, None]
        parts.append(centre + r[:, None] * direction)
    parts.append(rng.uniform(0.0, BOX, (n_background, 3)))
    catalogue = HaloCatalogue(
        centres=centres,
        masses=masses,
        n_members=np.ones(n_haloes, dtype=np.int64),
        box=BOX,
        linking_length=0.0,
    )
    return np.mod(np.concatenate(parts), BOX), catalogue


@pytest.mark.parametrize("mass", [1.0e12, 1.0e13, 1.0e14, 1.0e15])
def test_profiles_conserve_mass_and_fractions(mass: float) -> None:
    prof = baryon_profiles(mass, redshift=REDSHIFT, omega_m=OMEGA_M, omega_b=OMEGA_B, parameters=PARAMS)
    assert sum(prof.fractions.values()) == pytest.approx(1.0)
    assert prof.fractions["rdm"] == pytest.approx(1.0 - OMEGA_B / OMEGA_M)
    assert np.interp(1.0, prof.x, prof.mass_dmo) == pytest.approx(1.0)  # M(< r200) = M200
    assert prof.mass_dmb[-1] == pytest.approx(prof.mass_dmo[-1], rel=1e-3)
    disp = prof.displacement()
    assert disp[-1] == 0.0 and np.all(np.isfinite(disp))


def test_bound_gas_fraction_follows_m_c() -> None:
    # ST15 eq. 2.19: a halo of mass M_c keeps half of the gas the central galaxy leaves
    prof = baryon_profiles(1.0e14, redshift=REDSHIFT, omega_m=OMEGA_M, omega_b=OMEGA_B, parameters=PARAMS)
    assert prof.fractions["bgas"] == pytest.approx(prof.fractions["egas"])


def test_displaced_halo_follows_dmb_profile() -> None:
    """Particles drawn from the DMO profile, once displaced, enclose the DMB mass profile."""
    rng = np.random.default_rng(3)
    pos, cat = _nfw_haloes(rng, n_haloes=1, n_background=0)
    new = displace_particles(pos, cat, redshift=REDSHIFT, omega_m=OMEGA_M, omega_b=OMEGA_B, parameters=PARAMS)
    prof = baryon_profiles(
        cat.masses[0], redshift=REDSHIFT, omega_m=OMEGA_M, omega_b=OMEGA_B, parameters=PARAMS
    )
    radius = r200_comoving(cat.masses[0], redshift=REDSHIFT, omega_m=OMEGA_M)
    sep = new - cat.centres[0]
    sep -= BOX * np.round(sep / BOX)
    r = np.sort(np.linalg.norm(sep, axis=1)) / radius
    probe = np.array([0.05, 0.2, 0.5, 1.0, 2.0, 4.0])
    measured = np.searchsorted(r, probe) / r.size
    expected = np.interp(probe, prof.x, prof.mass_dmb) / prof.mass_dmb[-1]
    # binomial sampling noise of a few thousand particles: ~1 %
    np.testing.assert_allclose(measured, expected, atol=0.02)


def test_displacement_keeps_particles_far_from_haloes_and_is_deterministic() -> None:
    rng = np.random.default_rng(5)
    pos, cat = _nfw_haloes(rng, n_haloes=5, n_background=20_000)
    kwargs = {"redshift": REDSHIFT, "omega_m": OMEGA_M, "omega_b": OMEGA_B, "parameters": PARAMS}
    new = displace_particles(pos, cat, **kwargs)
    assert new.shape == pos.shape and np.all((new >= 0.0) & (new < BOX))
    np.testing.assert_array_equal(new, displace_particles(pos, cat, **kwargs))
    radii = r200_comoving(cat.masses, redshift=REDSHIFT, omega_m=OMEGA_M)
    sep = pos[:, None, :] - cat.centres[None, :, :]
    sep -= BOX * np.round(sep / BOX)
    far = np.all(np.linalg.norm(sep, axis=2) > PARAMS.max_radius_r200 * radii[None, :], axis=1)
    assert far.sum() > 1000
    np.testing.assert_array_equal(new[far], pos[far])
    assert np.any(new[~far] != pos[~far])


def test_power_suppression_matches_model_prediction() -> None:
    """Measured P_DMB / P_DMO of a synthetic box against the one-halo swap of the profiles."""
    rng = np.random.default_rng(11)
    pos, cat = _nfw_haloes(rng, n_haloes=40, n_background=100_000)
    new = displace_particles(pos, cat, redshift=REDSHIFT, omega_m=OMEGA_M, omega_b=OMEGA_B, parameters=PARAMS)
    n_mesh = 64
    k, p_dmo, _ = power_spectrum(pos, box=BOX, n_mesh=n_mesh, n_bins=12)
    _, p_dmb, _ = power_spectrum(new, box=BOX, n_mesh=n_mesh, n_bins=12)
    predicted = predicted_power_ratio(
        k,
        p_dmo,
        cat,
        n_particles=len(pos),
        particle_mass=PARTICLE_MASS,
        redshift=REDSHIFT,
        omega_m=OMEGA_M,
        omega_b=OMEGA_B,
        parameters=PARAMS,
    )
    held = k < 0.6  # below ~2/3 of the mesh Nyquist frequency, where CIC aliasing is small
    measured = p_dmb / p_dmo
    assert measured[held].min() < 0.99  # a real suppression, not a trivial pass
    np.testing.assert_allclose(measured[held], predicted[held], atol=0.005)


def _write_canonical(path: Path, pos: np.ndarray, *, omega_b: float | None) -> None:
    with h5py.File(path, "w") as fh:
        fh.attrs.update(
            format="wlcnn.snapshot", format_version=1, redshift=REDSHIFT, a=1.0, box=BOX,
            particle_mass=PARTICLE_MASS, n_particles=len(pos), omega_m=OMEGA_M, omega_lambda=1 - OMEGA_M,
            h=0.7, source_format="test", units="{}", provenance="{}", source_header="{}",
        )  # fmt: skip
        if omega_b is not None:
            fh.attrs["omega_b"] = omega_b
        fh.create_dataset("particles/pos", data=pos.astype(np.float32))
        fh.create_dataset("particles/ids", data=np.arange(len(pos), dtype=np.uint64))


def test_baryonify_canonical_keeps_count_mass_and_ids(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    pos, _ = _nfw_haloes(rng, n_haloes=3, n_background=30_000)
    src, out = tmp_path / "in.h5", tmp_path / "out.h5"
    _write_canonical(src, pos, omega_b=OMEGA_B)
    summary = baryonify_canonical(src, out, parameters=PARAMS, provenance={"step": "test"})
    assert summary["n_haloes"] >= 3 and summary["n_moved"] > 0
    with h5py.File(src, "r") as a, h5py.File(out, "r") as b:
        assert b["particles/pos"].shape == a["particles/pos"].shape
        assert b.attrs["particle_mass"] == a.attrs["particle_mass"]
        np.testing.assert_array_equal(b["particles/ids"][()], a["particles/ids"][()])
        assert b["haloes/masses"].shape == (summary["n_haloes"],)
        pos_out = b["particles/pos"][()]
        assert np.all((pos_out >= 0) & (pos_out < BOX))
        assert '"log10_m_c": 14.0' in b.attrs["baryon_correction"]
    again = tmp_path / "again.h5"
    baryonify_canonical(src, again, parameters=PARAMS, provenance={"step": "test"})
    with h5py.File(out, "r") as b, h5py.File(again, "r") as c:
        np.testing.assert_array_equal(b["particles/pos"][()], c["particles/pos"][()])


def test_missing_omega_b_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    src, out = tmp_path / "in.h5", tmp_path / "out.h5"
    _write_canonical(src, np.random.default_rng(0).uniform(0, BOX, (1000, 3)), omega_b=None)
    with pytest.raises(SnapshotError) as info:
        baryonify_canonical(src, out, parameters=PARAMS)
    message = str(info.value)
    assert str(src) in message and "'omega_b'" in message and "expected" in message and "found" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.h5"]


def test_missing_parameter_names_source_and_field() -> None:
    block = {k: v for k, v in asdict(PARAMS).items() if k != "eta"}
    with pytest.raises(
        ValueError, match=r"config\.yaml: baryons\.strengths\.B: field 'eta': expected a number"
    ):
        BaryonParameters.from_config(block, source="config.yaml: baryons.strengths.B")
    with pytest.raises(ValueError, match=r"field 'eta': expected a positive number, found -1\.0"):
        BaryonParameters.from_config({**asdict(PARAMS), "eta": -1.0}, source="x")
    with pytest.raises(ValueError, match=r"field 'beta': expected a finite number, found 'two'"):
        BaryonParameters.from_config({**asdict(PARAMS), "beta": "two"}, source="x")


REPO = Path(__file__).resolve().parents[2]


def _config_problems(cfg: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(cfg, source="demo.yaml", base_dir=REPO)
    return str(info.value)


def test_demo_declares_a_baryonified_mock_with_valid_parameters() -> None:
    demo = load_config(REPO / "config" / "demo.yaml")
    validate_config(demo, source="demo.yaml", base_dir=REPO)
    for name, strengths in demo["survey"]["mock"]["baryonified"].items():
        for strength in strengths:
            BaryonParameters.from_config(demo["baryons"]["strengths"][strength], source=f"{name}:{strength}")
    paper = load_config(REPO / "config" / "config.yaml")
    assert sorted(paper["baryons"]["strengths"]) == ["A", "B", "C"]


def test_config_missing_halo_parameter_is_named() -> None:
    demo = load_config(REPO / "config" / "demo.yaml")
    bad = copy.deepcopy(demo)
    del bad["baryons"]["strengths"]["B"]["log10_m_c"]
    message = _config_problems(bad)
    assert "demo.yaml" in message and "baryons.strengths.B" in message and "log10_m_c" in message


def test_config_unknown_strength_or_mock_is_named() -> None:
    demo = load_config(REPO / "config" / "demo.yaml")
    bad = copy.deepcopy(demo)
    bad["survey"]["mock"]["baryonified"] = {"mock00_sim00": ["Z"], "nosuch_sim00": ["B"]}
    message = _config_problems(bad)
    assert "survey.mock.baryonified.mock00_sim00: expected strengths of baryons.strengths" in message
    assert "found 'Z'" in message
    assert "survey.mock.baryonified: expected mock simulations" in message
    assert "found 'nosuch_sim00'" in message
