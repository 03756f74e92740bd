"""Random box symmetries: the 48 axis permutations × sign flips, and a periodic shift.

A periodic box is invariant under the 48 signed permutations of its axes (the 6 permutations
of x, y, z times the 8 parity flips: 90° rotations and reflections, the octahedral group O_h)
and under any periodic translation. Each projection of a snapshot draws one of each, so the
1000 shells made from one snapshot see the structures from different directions and places.

The transform of a position ``p`` in ``[0, L)^3`` (comoving Mpc/h) is, for output axis ``j``::

    v_j = wrap(signs[j] * p[perm[j]] + shift[j]),     wrap(u) = u + L if u < 0, u - L if u >= L

(one wrap suffices because ``signs[j] * p + shift`` lies in ``(-L, 2L)``). The same expression,
in the same order of floating-point operations, is used by every kernel in :mod:`wlcnn.maps`,
so the fast kernels and the plain numpy references agree bit for bit.

Draws come from :func:`wlcnn.seeding.rng_for` keyed by the run's base seed and the identity
``(TRANSFORM_STREAM, cosmology, simulation, snapshot, realisation)``: any single shell can be
regenerated alone, on any rank, in any order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from wlcnn.seeding import rng_for

__all__ = [
    "N_SYMMETRIES",
    "SYMMETRIES",
    "TRANSFORM_STREAM",
    "BoxTransform",
    "SignedPermutation",
    "draw_transform",
    "identity_transform",
]

#: Name of the random stream of the shell randomisation (first element of the seeding identity),
#: so that these draws never coincide with another stage's draws for the same simulation.
TRANSFORM_STREAM = "maps.box_transform"
#: Number of axis permutations (3! = 6) times sign flips (2^3 = 8).
N_SYMMETRIES = 48
_N_AXES = 3


@dataclass(frozen=True)
class SignedPermutation:
    """One of the 48 symmetries of a cube: output axis ``j`` is ``signs[j]`` times input axis ``perm[j]``.

    Attributes
    ----------
    perm
        Input axis feeding each output axis, a permutation of (0, 1, 2).
    signs
        +1 or -1 per output axis.
    """

    perm: tuple[int, int, int]
    signs: tuple[int, int, int]

    def matrix(self) -> np.ndarray:
        """The 3×3 integer matrix ``M`` with ``v = M p`` (before the shift and the wrap)."""
        m = np.zeros((_N_AXES, _N_AXES), dtype=np.int64)
        for j in range(_N_AXES):
            m[j, self.perm[j]] = self.signs[j]
        return m

    @property
    def is_proper(self) -> bool:
        """True for rotations (det +1), False for the parity-flipped half of the group (det -1)."""
        return round(float(np.linalg.det(self.matrix()))) == 1


def _all_symmetries() -> tuple[SignedPermutation, ...]:
    # Fixed order (permutations in lexicographic order, then sign patterns): index k always
    # means the same symmetry, so a stored symmetry index is meaningful across versions.
    return tuple(
        SignedPermutation(perm=tuple(perm), signs=tuple(signs))  # type: ignore[arg-type]
        for perm in itertools.permutations(range(_N_AXES))
        for signs in itertools.product((1, -1), repeat=_N_AXES)
    )


#: The 48 symmetries; index 0 is the identity.
SYMMETRIES: tuple[SignedPermutation, ...] = _all_symmetries()


@dataclass(frozen=True)
class BoxTransform:
    """A symmetry of the periodic box followed by a periodic shift.

    Attributes
    ----------
    symmetry
        Index into :data:`SYMMETRIES` (0 ... 47).
    shift
        Periodic shift per output axis, comoving Mpc/h, each in ``[0, box)``.
    box
        Box side, comoving Mpc/h.
    """

    symmetry: int
    shift: tuple[float, float, float]
    box: float

    @property
    def signed_permutation(self) -> SignedPermutation:
        """The symmetry as a :class:`SignedPermutation`."""
        return SYMMETRIES[self.symmetry]

    @property
    def perm(self) -> np.ndarray:
        """Input axis of each output axis, int64 (3,)."""
        return np.asarray(self.signed_permutation.perm, dtype=np.int64)

    @property
    def signs(self) -> np.ndarray:
        """Sign of each output axis, float64 (3,)."""
        return np.asarray(self.signed_permutation.signs, dtype=np.float64)

    @property
    def shift_array(self) -> np.ndarray:
        """The shift as float64 (3,), Mpc/h."""
        return np.asarray(self.shift, dtype=np.float64)

    def apply(self, pos: np.ndarray) -> np.ndarray:
        """Transform positions (reference implementation, vectorised numpy).

        Parameters
        ----------
        pos
            ``(N, 3)`` positions in ``[0, box]``, comoving Mpc/h (any float dtype).

        Returns
        -------
        numpy.ndarray
            ``(N, 3)`` float64 transformed positions in ``[0, box)``, Mpc/h.
        """
        box = float(self.box)
        p = np.asarray(pos, dtype=np.float64)
        v = p[:, self.perm] * self.signs + self.shift_array
        v = np.where(v < 0.0, v + box, v)
        return np.where(v >= box, v - box, v)

    def preimage_arc(self, axis: int, lo: float, hi: float) -> tuple[int, float, float]:
        """Where the input particles lie whose output coordinate ``axis`` is in ``[lo, hi)``.

        Parameters
        ----------
        axis
            Output axis (0, 1, 2).
        lo, hi
            Range of the output coordinate, ``0 <= lo <= hi <= box``, Mpc/h.

        Returns
        -------
        tuple
            ``(input_axis, start, width)``: the input coordinate lies on the periodic arc
            ``[start, start + width]`` (mod box), ``start`` in ``[0, box)``. The arc is closed
            (a superset), callers test particles exactly afterwards.
        """
        box = float(self.box)
        sign = self.signed_permutation.signs[axis]
        t = self.shift[axis]
        start = (lo - t) % box if sign > 0 else (t - hi) % box
        return self.signed_permutation.perm[axis], float(start), float(hi - lo)


def identity_transform(box: float) -> BoxTransform:
    """No rotation, flip or shift (for tests and for light-cone-like use of one box)."""
    return BoxTransform(symmetry=0, shift=(0.0, 0.0, 0.0), box=float(box))


def draw_transform(
    *, base_seed: int, cosmology: str, simulation: str, snapshot: int, realisation: int, box: float
) -> BoxTransform:
    """The seeded random transform of one shell realisation.

    Parameters
    ----------
    base_seed
        The run's base seed (``run.seed``).
    cosmology, simulation
        Identity of the simulation (grid id and ``simNN``).
    snapshot
        Index of the projected snapshot in the simulation's manifest.
    realisation
        Realisation index (0 ... n_realisations - 1).
    box
        Box side, comoving Mpc/h.

    Returns
    -------
    BoxTransform
        Symmetry uniform over the 48, shift uniform in ``[0, box)^3``.
    """
    rng = rng_for(base_seed, TRANSFORM_STREAM, cosmology, simulation, int(snapshot), int(realisation))
    symmetry = int(rng.integers(N_SYMMETRIES))
    shift = rng.uniform(0.0, box, size=_N_AXES)
    # uniform() can round up to exactly ``box``; keep the documented half-open range.
    shift = np.where(shift >= box, 0.0, shift)
    return BoxTransform(symmetry=symmetry, shift=tuple(float(s) for s in shift), box=float(box))  # type: ignore[arg-type]
