"""Catalogue ingestion, patch projection, pixel shear, biases and the selection table (SPEC §4)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.io import fits

from wlcnn.survey.catalogue import CatalogueError, read_catalogue
from wlcnn.survey.patches import assign_patches, gnomonic, inverse_gnomonic, pixel_centres, tomographic_bin
from wlcnn.survey.settings import ColumnMap, Selection, SurveySettings
from wlcnn.survey.shear_maps import build_patch_maps, read_patch_maps

N_PIX = 16
SIZE_DEG = 2.0
CENTRES = np.array([[10.0, 0.0], [30.0, -40.0]])
EDGES = (0.1, 0.3, 0.5)
COLUMNS = ("RAJ2000", "DECJ2000", "e1", "e2", "weight", "Z_B", "m")


def _settings(**changes: object) -> SurveySettings:
    base = SurveySettings(
        patch_centres=CENTRES,
        patch_size_deg=SIZE_DEG,
        n_pix=N_PIX,
        zb_edges=EDGES,
        sigma_e=0.29,
        multiplicative_bias=(-0.01, -0.02),
        multiplicative_bias_sigma=0.01,
        additive_bias=(0.0, 0.0),
        ks_padding=8,
        smoothing_arcmin=2.34,
        chunk_rows=37,
    )
    return replace(base, **changes)


def _write_fits(path: Path, cols: dict[str, np.ndarray]) -> Path:
    formats = {np.dtype("float64"): "D", np.dtype("float32"): "E", np.dtype("int64"): "K"}
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column(name=k, format=formats.get(v.dtype, f"{max(1, v.dtype.itemsize)}A"), array=v)
            for k, v in cols.items()
        ]
    )
    hdu.writeto(path)
    return path


def _grid_catalogue(rng: np.random.Generator, *, per_pixel: int = 2) -> dict[str, np.ndarray]:
    """Galaxies at pixel centres of both patches (every pixel except one empty row), two bins."""
    xc = pixel_centres(n_pix=N_PIX, patch_size_deg=SIZE_DEG)
    ra, dec = [], []
    for centre in CENTRES:
        y, x = np.meshgrid(xc[1:], xc, indexing="ij")  # row iy = 0 left empty: masked
        r, d = inverse_gnomonic(
            np.repeat(x.ravel(), per_pixel), np.repeat(y.ravel(), per_pixel), centre=centre
        )
        ra.append(r)
        dec.append(d)
    ra, dec = np.concatenate(ra), np.concatenate(dec)
    n = ra.size
    return {
        "RAJ2000": ra,
        "DECJ2000": dec,
        "e1": rng.normal(0, 0.2, n),
        "e2": rng.normal(0, 0.2, n),
        "weight": rng.uniform(0.5, 2.0, n),
        "Z_B": np.where(np.arange(n) % 2 == 0, 0.2, 0.4),  # both bins in every filled pixel
        "m": rng.normal(-0.01, 0.02, n),
    }


def test_gnomonic_matches_the_textbook_formula_and_the_map_orientation() -> None:
    rng = np.random.default_rng(0)
    ra0, dec0 = 150.0, -30.0
    ra = ra0 + rng.uniform(-3, 3, 100)
    dec = dec0 + rng.uniform(-3, 3, 100)
    a, d, a0, d0 = np.radians(ra), np.radians(dec), np.radians(ra0), np.radians(dec0)
    cos_c = np.sin(d0) * np.sin(d) + np.cos(d0) * np.cos(d) * np.cos(a - a0)
    x_ref = np.degrees(np.cos(d) * np.sin(a - a0) / cos_c)
    y_ref = np.degrees((np.cos(d0) * np.sin(d) - np.sin(d0) * np.cos(d) * np.cos(a - a0)) / cos_c)
    x, y = gnomonic(ra, dec, centre=(ra0, dec0))
    np.testing.assert_allclose(x, x_ref, atol=1e-12)
    np.testing.assert_allclose(y, y_ref, atol=1e-12)
    back_ra, back_dec = inverse_gnomonic(x, y, centre=(ra0, dec0))
    np.testing.assert_allclose(back_ra, ra, atol=1e-10)
    np.testing.assert_allclose(back_dec, dec, atol=1e-10)
    # East (larger RA) is larger ix, north larger iy; pixel centres land in their own pixel.
    # (On the equator, so that a shift in RA keeps y = 0 exactly.)
    where = assign_patches(
        np.array([ra0 + 0.5, ra0]), np.array([0.0, 0.5]), centres=[[ra0, 0.0]], patch_size_deg=5.0, n_pix=128
    )
    assert where.ix[0] > 64 and where.iy[0] == 64 and where.iy[1] > 64 and where.ix[1] == 64
    xc = pixel_centres(n_pix=128, patch_size_deg=5.0)
    r, d = inverse_gnomonic(np.array([xc[3]]), np.array([xc[100]]), centre=(ra0, dec0))
    where = assign_patches(r, d, centres=[[ra0, dec0]], patch_size_deg=5.0, n_pix=128)
    assert (where.iy[0], where.ix[0]) == (100, 3)


def test_tomographic_bins_are_right_closed() -> None:
    z = np.array([0.1, 0.1000001, 0.3, 0.30001, 0.5, 0.5001, np.nan])
    np.testing.assert_array_equal(tomographic_bin(z, EDGES), [-1, 0, 0, 1, 1, -1, -1])


def test_constant_shear_catalogue_gives_that_shear_in_every_unmasked_pixel(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    cols = _grid_catalogue(rng)
    g = (0.05, -0.02)
    cols["e1"][:], cols["e2"][:] = g
    path = _write_fits(tmp_path / "cat.fits", cols)
    maps = build_patch_maps(path, settings=_settings(additive_bias_from="none"))
    mask = maps.mask
    assert mask[:, :, 0, :].sum() == 0 and mask[:, :, 1:, :].all()  # the empty row is masked
    np.testing.assert_allclose(maps.gamma[:, :, 0][mask], g[0], atol=1e-12)
    np.testing.assert_allclose(maps.gamma[:, :, 1][mask], g[1], atol=1e-12)
    assert np.all(maps.gamma[:, :, :, 0, :] == 0)
    # With the additive bias measured from the data, the constant shear is that bias.
    maps = build_patch_maps(path, settings=_settings(additive_bias_from="data"))
    np.testing.assert_allclose(maps.additive_bias, np.broadcast_to(g, maps.additive_bias.shape), atol=1e-12)
    np.testing.assert_allclose(maps.gamma, 0.0, atol=1e-12)


def test_pixel_shear_biases_and_selection_table(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    cols = _grid_catalogue(rng, per_pixel=3)
    n_in = cols["RAJ2000"].size
    # Extra rows: outside both patches, Z_B outside the bins, zero weight, NaN e1.
    extra = {k: v[:4].copy() for k, v in cols.items()}
    extra["RAJ2000"][0] = 200.0
    extra["Z_B"][1] = 0.05
    extra["weight"][2] = 0.0
    extra["e1"][3] = np.nan
    cols = {k: np.concatenate([v, extra[k]]) for k, v in cols.items()}
    path = _write_fits(tmp_path / "cat.fits", cols)
    maps = build_patch_maps(path, settings=_settings(), out_path=tmp_path / "maps.h5")
    table = maps.table.to_dict()
    drops = table["catalogue_drops"]
    assert drops["n_read"] == n_in + 4
    assert drops["dropped"] == {"non_finite_e1": 1, "zero_weight": 1}
    assert table["n_zb_outside"] == 1
    assert table["n_outside_patches"] == 1
    zb = cols["Z_B"][:n_in]
    np.testing.assert_array_equal(table["per_bin_kept"], [(zb == 0.2).sum(), (zb == 0.4).sum()])
    # Independent per-pixel, per-patch and per-bin reference sums.
    w, e1, m = cols["weight"][:n_in], cols["e1"][:n_in], cols["m"][:n_in]
    where = assign_patches(
        cols["RAJ2000"][:n_in], cols["DECJ2000"][:n_in], centres=CENTRES, patch_size_deg=SIZE_DEG, n_pix=N_PIX
    )
    tbin = (zb > 0.3).astype(int)
    for p in range(2):
        for b in range(2):
            sel = (where.patch == p) & (tbin == b)
            c1 = np.average(e1[sel], weights=w[sel])
            assert maps.additive_bias[p, b, 0] == pytest.approx(c1, abs=1e-12)
            pix = sel & (where.iy == 5) & (where.ix == 7)
            expected = np.sum(w[pix] * (e1[pix] - c1)) / np.sum(w[pix])
            assert maps.gamma[p, b, 0, 5, 7] == pytest.approx(expected, abs=1e-12)
            assert maps.counts[p, b, 5, 7] == pix.sum()
    for b in range(2):
        assert maps.multiplicative_bias[b] == pytest.approx(
            np.average(m[tbin == b], weights=w[tbin == b]), abs=1e-12
        )
    back = read_patch_maps(tmp_path / "maps.h5")
    np.testing.assert_array_equal(back.gamma, maps.gamma)
    np.testing.assert_array_equal(back.noise.pixel_index, maps.noise.pixel_index)
    assert back.attrs["provenance"]["step"] == "survey_patch_maps"
    assert back.attrs["provenance"]["inputs"][0]["path"].endswith("cat.fits")


def _write_hdf5_group(path: Path, cols: dict[str, np.ndarray]) -> Path:
    with h5py.File(path, "w") as fh:
        for k, v in cols.items():
            fh[f"shear/{k}"] = v
    return path


def _write_hdf5_compound(path: Path, cols: dict[str, np.ndarray]) -> Path:
    table = np.zeros(len(cols["e1"]), dtype=[(k, v.dtype) for k, v in cols.items()])
    for k, v in cols.items():
        table[k] = v
    with h5py.File(path, "w") as fh:
        fh["catalogue"] = table
    return path


def _write_parquet(path: Path, cols: dict[str, np.ndarray]) -> Path:
    pq.write_table(pa.table(cols), path, row_group_size=50)
    return path


def test_fits_hdf5_and_parquet_read_alike_in_chunks(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    cols = _grid_catalogue(rng)
    cols["e2"][5] = np.nan
    ref, ref_drops = read_catalogue(_write_fits(tmp_path / "c.fits", cols), chunk_rows=10_000)
    cases = [
        (_write_hdf5_group(tmp_path / "g.h5", cols), "shear"),
        (_write_hdf5_compound(tmp_path / "c.h5", cols), "catalogue"),
        (_write_parquet(tmp_path / "c.parquet", cols), None),
        (tmp_path / "c.fits", None),
    ]
    for path, table in cases:
        cat, drops = read_catalogue(path, chunk_rows=37, table=table)
        assert (
            drops.to_dict()
            == ref_drops.to_dict()
            == {"n_read": cols["e1"].size, "n_kept": cols["e1"].size - 1, "dropped": {"non_finite_e2": 1}}
        )
        for name in ("ra", "dec", "e1", "e2", "weight", "z_b", "m"):
            np.testing.assert_array_equal(getattr(cat, name), getattr(ref, name))


def test_column_mapping_selections_and_flips(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    cols = _grid_catalogue(rng)
    renamed = {
        "ALPHA": cols["RAJ2000"],
        "DELTA": cols["DECJ2000"],
        "g1": cols["e1"],
        "g2": cols["e2"],
        "w": cols["weight"],
        "photoz": cols["Z_B"],
        "FLAGS": (np.arange(cols["e1"].size) % 4).astype(np.int64),
    }
    path = _write_fits(tmp_path / "c.fits", renamed)
    cmap = ColumnMap(ra="ALPHA", dec="DELTA", e1="g1", e2="g2", weight="w", z_b="photoz", m=None)
    cat, drops = read_catalogue(
        path, columns=cmap, flip_e2=True, selections=[Selection(column="FLAGS", bits_unset=0b10)]
    )
    keep = (renamed["FLAGS"] & 0b10) == 0
    np.testing.assert_array_equal(cat.e2, -renamed["g2"][keep])
    np.testing.assert_array_equal(cat.e1, renamed["g1"][keep])
    np.testing.assert_array_equal(cat.m, 0.0)
    assert drops.counts == {"selection: FLAGS & 0x2 == 0": int((~keep).sum())}


def _bad(cols: dict[str, np.ndarray], column: str, row: int, value: float) -> dict[str, np.ndarray]:
    out = {k: v.copy() for k, v in cols.items()}
    out[column][row] = value
    return out


BAD_VALUE_CASES = [
    # (name, column changed, row, value, column named in the error, drop reason)
    ("nan e1", "e1", 3, np.nan, "e1", "non_finite_e1"),
    ("inf weight", "weight", 5, np.inf, "weight", "non_finite_weight"),
    ("nan Z_B", "Z_B", 2, np.nan, "Z_B", "non_finite_z_b"),
    ("|e| >= 1", "e1", 7, 1.2, "e1/e2", "abs_e_ge_1"),
    ("negative weight", "weight", 1, -0.5, "weight", "negative_weight"),
]


@pytest.mark.parametrize(
    ("name", "column", "row", "value", "named", "reason"),
    BAD_VALUE_CASES,
    ids=[c[0] for c in BAD_VALUE_CASES],
)
def test_bad_values_give_a_clear_error_or_a_counted_drop(
    tmp_path: Path, name: str, column: str, row: int, value: float, named: str, reason: str
) -> None:
    cols = _bad(_grid_catalogue(np.random.default_rng(5)), column, row, value)
    for writer, suffix in ((_write_fits, "fits"), (_write_parquet, "parquet"), (_write_hdf5_group, "h5")):
        path = writer(tmp_path / f"bad.{suffix}", cols)
        table = "shear" if suffix == "h5" else None
        with pytest.raises(CatalogueError) as info:
            read_catalogue(path, invalid_rows="error", table=table)
        message = str(info.value)
        assert str(path) in message and f"'{named}'" in message and f"row {row}" in message, message
        assert "expected" in message
        cat, drops = read_catalogue(path, invalid_rows="drop", table=table)
        assert drops.counts == {reason: 1}
        assert len(cat) == cols["e1"].size - 1


def test_structural_problems_are_errors_naming_file_and_column(tmp_path: Path) -> None:
    cols = _grid_catalogue(np.random.default_rng(6))
    # Missing column: the message lists what is there.
    path = _write_fits(tmp_path / "missing.fits", {k: v for k, v in cols.items() if k != "e2"})
    with pytest.raises(CatalogueError, match=r"missing\.fits.*'e2'.*columns \[") as info:
        read_catalogue(path)
    assert info.value.column == "e2"
    path = _write_parquet(tmp_path / "missing.parquet", {k: v for k, v in cols.items() if k != "weight"})
    with pytest.raises(CatalogueError, match=r"missing\.parquet.*'weight'"):
        read_catalogue(path)
    # Dec outside ±90 is an error even when bad rows are dropped (wrong column or unit).
    path = _write_fits(tmp_path / "dec.fits", _bad(cols, "DECJ2000", 4, 95.0))
    with pytest.raises(CatalogueError, match=r"dec\.fits.*'DECJ2000' \(row 4\).*\[-90, 90\]"):
        read_catalogue(path, invalid_rows="drop")
    # Non-numeric column.
    text = {**cols, "Z_B": np.array(["a"] * cols["e1"].size)}
    path = _write_fits(tmp_path / "text.fits", text)
    with pytest.raises(CatalogueError, match=r"text\.fits.*'Z_B'.*numeric"):
        read_catalogue(path)
    # Empty table, unknown format, missing file, missing HDU / group.
    path = _write_fits(tmp_path / "empty.fits", {k: v[:0] for k, v in cols.items()})
    with pytest.raises(CatalogueError, match=r"empty\.fits.*at least one row"):
        read_catalogue(path)
    (tmp_path / "notes.txt").write_text("ra dec e1 e2\n")
    with pytest.raises(CatalogueError, match=r"notes\.txt.*FITS, HDF5 or Parquet"):
        read_catalogue(tmp_path / "notes.txt")
    with pytest.raises(CatalogueError, match=r"nothere\.fits.*no such file"):
        read_catalogue(tmp_path / "nothere.fits")
    path = _write_hdf5_group(tmp_path / "g.h5", cols)
    with pytest.raises(CatalogueError, match=r"g\.h5.*'cat'.*survey\.catalogue_table"):
        read_catalogue(path, table="cat")


def test_several_files_read_as_one_catalogue(tmp_path: Path) -> None:
    cols = _grid_catalogue(np.random.default_rng(7))
    half = cols["e1"].size // 2
    a = _write_fits(tmp_path / "a.fits", {k: v[:half] for k, v in cols.items()})
    b = _write_parquet(tmp_path / "b.parquet", {k: v[half:] for k, v in cols.items()})
    whole = build_patch_maps(_write_fits(tmp_path / "all.fits", cols), settings=_settings())
    split = build_patch_maps([a, b], settings=_settings())
    np.testing.assert_allclose(split.gamma, whole.gamma, atol=1e-14)
    np.testing.assert_array_equal(split.table.per_patch_bin_kept, whole.table.per_patch_bin_kept)
