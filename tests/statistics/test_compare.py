"""Map-set comparison (issue 15 item 3): verdicts on fields of known spectra, the JSON, the rule.

The fields are made here with plain numpy FFTs from a power law P(k) ∝ k^slope exp(−(k s)²), so
the expected outcome is known independently of wlcnn: one spectrum gives consistent sets, two
spectra of different slope give different sets.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import yaml

from wlcnn.cli import main
from wlcnn.maps.mapfile import MAPS_FORMAT, MAPS_VERSION
from wlcnn.statistics.compare import (
    COMPARE_FILES,
    STATISTICS,
    CompareSettings,
    compare_map_sets,
)
from wlcnn.statistics.compare_files import compare_map_files

REPO = Path(__file__).resolve().parents[2]
N_PIX = 64
N_MAPS = 40
N_TOMO = 2
SIDE_DEG = 5.0
SMOOTHING_PIX = 2.0
#: Spectral slopes of the two "cosmologies": the second has much more small-scale power.
SLOPE_A, SLOPE_B = -2.0, -1.0
#: Few resamplings keep the tests fast; the verdict uses the observed p-values.
SETTINGS = CompareSettings(n_bootstrap=5, ps_ell_range=(150.0, 2000.0), ps_n_ell_bins=5)


def _fields(seed: int, slope: float, n_maps: int = N_MAPS) -> np.ndarray:
    """(n_maps, N_TOMO, N, N) Gaussian fields of spectrum k^slope exp(-(k s)^2), unit variance."""
    rng = np.random.default_rng(seed)
    f = np.fft.fftfreq(N_PIX) * 2.0 * np.pi
    k = np.hypot(f[:, None], f[None, :])
    power = np.zeros_like(k)
    power[k > 0] = k[k > 0] ** slope * np.exp(-((k[k > 0] * SMOOTHING_PIX) ** 2))
    white = rng.standard_normal((n_maps, N_TOMO, N_PIX, N_PIX))
    maps = np.fft.ifft2(np.fft.fft2(white) * np.sqrt(power)).real
    return maps / maps.std()


def test_same_spectrum_is_consistent() -> None:
    result = compare_map_sets(
        _fields(1, SLOPE_A), _fields(2, SLOPE_A), side_deg=SIDE_DEG, settings=SETTINGS, seed=3
    )
    assert not result.different
    assert result.min_pvalue_corrected > SETTINGS.alpha
    # no statistic on its own is far off either (observed KS p-values, not corrected)
    for s in result.statistics.values():
        assert float(s.ks_pvalue.min()) > SETTINGS.alpha / result.n_tests


def test_different_spectrum_is_different_at_high_confidence() -> None:
    result = compare_map_sets(
        _fields(1, SLOPE_A), _fields(2, SLOPE_B), side_deg=SIDE_DEG, settings=SETTINGS, seed=3
    )
    assert result.different
    assert result.min_pvalue_corrected < 1e-6
    # the power spectrum on its own sees it (the slope is what differs)
    assert float(result.statistics["power_spectrum"].ks_pvalue.min()) < 1e-6


def test_amplitude_difference_shows_beyond_the_power_spectrum() -> None:
    """Thresholds in units of set A's σ0: a 30 % amplitude change moves the histogram and MFs too."""
    result = compare_map_sets(
        _fields(1, SLOPE_A), 1.3 * _fields(2, SLOPE_A), side_deg=SIDE_DEG, settings=SETTINGS, seed=3
    )
    for name in ("pixel_histogram", "v0", "power_spectrum"):
        assert float(result.statistics[name].ks_pvalue.min()) * result.n_tests < SETTINGS.alpha, name


def _write_map_file(path: Path, maps: np.ndarray) -> Path:
    """A minimal map file: the root attributes the reader checks and the κ stack."""
    with h5py.File(path, "w") as fh:
        fh.attrs.update(
            format=MAPS_FORMAT,
            format_version=MAPS_VERSION,
            n_pix=N_PIX,
            patch_size_deg=SIDE_DEG,
            n_bins=N_TOMO,
        )
        fh["kappa"] = maps.astype(np.float32)
    return path


def test_json_holds_every_number_and_figures_are_written(tmp_path: Path) -> None:
    maps_a, maps_b = _fields(1, SLOPE_A), _fields(2, SLOPE_B)
    files_a = [_write_map_file(tmp_path / "a.h5", maps_a)]
    files_b = [_write_map_file(tmp_path / "b.h5", maps_b)]
    outputs = {k: tmp_path / "out" / v for k, v in COMPARE_FILES.items()}
    compare_map_files(
        files_a,
        files_b,
        outputs=outputs,
        name="t",
        settings=SETTINGS,
        seed=7,
        expect="different",
        config_subset={"statistics": {"n_bootstrap": SETTINGS.n_bootstrap}},
    )
    record = json.loads(outputs["json"].read_text())
    assert set(record["statistics"]) == set(STATISTICS)
    assert record["n_maps"] == {"a": N_MAPS, "b": N_MAPS}
    assert record["verdict"]["different"] and record["as_expected"] and record["expect"] == "different"
    assert record["provenance"]["config"] == {"statistics": {"n_bootstrap": SETTINGS.n_bootstrap}}
    assert {Path(r["path"]).name for r in record["provenance"]["inputs"]} == {"a.h5", "b.h5"}
    # the reference σ0 and the pixel histogram, recomputed independently with numpy
    kappa_a = maps_a.astype(np.float32).astype(np.float64)
    sigma = np.sqrt((kappa_a.reshape(N_MAPS, N_TOMO, -1).std(axis=2) ** 2).mean(axis=0))
    np.testing.assert_allclose(record["reference_sigma"], sigma, rtol=1e-10)
    edges = np.linspace(*SETTINGS.histogram_nu_range, SETTINGS.histogram_n_bins + 1) * sigma[1]
    counts, _ = np.histogram(kappa_a[5, 1], bins=edges)
    expected_pdf = counts / (N_PIX**2 * np.diff(edges)) * sigma[1]
    hist = record["statistics"]["pixel_histogram"]
    np.testing.assert_allclose(hist["per_map"]["a"][5][1], expected_pdf, rtol=1e-10, atol=1e-12)
    # mean, std, p-values and bootstrap for every (tomographic bin, x) of every statistic
    for name, entry in record["statistics"].items():
        n_x = len(entry["x"])
        per_map = np.array(entry["per_map"]["b"], dtype=float)
        assert per_map.shape == (N_MAPS, N_TOMO, n_x), name
        np.testing.assert_allclose(
            np.array(entry["mean"]["b"], dtype=float), per_map.mean(axis=0), rtol=1e-12
        )
        assert np.array(entry["ks_pvalue"]).shape == (N_TOMO, n_x)
        assert np.array(entry["bootstrap"]["ad_pvalues"]).shape == (SETTINGS.n_bootstrap, N_TOMO, n_x)
        assert np.array(entry["correlation_difference"], dtype=float).shape == (N_TOMO * n_x, N_TOMO * n_x)
    for key in COMPARE_FILES:
        assert outputs[key].stat().st_size > 0
        if key != "json":
            assert outputs[key].with_name(outputs[key].name + ".prov.json").is_file()
    leftovers = [p.name for p in (tmp_path / "out").iterdir() if "tmp" in p.name]
    assert leftovers == []


@pytest.fixture(scope="module")
def demo() -> dict[str, Any]:
    return yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


@pytest.mark.parametrize(
    ("side", "key", "value", "field", "expected"),
    [
        (
            "a",
            "cosmology",
            "c999",
            "statistics.compare[0].a.cosmology",
            "expected a cosmology of cosmology.grid",
        ),
        (
            "b",
            "simulation",
            "sim07",
            "statistics.compare[0].b.simulation",
            "expected a simulation of cosmology c004",
        ),
    ],
)
def test_unknown_cosmology_or_simulation_is_refused(
    demo: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    side: str,
    key: str,
    value: str,
    field: str,
    expected: str,
) -> None:
    cfg = copy.deepcopy(demo)
    cfg["statistics"]["compare"][0][side][key] = value
    cfg["run"]["output_dir"] = str(tmp_path / "results")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    before = set(tmp_path.rglob("*"))
    assert main(["config", str(path), "--base-dir", str(REPO)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and field in err and expected in err and repr(value) in err
    assert "Traceback" not in err
    assert set(tmp_path.rglob("*")) == before


def test_compare_maps_is_in_the_demo_dag(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    demo = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    demo["run"]["output_dir"] = str(tmp_path / "demo")  # nothing exists: the whole DAG
    override = tmp_path / "override.yaml"
    override.write_text(yaml.safe_dump({"run": demo["run"]}))
    dry = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", "config/demo.yaml", str(override)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=REPO,
    )
    assert dry.returncode == 0, dry.stderr[-3000:]
    # the "Job stats" table: one line "<rule> <count>" per rule
    counts = {
        w[0]: w[1] for w in (line.split() for line in (dry.stdout + dry.stderr).splitlines()) if len(w) == 2
    }
    n_pairs = len(yaml.safe_load((REPO / "config" / "demo.yaml").read_text())["statistics"]["compare"])
    assert counts.get("compare_maps") == str(n_pairs), dry.stdout[-3000:]
