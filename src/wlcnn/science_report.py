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
  realisations, m-bias errors) without the shape noise, through the network at the end of its
  noise-free curriculum stage (``training/<network>/stages/<stage>.keras``);
- the noise-free analysis (:mod:`wlcnn.inference.noise_free`, computed here into
  ``inference/noise_free/<label>/`` of the run): the network and the power spectrum constrained
  from noise-free test surveys and a noise-free mock observation, their 68 % areas and ratio,
  ``omega_m_sigma8_<label>_noise_free.png``;
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

from wlcnn._errors import FieldError
from wlcnn.atomic import atomic_path, atomic_write_text
from wlcnn.config import ConfigError, load_config
from wlcnn.grid import GridError, read_grid, simulations
from wlcnn.provenance import write_rendered_sidecars

__all__ = [
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
#: Exit status of bad input (as ``wlcnn``).
EXIT_BAD_INPUT = 2
#: Name of the provenance step of every file written.
STEP = "science_report"
REPORT_MD = "report.md"
REPORT_JSON = "report.json"
LOSS_PLOT = "training_loss.png"
SCHEMA = "wlcnn.science_report/1"


class ScienceReportError(FieldError):
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


def _noise_free_model(cfg: Mapping[str, Any], out: Path, network: str) -> tuple[Path, str]:
    """The network to score noise-free: its last noise-free curriculum stage, else the final one.

    Returns the model file and a description of it for the report.
    """
    from wlcnn.training.export import stage_model_path  # lazy: the training package only here
    from wlcnn.training.settings import TrainingSettings, stages_for  # lazy: as above

    stages = stages_for(TrainingSettings.from_config(cfg.get("training", {})), network)
    final = out / "training" / network / "model.keras"
    noise_free = [s for s in stages[:-1] if not s.noise]
    if not noise_free:
        return final, "the final network (its curriculum has no noise-free stage before the last)"
    stage = noise_free[-1]
    path = stage_model_path(out / "training" / network, stage.name)
    if not path.is_file():
        raise ScienceReportError(
            path,
            "file",
            f"the network at the end of its noise-free stage {stage.name!r} (train_network writes it)",
            "no such file (trained before stage models were kept? rerun train_network)",
        )
    return path, f"the network at the end of its noise-free stage {stage.name!r} (step {stage.stop})"


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
    for network, nf in report.get("noise_free", {}).items():
        lines += [
            "",
            f"## Noise-free analysis: {network} and the power spectrum without shape noise",
            "",
            (
                f"The test set's surveys and the mock observation through the survey forward model "
                f"without shape noise; {network}: {nf['model_description']}. Coverage not computed; "
                "intervals are the posterior's (they include the sample variance of the test surveys "
                "that make the covariance, not the mock's own realisation)."
            ),
            "",
            "| analysis | S8 | Ωm | σ8 | area 68 % (Ωm–σ8) | truth in 68 % |",
            "|---|---|---|---|---|---|",
        ]
        for label, row in nf["analyses"].items():
            values = " | ".join(
                f"{row[p]['median']:.3f} +{row[p]['plus']:.3f} −{row[p]['minus']:.3f}" for p in CONSTRAINED
            )
            lines.append(f"| {label} | {values} | {row['area_68']:.4g} | {row['truth_in_68']} |")
        lines += ["", f"Noise-free area ratio {network} / power spectrum (68 %): {nf['area_ratio_68']:.3f}"]
    lines += ["", "Figures: " + ", ".join(f"`{f}`" for f in report["figures"]), ""]
    return "\n".join(lines)


def write_science_report(
    config_path: str | Path,
    *,
    out_dir: str | Path,
    base_dir: str | Path = ".",
    noise_free_surveys: int | None = None,
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
        Noise-free surveys per (test cosmology, A_IA) of the noise-free analysis (default:
        ``inference.n_surveys``, as the noisy test set).

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
    mock_maps: dict[str, list[Path]] = {}
    for sim in simulations(grid):
        if sim.role in ("test", "mock"):
            (test_maps if sim.role == "test" else mock_maps).setdefault(sim.cosmology.id, []).append(
                out / "maps" / sim.cosmology.id / f"{sim.name}.h5"
            )
    if not mock_maps:
        raise ScienceReportError(
            base_dir / cfg["cosmology"]["grid"], "role", "a mock row (the mock observation)", "none"
        )
    mock_id = next(iter(mock_maps))
    for path in (p for paths in [*test_maps.values(), *mock_maps.values()] for p in paths):
        if not path.is_file():
            raise ScienceReportError(
                path, "file", "a test or mock simulation's maps (simulation_maps)", "no such file"
            )
    constraints = collect_constraints(files["constraints"], files["coverage"], networks=files["networks"])
    truth = [*nodes[mock_id], 0.0]  # the workflow's mock truth: the mock node at A_IA = 0

    # everything computed before anything is written to out_dir: a failure leaves it as it was
    from wlcnn.inference.noise_free import NOISE_FREE_SUFFIX, noise_free_constraints  # lazy: TensorFlow

    scores: dict[str, dict[str, PredictionScores]] = {}
    noise_free: dict[str, Any] = {}
    noise_free_models: dict[str, tuple[Path, str]] = {}
    for network in files["networks"]:
        noise_free_models[network] = _noise_free_model(cfg, out, network)
        analysis = noise_free_constraints(
            cfg,
            network=network,
            model_path=noise_free_models[network][0],
            patch_maps=files["patch_maps"],
            test_maps=test_maps,
            nodes=nodes,
            mock_id=mock_id,
            mock_maps=mock_maps[mock_id],
            truth=truth,
            out_dir=out / "inference" / "noise_free",
            base_dir=base_dir,
            n_surveys=noise_free_surveys,
        )
        noise_free[network] = analysis
        scores[network] = {
            "noisy": prediction_scores(read_summaries(files["summaries"][network])),
            "noise_free": prediction_scores(analysis.summaries[network + NOISE_FREE_SUFFIX]),
        }

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
                    noise_free_models[network][0],
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
    noise_free_report: dict[str, Any] = {}
    for network, analysis in noise_free.items():
        for label in analysis.rows:
            source = out / "inference" / "noise_free" / label / "omega_m_sigma8.png"
            path = out_dir / f"omega_m_sigma8_{label}.png"
            with atomic_path(path) as tmp:
                shutil.copyfile(source, tmp)
            write_rendered_sidecars([path], sources=[source], step=STEP)
            written.append(path)
        noise_free_report[network] = {
            "model": str(noise_free_models[network][0]),
            "model_description": noise_free_models[network][1],
            "analyses": {
                label: {
                    **{p: {k: float(row[p][k]) for k in ("median", "plus", "minus")} for p in CONSTRAINED},
                    "area_68": float(row["area_68"]),
                    "truth_in_68": bool(row.get("truth_in_68")),
                }
                for label, row in analysis.rows.items()
            },
            "area_ratio_68": analysis.area_ratio_68,
        }

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
        "noise_free": noise_free_report,
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
        default=None,
        help="noise-free surveys per (test cosmology, A_IA) (default: inference.n_surveys)",
    )
    args = parser.parse_args(argv)
    if args.noise_free_surveys is not None and args.noise_free_surveys < 1:
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
