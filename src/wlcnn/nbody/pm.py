"""A small FastPM-style particle-mesh N-body code (Feng et al. 2016, arXiv:1603.00476).

It stands in for PkdGrav3 in the demo: cheap, deterministic, and with large scales that follow
linear theory exactly whatever the number of time steps.

Equations of motion
-------------------
With comoving positions ``x`` (Mpc/h), the canonical momentum ``p = a^2 dx/dt / H0`` (Mpc/h)
and the potential ``lap phi = 3/2 Omega_m delta`` (gradient in h/Mpc),

``dx/da = p / (a^3 E(a))``,    ``dp/da = -grad phi / (a^2 E(a))``,

and the peculiar velocity is ``v = a dx/dt = 100 p / a`` km/s.

Time integration (kick-drift-kick with FastPM's modified factors)
-----------------------------------------------------------------
In the linear (Zel'dovich) regime ``x = q + D(a) psi``, so ``p = G_p(a) psi`` with
``G_p = a^3 E dD/da = a^2 E D f`` and the force ``-grad phi = G_f(a) psi`` with
``G_f = 3/2 Omega_m D``. FastPM replaces the leapfrog factors by

- drift a0 -> a1 with the momentum at ac: ``dx = p(ac) [D(a1) - D(a0)] / G_p(ac)``,
- kick a0 -> a1 with the force at ac: ``dp = F(ac) [G_p(a1) - G_p(a0)] / G_f(ac)``,

which are exact for linear growth however large the step. D and f are pyccl's (the same
background E(a) as the cosmology, radiation included if it has any), and ``G_f`` follows from
the growth equation ``d G_p/da = G_f / (a^2 E)``.

Forces
------
Cloud-in-cell (CIC) mass assignment on an ``n_mesh^3`` mesh (default twice the particles per
side, FastPM's B = 2; mesh points offset by half a cell, see :data:`MESH_OFFSET_CELLS`), FFT
Poisson solve with the exact Green's function ``-3/2 Omega_m / k^2``, gradient with FastPM's
4-point finite-difference kernel ``i (8 sin(k d) - sin(2 k d)) / (6 d)``, CIC interpolation back
to the particles with the same weights (so a particle exerts no force on itself and momentum
is conserved). Why these choices (measured on 1LPT particles at z = 20, force per Fourier mode
against linear theory, 32^3 particles in 256 Mpc/h, mesh 64^3, k_Ny the particle Nyquist):

- the 4-point kernel vanishes at the mesh Nyquist frequency, where a displaced lattice has
  its strongest (discreteness) density modes; the spectral ``i k`` (``gradient="spectral"``)
  couples to them and gives forces 3-9% too strong at all k < 3/4 k_Ny;
- no CIC compensation by default: deconvolving the window once (``compensate_cic=True``)
  makes the forces of a near-lattice distribution 2-5% too strong at half the particle
  Nyquist frequency and the z = 5 power 10% too high, while without it the force transfer
  is within 1% for k < k_Ny/4 and falls to ~0.95 at k_Ny/2 and
  ~0.8 close to k_Ny (the usual PM resolution loss, visible as missing small-scale power).

Determinism: positions are float64 throughout, sums are ``numpy.bincount`` (sequential), and
the FFTs (``scipy.fft``, pocketfft) compute every 1-D transform the same way whatever the
number of worker threads, so a run is bit-identical for a given seed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyccl
import scipy.fft

from wlcnn.cosmology import critical_density_msun_h_mpc3, growth_factor, growth_rate, hubble_e
from wlcnn.io.gadget_writer import write_gadget_snapshot
from wlcnn.nbody.ics import (
    HUBBLE_KM_S_PER_MPC_H,
    grid_wavenumbers,
    make_initial_conditions,
    wrap_periodic,
)

__all__ = [
    "DEFAULT_MESH_FACTOR",
    "CICWeights",
    "PMSnapshot",
    "ParticleMesh",
    "cic_paint",
    "cic_readout",
    "cic_weights",
    "pm_time_steps",
    "run_pm",
    "write_pm_outputs",
]

#: Default mesh cells per particle per side (FastPM's default B = 2).
DEFAULT_MESH_FACTOR = 2

#: Offset of the PM mesh points from the origin, in mesh cells. With 0 the particle lattice
#: (and every mesh of B times its resolution) puts particles exactly on mesh points, where the
#: CIC kernel has a kink: a small displacement then moves mass to the neighbour on one side
#: only, a response non-linear in the displacement that spoils the forces of a near-lattice
#: distribution by 5-20% (measured). Half a cell puts lattice particles at cell centres.
MESH_OFFSET_CELLS = 0.5

#: Two scale factors closer than this (relative) are the same time: an output that falls on a
#: base step replaces it instead of adding a zero-length step.
_SAME_TIME_RTOL = 1e-9

#: Matter density parameter prefactor of the Poisson equation, lap phi = 3/2 Omega_m delta.
_POISSON_PREFACTOR = 1.5

ProgressCallback = Callable[[int, int, float], None]


# ----------------------------------------------------------------------------------------
# Cloud-in-cell
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CICWeights:
    """The 8 mesh cells and weights of every particle (reused by paint and readout).

    Attributes
    ----------
    index
        ``(8, N)`` flat mesh indices (C order of an ``n_mesh^3`` mesh).
    weight
        ``(8, N)`` float64 weights; each column sums to 1.
    n_mesh
        Mesh points per side.
    """

    index: np.ndarray
    weight: np.ndarray
    n_mesh: int


def cic_weights(pos: np.ndarray, *, box: float, n_mesh: int) -> CICWeights:
    """Cloud-in-cell cells and weights; mesh point ``j`` sits at ``j * box / n_mesh``.

    Parameters
    ----------
    pos
        ``(N, 3)`` positions in Mpc/h (any real values; wrapped periodically).
    box
        Box side in Mpc/h.
    n_mesh
        Mesh points per side.

    Returns
    -------
    CICWeights
        Indices and weights of the 8 neighbouring mesh points of each particle.
    """
    grid = np.asarray(pos, dtype=np.float64) * (n_mesh / box)
    base = np.floor(grid)
    frac = grid - base
    base_i = base.astype(np.int64) % n_mesh  # also maps x == box to cell 0
    stride = (n_mesh * n_mesh, n_mesh, 1)
    # Per axis: flat-index contribution and weight of the lower (0) and upper (1) neighbour.
    offsets = [((base_i[:, d] * stride[d]), (((base_i[:, d] + 1) % n_mesh) * stride[d])) for d in range(3)]
    weights = [(1.0 - frac[:, d], frac[:, d]) for d in range(3)]
    n_part = grid.shape[0]
    index = np.empty((8, n_part), dtype=np.intp)
    weight = np.empty((8, n_part), dtype=np.float64)
    corner = 0
    for cx in (0, 1):
        for cy in (0, 1):
            wxy = weights[0][cx] * weights[1][cy]
            ixy = offsets[0][cx] + offsets[1][cy]
            for cz in (0, 1):
                np.add(ixy, offsets[2][cz], out=index[corner])
                np.multiply(wxy, weights[2][cz], out=weight[corner])
                corner += 1
    return CICWeights(index=index, weight=weight, n_mesh=n_mesh)


def cic_paint(weights: CICWeights, *, mass: np.ndarray | float = 1.0) -> np.ndarray:
    """Assign particles to the mesh with CIC.

    Parameters
    ----------
    weights
        From :func:`cic_weights`.
    mass
        Mass per particle (scalar or ``(N,)``), any unit.

    Returns
    -------
    numpy.ndarray
        ``(n, n, n)`` float64 mass per mesh cell (summed in particle order: deterministic).
    """
    n = weights.n_mesh
    w = weights.weight if np.ndim(mass) == 0 else weights.weight * np.asarray(mass)[None, :]
    # with weights, bincount returns float64 already (no copy); numpy's stubs say intp
    rho = np.bincount(weights.index.ravel(), weights=w.ravel(), minlength=n**3).astype(np.float64, copy=False)
    if np.ndim(mass) == 0:
        rho *= float(mass)
    return rho.reshape(n, n, n)


def cic_readout(field: np.ndarray, weights: CICWeights) -> np.ndarray:
    """Interpolate a mesh field to the particles with CIC (the transpose of :func:`cic_paint`).

    Parameters
    ----------
    field
        ``(n, n, n)`` mesh values.
    weights
        From :func:`cic_weights` with the same ``n``.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` float64 interpolated values.
    """
    flat = field.reshape(-1)
    out = flat[weights.index[0]] * weights.weight[0]
    for corner in range(1, 8):
        out += flat[weights.index[corner]] * weights.weight[corner]
    return out


# ----------------------------------------------------------------------------------------
# Particle-mesh forces
# ----------------------------------------------------------------------------------------
class ParticleMesh:
    """PM force solver for equal-mass particles in a periodic box.

    Parameters
    ----------
    box
        Box side in Mpc/h.
    n_mesh
        Mesh points per side (even).
    omega_m
        Matter density parameter (sets the Poisson prefactor 3/2 Omega_m).
    gradient
        ``"fd4"`` (FastPM's 4-point finite difference, default) or ``"spectral"``.
    compensate_cic
        Divide the density by the CIC window once (default False; see the module notes).
    workers
        Threads for ``scipy.fft``.

    Notes
    -----
    The mesh points sit at ``(j + MESH_OFFSET_CELLS) * box / n_mesh``, see
    :data:`MESH_OFFSET_CELLS`.
    """

    def __init__(
        self,
        *,
        box: float,
        n_mesh: int,
        omega_m: float,
        gradient: Literal["fd4", "spectral"] = "fd4",
        compensate_cic: bool = False,
        workers: int = 1,
    ) -> None:
        if n_mesh < 2 or n_mesh % 2:
            raise ValueError(f"n_mesh must be even and >= 2, got {n_mesh}")
        if gradient not in ("fd4", "spectral"):
            raise ValueError(f"gradient must be 'fd4' or 'spectral', got {gradient!r}")
        self.box = float(box)
        self.n_mesh = int(n_mesh)
        self.workers = int(workers)
        cell = box / n_mesh
        self.offset = cell * MESH_OFFSET_CELLS
        kx, ky, kz = grid_wavenumbers(n_grid=n_mesh, box=box)
        k2 = kx**2 + ky**2 + kz**2
        k2[0, 0, 0] = 1.0  # the mean density exerts no force; the k = 0 mode is zeroed below
        # Green's function times the Poisson prefactor: phi_k = -3/2 Om delta_k / k^2.
        green = -_POISSON_PREFACTOR * omega_m / k2
        green[0, 0, 0] = 0.0
        if compensate_cic:
            green /= _cic_window(kx, ky, kz, cell=cell)
        self._green = green
        # The force is -grad phi, i.e. F_k = -D(k) phi_k with D the derivative kernel.
        self._neg_grad = [-_derivative_kernel(kc, cell=cell, kind=gradient) for kc in (kx, ky, kz)]

    def accelerations(self, pos: np.ndarray) -> np.ndarray:
        """Force ``F = -grad phi`` (``lap phi = 3/2 Om delta``) at the particles.

        Parameters
        ----------
        pos
            ``(N, 3)`` positions in Mpc/h.

        Returns
        -------
        numpy.ndarray
            ``(N, 3)`` float64 in h/Mpc * (Mpc/h)^2 = Mpc/h units of ``grad phi``; in linear
            theory ``F = 3/2 Om D psi``.
        """
        n = self.n_mesh
        weights = cic_weights(pos - self.offset, box=self.box, n_mesh=n)
        # Density contrast: mass per cell / mean mass per cell - 1 (unit particle masses).
        mean_per_cell = pos.shape[0] / n**3
        delta = cic_paint(weights)
        delta /= mean_per_cell
        delta -= 1.0
        phi_k = scipy.fft.rfftn(delta, workers=self.workers)
        del delta
        phi_k *= self._green
        acc = np.empty((pos.shape[0], 3))
        for axis in range(3):
            force = scipy.fft.irfftn(phi_k * self._neg_grad[axis], s=(n, n, n), workers=self.workers)
            acc[:, axis] = cic_readout(force, weights)
        return acc


def _cic_window(kx: np.ndarray, ky: np.ndarray, kz: np.ndarray, *, cell: float) -> np.ndarray:
    """Fourier transform of the CIC kernel, ``prod_i sinc^2(k_i d / 2)`` (numpy sinc has pi)."""
    w = np.ones(np.broadcast_shapes(kx.shape, ky.shape, kz.shape))
    for kc in (kx, ky, kz):
        w = w * np.sinc(kc * cell / (2.0 * np.pi)) ** 2
    return w


def _derivative_kernel(k: np.ndarray, *, cell: float, kind: str) -> np.ndarray:
    """Fourier kernel of d/dx along one axis (1-D array broadcastable to the rfft grid)."""
    if kind == "fd4":
        w = k * cell
        return 1j * (8.0 * np.sin(w) - np.sin(2.0 * w)) / (6.0 * cell)
    kernel = 1j * k
    # The Nyquist coefficient of a real field is real: i k times it is not representable.
    kernel[np.isclose(np.abs(k), np.pi / cell, rtol=1e-12, atol=0.0)] = 0.0
    return kernel


# ----------------------------------------------------------------------------------------
# Time stepping
# ----------------------------------------------------------------------------------------
def pm_time_steps(
    *,
    a_init: float,
    output_a: Sequence[float],
    n_steps: int,
    stepping: Literal["linear", "log"] = "linear",
) -> np.ndarray:
    """Scale factors of the step boundaries, every output time included exactly.

    Parameters
    ----------
    a_init
        Starting scale factor.
    output_a
        Output scale factors (each in ``[a_init, 1]``-ish; at least one).
    n_steps
        Base number of steps, uniform in ``a`` (``"linear"``, FastPM's default) or in
        ``ln a`` (``"log"``) from ``a_init`` to the last output; output times that do not
        fall on a base boundary are inserted, adding a step each.
    stepping
        ``"linear"`` or ``"log"``.

    Returns
    -------
    numpy.ndarray
        Increasing scale factors, first ``a_init``, last ``max(output_a)``.
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    outs = np.asarray(sorted({float(a) for a in output_a}))
    if outs.size == 0:
        raise ValueError("need at least one output time")
    if outs[0] < a_init * (1.0 - _SAME_TIME_RTOL):
        raise ValueError(f"output a={outs[0]} is before the start a_init={a_init}")
    a_end = float(outs[-1])
    if stepping == "linear":
        base = np.linspace(a_init, a_end, n_steps + 1)
    elif stepping == "log":
        base = np.exp(np.linspace(np.log(a_init), np.log(a_end), n_steps + 1))
    else:
        raise ValueError(f"stepping must be 'linear' or 'log', got {stepping!r}")
    # Outputs win over base points at the same time, so that the requested a is hit exactly.
    keep = [a for a in base[1:] if not np.any(np.isclose(a, outs, rtol=_SAME_TIME_RTOL, atol=0.0))]
    candidates = np.unique(np.concatenate([keep, outs]))
    times = [float(a_init)]
    for a in candidates:
        if np.isclose(a, times[-1], rtol=_SAME_TIME_RTOL, atol=0.0):
            continue  # an output at the start time: no zero-length step
        times.append(float(a))
    return np.asarray(times)


@dataclass(frozen=True)
class _Background:
    """Growth functions entering the FastPM kick and drift factors (from pyccl)."""

    cosmo: pyccl.Cosmology
    omega_m: float

    def growth(self, a: float) -> float:
        """D(a), normalised to 1 today."""
        return float(growth_factor(self.cosmo, 1.0 / a - 1.0))

    def g_p(self, a: float) -> float:
        """G_p = a^3 E dD/da = a^2 E D f (momentum per unit displacement in linear theory)."""
        z = 1.0 / a - 1.0
        return a**2 * float(hubble_e(self.cosmo, z)) * self.growth(a) * float(growth_rate(self.cosmo, z))

    def g_f(self, a: float) -> float:
        """G_f = a^2 E dG_p/da = 3/2 Om D (force per unit displacement in linear theory)."""
        return _POISSON_PREFACTOR * self.omega_m * self.growth(a)


# ----------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PMSnapshot:
    """Particles at one output time.

    Attributes
    ----------
    a, redshift
        Scale factor and redshift (exactly the requested output redshift).
    pos
        ``(N, 3)`` float32 comoving positions in Mpc/h in ``[0, box)``.
    vel
        ``(N, 3)`` float32 peculiar velocities in km/s.
    ids
        ``(N,)`` uint64 particle IDs 1..N (lattice order, same order in every snapshot).
    """

    a: float
    redshift: float
    pos: np.ndarray
    vel: np.ndarray
    ids: np.ndarray


def _omega_m(cosmo: pyccl.Cosmology) -> float:
    """Total matter density today (CDM + baryons; no massive neutrinos in these runs)."""
    return float(cosmo["Omega_c"] + cosmo["Omega_b"])


def run_pm(
    *,
    cosmo: pyccl.Cosmology,
    n_particles_1d: int,
    box: float,
    z_init: float,
    output_redshifts: Iterable[float],
    n_steps: int,
    seed: int,
    n_mesh: int | None = None,
    lpt_order: int = 2,
    progress: ProgressCallback | None = None,
    stepping: Literal["linear", "log"] = "linear",
    gradient: Literal["fd4", "spectral"] = "fd4",
    compensate_cic: bool = False,
    workers: int = 1,
) -> Iterator[PMSnapshot]:
    """Run a particle-mesh simulation and yield snapshots at the requested redshifts.

    Parameters
    ----------
    cosmo
        pyccl cosmology (e.g. from :func:`wlcnn.cosmology.make_cosmology`; use
        ``radiation=False`` for the matter + Lambda background of other N-body codes).
    n_particles_1d
        Particles per side N (even); N^3 particles.
    box
        Box side in Mpc/h.
    z_init
        Redshift of the 1LPT/2LPT initial conditions.
    output_redshifts
        Output redshifts, each in ``[0, z_init]`` (any order; duplicates ignored).
    n_steps
        Base number of KDK steps from ``z_init`` to the lowest output redshift (outputs are
        inserted as extra step boundaries; see :func:`pm_time_steps`).
    seed
        Random seed of the initial conditions.
    n_mesh
        PM mesh points per side; default ``2 * n_particles_1d``.
    lpt_order
        1 or 2.
    progress
        Called as ``progress(step, n_total_steps, a)`` after each step (step counts from 1).
    stepping
        ``"linear"`` in a (default) or ``"log"``.
    gradient, compensate_cic
        Force kernel options of :class:`ParticleMesh`.
    workers
        ``scipy.fft`` threads; results are bit-identical whatever the number (tested). The
        default is 1: on a 2-core machine a second thread did not speed up a 128^3 mesh.

    Returns
    -------
    Iterator[PMSnapshot]
        Lazy: the simulation advances as snapshots are requested; they come in decreasing
        redshift order (an output at ``z_init`` yields the initial conditions).

    Raises
    ------
    ValueError
        On invalid arguments (checked at the call, before any work).

    Notes
    -----
    Memory: about ``(3 + 3 + 3 + 16) * 8 = 200`` bytes per particle (positions, momenta,
    forces, CIC indices and weights) plus a few mesh-sized float64 arrays (the density, its
    transform, one force component: ~40 bytes per mesh cell).
    """
    z_out = sorted({float(z) for z in output_redshifts}, reverse=True)
    # Validate here, not in the generator, so that bad arguments fail at the call.
    if not z_out:
        raise ValueError("output_redshifts is empty")
    if z_out[0] > z_init or z_out[-1] < 0.0:
        raise ValueError(f"output redshifts must lie in [0, z_init={z_init}], got {z_out}")
    if n_particles_1d < 2 or n_particles_1d % 2:
        raise ValueError(f"n_particles_1d must be even and >= 2, got {n_particles_1d}")
    if lpt_order not in (1, 2):
        raise ValueError(f"lpt_order must be 1 or 2, got {lpt_order}")
    n_mesh = DEFAULT_MESH_FACTOR * n_particles_1d if n_mesh is None else int(n_mesh)
    mesh = ParticleMesh(
        box=box,
        n_mesh=n_mesh,
        omega_m=_omega_m(cosmo),
        gradient=gradient,
        compensate_cic=compensate_cic,
        workers=workers,
    )
    a_init = 1.0 / (1.0 + z_init)
    out_a = {1.0 / (1.0 + z): z for z in z_out}
    times = pm_time_steps(a_init=a_init, output_a=list(out_a), n_steps=n_steps, stepping=stepping)
    return _evolve(
        cosmo=cosmo,
        n_particles_1d=n_particles_1d,
        box=box,
        z_init=z_init,
        seed=seed,
        lpt_order=lpt_order,
        mesh=mesh,
        times=times,
        out_a=out_a,
        progress=progress,
    )


def _evolve(
    *,
    cosmo: pyccl.Cosmology,
    n_particles_1d: int,
    box: float,
    z_init: float,
    seed: int,
    lpt_order: int,
    mesh: ParticleMesh,
    times: np.ndarray,
    out_a: dict[float, float],
    progress: ProgressCallback | None,
) -> Iterator[PMSnapshot]:
    """The KDK loop of :func:`run_pm` (arguments validated there)."""
    ics = make_initial_conditions(
        cosmo=cosmo,
        n_particles_1d=n_particles_1d,
        box=box,
        z_init=z_init,
        seed=seed,
        lpt_order=lpt_order,
        workers=mesh.workers,
    )
    a_init = ics.a

    def snapshot(a: float, x: np.ndarray, p: np.ndarray) -> PMSnapshot:
        z = next(zz for aa, zz in out_a.items() if np.isclose(aa, a, rtol=_SAME_TIME_RTOL, atol=0.0))
        vel = (p * (HUBBLE_KM_S_PER_MPC_H / a)).astype(np.float32)
        return PMSnapshot(
            a=float(a), redshift=z, pos=wrap_periodic(x, box=box, dtype=np.float32), vel=vel, ids=ids.copy()
        )

    def is_output(a: float) -> bool:
        return any(np.isclose(a, aa, rtol=_SAME_TIME_RTOL, atol=0.0) for aa in out_a)

    x = ics.pos
    # Canonical momentum p = a^2 dx/dt / H0 = a v / (100 km/s) in Mpc/h.
    p = ics.vel * (a_init / HUBBLE_KM_S_PER_MPC_H)
    ids = ics.ids
    del ics  # frees the linear field
    if is_output(a_init):
        yield snapshot(a_init, x, p)

    bg = _Background(cosmo=cosmo, omega_m=_omega_m(cosmo))
    n_total = len(times) - 1
    force = mesh.accelerations(x)
    for step, (a0, a1) in enumerate(itertools.pairwise(times), start=1):
        a_half = 0.5 * (a0 + a1)
        gp_half = bg.g_p(a_half)
        p += force * ((gp_half - bg.g_p(a0)) / bg.g_f(a0))
        x += p * ((bg.growth(a1) - bg.growth(a0)) / gp_half)
        np.mod(x, box, out=x)
        force = mesh.accelerations(x)
        p += force * ((bg.g_p(a1) - gp_half) / bg.g_f(a1))
        if progress is not None:
            progress(step, n_total, float(a1))
        if is_output(a1):
            yield snapshot(a1, x, p)


def write_pm_outputs(
    *,
    cosmo: pyccl.Cosmology,
    n_particles_1d: int,
    box: float,
    z_init: float,
    output_redshifts: Iterable[float],
    n_steps: int,
    seed: int,
    out_dir: str | Path,
    file_pattern: str = "snapshot_{index:03d}",
    n_mesh: int | None = None,
    lpt_order: int = 2,
    progress: ProgressCallback | None = None,
    snap_format: int = 1,
    n_files: int = 1,
    workers: int = 1,
) -> list[Path]:
    """Run :func:`run_pm` and write every output as a Gadget-2 snapshot.

    Parameters
    ----------
    cosmo, n_particles_1d, box, z_init, output_redshifts, n_steps, seed, n_mesh, lpt_order
        As in :func:`run_pm`.
    progress, workers
        As in :func:`run_pm`.
    out_dir
        Directory for the snapshots (created if missing).
    file_pattern
        File name per output; ``index`` counts outputs from 0 in decreasing redshift order
        (Gadget's numbering), ``redshift`` is also available.
    snap_format, n_files
        Gadget ``SnapFormat`` (1 or 2) and files per snapshot.

    Returns
    -------
    list[pathlib.Path]
        Every file written, in output order.

    Notes
    -----
    The header gets ``Omega0 = Omega_m``, ``OmegaLambda = 1 - Omega_m`` (flat, as the
    N-body codes assume), ``HubbleParam = h`` and a particle mass of
    ``Omega_m rho_crit box^3 / N^3`` in M_sun/h; positions are written in kpc/h.
    """
    # Imported here: the writer belongs to the io package, which the simulation itself never needs.
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    omega_m = _omega_m(cosmo)
    n_total = n_particles_1d**3
    particle_mass = omega_m * critical_density_msun_h_mpc3() * box**3 / n_total
    written: list[Path] = []
    snapshots = run_pm(
        cosmo=cosmo,
        n_particles_1d=n_particles_1d,
        box=box,
        z_init=z_init,
        output_redshifts=output_redshifts,
        n_steps=n_steps,
        seed=seed,
        n_mesh=n_mesh,
        lpt_order=lpt_order,
        progress=progress,
        workers=workers,
    )
    for index, snap in enumerate(snapshots):
        path = out / file_pattern.format(index=index, redshift=snap.redshift)
        written += write_gadget_snapshot(
            path,
            pos=snap.pos,
            vel=snap.vel,
            ids=snap.ids,
            box=box,
            a=snap.a,
            omega_m=omega_m,
            omega_lambda=1.0 - omega_m,
            hubble=float(cosmo["h"]),
            particle_mass=particle_mass,
            snap_format=snap_format,
            length_unit="kpc/h",
            n_files=n_files,
        )
    return written
