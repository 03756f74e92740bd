"""The plan of a simulation's maps: settings, shells, Born weights, where the shells come from.

A :class:`MapPlan` is everything about a simulation's maps that does not depend on the
realisation: the ``shells:`` settings (:class:`MapSettings`), the shells near to far, the Born
weights of the mean n(z) (:func:`born_weights_for_shells`), and the :class:`ShellSource` that
yields the shells' overdensities, snapshots (:mod:`wlcnn.maps.snapshots`) or a PkdGrav3 light
cone (:mod:`wlcnn.maps.lightcone`). The driver (:mod:`wlcnn.maps.simulation`) asks the source,
never which kind it is.

The memory model of a map job (:func:`estimate_memory_mb`, :func:`map_job_memory_mb`) lives
here too: the workflow's resources call it.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyccl

from wlcnn.cosmology import simulation_cosmology
from wlcnn.lensing.born import IA_C1_RHO_CRIT, BornWeights, shell_weights
from wlcnn.lensing.nz import load_nz_from_config
from wlcnn.maps.cellgrid import DEFAULT_PARTICLES_PER_CELL
from wlcnn.maps.gnomonic import PatchGeometry
from wlcnn.maps.parallel import Comm
from wlcnn.maps.shells import Shell
from wlcnn.maps.symmetries import BoxTransform, draw_transform
from wlcnn.provenance import file_record

__all__ = [
    "DEFAULT_KEEP_SHELLS",
    "DEFAULT_PATCH_NSIDE",
    "LIGHTCONE_EDGES",
    "MODES",
    "SOURCES",
    "MapPlan",
    "MapSettings",
    "RankShare",
    "ShellOverdensity",
    "ShellSource",
    "born_weights_for_shells",
    "estimate_memory_mb",
    "map_job_runtime_min",
    "map_job_memory_mb",
    "realisation_transform",
    "shell_cosmology",
]

log = logging.getLogger(__name__)

MODES = ("pencil_beam", "healpix")
#: Where the shells come from: ingested snapshots (with replicas and random transforms), or the
#: light-cone outputs of a PkdGrav3 run (:mod:`wlcnn.maps.lightcone`; HEALPix mode only).
SOURCES = ("snapshots", "lightcone_healpix", "lightcone_particles")
#: Light-cone sources: shell edges at the step ends nearest the requested output redshifts, or
#: one shell per step.
LIGHTCONE_EDGES = ("output_redshifts", "steps")
#: Roles whose shell stacks are stored (κ can then be rebuilt for any bootstrap n(z), SPEC §7).
DEFAULT_KEEP_SHELLS = ("test", "mock")
#: HEALPix mode: patch centres at the pixel centres of this nside (48 patches, ~29 deg apart).
DEFAULT_PATCH_NSIDE = 2
_MB = 1 << 20
#: σ8 when a cosmology lacks it: shells need only distances, which do not depend on σ8.
_PLACEHOLDER_SIGMA8 = 0.8
#: Memory model: safety factor on the counted arrays, and the interpreter + libraries (MB).
_MEMORY_SAFETY = 1.25
_MEMORY_BASE_MB = 256
#: Map jobs: what the job adds to the model (MPI runtime, h5py buffers), MB.
_JOB_OVERHEAD_MB = 500
#: Light-cone map jobs: bytes per HEALPix pixel a rank holds besides the model (an int64 count
#: map and a float64 δ map of the shell it counts, plus the pixel-index buffer).
_LIGHTCONE_BYTES_PER_PIXEL = 24
#: Map-job time model (:func:`map_job_runtime_min`), CPU seconds fitted by bench/bench_resources.py
#: to 6 single-process runs of the demo's 17 snapshots (64³ particles in 256 Mpc/h, and every 8th
#: particle of them; 10, 100, 400 realisations; fit within 10 %, bench/README.md): start-up, a
#: snapshot's read and sort per particle, one shell-realisation's pixels, and its beam per unit
#: particle density (particles per (Mpc/h)³: the beam's volume is set by the shells, not the box).
_RUNTIME_STARTUP_S = 2.1
_RUNTIME_READ_S_PER_PARTICLE = 1.3e-7
_RUNTIME_PIXELS_S_PER_SHELL_REALISATION = 1.1e-3
_RUNTIME_BEAM_S_PER_DENSITY_SHELL_REALISATION = 7.3e-2
#: Safety factor on the fitted time: a shared node, slower disks, and beams that widen with
#: distance (the paper's shells reach z = 3.45, the measured ones z = 1.4).
_RUNTIME_SAFETY = 3.0
#: Shortest time a map job asks for (minutes): below it the scheduler's granularity dominates.
_RUNTIME_MIN_MIN = 10
#: Light-cone sources stream their files: no fitted model yet, the former fixed request (min).
_LIGHTCONE_RUNTIME_MIN = 120
_SECONDS_PER_MINUTE = 60

#: What a :class:`ShellSource` yields per (shell, sky): ``(shell, sky position in the requested
#: skies, float64 full-sky δ RING map, symmetry, shift (3,), particles tested)``.
ShellOverdensity = tuple[Shell, int, np.ndarray, int, np.ndarray | tuple[float, float, float], int]


@dataclass(frozen=True)
class MapSettings:
    """The ``shells:`` configuration block, with defaults.

    Attributes
    ----------
    mode
        ``"pencil_beam"`` (KiDS-450 default) or ``"healpix"``.
    n_realisations
        Pencil beam: projections per snapshot (1000 in the paper). HEALPix: full-sky
        realisations (each gives ``patches_per_sky`` patches).
    patch_size_deg, n_pix
        Patch geometry (5 deg, 128 pixels).
    nside
        HEALPix mode resolution.
    patch_nside
        HEALPix mode: patch centres at the pixel centres of this nside.
    store_fullsky
        HEALPix mode: also store the full-sky κ, κ_IA maps.
    keep_shells
        Roles whose δ shell stacks are stored.
    particles_per_cell
        Mean occupation of the cell index (performance only).
    source
        ``"snapshots"`` or a PkdGrav3 light cone (``"lightcone_healpix"``: ``.hpb`` count maps,
        ``"lightcone_particles"``: ``.lcp`` particles), see :mod:`wlcnn.maps.lightcone`.
    lightcone_edges
        Light-cone sources: ``"output_redshifts"`` (shell edges at the step ends nearest the
        requested output redshifts) or ``"steps"`` (one shell per step).
    """

    mode: str = "pencil_beam"
    n_realisations: int = 1
    patch_size_deg: float = 5.0
    n_pix: int = 128
    nside: int = 512
    patch_nside: int = DEFAULT_PATCH_NSIDE
    store_fullsky: bool = False
    keep_shells: tuple[str, ...] = DEFAULT_KEEP_SHELLS
    particles_per_cell: int = DEFAULT_PARTICLES_PER_CELL
    source: str = "snapshots"
    lightcone_edges: str = "output_redshifts"

    @classmethod
    def from_config(cls, shells: Mapping[str, Any]) -> MapSettings:
        """Settings from a (validated) ``shells:`` block; absent keys take the defaults."""
        known = {k: shells[k] for k in cls.__dataclass_fields__ if k in shells}
        if "keep_shells" in known:
            known["keep_shells"] = tuple(known["keep_shells"])
        settings = cls(**known)
        if settings.mode not in MODES:
            raise ValueError(f"shells.mode must be one of {MODES}, got {settings.mode!r}")
        if settings.source not in SOURCES:
            raise ValueError(f"shells.source must be one of {SOURCES}, got {settings.source!r}")
        if settings.lightcone_edges not in LIGHTCONE_EDGES:
            raise ValueError(
                f"shells.lightcone_edges must be one of {LIGHTCONE_EDGES}, got {settings.lightcone_edges!r}"
            )
        if settings.source != "snapshots" and settings.mode != "healpix":
            raise ValueError(
                f"shells.source {settings.source!r} needs shells.mode 'healpix' (a light cone "
                f"is a sky seen from one observer), got {settings.mode!r}"
            )
        return settings

    @property
    def geometry(self) -> PatchGeometry:
        """The patch geometry."""
        return PatchGeometry(n_pix=int(self.n_pix), patch_size_deg=float(self.patch_size_deg))

    @property
    def patches_per_sky(self) -> int:
        """Patches cut from each full-sky realisation (HEALPix mode), else 1."""
        return 12 * self.patch_nside**2 if self.mode == "healpix" else 1


@dataclass(frozen=True)
class RankShare:
    """What one rank of a map job does.

    Attributes
    ----------
    realisations
        Full-sky (HEALPix) or pencil-beam realisations this rank projects.
    gather_comm
        Communicator over which the ranks' realisation blocks are gathered on rank 0 (None:
        this rank holds every realisation it writes).
    helper
        True on a rank that only helps the source (e.g. counts light-cone shells for rank 0)
        and neither projects nor writes.
    """

    realisations: range
    gather_comm: Comm | None
    helper: bool = False


class ShellSource(Protocol):
    """Where a plan's shells come from: snapshots or a light cone.

    Each source knows the files the shells are made of (their provenance records), how the
    ranks share the work, and how to yield every shell's full-sky overdensity per sky.
    """

    @property
    def inputs(self) -> tuple[dict[str, Any], ...]:
        """Provenance records of the files the shells are made of."""
        ...

    def share(self, n_realisations: int, *, comm: Comm | None) -> RankShare:
        """The calling rank's part of a job of ``n_realisations`` realisations."""
        ...

    def overdensities(
        self, plan: MapPlan, skies: np.ndarray, *, base_seed: int, comm: Comm | None
    ) -> Iterator[ShellOverdensity]:
        """Full-sky δ of every (shell, sky), shell by shell (HEALPix mode)."""
        ...

    def assist(self, plan: MapPlan, *, comm: Comm | None) -> None:
        """A helper rank's part of the work (:attr:`RankShare.helper`)."""
        ...

    def attributes(self) -> dict[str, Any]:
        """Map-file attributes that describe the source (empty for snapshots)."""
        ...


@dataclass(frozen=True)
class MapPlan:
    """Everything about a simulation's maps that does not depend on the realisation.

    Attributes
    ----------
    cosmology_id, simulation
        Identity (from the manifest).
    cosmology
        Parameters (omega_m, sigma8, h, omega_b, n_s).
    box
        Box side, Mpc/h.
    n_particles
        Particles per snapshot (a light cone: the run's particle count).
    snapshot_paths
        Canonical snapshot files, manifest order (empty for a light cone).
    redshifts
        Shell-edge redshifts: the snapshots' header redshifts, or the light cone's chosen step ends.
    shells
        Near to far (a light cone: each shell's ``snapshot`` is the PkdGrav3 step ending at its
        near edge).
    settings
        The ``shells:`` block.
    weights
        Born weights of the mean n(z), or None (no n(z) configured).
    nz_records
        Provenance records of the n(z) files (path, size, sha256).
    source
        Where the shells come from (:class:`ShellSource`).
    """

    cosmology_id: str
    simulation: str
    cosmology: dict[str, float]
    box: float
    n_particles: int
    snapshot_paths: tuple[Path, ...]
    redshifts: tuple[float, ...]
    shells: tuple[Shell, ...]
    settings: MapSettings
    weights: BornWeights | None
    nz_records: tuple[dict[str, Any], ...]
    source: ShellSource

    @property
    def inputs(self) -> tuple[dict[str, Any], ...]:
        """Provenance records of the shells' files (the source's)."""
        return self.source.inputs

    @property
    def n_bins(self) -> int:
        """Tomographic bins (0 without weights)."""
        return 0 if self.weights is None else int(self.weights.n_bins)

    @property
    def n_shells(self) -> int:
        """Shells."""
        return len(self.shells)

    @property
    def n_maps(self) -> int:
        """Map realisations in the file (HEALPix mode: skies × patches per sky)."""
        return self.settings.n_realisations * self.settings.patches_per_sky

    @property
    def nz_checksum(self) -> str | None:
        """sha256 over the n(z) files' sha256 digests in bin order (None without n(z))."""
        if not self.nz_records:
            return None
        digest = hashlib.sha256()
        for rec in self.nz_records:
            digest.update(str(rec.get("sha256", rec.get("path"))).encode())
        return digest.hexdigest()


def shell_cosmology(cosmology: Mapping[str, float]) -> pyccl.Cosmology:
    """The background the shells and Born weights use (:func:`wlcnn.cosmology.simulation_cosmology`).

    A cosmology without ``sigma8`` takes a placeholder: distances do not depend on it.
    """
    return simulation_cosmology({"sigma8": _PLACEHOLDER_SIGMA8, **cosmology})


def realisation_transform(plan: MapPlan, *, base_seed: int, shell: Shell, realisation: int) -> BoxTransform:
    """The seeded box transform of one (shell, realisation), the same on any rank."""
    return draw_transform(
        base_seed=base_seed,
        cosmology=plan.cosmology_id,
        simulation=plan.simulation,
        snapshot=shell.snapshot,
        realisation=realisation,
        box=plan.box,
    )


def born_weights_for_shells(
    shells: Sequence[Shell],
    *,
    cosmo: pyccl.Cosmology,
    lensing_config: Mapping[str, Any] | None,
    base_dir: str | Path = ".",
    z_source_default: float,
) -> tuple[BornWeights | None, tuple[dict[str, Any], ...]]:
    """Born weights of the shells for the configured mean n(z), and the n(z) files' records.

    Parameters
    ----------
    shells
        Near to far.
    cosmo
        Background of the simulation (matter + Λ, as the N-body codes integrate).
    lensing_config
        The ``lensing:`` block; None or without ``nz_files``: no weights (shells only).
    base_dir
        Directory the n(z) paths are relative to.
    z_source_default
        ``z_source_max`` when the block does not set it (the highest shell edge).

    Returns
    -------
    tuple
        ``(weights or None, n(z) file records)``.
    """
    if not (lensing_config and lensing_config.get("nz_files")):
        log.warning("no lensing.nz_files: writing shells only (no Born kappa / kappa_IA)")
        return None, ()
    tables = load_nz_from_config(lensing_config, base_dir=base_dir)
    nz_records = tuple(file_record(Path(base_dir) / p) for p in lensing_config["nz_files"])
    weights = shell_weights(
        cosmo=cosmo,
        z_edges=[[s.z_near, s.z_far] for s in shells],
        nz=tables,
        z_source_max=float(lensing_config.get("z_source_max", z_source_default)),
        ia_c1_rho_crit=float(lensing_config.get("ia_c1_rho_crit", IA_C1_RHO_CRIT)),
    )
    return weights, nz_records


def estimate_memory_mb(
    *,
    n_particles: int,
    n_realisations: int,
    n_shells: int,
    n_bins: int,
    n_pix: int,
    ranks: int = 1,
    mode: str = "pencil_beam",
    nside: int = 0,
    patches_per_sky: int = 1,
) -> int:
    """Peak memory per rank (MB) of :func:`make_simulation_maps`, for the workflow's resources.

    Counts one snapshot in memory twice (read + cell-sorted copy) and, per local realisation,
    the δ stack plus κ and κ_IA (float32), with rank 0 holding one more rank's block while
    writing; HEALPix mode adds two float64 full-sky accumulators per bin and sky.
    """
    local = math.ceil(n_realisations / max(ranks, 1))
    snapshot = 2 * n_particles * 3 * 4 + 8 * n_particles
    per_map = n_pix * n_pix * 4 * (n_shells + 2 * n_bins)
    maps = 2 * local * patches_per_sky * per_map
    fullsky = local * 2 * n_bins * 12 * nside * nside * 8 if mode == "healpix" else 0
    return int((snapshot + maps + fullsky) / _MB * _MEMORY_SAFETY) + _MEMORY_BASE_MB


def map_job_runtime_min(
    shells: Mapping[str, Any],
    *,
    source: str,
    n_particles: int,
    box_mpc_h: float,
    n_shells: int,
    attempt: int = 1,
) -> int:
    """Time (minutes) to request for one map job, from the measured cost model, growing with the attempt.

    Every rank reads and sorts every snapshot; the realisations are split over the ranks
    (``shells.mpi_tasks``). The per-realisation cost is a fixed part per shell (pixels) and a
    part proportional to the particle density (the particles in the beam).

    Parameters
    ----------
    shells
        The ``shells:`` block with its defaults (``n_realisations``, ``mpi_tasks``).
    source
        ``shells.source`` (light cones: the former fixed request).
    n_particles
        Particles per snapshot.
    box_mpc_h
        Box side (Mpc/h).
    n_shells
        Shells (snapshots) of the simulation.
    attempt
        The scheduler's attempt number (1, 2, ...).

    Returns
    -------
    int
        Minutes, at least ``_RUNTIME_MIN_MIN`` (paper scale, 256³ particles in 500 Mpc/h, 51
        shells, 1000 realisations on 8 ranks: about 10 minutes).
    """
    if source != "snapshots":
        return _LIGHTCONE_RUNTIME_MIN * attempt
    tasks = max(int(shells["mpi_tasks"]), 1)
    local = math.ceil(int(shells["n_realisations"]) / tasks)
    density = n_particles / float(box_mpc_h) ** 3
    per_shell_realisation = (
        _RUNTIME_PIXELS_S_PER_SHELL_REALISATION + _RUNTIME_BEAM_S_PER_DENSITY_SHELL_REALISATION * density
    )
    seconds = _RUNTIME_STARTUP_S + n_shells * (
        _RUNTIME_READ_S_PER_PARTICLE * n_particles + local * per_shell_realisation
    )
    minutes = math.ceil(seconds * _RUNTIME_SAFETY / _SECONDS_PER_MINUTE)
    return max(minutes, _RUNTIME_MIN_MIN) * attempt


def map_job_memory_mb(
    shells: Mapping[str, Any],
    *,
    source: str,
    n_particles: int,
    n_shells: int,
    n_bins: int,
    attempt: int = 1,
) -> int:
    """Memory (MB) to request for one map job (all its ranks), growing with the retry attempt.

    Parameters
    ----------
    shells
        The ``shells:`` block with its defaults (``n_realisations``, ``n_pix``, ``nside``,
        ``patch_nside``, ``mpi_tasks``).
    source
        ``shells.source``.
    n_particles
        Particles per snapshot (unused for a light cone: its files are streamed).
    n_shells, n_bins
        Shells and tomographic bins.
    attempt
        The scheduler's attempt number (1, 2, ...): the model's part scales with it.

    Returns
    -------
    int
        Snapshots: the per-rank model times the ranks; a light cone: one sky on rank 0 plus
        each rank's shell buffers.
    """
    tasks = int(shells["mpi_tasks"])
    if source != "snapshots":  # one sky, no particles in memory (light-cone files are streamed)
        mb = estimate_memory_mb(
            n_particles=0,
            n_realisations=1,
            n_shells=n_shells,
            n_bins=n_bins,
            n_pix=shells["n_pix"],
            mode="healpix",
            nside=shells["nside"],
            patches_per_sky=12 * shells["patch_nside"] ** 2,
        )
        buffers = tasks * (_LIGHTCONE_BYTES_PER_PIXEL * 12 * shells["nside"] ** 2 >> 20)
        return int(mb * attempt) + _JOB_OVERHEAD_MB + buffers
    mb = estimate_memory_mb(
        n_particles=n_particles,
        n_realisations=shells["n_realisations"],
        n_shells=n_shells,
        n_bins=n_bins,
        n_pix=shells["n_pix"],
        ranks=tasks,
    )
    return int(mb * tasks * attempt) + _JOB_OVERHEAD_MB
