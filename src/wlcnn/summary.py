"""``wlcnn summary CONFIG`` (or ``python -m wlcnn.summary CONFIG``): what a run has produced so far."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from wlcnn.config import load_config
from wlcnn.grid import read_grid, simulations

__all__ = ["SUMMARY", "add_arguments", "main", "run", "summarise"]

#: One-line description of the command.
SUMMARY = "what a run has produced so far, stage by stage, and its constraints table"


def summarise(config_path: str | Path, *, base_dir: str | Path = ".") -> str:
    """A short text report of the outputs of the run configured in ``config_path``."""
    cfg = load_config(config_path, base_dir=base_dir)
    out = Path(base_dir) / cfg["run"]["output_dir"]
    sims = simulations(read_grid(Path(base_dir) / cfg["cosmology"]["grid"]))
    lines = [f"run '{cfg['run']['name']}' in {out}"]
    n_done, n_snap, n_part, z_lo, z_hi = 0, 0, 0, float("inf"), -float("inf")
    for sim in sims:
        path = out / "ingested" / sim.cosmology.id / sim.name / "manifest.json"
        if path.is_file():
            manifest = json.loads(path.read_text())
            n_done += 1
            n_snap += len(manifest["snapshots"])
            n_part += sum(s["n_particles"] for s in manifest["snapshots"])
            z_lo = min(z_lo, *(s["redshift"] for s in manifest["snapshots"]))
            z_hi = max(z_hi, *(s["redshift"] for s in manifest["snapshots"]))
    lines.append(
        f"  ingestion: {n_done}/{len(sims)} simulations, {n_snap} snapshots, "
        f"{n_part:,} particles" + (f", z = {z_hi:.4f} ... {z_lo:.4f}" if n_done else "")
    )
    stages = {
        "maps": sorted((out / "maps").glob("*/*.h5")),
        "survey patch maps": sorted((out / "survey").glob("patch_maps.h5")),
        "trained networks": sorted((out / "training").glob("*/model.keras")),
        "plots": sorted((out / "plots").glob("*.png")),
    }
    for name, files in stages.items():
        listing = f" ({', '.join(f.name for f in files)})" if name == "plots" else ""
        lines.append(f"  {name}: {len(files)}{listing}")
    table = out / "inference" / "constraints.md"
    if table.is_file():
        lines.append(f"  constraints ({table}):")
        lines.extend("    " + row for row in table.read_text().splitlines() if row.strip())
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of the command (``wlcnn summary``, ``python -m wlcnn.summary``)."""
    p.description = (
        "What a run has produced so far: simulations ingested, map files, survey patch maps,\n"
        "trained networks, plots, and the constraints table once the inference stage has run."
    )
    p.epilog = "example:\n  wlcnn summary config/demo.yaml"
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("config", help="configuration file of the run (e.g. config/demo.yaml)")
    p.add_argument("--base-dir", default=".", help="directory relative to which config paths resolve")


def run(args: argparse.Namespace) -> int:
    """Print :func:`summarise` of the parsed configuration; returns the exit status."""
    print(summarise(args.config, base_dir=args.base_dir))  # noqa: T201 - the CLI reports on stdout
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Print :func:`summarise` of a configuration (the ``python -m wlcnn.summary`` alias)."""
    parser = argparse.ArgumentParser(prog="python -m wlcnn.summary")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
