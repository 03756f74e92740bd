"""Fast paths of the map statistics (issue 16): batches, single maps and cached edges agree.

The references are independent: the same statistic of each map alone (which shares no batch
bookkeeping with the batched call), a plain full-plane ``fft2`` spectrum, and a fresh check of
edges that were edited in place.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from wlcnn.statistics import minkowski_functionals, peak_counts, power_spectrum
from wlcnn.statistics.thresholds import checked_edges

SIDE_DEG = 5.0
N_PIX = 32
#: More maps than the spectrum transforms per call (16), and not a multiple of it.
N_MAPS = 37
ELL_EDGES = np.geomspace(100.0, 2000.0, 8)
UNIFORM = np.linspace(-2.5, 2.5, 11)
UNEVEN = np.array([-2.0, -0.7, 0.0, 0.1, 0.5, 1.7, 3.0])


@pytest.fixture(scope="module")
def maps() -> np.ndarray:
    rng = np.random.default_rng(16)
    k = np.fft.fftfreq(N_PIX) * 2 * np.pi
    smooth = np.exp(-((np.hypot(k[:, None], k[None, :]) * 0.7) ** 2))  # mild: power in every bin
    return np.fft.ifft2(np.fft.fft2(rng.standard_normal((N_MAPS, N_PIX, N_PIX))) * smooth).real * 4.0


@pytest.fixture(scope="module")
def mask() -> np.ndarray:
    return np.random.default_rng(17).random((N_PIX, N_PIX)) > 0.05


def _fft2_spectrum(m: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Full-plane |fft2|² averaged over the modes of each bin (no half-plane weights)."""
    k = np.fft.fftfreq(N_PIX) * N_PIX
    ell = 2 * np.pi / np.deg2rad(SIDE_DEG) * np.hypot(k[:, None], k[None, :])
    power = np.abs(np.fft.fft2(m)) ** 2 * np.deg2rad(SIDE_DEG) ** 2 / N_PIX**4
    return np.array([power[(ell >= lo) & (ell < hi)].mean() for lo, hi in itertools.pairwise(edges)])


def test_batched_spectrum_equals_single_maps_and_fft2_reference(maps: np.ndarray) -> None:
    batch = power_spectrum(maps.reshape(N_MAPS, 1, N_PIX, N_PIX), side_deg=SIDE_DEG, ell_edges=ELL_EDGES)
    assert batch.cl.shape == (N_MAPS, 1, ELL_EDGES.size - 1)
    for m, cl in zip(maps, batch.cl[:, 0], strict=True):
        single = power_spectrum(m, side_deg=SIDE_DEG, ell_edges=ELL_EDGES).cl
        np.testing.assert_array_equal(cl, single)  # same operations in the same order
        np.testing.assert_allclose(cl, _fft2_spectrum(m, ELL_EDGES), rtol=1e-10)


def test_batched_cross_spectrum_with_mask_equals_single_maps(maps: np.ndarray, mask: np.ndarray) -> None:
    other = maps[::-1] + 0.5 * maps
    batch = power_spectrum(maps, side_deg=SIDE_DEG, other=other, mask=mask).cl
    for i in (0, 15, 16, N_MAPS - 1):  # both sides of a chunk boundary, and the last
        single = power_spectrum(maps[i], side_deg=SIDE_DEG, other=other[i], mask=mask).cl
        np.testing.assert_array_equal(batch[i], single)
    # Cross-spectrum of a map with itself is its auto-spectrum (masked maps: Σ over both).
    auto = power_spectrum(maps, side_deg=SIDE_DEG, mask=mask).cl
    np.testing.assert_allclose(
        power_spectrum(maps, side_deg=SIDE_DEG, other=maps, mask=mask).cl, auto, rtol=1e-12
    )


@pytest.mark.parametrize("edges", [UNIFORM, UNEVEN], ids=["uniform", "uneven"])
@pytest.mark.parametrize("units", ["absolute", "sigma"])
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
def test_batched_peaks_and_minkowski_equal_single_maps(
    maps: np.ndarray, mask: np.ndarray, edges: np.ndarray, units: str, masked: bool
) -> None:
    m_arg = mask if masked else None
    scale = 1.0 if units == "sigma" else float(maps.std())
    pk = peak_counts(maps, edges * scale, mask=m_arg, units=units)
    mf = minkowski_functionals(maps, edges * scale, mask=m_arg, units=units)
    for i in (0, 1, N_MAPS - 1):
        one_pk = peak_counts(maps[i], edges * scale, mask=m_arg, units=units)
        one_mf = minkowski_functionals(maps[i], edges * scale, mask=m_arg, units=units)
        np.testing.assert_array_equal(pk.counts[i], one_pk.counts)
        assert pk.area[i] == one_pk.area
        for name in ("thresholds", "v0", "v1", "v2", "area"):
            np.testing.assert_array_equal(getattr(mf, name)[i], getattr(one_mf, name))
    assert pk.counts.sum() > 0


def test_minkowski_nan_pixel_leaves_the_other_maps_untouched(maps: np.ndarray) -> None:
    # A NaN pixel used to be binned at an undefined index, writing into another map's sums.
    bad = maps[:3].copy()
    bad[0, 10, 10] = np.nan
    edges = UNIFORM * float(maps.std())
    together = minkowski_functionals(bad, edges)
    alone = minkowski_functionals(maps[1:3], edges)
    for name in ("v0", "v1", "v2", "area"):
        np.testing.assert_array_equal(getattr(together, name)[1:], getattr(alone, name))
    assert np.all(np.isfinite(together.v0[0]))  # V0 counts the finite pixels only
    assert together.area[0] == alone.area[0]


def test_checked_edges_rechecks_an_array_edited_in_place() -> None:
    edges = np.array([0.0, 1.0, 2.0])
    first = checked_edges(edges, name="bins")
    assert checked_edges(edges, name="bins") is first
    assert not first.flags.writeable
    edges[2] = 0.5  # now not increasing: must fail, not reuse the remembered check
    with pytest.raises(ValueError, match=r"bins: expected >= 2 finite, strictly increasing values, found"):
        checked_edges(edges, name="bins")
    with pytest.raises(ValueError, match=r"thresholds: .*found array\(\[0\. , 1\. , 0\.5\]\)"):
        minkowski_functionals(np.zeros((4, 4)), edges)


def test_edited_edges_change_the_counts(maps: np.ndarray) -> None:
    edges = UNIFORM * float(maps.std())
    before = peak_counts(maps, edges).counts.copy()
    edges *= 0.5  # same object, new values
    after = peak_counts(maps, edges).counts
    np.testing.assert_array_equal(after, peak_counts(maps, edges.copy()).counts)
    assert not np.array_equal(before, after)
