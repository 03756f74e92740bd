"""The 48 box symmetries and the seeded random shifts (wlcnn.maps.symmetries)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from wlcnn.maps.cellgrid import ParticleGrid
from wlcnn.maps.healpix_shells import counts_from_snapshot
from wlcnn.maps.symmetries import (
    N_SYMMETRIES,
    SYMMETRIES,
    BoxTransform,
    draw_transform,
    identity_transform,
)


def test_48_distinct_signed_permutations_forming_the_cube_group():
    mats = [s.matrix() for s in SYMMETRIES]
    assert len(mats) == N_SYMMETRIES == 48
    assert len({m.tobytes() for m in mats}) == 48
    for m in mats:
        assert np.array_equal(m @ m.T, np.eye(3, dtype=np.int64))  # orthogonal
        assert sorted(np.abs(m).sum(axis=0)) == [1, 1, 1]
    assert sum(s.is_proper for s in SYMMETRIES) == 24  # 24 rotations, 24 with a parity flip
    assert np.array_equal(mats[0], np.eye(3, dtype=np.int64))
    # Closed under composition: it is the whole octahedral group.
    table = {m.tobytes() for m in mats}
    for a, b in itertools.product(mats[::5], mats):
        assert (a @ b).tobytes() in table


@pytest.mark.parametrize("symmetry", range(48))
def test_each_symmetry_with_a_shift_is_a_bijection_of_the_box(symmetry):
    # Integer lattice and integer shift: exact arithmetic, so a bijection maps the lattice onto itself.
    n = 6
    lattice = np.array(list(itertools.product(range(n), repeat=3)), dtype=np.float64)
    tr = BoxTransform(symmetry=symmetry, shift=(1.0, 4.0, 5.0), box=float(n))
    out = tr.apply(lattice)
    assert out.min() >= 0 and out.max() < n
    assert {tuple(p) for p in out} == {tuple(p) for p in lattice}
    # With a non-integer shift it is an isometry of the periodic box.
    rng = np.random.default_rng(symmetry)
    pts = rng.uniform(0, 10.0, (50, 3))
    tr = BoxTransform(symmetry=symmetry, shift=tuple(rng.uniform(0, 10.0, 3)), box=10.0)
    q = tr.apply(pts)

    def periodic_dist(a):
        d = np.abs(a[:, None] - a[None])
        return np.sqrt((np.minimum(d, 10.0 - d) ** 2).sum(-1))

    assert np.allclose(periodic_dist(pts), periodic_dist(q), atol=1e-12)
    assert (q >= 0).all() and (q < 10.0).all()


def test_symmetries_preserve_the_particle_count_in_a_full_sky_shell():
    # Without a shift, a symmetry maps the replicated particle field onto itself rotated about the
    # observer (at the box origin): every shell keeps its count exactly, for each of the 48.
    rng = np.random.default_rng(7)
    box = 50.0
    pos = rng.uniform(0, box, (4000, 3)).astype(np.float32)
    grid = ParticleGrid.build(pos, box=box)
    ref, _ = counts_from_snapshot(grid, r_near=30.0, r_far=80.0, nside=4, transform=identity_transform(box))
    assert ref.sum() > 10_000
    sums = []
    for k in range(48):
        counts, _ = counts_from_snapshot(
            grid,
            r_near=30.0,
            r_far=80.0,
            nside=4,
            transform=BoxTransform(symmetry=k, shift=(0.0, 0.0, 0.0), box=box),
        )
        sums.append(counts.sum())
        if k:
            assert not np.array_equal(counts, ref)  # the sky is rotated, not left alone
    assert sums == [ref.sum()] * 48


def test_draws_are_seeded_by_identity_only():
    kw = {"cosmology": "c001", "simulation": "sim03", "snapshot": 12, "box": 337.0}
    a = draw_transform(base_seed=5, realisation=7, **kw)
    assert a == draw_transform(base_seed=5, realisation=7, **kw)
    assert a != draw_transform(base_seed=5, realisation=8, **kw)
    assert a != draw_transform(base_seed=6, realisation=7, **kw)
    assert a != draw_transform(base_seed=5, realisation=7, **{**kw, "snapshot": 13})
    assert a != draw_transform(base_seed=5, realisation=7, **{**kw, "simulation": "sim04"})
    draws = [draw_transform(base_seed=1, realisation=r, **kw) for r in range(2400)]
    counts = np.bincount([d.symmetry for d in draws], minlength=48)
    # Uniform over the 48: chi^2 with 47 dof (mean 47, sd ~9.7); 100 is ~5.5 sd.
    chi2 = ((counts - 50.0) ** 2 / 50.0).sum()
    assert chi2 < 100
    shifts = np.array([d.shift for d in draws])
    assert shifts.min() >= 0 and shifts.max() < 337.0
    assert abs(shifts.mean() - 337.0 / 2) < 337.0 * 0.03


@pytest.mark.parametrize("symmetry", [0, 7, 13, 30, 47])
def test_preimage_arc_contains_every_particle_mapped_into_the_interval(symmetry):
    rng = np.random.default_rng(symmetry)
    box = 100.0
    pts = rng.uniform(0, box, (20000, 3))
    tr = BoxTransform(symmetry=symmetry, shift=tuple(rng.uniform(0, box, 3)), box=box)
    out = tr.apply(pts)
    for axis in range(3):
        lo, hi = sorted(rng.uniform(0, box, 2))
        sel = (out[:, axis] >= lo) & (out[:, axis] < hi)
        in_axis, start, width = tr.preimage_arc(axis, lo, hi)
        u = (pts[sel, in_axis] - start) % box
        assert np.all(u <= width + 1e-9)
        # ... and the arc is tight: about as many particles as the interval holds.
        u_all = (pts[:, in_axis] - start) % box
        assert abs(np.count_nonzero(u_all <= width) - np.count_nonzero(sel)) <= 2
