"""``python -m wlcnn.inference``: the inference stage's commands for the workflow.

Subcommands
-----------
summaries
    Predict S simulated surveys per (test cosmology, A_IA) with one network (or the power
    spectrum) and write μ̂, Ŝ, the predictions and the seeds (:mod:`.summaries`).
data
    Predict the observed survey (or a mock observation) with the same network: the data vector.
merge
    Join per-cosmology summaries files of one label.
combine
    Concatenate several networks / stages into one data vector and model (SPEC §8).
constrain
    Likelihood, dense grid, emcee, Table II and plots of one analysis (blinded if configured).
compare
    One table and S8 whisker plot over several analyses (Fig. 9, or Fig. 7 for mocks).
unblind
    The explicit, recorded unblinding of a blinded analysis (needs ``--confirm``; cannot be undone).

Each is also a ``wlcnn`` subcommand (``wlcnn constrain ...``); this module is kept for the workflow.

Networks and simulated surveys are plugged in by import path ``package.module:function``:

* ``--predictor``: ``factory(*, config, label, base_dir) -> predict`` with ``predict(batch) -> (n, p)``;
  an optional ``output_names`` attribute of ``predict`` names the p outputs. The built-in
  ``power_spectrum`` is the baseline of :mod:`.power_spectrum`.
* ``--surveys``: ``factory(*, config, cosmology_id, omega_m, sigma8, a_ia, base_dir) -> make_survey``
  with ``make_survey(seed) -> inputs (n_patches, ...)``.
* ``--observation``: ``factory(*, config, base_dir) -> inputs (n_patches, ...)`` of the observed survey.

``config`` is the validated configuration (dict), ``base_dir`` the directory its paths are
relative to. :mod:`wlcnn.inference.toy` has stand-ins of all three (a linear-Gaussian toy).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wlcnn.argtypes import existing_file, output_directory, output_file, real
from wlcnn.config import load_config
from wlcnn.grid import read_grid
from wlcnn.inference.power_spectrum import PowerSpectrumStatistic, ell_bin_edges
from wlcnn.inference.summaries import (
    SummariesFileError,
    compute_summaries,
    concatenate_data_vectors,
    concatenate_summaries,
    merge_cosmologies,
    predict_data_vector,
    read_data_vector,
    read_summaries,
    write_data_vector,
    write_summaries,
)
from wlcnn.maps.mapfile import MapFileError
from wlcnn.provenance import file_record, provenance_record, utc_now
from wlcnn.training.export import ModelFileError

#: Exit status for a bad input file (as ``wlcnn``): the message names file, field, expected, found.
EXIT_BAD_INPUT = 2

__all__ = ["BUILTIN_PREDICTORS", "COMMANDS", "add_commands", "input_errors", "load_callable", "main"]

#: Name of the built-in power-spectrum predictor.
BUILTIN_PREDICTORS = ("power_spectrum",)


def load_callable(spec: str) -> Callable[..., Any]:
    """The object at ``package.module:function``."""
    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"expected 'package.module:function', found {spec!r}")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{spec} is not callable")
    return obj


def _predictor(
    spec: str, *, config: dict[str, Any], label: str, base_dir: Path
) -> Callable[[np.ndarray], np.ndarray]:
    if spec == "power_spectrum":
        from wlcnn.inference.analysis import (  # lazy: numba, scipy; keeps `wlcnn --help` fast
            InferenceSettings,
        )

        settings = InferenceSettings.from_config(config)
        survey = config.get("survey", {})
        return PowerSpectrumStatistic(
            patch_size_deg=float(
                survey.get("patch_size_deg", config.get("shells", {}).get("patch_size_deg", 5.0))
            ),
            ell_edges=ell_bin_edges(
                ell_min=settings.ps_ell_range[0],
                ell_max=settings.ps_ell_range[1],
                n_bins=settings.ps_n_ell_bins,
            ),
            n_bins=len(survey.get("zb_edges", [0, 1, 2, 3, 4])) - 1,
        )
    return load_callable(spec)(config=config, label=label, base_dir=base_dir)


def _cosmology(config: dict[str, Any], cid: str, *, base_dir: Path) -> tuple[float, float]:
    for cosmo in read_grid(base_dir / config["cosmology"]["grid"]):
        if cosmo.id == cid:
            return cosmo.omega_m, cosmo.sigma8
    raise SystemExit(f"cosmology {cid!r} is not in the grid {config['cosmology']['grid']}")


def _cmd_summaries(args: argparse.Namespace) -> int:
    from wlcnn.inference.analysis import InferenceSettings  # lazy: numba, scipy; keeps `wlcnn --help` fast

    started = utc_now()
    base = Path(args.base_dir)
    config = load_config(args.config, base_dir=base)
    settings = InferenceSettings.from_config(config, base_dir=base)
    grid = read_grid(base / config["cosmology"]["grid"])
    wanted = set(args.cosmologies) if args.cosmologies else None
    cosmologies = [
        (c.id, c.omega_m, c.sigma8)
        for c in grid
        if (wanted is None and "test" in c.n_sims) or (wanted is not None and c.id in wanted)
    ]
    if not cosmologies:
        raise SystemExit("no cosmologies selected")
    predict = _predictor(args.predictor, config=config, label=args.label, base_dir=base)
    survey_factory = load_callable(args.surveys)
    where = {cid: (om, s8) for cid, om, s8 in cosmologies}
    summaries = compute_summaries(
        label=args.label,
        predict=predict,
        make_survey_for=lambda cid, a: survey_factory(
            config=config,
            cosmology_id=cid,
            omega_m=where[cid][0],
            sigma8=where[cid][1],
            a_ia=a,
            base_dir=base,
        ),
        cosmologies=cosmologies,
        a_ia=settings.a_ia_values,
        n_surveys=settings.n_surveys,
        base_seed=settings.base_seed,
        batch_size=settings.batch_size,
        output_names=getattr(predict, "output_names", None),
        provenance=provenance_record(
            step="inference.summaries",
            inputs=[file_record(args.config)],
            config={"run": {"seed": settings.base_seed}, "inference": config.get("inference", {})},
            started=started,
            extra={"predictor": args.predictor, "surveys": args.surveys},
        ),
    )
    write_summaries(args.out, summaries)
    print(
        f"{args.out}: {len(cosmologies)} cosmologies x {len(settings.a_ia_values)} A_IA x "
        f"{settings.n_surveys} surveys, {summaries.predictions.shape[-1]} outputs"
    )
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from wlcnn.inference.analysis import InferenceSettings  # lazy: numba, scipy; keeps `wlcnn --help` fast

    base = Path(args.base_dir)
    config = load_config(args.config, base_dir=base)
    settings = InferenceSettings.from_config(config, base_dir=base)
    predict = _predictor(args.predictor, config=config, label=args.label, base_dir=base)
    inputs = load_callable(args.observation)(config=config, base_dir=base)
    vector = predict_data_vector(
        predict=predict,
        inputs=inputs,
        batch_size=settings.batch_size,
        label=args.label,
        output_names=getattr(predict, "output_names", None),
        provenance={"predictor": args.predictor, "observation": args.observation},
    )
    write_data_vector(args.out, vector)
    print(f"{args.out}: data vector of {len(vector.data)} entries from {len(inputs)} patches")
    return 0


def _cmd_merge(args: argparse.Namespace) -> int:
    write_summaries(args.out, merge_cosmologies([read_summaries(p) for p in args.summaries]))
    return 0


def _cmd_combine(args: argparse.Namespace) -> int:
    write_summaries(
        args.out, concatenate_summaries([read_summaries(p) for p in args.summaries], label=args.label)
    )
    if args.data:
        if not args.data_out:
            raise SystemExit("--data needs --data-out")
        write_data_vector(
            args.data_out,
            concatenate_data_vectors([read_data_vector(p) for p in args.data], label=args.label),
        )
    return 0


def _cmd_constrain(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from wlcnn.inference.analysis import (  # lazy: numba, scipy; keeps `wlcnn --help` fast
        InferenceSettings,
        constrain,
    )

    base = Path(args.base_dir)
    config = load_config(args.config, base_dir=base)
    settings = InferenceSettings.from_config(config, base_dir=base)
    if args.blind is not None:
        settings = replace(settings, blind=args.blind)
    truth = None
    if args.truth_cosmology:
        truth = (*_cosmology(config, args.truth_cosmology, base_dir=base), args.truth_a_ia)
    near = None
    if args.fixed_covariance_near:
        near = _cosmology(config, args.fixed_covariance_near, base_dir=base)
    row = constrain(
        summaries=read_summaries(args.summaries),
        data=read_data_vector(args.data),
        settings=settings,
        out_dir=args.out,
        label=args.label,
        truth=truth,
        fixed_covariance_near=near,
        inputs=[args.summaries, args.data, args.config],
        config_subset={
            "run": {"seed": settings.base_seed},
            "cosmology": {"prior": config["cosmology"]["prior"]},
            "inference": config.get("inference", {}),
        },
    )
    state = "BLINDED " if row["blinded"] else ""
    print(
        f"{args.label}: {state}S8 = {row['s8']['median']:.3f} +{row['s8']['plus']:.3f} "
        f"-{row['s8']['minus']:.3f}, 95% area {row['area_95']:.4g}, converged {row['converged']}"
    )
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from wlcnn.inference.analysis import (  # lazy: numba, scipy; keeps `wlcnn --help` fast
        InferenceSettings,
        compare,
    )
    from wlcnn.inference.constraints import s8  # lazy: numba, scipy; keeps `wlcnn --help` fast

    published: Sequence[Any] = ()
    truth = None
    if args.config:
        base = Path(args.base_dir)
        config = load_config(args.config, base_dir=base)
        if args.published:
            published = InferenceSettings.from_config(config, base_dir=base).published_s8
        if args.truth_cosmology:
            truth = float(s8(*_cosmology(config, args.truth_cosmology, base_dir=base)))
    compare(
        tables=args.tables,
        out_plot=args.out_plot,
        out_json=args.out_json,
        out_markdown=args.out_md,
        published=published,
        truth_s8=truth,
        title=args.title,
    )
    return 0


UNBLIND_HELP = """\
Unblinding removes the secret offset from one blinded analysis: it reads the blinded chain and
grid posterior in RESULTS, subtracts the offset stored in the blinding secret
(inference.blinding_secret, default <run.output_dir>/blinding/secret.json) and writes the true
constraints (chain, grid, Table II, plots) to RESULTS/unblinded/. The blinded files stay as they
are. The step is appended to RESULTS/unblinding.json: who, when, host, --reason, the code state,
the offset itself and checksums of the blinded inputs.

It needs: the configuration of the run (--config), a results directory written by 'constrain'
with inference.blind: true, the secret file that blinded it, a --reason, and --confirm.

It cannot be undone: the record reveals the offset, so every output blinded with this secret
(these and any other analysis of the run) is readable in the clear from then on; deleting
RESULTS/unblinded does not blind anything again. Unblind only once the pipeline is frozen (SPEC 8).
"""


def _check_unblindable(args: argparse.Namespace, *, secret_path: Path) -> None:
    """Refuse, before anything is written, an unconfirmed or impossible unblinding."""
    import json

    from wlcnn.inference.analysis import RESULT_FILES  # lazy: numba, scipy; keeps `wlcnn --help` fast
    from wlcnn.inference.blinding import UnblindingError  # lazy: numba, scipy; keeps `wlcnn --help` fast

    results = Path(args.results)
    if not args.confirm:
        raise UnblindingError(
            results,
            "--confirm",
            "--confirm (unblinding reveals the secret offset and cannot be undone; "
            "see 'wlcnn unblind --help')",
            "no --confirm; nothing written",
        )
    if not args.reason.strip():
        raise UnblindingError(results, "--reason", "a non-blank reason (it is recorded)", repr(args.reason))
    if not secret_path.is_file():
        raise UnblindingError(
            secret_path, "inference.blinding_secret", "the blinding secret file of the run", "no such file"
        )
    for name in (RESULT_FILES["chain"], RESULT_FILES["grid"], RESULT_FILES["table_json"]):
        if not (results / name).is_file():
            raise UnblindingError(
                results, name, "a results directory written by 'constrain'", f"no file {results / name}"
            )
    table_path = results / RESULT_FILES["table_json"]
    try:
        blinded = json.loads(table_path.read_text()).get("blinded")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
        raise UnblindingError(table_path, "file", "a constraints table (JSON object)", str(exc)) from None
    if blinded is not True:
        raise UnblindingError(table_path, "blinded", "true (a blinded analysis)", repr(blinded))


#: Where the workflow's E/B null test of the observed survey lies in a run's output directory.
EB_NULL_RESULT = Path("inference") / "eb_null" / "eb_null.json"


def _warn_about_b_modes(path: Path) -> None:
    """Say, before unblinding, when the observed survey failed its E/B null test (or has none)."""
    if not path.is_file():
        sys.stderr.write(f"wlcnn unblind: note: no E/B null test at {path} (run the eb_null rule first)\n")
        return
    result = json.loads(path.read_text())
    if not result.get("passes", False):
        sys.stderr.write(
            f"wlcnn unblind: WARNING: the observed survey FAILED its E/B null test ({path}: "
            f"chi2 = {result.get('chi2')} for {result.get('dof')} B-mode entries, PTE = {result.get('pte')} "
            f"< {result.get('pte_threshold')}): B modes beyond noise; check the shear frame "
            "(survey.flip_e1 / flip_e2) before trusting unblinded results\n"
        )


def _cmd_unblind(args: argparse.Namespace) -> int:
    from wlcnn.inference.analysis import (  # lazy: numba, scipy; keeps `wlcnn --help` fast
        UNBLINDED_DIR,
        InferenceSettings,
        unblind,
    )

    base = Path(args.base_dir)
    config = load_config(args.config, base_dir=base)
    settings = InferenceSettings.from_config(config, base_dir=base)
    _check_unblindable(args, secret_path=settings.secret_path)
    _warn_about_b_modes(base / config["run"]["output_dir"] / EB_NULL_RESULT)
    row = unblind(results_dir=args.results, settings=settings, reason=args.reason, by=args.by)
    print(
        f"unblinded into {Path(args.results) / UNBLINDED_DIR}: S8 = {row['s8']['median']:.3f} "
        f"+{row['s8']['plus']:.3f} -{row['s8']['minus']:.3f}"
    )
    return 0


def _add_common(p: argparse.ArgumentParser, *, config_required: bool = True) -> None:
    p.add_argument(
        "--config",
        required=config_required,
        type=existing_file,
        help="configuration file (e.g. config/demo.yaml)",
    )
    p.add_argument("--base-dir", default=".", help="directory the configuration's paths are relative to")


def _example(text: str) -> str:
    return f"example:\n  {text}"


#: Subcommands of the inference stage and their one-line descriptions, in pipeline order.
COMMANDS = {
    "summaries": "simulated-survey predictions -> mean and covariance per (cosmology, A_IA)",
    "data": "data vector: the observed survey (or a mock) through one network",
    "merge": "join per-cosmology summaries files of one label",
    "combine": "concatenate networks / stages into one data vector and model",
    "constrain": "likelihood, sampling, Table II and plots of one analysis (blinded if so configured)",
    "compare": "table and S8 whisker plot of several analyses (Figs. 7, 9)",
    "unblind": "remove the secret blinding offset of one analysis (recorded; cannot be undone)",
}


def add_commands(sub: Any) -> None:
    """Add the inference subcommands to ``sub`` (an ``add_subparsers`` action).

    Used by ``python -m wlcnn.inference`` and by ``wlcnn``, so both take the same arguments.
    Subparsers are added without ``help=``: the caller lists :data:`COMMANDS` as it likes.
    """
    raw = argparse.RawDescriptionHelpFormatter
    toy = "wlcnn.inference.toy"

    p = sub.add_parser(
        "summaries",
        description=COMMANDS["summaries"] + ". Networks and surveys plug in as package.module:factory "
        "(see 'python -m wlcnn.inference --help').",
        epilog=_example(
            f"wlcnn summaries --config config/demo.yaml --label tiny --predictor {toy}:predictor_factory "
            f"--surveys {toy}:survey_factory --out summaries.h5"
        ),
        formatter_class=raw,
    )
    _add_common(p)
    p.add_argument("--label", required=True, help="network / stage / statistic name")
    p.add_argument("--predictor", required=True, help="'power_spectrum' or package.module:factory")
    p.add_argument("--surveys", required=True, help="package.module:factory of make_survey(seed)")
    p.add_argument(
        "--cosmologies", nargs="*", help="grid ids (default: every cosmology with test simulations)"
    )
    p.add_argument("--out", required=True, type=output_file, help="output HDF5")
    p.set_defaults(func=_cmd_summaries)

    p = sub.add_parser(
        "data",
        description=COMMANDS["data"] + ".",
        epilog=_example(
            f"wlcnn data --config config/demo.yaml --label tiny --predictor {toy}:predictor_factory "
            f"--observation {toy}:observation_factory --out data.h5"
        ),
        formatter_class=raw,
    )
    _add_common(p)
    p.add_argument("--label", required=True, help="network / stage / statistic name")
    p.add_argument("--predictor", required=True, help="'power_spectrum' or package.module:factory")
    p.add_argument("--observation", required=True, help="package.module:factory of the observed inputs")
    p.add_argument("--out", required=True, type=output_file, help="output HDF5")
    p.set_defaults(func=_cmd_data)

    p = sub.add_parser(
        "merge",
        description=COMMANDS["merge"] + ".",
        epilog=_example("wlcnn merge --summaries c000.h5 c001.h5 --out tiny.h5"),
        formatter_class=raw,
    )
    p.add_argument("--summaries", nargs="+", required=True, type=existing_file, help="summaries files")
    p.add_argument("--out", required=True, type=output_file, help="output HDF5")
    p.set_defaults(func=_cmd_merge)

    p = sub.add_parser(
        "combine",
        description=COMMANDS["combine"] + " (SPEC 8).",
        epilog=_example(
            "wlcnn combine --label both --summaries a.h5 b.h5 --out both.h5 "
            "--data a_data.h5 b_data.h5 --data-out both_data.h5"
        ),
        formatter_class=raw,
    )
    p.add_argument("--label", required=True, help="name of the combined analysis")
    p.add_argument("--summaries", nargs="+", required=True, type=existing_file, help="summaries files")
    p.add_argument("--out", required=True, type=output_file, help="output HDF5")
    p.add_argument("--data", nargs="*", type=existing_file, help="data vectors, in the order of --summaries")
    p.add_argument("--data-out", type=output_file, help="combined data vector (HDF5)")
    p.set_defaults(func=_cmd_combine)

    p = sub.add_parser(
        "constrain",
        description=COMMANDS["constrain"] + ".",
        epilog=_example(
            "wlcnn constrain --config config/demo.yaml --summaries tiny.h5 --data tiny_data.h5 "
            "--label tiny --out results/tiny"
        ),
        formatter_class=raw,
    )
    _add_common(p)
    p.add_argument("--summaries", required=True, type=existing_file, help="summaries file")
    p.add_argument("--data", required=True, type=existing_file, help="data vector file")
    p.add_argument("--label", required=True, help="name of the analysis")
    p.add_argument("--out", required=True, type=output_directory, help="results directory")
    p.add_argument(
        "--truth-cosmology", help="grid id of a mock observation's cosmology (marked; coverage flags)"
    )
    p.add_argument("--truth-a-ia", type=real(), default=0.0, help="A_IA of the mock (default 0)")
    p.add_argument(
        "--fixed-covariance-near",
        metavar="ID",
        help="power-spectrum baseline: fixed covariance at the node nearest this grid id",
    )
    blind = p.add_mutually_exclusive_group()
    blind.add_argument(
        "--blind", dest="blind", action="store_true", default=None, help="override inference.blind"
    )
    blind.add_argument("--no-blind", dest="blind", action="store_false", help="override inference.blind")
    p.set_defaults(func=_cmd_constrain)

    p = sub.add_parser(
        "compare",
        description=COMMANDS["compare"] + ".",
        epilog=_example(
            "wlcnn compare --tables results/a/constraints.json results/b/constraints.json "
            "--out-plot s8.png --out-json all.json --out-md all.md"
        ),
        formatter_class=raw,
    )
    _add_common(p, config_required=False)
    p.add_argument("--tables", nargs="+", required=True, type=existing_file, help="constraints.json files")
    p.add_argument("--out-plot", required=True, type=output_file, help="whisker plot (PNG, PDF, ...)")
    p.add_argument("--out-json", required=True, type=output_file, help="table (JSON)")
    p.add_argument("--out-md", required=True, type=output_file, help="table (Markdown)")
    p.add_argument("--published", action="store_true", help="add inference.published_s8 of --config")
    p.add_argument("--truth-cosmology", help="grid id whose S8 is marked")
    p.add_argument("--title", default="", help="plot title")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser(
        "unblind",
        description=UNBLIND_HELP,
        epilog="exit status: 0 unblinded; 2 refused (nothing written).\n"
        + _example(
            "wlcnn unblind --config config/config.yaml --results results/kids/inference/results/all "
            "--reason 'pipeline frozen at commit abc123, approved by the collaboration' --confirm"
        ),
        formatter_class=raw,
    )
    _add_common(p)
    p.add_argument("--results", required=True, help="results directory of a blinded analysis")
    p.add_argument("--reason", required=True, help="why unblinding is allowed now (recorded)")
    p.add_argument("--by", help="who unblinds (default: login name; recorded)")
    p.add_argument(
        "--confirm",
        action="store_true",
        help="required: confirm that the offset may be revealed (this cannot be undone)",
    )
    p.set_defaults(func=_cmd_unblind)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m wlcnn.inference",
        description=__doc__,
        epilog="The same commands are 'wlcnn summaries', 'wlcnn constrain', ... (see 'wlcnn --help').",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_commands(sub)
    return parser


def input_errors() -> tuple[type[Exception], ...]:
    """Exceptions of this stage that mean bad input (a damaged file, a refused unblinding)."""
    from wlcnn.inference.blinding import UnblindingError  # lazy: numba, scipy; keeps `wlcnn --help` fast
    from wlcnn.survey.catalogue import CatalogueError  # lazy: scipy; keeps `wlcnn --help` fast

    return SummariesFileError, MapFileError, CatalogueError, ModelFileError, UnblindingError


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; returns the exit status."""
    errors = input_errors()
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse's bad-argument exit (2) and --help (0), as a status
        if isinstance(exc.code, int):
            return exc.code
        raise
    try:
        return int(args.func(args))
    except errors as exc:
        # A bad data file: one line naming file, field, expected and found, not a traceback.
        print(f"python -m wlcnn.inference {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
