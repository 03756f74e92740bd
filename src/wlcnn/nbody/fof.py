"""Friends-of-friends halo finder for equal-mass particles in a periodic box.

Two particles are friends when closer than the linking length ``b`` times the mean
inter-particle separation ``box / N^(1/3)`` (``b = 0.2`` finds groups bounded by an
overdensity of roughly 180 times the mean, Davis et al. 1985); a group is a connected
component of the friendship graph. Pairs come from a periodic :class:`scipy.spatial.cKDTree`,
components from :func:`scipy.sparse.csgraph.connected_components`.

Each group with at least ``min_members`` particles becomes a halo: its mass is the member count
times the particle mass, its centre the periodic centre of mass (members unwrapped around the
first one, so a group straddling a face of the box is centred correctly).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

__all__ = ["DEFAULT_LINKING_LENGTH", "DEFAULT_MIN_MEMBERS", "HaloCatalogue", "friends_of_friends"]

#: Linking length in units of the mean inter-particle separation (Davis et al. 1985).
DEFAULT_LINKING_LENGTH = 0.2
#: Fewest particles a group needs to count as a halo (fewer are mostly chance alignments).
DEFAULT_MIN_MEMBERS = 20


@dataclass(frozen=True)
class HaloCatalogue:
    """Haloes found in one snapshot, heaviest first.

    Attributes
    ----------
    centres
        ``(n_haloes, 3)`` periodic centres of mass in Mpc/h, in ``[0, box)``.
    masses
        ``(n_haloes,)`` FoF masses in M_sun/h.
    n_members
        ``(n_haloes,)`` particles per halo.
    box
        Box side in Mpc/h.
    linking_length
        The linking length used, in Mpc/h.
    """

    centres: np.ndarray
    masses: np.ndarray
    n_members: np.ndarray
    box: float
    linking_length: float

    def __len__(self) -> int:
        return int(self.masses.size)


def friends_of_friends(
    pos: np.ndarray,
    *,
    box: float,
    particle_mass: float,
    linking_length: float = DEFAULT_LINKING_LENGTH,
    min_members: int = DEFAULT_MIN_MEMBERS,
) -> tuple[HaloCatalogue, np.ndarray]:
    """Find friends-of-friends groups of equal-mass particles in a periodic box.

    Parameters
    ----------
    pos
        ``(N, 3)`` comoving positions in Mpc/h (wrapped into ``[0, box)`` here).
    box
        Box side in Mpc/h.
    particle_mass
        Mass of one particle, M_sun/h.
    linking_length
        Linking length in units of the mean inter-particle separation.
    min_members
        Fewest members of a halo.

    Returns
    -------
    catalogue
        The haloes, heaviest first.
    labels
        ``(N,)`` int64 halo index of every particle (an index into the catalogue), -1 for
        particles in no halo.

    Raises
    ------
    ValueError
        ``pos`` not ``(N, 3)``, or a non-positive box, particle mass, linking length or
        minimum group size.
    """
    pos = np.asarray(pos, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise ValueError(f"positions: expected shape (N, 3), found {pos.shape}")
    for name, value in (
        ("box", box),
        ("particle_mass", particle_mass),
        ("linking_length", linking_length),
        ("min_members", min_members),
    ):
        if not value > 0:
            raise ValueError(f"{name}: expected a positive number, found {value}")
    n = pos.shape[0]
    pos = np.mod(pos, box)
    # float32 inputs can round up to exactly `box` after the modulo; cKDTree needs [0, box)
    pos[pos >= box] = 0.0
    link = linking_length * box / n ** (1.0 / 3.0)
    pairs = cKDTree(pos, boxsize=box).query_pairs(link, output_type="ndarray")
    ones = np.ones(len(pairs), dtype=np.int8)
    graph = scipy.sparse.coo_matrix((ones, (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, group = connected_components(graph, directed=False)
    sizes = np.bincount(group)
    big = np.flatnonzero(sizes >= min_members)
    # heaviest first; ties broken by group index, which is deterministic for given positions
    big = big[np.lexsort((big, -sizes[big]))]
    halo_of_group = np.full(sizes.size, -1, dtype=np.int64)
    halo_of_group[big] = np.arange(big.size)
    labels = halo_of_group[group]
    members = labels >= 0
    halo = labels[members]
    # unwrap every member around its group's first particle before averaging
    first = np.full(big.size, -1, dtype=np.int64)
    idx = np.flatnonzero(members)
    first[halo[::-1]] = idx[::-1]
    offset = pos[idx] - pos[first[halo]]
    offset -= box * np.round(offset / box)
    mean_offset = np.zeros((big.size, 3))
    np.add.at(mean_offset, halo, offset)
    counts = sizes[big]
    centres = np.mod(pos[first] + mean_offset / counts[:, None], box) if big.size else np.zeros((0, 3))
    catalogue = HaloCatalogue(
        centres=centres,
        masses=counts * float(particle_mass),
        n_members=counts.astype(np.int64),
        box=float(box),
        linking_length=float(link),
    )
    return catalogue, labels
