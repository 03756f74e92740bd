"""``python -m wlcnn.science_report CONFIG --out docs/science``: the evidence of a finished run.

Issue 14 asks of the science run (``config/science.yaml``): the networks' test-set predictions
against the truth with R² per parameter, noise-free and with the survey's (KiDS-like) shape
noise, their loss curves, and the constraints of the CNN, the power spectrum, peak counts and
Minkowski functionals on the same mock observation, with their Ωm–σ8 68 % contour areas, the
area ratio CNN / power spectrum and the coverage of each analysis. Most of it is in the run's
outputs already; this collects it into one folder:

- ``predictions_<network>_noisy.png``: the test-set summaries (``inference/summaries/<network>.h5``,
  the surveys the likelihood is built from) against the truth;
- ``predictions_<network>_noise_free.png``: the same surveys (same seeds: patch sets, n(z)
  realisations, m-bias errors) without the shape noise, through the trained network (the only
  part computed here; ``--noise-free-surveys`` per test cosmology and A_IA);
- ``training_loss.png``: training and validation loss of every network;
- ``omega_m_sigma8_<analysis>.png``: each analysis' contours, copied from ``inference/results``;
- ``report.md`` / ``report.json``: R² per parameter, the constraints table with areas, the area
  ratios and the coverage at 68 % from ``inference/coverage/<analysis>/coverage.json``.

Every file gets a provenance sidecar naming what it was made from, so ``wlcnn audit`` follows it
back to the simulations. Every input is checked before anything is written: a missing or
unreadable one is a :class:`ScienceReportError` (exit status 2, one line naming the file, the
field, what was expected and what was found) and the output folder is left as it was.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wlcnn.atomic import atomic_path, atomic_write_text
from wlcnn.config import ConfigError, load_config
from wlcnn.grid import GridError, read_grid, simulations
from wlcnn.provenance import write_rendered_sidecars

__all__ = [
    "DEFAULT_NOISE_FREE_SURVEYS",
    "PredictionScores",
    "ScienceReportError",
    "collect_constraints",
    "main",
    "prediction_scores",
    "r_squared",
    "write_science_report",
]

#: Parameters the networks predict (the first three outputs), with their axis labels.
PARAMETERS = ("omega_m", "sigma8", "a_ia")
PARAMETER_LABELS = (r"\Omega_{\rm m}", r"\sigma_8", r"A_{\rm IA}")
#: Parameters whose constraints and coverage the report tables (the coverage files' keys).
CONSTRAINED = ("s8", "omega_m", "sigma8")
#: Credible level of the intervals, contour areas and coverage compared (the paper's 68 %).
LEVEL = 0.68
#: The power-spectrum analysis, the denominator of the area ratio.
POWER_SPECTRUM = "power_spectrum"
#: Noise-free surveys per (test cosmology, A_IA) by default: the test set's first ones.
DEFAULT_NOISE_FREE_SURVEYS = 16
#: Exit status of bad input (as ``wlcnn``).
EXIT_BAD_INPUT = 2
#: Name of the provenance step of every file written.
STEP = "science_report"
REPORT_MD = "report.md"
REPORT_JSON = "report.json"
LOSS_PLOT = "training_loss.png"
SCHEMA = "wlcnn.science_report/1"


class ScienceReportError(ValueError):
    """An input of the report is missing or is not what the run writes.

    Parameters
    ----------
    path
        The offending file.
    field
        The entry of it that is wrong (``"file"`` when the file itself is missing).
    expected, found
        What the report needs and what is there.
    """

    def __init__(self, path: str | Path, field: str, expected: str, found: str) -> None:
        self.path = Path(path)
        self.field = field
        self.expected = expected
        self.found = found
        super().__init__(f"{self.path}: {field}: expected {expected}, found {found}")


@dataclass(frozen=True)
class PredictionScores:
    """Survey-averaged predictions of one network on a test set, against the truth.

    Attributes
    ----------
    truth, prediction
        (n, 3) true and predicted (Ωm, σ8, A_IA) per survey.
    r2
        R² per parameter name.
    """

    truth: np.ndarray
    prediction: np.ndarray
    r2: dict[str, float]


def r_squared(truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Coefficient of determination 1 − Σ(y − ŷ)² / Σ(y − ȳ)² per column of (n, k) arrays.

    A column whose truth does not vary has no R² (NaN).
    """
    truth = np.atleast_2d(np.asarray(truth, dtype=np.float64))
    prediction = np.atleast_2d(np.asarray(prediction, dtype=np.float64))
    residual = np.sum((truth - prediction) ** 2, axis=0)
    spread = np.sum((truth - truth.mean(axis=0)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(spread > 0.0, 1.0 - residual / np.where(spread > 0.0, spread, 1.0), np.nan)


def prediction_scores(summaries: Any) -> PredictionScores:
    """Truth, prediction and R² of a network's :class:`~wlcnn.inference.summaries.Summaries`.

    The truth of a survey is its grid node's (Ωm, σ8) and the A_IA it was made with; the network
    predicts A_IA / ``A_IA_SCALE`` (:mod:`wlcnn.training.loss`).
    """
    from wlcnn.training.loss import A_IA_SCALE  # lazy: the training package only for networks' files

    n_c, n_a, n_s, _ = summaries.predictions.shape
    om, s8, a = np.broadcast_arrays(
        summaries.omega_m[:, None, None], summaries.sigma8[:, None, None], summaries.a_ia[None, :, None]
    )
    shape = (n_c, n_a, n_s)
    truth = np.stack([np.broadcast_to(x, shape) for x in (om, s8, a)], axis=-1).reshape(-1, len(PARAMETERS))
    scale = np.array([1.0, 1.0, A_IA_SCALE])
    prediction = summaries.predictions[..., : len(PARAMETERS)].reshape(-1, len(PARAMETERS)) * scale
    r2 = r_squared(truth, prediction)
    return PredictionScores(
        truth=truth, prediction=prediction, r2=dict(zip(PARAMETERS, map(float, r2), strict=True))
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ScienceReportError(
            path, "content", "JSON", f"invalid JSON ({exc.msg} at line {exc.lineno})"
        ) from None
    if not isinstance(data, dict):
        raise ScienceReportError(path, "content", "a JSON object", type(data).__name__)
    return data


def _coverage_at_level(path: Path, coverage: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Empirical coverage ± its error at :data:`LEVEL` per parameter and jointly."""
    out = {}
    blocks = {
        **{p: coverage.get("parameters", {}).get(p) for p in CONSTRAINED},
        "joint": coverage.get("joint"),
    }
    for name, block in blocks.items():
        field = f"parameters.{name}" if name != "joint" else "joint"
        if not isinstance(block, Mapping) or not {"nominal", "empirical", "error"} <= set(block):
            raise ScienceReportError(path, field, "nominal, empirical and error lists", f"{block!r}")
        nominal = np.asarray(block["nominal"], dtype=np.float64)
        hit = np.flatnonzero(np.isclose(nominal, LEVEL))
        if not len(hit):
            raise ScienceReportError(path, f"{field}.nominal", f"the level {LEVEL}", f"{nominal.tolist()}")
        i = int(hit[0])
        out[name] = {
            "nominal": LEVEL,
            "empirical": float(block["empirical"][i]),
            "error": float(block["error"][i]),
        }
    return out


def collect_constraints(
    constraints_path: str | Path, coverage_paths: Mapping[str, str | Path], *, networks: Sequence[str]
) -> dict[str, Any]:
    """The constraints table of every analysis, its coverage at 68 % and the CNN / PS area ratios.

    Parameters
    ----------
    constraints_path
        ``inference/constraints.json`` of the run (``compare_constraints``).
    coverage_paths
        Analysis label → its ``coverage.json``.
    networks
        The run's networks: each one's 68 % area is divided by the power spectrum's.

    Raises
    ------
    ScienceReportError
        A file without the rows, areas or coverage levels the report needs.
    """
    constraints_path = Path(constraints_path)
    table = _read_json(constraints_path)
    rows = table.get("rows")
    if not isinstance(rows, list) or not rows:
        raise ScienceReportError(constraints_path, "rows", "a list of analyses", f"{rows!r}")
    analyses: dict[str, Any] = {}
    for i, row in enumerate(rows):
        label = row.get("analysis") if isinstance(row, Mapping) else None
        if label is None or "area_68" not in row or any(p not in row for p in CONSTRAINED):
            raise ScienceReportError(
                constraints_path,
                f"rows[{i}]",
                f"analysis, area_68 and {', '.join(CONSTRAINED)}",
                f"{row!r}"[:200],
            )
        if label not in coverage_paths:
            raise ScienceReportError(
                constraints_path, f"rows[{i}].analysis", "an analysis of the run", repr(label)
            )
        coverage_path = Path(coverage_paths[label])
        coverage = _read_json(coverage_path)
        analyses[label] = {
            **{p: {k: row[p][k] for k in ("median", "plus", "minus")} for p in CONSTRAINED},
            "area_68": float(row["area_68"]),
            "truth": row.get("truth"),
            "truth_in_68": row.get("truth_in_68"),
            "coverage": _coverage_at_level(coverage_path, coverage),
            "n_coverage_trials": coverage.get("n_trials"),
        }
    if POWER_SPECTRUM not in analyses:
        raise ScienceReportError(
            constraints_path, "rows", f"a row of {POWER_SPECTRUM!r}", f"{sorted(analyses)}"
        )
    ratios = {
        f"{n}/{POWER_SPECTRUM}": analyses[n]["area_68"] / analyses[POWER_SPECTRUM]["area_68"]
        for n in networks
        if n in analyses
    }
    return {"analyses": analyses, "area_ratio_68": ratios}


def _required_inputs(cfg: Mapping[str, Any], out: Path) -> dict[str, Any]:
    """Every file the report reads, by role; the first missing one is an error."""
    networks = list(cfg.get("training", {}).get("networks", []))
    if not networks:
        raise ScienceReportError("configuration", "training.networks", "at least one network", "none")
    inference = cfg.get("inference", {})
    analyses = [
        *networks,
        POWER_SPECTRUM,
        *inference.get("map_statistics", []),
        *(c["name"] for c in inference.get("combinations", [])),
    ]
    files = {
        "history": {n: out / "training" / n / "history.csv" for n in networks},
        "model": {n: out / "training" / n / "model.keras" for n in networks},
        "summaries": {n: out / "inference" / "summaries" / f"{n}.h5" for n in networks},
        "patch_maps": out / "survey" / "patch_maps.h5",
        "constraints": out / "inference" / "constraints.json",
        "coverage": {a: out / "inference" / "coverage" / a / "coverage.json" for a in analyses},
        "contours": {a: out / "inference" / "results" / a / "omega_m_sigma8.png" for a in analyses},
    }
    what = {
        "history": "the network's training history (train_network)",
        "model": "the trained network (train_network)",
        "summaries": "the network's test-set summaries (merge_summaries)",
        "patch_maps": "the survey's patch maps (survey_patch_maps)",
        "constraints": "the constraints table (compare_constraints)",
        "coverage": "the analysis' coverage (coverage)",
        "contours": "the analysis' contours (constrain)",
    }
    for role, paths in files.items():
        for path in paths.values() if isinstance(paths, dict) else [paths]:
            if not isinstance(path, Path) or not path.is_file():
                raise ScienceReportError(str(path), "file", what[role] + " of a finished run", "no such file")
    return {**files, "networks": networks, "analyses": analyses}


def _noise_free_summaries(
    cfg: Mapping[str, Any],
    *,
    network: str,
    model: Path,
    patch_maps: Path,
    test_maps: Mapping[str, Sequence[Path]],
    nodes: Mapping[str, tuple[float, float]],
    n_surveys: int,
    base_dir: Path,
) -> Any:
    """The network's predictions on the test set's first ``n_surveys`` surveys, without shape noise."""
    from wlcnn.inference.analysis import DEFAULTS  # lazy: the inference stack (numba, scipy) only here
    from wlcnn.inference.predictors import make_predictor  # lazy: TensorFlow, for the network
    from wlcnn.inference.summaries import compute_summaries  # lazy: h5py and the inference stack
    from wlcnn.inference.survey_sets import SimulatedSurveys  # lazy: the survey forward model

    settings = {**DEFAULTS, **cfg.get("inference", {})}
    predict, names = make_predictor(network, config=cfg, model_path=model)

    def make_survey_for(cosmology_id: str, a_ia: float) -> SimulatedSurveys:
        return SimulatedSurveys(
            map_files=list(test_maps[cosmology_id]),
            config=cfg,
            patch_maps_path=patch_maps,
            a_ia=a_ia,
            base_dir=base_dir,
            noise=False,
        )

    # the test set's A_IA values and survey seeds (run.seed): the noisy summaries' first surveys
    return compute_summaries(
        label=f"{network}_noise_free",
        predict=predict,
        make_survey_for=make_survey_for,
        cosmologies=[(cid, *nodes[cid]) for cid in test_maps],
        a_ia=np.linspace(
            float(settings["a_ia_range"][0]), float(settings["a_ia_range"][1]), int(settings["n_a_ia"])
        ),
        n_surveys=n_surveys,
        base_seed=int(cfg["run"]["seed"]),
        batch_size=int(settings["batch_size"]),
        output_names=names,
    )


def _format_truth(truth: Mapping[str, float] | None) -> str:
    """``Ωm = 0.25, σ8 = 0.849, ...`` of the mock's truth (``unknown`` for real data)."""
    if not truth:
        return "unknown"
    symbols = {"omega_m": "Ωm", "sigma8": "σ8", "a_ia": "A_IA", "s8": "S8"}
    return ", ".join(f"{symbols.get(k, k)} = {v:.4g}" for k, v in truth.items())


def _markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown: R² table, constraints table, ratios, coverage."""
    lines = [
        f"# Science run `{report['run']}`: evidence",
        "",
        (
            f"Made by `python -m wlcnn.science_report` from `{report['output_dir']}`; the mock "
            f"observation's truth: {_format_truth(report['truth'])}."
        ),
        "",
        "## Test-set predictions (R² per parameter)",
        "",
        "| network | test set | surveys | " + " | ".join(f"R² {p}" for p in PARAMETERS) + " |",
        "|---|---|---|" + "---|" * len(PARAMETERS),
    ]
    for network, sets in report["predictions"].items():
        for name, scores in sets.items():
            r2 = " | ".join(f"{scores['r2'][p]:.3f}" for p in PARAMETERS)
            lines.append(f"| {network} | {name.replace('_', '-')} | {scores['n_surveys']} | {r2} |")
    lines += [
        "",
        "## Constraints on the mock observation (medians, 68 % intervals)",
        "",
        (
            "| analysis | S8 | Ωm | σ8 | area 68 % (Ωm–σ8) | truth in 68 % "
            "| coverage 68 % (S8) | coverage 68 % (joint) |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, row in report["constraints"]["analyses"].items():
        values = " | ".join(
            f"{row[p]['median']:.3f} +{row[p]['plus']:.3f} −{row[p]['minus']:.3f}" for p in CONSTRAINED
        )
        cov = row["coverage"]
        lines.append(
            f"| {label} | {values} | {row['area_68']:.4g} | {row['truth_in_68']} | "
            f"{100 * cov['s8']['empirical']:.1f} ± {100 * cov['s8']['error']:.1f} % | "
            f"{100 * cov['joint']['empirical']:.1f} ± {100 * cov['joint']['error']:.1f} % |"
        )
    lines += ["", "Area ratios (68 %, Ωm–σ8; below 1: the CNN constrains more tightly):", ""]
    lines += [f"- {name}: {ratio:.3f}" for name, ratio in report["constraints"]["area_ratio_68"].items()]
    lines += ["", "Figures: " + ", ".join(f"`{f}`" for f in report["figures"]), ""]
    return "\n".join(lines)


def write_science_report(
    config_path: str | Path,
    *,
    out_dir: str | Path,
    base_dir: str | Path = ".",
    noise_free_surveys: int = DEFAULT_NOISE_FREE_SURVEYS,
) -> list[Path]:
    """Collect the evidence of the finished run of ``config_path`` into ``out_dir``.

    Parameters
    ----------
    config_path
        The run's configuration (e.g. ``config/science.yaml``).
    out_dir
        Folder of the report (created; e.g. ``docs/science``).
    base_dir
        Directory the configuration's paths are relative to.
    noise_free_surveys
        Noise-free surveys per (test cosmology, A_IA) predicted by each network.

    Returns
    -------
    list of Path
        The files written (figures, ``report.md``, ``report.json``), without their sidecars.

    Raises
    ------
    ScienceReportError
        A missing or malformed input (nothing is written then).
    """
    from wlcnn.inference.summaries import read_summaries  # lazy: h5py only when a report is made
    from wlcnn.training.plots import plot_loss_curves, plot_predictions_vs_truth  # lazy: matplotlib

    base_dir = Path(base_dir)
    cfg = load_config(config_path, base_dir=base_dir)
    out = base_dir / cfg["run"]["output_dir"]
    files = _required_inputs(cfg, out)
    grid = read_grid(base_dir / cfg["cosmology"]["grid"])
    nodes = {c.id: (c.omega_m, c.sigma8) for c in grid}
    test_maps: dict[str, list[Path]] = {}
    for sim in simulations(grid):
        if sim.role == "test":
            test_maps.setdefault(sim.cosmology.id, []).append(
                out / "maps" / sim.cosmology.id / f"{sim.name}.h5"
            )
    for path in (p for paths in test_maps.values() for p in paths):
        if not path.is_file():
            raise ScienceReportError(
                path, "file", "a test simulation's maps (simulation_maps)", "no such file"
            )
    constraints = collect_constraints(files["constraints"], files["coverage"], networks=files["networks"])

    # everything computed before anything is written: a failure leaves out_dir as it was
    scores: dict[str, dict[str, PredictionScores]] = {}
    for network in files["networks"]:
        noisy = read_summaries(files["summaries"][network])
        noise_free = _noise_free_summaries(
            cfg,
            network=network,
            model=files["model"][network],
            patch_maps=files["patch_maps"],
            test_maps=test_maps,
            nodes=nodes,
            n_surveys=noise_free_surveys,
            base_dir=base_dir,
        )
        scores[network] = {"noisy": prediction_scores(noisy), "noise_free": prediction_scores(noise_free)}

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    seed = int(cfg["run"]["seed"])
    for network, sets in scores.items():
        for name, s in sets.items():
            path = out_dir / f"predictions_{network}_{name}.png"
            r2 = ", ".join(f"R²({p}) = {s.r2[p]:.2f}" for p in PARAMETERS)
            plot_predictions_vs_truth(
                path,
                truth=s.truth,
                prediction=s.prediction,
                names=list(PARAMETERS),
                labels=list(PARAMETER_LABELS),
                title=f"{network}, test set, {name.replace('_', '-')}: {r2}",
                seed=seed,
            )
            sources = (
                [files["summaries"][network]]
                if name == "noisy"
                else [
                    files["model"][network],
                    files["patch_maps"],
                    *(p for ps in test_maps.values() for p in ps),
                ]
            )
            write_rendered_sidecars([path], sources=sources, step=STEP)
            written.append(path)
    loss = out_dir / LOSS_PLOT
    plot_loss_curves(files["history"], loss)
    write_rendered_sidecars([loss], sources=list(files["history"].values()), step=STEP)
    written.append(loss)
    for label, source in files["contours"].items():
        path = out_dir / f"omega_m_sigma8_{label}.png"
        with atomic_path(path) as tmp:
            shutil.copyfile(source, tmp)
        write_rendered_sidecars([path], sources=[source], step=STEP)
        written.append(path)

    mock_truth = next(iter(constraints["analyses"].values())).get("truth")
    report = {
        "schema": SCHEMA,
        "run": cfg["run"]["name"],
        "output_dir": str(cfg["run"]["output_dir"]),
        "truth": mock_truth,
        "predictions": {
            n: {k: {"r2": s.r2, "n_surveys": len(s.truth)} for k, s in sets.items()}
            for n, sets in scores.items()
        },
        "constraints": constraints,
        "figures": [p.name for p in written],
    }
    sources = [files["constraints"], *files["coverage"].values(), *files["summaries"].values()]
    for path, text in (
        (out_dir / REPORT_JSON, json.dumps(report, indent=2) + "\n"),
        (out_dir / REPORT_MD, _markdown(report)),
    ):
        atomic_write_text(path, text)
        write_rendered_sidecars([path], sources=sources, step=STEP)
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m wlcnn.science_report``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m wlcnn.science_report",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  python -m wlcnn.science_report config/science.yaml --out docs/science",
    )
    parser.add_argument("config", help="configuration of the finished run (e.g. config/science.yaml)")
    parser.add_argument("--out", required=True, help="folder of the report (e.g. docs/science)")
    parser.add_argument("--base-dir", default=".", help="directory relative to which config paths resolve")
    parser.add_argument(
        "--noise-free-surveys",
        type=int,
        default=DEFAULT_NOISE_FREE_SURVEYS,
        help=f"noise-free surveys per (test cosmology, A_IA) (default {DEFAULT_NOISE_FREE_SURVEYS})",
    )
    args = parser.parse_args(argv)
    if args.noise_free_surveys < 1:
        parser.error(f"--noise-free-surveys: expected an integer >= 1, found {args.noise_free_surveys}")
    from wlcnn.inference.cli import input_errors  # lazy: the stage's error types load scipy and numba

    bad_input: tuple[type[Exception], ...] = (ScienceReportError, ConfigError, GridError, *input_errors())
    try:
        written = write_science_report(
            args.config, out_dir=args.out, base_dir=args.base_dir, noise_free_surveys=args.noise_free_surveys
        )
    except bad_input as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)  # noqa: T201 - the CLI reports on stderr
        return EXIT_BAD_INPUT
    for path in written:
        print(path)  # noqa: T201 - the CLI lists what it wrote
    return 0


if __name__ == "__main__":
    sys.exit(main())
