"""Pencil-beam projection: exact N̄ per pixel, fast kernel = plain reference, pre-selection, seeding."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import poisson

from wlcnn.maps.cellgrid import ParticleGrid
from wlcnn.maps.gnomonic import PatchGeometry
from wlcnn.maps.pencil_beam import (
    ShellProjector,
    beam_regions,
    expected_counts,
    project_counts,
    project_counts_numpy,
)
from wlcnn.maps.shells import Shell, shot_noise_cl
from wlcnn.maps.symmetries import BoxTransform, draw_transform


def _shell(r_near: float, r_far: float) -> Shell:
    return Shell(index=0, snapshot=1, z_near=0.0, z_far=0.0, r_near=r_near, r_far=r_far)


@pytest.fixture(scope="module")
def poisson_box():
    """2 million uniform (unclustered) particles in a 600 Mpc/h box."""
    box = 600.0
    pos = np.random.default_rng(11).uniform(0, box, (2_000_000, 3)).astype(np.float32)
    return pos, box, ParticleGrid.build(pos, box=box)


def _transform(k: int, box: float) -> BoxTransform:
    return draw_transform(
        base_seed=3, cosmology="test", simulation="sim00", snapshot=2, realisation=k, box=box
    )


@pytest.mark.parametrize(
    ("n_pix", "size", "r_near", "r_far"),
    [
        (128, 5.0, 1000.0, 1500.0),  # KiDS-450 geometry, ~3 particles per pixel
        (32, 5.0, 1000.0, 1500.0),  # ~50 per pixel
        (8, 30.0, 300.0, 400.0),
    ],  # wide patch: corners subtend 14 % less than the centre
)
def test_uniform_particles_give_zero_overdensity_in_every_pixel(poisson_box, n_pix, size, r_near, r_far):
    _, box, grid = poisson_box
    geometry = PatchGeometry(n_pix=n_pix, patch_size_deg=size)
    shell = _shell(r_near, r_far)
    projector = ShellProjector(grid=grid, shell=shell, geometry=geometry)
    expected = projector.expected
    # Shell thinner than the box and beam narrower than it: every pixel's count is Poisson(N̄).
    counts = np.stack([projector.counts(_transform(k, box)) for k in range(4)])
    # Every pixel, corners included: no count is implausible under Poisson(N̄) (p < 1e-8 each).
    p_high = poisson.sf(counts - 1, expected)
    p_low = poisson.cdf(counts, expected)
    assert min(p_high.min(), p_low.min()) > 1e-8
    # Globally: chi^2 per pixel ~ 1 and no mean offset.
    z = (counts - expected) / np.sqrt(expected)
    assert abs(z.mean()) < 5 / np.sqrt(z.size)
    assert abs((z**2).mean() - 1) < 5 * np.sqrt(2 / z.size)
    # Corner and centre pixels separately (the solid angles differ most there).
    corners = counts[:, [0, 0, -1, -1], [0, -1, 0, -1]].sum()
    mid = n_pix // 2
    centre = counts[:, mid - 1 : mid + 1, mid - 1 : mid + 1].sum()
    e_corners = 4 * expected[[0, 0, -1, -1], [0, -1, 0, -1]].sum()
    e_centre = 4 * expected[mid - 1 : mid + 1, mid - 1 : mid + 1].sum()
    assert abs(corners - e_corners) < 5 * np.sqrt(e_corners)
    assert abs(centre - e_centre) < 5 * np.sqrt(e_centre)
    if size == 30.0:
        # The test has power: a flat-sky N̄ (equal solid angles) would fail in the corners.
        flat = np.full_like(expected, expected.sum() / expected.size)
        assert abs(corners - 4 * flat[0, 0] * 4) > 5 * np.sqrt(e_corners)
        delta = projector.delta(_transform(9, box))
        assert delta.dtype == np.float32 and abs(float(delta.mean())) < 0.01


def test_expected_counts_total_is_mean_density_times_frustum_volume():
    g = PatchGeometry(n_pix=64, patch_size_deg=5.0)
    shell = _shell(200.0, 700.0)
    e = expected_counts(shell, g, 0.01)
    a = g.half_width
    patch = 4 * np.arctan(a * a / np.sqrt(1 + 2 * a * a))
    assert e.sum() == pytest.approx(0.01 * patch * (700.0**3 - 200.0**3) / 3, rel=1e-12)


@pytest.mark.parametrize(("r_near", "r_far"), [(0.0, 150.0), (400.0, 900.0), (2600.0, 3000.0)])
def test_fast_kernel_equals_the_plain_numpy_reference(r_near, r_far):
    # Includes a shell reaching the observer, one spanning several replicas along the line of
    # sight and a far one whose beam is wider than the box (transverse replicas).
    rng = np.random.default_rng(5)
    box = 256.0
    pos = rng.uniform(0, box, (100_000, 3)).astype(np.float32)
    grid = ParticleGrid.build(pos, box=box, n_cells=13)  # cells not aligned with anything
    geometry = PatchGeometry(n_pix=64, patch_size_deg=5.0)
    shell = _shell(r_near, r_far)
    for k in range(6):
        tr = _transform(k, box)
        fast, _ = project_counts(grid, shell, geometry, tr)
        ref = project_counts_numpy(pos, box=box, shell=shell, geometry=geometry, transform=tr)
        assert np.array_equal(fast, ref)
        assert fast.sum() > 0
    # Every symmetry (sign flips wrap particles across the box faces) at one shift.
    for sym in range(48):
        tr = BoxTransform(symmetry=sym, shift=(17.5, 200.25, 99.0), box=box)
        fast, _ = project_counts(grid, shell, geometry, tr)
        ref = project_counts_numpy(pos, box=box, shell=shell, geometry=geometry, transform=tr)
        assert np.array_equal(fast, ref)


def test_only_particles_near_the_beam_are_touched(poisson_box):
    _, box, grid = poisson_box
    geometry = PatchGeometry(n_pix=128, patch_size_deg=5.0)
    low = _shell(0.0, 150.0)  # a low-redshift shell: the beam is 4e-5 of the box volume
    for k in range(5):
        tr = _transform(k, box)
        counts, tested = project_counts(grid, low, geometry, tr)
        regions = beam_regions(low, geometry, tr, grid)
        assert regions.n_cells < grid.n_cells**3 / 300
        assert tested < 0.003 * grid.n_particles
        assert tested >= counts.sum()


def test_same_seed_same_map_and_realisations_differ(poisson_box):
    pos, box, grid = poisson_box
    geometry = PatchGeometry(n_pix=128, patch_size_deg=5.0)
    shell = _shell(500.0, 800.0)
    projector = ShellProjector(grid=grid, shell=shell, geometry=geometry)
    a = projector.delta(_transform(4, box))
    b = ShellProjector(grid=ParticleGrid.build(pos, box=box), shell=shell, geometry=geometry).delta(
        _transform(4, box)
    )
    assert a.tobytes() == b.tobytes()
    c = projector.delta(_transform(5, box))
    assert not np.array_equal(a, c)


def test_shot_noise_power_matches_the_pixel_variance_of_uniform_shells(poisson_box):
    _, box, grid = poisson_box
    geometry = PatchGeometry(n_pix=32, patch_size_deg=5.0)
    shells = [
        Shell(index=i, snapshot=i, z_near=0.0, z_far=0.0, r_near=a, r_far=b)
        for i, (a, b) in enumerate([(400.0, 700.0), (700.0, 1000.0), (1000.0, 1300.0)])
    ]
    coefficients = np.array([[0.02, 0.05, 0.01], [0.0, 0.03, 0.06]])
    projectors = [ShellProjector(grid=grid, shell=s, geometry=geometry) for s in shells]
    maps = np.stack(
        [
            coefficients
            @ np.stack([p.delta(_transform(k, box)).astype(np.float64).ravel() for p in projectors])
            for k in range(6)
        ]
    )
    measured = (maps**2).mean(axis=(0, 2))
    predicted = shot_noise_cl(shells, mean_density=grid.mean_density, coefficients=coefficients)
    # White noise of power C in pixels of solid angle Ω has variance C / Ω.
    assert measured == pytest.approx(predicted / geometry.pixel_solid_angles.mean(), rel=0.05)


def test_cell_grid_holds_every_particle_in_its_cell():
    rng = np.random.default_rng(8)
    box = 50.0
    pos = rng.uniform(0, box, (5000, 3)).astype(np.float32)
    pos[:3] = [[0, 0, 0], [box, box, box], [box, 0, 25.0]]  # faces (box itself wraps to the last cell)
    grid = ParticleGrid.build(pos, box=box, n_cells=7)
    assert grid.offsets[0] == 0 and grid.offsets[-1] == len(pos) and np.all(np.diff(grid.offsets) >= 0)
    assert sorted(map(tuple, grid.pos)) == sorted(map(tuple, pos))  # a permutation
    width = box / 7
    for c in rng.integers(0, 7**3, 40):
        cx, cy, cz = np.unravel_index(c, (7, 7, 7))
        cell = grid.pos[grid.offsets[c] : grid.offsets[c + 1]].astype(np.float64)
        lo = np.array([cx, cy, cz]) * width
        assert np.all(cell >= lo - 1e-9) and np.all((cell < lo + width + 1e-9) | (cell >= box - 1e-9))
    with pytest.raises(ValueError, match="outside"):
        ParticleGrid.build(np.array([[-1.0, 0, 0]], dtype=np.float32), box=box)


def test_cell_ranges_cover_every_cell_the_arc_touches_once():
    # Brute force over the cells: each cell meeting the periodic arc is listed exactly once,
    # and every listed cell meets the arc widened by one cell (the rounding margin).
    rng = np.random.default_rng(12)
    box, n = 90.0, 9
    grid = ParticleGrid.build(np.zeros((1, 3), dtype=np.float32), box=box, n_cells=n)
    cell = box / n

    def meets(c: int, start: float, width: float) -> bool:
        lo = (c * cell - start) % box  # the cell's start, measured from the arc's start
        return width >= box or lo <= width or lo + cell >= box  # starts on it, or wraps onto it

    faces = np.arange(n) * cell
    starts = np.concatenate([rng.uniform(0, box, 300), faces, faces + 1e-13])
    widths = np.concatenate([rng.uniform(0, box, 300), np.full(n, 2.5 * cell), np.full(n, box)])
    for start, width in zip(starts % box, widths, strict=True):
        ranges = grid.cell_ranges(float(start), float(width))
        listed = [c for c0, c1 in ranges for c in range(c0, c1)]
        assert len(listed) == len(set(listed)) and ranges == sorted(ranges)
        assert all(c in listed for c in range(n) if meets(c, start, width)), (start, width, ranges)
        assert all(meets(c, start - cell, width + 2 * cell) for c in listed), (start, width, ranges)
