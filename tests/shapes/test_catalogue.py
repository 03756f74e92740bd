"""Stamp catalogue -> shear catalogue: read back by the survey stage's own reader; bad input."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
from astropy.io import fits

from wlcnn.provenance import read_provenance
from wlcnn.shapes.catalogue import (
    estimate_snr,
    measure_stamp_catalogue,
    per_object_calibration,
    read_stamp_catalogue,
    write_shear_catalogue,
)
from wlcnn.shapes.stamps import render_shapes, simulate_stamps, write_stamp_catalogue
from wlcnn.survey.catalogue import CATALOGUE_FIELDS, CatalogueError, read_catalogue
from wlcnn.survey.settings import ColumnMap

SEED = 5
N = 6
#: A calibration entry as calibrate_shear writes it (two S/N bins).
CALIBRATION = {
    "fit": {"m": [-0.5, -0.5], "c": [0.01, -0.02], "m_err": [0.01, 0.01], "c_err": [0.001, 0.001], "n": 100},
    "rms": [0.3, 0.3],
    "by_snr": {"edges": [10.0, 50.0, 200.0], "m": [[-0.6, -0.6], [-0.4, -0.4]], "rms": [0.4, 0.2]},
}


class _FixedModel:
    """Stands in for the network: returns given raw estimates (the plumbing is under test; one batch)."""

    def __init__(self, g: np.ndarray) -> None:
        self.g = g

    def __call__(self, x: np.ndarray, *, training: bool) -> np.ndarray:
        return self.g[: x.shape[0]]


def _columns(demo_config: dict) -> ColumnMap:
    return ColumnMap(**demo_config["survey"]["columns"])


def _stamp_catalogue(path: Path, stamps_cfg, rng: np.random.Generator) -> dict[str, np.ndarray]:
    e = rng.uniform(-0.3, 0.3, size=(2, N))
    stamps = render_shapes(stamps_cfg, e1=e[0], e2=e[1], seed=SEED, label="cat")
    columns = {"ra": rng.uniform(0, 10, N), "dec": rng.uniform(-5, 5, N), "z_b": rng.uniform(0.1, 0.9, N)}
    write_stamp_catalogue(path, stamps, columns=columns, settings=stamps_cfg, provenance={"step": "test"})
    return columns


@pytest.mark.parametrize("flip", [False, True])
def test_shear_catalogue_is_read_back_by_the_survey_reader(tmp_path: Path, demo_config, flip: bool):
    rng = np.random.default_rng(1)
    columns = {name: rng.uniform(0.1, 0.5, N) for name in CATALOGUE_FIELDS}
    path = tmp_path / "shear.fits"
    cmap = _columns(demo_config)
    write_shear_catalogue(
        path, columns=columns, column_map=cmap, flip_e1=flip, flip_e2=False, provenance={"step": "x"}
    )
    cat, drops = read_catalogue([path], columns=cmap, flip_e1=flip)
    assert drops.n_dropped == 0
    for name in CATALOGUE_FIELDS:
        np.testing.assert_allclose(getattr(cat, name), columns[name], rtol=1e-6)
    with fits.open(path) as hdul:
        assert set(hdul["SHEAR"].columns.names) == {getattr(cmap, f) for f in CATALOGUE_FIELDS}
    assert read_provenance(path) is not None


def test_measured_catalogue_applies_the_calibration(tmp_path: Path, stamps_cfg):
    rng = np.random.default_rng(2)
    source = tmp_path / "stamps.h5"
    columns = _stamp_catalogue(source, stamps_cfg, rng)
    raw = rng.normal(0, 0.1, size=(N, 2))
    out = measure_stamp_catalogue(
        source,
        model=_FixedModel(raw),
        calibration=CALIBRATION,
        stamp_size=stamps_cfg.stamp_size,
        batch_size=N,
    )
    np.testing.assert_allclose(out["e1"], raw[:, 0] - 0.01)
    np.testing.assert_allclose(out["e2"], raw[:, 1] + 0.02)
    for name in ("ra", "dec", "z_b"):
        np.testing.assert_array_equal(out[name], columns[name])
    with h5py.File(source, "r") as fh:
        snr = estimate_snr(fh["stamps"][...])
    high = snr >= CALIBRATION["by_snr"]["edges"][1]
    np.testing.assert_allclose(out["m"], np.where(high, -0.4, -0.6))
    np.testing.assert_allclose(out["weight"], np.where(high, 1 / 0.2**2, 1 / 0.4**2))


def test_snr_estimate_follows_the_drawn_snr(stamps_cfg):
    stamps = simulate_stamps(stamps_cfg, seed=SEED, label="snr", start=0, stop=40, augment=False)
    ratio = estimate_snr(stamps.stamps) / stamps.snr
    assert abs(np.median(ratio) - 1.0) < 0.15


def test_per_object_calibration_falls_back_on_empty_bins():
    calibration = {**CALIBRATION, "by_snr": {**CALIBRATION["by_snr"], "m": [[np.nan, np.nan], [-0.4, -0.4]]}}
    _, m, _ = per_object_calibration(np.array([20.0, 100.0]), calibration)
    np.testing.assert_allclose(m, [-0.5, -0.4])


def test_fits_stamp_catalogue_is_read_like_hdf5(tmp_path: Path, stamps_cfg):
    rng = np.random.default_rng(3)
    stamps = rng.normal(size=(N, stamps_cfg.stamp_size, stamps_cfg.stamp_size)).astype(np.float32)
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column(name=n.upper(), format="D", array=rng.uniform(0.2, 0.8, N))
            for n in ("ra", "dec", "z_b")
        ]
    )
    path = tmp_path / "stamps.fits"
    fits.HDUList([fits.PrimaryHDU(), table, fits.ImageHDU(stamps, name="STAMPS")]).writeto(path)
    read, columns = read_stamp_catalogue(path, stamp_size=stamps_cfg.stamp_size)
    np.testing.assert_array_equal(read, stamps)
    assert sorted(columns) == ["dec", "ra", "z_b"]


def _assert_clear(info: pytest.ExceptionInfo, path: Path, field: str, expected: str, found: str) -> None:
    message = str(info.value)
    assert str(path) in message and repr(field) in message
    assert f"expected {expected}" in message and f"found {found}" in message


def _measure_and_write(source: Path, out: Path, stamps_cfg) -> None:
    """What measure_shapes does: nothing is written unless the measurement succeeds."""
    columns = measure_stamp_catalogue(
        source,
        model=_FixedModel(np.zeros((N, 2))),
        calibration=CALIBRATION,
        stamp_size=stamps_cfg.stamp_size,
        batch_size=N,
    )
    write_shear_catalogue(
        out, columns=columns, column_map=ColumnMap(), flip_e1=False, flip_e2=False, provenance={}
    )


def test_missing_column_is_a_clear_error_and_writes_nothing(tmp_path: Path, stamps_cfg):
    source = tmp_path / "in" / "stamps.h5"
    source.parent.mkdir()
    _stamp_catalogue(source, stamps_cfg, np.random.default_rng(4))
    with h5py.File(source, "r+") as fh:
        del fh["z_b"]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(CatalogueError) as info:
        _measure_and_write(source, out_dir / "shear.fits", stamps_cfg)
    _assert_clear(info, source, "z_b", "this dataset to exist", "datasets [")
    assert list(out_dir.iterdir()) == []


def test_wrong_stamp_shape_is_a_clear_error_and_writes_nothing(tmp_path: Path, stamps_cfg):
    source = tmp_path / "in" / "stamps.h5"
    source.parent.mkdir()
    _stamp_catalogue(source, replace(stamps_cfg, stamp_size=30), np.random.default_rng(5))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(CatalogueError) as info:
        _measure_and_write(source, out_dir / "shear.fits", stamps_cfg)
    _assert_clear(info, source, "stamps", "shape (N, 32, 32)", f"shape ({N}, 30, 30)")
    assert list(out_dir.iterdir()) == []


def test_fits_without_stamps_hdu_is_a_clear_error(tmp_path: Path, stamps_cfg):
    path = tmp_path / "nostamps.fits"
    table = fits.BinTableHDU.from_columns([fits.Column(name="ra", format="D", array=np.zeros(2))])
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    with pytest.raises(CatalogueError) as info:
        read_stamp_catalogue(path, stamp_size=stamps_cfg.stamp_size)
    _assert_clear(info, path, "STAMPS", "an image HDU of stamps", "HDUs [")
