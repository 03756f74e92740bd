"""Honest numbers (issue 13 item 3): convergence until the autocorrelation criterion holds, marked
when it does not; blinding that leaves every marginal width unchanged; contours inside the prior.

The chains are real emcee runs on a Gaussian posterior (known τ-independent answer); the widths
are compared between the blinded and unblinded chain; the contours are checked vertex by vertex
against the prior hull.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from pathlib import Path

import emcee
import numpy as np
import pytest
from matplotlib.path import Path as MplPath

from wlcnn.inference.blinding import (
    BLINDED_PARAMETERS,
    DEFAULT_SCALES,
    SECRET_SCHEMA,
    load_or_create_secret,
)
from wlcnn.inference.constraints import (
    NOT_CONVERGED_MARK,
    NOT_CONVERGED_NOTE,
    TABLE_PARAMETERS,
    constraints_row,
    s8,
    write_table,
)
from wlcnn.inference.plots import plot_omega_m_sigma8
from wlcnn.inference.sampling import (
    CONVERGENCE_FACTOR,
    TAU_RELATIVE_CHANGE,
    GridPosterior,
    initial_walkers_from_prior,
    read_chain,
    run_emcee,
    write_chain,
)

MEAN = np.array([0.30, 0.80, 0.5])
#: Ωm and σ8 strongly anticorrelated (as in lensing): S8 narrow, Ωm and σ8 wide.
COV = np.array([[0.03**2, -0.95 * 0.03 * 0.1, 0.0], [-0.95 * 0.03 * 0.1, 0.1**2, 0.0], [0.0, 0.0, 1.0]])
BOX = np.array([[0.1, 0.6], [0.3, 1.4], [-6.0, 6.0]])
N_WALKERS = 16


def _gaussian_log_posterior(theta: np.ndarray) -> np.ndarray:
    theta = np.atleast_2d(theta)
    d = theta - MEAN
    lp = -0.5 * np.einsum("ni,ij,nj->n", d, np.linalg.inv(COV), d)
    inside = np.all((theta >= BOX[:, 0]) & (theta <= BOX[:, 1]), axis=1)
    return np.where(inside, lp, -np.inf)


def _in_box(theta: np.ndarray) -> np.ndarray:
    return np.all((theta >= BOX[:, 0]) & (theta <= BOX[:, 1]), axis=1)


def _initial() -> np.ndarray:
    return initial_walkers_from_prior(
        in_prior=_in_box, bounds=BOX, n_walkers=N_WALKERS, rng=np.random.default_rng(1)
    )


def _run(**kwargs) -> object:
    return run_emcee(
        _gaussian_log_posterior,
        initial=_initial(),
        n_burn=300,
        thin=1,
        base_seed=11,
        identity=("honest",),
        label="gauss",
        **kwargs,
    )


@pytest.fixture(scope="module")
def converged_chain():
    return _run(n_steps=1000, max_steps=30000)


def test_chain_is_extended_until_the_autocorrelation_criterion_holds(converged_chain) -> None:
    chain = converged_chain
    assert chain.converged
    n_steps, n_burn = chain.settings["n_steps"], chain.settings["n_burn"]
    assert n_steps > 1000 and n_steps <= 30000 and n_steps == chain.samples.shape[0]
    # τ recomputed independently (emcee's estimator on the stored chain) meets the criterion.
    tau = emcee.autocorr.integrated_time(chain.samples[n_burn:], tol=0)
    np.testing.assert_allclose(tau, list(chain.autocorr_time.values()), rtol=1e-12)
    assert n_steps - n_burn > CONVERGENCE_FACTOR * tau.max()
    check = chain.settings["check_interval"]
    earlier = emcee.autocorr.integrated_time(chain.samples[n_burn : n_steps - check], tol=0)
    assert np.max(np.abs(tau - earlier) / tau) < TAU_RELATIVE_CHANGE
    # The first n_steps do not depend on max_steps (the same seeded sampler, continued).
    short = _run(n_steps=1000)
    np.testing.assert_array_equal(short.samples, chain.samples[:1000])


def test_unconverged_chain_is_marked_in_json_table_and_log(tmp_path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="wlcnn"):
        chain = _run(n_steps=400)  # max_steps defaults to n_steps: far too short
    assert not chain.converged and chain.settings["n_steps"] == 400
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "NOT converged" in r.message]
    assert len(warnings) == 1 and "'gauss'" in warnings[0].message and "400 steps" in warnings[0].message
    rows = [
        constraints_row(label="gauss", samples=chain.flat(), extra={"converged": chain.converged}),
        constraints_row(label="other", samples=chain.flat(), extra={"converged": True}),
    ]
    write_table(rows, json_path=tmp_path / "t.json", markdown_path=tmp_path / "t.md", blinded=False)
    assert json.loads((tmp_path / "t.json").read_text())["rows"][0]["converged"] is False
    md = (tmp_path / "t.md").read_text()
    assert f"| gauss{NOT_CONVERGED_MARK} |" in md and "| other |" in md
    assert NOT_CONVERGED_NOTE in md
    # A table of converged chains has neither mark nor footnote.
    write_table(rows[1:], json_path=tmp_path / "c.json", markdown_path=tmp_path / "c.md", blinded=False)
    assert NOT_CONVERGED_MARK not in (tmp_path / "c.md").read_text()


def test_blinding_leaves_every_marginal_width_unchanged(converged_chain, tmp_path) -> None:
    secret = load_or_create_secret(tmp_path / "secret" / "s.json", scales={})
    assert len(secret.vector) == len(BLINDED_PARAMETERS) and np.all(secret.vector != 0)
    blinded = converged_chain.shifted(secret.vector, blinded=True)
    # Through the file, as the pipeline does.
    write_chain(tmp_path / "chain.h5", blinded)
    blinded = read_chain(tmp_path / "chain.h5")
    clear_row = constraints_row(
        label="c", samples=converged_chain.flat(), s8_samples=converged_chain.flat_s8()
    )
    blind_row = constraints_row(label="b", samples=blinded.flat(), s8_samples=blinded.flat_s8())
    offsets = dict(zip(BLINDED_PARAMETERS, secret.vector, strict=True))
    for name in TABLE_PARAMETERS:
        for side in ("plus", "minus"):
            assert blind_row[name][side] == pytest.approx(clear_row[name][side], rel=1e-12, abs=0), (
                name,
                side,
            )
        assert blind_row[name]["median"] == pytest.approx(
            clear_row[name]["median"] + offsets[name], abs=1e-12
        )
    assert blind_row["area_68"] == pytest.approx(clear_row["area_68"], rel=1e-10)
    # What the old blinding did (S8 recomputed from shifted Ωm, σ8) changes the S8 width: the
    # comparison above can fail.
    naive = converged_chain.flat() + secret.vector[:3]
    naive_row = constraints_row(label="n", samples=naive)
    assert abs(naive_row["s8"]["plus"] / clear_row["s8"]["plus"] - 1) > 0.01
    # Unblinding gives back the true S8 exactly.
    back = blinded.shifted(-secret.vector, blinded=False)
    np.testing.assert_allclose(back.s8, s8(converged_chain.samples[..., 0], converged_chain.samples[..., 1]))


def test_a_secret_without_an_s8_offset_gets_a_reproducible_one(tmp_path) -> None:
    path = tmp_path / "old.json"
    payload = {
        "schema": SECRET_SCHEMA,
        "created": "2026-01-01T00:00:00Z",
        "shift": {"omega_m": 0.01, "sigma8": -0.02, "a_ia": 0.3},
        "entropy": "123456789",
    }
    path.write_text(json.dumps(payload))
    os.chmod(path, 0o600)
    first = load_or_create_secret(path, scales={})
    again = load_or_create_secret(path, scales={})
    assert first.shift == (0.01, -0.02, 0.3)
    assert first.s8_shift == again.s8_shift and 0 < abs(first.s8_shift) <= DEFAULT_SCALES["s8"]


def _hull_posterior() -> GridPosterior:
    """A grid posterior whose mass is cut by the prior hull's left edge (Ωm = 0.20)."""
    hull = np.array([[0.20, 0.5], [0.45, 0.5], [0.45, 1.2], [0.20, 1.2], [0.20, 0.5]])
    om, sg, a = np.linspace(0.15, 0.5, 48), np.linspace(0.45, 1.25, 48), np.linspace(-3, 3, 7)
    mesh = np.meshgrid(om, sg, a, indexing="ij")
    points = np.column_stack([m.ravel() for m in mesh])
    centre = np.array([0.21, 0.85, 0.0])
    cov = np.diag([0.03, 0.1, 1.0]) ** 2
    d = points - centre
    lp = -0.5 * np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d)
    inside = MplPath(hull[:, :2]).contains_points(points[:, :2], radius=1e-12)
    lp = np.where(inside, lp, -np.inf).reshape(mesh[0].shape)
    return GridPosterior(axes=(om, sg, a), log_posterior=lp, label="edge", prior_hull=hull)


def _outside_distance(points: np.ndarray, hull: np.ndarray) -> np.ndarray:
    """Distance of each point from a convex, closed hull polygon (0 inside)."""
    path = MplPath(hull)
    out = np.zeros(len(points))
    for i, p in enumerate(points):
        if path.contains_point(p, radius=1e-12):
            continue
        d = []
        for a, b in itertools.pairwise(hull):
            t = np.clip(np.dot(p - a, b - a) / np.dot(b - a, b - a), 0.0, 1.0)
            d.append(np.hypot(*(p - (a + t * (b - a)))))
        out[i] = min(d)
    return out


def test_contours_from_the_grid_stay_inside_the_prior_hull(tmp_path) -> None:
    grid = _hull_posterior()
    rng = np.random.default_rng(3)
    w = grid.weights().ravel()
    samples = grid.points()[rng.choice(w.size, size=20000, p=w)]
    vertices = plot_omega_m_sigma8(
        tmp_path / "c.png", analyses=[("edge", samples)], hull=grid.prior_hull, blinded=False, grids=[grid]
    )
    assert (tmp_path / "c.png").stat().st_size > 1000
    assert len(vertices) >= 2  # the 68 % and 95 % contours were drawn
    points = np.concatenate(vertices)
    pixel = np.hypot(*(np.ptp(a) / (len(a) - 1) for a in grid.axes[:2]))
    assert np.all(_outside_distance(points, grid.prior_hull) <= pixel)
    # The contours reach the hull's edge: the check is not vacuous.
    assert points[:, 0].min() < 0.20 + pixel


def test_max_steps_below_n_steps_is_refused_with_file_field_expected_found(tmp_path) -> None:
    import yaml

    from wlcnn.config import ConfigError, load_config

    root = Path(__file__).resolve().parents[2]
    cfg = yaml.safe_load((root / "config" / "demo.yaml").read_text())
    cfg["inference"]["sampler"]["max_steps"] = cfg["inference"]["sampler"]["n_steps"] - 1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError) as info:
        load_config(bad, base_dir=root)
    message = str(info.value)
    assert str(bad) in message and "inference.sampler.max_steps" in message
    assert f"at least inference.sampler.n_steps ({cfg['inference']['sampler']['n_steps']})" in message
    assert f"found {cfg['inference']['sampler']['max_steps']}" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]  # nothing written
