"""Maps from a PkdGrav3 light cone: HEALPix count shells (``.hpb``) or light-cone particles (``.lcp``).

A PkdGrav3 run with ``bLightCone`` writes, at every step, what crossed the observer's past light
cone during that step: a full-sky HEALPix count map (``<prefix>.<step>.hpb.<thread>``) and/or the
particles themselves (``<prefix>.<step>.lcp.<thread>``). Step ``S`` covers the redshifts between
the end of step ``S - 1`` and the end of step ``S`` (the run's ``.log``, or a ``step z`` table:
:func:`wlcnn.io.pkd_params.load_step_redshifts`). This module turns those outputs into the same
map files as the snapshot path (HEALPix mode of :mod:`wlcnn.maps.simulation`):

1. **Shells** are runs of consecutive steps, so that their edges are step ends (the light cone
   holds no finer radial information for ``.hpb``; for ``.lcp`` a step's particles are the shell
   crossed during it). ``lightcone_edges = "output_redshifts"`` puts the edges at the step ends
   nearest to the requested output redshifts that lie inside the light cone (the shells then
   match the snapshot path's, whose edges are the snapshots' true redshifts, also step ends);
   ``"steps"`` makes one shell per step. Steps before the first non-empty ``.lcp`` step (the
   light cone starts at ``dRedshiftLCP``) are outside the light cone.
2. **Counts** per shell: the sum of the steps' ``.hpb`` maps (degraded to ``shells.nside`` when
   the files are finer; a coarser file is an error), or the steps' particles binned in RING
   pixels by direction. ``δ = N / N̄ - 1`` with ``N̄`` of the run's mean density in the shell's
   frustum (:func:`wlcnn.maps.healpix_shells.healpix_overdensity`).
3. **One sky.** A light cone is one realisation of the sky, seen from one observer: the map file
   holds ``1 × 12 patch_nside²`` patches (``shells.n_realisations`` must be 1; raise
   ``shells.patch_nside`` for more, e.g. 4: 192 patches 15 deg apart). No random rotations are
   applied: rotated copies of one sky are not independent realisations, and the patches would
   overlap. The transforms stored per shell are the identity.
4. **MPI.** With one sky there is no realisation split; the ranks share the shells instead
   (round robin: shell ``k`` on rank ``k mod K``), counting them into int64 maps that rank 0
   receives in shell order. Integer counts and all the floating-point work (δ, the Born sums,
   the patches) on rank 0 in a fixed order make the file byte-identical for any ``K``.

Provenance: every light-cone thread file of the shells' steps and the step table are recorded
with their size and SHA-256 (``inputs`` of the map file's provenance record).

Light-cone particles from a partial-sky cone (``sqdegLCP > 0``) give δ = -1 outside the cone:
use full-sky light cones for maps, or check the ``lightcone.sky_fraction`` attribute.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import healpy as hp
import numpy as np

from wlcnn.config import box_size_mpc_h, output_redshifts
from wlcnn.io.pkd_healpix import HealpixShellReader
from wlcnn.io.pkd_lightcone import LightconeParticleReader
from wlcnn.io.pkd_params import StepFiles, find_step_files, load_step_redshifts
from wlcnn.maps.healpix_shells import counts_from_hpb, counts_from_lightcone, healpix_overdensity
from wlcnn.maps.parallel import Comm, rank_and_size
from wlcnn.maps.plan import (
    MapPlan,
    MapSettings,
    RankShare,
    ShellOverdensity,
    born_weights_for_shells,
    shell_cosmology,
)
from wlcnn.maps.shells import Shell, shells_from_redshifts
from wlcnn.maps.simulation import write_simulation_maps
from wlcnn.provenance import file_record, utc_now

__all__ = [
    "LIGHTCONE_KINDS",
    "LightconeInput",
    "LightconeSource",
    "lightcone_files",
    "lightcone_overdensities",
    "lightcone_spec_from_config",
    "make_lightcone_maps",
    "plan_lightcone_maps",
    "select_shell_edges",
]

log = logging.getLogger(__name__)

#: Requested and step redshifts this close are the same (a run's last step ends at z ~ 1e-15).
_Z_ROUNDING = 1e-9
#: ``shells.source`` -> PkdGrav3 file kind.
LIGHTCONE_KINDS = {"lightcone_healpix": "hpb", "lightcone_particles": "lcp"}
#: PkdGrav3 file kind -> ``shells.source``.
SOURCE_OF_KIND = {kind: source for source, kind in LIGHTCONE_KINDS.items()}


@dataclass(frozen=True)
class LightconeSource:
    """The light-cone output of one PkdGrav3 run, cut into shells: a :class:`ShellSource`.

    One sky (realisation 0), seen from one observer; the ranks share the counting of its shells
    (shell ``k`` on rank ``k mod K``), and rank 0 alone projects and writes.

    Attributes
    ----------
    kind
        ``"hpb"`` (HEALPix count maps) or ``"lcp"`` (particles).
    prefix
        ``<directory>/<achOutName>``: the step files are ``<prefix>.<step>.<kind>.<thread>``.
    step_table
        The step -> redshift file used.
    steps
        Files of every step inside the light cone, increasing step.
    shell_steps
        Per shell (near to far): the steps whose outputs fill it.
    file_nside
        ``.hpb``: the files' nside (None for particles).
    records
        Provenance records of the step table and of every thread file of the shells' steps.
    """

    kind: str
    prefix: Path
    step_table: Path
    steps: tuple[StepFiles, ...]
    shell_steps: tuple[tuple[int, ...], ...]
    file_nside: int | None = None
    records: tuple[dict[str, Any], ...] = ()

    @property
    def inputs(self) -> tuple[dict[str, Any], ...]:
        """Provenance records of the step table and the light-cone files used."""
        return self.records

    def files_of(self, steps: Sequence[int]) -> list[Path]:
        """The thread files of some steps, in step then thread order."""
        wanted = set(steps)
        return [f for s in self.steps if s.step in wanted for f in s.files]

    def describe(self) -> dict[str, Any]:
        """JSON-able summary for the map file's ``lightcone`` attribute."""
        return {
            "kind": self.kind,
            "prefix": str(self.prefix),
            "step_table": str(self.step_table),
            "first_step": self.steps[0].step,
            "last_step": self.steps[-1].step,
            "shell_steps": [[s[0], s[-1]] for s in self.shell_steps],
            "file_nside": self.file_nside,
        }

    def attributes(self) -> dict[str, Any]:
        """``source`` (the ``shells.source`` value) and ``lightcone`` (:meth:`describe`)."""
        return {"source": SOURCE_OF_KIND[self.kind], "lightcone": self.describe()}

    def share(self, n_realisations: int, *, comm: Comm | None) -> RankShare:
        """Rank 0 projects the one sky and writes it; the others only count shells for it."""
        rank, _ = rank_and_size(comm)
        if rank != 0:
            return RankShare(realisations=range(0), gather_comm=None, helper=True)
        # everything reaches rank 0 through the shells' counts: no realisation blocks to gather
        return RankShare(realisations=range(n_realisations), gather_comm=None)

    def assist(self, plan: MapPlan, *, comm: Comm | None) -> None:
        """Count this rank's shells and send them to rank 0."""
        for _ in self.shell_overdensities(plan, comm=comm):
            pass

    def overdensities(
        self,
        plan: MapPlan,
        skies: np.ndarray,
        *,
        base_seed: int,  # noqa: ARG002 - the MapSource interface; one light cone draws nothing
        comm: Comm | None,
    ) -> Iterator[ShellOverdensity]:
        """The single sky: δ of every shell, with identity transforms (``base_seed`` draws nothing).

        Raises
        ------
        ValueError
            If ``skies`` is not ``[0]``.
        """
        if skies.tolist() != [0]:
            raise ValueError(f"a light cone is one sky (realisation 0), asked for {skies.tolist()}")
        identity_shift = np.zeros(3, dtype=np.float64)
        for shell, d_sky in self.shell_overdensities(plan, comm=comm):
            yield shell, 0, d_sky, 0, identity_shift, 0

    def shell_counts(self, plan: MapPlan, shell: Shell) -> np.ndarray:
        """int64 RING count map (``shells.nside``) of one shell: the sum over its steps."""
        nside = plan.settings.nside
        by_step = {s.step: s for s in self.steps}
        counts = np.zeros(hp.nside2npix(nside), dtype=np.int64)
        for step in self.shell_steps[shell.index]:
            files = by_step[step]
            if self.kind == "hpb":
                reader = HealpixShellReader.from_step_files(files, nside=self.file_nside)
                counts += counts_from_hpb(reader, nside=nside)
            else:  # every particle of the step, binned by direction (positions in box units suffice)
                readers = [LightconeParticleReader.from_step_files(files)]
                counts += counts_from_lightcone(readers, nside=nside)
        return counts

    def shell_overdensities(
        self, plan: MapPlan, *, comm: Comm | None = None
    ) -> Iterator[tuple[Shell, np.ndarray]]:
        """Full-sky δ of every shell, near to far (see :func:`lightcone_overdensities`)."""
        rank, size = rank_and_size(comm)
        density = plan.n_particles / plan.box**3
        npix = hp.nside2npix(plan.settings.nside)
        covered = np.zeros(npix, dtype=bool) if rank == 0 else None
        for shell in plan.shells:
            owner = shell.index % size
            counts = self.shell_counts(plan, shell) if rank == owner else None
            if rank == 0:
                if owner != 0:
                    assert comm is not None  # another owner exists only with a communicator
                    counts = np.empty(npix, dtype=np.int64)
                    comm.Recv(counts, source=owner, tag=shell.index)
                assert counts is not None
                assert covered is not None
                covered |= counts > 0
                log.info(
                    "light-cone shell %d/%d z %.4f-%.4f (steps %d-%d): %d particles",
                    shell.index + 1,
                    plan.n_shells,
                    shell.z_near,
                    shell.z_far,
                    self.shell_steps[shell.index][0],
                    shell.snapshot,
                    int(counts.sum()),
                )
                yield (
                    shell,
                    healpix_overdensity(counts, mean_density=density, r_near=shell.r_near, r_far=shell.r_far),
                )
            elif rank == owner:
                assert comm is not None
                assert counts is not None
                comm.Send(counts, dest=0, tag=shell.index)
        if covered is not None:
            fraction = float(covered.mean())
            if fraction < 1.0:
                log.warning(
                    "the light cone reaches %.1f%% of the sky's pixels: delta = -1 elsewhere (a "
                    "partial-sky light cone; patches outside it are empty)",
                    100 * fraction,
                )


#: The former name of :class:`LightconeSource`.
LightconeInput = LightconeSource


def lightcone_files(prefix: str | Path, *, kind: str) -> list[Path]:
    """Every thread file ``<prefix>.<step>.<kind>.<thread>`` of a run, in step then thread order.

    Parameters
    ----------
    prefix
        ``<directory>/<achOutName>``.
    kind
        ``"hpb"`` or ``"lcp"``.

    Raises
    ------
    FileNotFoundError
        No such directory or no such files.
    """
    prefix = Path(prefix)
    steps = find_step_files(prefix.parent, kind, prefix=prefix.name)
    return [f for s in steps.values() for f in s.files]


def select_shell_edges(
    boundaries: Sequence[float], *, requested: Sequence[float] | None, tolerance: float = 0.0
) -> list[int]:
    """Indices of the step ends that become shell edges.

    Parameters
    ----------
    boundaries
        Redshifts at the ends of the light cone's steps, starting with the end of the step
        before the first (strictly decreasing).
    requested
        Output redshifts to put edges near (each requested redshift inside the light cone's
        range, widened by ``tolerance``, takes the nearest step end); None: every step end.
    tolerance
        How far outside the light cone's range a requested redshift may lie.

    Returns
    -------
    list of int
        Increasing indices into ``boundaries`` (decreasing redshift), at least two.

    Raises
    ------
    ValueError
        Fewer than two edges.
    """
    b = np.asarray(boundaries, dtype=np.float64)
    if requested is None:
        chosen = list(range(b.size))
    else:
        # (plus a rounding margin: a code's last step ends at z ~ 1e-15, not at the requested 0)
        slack = max(float(tolerance), _Z_ROUNDING)
        lo, hi = float(b[-1]) - slack, float(b[0]) + slack
        inside = [float(z) for z in requested if lo <= float(z) <= hi]
        chosen = sorted({int(np.argmin(np.abs(b - z))) for z in inside})
    if len(chosen) < 2:
        raise ValueError(
            f"the light cone covers z = {b[-1]:.6g} ... {b[0]:.6g} (steps' ends); the requested output "
            f"redshifts {list(requested or [])} give {len(chosen)} shell edge(s) in that range, need at "
            "least 2 (set simulations.output_redshifts inside it, or shells.lightcone_edges: steps)"
        )
    return chosen


def _nonempty(step: StepFiles) -> bool:
    return any(f.stat().st_size > 0 for f in step.files)


def _lightcone_steps(prefix: Path, kind: str) -> list[StepFiles]:
    """The run's steps inside the light cone (contiguous), increasing."""
    found = find_step_files(prefix.parent, kind, prefix=prefix.name)
    steps = list(found.values())
    if kind == "lcp":  # files exist for every step; the light cone starts at the first non-empty one
        first = next((i for i, s in enumerate(steps) if _nonempty(s)), None)
        if first is None:
            raise ValueError(f"{prefix}.*.lcp.*: every light-cone particle file is empty")
        steps = steps[first:]
    numbers = [s.step for s in steps]
    missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
    if missing:
        raise ValueError(
            f"{prefix}.*.{kind}.*: light-cone steps {missing} are missing between steps "
            f"{numbers[0]} and {numbers[-1]}"
        )
    return steps


def plan_lightcone_maps(
    prefix: str | Path,
    *,
    kind: str,
    step_redshifts: str | Path,
    cosmology: Mapping[str, float],
    box: float,
    n_particles: int,
    cosmology_id: str,
    simulation: str,
    output_redshifts: Sequence[float] | None,
    shells_config: Mapping[str, Any],
    lensing_config: Mapping[str, Any] | None,
    redshift_tolerance: float = 0.0,
    base_dir: str | Path = ".",
) -> MapPlan:
    """Find the light-cone steps, cut them into shells and compute the Born weights.

    Parameters
    ----------
    prefix
        ``<directory>/<achOutName>`` of the run.
    kind
        ``"hpb"`` or ``"lcp"``.
    step_redshifts
        The run's PkdGrav3 ``.log`` or a two-column ``step z`` table.
    cosmology
        omega_m, sigma8, h, omega_b, n_s of the run.
    box
        Box side, Mpc/h.
    n_particles
        Particles in the box (``nGrid³``): the mean density is ``n_particles / box³``.
    cosmology_id, simulation
        Identity (grid id, ``simNN``).
    output_redshifts
        Where to put shell edges (``shells.lightcone_edges = "output_redshifts"``).
    shells_config, lensing_config
        The ``shells:`` and ``lensing:`` blocks.
    redshift_tolerance
        Requested redshifts this far outside the light cone still take its nearest step end.
    base_dir
        Directory the n(z) paths are relative to.

    Raises
    ------
    ValueError
        Settings that do not fit a light cone (``n_realisations != 1``, pencil-beam mode), a
        step the table lacks, missing steps, fewer than two shell edges.
    """
    if kind not in LIGHTCONE_KINDS.values():
        raise ValueError(f"kind must be one of {sorted(LIGHTCONE_KINDS.values())}, got {kind!r}")
    settings = MapSettings.from_config(shells_config)
    if settings.source == "snapshots":
        settings = replace(settings, source=SOURCE_OF_KIND[kind])
    if LIGHTCONE_KINDS.get(settings.source) != kind:
        raise ValueError(f"shells.source {settings.source!r} does not read .{kind} files")
    if settings.mode != "healpix":
        raise ValueError(f"a light cone needs shells.mode 'healpix', got {settings.mode!r}")
    if settings.n_realisations != 1:
        raise ValueError(
            f"shells.n_realisations must be 1 for a light cone (one observer, one sky; "
            f"for more patches raise shells.patch_nside), got {settings.n_realisations}"
        )
    prefix, table_path = Path(prefix), Path(step_redshifts)
    table = load_step_redshifts(table_path)
    steps = _lightcone_steps(prefix, kind)
    numbers = [s.step for s in steps]
    ends = [numbers[0] - 1, *numbers]
    absent = [n for n in ends if n not in table]
    if absent:
        raise ValueError(
            f"{table_path}: no redshift for step(s) {absent} (the light cone has steps "
            f"{numbers[0]} ... {numbers[-1]})"
        )
    boundaries = [table[n] for n in ends]
    if any(b >= a for a, b in itertools.pairwise(boundaries)):
        raise ValueError(f"{table_path}: redshifts of steps {ends[0]} ... {ends[-1]} do not decrease")
    requested = None if settings.lightcone_edges == "steps" else list(output_redshifts or [])
    chosen = select_shell_edges(boundaries, requested=requested, tolerance=redshift_tolerance)
    cosmo = shell_cosmology(cosmology)
    shells = shells_from_redshifts([boundaries[i] for i in chosen], cosmo=cosmo)
    # shells_from_redshifts numbers the edges far to near: shell of edges k-1 (far), k (near)
    # holds the steps after step end chosen[k-1] up to step end chosen[k].
    shell_steps, step_shells = [], []
    for sh in shells:
        far, near = chosen[sh.snapshot - 1], chosen[sh.snapshot]
        group = tuple(ends[far + 1 : near + 1])
        shell_steps.append(group)
        step_shells.append(replace(sh, snapshot=group[-1]))
    file_nside = None
    if kind == "hpb":
        file_nside = HealpixShellReader.from_step_files(steps[0]).nside
        if settings.nside > file_nside:
            raise ValueError(
                f"shells.nside {settings.nside} exceeds the nside {file_nside} of the "
                f"light-cone HEALPix maps {steps[0].base}.* (counts cannot be refined)"
            )
    lightcone = LightconeSource(
        kind=kind,
        prefix=prefix,
        step_table=table_path,
        steps=tuple(steps),
        shell_steps=tuple(shell_steps),
        file_nside=file_nside,
    )
    weights, nz_records = born_weights_for_shells(
        step_shells,
        cosmo=cosmo,
        lensing_config=lensing_config,
        base_dir=base_dir,
        z_source_default=boundaries[chosen[0]],
    )
    used = sorted({n for group in shell_steps for n in group})
    inputs = [file_record(table_path), *(file_record(f) for f in lightcone.files_of(used))]
    lightcone = replace(lightcone, records=tuple(inputs))
    log.info(
        "light cone %s.*.%s.*: steps %d-%d, %d shells z %.4g-%.4g",
        prefix,
        kind,
        used[0],
        used[-1],
        len(step_shells),
        step_shells[0].z_near,
        step_shells[-1].z_far,
    )
    return MapPlan(
        cosmology_id=str(cosmology_id),
        simulation=str(simulation),
        cosmology={k: float(v) for k, v in cosmology.items() if isinstance(v, int | float)},
        box=float(box),
        n_particles=int(n_particles),
        snapshot_paths=(),
        redshifts=tuple(boundaries[i] for i in chosen),
        shells=tuple(step_shells),
        settings=settings,
        weights=weights,
        nz_records=nz_records,
        source=lightcone,
    )


def lightcone_overdensities(plan: MapPlan, *, comm: Comm | None = None) -> Iterator[tuple[Shell, np.ndarray]]:
    """Full-sky δ of every shell of a light-cone plan, near to far.

    Parameters
    ----------
    plan
        From :func:`plan_lightcone_maps`.
    comm
        mpi4py communicator (None: this process counts every shell). Shell ``k`` is counted by
        rank ``k mod K`` and sent to rank 0; every rank must iterate to the end.

    Yields
    ------
    tuple
        On rank 0 only: ``(shell, float64 δ RING map)``. Other ranks yield nothing.
    """
    if not isinstance(plan.source, LightconeSource):
        # a snapshot plan here is a wrong config value (shells.source), not a wrong Python type
        raise ValueError(  # noqa: TRY004
            f"{plan.cosmology_id}/{plan.simulation}: not a light-cone plan "
            f"(shells.source {plan.settings.source!r})"
        )
    return plan.source.shell_overdensities(plan, comm=comm)


def lightcone_spec_from_config(
    config: Mapping[str, Any], *, cosmology_id: str, simulation: str
) -> dict[str, Any]:
    """What the map job of one simulation needs to find and read its light cone.

    Parameters
    ----------
    config
        The (validated) pipeline configuration, with ``shells.source`` a light-cone source.
    cosmology_id, simulation
        The simulation.

    Returns
    -------
    dict
        ``kind``, ``prefix``, ``step_redshifts`` (paths), ``box`` (Mpc/h), ``n_particles``,
        ``output_redshifts``, ``redshift_tolerance``, ``cosmology_id``, ``simulation``: JSON-able,
        the keyword arguments of :func:`plan_lightcone_maps` that the configuration fixes.
    """
    sims = config["simulations"]
    source = config.get("shells", {}).get("source", "snapshots")
    if source not in LIGHTCONE_KINDS:
        raise ValueError(f"shells.source {source!r} is not a light-cone source {sorted(LIGHTCONE_KINDS)}")
    names = {"cosmology": cosmology_id, "simulation": simulation}
    directory = Path(sims.get("directory", "."))
    prefix = directory / sims["lightcone_pattern"].format(**names)
    steps = sims.get("lightcone_steps_pattern")
    table = directory / steps.format(**names) if steps else prefix.with_name(prefix.name + ".log")
    return {
        "kind": LIGHTCONE_KINDS[source],
        "prefix": str(prefix),
        "step_redshifts": str(table),
        "box": box_size_mpc_h(sims, h=config["cosmology"]["fixed"]["h"]),
        "n_particles": int(sims["n_particles_1d"]) ** 3,
        "output_redshifts": [float(z) for z in output_redshifts(sims["output_redshifts"])],
        "redshift_tolerance": float(sims.get("redshift_tolerance", 0.0)),
        "cosmology_id": str(cosmology_id),
        "simulation": str(simulation),
    }


def make_lightcone_maps(
    spec: Mapping[str, Any],
    *,
    out_path: str | Path,
    cosmology: Mapping[str, float],
    shells_config: Mapping[str, Any],
    lensing_config: Mapping[str, Any] | None,
    role: str,
    base_seed: int,
    comm: Comm | None = None,
    base_dir: str | Path = ".",
) -> Path | None:
    """Build the map file of one simulation from its PkdGrav3 light cone.

    Parameters
    ----------
    spec
        :func:`lightcone_spec_from_config` (or the same keys by hand).
    out_path
        Map file to write (atomically).
    cosmology
        omega_m, sigma8, h, omega_b, n_s of the run.
    shells_config, lensing_config
        The configuration's ``shells:`` and ``lensing:`` blocks.
    role
        ``train``, ``test`` or ``mock`` (shell stacks kept for ``shells.keep_shells`` roles).
    base_seed
        ``run.seed`` (recorded; a light cone draws nothing).
    comm
        mpi4py communicator: the shells are counted on all ranks, rank 0 writes.
    base_dir
        Directory the n(z) paths are relative to.

    Returns
    -------
    pathlib.Path or None
        The map file on rank 0, None on the other ranks.
    """
    started = utc_now()
    plan = plan_lightcone_maps(
        spec["prefix"],
        kind=spec["kind"],
        step_redshifts=spec["step_redshifts"],
        cosmology=cosmology,
        box=float(spec["box"]),
        n_particles=int(spec["n_particles"]),
        cosmology_id=spec["cosmology_id"],
        simulation=spec["simulation"],
        output_redshifts=spec.get("output_redshifts"),
        redshift_tolerance=float(spec.get("redshift_tolerance", 0.0)),
        shells_config=shells_config,
        lensing_config=lensing_config,
        base_dir=base_dir,
    )
    return write_simulation_maps(
        plan,
        out_path=out_path,
        shells_config=shells_config,
        lensing_config=lensing_config,
        role=role,
        base_seed=base_seed,
        comm=comm,
        started=started,
    )
