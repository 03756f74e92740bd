"""Constraints from measured vs exact shapes: the comparison, the catalogue merge, bad input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from astropy.io import fits

from wlcnn.shapes.constraints_comparison import (
    PARAMETERS,
    ConstraintsComparisonError,
    compare_shape_constraints,
    plot_comparison,
    write_comparison,
)
from wlcnn.shapes.merge import merge_measured_shapes, read_merge_summary
from wlcnn.survey.catalogue import CatalogueError, read_catalogue
from wlcnn.survey.settings import ColumnMap

#: Exact-shapes constraints of the synthetic analysis: median, plus, minus per parameter.
EXACT = {
    "s8": (0.78, 0.05, 0.03),
    "omega_m": (0.26, 0.06, 0.04),
    "sigma8": (0.84, 0.10, 0.08),
    "a_ia": (0.5, 2.0, 1.5),
}
N_ROWS = 40
N_MEASURED = 7
COLUMNS = ColumnMap()
#: A column the survey stage does not read, which the merge must keep as it is.
EXTRA_COLUMN = "FLAG"


def _constraints(path: Path, values: dict[str, tuple[float, float, float]], *, blinded: bool = False) -> Path:
    """A constraints.json in the layout ``constrain`` writes (one row, 68 % intervals)."""
    row: dict[str, Any] = {"analysis": path.parent.name}
    for name, (median, plus, minus) in values.items():
        row[name] = {
            "median": median,
            "lower": median - minus,
            "upper": median + plus,
            "level": 0.68,
            "plus": plus,
            "minus": minus,
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"schema": "wlcnn.constraints/1", "blinded": blinded, "rows": [row]}))
    return path


def _shifted(by_sigma: dict[str, float]) -> dict[str, tuple[float, float, float]]:
    """EXACT with medians moved by the given multiples of their half-width (widths unchanged)."""
    return {n: (m + by_sigma.get(n, 0.0) * (p + q) / 2, p, q) for n, (m, p, q) in EXACT.items()}


def _compare(tmp_path: Path, measured: dict[str, tuple[float, float, float]]) -> dict[str, Any]:
    exact = _constraints(tmp_path / "exact" / "power_spectrum" / "constraints.json", EXACT)
    meas = _constraints(tmp_path / "measured" / "power_spectrum" / "constraints.json", measured)
    return compare_shape_constraints(
        exact=[exact], measured=[meas], analyses=["power_spectrum"], agree_sigma=1.0, design={"n_replaced": 3}
    )


def test_consistent_constraints_pass(tmp_path: Path):
    payload = _compare(tmp_path, _shifted({"s8": 0.4, "omega_m": -0.7, "a_ia": 0.9}))
    row = payload["analyses"][0]
    assert payload["agree"] and row["agree"] and row["agree_s8"]
    # the shift in units of the exact half-width, from the inputs directly
    median, plus, minus = EXACT["s8"]
    expected = (median + 0.4 * (plus + minus) / 2 - median) / ((plus + minus) / 2)
    assert row["parameters"]["s8"]["shift_sigma"] == pytest.approx(expected)
    assert row["parameters"]["omega_m"]["shift_sigma"] == pytest.approx(-0.7)
    assert row["parameters"]["sigma8"]["shift_sigma"] == pytest.approx(0.0)
    assert row["parameters"]["s8"]["exact"]["lower"] == pytest.approx(median - minus)
    assert "not an independent-sample error" in payload["error_note"]


@pytest.mark.parametrize("parameter", ["s8", "a_ia"])
def test_shifted_constraints_are_flagged(tmp_path: Path, parameter: str):
    payload = _compare(tmp_path, _shifted({parameter: -1.5}))
    row = payload["analyses"][0]
    assert not payload["agree"] and not row["agree"]
    assert row["parameters"][parameter]["shift_sigma"] == pytest.approx(-1.5)
    assert not row["parameters"][parameter]["agree"]
    assert row["agree_s8"] == (parameter != "s8")
    assert all(row["parameters"][p]["agree"] for p in PARAMETERS if p != parameter)


def test_outputs_carry_provenance_and_the_error_note(tmp_path: Path):
    payload = _compare(tmp_path, _shifted({"s8": 1.2}))
    out = tmp_path / "out"
    write_comparison(
        payload, json_path=out / "c.json", markdown_path=out / "c.md", provenance={"step": "test"}
    )
    plot_comparison(payload, out / "c.png")
    written = json.loads((out / "c.json").read_text())
    assert written["provenance"] == {"step": "test"} and written["agree"] is False
    table = (out / "c.md").read_text()
    assert "| power_spectrum | S8 |" in table and "+1.20" in table and "NO" in table
    assert "not an independent-sample error" in table
    assert (out / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in out.iterdir()) == ["c.json", "c.md", "c.png"]


@pytest.mark.parametrize(
    ("edit", "field", "expected", "found"),
    [
        (lambda row: row.pop("sigma8"), "rows[0].sigma8", "numbers median, plus, minus", "None"),
        (lambda row: row["s8"].update(plus="0.1"), "rows[0].s8", "numbers median, plus, minus", "'0.1'"),
        (
            lambda row: row["omega_m"].update(plus=0.0, minus=0.0),
            "rows[0].omega_m",
            "plus + minus > 0",
            "'plus': 0.0",
        ),
    ],
)
def test_bad_constraints_table_is_named_and_writes_nothing(tmp_path: Path, edit, field, expected, found):
    bad = _constraints(tmp_path / "measured" / "tiny" / "constraints.json", EXACT)
    payload = json.loads(bad.read_text())
    edit(payload["rows"][0])
    bad.write_text(json.dumps(payload))
    exact = _constraints(tmp_path / "exact" / "tiny" / "constraints.json", EXACT)
    out = tmp_path / "out"
    out.mkdir()

    def compare_and_write() -> None:
        payload = compare_shape_constraints(
            exact=[exact], measured=[bad], analyses=["tiny"], agree_sigma=1.0, design={}
        )
        write_comparison(payload, json_path=out / "c.json", markdown_path=out / "c.md", provenance={})

    with pytest.raises(ConstraintsComparisonError) as info:
        compare_and_write()
    message = str(info.value)
    assert str(bad) in message and field in message and f"expected {expected}" in message and found in message
    assert list(out.iterdir()) == []


def test_mismatched_blinding_and_table_count_are_named(tmp_path: Path):
    exact = _constraints(tmp_path / "exact" / "constraints.json", EXACT, blinded=True)
    measured = _constraints(tmp_path / "measured" / "constraints.json", EXACT, blinded=False)
    with pytest.raises(
        ConstraintsComparisonError, match=r"measured/constraints.json: blinded: expected the blinding"
    ):
        compare_shape_constraints(
            exact=[exact], measured=[measured], analyses=["a"], agree_sigma=1.0, design={}
        )
    with pytest.raises(
        ConstraintsComparisonError, match=r"measured tables: expected one per analysis \(2: a, b\), found 1"
    ):
        compare_shape_constraints(
            exact=[exact, exact], measured=[measured], analyses=["a", "b"], agree_sigma=1.0, design={}
        )
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(
        ConstraintsComparisonError, match=r"broken.json: file: expected a constraints JSON table"
    ):
        compare_shape_constraints(
            exact=[exact], measured=[tmp_path / "broken.json"], analyses=["a"], agree_sigma=1.0, design={}
        )


# --- the merged catalogue ------------------------------------------------------------------------


def _survey_catalogue(path: Path, rng: np.random.Generator) -> fits.FITS_rec:
    """A survey-like catalogue with the demo's column names, an extra column and a provenance card."""
    arrays = {
        COLUMNS.ra: ("D", rng.uniform(175.0, 190.0, N_ROWS)),
        COLUMNS.dec: ("D", rng.uniform(-4.0, 9.0, N_ROWS)),
        COLUMNS.e1: ("E", rng.normal(0.0, 0.28, N_ROWS)),
        COLUMNS.e2: ("E", rng.normal(0.0, 0.28, N_ROWS)),
        COLUMNS.weight: ("E", rng.uniform(1.0, 20.0, N_ROWS)),
        COLUMNS.z_b: ("E", rng.uniform(0.1, 1.2, N_ROWS)),
        COLUMNS.m: ("E", rng.normal(-0.014, 0.03, N_ROWS)),
        EXTRA_COLUMN: ("J", rng.integers(0, 4, N_ROWS)),
    }
    table = fits.BinTableHDU.from_columns(
        [fits.Column(name=k, format=f, array=a) for k, (f, a) in arrays.items()], name="SHEAR"
    )
    primary = fits.PrimaryHDU()
    primary.header["ORIGIN"] = "wlcnn mock"
    primary.header["PROVJSON"] = json.dumps({"step": "mock_observation", "inputs": []})
    fits.HDUList([primary, table]).writeto(path)
    return table.data


def _measured_catalogue(
    path: Path, source: fits.FITS_rec, rows: np.ndarray, rng: np.random.Generator
) -> dict:
    """The measured catalogue of some rows (shuffled): raw shapes with a strong response, their m."""
    e = rng.normal(0.0, 0.05, (2, rows.size))
    m = rng.uniform(-0.9, -0.8, rows.size)
    arrays = {
        COLUMNS.ra: ("D", source[COLUMNS.ra][rows]),
        COLUMNS.dec: ("D", source[COLUMNS.dec][rows]),
        COLUMNS.e1: ("E", e[0]),
        COLUMNS.e2: ("E", e[1]),
        COLUMNS.weight: ("E", np.full(rows.size, 10.0)),
        COLUMNS.z_b: ("E", source[COLUMNS.z_b][rows]),
        COLUMNS.m: ("E", m),
    }
    table = fits.BinTableHDU.from_columns(
        [fits.Column(name=k, format=f, array=a) for k, (f, a) in arrays.items()], name="SHEAR"
    )
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    return {"e1": e[0].astype(np.float32), "e2": e[1].astype(np.float32), "m": m.astype(np.float32)}


def _merge(
    tmp_path: Path, *, rows: np.ndarray | None = None, edit=None
) -> tuple[Path, Path, Path, Any, Any, Any]:
    rng = np.random.default_rng(11)
    survey = tmp_path / "catalogue.fits"
    source = _survey_catalogue(survey, rng)
    rows = rng.permutation(N_ROWS)[:N_MEASURED] if rows is None else rows
    measured = tmp_path / "measured.fits"
    values = _measured_catalogue(measured, source, rows, rng)
    if edit is not None:
        edit(measured)
    out = tmp_path / "out" / "merged.fits"
    out.parent.mkdir()
    merge_measured_shapes(
        survey, measured, out, column_map=COLUMNS, provenance={"step": "merge_measured_shapes"}
    )
    return survey, measured, out, source, rows, values


def test_merge_replaces_exactly_the_measured_galaxies_shapes(tmp_path: Path):
    survey, _, out, _, rows, values = _merge(tmp_path)
    with fits.open(survey) as before, fits.open(out) as after:
        old, new = before["SHEAR"], after["SHEAR"]
        assert [h.name for h in after] == [h.name for h in before]
        assert new.columns.names == old.columns.names
        assert [c.format for c in new.columns] == [c.format for c in old.columns]
        replaced = np.zeros(N_ROWS, bool)
        replaced[rows] = True
        for name in old.columns.names:
            if name in (COLUMNS.e1, COLUMNS.e2):
                np.testing.assert_array_equal(new.data[name][~replaced], old.data[name][~replaced])
            else:
                np.testing.assert_array_equal(new.data[name], old.data[name])
        # the measured shapes, calibrated by their own response: (g - c) / (1 + m)
        np.testing.assert_allclose(new.data[COLUMNS.e1][rows], values["e1"] / (1 + values["m"]), rtol=1e-6)
        np.testing.assert_allclose(new.data[COLUMNS.e2][rows], values["e2"] / (1 + values["m"]), rtol=1e-6)
        assert np.all(new.data[COLUMNS.e1][rows] != old.data[COLUMNS.e1][rows])
        assert after[0].header["ORIGIN"] == "wlcnn mock"
        record = json.loads(after[0].header["PROVJSON"])
    assert record["step"] == "merge_measured_shapes"
    assert record["extra"]["catalogue_provenance"] == {"step": "mock_observation", "inputs": []}
    assert read_merge_summary(out) == {
        "n_rows": N_ROWS,
        "n_replaced": N_MEASURED,
        "replaced_fraction": pytest.approx(N_MEASURED / N_ROWS),
    }
    merged, drops = read_catalogue([out], columns=COLUMNS, invalid_rows="drop")
    assert drops.n_read == N_ROWS and len(merged) > 0  # the survey stage reads it


def _set_column(name: str, row: int, value: float):
    def edit(path: Path) -> None:
        with fits.open(path, mode="update") as hdul:
            hdul["SHEAR"].data[name][row] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "column", "expected", "found"),
    [
        (
            _set_column(COLUMNS.ra, 2, 1.5),
            "ra/dec",
            "every measured galaxy at the exact position",
            "1 without a match",
        ),
        (_set_column(COLUMNS.m, 4, -1.0), COLUMNS.m, "1 + m > 0", "m = -1.0"),
    ],
)
def test_bad_measured_catalogue_is_named_and_writes_nothing(tmp_path: Path, edit, column, expected, found):
    with pytest.raises(CatalogueError) as info:
        _merge(tmp_path, edit=edit)
    message = str(info.value)
    assert str(tmp_path / "measured.fits") in message and column in message
    assert f"expected {expected}" in message and found in message
    assert list((tmp_path / "out").iterdir()) == []  # nor a hidden temporary


def test_missing_column_is_named(tmp_path: Path):
    def drop_m(path: Path) -> None:
        with fits.open(path) as hdul:
            table = hdul["SHEAR"]
            kept = fits.ColDefs([c for c in table.columns if c.name != COLUMNS.m])
            fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(kept, name="SHEAR")]).writeto(
                path, overwrite=True
            )

    with pytest.raises(
        CatalogueError, match=r"measured.fits: column 'm': expected this column \(survey.columns\)"
    ):
        _merge(tmp_path, edit=drop_m)
    assert list((tmp_path / "out").iterdir()) == []


# --- the configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("analyses", "found"),
    [(["power_spectrum", "resnet_5x5_10"], "'resnet_5x5_10'"), (["cnn_and_ps"], "'cnn_and_ps'")],
)
def test_unknown_analysis_is_refused_by_wlcnn_config(demo_config, tmp_path: Path, capsys, analyses, found):
    from wlcnn.cli import main  # lazy: the command line, for this test only

    cfg = copy.deepcopy(demo_config)
    cfg["shapes"]["constraints"]["analyses"] = analyses
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    repo = Path(__file__).resolve().parents[2]
    assert main(["config", str(path), "--base-dir", str(repo)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"wlcnn config: error: invalid configuration {path}") and "Traceback" not in err
    assert "shapes.constraints.analyses: expected single statistics of the run (one of ['tiny', " in err
    assert f"found {found}" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]
