"""Shells and maps: particles -> shell overdensities -> Born κ and κ_IA (SPEC §2, §3).

One concept per module:

- :mod:`wlcnn.maps.symmetries`: the 48 box symmetries and the seeded random shift per realisation.
- :mod:`wlcnn.maps.gnomonic`: the patch pixel convention, exact pixel solid angles, sky <-> plane.
- :mod:`wlcnn.maps.shells`: which snapshot fills which redshift shell (true header redshifts).
- :mod:`wlcnn.maps.cellgrid`: particles sorted by cell, to touch only those a beam can reach.
- :mod:`wlcnn.maps.pencil_beam`: the KiDS-450 pencil-beam projection (compiled kernel + numpy reference).
- :mod:`wlcnn.maps.healpix_shells`: full-sky HEALPix count shells (``.hpb``, ``.lcp``, snapshots)
  and gnomonic patches cut from HEALPix maps.
- :mod:`wlcnn.maps.plan`: settings, the plan of a simulation's maps, Born weights, the
  :class:`~wlcnn.maps.plan.ShellSource` protocol, the memory model of a map job.
- :mod:`wlcnn.maps.parallel`: the ``Comm`` protocol, rank splitting, the gather on rank 0.
- :mod:`wlcnn.maps.snapshots`: the snapshot source (manifest, header redshifts, replicas).
- :mod:`wlcnn.maps.lightcone`: the PkdGrav3 light-cone source (``.hpb`` / ``.lcp``).
- :mod:`wlcnn.maps.projection`: realisations -> δ patches -> Born κ, κ_IA, in memory.
- :mod:`wlcnn.maps.simulation`: the driver: a plan's realisations shared, projected, the map file.
- :mod:`wlcnn.maps.ray_traced`: ray-traced κ, γ from the shells a map file keeps (ray-traced mocks).
- :mod:`wlcnn.maps.mapfile`: the map file's layout, writer and description (``wlcnn inspect``).
- :mod:`wlcnn.maps.mpi`: the MPI command line (``mpiexec -n K python -m wlcnn.maps.mpi ...``).

Examples
--------
>>> from wlcnn.maps import make_simulation_maps   # doctest: +SKIP
>>> make_simulation_maps("ingested/c000/sim00/manifest.json", out_path="maps/c000_sim00.h5",
...                      cosmology=None, shells_config=cfg["shells"], lensing_config=cfg["lensing"],
...                      role="train", base_seed=cfg["run"]["seed"])   # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wlcnn._lazy import attach

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from wlcnn.maps.gnomonic import PatchGeometry
    from wlcnn.maps.lightcone import make_lightcone_maps
    from wlcnn.maps.mapfile import describe_map_file, format_description, is_map_file, read_map_attrs
    from wlcnn.maps.plan import MapPlan, MapSettings, estimate_memory_mb
    from wlcnn.maps.projection import project_realisations
    from wlcnn.maps.shells import Shell, shells_from_redshifts
    from wlcnn.maps.simulation import make_simulation_maps
    from wlcnn.maps.snapshots import plan_maps
    from wlcnn.maps.symmetries import N_SYMMETRIES, BoxTransform, draw_transform

__all__ = [
    "BoxTransform",
    "MapPlan",
    "MapSettings",
    "N_SYMMETRIES",
    "PatchGeometry",
    "Shell",
    "describe_map_file",
    "draw_transform",
    "estimate_memory_mb",
    "format_description",
    "is_map_file",
    "make_lightcone_maps",
    "make_simulation_maps",
    "plan_maps",
    "project_realisations",
    "read_map_attrs",
    "shells_from_redshifts",
]

#: Public name -> the submodule that defines it. Loaded on first use, so that ``wlcnn inspect``
#: (which needs only :mod:`wlcnn.maps.mapfile`) does not pay for numba, pyccl and healpy.
_HOME = {
    "N_SYMMETRIES": "symmetries",
    "BoxTransform": "symmetries",
    "draw_transform": "symmetries",
    "PatchGeometry": "gnomonic",
    "Shell": "shells",
    "shells_from_redshifts": "shells",
    "describe_map_file": "mapfile",
    "format_description": "mapfile",
    "is_map_file": "mapfile",
    "read_map_attrs": "mapfile",
    "MapPlan": "plan",
    "MapSettings": "plan",
    "estimate_memory_mb": "plan",
    "make_simulation_maps": "simulation",
    "plan_maps": "snapshots",
    "project_realisations": "projection",
    "make_lightcone_maps": "lightcone",
}

__getattr__, __dir__ = attach(__name__, _HOME, public=__all__)
