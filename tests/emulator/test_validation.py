"""The validation has power, model selection's χ², memorisation distances, costs, speed.

The map sets are small periodic Gaussian random fields (plain numpy FFTs, independent of wlcnn)
instead of demo maps, which would cost minutes of simulation in a unit test: two independent
sets of one spectrum must pass the comparison, a set of another spectrum (a σ8-like amplitude
change and a tilt) must fail it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from wlcnn.emulator.pixel_transform import PixelTransform
from wlcnn.emulator.settings import EmulatorSettings
from wlcnn.emulator.validation import (
    generate,
    generation_speed,
    nearest_training_distances,
    power_spectrum_chi2,
    simulation_cost_per_map,
)
from wlcnn.statistics.compare import CompareSettings, compare_map_sets

N_PIX, N_BINS, N_MAPS, SIDE_DEG = 32, 4, 60, 5.0
ELL_EDGES = np.geomspace(100.0, 1100.0, 5)
SETTINGS = CompareSettings(mf_n_thresholds=19, ps_ell_range=(100.0, 1100.0), ps_n_ell_bins=4, n_bootstrap=5)


def grf(seed: int, *, amplitude: float = 1.0, slope: float = -2.0) -> np.ndarray:
    """(N_MAPS, N_PIX, N_PIX, N_BINS) Gaussian fields of P(k) ∝ amplitude² k^slope, bins correlated."""
    rng = np.random.default_rng(seed)
    k = np.hypot(*np.meshgrid(np.fft.fftfreq(N_PIX), np.fft.fftfreq(N_PIX), indexing="ij"))
    pk = np.zeros_like(k)
    pk[k > 0] = k[k > 0] ** slope
    common = rng.standard_normal((N_MAPS, N_PIX, N_PIX))
    fields = []
    for t in range(N_BINS):
        white = 0.7 * common + 0.7 * rng.standard_normal((N_MAPS, N_PIX, N_PIX))
        fields.append(0.01 * (t + 1) * amplitude * np.fft.ifft2(np.fft.fft2(white) * np.sqrt(pk)).real)
    return np.stack(fields, axis=-1)


def _compare(a: np.ndarray, b: np.ndarray) -> bool:
    out = compare_map_sets(
        np.moveaxis(a, -1, 1), np.moveaxis(b, -1, 1), side_deg=SIDE_DEG, settings=SETTINGS, seed=0
    )
    return out.different


def test_two_sets_of_one_spectrum_pass_another_spectrum_fails() -> None:
    a, b = grf(1), grf(2)
    assert not _compare(a, b)
    assert _compare(a, grf(3, amplitude=1.15))
    assert _compare(a, grf(4, slope=-2.4))


def test_power_spectrum_chi2_is_small_for_one_spectrum_and_grows_with_the_difference() -> None:
    a, b = grf(1), grf(2)
    same = power_spectrum_chi2(b, a, side_deg=SIDE_DEG, ell_edges=ELL_EDGES)
    off = power_spectrum_chi2(grf(3, amplitude=1.3), a, side_deg=SIDE_DEG, ell_edges=ELL_EDGES)
    assert same < 0.2 < off
    assert power_spectrum_chi2(a, a, side_deg=SIDE_DEG, ell_edges=ELL_EDGES) == 0.0


def test_memorised_maps_are_found_at_zero_distance() -> None:
    train, fresh = grf(1), grf(2)
    copies = train[[5, 7]] * 1.0
    d = nearest_training_distances(copies, train, side_deg=SIDE_DEG, ell_edges=ELL_EDGES)
    np.testing.assert_array_equal(d.pixel_index, [5, 7])
    np.testing.assert_allclose(d.pixel, 0.0, atol=1e-6)
    np.testing.assert_allclose(d.power_spectrum, 0.0, atol=1e-6)
    d_fresh = nearest_training_distances(fresh[:5], train, side_deg=SIDE_DEG, ell_edges=ELL_EDGES)
    assert np.all(d_fresh.pixel > 1.0)  # independent fields differ by ~sqrt(2) σ per pixel


def test_simulation_cost_sums_benchmarks_per_map(tmp_path: Path) -> None:
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    for name, (wall, cpu) in {"a.tsv": (10.0, 8.0), "b.tsv": (30.0, 12.0)}.items():
        (tmp_path / name).write_text(header + f"{wall}\t0:00:10\t1\t1\t1\t1\t0\t0\t1\t{cpu}\n")
    cost = simulation_cost_per_map(
        [tmp_path / "a.tsv", tmp_path / "b.tsv", tmp_path / "missing.tsv"], n_maps=20
    )
    assert cost is not None
    assert (cost.wall_seconds_per_map, cost.cpu_seconds_per_map, cost.n_files) == (2.0, 1.0, 2)
    assert simulation_cost_per_map([tmp_path / "missing.tsv"], n_maps=20) is None


def test_generation_and_speed_of_a_tiny_generator() -> None:
    from wlcnn.emulator.networks import build_generator  # lazy: TensorFlow only in this test

    settings = EmulatorSettings(n_pix=16, latent_dim=4, base_filters=2, kernel_size=3)
    g = build_generator(settings, n_bins=N_BINS)
    t = PixelTransform(mean=np.zeros(N_BINS), scale=np.full(N_BINS, 0.01), softness=4.0)
    maps = generate(g, t, n_maps=5, condition=[0.0, 0.0], seed=1, identity=("c",), batch=2)
    again = generate(g, t, n_maps=5, condition=[0.0, 0.0], seed=1, identity=("c",), batch=5)
    assert maps.shape == (5, 16, 16, N_BINS)
    np.testing.assert_allclose(maps, again, rtol=1e-5, atol=1e-9)
    speed = generation_speed(g, n_maps=8, batch=4, condition=[0.0, 0.0], seed=1)
    assert speed["n_maps"] == 8
    assert speed["maps_per_second"] > 0
    json.dumps(speed)


@pytest.mark.parametrize(
    ("block", "fragment"),
    [
        ({"n_pix": 24}, "emulator.n_pix: expected a multiple of 16 dividing shells.n_pix = 128, found 24"),
        ({"holdout": ["c099"]}, "emulator.holdout: expected cosmologies of cosmology.grid"),
    ],
)
def test_config_problems_name_key_expected_and_found(block: dict[str, object], fragment: str) -> None:
    from wlcnn.emulator.settings import emulator_config_problems

    problems = emulator_config_problems(
        {"shells": {"n_pix": 128}, "emulator": block}, grid_ids=["c000", "c001"]
    )
    assert any(fragment in p for p in problems), problems
    assert "c099" in " ".join(problems) or "24" in " ".join(problems)
