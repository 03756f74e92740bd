"""The vectorised pencil-beam kernel against a plain numpy projection written here, edge cases included.

The reference below is independent of :mod:`wlcnn.maps.pencil_beam` (its own replica loop,
wrap and binning); it uses the documented arithmetic (``v = sign * p[perm] + shift``, one
periodic wrap, ``floor((x / z + a) / Δ)``), so the counts must agree bit for bit.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from wlcnn.maps.cellgrid import ParticleGrid
from wlcnn.maps.gnomonic import PatchGeometry
from wlcnn.maps.pencil_beam import project_counts
from wlcnn.maps.shells import Shell
from wlcnn.maps.symmetries import BoxTransform

BOX = 100.0
N_CELLS = 10  # cell faces at multiples of 10 Mpc/h: exact in float32, like the edge particles
N_PIX = 32
PATCH_DEG = 10.0


def _plain_counts(pos: np.ndarray, tr: BoxTransform, shell: Shell, geometry: PatchGeometry) -> np.ndarray:
    """Counts by brute force over every replica out to r_far (no cells, no bounds)."""
    p = pos.astype(np.float64)
    v = np.empty_like(p)
    for j in range(3):
        u = tr.signs[j] * p[:, tr.perm[j]] + tr.shift_array[j]
        u = np.where(u < 0.0, u + BOX, u)
        v[:, j] = np.where(u >= BOX, u - BOX, u)
    n = geometry.n_pix
    a = geometry.half_width
    inv_delta = 1.0 / geometry.pixel_size_rad
    m = math.ceil(shell.r_far / BOX)
    counts = np.zeros((n, n), dtype=np.int64)
    for i, j, k in itertools.product(range(-m, m + 1), range(-m, m + 1), range(m + 1)):
        x, y, z = v[:, 0] + i * BOX, v[:, 1] + j * BOX, v[:, 2] + k * BOX
        r2 = x * x + y * y + z * z
        sel = (z > 0.0) & (r2 >= shell.r_near**2) & (r2 < shell.r_far**2)
        fx = (x[sel] / z[sel] + a) * inv_delta
        fy = (y[sel] / z[sel] + a) * inv_delta
        inside = (fx >= 0.0) & (fy >= 0.0) & (fx < n) & (fy < n)
        np.add.at(counts, (fy[inside].astype(np.int64), fx[inside].astype(np.int64)), 1)
    return counts


@pytest.fixture(scope="module")
def particles() -> np.ndarray:
    """Uniform particles plus particles exactly on cell faces, at 0 and at the box side."""
    rng = np.random.default_rng(7)
    uniform = rng.uniform(0, BOX, (20_000, 3))
    faces = np.arange(0, N_CELLS + 1) * (BOX / N_CELLS)  # 0, 10, ..., 100 (= box: last cell)
    on_faces = rng.choice(faces, (6_000, 3))
    mixed = uniform[:6_000].copy()
    mixed[:, rng.integers(0, 3, 6_000)] = rng.choice(faces, 6_000)[:, None]
    return np.concatenate([uniform, on_faces, mixed]).astype(np.float32)


@pytest.mark.parametrize(("r_near", "r_far"), [(0.0, 60.0), (40.0, 180.0), (250.0, 330.0)])
def test_kernel_counts_equal_a_plain_numpy_projection(particles, r_near, r_far):
    grid = ParticleGrid.build(particles, box=BOX, n_cells=N_CELLS)
    geometry = PatchGeometry(n_pix=N_PIX, patch_size_deg=PATCH_DEG)
    shell = Shell(index=0, snapshot=0, z_near=0.0, z_far=0.0, r_near=r_near, r_far=r_far)
    # Shifts on cell faces (box faces then cut no cell, or the wrap lands exactly on 0 / box)
    # and off them (cells cut by the box face: the per-particle wrap path).
    shifts = [(30.0, 50.0, 90.0), (0.0, 0.0, 0.0), (17.3, 61.05, 3.7)]
    total = 0
    for sym, shift in itertools.product(range(0, 48, 7), shifts):
        tr = BoxTransform(symmetry=sym, shift=shift, box=BOX)
        fast, tested = project_counts(grid, shell, geometry, tr)
        ref = _plain_counts(particles, tr, shell, geometry)
        assert np.array_equal(fast, ref), (sym, shift)
        assert tested >= fast.sum()
        total += int(fast.sum())
    assert total > 0  # the comparison saw particles
