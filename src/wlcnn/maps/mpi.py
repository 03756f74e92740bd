r"""MPI driver of the map stage: realisations split across ranks, one map file per simulation.

Usage (one job per (cosmology, simulation))::

    mpiexec -n 8 python -m wlcnn.maps.mpi --config config/config.yaml \\
        --manifest results/kids450/ingested/c000/sim00/manifest.json \\
        --out results/kids450/maps/c000/sim00.h5

Every rank reads the shells' snapshots and projects a contiguous block of realisations
(:func:`split_range`); rank 0 then receives the blocks in rank order and writes them in
realisation order (:func:`gather_to_root`). Each realisation is seeded by its identity, never
by the rank, and κ is formed one realisation at a time, so the file's data are byte-identical
for any number of ranks (the provenance attribute records times, host and rank count).

A workflow rule can pass the settings as JSON instead of a configuration file (``--params
'{"shells": {...}, "lensing": {...}, "seed": 42, "role": "test"}'``). Without mpi4py, or
outside ``mpiexec``, the same command runs on one process.

PkdGrav3 light cones (``shells.source: lightcone_healpix | lightcone_particles``) need no
manifest: the JSON carries a ``"lightcone"`` block (:func:`wlcnn.maps.lightcone.lightcone_spec_from_config`),
or, with ``--config``, name the simulation with ``--identity COSMOLOGY/SIMULATION``;
``--lightcone PREFIX`` and ``--step-redshifts FILE`` override the configured paths. One light
cone is one sky: the ranks share its shells instead of realisations (:mod:`wlcnn.maps.lightcone`),
with the same byte-identical output for any number of ranks::

    mpiexec -n 4 python -m wlcnn.maps.mpi --config config/config.yaml --identity c000/sim00 \\
        --out results/kids450/maps/c000/sim00.h5
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wlcnn.config import load_config
from wlcnn.grid import read_grid, simulations
from wlcnn.logs import setup_rule_logging
from wlcnn.maps.lightcone import lightcone_spec_from_config, make_lightcone_maps
from wlcnn.maps.parallel import Comm, gather_to_root, split_range
from wlcnn.maps.simulation import make_simulation_maps

__all__ = ["gather_to_root", "main", "split_range"]

log = logging.getLogger(__name__)


def _role_of(config: Mapping[str, Any], *, cosmology_id: str, simulation: str, base_dir: Path) -> str:
    """Role of a simulation from the configuration's grid."""
    grid = read_grid(base_dir / config["cosmology"]["grid"], prior=config["cosmology"]["prior"])
    for sim in simulations(grid):
        if sim.cosmology.id == cosmology_id and sim.name == simulation:
            return sim.role
    raise ValueError(f"{cosmology_id}/{simulation} is not in the grid {config['cosmology']['grid']}")


def _lightcone_from_config(
    config: Mapping[str, Any], args: argparse.Namespace, *, base_dir: Path
) -> tuple[dict[str, Any], dict[str, float], str]:
    """(light-cone spec, cosmology, role) of the simulation named by ``--identity``."""
    if not args.identity or args.identity.count("/") != 1:
        raise ValueError("a light-cone source with --config needs --identity COSMOLOGY/SIMULATION")
    cosmology_id, simulation = args.identity.split("/")
    grid = read_grid(base_dir / config["cosmology"]["grid"], prior=config["cosmology"]["prior"])
    entry = next((c for c in grid if c.id == cosmology_id), None)
    if entry is None:
        raise ValueError(f"cosmology {cosmology_id!r} is not in the grid {config['cosmology']['grid']}")
    cosmology = {"omega_m": entry.omega_m, "sigma8": entry.sigma8, **config["cosmology"]["fixed"]}
    role = args.role or _role_of(config, cosmology_id=cosmology_id, simulation=simulation, base_dir=base_dir)
    spec = lightcone_spec_from_config(config, cosmology_id=cosmology_id, simulation=simulation)
    return spec, cosmology, role


def _text_or_file(value: str) -> str:
    """``value`` itself, or the content of the file it names."""
    if value.lstrip().startswith("{"):
        return value
    return Path(value).read_text()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m wlcnn.maps.mpi",
        description="Project every shell realisation of one simulation and write its map file "
        "(kappa, kappa_IA and, for test/mock roles, the shell stacks). Run under "
        "'mpiexec -n K' to split the realisations over K ranks; the output is the same "
        "for any K.",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--config", help="pipeline configuration YAML (run.seed, shells:, lensing:, cosmology:)"
    )
    source.add_argument(
        "--params",
        metavar="JSON",
        help="instead of --config: JSON text or file with keys 'shells', 'lensing', 'seed', "
        "'role' and optionally 'cosmology' (what a workflow rule passes; needs no grid)",
    )
    p.add_argument(
        "--manifest", default=None, help="the simulation's ingestion manifest.json (shells.source: snapshots)"
    )
    p.add_argument(
        "--identity",
        metavar="COSMOLOGY/SIMULATION",
        default=None,
        help="light-cone sources with --config: which simulation (e.g. c000/sim00)",
    )
    p.add_argument(
        "--lightcone",
        metavar="PREFIX",
        default=None,
        help="light-cone sources: <directory>/<achOutName> of the PkdGrav3 run (overrides the "
        "configured simulations.lightcone_pattern)",
    )
    p.add_argument(
        "--step-redshifts",
        metavar="FILE",
        default=None,
        help="light-cone sources: the run's PkdGrav3 .log or a 'step z' table (overrides the configured one)",
    )
    p.add_argument("--out", required=True, help="map file to write (HDF5, atomically)")
    p.add_argument(
        "--role",
        choices=["train", "test", "mock"],
        default=None,
        help="simulation role (default: looked up in the configuration's grid)",
    )
    p.add_argument("--base-dir", default=".", help="directory the configuration's relative paths refer to")
    p.add_argument("--n-realisations", type=int, default=None, help="override shells.n_realisations")
    p.add_argument("--log", default=None, help="log file (rank 0; default stderr)")
    p.add_argument("--no-mpi", action="store_true", help="do not import mpi4py (single process)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (see the module docstring and ``--help``)."""
    args = _parser().parse_args(argv)
    comm: Comm | None = None
    if not args.no_mpi:
        try:
            from mpi4py import MPI  # lazy: optional, and initialises MPI when imported
        except ImportError:  # single process without mpi4py
            MPI = None  # type: ignore[assignment]  # stands for "no MPI" below
        if MPI is not None and MPI.COMM_WORLD.Get_size() > 1:
            comm = MPI.COMM_WORLD
    rank = 0 if comm is None else comm.Get_rank()
    setup_rule_logging(args.log if rank == 0 else None, level=logging.INFO if rank == 0 else logging.WARNING)
    try:
        base_dir = Path(args.base_dir)
        lightcone = None
        if args.params is not None:
            params = json.loads(_text_or_file(args.params))
            shells, lensing = dict(params["shells"]), params.get("lensing")
            seed, cosmology = int(params["seed"]), params.get("cosmology")
            role = args.role or params["role"]
            lightcone = params.get("lightcone")
        else:
            config = load_config(args.config, base_dir=base_dir)
            shells, lensing = dict(config.get("shells") or {}), config.get("lensing")
            seed, cosmology = int(config["run"]["seed"]), None
            if shells.get("source", "snapshots") != "snapshots":
                lightcone, cosmology, role = _lightcone_from_config(config, args, base_dir=base_dir)
            else:
                if args.manifest is None:
                    raise ValueError("--manifest is required for shells.source 'snapshots'")
                identity = json.loads(Path(args.manifest).read_text()).get("identity") or {}
                role = args.role or _role_of(
                    config,
                    cosmology_id=str(identity.get("cosmology")),
                    simulation=str(identity.get("simulation")),
                    base_dir=base_dir,
                )
        if args.n_realisations is not None:
            shells["n_realisations"] = args.n_realisations
        if lightcone is not None:
            lightcone = dict(lightcone)
            if args.lightcone is not None:
                lightcone["prefix"] = args.lightcone
            if args.step_redshifts is not None:
                lightcone["step_redshifts"] = args.step_redshifts
            if cosmology is None:
                raise ValueError("a light-cone source needs the cosmology ('cosmology' in --params)")
            make_lightcone_maps(
                lightcone,
                out_path=args.out,
                cosmology=cosmology,
                shells_config=shells,
                lensing_config=lensing,
                role=role,
                base_seed=seed,
                comm=comm,
                base_dir=base_dir,
            )
        else:
            if args.manifest is None:
                raise ValueError("--manifest is required unless the settings name a light cone")
            make_simulation_maps(
                args.manifest,
                out_path=args.out,
                cosmology=cosmology,
                shells_config=shells,
                lensing_config=lensing,
                role=role,
                base_seed=seed,
                comm=comm,
                base_dir=base_dir,
            )
    except Exception:
        log.exception("map stage failed on rank %d", rank)
        if comm is not None and comm.Get_size() > 1:
            comm.Abort(1)  # the other ranks may be blocked in a Send/Recv
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
