"""``python -m wlcnn.science_report``: the evidence of a finished run, collected into one folder.

R² is checked against the squared correlation of a least-squares fit (equal by construction);
the prediction layout against surveys built by hand; the constraints summary against the rows it
reads. A complete small run (two test cosmologies on the 32-pixel survey of the survey-set tests,
a one-layer network saved by Keras, synthetic summaries and tables) is reported end to end and
audited. Bad inputs stop the report with exit status 2 and a one-line message naming the file,
the field, what was expected and what was found, and leave no output behind.
"""

from __future__ import annotations

import copy
import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.inference.test_survey_sets import small_survey  # noqa: F401 - the shared fixture
from wlcnn.audit import audit
from wlcnn.grid import read_grid, simulations
from wlcnn.inference.summaries import Summaries, write_summaries
from wlcnn.science_report import (
    EXIT_BAD_INPUT,
    REPORT_JSON,
    ScienceReportError,
    collect_constraints,
    main,
    prediction_scores,
    r_squared,
    write_science_report,
)
from wlcnn.training.export import stage_model_path
from wlcnn.training.loss import A_IA_SCALE
from wlcnn.training.networks import N_OUTPUTS

REPO = Path(__file__).resolve().parents[1]
N_POINTS = 200
#: R² equals the squared correlation for a least-squares line, to rounding.
RTOL = 1e-10
A_IA = np.array([-6.0, 0.0, 6.0])
N_SURVEYS = 4
#: The level the report reads coverage at, and a coverage list holding it.
NOMINAL = [0.5, 0.68, 0.95]
ANALYSES = ("tiny", "power_spectrum", "peaks")
AREAS = {"tiny": 0.01, "power_spectrum": 0.02, "peaks": 0.03, "minkowski": 0.025, "cnn_and_ps": 0.009}
#: Every analysis of the demo configuration.
DEMO_ANALYSES = ("tiny", "power_spectrum", "peaks", "minkowski", "cnn_and_ps")
TRUTH = {"omega_m": 0.25, "sigma8": 0.85, "a_ia": 0.0, "s8": 0.78}
#: Test cosmologies of the small run: (id, Omega_m, sigma8).
NODES = (("c000", 0.25, 0.85), ("c001", 0.35, 0.7), ("c002", 0.3, 0.95))
#: The mock observation of the small run: (id, Omega_m, sigma8).
MOCK = ("m000", 0.3, 0.8)
#: Noise-free surveys per (node, A_IA): more than the power spectrum's entries (its covariance).
NOISE_FREE_SURVEYS = 24
SAMPLER_STEPS = 300
HISTORY_COLUMNS = ["step", "stage", "train_loss", "val_loss", "grad_norm", "learning_rate", "steps_per_s",
                   "maps_per_s", "input_wait", "skipped", "elapsed_s"]  # fmt: skip


def _files(root: Path) -> set[Path]:
    """Every file and directory under ``root``, hidden ones included."""
    return set(root.rglob("*")) if root.exists() else set()


def test_r_squared_is_the_squared_correlation_of_a_least_squares_fit() -> None:
    rng = np.random.default_rng(5)
    truth = rng.normal(size=(N_POINTS, 2))
    observed = truth + rng.normal(scale=[0.3, 2.0], size=(N_POINTS, 2))
    # the least-squares prediction of each truth column from its observed column
    fitted = np.stack(
        [np.polyval(np.polyfit(observed[:, k], truth[:, k], 1), observed[:, k]) for k in range(2)], 1
    )
    expected = [np.corrcoef(truth[:, k], observed[:, k])[0, 1] ** 2 for k in range(2)]
    np.testing.assert_allclose(r_squared(truth, fitted), expected, rtol=RTOL)
    assert expected[0] > expected[1]  # a noisier predictor scores lower: the check can tell them apart
    np.testing.assert_allclose(r_squared(truth, truth), [1.0, 1.0])
    np.testing.assert_allclose(
        r_squared(truth, np.broadcast_to(truth.mean(0), truth.shape)), [0.0, 0.0], atol=1e-12
    )
    assert np.isnan(r_squared(np.ones((3, 1)), np.zeros((3, 1)))).all()


def _summaries(predictions: np.ndarray, *, label: str = "tiny") -> Summaries:
    return Summaries(
        label=label,
        cosmology_ids=tuple(n[0] for n in NODES),
        omega_m=np.array([n[1] for n in NODES]),
        sigma8=np.array([n[2] for n in NODES]),
        a_ia=A_IA,
        predictions=predictions,
        seeds=np.zeros(predictions.shape[:3], dtype=np.uint64),
        output_names=tuple(f"out{i}" for i in range(predictions.shape[-1])),
    )


def _perfect_predictions(rng: np.random.Generator) -> np.ndarray:
    """Network outputs whose first three are the surveys' truth (A_IA in network units)."""
    out = rng.normal(size=(len(NODES), len(A_IA), N_SURVEYS, N_OUTPUTS))
    for c, (_, om, s8) in enumerate(NODES):
        out[c, :, :, 0], out[c, :, :, 1] = om, s8
        out[c, :, :, 2] = A_IA[:, None] / A_IA_SCALE
    return out


def test_prediction_scores_pair_each_survey_with_its_truth() -> None:
    perfect = _perfect_predictions(np.random.default_rng(1))
    scores = prediction_scores(_summaries(perfect))
    assert scores.truth.shape == (len(NODES) * len(A_IA) * N_SURVEYS, 3)
    np.testing.assert_allclose(scores.truth[0], [NODES[0][1], NODES[0][2], A_IA[0]])
    np.testing.assert_allclose(scores.truth[-1], [NODES[-1][1], NODES[-1][2], A_IA[-1]])
    assert scores.r2 == pytest.approx({"omega_m": 1.0, "sigma8": 1.0, "a_ia": 1.0})
    # the two cosmologies' predictions swapped: Omega_m and sigma8 anti-correlate with the truth
    swapped = _summaries(perfect[::-1].copy())
    assert prediction_scores(swapped).r2["omega_m"] < 0.0
    assert prediction_scores(swapped).r2["a_ia"] == pytest.approx(1.0)


def _write_tables(root: Path, *, analyses: tuple[str, ...] = ANALYSES) -> tuple[Path, dict[str, Path]]:
    """constraints.json and each analysis' coverage.json as the inference stage writes them."""
    interval = {"median": 0.3, "plus": 0.05, "minus": 0.04, "lower": 0.26, "upper": 0.35, "level": 0.68}
    intervals = {p: dict(interval) for p in ("s8", "omega_m", "sigma8", "a_ia")}
    rows = [
        {"analysis": a, "area_68": AREAS[a], "truth": TRUTH, "truth_in_68": True, **intervals}
        for a in analyses
    ]
    constraints = root / "inference" / "constraints.json"
    constraints.parent.mkdir(parents=True, exist_ok=True)
    constraints.write_text(json.dumps({"schema": "wlcnn.constraints/1", "rows": rows}))
    coverage = {}
    for i, a in enumerate(analyses):
        block = {"nominal": NOMINAL, "empirical": [0.4, 0.6 + 0.01 * i, 0.9], "error": [0.05, 0.04, 0.02]}
        path = root / "inference" / "coverage" / a / "coverage.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        parameters = dict.fromkeys(("s8", "omega_m", "sigma8", "a_ia"), block)
        path.write_text(json.dumps({"n_trials": 96, "parameters": parameters, "joint": block}))
        coverage[a] = path
    return constraints, coverage


def test_collect_constraints_reads_areas_ratios_and_coverage_at_68(tmp_path: Path) -> None:
    constraints, coverage = _write_tables(tmp_path)
    got = collect_constraints(constraints, coverage, networks=["tiny"])
    assert got["area_ratio_68"] == {
        "tiny/power_spectrum": pytest.approx(AREAS["tiny"] / AREAS["power_spectrum"])
    }
    assert got["analyses"]["peaks"]["coverage"]["s8"] == {"nominal": 0.68, "empirical": 0.62, "error": 0.04}
    assert got["analyses"]["tiny"]["area_68"] == AREAS["tiny"]


def test_collect_constraints_without_the_power_spectrum_is_refused(tmp_path: Path) -> None:
    constraints, coverage = _write_tables(tmp_path, analyses=("tiny", "peaks"))
    with pytest.raises(ScienceReportError) as err:
        collect_constraints(constraints, coverage, networks=["tiny"])
    message = str(err.value)
    for part in (str(constraints), "rows", "'power_spectrum'", "['peaks', 'tiny']"):
        assert part in message, message


def _run_config(small: tuple[dict[str, Any], Path, Path], root: Path) -> Path:
    """A finished small run under ``root``: its configuration, grid and every file the report reads."""
    import keras  # lazy: TensorFlow only for the tests that save a network

    config, patch_maps, maps = small
    cfg = copy.deepcopy(config)
    out = root / "results"
    grid = root / "grid.csv"
    grid.write_text(
        "id,omega_m,sigma8,role,n_sims\n"
        + "".join(f"{cid},{om},{s8},train,1\n{cid},{om},{s8},test,1\n" for cid, om, s8 in NODES)
        + "{},{},{},mock,1\n".format(*MOCK)
    )
    cfg["run"]["output_dir"] = str(out)
    cfg["cosmology"]["grid"] = str(grid)
    cfg["training"]["networks"] = ["tiny"]
    cfg["inference"]["map_statistics"] = ["peaks"]
    cfg["inference"]["combinations"] = []
    # the demo's extras name cosmologies of the demo grid: not part of this run
    for block in ("statistics", "emulator", "shapes", "baryons"):
        cfg.pop(block, None)
    cfg["cosmology"].pop("mock_overrides", None)
    for key in ("ray_traced", "baryonified"):
        cfg["survey"]["mock"].pop(key, None)
    # a short chain for the noise-free analysis' two constraints
    cfg["inference"]["sampler"].update(
        n_steps=SAMPLER_STEPS, n_burn=SAMPLER_STEPS // 5, max_steps=SAMPLER_STEPS
    )
    for sim in simulations(read_grid(grid), roles=("test", "mock")):
        (out / "maps" / sim.cosmology.id).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(maps, out / "maps" / sim.cosmology.id / f"{sim.name}.h5")
    (out / "survey").mkdir()
    shutil.copyfile(patch_maps, out / "survey" / "patch_maps.h5")
    training = out / "training" / "tiny"
    training.mkdir(parents=True)
    n_pix, channels = int(cfg["survey"]["n_pix"]), 3 * (len(cfg["survey"]["zb_edges"]) - 1)
    inputs = keras.Input((n_pix, n_pix, channels))
    model = keras.Model(inputs, keras.layers.Dense(N_OUTPUTS)(keras.layers.GlobalAveragePooling2D()(inputs)))
    model.save(training / "model.keras")
    # the network at the end of the demo curriculum's noise-free stage: a different one
    keras.utils.set_random_seed(1)
    head = keras.layers.Dense(N_OUTPUTS)(keras.layers.GlobalAveragePooling2D()(inputs))
    stage = stage_model_path(training, "noise_free")
    stage.parent.mkdir()
    keras.Model(inputs, head).save(stage)
    with (training / "history.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HISTORY_COLUMNS)
        for step in range(10, 60, 10):
            writer.writerow([step, "noisy", 1.0 / step, 1.5 / step, 1.0, 1e-3, 5.0, 100.0, 0.0, 0, step / 5])
    summaries = out / "inference" / "summaries" / "tiny.h5"
    summaries.parent.mkdir(parents=True)
    write_summaries(summaries, _summaries(_perfect_predictions(np.random.default_rng(2))))
    _write_tables(out)
    for a in ANALYSES:
        contours = out / "inference" / "results" / a / "omega_m_sigma8.png"
        contours.parent.mkdir(parents=True)
        shutil.copyfile(REPO / "docs" / "demo" / "omega_m_sigma8_cnn.png", contours)
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_report_of_a_small_run_end_to_end(
    small_survey: tuple[dict[str, Any], Path, Path],  # noqa: F811 - the imported fixture
    tmp_path: Path,
) -> None:
    config = _run_config(small_survey, tmp_path)
    report_dir = tmp_path / "docs" / "science"
    written = write_science_report(
        config, out_dir=report_dir, base_dir=REPO, noise_free_surveys=NOISE_FREE_SURVEYS
    )
    names = {p.name for p in written}
    expected = {"predictions_tiny_noisy.png", "predictions_tiny_noise_free.png", "training_loss.png",
                "report.md", REPORT_JSON, *(f"omega_m_sigma8_{a}.png" for a in ANALYSES),
                *(f"omega_m_sigma8_{a}_noise_free.png" for a in ("tiny", "power_spectrum"))}  # fmt: skip
    assert names == expected
    report = json.loads((report_dir / REPORT_JSON).read_text())
    # the noisy set is the summaries file: perfect predictions
    assert report["predictions"]["tiny"]["noisy"]["r2"] == pytest.approx(
        {"omega_m": 1.0, "sigma8": 1.0, "a_ia": 1.0}
    )
    noise_free = report["predictions"]["tiny"]["noise_free"]
    assert noise_free["n_surveys"] == len(NODES) * len(A_IA) * NOISE_FREE_SURVEYS
    assert all(np.isfinite(v) and v <= 1.0 for v in noise_free["r2"].values())
    assert report["constraints"]["area_ratio_68"]["tiny/power_spectrum"] == pytest.approx(0.5)
    assert "| tiny | noise-free |" in (report_dir / "report.md").read_text()
    # the noise-free analysis: both constrained, the ratio is the rows' areas'
    nf = report["noise_free"]["tiny"]
    assert nf["model"] == str(stage_model_path(tmp_path / "results" / "training" / "tiny", "noise_free"))
    rows = nf["analyses"]
    assert set(rows) == {"tiny_noise_free", "power_spectrum_noise_free"}
    assert nf["area_ratio_68"] == pytest.approx(
        rows["tiny_noise_free"]["area_68"] / rows["power_spectrum_noise_free"]["area_68"]
    )
    assert all(0 < r["area_68"] < 0.4 * 1.0 for r in rows.values())  # inside the prior box (0.4 x 1.0)
    assert "Noise-free area ratio tiny / power spectrum" in (report_dir / "report.md").read_text()
    # the noise-free predictions were made by the noise-free stage's network, not the final one
    sidecar = json.loads((report_dir / "predictions_tiny_noise_free.png.prov.json").read_text())
    assert "stages/noise_free.keras" in json.dumps(sidecar)
    assert "training/tiny/model.keras" not in json.dumps(sidecar)
    for path in written:
        assert path.with_name(path.name + ".prov.json").is_file(), path
        # the fixture's patch maps name the catalogue they were made from, in the fixture's folder
        node = audit(path, roots=[tmp_path, small_survey[1].parent])
        assert node.ok, path


def test_missing_run_outputs_stop_the_report_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["run"]["output_dir"] = str(tmp_path / "results")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    report_dir = tmp_path / "report"
    before = _files(tmp_path)
    status = main([str(config), "--out", str(report_dir), "--base-dir", str(REPO)])
    err = capsys.readouterr().err.strip()
    assert status == EXIT_BAD_INPUT
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    history = tmp_path / "results" / "training" / "tiny" / "history.csv"
    for part in (str(history), "file", "training history", "no such file"):
        assert part in err, err
    assert _files(tmp_path) == before


def test_a_malformed_constraints_table_stops_the_report_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    out = tmp_path / "results"
    cfg["run"]["output_dir"] = str(out)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    # every file the report needs exists (empty: only their presence is checked before the table)
    constraints, _ = _write_tables(out, analyses=DEMO_ANALYSES)
    shelled = simulations(read_grid(REPO / cfg["cosmology"]["grid"]), roles=("test", "mock"))
    needed = [out / "training" / "tiny" / "history.csv", out / "training" / "tiny" / "model.keras",
              out / "inference" / "summaries" / "tiny.h5", out / "survey" / "patch_maps.h5",
              *(out / "inference" / "results" / a / "omega_m_sigma8.png" for a in DEMO_ANALYSES),
              *(out / "maps" / sim.cosmology.id / f"{sim.name}.h5" for sim in shelled)]  # fmt: skip
    for path in needed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    constraints.write_text('{"schema": "wlcnn.constraints/1", "rows": "none"}')
    report_dir = tmp_path / "report"
    before = _files(tmp_path)
    status = main([str(config), "--out", str(report_dir), "--base-dir", str(REPO)])
    err = capsys.readouterr().err.strip()
    assert status == EXIT_BAD_INPUT and len(err.splitlines()) == 1
    for part in (str(constraints), "rows", "a list of analyses", "'none'"):
        assert part in err, err
    assert _files(tmp_path) == before


def test_a_missing_noise_free_stage_network_stops_the_report_and_writes_nothing(
    small_survey: tuple[dict[str, Any], Path, Path],  # noqa: F811 - the imported fixture
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _run_config(small_survey, tmp_path)
    stage = stage_model_path(tmp_path / "results" / "training" / "tiny", "noise_free")
    stage.unlink()
    report_dir = tmp_path / "docs" / "science"
    before = _files(tmp_path)
    status = main([str(config), "--out", str(report_dir), "--base-dir", str(REPO)])
    err = capsys.readouterr().err.strip()
    assert status == EXIT_BAD_INPUT and len(err.splitlines()) == 1 and "Traceback" not in err
    for part in (str(stage), "file", "noise-free stage 'noise_free'", "no such file"):
        assert part in err, err
    assert _files(tmp_path) == before
