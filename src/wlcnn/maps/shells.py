"""Which snapshot fills which redshift shell, and the shells' comoving distances.

Convention of Fluri et al. (2019, §IV.1.2): "out of each snapshot at redshift z_i we cut out a
shell of particles with a thickness of Δz = z_{i+1} - z_i, where z_{i+1} is the redshift of the
previous snapshot". With the snapshots of a simulation listed in output order (decreasing
redshift, as in the ingestion manifest), snapshot ``k >= 1`` fills the shell between its own
redshift (near edge) and that of snapshot ``k - 1`` (far edge); the first (highest-z) snapshot
only closes the outermost shell. 51 snapshots from z = 3.45 to 0 give 50 shells covering
``[0, 3.45]`` exactly.

The edges are the snapshots' TRUE header redshifts (PkdGrav3 writes at the first step past a
requested z, so they differ slightly from the requested ones and between cosmologies).
Shells are ordered near to far (increasing redshift), the order the Born sums use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyccl

from wlcnn.cosmology import comoving_distance

__all__ = ["Shell", "check_shell_thickness", "shells_from_redshifts", "shot_noise_cl"]


@dataclass(frozen=True)
class Shell:
    """One radial shell of the light cone.

    Attributes
    ----------
    index
        Position in the near-to-far list (0 = nearest).
    snapshot
        Index (in the simulation's manifest) of the snapshot whose particles fill the shell.
    z_near, z_far
        Redshift edges (``z_near < z_far``); ``z_near`` is the snapshot's header redshift.
    r_near, r_far
        Comoving distances of the edges, Mpc/h.
    """

    index: int
    snapshot: int
    z_near: float
    z_far: float
    r_near: float
    r_far: float

    @property
    def volume_per_steradian(self) -> float:
        """``(r_far³ - r_near³) / 3``, (Mpc/h)³ per sr: a pixel's frustum volume is this × its solid angle."""
        return (self.r_far**3 - self.r_near**3) / 3.0

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for JSON attributes)."""
        return asdict(self)


def shells_from_redshifts(
    redshifts: Sequence[float] | np.ndarray, *, cosmo: pyccl.Cosmology, z_max: float | None = None
) -> list[Shell]:
    """Shells between consecutive snapshot redshifts.

    Parameters
    ----------
    redshifts
        Header redshifts of the snapshots in manifest order (strictly decreasing).
    cosmo
        Cosmology for the distances (:func:`wlcnn.cosmology.make_cosmology`).
    z_max
        Drop shells whose near edge is at or beyond this redshift (e.g. the highest source
        redshift); None keeps all.

    Returns
    -------
    list of Shell
        Near to far; ``len(redshifts) - 1`` shells (fewer with ``z_max``).

    Raises
    ------
    ValueError
        If the redshifts are not strictly decreasing or fewer than two.
    """
    z = np.asarray(redshifts, dtype=np.float64)
    if z.ndim != 1 or z.size < 2:
        raise ValueError(f"need at least two snapshot redshifts, got {z.tolist()}")
    if np.any(np.diff(z) >= 0.0):
        raise ValueError(f"snapshot redshifts must be strictly decreasing (manifest order), got {z.tolist()}")
    # z = 0 exactly gives distance 0 (pyccl is exact there); a tiny negative z from a header
    # rounding would not, so clip.
    z = np.maximum(z, 0.0)
    r = np.asarray(comoving_distance(cosmo, z), dtype=np.float64)
    shells: list[Shell] = []
    for k in range(z.size - 1, 0, -1):  # near to far: snapshot k is nearer than snapshot k - 1
        if z_max is not None and z[k] >= z_max:
            continue
        shells.append(
            Shell(
                index=len(shells),
                snapshot=k,
                z_near=float(z[k]),
                z_far=float(z[k - 1]),
                r_near=float(r[k]),
                r_far=float(r[k - 1]),
            )
        )
    return shells


def shot_noise_cl(shells: Sequence[Shell], *, mean_density: float, coefficients: np.ndarray) -> np.ndarray:
    """Poisson shot-noise angular power of a weighted shell sum ``Σ_b c_b δ_b``.

    Each shell's δ carries white noise of angular power ``1 / n̄_Ω,b``, with ``n̄_Ω,b = n̄
    (r_far³ - r_near³) / 3`` particles per steradian; shells are independent, so the map's
    noise power is ``Σ_b c_b² / n̄_Ω,b``. Subtract it from measured spectra before comparing
    with theory (it dominates at high ℓ for small simulations).

    Parameters
    ----------
    shells
        The shells (near to far), as used for the maps.
    mean_density
        Particles per (Mpc/h)³.
    coefficients
        ``(n_bins, n_shells)`` map coefficients, e.g. ``BornWeights.convergence_coefficients``.

    Returns
    -------
    numpy.ndarray
        ``(n_bins,)`` C_ℓ of the noise (sr; flat in ℓ).
    """
    per_sr = np.array([mean_density * s.volume_per_steradian for s in shells], dtype=np.float64)
    c = np.asarray(coefficients, dtype=np.float64)
    return (c * c / per_sr[None, :]).sum(axis=1)


def check_shell_thickness(shells: Sequence[Shell], *, box: float, source: str = "snapshots") -> None:
    """Refuse shells thicker than the periodic box they are cut from.

    A shell projected from one snapshot through periodic replicas sees the same structures
    again along the line of sight once it is thicker than the box: its modes with k_∥ = 0 add
    coherently, and the mean power of its δ is boosted by about ``(r_far - r_near) / box``
    (measured on the demo: × 1.3-1.7 for 330-390 Mpc/h shells in a 256 Mpc/h box) instead of
    following Limber. Closer snapshot outputs (or a bigger box) are the fix.

    Parameters
    ----------
    shells
        Shells from :func:`shells_from_redshifts`.
    box
        Box side in Mpc/h.
    source
        Named in the message (e.g. the simulation or the configuration file).

    Raises
    ------
    ValueError
        Naming every shell that is too thick, its redshifts and thickness.

    Examples
    --------
    >>> check_shell_thickness([Shell(index=0, snapshot=1, z_near=0.0, z_far=0.1, r_near=0.0,
    ...                              r_far=290.0)], box=256.0, source="demo")
    Traceback (most recent call last):
    ...
    ValueError: demo: shells thicker than the 256.0 Mpc/h box ...
    """
    thick = [sh for sh in shells if sh.r_far - sh.r_near > box]
    if thick:
        listed = "; ".join(
            f"shell {sh.index} z {sh.z_near:.3f}-{sh.z_far:.3f}: {sh.r_far - sh.r_near:.0f} Mpc/h"
            for sh in thick
        )
        raise ValueError(
            f"{source}: shells thicker than the {box:.1f} Mpc/h box would repeat the same structures "
            f"along the line of sight (power boosted by ~thickness/box): {listed}. Request snapshot "
            "outputs closer in redshift (simulations.output_redshifts) or use a bigger box."
        )
