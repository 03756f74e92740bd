"""Command line of the training stage: ``python -m wlcnn.training ...`` (see ``--help``).

Two commands (also ``wlcnn train`` and ``wlcnn plot-loss``, same options)::

    python -m wlcnn.training --config CONFIG --network NAME --maps FILE... --out DIR [options]
    python -m wlcnn.training plot --history NAME=CSV [NAME=CSV ...] --out PNG

The first trains one network (the Snakemake rule's command); map files are split into training
(``role = train``) and validation (``role = test``) by their ``role`` attribute unless
``--validation-maps`` is given. The exit status is 0 when training reached its configured number
of steps, 128 + signal number when SIGTERM / SIGUSR1 stopped it after a checkpoint (rerun to
continue), and 2 for bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wlcnn.argtypes import existing_file, integer, output_directory, output_file, real
from wlcnn.config import ConfigError, load_config
from wlcnn.logs import setup_rule_logging
from wlcnn.maps.mapfile import MapFileError, read_map_attrs
from wlcnn.provenance import file_checksum
from wlcnn.training.distribute import make_distribution
from wlcnn.training.export import ModelFileError
from wlcnn.training.forward import StandInForwardModel, SurveyForwardModel
from wlcnn.training.networks import PRESETS
from wlcnn.training.plots import plot_loss_curves
from wlcnn.training.trainer import TrainingInterrupted, train_network

__all__ = ["add_plot_arguments", "add_train_arguments", "input_errors", "main", "run_plot", "run_train"]

log = logging.getLogger("wlcnn.training")

#: Exit status of bad arguments or configuration (argparse's convention).
EXIT_USAGE = 2
#: Exit status after a checkpoint signal is 128 + the signal number (the shell's convention).
SIGNAL_EXIT_BASE = 128


#: One-line descriptions of the two commands (``wlcnn train`` and ``wlcnn plot-loss``).
TRAIN_SUMMARY = "train one CNN on map files; resumes from its checkpoints"
PLOT_SUMMARY = "plot training and validation loss curves (Fig. 11)"
TRAIN_DESCRIPTION = (
    "Train one CNN of Fluri et al. 2019 (SPEC §6) on map files; resumes from its checkpoints. "
    "Map files are split into training (role = train) and validation (role = test) by their role "
    "attribute unless --validation-maps is given."
)
TRAIN_EPILOG = (
    "exit status: 0 done; 128+N stopped by signal N after a checkpoint (rerun to continue); 2 bad "
    "input.\nexample:\n  wlcnn train --config config/demo.yaml --network tiny "
    "--maps results/demo/maps/c0*/*.h5 --out results/demo/training/tiny"
)
PLOT_EPILOG = (
    "example:\n  wlcnn plot-loss --history tiny=results/demo/training/tiny/history.csv --out loss.png"
)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """The options of the training command (``python -m wlcnn.training``, ``wlcnn train``)."""
    p.add_argument(
        "--config",
        required=True,
        type=existing_file,
        help="pipeline configuration YAML (validated; uses training:, run.seed, survey.n_patches)",
    )
    p.add_argument("--network", required=True, choices=sorted(PRESETS), help="network preset")
    p.add_argument(
        "--maps",
        nargs="+",
        required=True,
        type=existing_file,
        metavar="FILE",
        help="map files (HDF5 /kappa, /kappa_ia); role=train ones train, role=test ones validate",
    )
    p.add_argument(
        "--validation-maps",
        nargs="*",
        default=None,
        type=existing_file,
        metavar="FILE",
        help="validation map files (default: the --maps files with role=test)",
    )
    p.add_argument(
        "--out", required=True, type=output_directory, help="output directory (model.keras, history.csv, ...)"
    )
    p.add_argument(
        "--checkpoint-dir",
        default=None,
        type=output_directory,
        help="checkpoint directory (default OUT/checkpoints)",
    )
    p.add_argument(
        "--patch-maps",
        default=None,
        type=existing_file,
        metavar="FILE",
        help="survey patch-maps file: use the survey forward model (masks, noise, m-bias, smoothing); "
        "without it a stand-in (kappa + A_IA kappa_IA + white noise) is used",
    )
    p.add_argument(
        "--stand-in-noise",
        type=real(minimum=0.0),
        default=0.01,
        help="stand-in forward model noise sigma (kappa)",
    )
    p.add_argument(
        "--strategy",
        default="auto",
        choices=["auto", "default", "mirrored", "multi_worker"],
        help="distribution strategy (auto: TF_CONFIG / SLURM step / GPUs)",
    )
    p.add_argument(
        "--logical-cpus",
        type=integer(minimum=0),
        default=0,
        help="split the CPU into N devices (MirroredStrategy tests)",
    )
    p.add_argument("--steps", type=integer(minimum=1), default=None, help="override training.n_steps")
    p.add_argument(
        "--checksum",
        default="none",
        choices=["none", *sorted(hashlib.algorithms_guaranteed)],
        help="checksum of input files in the provenance (none, sha256)",
    )
    p.add_argument("--log", default=None, help="log file (appended; default stderr)")


def _train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m wlcnn.training",
        description=TRAIN_DESCRIPTION + " 'python -m wlcnn.training plot --help' plots loss curves. "
        "The same command is 'wlcnn train'.",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_train_arguments(p)
    return p


def add_plot_arguments(p: argparse.ArgumentParser) -> None:
    """The options of the loss-curve plot (``python -m wlcnn.training plot``, ``wlcnn plot-loss``)."""
    p.add_argument(
        "--history", nargs="+", required=True, metavar="NAME=CSV", help="history files of networks"
    )
    p.add_argument("--out", required=True, type=output_file, help="output image (PNG, PDF, ...)")
    p.add_argument(
        "--smooth", type=integer(minimum=1), default=5, help="running mean of the training loss, in rows"
    )


def _plot_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m wlcnn.training plot",
        description="Plot training and validation loss (the paper's Fig. 11). "
        "The same command is 'wlcnn plot-loss'.",
        epilog=PLOT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_plot_arguments(p)
    return p


def _split_by_role(paths: Sequence[str]) -> tuple[list[str], list[str]]:
    train, test = [], []
    for p in paths:
        role = read_map_attrs(p).get("role")
        if role == "train":
            train.append(p)
        elif role == "test":
            test.append(p)
        else:
            log.warning("%s: role %r is neither train nor test, not used", p, role)
    return train, test


def _forward_model(args: argparse.Namespace, config: dict[str, Any]) -> Any:
    if not args.patch_maps:
        return StandInForwardModel(noise_sigma=args.stand_in_noise)
    from wlcnn.survey.forward_model import (  # lazy: scipy; keeps `wlcnn --help` fast
        ForwardModel,
        TFForwardModel,
    )
    from wlcnn.survey.settings import SurveySettings  # lazy: scipy; keeps `wlcnn --help` fast
    from wlcnn.survey.shear_maps import read_patch_maps  # lazy: scipy; keeps `wlcnn --help` fast

    settings = SurveySettings.from_config(config)
    model = ForwardModel.from_patch_maps(read_patch_maps(args.patch_maps), settings=settings)
    identity = f"{Path(args.patch_maps).name}:sha256={file_checksum(args.patch_maps)[:16]}"
    return SurveyForwardModel(TFForwardModel(model), identity=identity)


def run_train(args: argparse.Namespace) -> int:
    """Train as the parsed options say; returns the exit status."""
    setup_rule_logging(args.log, append=True)  # a resumed run continues the interrupted log

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    block = dict(config.get("training") or {})
    if args.steps is not None:
        block["n_steps"] = args.steps
    if args.validation_maps is None:
        train_files, val_files = _split_by_role(args.maps)
    else:
        train_files, val_files = list(args.maps), list(args.validation_maps)
    if not train_files:
        print("no training map files (role=train) among --maps", file=sys.stderr)
        return EXIT_USAGE

    # The strategy first: under SLURM it decides which GPUs this process may see.
    dist = make_distribution(kind=args.strategy, logical_cpus=args.logical_cpus)
    n_patches = int((config.get("survey") or {}).get("n_patches", 20))
    try:
        result = train_network(
            train_files=train_files,
            validation_files=val_files,
            out_dir=args.out,
            preset=args.network,
            training_config=block,
            base_seed=int(config["run"]["seed"]),
            n_patches=n_patches,
            forward_model=_forward_model(args, config),
            strategy=dist.strategy,
            checkpoint_dir=args.checkpoint_dir,
            checksum=args.checksum,
            extra_provenance={"config_file": str(Path(args.config).resolve())},
        )
    except TrainingInterrupted as exc:
        log.warning("%s", exc)
        return SIGNAL_EXIT_BASE + int(exc.signum)
    log.info(
        "done: %d steps (resumed from %d), model %s", result.steps, result.resumed_from, result.model_path
    )
    return 0


def run_plot(args: argparse.Namespace) -> int:
    """Plot loss curves as the parsed options say; returns the exit status."""
    histories = {}
    for item in args.history:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = Path(item).parent.name or "network", item
        histories[name] = path
    plot_loss_curves(histories, args.out, smooth=args.smooth)
    return 0


def input_errors() -> tuple[type[Exception], ...]:
    """Exceptions of this stage that mean a bad input file (map or model)."""
    return MapFileError, ModelFileError


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m wlcnn.training``; returns the exit status."""
    errors = input_errors()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "plot":
            return run_plot(_plot_parser().parse_args(argv[1:]))
        return run_train(_train_parser().parse_args(argv))
    except SystemExit as exc:  # argparse's bad-argument exit (2) and --help (0), as a status
        if isinstance(exc.code, int):
            return exc.code
        raise
    except errors as exc:
        # A bad map or model file: one line naming file, field, expected and found.
        print(f"python -m wlcnn.training: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
