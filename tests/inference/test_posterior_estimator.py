"""The NPE rule's library function on the linear-Gaussian toy, and its configuration checks.

The toy's posterior is known in closed form (:meth:`LinearGaussianToy.analytic_posterior`): the
NPE trained on toy surveys written to a summaries file must find its mean, and its held-out
calibration must be near nominal. Bad ``inference.npe`` settings are refused by ``wlcnn config``
(exit 2, file, key, expected and found named, nothing written).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from wlcnn.atomic import TEMP_TAG
from wlcnn.cli import main
from wlcnn.inference.analysis import InferenceSettings
from wlcnn.inference.constraints import s8
from wlcnn.inference.posterior_estimator import (
    NPE_FILES,
    NPE_PARAMETERS,
    NPESettings,
    holdout_mask,
    run_posterior_estimator,
)
from wlcnn.inference.summaries import (
    DataVector,
    Summaries,
    SummariesFileError,
    read_data_vector,
    read_summaries,
    write_data_vector,
    write_summaries,
)
from wlcnn.inference.toy import default_toy

REPO = Path(__file__).resolve().parents[2]
#: Box of the toy's simulated cosmologies: the posterior (sd ~0.03, 0.05) sits well inside.
OMEGA_M_BOX = (0.15, 0.45)
SIGMA8_BOX = (0.5, 1.1)
A_IA_RANGE = (-6.0, 6.0)
#: Cosmologies drawn uniformly in the box, A_IA values, surveys per (cosmology, A_IA).
N_COSMOLOGIES = 250
N_A_IA = 9
N_SURVEYS = 3
#: The observed survey's parameters.
OBSERVED_THETA = np.array([0.3, 0.8, 0.5])
NPE = NPESettings(k=1, hidden=(32, 32), epochs=40, holdout_fraction=1.0 / N_SURVEYS)
#: Allowed error of the NPE mean, in analytic posterior standard deviations.
MEAN_TOLERANCE_SD = 0.3
#: Allowed distance of the held-out 68 % coverage from nominal (~2250 trials: binomial sd 1 %).
COVERAGE_TOLERANCE = 0.08


def _toy_files(directory: Path) -> tuple[Path, Path]:
    toy = default_toy()
    rng = np.random.default_rng(11)
    om = rng.uniform(*OMEGA_M_BOX, N_COSMOLOGIES)
    sig = rng.uniform(*SIGMA8_BOX, N_COSMOLOGIES)
    a_ia = np.linspace(*A_IA_RANGE, N_A_IA)
    pred = np.stack(
        [
            np.stack([toy.surveys(np.array([o, s, a]), n=N_SURVEYS, rng=rng) for a in a_ia])
            for o, s in zip(om, sig, strict=True)
        ]
    )
    summaries = Summaries(
        label="toy",
        cosmology_ids=tuple(f"c{i:03d}" for i in range(N_COSMOLOGIES)),
        omega_m=om,
        sigma8=sig,
        a_ia=a_ia,
        predictions=pred,
        seeds=np.zeros(pred.shape[:3], dtype=np.uint64),
        output_names=("t0", "t1", "t2", "t3"),
    )
    observed = toy.surveys(OBSERVED_THETA, n=1, rng=rng)[0]
    data = DataVector(label="toy", data=observed, output_names=summaries.output_names)
    paths = directory / "summaries.h5", directory / "data.h5"
    write_summaries(paths[0], summaries)
    write_data_vector(paths[1], data)
    return paths


def _settings(out: Path) -> InferenceSettings:
    return InferenceSettings.from_config(
        {
            "run": {"seed": 3, "output_dir": str(out)},
            "cosmology": {"prior": {"omega_m": list(OMEGA_M_BOX), "sigma8": list(SIGMA8_BOX)}},
            "inference": {"a_ia_range": list(A_IA_RANGE), "grid_shape": [32, 32, 24]},
        }
    )


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, np.ndarray]:
    directory = tmp_path_factory.mktemp("npe")
    summaries_path, data_path = _toy_files(directory)
    out = directory / "npe" / "toy"
    data = read_data_vector(data_path)
    result = run_posterior_estimator(
        read_summaries(summaries_path),
        data,
        settings=_settings(directory),
        npe=NPE,
        out_dir=out,
        label="toy",
        truth=OBSERVED_THETA,
        inputs=[summaries_path, data_path],
    )
    return result, out, np.asarray(data.data)


def test_npe_mean_matches_the_analytic_posterior(toy_run: tuple[dict[str, Any], Path, np.ndarray]) -> None:
    result, _, observed = toy_run
    mean, cov = default_toy().analytic_posterior(observed)
    sd = np.sqrt(np.diag(cov))
    found = np.array([result["parameters"][name]["mean"] for name in ("omega_m", "sigma8", "a_ia")])
    error = np.abs(found - mean) / sd
    print(f"NPE mean {found}, analytic {mean}, |Δ|/σ {error}")
    assert np.all(error < MEAN_TOLERANCE_SD)
    # S8 from the same draws: its mean near S8 of analytic draws
    draws = np.random.default_rng(0).multivariate_normal(mean, cov, size=200_000)
    s8_draws = s8(draws[:, 0], draws[:, 1])
    s8_error = abs(result["parameters"]["s8"]["mean"] - s8_draws.mean()) / s8_draws.std()
    assert s8_error < MEAN_TOLERANCE_SD


def test_npe_json_has_every_number_and_the_files(toy_run: tuple[dict[str, Any], Path, np.ndarray]) -> None:
    _, out, _ = toy_run
    written = json.loads((out / NPE_FILES["json"]).read_text())
    assert written["label"] == "toy" and written["blinded"] is False
    for name in NPE_PARAMETERS:
        entry = written["parameters"][name]
        for key in ("mean", "median", "lower", "upper", "plus", "minus"):
            assert np.isfinite(entry[key]), (name, key)
        assert entry["lower"] < entry["median"] < entry["upper"]
    assert written["truth"]["s8"] == pytest.approx(float(s8(0.3, 0.8)))
    training = written["training"]
    expected_held_out = N_COSMOLOGIES * N_A_IA * round(N_SURVEYS * NPE.holdout_fraction)
    assert training["n_held_out"] == expected_held_out
    assert training["n_train"] == N_COSMOLOGIES * N_A_IA * N_SURVEYS - expected_held_out
    calibration = written["calibration"]
    assert calibration["n_trials"] == expected_held_out
    assert re.fullmatch(
        rf"68 % intervals cover the truth in [\d.]+ \+- [\d.]+ % of {expected_held_out} trials",
        written["statement"],
    )
    assert 0.0 < written["mixture_mass_in_prior"] <= 1.0
    assert written["provenance"]["inputs"]
    for name in NPE_FILES.values():
        assert (out / name).is_file() and (out / name).stat().st_size > 0
    assert not [p for p in out.rglob("*") if TEMP_TAG in p.name]


def test_npe_held_out_coverage_is_near_nominal(toy_run: tuple[dict[str, Any], Path, np.ndarray]) -> None:
    result, _, _ = toy_run
    for name in ("s8", "omega_m", "sigma8"):
        curve = result["calibration"]["parameters"][name]
        level = curve["nominal"].index(0.68)
        print(name, curve["empirical"][level])
        assert abs(curve["empirical"][level] - 0.68) < COVERAGE_TOLERANCE, name


def test_holdout_mask_is_seeded_and_per_grid_value() -> None:
    a = holdout_mask((3, 2, 10), fraction=0.3, rng=np.random.default_rng(1))
    b = holdout_mask((3, 2, 10), fraction=0.3, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a.sum(axis=2), np.full((3, 2), 3))
    assert not np.array_equal(a[0, 0], a[1, 0])  # each grid value draws its own surveys


def test_data_vector_of_other_outputs_is_refused(tmp_path: Path) -> None:
    summaries_path, data_path = _toy_files(tmp_path)
    data = read_data_vector(data_path)
    wrong = DataVector(label="toy", data=data.data, output_names=("a", "b", "c", "d"), source=str(data_path))
    out = tmp_path / "out"
    with pytest.raises(SummariesFileError) as info:
        run_posterior_estimator(
            read_summaries(summaries_path),
            wrong,
            settings=_settings(tmp_path),
            npe=NPE,
            out_dir=out,
            label="toy",
        )
    message = str(info.value)
    assert str(data_path) in message and "output_names" in message and "'t0'" in message and "'a'" in message
    assert not out.exists()


# --- configuration -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> dict[str, Any]:
    return yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


BAD_NPE = {
    "k_zero": ({"k": 0}, "inference.npe.k", "0 out of range; allowed: >= 1"),
    "epochs_zero": ({"epochs": 0}, "inference.npe.epochs", "0 out of range; allowed: >= 1"),
    "epochs_text": ({"epochs": "ten"}, "inference.npe.epochs", "expected integer, found str 'ten'"),
    "unknown_analysis": (
        {"analyses": ["tiny", "nonesuch"]},
        "inference.npe.analyses",
        (
            "expected analysis labels among ['tiny', 'power_spectrum', 'peaks', 'minkowski', 'cnn_and_ps'], "
            "found 'nonesuch'"
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_NPE))
def test_bad_npe_config_is_refused(
    case: str, demo: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit, key, expected_found = BAD_NPE[case]
    cfg = copy.deepcopy(demo)
    cfg["inference"]["npe"] = {**cfg["inference"].get("npe", {}), **edit}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    before = set(tmp_path.rglob("*"))
    assert main(["config", str(path), "--base-dir", str(REPO)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"wlcnn config: error: invalid configuration {path}")
    assert f"{key}: " in captured.err and expected_found in captured.err
    assert "Traceback" not in captured.err
    assert set(tmp_path.rglob("*")) == before
