"""The training rule's command: ``python -m wlcnn.training.job --params JSON ...``.

One process per worker. With ``--launcher "srun ..."`` (the rule's ``resources.launcher``, set
for more than one task by :mod:`wlcnn.training.slurm`) the command replaces itself by
``srun ... python -m wlcnn.training.job ...`` without the launcher: one worker per SLURM task.
The launcher is one shell-quoted word, so that no value reaches the shell unquoted.
:func:`~wlcnn.training.distribute.make_distribution` turns the SLURM step into a
``MultiWorkerMirroredStrategy``. ``--params`` is the configuration subset the network depends
on (the rule's ``params.config``), as JSON. Exit status: 0 done, 128 + signal number after a
checkpoint (rerun to continue), 2 for a bad input file.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence

from wlcnn.argtypes import existing_file
from wlcnn.logs import setup_rule_logging
from wlcnn.provenance import file_checksum
from wlcnn.survey import ForwardModel, SurveySettings
from wlcnn.survey.forward_model import TFForwardModel
from wlcnn.survey.shear_maps import read_patch_maps
from wlcnn.training.cli import EXIT_USAGE, SIGNAL_EXIT_BASE, input_errors
from wlcnn.training.distribute import make_distribution
from wlcnn.training.forward import SurveyForwardModel
from wlcnn.training.trainer import TrainingInterrupted, train_network

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m wlcnn.training.job", description=__doc__.splitlines()[0])
    p.add_argument(
        "--launcher", default="", help="command line that starts the workers (srun ...; empty: this process)"
    )
    p.add_argument("--params", required=True, help="configuration subset of this network (JSON)")
    p.add_argument("--network", required=True, help="network preset")
    p.add_argument(
        "--train", nargs="+", required=True, type=existing_file, metavar="FILE", help="training map files"
    )
    p.add_argument(
        "--validation", nargs="*", default=[], type=existing_file, metavar="FILE", help="validation map files"
    )
    p.add_argument(
        "--patch-maps", required=True, type=existing_file, metavar="FILE", help="survey patch maps (HDF5)"
    )
    p.add_argument("--out-dir", required=True, metavar="DIR", help="model and history directory")
    p.add_argument("--checkpoints", required=True, metavar="DIR", help="checkpoints (shared by all workers)")
    p.add_argument("--log", required=True, metavar="FILE", help="log file (appended to)")
    return p


def run(args: argparse.Namespace) -> int:
    """Train (or resume) one network as the parsed options say; returns the exit status."""
    log = setup_rule_logging(args.log, append=True)

    config = json.loads(args.params)
    # The strategy first: under SLURM it decides which GPUs this process may see.
    dist = make_distribution(kind="auto")
    settings = SurveySettings.from_config(config)
    model = ForwardModel.from_patch_maps(read_patch_maps(args.patch_maps), settings=settings)
    forward = SurveyForwardModel(
        TFForwardModel(model), identity=f"patch_maps:sha256={file_checksum(args.patch_maps)[:16]}"
    )
    try:
        result = train_network(
            train_files=list(args.train),
            validation_files=list(args.validation),
            out_dir=args.out_dir,
            preset=args.network,
            training_config=config["training"],
            base_seed=config["run"]["seed"],
            n_patches=config["survey"]["n_patches"],
            forward_model=forward,
            strategy=dist.strategy,
            checkpoint_dir=args.checkpoints,
            checksum="sha256",  # the model's provenance verifies the map files it learnt from
        )
    except TrainingInterrupted as exc:  # checkpoint written: rerun the rule to continue
        log.warning("%s", exc)
        return SIGNAL_EXIT_BASE + int(exc.signum)
    log.info(
        "done: %d steps (resumed from %d), model %s", result.steps, result.resumed_from, result.model_path
    )
    return 0


def _worker_command(argv: Sequence[str], launcher: str) -> list[str]:
    """``launcher`` + this command with an empty launcher (what each worker runs)."""
    rest: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--launcher":
            skip = True
        elif not arg.startswith("--launcher="):
            rest.append(arg)
    return [*shlex.split(launcher), sys.executable, "-m", "wlcnn.training.job", *rest]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.launcher:
        cmd = _worker_command(argv, args.launcher)
        # exec, not a child: SLURM's and Snakemake's signals reach srun, which forwards them
        os.execvp(cmd[0], cmd)  # noqa: S606 - the launcher is the workflow's own srun line
    try:
        return run(args)
    except input_errors() as exc:
        sys.stderr.write(f"python -m wlcnn.training.job: error: {exc}\n")
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
