"""Friends-of-friends: analytic clumps, periodic wrapping, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from wlcnn.nbody.fof import friends_of_friends

BOX = 100.0
PARTICLE_MASS = 1.0e10


def _clump(rng: np.random.Generator, *, centre: np.ndarray, radius: float, n: int) -> np.ndarray:
    """``n`` points uniform in a ball (dense enough that every point has friends)."""
    direction = rng.normal(size=(n, 3))
    direction /= np.linalg.norm(direction, axis=1)[:, None]
    r = radius * rng.uniform(size=n) ** (1.0 / 3.0)
    return centre + r[:, None] * direction


def _two_clumps_and_background(*, wrap: bool) -> tuple[np.ndarray, list[np.ndarray], list[int]]:
    rng = np.random.default_rng(7)
    # a sparse grid background: spacing 10 Mpc/h, far above the linking length (0.2 x mean sep.)
    grid = (np.arange(10) + 0.5) * 10.0
    background = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), axis=-1).reshape(-1, 3)
    centres = [np.array([30.0, 30.0, 33.0]), np.array([0.0 if wrap else 70.0, 72.0, 64.0])]
    sizes = [600, 300]
    clumps = [_clump(rng, centre=c, radius=1.5, n=n) for c, n in zip(centres, sizes, strict=True)]
    pos = np.mod(np.concatenate([background, *clumps]), BOX)
    return pos, centres, sizes


@pytest.mark.parametrize("wrap", [False, True])
def test_two_clumps_found_with_mass_and_centre(wrap: bool) -> None:
    pos, centres, sizes = _two_clumps_and_background(wrap=wrap)
    cat, labels = friends_of_friends(pos, box=BOX, particle_mass=PARTICLE_MASS)
    assert len(cat) == 2
    np.testing.assert_array_equal(cat.n_members, sizes)  # heaviest first, every member found
    np.testing.assert_allclose(cat.masses, np.array(sizes) * PARTICLE_MASS)
    for centre, found in zip(centres, cat.centres, strict=True):
        d = found - np.mod(centre, BOX)
        d -= BOX * np.round(d / BOX)
        assert np.linalg.norm(d) < 0.2  # uniform ball: centre of mass within sampling noise
    n_background = 1000
    assert np.all(labels[:n_background] == -1)
    assert np.all(labels[n_background : n_background + sizes[0]] == 0)
    assert np.all(labels[n_background + sizes[0] :] == 1)


def test_mean_separation_sets_linking_length() -> None:
    pos, _, _ = _two_clumps_and_background(wrap=False)
    cat, _ = friends_of_friends(pos, box=BOX, particle_mass=PARTICLE_MASS, linking_length=0.2)
    assert cat.linking_length == pytest.approx(0.2 * BOX / len(pos) ** (1 / 3))


def test_min_members_drops_small_groups() -> None:
    pos, _, sizes = _two_clumps_and_background(wrap=False)
    cat, labels = friends_of_friends(pos, box=BOX, particle_mass=PARTICLE_MASS, min_members=sizes[1] + 1)
    assert len(cat) == 1 and cat.n_members[0] == sizes[0]
    assert np.count_nonzero(labels >= 0) == sizes[0]


def test_uniform_lattice_has_no_haloes() -> None:
    grid = (np.arange(16) + 0.5) * (BOX / 16)
    pos = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), axis=-1).reshape(-1, 3)
    cat, labels = friends_of_friends(pos, box=BOX, particle_mass=PARTICLE_MASS)
    assert len(cat) == 0 and np.all(labels == -1) and cat.centres.shape == (0, 3)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"box": 0.0}, "box"),
        ({"linking_length": -0.2}, "linking_length"),
        ({"particle_mass": 0.0}, "particle_mass"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, float], field: str) -> None:
    options = {"box": BOX, "particle_mass": PARTICLE_MASS, **kwargs}
    with pytest.raises(ValueError, match=rf"{field}: expected a positive number, found"):
        friends_of_friends(np.zeros((10, 3)), **options)
