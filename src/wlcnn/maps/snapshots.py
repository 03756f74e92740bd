"""Shells cut from the snapshots of an ingested simulation (the :class:`SnapshotSource`).

:func:`plan_maps` reads the ingestion manifest and every snapshot's TRUE header redshift (from
the canonical file itself), and cuts the redshift range into shells
(:mod:`wlcnn.maps.shells`). In HEALPix mode each full-sky realisation is a random transform of
the replicated box (:meth:`SnapshotSource.overdensities`), seeded per (cosmology, simulation,
snapshot, realisation), so a realisation is the same whichever rank makes it; the ranks split
the realisations (:func:`wlcnn.maps.parallel.split_range`).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from wlcnn.io.canonical import CANONICAL_FORMAT
from wlcnn.maps.cellgrid import ParticleGrid
from wlcnn.maps.healpix_shells import counts_from_snapshot, healpix_overdensity
from wlcnn.maps.parallel import Comm, rank_and_size, split_range
from wlcnn.maps.plan import (
    MapPlan,
    MapSettings,
    RankShare,
    ShellOverdensity,
    born_weights_for_shells,
    realisation_transform,
    shell_cosmology,
)
from wlcnn.maps.shells import shells_from_redshifts
from wlcnn.provenance import file_record

__all__ = ["SnapshotSource", "plan_maps", "read_snapshot_positions"]

log = logging.getLogger(__name__)

#: Relative tolerance between the manifest's redshift and the snapshot file's header redshift.
_REDSHIFT_RTOL = 1e-9
#: Absolute tolerance of the same comparison (a redshift of 0 written as ~1e-15).
_REDSHIFT_ATOL = 1e-12
#: Relative tolerance between the manifest's box and a snapshot's.
_BOX_RTOL = 1e-9


def read_snapshot_positions(path: str | Path) -> tuple[np.ndarray, float]:
    """``(pos float32 (N, 3) Mpc/h, box Mpc/h)`` of a canonical snapshot."""
    with h5py.File(path, "r") as fh:
        return fh["particles/pos"][()], float(fh.attrs["box"])


@dataclass(frozen=True)
class SnapshotSource:
    """Shells cut from canonical snapshots through replicas of the box.

    Attributes
    ----------
    records
        Provenance records of the manifest and of the snapshots (from the manifest).
    """

    records: tuple[dict[str, Any], ...]

    @property
    def inputs(self) -> tuple[dict[str, Any], ...]:
        """Provenance records of the manifest and the snapshots."""
        return self.records

    def share(self, n_realisations: int, *, comm: Comm | None) -> RankShare:
        """A contiguous block of realisations per rank, gathered on rank 0."""
        rank, size = rank_and_size(comm)
        return RankShare(realisations=split_range(n_realisations, size, rank), gather_comm=comm)

    def overdensities(
        self,
        plan: MapPlan,
        skies: np.ndarray,
        *,
        base_seed: int,
        comm: Comm | None,  # noqa: ARG002 - the MapSource interface; skies are already split by rank
    ) -> Iterator[ShellOverdensity]:
        """Full-sky δ of every (shell, sky) cut from the snapshots with replicas, shell by shell.

        Each snapshot is read once; ``comm`` is not used (the ranks split the skies).
        """
        s = plan.settings
        for shell in plan.shells:
            pos, box = read_snapshot_positions(plan.snapshot_paths[shell.snapshot])
            grid = ParticleGrid.build(pos, box=box, particles_per_cell=s.particles_per_cell)
            del pos
            for i, sky in enumerate(skies):
                tr = realisation_transform(plan, base_seed=base_seed, shell=shell, realisation=int(sky))
                counts, n_tested = counts_from_snapshot(
                    grid, r_near=shell.r_near, r_far=shell.r_far, nside=s.nside, transform=tr
                )
                d_sky = healpix_overdensity(
                    counts, mean_density=grid.mean_density, r_near=shell.r_near, r_far=shell.r_far
                )
                yield shell, i, d_sky, tr.symmetry, tr.shift, n_tested
            log.info(
                "healpix shell %d/%d z %.3f-%.3f: %d skies",
                shell.index + 1,
                plan.n_shells,
                shell.z_near,
                shell.z_far,
                skies.size,
            )

    def assist(self, plan: MapPlan, *, comm: Comm | None) -> None:
        """Nothing: every rank projects its own realisations."""

    def attributes(self) -> dict[str, Any]:
        """No extra attributes (the file format's default source)."""
        return {}


def _snapshot_redshift(path: Path) -> tuple[float, float, int]:
    """(redshift, box, n_particles) from a canonical snapshot's header."""
    with h5py.File(path, "r") as fh:
        if fh.attrs.get("format") != CANONICAL_FORMAT:
            raise ValueError(f"{path}: not a canonical snapshot (format {fh.attrs.get('format')!r})")
        n = int(fh["particles/pos"].shape[0]) if "particles/pos" in fh else int(fh.attrs["n_particles"])
        return float(fh.attrs["redshift"]), float(fh.attrs["box"]), n


def plan_maps(
    manifest_path: str | Path,
    *,
    cosmology: Mapping[str, float] | None,
    shells_config: Mapping[str, Any],
    lensing_config: Mapping[str, Any] | None,
    base_dir: str | Path = ".",
) -> MapPlan:
    """Read the manifest and headers, define the shells and compute the Born weights.

    Parameters
    ----------
    manifest_path
        ``manifest.json`` of the ingested simulation.
    cosmology
        omega_m, sigma8, h, omega_b, n_s; None: the manifest's.
    shells_config
        The ``shells:`` block.
    lensing_config
        The ``lensing:`` block (``nz_files``, ``z_source_max``, ``ia_c1_rho_crit``, ...); None
        or without ``nz_files``: no Born maps, only shells.
    base_dir
        Directory the n(z) paths are relative to.

    Raises
    ------
    ValueError
        If a snapshot's header redshift disagrees with the manifest, or boxes differ.
    """
    manifest_path = Path(manifest_path)
    manifest = json.loads(manifest_path.read_text())
    identity = manifest.get("identity") or {}
    cosmo_params = dict(cosmology if cosmology is not None else manifest["cosmology"])
    paths, redshifts = [], []
    box = float(manifest["box"])
    n_particles = None
    for entry in manifest["snapshots"]:
        path = Path(entry["path"])
        if not path.is_absolute():
            path = manifest_path.parent / path
        z, snap_box, n = _snapshot_redshift(path)
        if not math.isclose(z, float(entry["redshift"]), rel_tol=_REDSHIFT_RTOL, abs_tol=_REDSHIFT_ATOL):
            raise ValueError(f"{path}: header redshift {z} differs from the manifest's {entry['redshift']}")
        if not math.isclose(snap_box, box, rel_tol=_BOX_RTOL):
            raise ValueError(f"{path}: box {snap_box} Mpc/h differs from the manifest's {box}")
        if n_particles is not None and n != n_particles:
            raise ValueError(f"{path}: {n} particles, but the first snapshot has {n_particles}")
        n_particles = n
        paths.append(path)
        redshifts.append(z)
    settings = MapSettings.from_config(shells_config)
    if settings.source != "snapshots":
        raise ValueError(
            f"shells.source is {settings.source!r}: a light cone has no ingestion manifest "
            "(use wlcnn.maps.lightcone.plan_lightcone_maps)"
        )
    cosmo = shell_cosmology(cosmo_params)
    shells = tuple(shells_from_redshifts(redshifts, cosmo=cosmo))
    weights, nz_records = born_weights_for_shells(
        shells, cosmo=cosmo, lensing_config=lensing_config, base_dir=base_dir, z_source_default=max(redshifts)
    )
    inputs = [file_record(manifest_path)]
    inputs += [e.get("output") or {"path": e["path"]} for e in manifest["snapshots"]]
    return MapPlan(
        cosmology_id=str(identity.get("cosmology", "")),
        simulation=str(identity.get("simulation", "")),
        cosmology={k: float(v) for k, v in cosmo_params.items() if isinstance(v, int | float)},
        box=box,
        n_particles=int(n_particles or 0),
        snapshot_paths=tuple(paths),
        redshifts=tuple(redshifts),
        shells=shells,
        settings=settings,
        weights=weights,
        nz_records=nz_records,
        source=SnapshotSource(records=tuple(inputs)),
    )
