"""The ``wlcnn`` command line: one command, a subcommand per task, grouped by stage.

Run ``wlcnn --help`` or ``wlcnn COMMAND --help``. The workflow (Snakemake) calls the library
directly; these commands are for people (inspecting a file before a run, converting one snapshot
by hand, generating a cosmology grid, checking a configuration, exporting a full-sky map,
unblinding) and for the stage commands the workflow's rules may run (``train``, ``summaries``,
``constrain``, ...). ``python -m wlcnn.inference``, ``python -m wlcnn.training`` and
``python -m wlcnn.summary`` remain as aliases with the same options.

Exit status: 0 success; 1 a check found a problem (``audit``, ``diff``); 2 bad input (a bad
option, a damaged or unsuitable file, a refused unblinding), with a one-line message naming the
file, the field, what was expected and what was found; 128 + N a training stopped by signal N
after a checkpoint.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wlcnn import provenance
from wlcnn.argtypes import existing_file, integer, number_list, number_pair, output_file, real
from wlcnn.atomic import OutputPathError, atomic_paths, atomic_write_text, check_output_paths
from wlcnn.audit import BAD, ProvenanceError, audit, default_roots, format_tree
from wlcnn.config import ConfigError, load_config, output_redshifts
from wlcnn.diff import DiffInputError, diff_paths, format_report
from wlcnn.grid import GridError, format_grid, read_grid, sigma8_line_grid, simulations
from wlcnn.inference.cli import COMMANDS as INFERENCE_COMMANDS
from wlcnn.inference.cli import add_commands
from wlcnn.inference.cli import input_errors as inference_errors
from wlcnn.io import DEFAULT_CHUNK_SIZE, FORMATS, canonical, open_snapshot
from wlcnn.io.canonical import describe_canonical, is_canonical_file
from wlcnn.io.errors import SnapshotError
from wlcnn.maps.export import FULLSKY_FIELDS, export_healpix
from wlcnn.maps.mapfile import describe_map_file, format_description, is_map_file
from wlcnn.provenance import file_record, provenance_record
from wlcnn.summary import SUMMARY, run
from wlcnn.summary import add_arguments as add_summary_arguments
from wlcnn.training.cli import (
    PLOT_EPILOG,
    PLOT_SUMMARY,
    TRAIN_DESCRIPTION,
    TRAIN_EPILOG,
    TRAIN_SUMMARY,
    add_plot_arguments,
    add_train_arguments,
    run_plot,
    run_train,
)
from wlcnn.training.cli import input_errors as training_errors

__all__ = ["COMMAND_GROUPS", "build_parser", "main"]

#: Exit status of bad input (argparse's convention, shared by the stage aliases).
EXIT_BAD_INPUT = 2

#: Ωm must lie in (0, 1); σ8, Σ8, h and the box side must be positive.
_OMEGA_M = real(minimum=0.0, maximum=1.0, open_low=True, open_high=True)
_POSITIVE = real(minimum=0.0, open_low=True)
#: Default particles per streamed chunk of ``wlcnn ingest``.
DEFAULT_INGEST_CHUNK = 1 << 20

UNITS_HELP = """\
units: positions comoving Mpc/h (snapshots: in [0, box); light-cone particles: relative to the
observer); box Mpc/h; particle_mass M_sun/h; a = scale factor; z = redshift. Values a file
does not store are NaN (text) or null (JSON). For tipsy and light-cone files, which store
positions in box units, pass --box (Mpc/h) to get Mpc/h; without it positions stay in box units.
"""


def _reader_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if getattr(args, "length_unit", None) and args.length_unit != "auto":
        options["length_unit"] = args.length_unit
    if getattr(args, "box", None) is not None:
        options["box"] = args.box
    if getattr(args, "step_redshifts", None):
        options["step_redshifts"] = args.step_redshifts
    return options


def _add_reader_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        default="auto",
        choices=["auto", *FORMATS],
        help="file format (default: detect from the file's content)",
    )
    p.add_argument(
        "--length-unit",
        default="auto",
        choices=["auto", "kpc/h", "Mpc/h"],
        help="Gadget length unit (default: infer from the box size, with a plausibility check)",
    )
    p.add_argument(
        "--box",
        type=real(minimum=0.0, open_low=True),
        default=None,
        metavar="MPC_H",
        help="box side in Mpc/h for formats without it in the header (tipsy, light-cone)",
    )
    p.add_argument(
        "--step-redshifts",
        default=None,
        metavar="FILE",
        help="PkdGrav3 light-cone files: table 'step z' giving each step's redshift",
    )


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def inspect_summary(
    path: str | Path, *, format: str = "auto", chunk_size: int | None = None, **options: Any
) -> dict[str, Any]:
    """Facts about a snapshot or light-cone file, as printed by ``wlcnn inspect``."""
    reader = open_snapshot(path, format=format, **options)
    h = reader.header
    pos_min = pos_max = None
    if h.format != "pkd-healpix":
        lo = np.full(3, np.inf)
        hi = np.full(3, -np.inf)
        for chunk in reader.iter_chunks(chunk_size or DEFAULT_CHUNK_SIZE):
            if len(chunk):
                lo = np.minimum(lo, chunk.pos.min(axis=0))
                hi = np.maximum(hi, chunk.pos.max(axis=0))
        if np.isfinite(lo).all():
            pos_min, pos_max = lo.tolist(), hi.tolist()
    return {
        "format": h.format,
        "n_particles": h.n_particles,
        "a": _finite_or_none(h.a),
        "z": _finite_or_none(h.redshift),
        "box": _finite_or_none(h.box),
        "particle_mass": _finite_or_none(h.particle_mass),
        "pos_min": pos_min,
        "pos_max": pos_max,
        "omega_m": h.omega_m,
        "omega_lambda": h.omega_lambda,
        "h": h.hubble,
        "has_ids": h.has_ids,
        "files": [str(f) for f in h.files],
        "extra": {k: v for k, v in h.extra.items() if isinstance(v, (str, int, float, bool, type(None)))},
    }


def _fmt(x: Any, spec: str = ".6g") -> str:
    return "NaN" if x is None else format(x, spec)


def _cmd_inspect(args: argparse.Namespace) -> int:
    if is_map_file(args.path):  # a map file of the maps stage, not a snapshot
        info = describe_map_file(args.path)
        print(json.dumps(info, default=str) if args.json else format_description(info))
        return 0
    if args.format == "auto" and is_canonical_file(args.path):  # already ingested by `wlcnn ingest`
        info = describe_canonical(args.path)
    else:
        info = inspect_summary(args.path, format=args.format, **_reader_options(args))
    if args.json:
        print(json.dumps(info))
        return 0

    def vec(v: list[float] | None) -> str:
        return "n/a" if v is None else "[" + ", ".join(f"{c:.6g}" for c in v) + "]"

    datasets = info["extra"].get("datasets", {})
    extra = ", ".join(f"{k}={v}" for k, v in info["extra"].items() if k != "datasets")
    lines = [
        f"file:           {info['files'][0]}"
        + (f"  (+{len(info['files']) - 1} more)" if len(info["files"]) > 1 else ""),
        f"format:         {info['format']}" + (f"  ({extra})" if extra else ""),
        f"particles:      {info['n_particles']:,}",
        f"scale factor:   {_fmt(info['a'], '.6f')}   redshift: {_fmt(info['z'], '.6f')}",
        f"box:            {_fmt(info['box'])} Mpc/h",
        f"particle mass:  {_fmt(info['particle_mass'], '.6e')} M_sun/h",
        (
            f"cosmology:      Omega_m={_fmt(info['omega_m'])} Omega_L={_fmt(info['omega_lambda'])} "
            f"h={_fmt(info['h'])}"
        ),
        f"positions:      min {vec(info['pos_min'])}  max {vec(info['pos_max'])}",
    ]
    if datasets:  # a canonical file: list what it holds
        lines.append("datasets:")
        lines += [f"  /{name:24s} {dtype:8s} {tuple(shape)}" for name, (dtype, shape) in datasets.items()]
    print("\n".join(lines))
    return 0


def _ingest_pairs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """``SOURCE OUTPUT [SOURCE OUTPUT ...]`` as pairs; exit status 2 for an odd count."""
    paths = list(args.paths)
    if len(paths) % 2:
        args.parser.error(
            f"SOURCE OUTPUT: expected pairs of paths (an even number), found {len(paths)} path(s): {paths}"
        )
    return list(zip(paths[::2], paths[1::2], strict=True))


def _check_source(source: str) -> None:
    if Path(source).is_dir():
        raise OutputPathError(source, "SOURCE", "a snapshot file or multi-file base name", "a directory")


def _cmd_ingest(args: argparse.Namespace) -> int:
    # Looked up on their modules at call time, so that a patched clock or writer is the one used.
    started = provenance.utc_now()
    options = _reader_options(args)
    pairs = _ingest_pairs(args)
    for source, _ in pairs:
        _check_source(source)
    # every header is read (and checked) before anything is written
    readers = [open_snapshot(source, format=args.format, **options) for source, _ in pairs]
    outputs = [output for _, output in pairs]
    check_output_paths(
        outputs,
        inputs=[f for reader in readers for f in reader.header.files],
        where="OUTPUT",
        parents_must_exist=True,
    )
    cosmologies = [
        _ingest_cosmology(args, reader.header, source)
        for reader, (source, _) in zip(readers, pairs, strict=True)
    ]

    def progress(done: int, total: int) -> None:
        if not args.quiet:
            print(
                f"\r  {done:,}/{total:,} particles ({100 * done / max(total, 1):.0f}%)",
                end="",
                file=sys.stderr,
            )

    # a series is staged: nothing appears under a final name unless every snapshot was written
    with atomic_paths(outputs, suffix=".h5") as staged:
        for reader, cosmology, tmp in zip(readers, cosmologies, staged, strict=True):
            inputs = [file_record(f) for f in reader.header.files]
            prov = provenance_record(
                step="ingest", inputs=inputs, config={"cosmology": cosmology, **options}, started=started
            )
            canonical.write_canonical(
                reader,
                tmp,
                cosmology=cosmology,
                chunk_size=args.chunk_size,
                keep_velocities=args.keep_velocities,
                provenance=prov,
                progress=progress,
            )
    if not args.quiet:
        for reader, output in zip(readers, outputs, strict=True):
            h = reader.header
            print(f"\nwrote {output}: {h.format}, N={h.n_particles:,}, z={h.redshift:.6f}", file=sys.stderr)
    return 0


def _ingest_cosmology(args: argparse.Namespace, header: Any, source: str) -> dict[str, float]:
    """Ωm and h from the options or the file's header, and σ8 if given."""
    cosmology = {
        k: v
        for k, v in {
            "omega_m": args.omega_m if args.omega_m is not None else header.omega_m,
            "h": args.hubble if args.hubble is not None else header.hubble,
            "sigma8": args.sigma8,
        }.items()
        if v is not None
    }
    missing = {"omega_m", "h"} - set(cosmology)
    if missing:
        raise SystemExit(
            f"wlcnn ingest: {source}: the file does not store {sorted(missing)}; pass --omega-m / --hubble"
        )
    return cosmology


def _check_prior_range(name: str, bounds: Sequence[float]) -> None:
    lo, hi = bounds
    if not lo < hi:
        raise GridError(f"{name}: expected LO < HI, found {lo:g} {hi:g}")


def _cmd_grid(args: argparse.Namespace) -> int:
    _check_prior_range("--prior-omega-m", args.prior_omega_m)
    _check_prior_range("--prior-sigma8", args.prior_sigma8)
    om_lo, om_hi = args.prior_omega_m
    outside = [om for om in args.omega_m if not om_lo <= om <= om_hi]
    if outside:
        raise GridError(
            f"--omega-m: expected values inside the prior --prior-omega-m [{om_lo:g}, {om_hi:g}], "
            f"found {', '.join(f'{om:g}' for om in outside)}"
        )
    if args.output:
        check_output_paths([args.output], where="--output", parents_must_exist=True)
    prior = {"omega_m": args.prior_omega_m, "sigma8": args.prior_sigma8}
    points = sigma8_line_grid(sigma8_lines=args.sigma8_lines, omega_m=args.omega_m, prior=prior)
    if not points:
        raise GridError(
            f"--sigma8-lines, --omega-m: expected points inside the prior box omega_m "
            f"{list(args.prior_omega_m)}, sigma8 {list(args.prior_sigma8)}, found none "
            f"(every sigma8 = Sigma8 (0.3/omega_m)^0.6 falls outside)"
        )
    mocks = list(args.mock)
    text = format_grid(points, n_train=args.n_train, n_test=args.n_test, mocks=mocks)
    if args.output:
        atomic_write_text(args.output, text)
        print(f"wrote {args.output}: {len(points)} cosmologies + {len(mocks)} mock(s)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, base_dir=args.base_dir, check_files=True)
    grid = read_grid(Path(args.base_dir) / cfg["cosmology"]["grid"])
    z = output_redshifts(cfg["simulations"]["output_redshifts"])
    sims = simulations(grid)
    roles = {r: sum(s.role == r for s in sims) for r in ("train", "test", "mock")}
    print(
        f"{args.config}: valid. {len(grid)} cosmologies, {len(sims)} simulations {roles}, "
        f"{len(z)} snapshots per simulation (z = {z[0]:g} ... {z[-1]:g})"
    )
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    roots = [*default_roots(args.paths), *(Path(r).resolve() for r in args.root)]
    worst = 0
    for path in args.paths:
        try:
            tree = audit(path, roots=roots)
        except ProvenanceError as exc:  # a bad record is bad input: named, never a traceback
            print(f"wlcnn audit: error: {exc}", file=sys.stderr)
            worst = 2
            continue
        if args.json:
            print(
                json.dumps(
                    [{"path": str(n.path), "status": n.status, "detail": n.detail} for n in tree.unique()]
                )
            )
        else:
            print(format_tree(tree))
        counts = {s: sum(n.status == s for n in tree.unique()) for s in ("ok", "unverified", *BAD)}
        print(f"{path}: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v), file=sys.stderr)
        worst = max(worst, 0 if tree.ok else 1)
    return worst


def _cmd_diff(args: argparse.Namespace) -> int:
    try:
        report = diff_paths(args.a, args.b, exclude=args.exclude)
    except DiffInputError as exc:
        print(f"wlcnn diff: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(
            json.dumps(
                {
                    "identical": report.identical,
                    "files": report.files,
                    "content": [vars(d) for d in report.content],
                    "provenance": [vars(d) for d in report.provenance],
                }
            )
        )
    else:
        print(format_report(report, a=args.a, b=args.b))
    return 0 if report.identical else 1


def _cmd_export_healpix(args: argparse.Namespace) -> int:
    out = export_healpix(
        args.mapfile, args.out, field=args.field, bin_index=args.bin, realisation=args.realisation
    )
    print(f"wrote {out}: {args.field}, bin {args.bin}, realisation {args.realisation}", file=sys.stderr)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    return run_train(args)


def _cmd_plot_loss(args: argparse.Namespace) -> int:
    return run_plot(args)


def _cmd_summary(args: argparse.Namespace) -> int:
    return run(args)


#: The subcommands of ``wlcnn --help``, by stage of the pipeline, with their one-line descriptions.
COMMAND_GROUPS: dict[str, dict[str, str]] = {
    "set-up": {
        "config": "validate a configuration file and summarise it",
        "grid": "generate a cosmology grid along lines of constant Sigma8",
    },
    "simulations": {
        "inspect": "print what a snapshot, light-cone or map file holds",
        "ingest": "convert snapshots to the canonical HDF5 format",
    },
    "maps": {
        "export-healpix": "write one full-sky map of a HEALPix-mode map file as HEALPix FITS",
    },
    "training": {
        "train": TRAIN_SUMMARY,
        "plot-loss": PLOT_SUMMARY,
    },
    "inference": dict(INFERENCE_COMMANDS),
    "results": {
        "summary": SUMMARY,
        "audit": "print the lineage of a result file and verify every recorded checksum",
        "diff": "compare the content of two results, provenance apart",
    },
}


def _commands_text() -> str:
    """The grouped list of subcommands shown by ``wlcnn --help``."""
    width = max(len(name) for group in COMMAND_GROUPS.values() for name in group)
    lines = ["commands:"]
    for stage, commands in COMMAND_GROUPS.items():
        lines.append(f"  {stage}:")
        lines += [f"    {name:<{width}}  {text}" for name, text in commands.items()]
    return "\n".join(lines)


def _add_stage_commands(sub: Any) -> None:
    """Subcommands whose arguments are defined by their stage's module (the aliases share them)."""
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("train", description=TRAIN_DESCRIPTION, epilog=TRAIN_EPILOG, formatter_class=raw)
    add_train_arguments(p)
    p.set_defaults(func=_cmd_train)
    p = sub.add_parser(
        "plot-loss",
        description="Plot training and validation loss (the paper's Fig. 11).",
        epilog=PLOT_EPILOG,
        formatter_class=raw,
    )
    add_plot_arguments(p)
    p.set_defaults(func=_cmd_plot_loss)
    add_commands(sub)
    p = sub.add_parser("summary")
    add_summary_arguments(p)
    p.set_defaults(func=_cmd_summary)


def _add_export_healpix(sub: Any) -> None:
    p = sub.add_parser(
        "export-healpix",
        description="Write one full-sky map (one field, tomographic bin and sky) of MAPFILE, a map\n"
        "file made with shells.mode: healpix and shells.store_fullsky: true, as a standard HEALPix\n"
        "FITS file (healpy.write_map: RING ordering, float32, values unchanged), atomically, with\n"
        "its provenance record in the PROVJSON card. Patch-mode map files are refused (exit 2).",
        epilog="read it back with healpy.read_map(OUT); wlcnn audit OUT follows it to MAPFILE.\n"
        "example:\n"
        "  wlcnn export-healpix results/demo/maps/c000/sim00.h5 kappa_bin1.fits --field kappa --bin 1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("mapfile", metavar="MAPFILE", type=existing_file, help="HEALPix-mode map file (HDF5)")
    p.add_argument("out", metavar="OUT", type=output_file, help="HEALPix FITS file to write")
    p.add_argument("--field", default="kappa", choices=sorted(FULLSKY_FIELDS), help="map to export")
    p.add_argument("--bin", type=integer(minimum=0), default=0, help="tomographic bin, 0-based (default 0)")
    p.add_argument(
        "--realisation",
        type=integer(minimum=0),
        default=0,
        metavar="R",
        help="full sky, 0-based (default 0); its patches are realisations R*P ... R*P+P-1",
    )
    p.set_defaults(func=_cmd_export_healpix)


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("wlcnn")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``wlcnn`` (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="wlcnn",
        description="Weak-lensing CNN pipeline tools (the full chain runs through Snakemake; see README).",
        epilog=_commands_text()
        + "\n\nexit status: 0 ok; 1 a check failed (audit, diff); 2 bad input; 128+N training stopped "
        "by signal N.\n'wlcnn COMMAND --help' describes a command, with an example.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging details")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    # Subparsers are added without help=: the grouped list of the epilog replaces argparse's flat one.
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="one of the commands listed below"
    )

    p = sub.add_parser(
        "inspect",
        description="Detect the format of PATH and print its header facts and position range.",
        epilog=UNITS_HELP + "\nJSON keys: format, n_particles, a, z, box, particle_mass, pos_min, "
        "pos_max (and omega_m, omega_lambda, h, has_ids, files, extra).\n"
        "example:\n  wlcnn inspect snapshots/snapshot_005.hdf5 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", help="snapshot file, base name of a multi-file snapshot, .lcp or .hpb file")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    _add_reader_args(p)
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser(
        "ingest",
        description="Stream SOURCE (any supported format) into the canonical HDF5 OUTPUT "
        "(see wlcnn.io.canonical), atomically, with provenance.",
        epilog=UNITS_HELP
        + "example:\n  wlcnn ingest snapshots/snapshot_005 ingested/snapshot_005.h5 --sigma8 0.84",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "paths",
        nargs="+",
        metavar="SOURCE OUTPUT",
        help="snapshot file or multi-file base name, and the canonical HDF5 file to write; "
        "several pairs ingest a series, written only if every snapshot succeeds",
    )
    _add_reader_args(p)
    p.add_argument(
        "--omega-m", type=_OMEGA_M, default=None, help="Omega_m (required if the file does not store it)"
    )
    p.add_argument(
        "--hubble", type=_POSITIVE, default=None, help="h (required if the file does not store it)"
    )
    p.add_argument("--sigma8", type=_POSITIVE, default=None, help="sigma8 to record (files never store it)")
    p.add_argument(
        "--chunk-size",
        type=integer(minimum=1),
        default=DEFAULT_INGEST_CHUNK,
        help=f"particles per chunk (default {DEFAULT_INGEST_CHUNK})",
    )
    p.add_argument("--keep-velocities", action="store_true", help="also store peculiar velocities (km/s)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_cmd_ingest, parser=p)

    p = sub.add_parser(
        "audit",
        description="Follow the provenance records of PATH back to the simulation files, verify every "
        "recorded checksum and each file's own seal (content and record digests written by its "
        "producer), and report anything missing, modified, stale or outside the audited trees. "
        "Exit status 1 if so, 2 if a provenance record is not JSON, malformed or cyclic.",
        epilog="statuses: ok, modified (checksum or seal does not match), missing, stale (an ancestor "
        "changed), outside (recorded input outside the audited trees: not read), unverified (no "
        "checksum recorded)\n"
        "example:\n  wlcnn audit results/demo/inference/results/tiny/constraints.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="result file(s): HDF5, JSON, plot with sidecar")
    p.add_argument("--json", action="store_true", help="one JSON list of {path, status, detail} per PATH")
    p.add_argument(
        "--root",
        action="append",
        default=[],
        metavar="DIR",
        help="also read recorded inputs under DIR (repeatable; default trees: the working directory "
        "and the directory above each PATH's own); inputs elsewhere are reported OUTSIDE, not read",
    )
    p.set_defaults(func=_cmd_audit)

    p = sub.add_parser(
        "diff",
        description="Compare A and B (two files, or two run directories file by file) by content: HDF5 "
        "datasets (dtype, shape, bytes) and attributes, parsed JSON, FITS cards and data, any other file "
        "byte for byte. Provenance records (HDF5 'provenance' attribute, JSON 'provenance' key, FITS "
        "PROVJSON card, .prov.json sidecars) hold times and hosts that differ between reruns: their "
        "differences are listed separately and do not count.",
        epilog="exit status: 0 identical content (provenance may differ), 1 contents differ, 2 bad input.\n"
        "example:\n  wlcnn diff results/demo results/demo-rerun --exclude 'logs/*' --exclude 'benchmarks/*'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("a", metavar="A", help="file or directory")
    p.add_argument("b", metavar="B", help="file or directory of the same kind")
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="leave out relative paths matching GLOB when comparing directories (repeatable)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object {identical, files, content, provenance} instead of text",
    )
    p.set_defaults(func=_cmd_diff)

    p = sub.add_parser(
        "grid",
        description="Points on lines of constant Sigma8 = sigma8 (Omega_m/0.3)^0.6 inside the prior "
        "box, written as the grid CSV (id, omega_m, sigma8, role, n_sims).",
        epilog="example: the KiDS-450 default grid\n  wlcnn grid --sigma8-lines 0.5:1.0:8 "
        "--omega-m 0.1:0.5:8 --n-train 10 --n-test 2 --mock 0.25,0.849 -o config/grids/kids450.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--sigma8-lines",
        required=True,
        type=number_list(minimum=0.0, open_low=True),
        help="Sigma8 values: 'lo:hi:n' or 'a,b,c'",
    )
    p.add_argument(
        "--omega-m",
        required=True,
        type=number_list(minimum=0.0, maximum=1.0, open_low=True, open_high=True),
        help="Omega_m values on each line, inside --prior-omega-m: 'lo:hi:n' or 'a,b,c'",
    )
    p.add_argument("--prior-omega-m", type=_OMEGA_M, nargs=2, default=[0.1, 0.5], metavar=("LO", "HI"))
    p.add_argument("--prior-sigma8", type=_POSITIVE, nargs=2, default=[0.4, 1.4], metavar=("LO", "HI"))
    p.add_argument(
        "--n-train",
        type=integer(minimum=1),
        default=10,
        help="training simulations per cosmology (default 10)",
    )
    p.add_argument(
        "--n-test", type=integer(minimum=0), default=2, help="test simulations per cosmology (default 2)"
    )
    p.add_argument(
        "--mock",
        action="append",
        default=[],
        type=number_pair(first=_OMEGA_M, second=_POSITIVE, names=("OM", "S8")),
        metavar="OM,S8",
        help="add a mock-observation cosmology",
    )
    p.add_argument("-o", "--output", help="CSV file to write (default: stdout)")
    p.set_defaults(func=_cmd_grid)

    p = sub.add_parser(
        "config",
        description="Validate CONFIG against workflow/schemas/config.schema.yaml and the grid table.",
        epilog="example:\n  wlcnn config config/demo.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", help="YAML configuration (e.g. config/demo.yaml)")
    p.add_argument("--base-dir", default=".", help="directory relative to which config paths resolve")
    p.set_defaults(func=_cmd_config)

    _add_export_healpix(sub)
    _add_stage_commands(sub)
    return parser


def _input_errors() -> tuple[type[Exception], ...]:
    """Exceptions that mean bad input, of every stage: exit status 2 with their one-line message."""
    return (
        SnapshotError,
        ConfigError,
        GridError,
        OutputPathError,
        FileNotFoundError,
        *inference_errors(),
        *training_errors(),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wlcnn`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except Exception as exc:
        # The stage modules (TensorFlow among their imports) load only when an error needs naming.
        if not isinstance(exc, _input_errors()):
            raise
        print(f"wlcnn {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
