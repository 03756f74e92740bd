"""Maps of one simulation: every realisation projected, the Born κ and κ_IA, the map file.

:func:`make_simulation_maps` is what the workflow runs, once per (cosmology, simulation), under
MPI or not (:mod:`wlcnn.maps.mpi`). It

1. plans the maps (:func:`wlcnn.maps.snapshots.plan_maps`: manifest, TRUE header redshifts,
   shells, Born weights of the mean n(z); ``born = False`` in the file when the configuration
   names no n(z));
2. lets the plan's source share the work over the ranks (:mod:`wlcnn.maps.parallel`);
3. projects this rank's realisations (:func:`wlcnn.maps.projection.project_realisations`);
4. writes the map file (:mod:`wlcnn.maps.mapfile`), gathering the ranks' blocks on rank 0 in
   realisation order.

:func:`write_simulation_maps` is steps 2-4 for any plan, whatever its :class:`ShellSource`
(a PkdGrav3 light cone: :func:`wlcnn.maps.lightcone.make_lightcone_maps`).

The names of the plan, projection and snapshot modules are re-exported here, where the map
stage's callers have always found them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import healpy as hp
import numpy as np

from wlcnn.maps.healpix_shells import patch_centres
from wlcnn.maps.mapfile import MapFileWriter
from wlcnn.maps.parallel import Comm, gather_to_root, rank_and_size
from wlcnn.maps.pencil_beam import expected_counts
from wlcnn.maps.plan import (
    DEFAULT_KEEP_SHELLS,
    DEFAULT_PATCH_NSIDE,
    LIGHTCONE_EDGES,
    MODES,
    SOURCES,
    MapPlan,
    MapSettings,
    ShellSource,
    born_weights_for_shells,
    estimate_memory_mb,
)
from wlcnn.maps.projection import RealisationMaps, project_realisations
from wlcnn.maps.shells import shot_noise_cl
from wlcnn.maps.snapshots import plan_maps, read_snapshot_positions
from wlcnn.maps.symmetries import TRANSFORM_STREAM
from wlcnn.provenance import provenance_record, utc_now

__all__ = [
    "DEFAULT_KEEP_SHELLS",
    "DEFAULT_PATCH_NSIDE",
    "LIGHTCONE_EDGES",
    "MODES",
    "SOURCES",
    "MapPlan",
    "MapSettings",
    "RealisationMaps",
    "ShellSource",
    "born_weights_for_shells",
    "estimate_memory_mb",
    "make_simulation_maps",
    "plan_maps",
    "project_realisations",
    "read_snapshot_positions",
    "write_simulation_maps",
]

log = logging.getLogger(__name__)


def _write_static(writer: MapFileWriter, plan: MapPlan) -> None:
    """Shell table, N̄ per pixel, weights, patch centres: what does not depend on the realisation."""
    s = plan.settings
    for name in ("z_near", "z_far", "r_near", "r_far"):
        values = [getattr(sh, name) for sh in plan.shells]
        writer.write_static(f"shells/{name}", np.asarray(values, dtype=np.float64))
    writer.write_static("shells/snapshot", np.asarray([sh.snapshot for sh in plan.shells], dtype=np.int64))
    if s.mode == "pencil_beam":
        density = plan.n_particles / plan.box**3
        expected = [expected_counts(sh, s.geometry, density) for sh in plan.shells]
        empty = np.zeros((0, s.n_pix, s.n_pix))
        writer.write_static("shells/expected", np.stack(expected) if expected else empty)
    else:
        writer.write_static("healpix/patch_centres", patch_centres(s.patch_nside))
    if plan.weights is not None:
        writer.write_static("weights/born", np.asarray(plan.weights.born_weights, dtype=np.float64))
        writer.write_static("weights/ia", np.asarray(plan.weights.ia_weights, dtype=np.float64))
        writer.write_static("weights/delta_d", np.asarray(plan.weights.delta_d, dtype=np.float64))


def make_simulation_maps(
    manifest_path: str | Path,
    *,
    out_path: str | Path,
    cosmology: Mapping[str, float] | None,
    shells_config: Mapping[str, Any],
    lensing_config: Mapping[str, Any] | None,
    role: str,
    base_seed: int,
    comm: Comm | None = None,
    base_dir: str | Path = ".",
) -> Path | None:
    """Project every realisation of a simulation and write its map file.

    Parameters
    ----------
    manifest_path
        The simulation's ingestion ``manifest.json``.
    out_path
        Map file to write (atomically).
    cosmology
        omega_m, sigma8, h, omega_b, n_s (None: the manifest's).
    shells_config, lensing_config
        The configuration's ``shells:`` and ``lensing:`` blocks.
    role
        ``train``, ``test`` or ``mock``; shell stacks are kept for ``shells.keep_shells`` roles.
    base_seed
        ``run.seed``.
    comm
        An mpi4py communicator (:class:`wlcnn.maps.parallel.Comm`) to split the work over (None:
        this process does all).
        Every rank must call; rank 0 writes.
    base_dir
        Directory the n(z) paths are relative to.

    Returns
    -------
    pathlib.Path or None
        The map file on rank 0, None on the other ranks.
    """
    started = utc_now()
    plan = plan_maps(
        manifest_path,
        cosmology=cosmology,
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


def write_simulation_maps(
    plan: MapPlan,
    *,
    out_path: str | Path,
    shells_config: Mapping[str, Any],
    lensing_config: Mapping[str, Any] | None,
    role: str,
    base_seed: int,
    comm: Comm | None = None,
    started: str | None = None,
) -> Path | None:
    """Project every realisation of a planned simulation and write its map file.

    The plan's source decides how the ranks share the work (:meth:`ShellSource.share`):
    snapshot plans (:func:`plan_maps`) split the realisations over the ranks; light-cone plans
    (:func:`wlcnn.maps.lightcone.plan_lightcone_maps`) have one sky, and split the counting of
    its shells over the ranks instead (integer count maps, summed on rank 0 in shell order), so
    the file is byte-identical for any number of ranks either way.

    Parameters
    ----------
    plan
        The simulation's plan (identical on every rank).
    out_path, shells_config, lensing_config, role, base_seed, comm
        As for :func:`make_simulation_maps`.
    started
        Start time for the provenance record (None: now).

    Returns
    -------
    pathlib.Path or None
        The map file on rank 0, None on the other ranks.
    """
    started = started or utc_now()
    rank, size = rank_and_size(comm)
    s = plan.settings
    keep = role in s.keep_shells
    t0 = time.perf_counter()
    share = plan.source.share(s.n_realisations, comm=comm)
    if share.helper:  # e.g. count this rank's light-cone shells and send them to rank 0
        plan.source.assist(plan, comm=comm)
        return None
    mine = share.realisations
    maps = project_realisations(plan, mine, base_seed=base_seed, keep_shells=keep, comm=comm)
    elapsed = time.perf_counter() - t0
    log.info(
        "rank %d/%d: realisations %d-%d in %.1f s (%.3g particles tested)",
        rank,
        size,
        mine.start,
        mine.stop - 1,
        elapsed,
        maps.tested,
    )
    # (array, rows per realisation of the split): HEALPix mode has patches_per_sky map rows per
    # full-sky realisation but one transform row.
    per = s.patches_per_sky
    blocks = {
        "kappa": (maps.kappa, per),
        "kappa_ia": (maps.kappa_ia, per),
        "shells__delta": (maps.delta if keep else None, per),
        "realisations__symmetry": (maps.symmetry, 1),
        "realisations__shift": (maps.shift, 1),
        "healpix__kappa": (maps.fullsky_kappa, 1),
        "healpix__kappa_ia": (maps.fullsky_kappa_ia, 1),
    }
    if rank != 0:
        gather_to_root(share.gather_comm, blocks, writer=None, n_realisations=s.n_realisations)
        return None
    config_subset = {
        "shells": dict(shells_config),
        "lensing": dict(lensing_config or {}),
        "cosmology": plan.cosmology,
        "role": role,
        "base_seed": int(base_seed),
    }
    prov = provenance_record(
        step="maps",
        inputs=[*plan.inputs, *plan.nz_records],
        config=config_subset,
        started=started,
        extra={"mpi_ranks": size, "particles_tested_rank0": maps.tested},
    )
    attrs = {
        "mode": s.mode,
        "role": role,
        "cosmology_id": plan.cosmology_id,
        "simulation": plan.simulation,
        "cosmology": plan.cosmology,
        "box": plan.box,
        "n_particles": plan.n_particles,
        "n_realisations": plan.n_maps,
        "n_bins": plan.n_bins,
        "n_shells": plan.n_shells,
        "n_pix": s.n_pix,
        "patch_size_deg": s.patch_size_deg,
        "pixel_size_arcmin": s.geometry.pixel_size_arcmin,
        "base_seed": int(base_seed),
        "seed_identity": [
            TRANSFORM_STREAM,
            plan.cosmology_id,
            plan.simulation,
            "<snapshot>",
            "<realisation>",
        ],
        "nz": list(plan.nz_records),
        "nz_checksum": plan.nz_checksum or "",
        "shells": [sh.to_dict() for sh in plan.shells],
        "provenance": prov,
    }
    if plan.weights is not None:
        density = plan.n_particles / plan.box**3
        attrs["shot_noise_cl_kappa"] = shot_noise_cl(
            plan.shells, mean_density=density, coefficients=plan.weights.convergence_coefficients
        )
        attrs["shot_noise_cl_kappa_ia"] = shot_noise_cl(
            plan.shells, mean_density=density, coefficients=plan.weights.ia_coefficients
        )
    if s.mode == "healpix":
        attrs.update(nside=s.nside, patches_per_sky=s.patches_per_sky, patch_nside=s.patch_nside)
    attrs.update(plan.source.attributes())
    npix = hp.nside2npix(s.nside) if (s.mode == "healpix" and s.store_fullsky) else 0
    skies = s.n_realisations if s.mode == "healpix" else 0
    with MapFileWriter(
        out_path,
        attrs=attrs,
        n_realisations=plan.n_maps,
        n_bins=plan.n_bins,
        n_shells=plan.n_shells,
        n_pix=s.n_pix,
        born=plan.weights is not None,
        keep_shells=keep,
        fullsky_npix=npix,
        fullsky_count=skies,
    ) as writer:
        _write_static(writer, plan)
        gather_to_root(share.gather_comm, blocks, writer=writer, n_realisations=s.n_realisations)
    log.info("wrote %s (%d maps, %d shells, %d bins)", out_path, plan.n_maps, plan.n_shells, plan.n_bins)
    return Path(out_path)
