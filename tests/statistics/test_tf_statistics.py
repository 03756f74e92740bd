"""TensorFlow statistics against the NumPy float64 ones (float32 tolerance)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from wlcnn.statistics import peak_counts, power_spectrum

tf = pytest.importorskip("tensorflow")

from wlcnn.statistics.tf_statistics import peak_counts_tf, power_spectrum_tf  # noqa: E402

SIDE_DEG = 5.0
N_PIX = 64
ELL_EDGES = np.geomspace(100.0, 4000.0, 11)
#: float32 FFT: errors relative to the largest band power of the map.
FLOAT32_TOL = 1e-5


@pytest.fixture(scope="module")
def maps() -> np.ndarray:
    rng = np.random.default_rng(32)
    k = np.fft.fftfreq(N_PIX) * 2 * np.pi
    smooth = np.exp(-((np.hypot(k[:, None], k[None, :]) * 0.7) ** 2))  # mild: every bin has power
    fields = np.fft.ifft2(np.fft.fft2(rng.standard_normal((3, 4, N_PIX, N_PIX))) * smooth).real
    return (0.01 * fields).astype(np.float32)


def _close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= FLOAT32_TOL * np.max(np.abs(want))
    np.testing.assert_allclose(got, want, rtol=1e-3)  # every bin, relative, on these maps


@pytest.mark.parametrize("ell_edges", [ELL_EDGES, None], ids=["binned", "rings"])
def test_power_spectrum_matches_numpy(maps: np.ndarray, ell_edges: np.ndarray | None) -> None:
    want = power_spectrum(maps, side_deg=SIDE_DEG, ell_edges=ell_edges).cl
    got = power_spectrum_tf(tf.constant(maps), side_deg=SIDE_DEG, ell_edges=ell_edges)
    assert got.dtype == tf.float32
    _close(got.numpy(), want)


def test_cross_spectrum_matches_numpy(maps: np.ndarray) -> None:
    other = maps[:, ::-1] + maps
    want = power_spectrum(maps, side_deg=SIDE_DEG, ell_edges=ELL_EDGES, other=other).cl
    got = power_spectrum_tf(maps, side_deg=SIDE_DEG, ell_edges=ELL_EDGES, other=other).numpy()
    assert np.max(np.abs(got - want)) <= FLOAT32_TOL * np.max(np.abs(want))


def test_empty_bins_are_nan_as_in_numpy(maps: np.ndarray) -> None:
    edges = [10.0, 20.0, 500.0]  # below the fundamental (72): no modes in the first bin
    want = power_spectrum(maps[0, 0], side_deg=SIDE_DEG, ell_edges=edges).cl
    got = power_spectrum_tf(maps[0, 0], side_deg=SIDE_DEG, ell_edges=edges).numpy()
    assert np.isnan(want[0]) and np.isnan(got[0])
    _close(got[1:], want[1:])


def test_power_spectrum_inside_tf_function(maps: np.ndarray) -> None:
    traced = tf.function(lambda x: power_spectrum_tf(x, side_deg=SIDE_DEG, ell_edges=ELL_EDGES))
    _close(
        traced(tf.constant(maps[0])).numpy(),
        power_spectrum(maps[0], side_deg=SIDE_DEG, ell_edges=ELL_EDGES).cl,
    )


def test_peak_counts_match_numpy(maps: np.ndarray) -> None:
    edges = np.linspace(-3.0, 3.0, 13) * float(maps.std())
    want = peak_counts(maps, edges).counts
    got = peak_counts_tf(maps, edges).numpy()
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)  # no peak within float32 rounding of an edge here
    assert want.sum() > 100
    np.testing.assert_array_equal(peak_counts_tf(maps[1, 2], edges).numpy(), want[1, 2])  # one 2-D map


@pytest.mark.parametrize(
    ("call", "shape", "message"),
    [
        (lambda m: power_spectrum_tf(m, side_deg=SIDE_DEG), (4, 8), "maps: expected square maps"),
        (lambda m: peak_counts_tf(m, [0.0, 1.0]), (3, 2, 2), "kappa: expected square maps"),
        (
            lambda m: power_spectrum_tf(m, side_deg=SIDE_DEG, ell_edges=[2.0, 1.0]),
            (8, 8),
            "ell_edges: expected",
        ),
        (
            lambda m: power_spectrum_tf(m, side_deg=SIDE_DEG, other=m[:1]),
            (2, 8, 8),
            "other: expected the shape",
        ),
    ],
)
def test_bad_input_names_the_argument(
    call: Callable[[np.ndarray], object], shape: tuple[int, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as err:
        call(np.zeros(shape, dtype=np.float32))
    assert "found" in str(err.value)
