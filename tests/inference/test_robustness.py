"""The robustness table: S8 shifts from the fiducial mock in fiducial sigma, checked by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wlcnn.inference.robustness import RobustnessError, robustness_rows, write_robustness_table

#: (median, plus, minus) of S8 per mock and statistic, and each mock's truth (Ωm, σ8, A_IA).
S8 = {
    "mock00_sim00": {"tiny": (0.780, 0.040, 0.060), "power_spectrum": (0.770, 0.030, 0.030)},
    "mock01_sim00": {"tiny": (0.760, 0.050, 0.050), "power_spectrum": (0.740, 0.020, 0.040)},
    "mock00_sim00_rt": {"tiny": (0.790, 0.045, 0.055), "power_spectrum": (0.767, 0.030, 0.030)},
}
TRUTHS = {
    "mock00_sim00": [0.25, 0.849, 0.0],
    "mock01_sim00": [0.3, 0.75, 0.0],
    "mock00_sim00_rt": [0.25, 0.849, 0.0],
}


def _write_tables(tmp_path: Path, *, blinded: bool = False) -> dict[str, dict[str, Path]]:
    tables: dict[str, dict[str, Path]] = {}
    for mock, per in S8.items():
        for label, (median, plus, minus) in per.items():
            path = tmp_path / mock / label / "constraints.json"
            path.parent.mkdir(parents=True)
            row = {"analysis": f"{label} @ {mock}", "s8": {"median": median, "plus": plus, "minus": minus}}
            path.write_text(json.dumps({"schema": "wlcnn.constraints/1", "blinded": blinded, "rows": [row]}))
            tables.setdefault(mock, {})[label] = path
    return tables


def _row(rows: list[dict[str, Any]], mock: str, label: str) -> dict[str, Any]:
    return next(r for r in rows if r["mock"] == mock and r["statistic"] == label)


def test_shifts_against_a_hand_computation(tmp_path: Path) -> None:
    rows, blinded = robustness_rows(tables=_write_tables(tmp_path), truths=TRUTHS, fiducial="mock00_sim00")
    assert not blinded
    assert len(rows) == 6  # every mock x every statistic
    # by hand: fiducial tiny 0.780 +0.040 -0.060 -> half-width 0.050
    rt = _row(rows, "mock00_sim00_rt", "tiny")
    assert rt["fiducial_half_width"] == pytest.approx(0.050)
    assert rt["shift_sigma"] == pytest.approx((0.790 - 0.780) / 0.050)  # +0.2
    assert rt["truth_shift_sigma"] == pytest.approx(0.0)
    assert rt["bias_shift_sigma"] == pytest.approx(0.2)
    # power spectrum of the H0 mock: fiducial 0.770 +-0.030; true S8 0.75 vs 0.849 (0.25/0.3)^0.5 = 0.77504
    h0 = _row(rows, "mock01_sim00", "power_spectrum")
    assert h0["shift_sigma"] == pytest.approx((0.740 - 0.770) / 0.030)  # -1.0
    assert h0["truth_s8"] == pytest.approx(0.75)
    true_fid = 0.849 * (0.25 / 0.3) ** 0.5
    assert h0["truth_shift_sigma"] == pytest.approx((0.75 - true_fid) / 0.030)  # -0.834
    assert h0["bias_shift_sigma"] == pytest.approx(-1.0 - (0.75 - true_fid) / 0.030)
    # the fiducial against itself
    assert _row(rows, "mock00_sim00", "power_spectrum")["shift_sigma"] == 0.0


def test_json_and_markdown(tmp_path: Path) -> None:
    rows, blinded = robustness_rows(tables=_write_tables(tmp_path), truths=TRUTHS, fiducial="mock00_sim00")
    out_json, out_md = tmp_path / "robustness_shifts.json", tmp_path / "robustness_shifts.md"
    write_robustness_table(
        rows, json_path=out_json, markdown_path=out_md, fiducial="mock00_sim00", blinded=blinded
    )
    payload = json.loads(out_json.read_text())
    assert payload["schema"] == "wlcnn.robustness/1" and payload["fiducial"] == "mock00_sim00"
    assert payload["rows"] == json.loads(json.dumps(rows))
    text = out_md.read_text()
    assert "| mock00_sim00_rt | tiny | 0.790 +0.045 −0.055 | 0.775 | +0.010 | +0.20 | +0.00 | +0.20 |" in text
    assert (
        "| mock01_sim00 | power_spectrum | 0.740 +0.020 −0.040 | 0.750 | -0.030 | -1.00 | -0.83 | -0.17 |"
        in text
    )


def test_blinded_inputs_hide_the_shifts(tmp_path: Path) -> None:
    rows, blinded = robustness_rows(
        tables=_write_tables(tmp_path, blinded=True), truths=TRUTHS, fiducial="mock00_sim00"
    )
    assert blinded
    assert all(r["shift_sigma"] is None and r["delta_s8"] is None for r in rows)
    assert all(r["fiducial_half_width"] > 0 for r in rows)


def test_bad_tables_are_refused(tmp_path: Path) -> None:
    tables = _write_tables(tmp_path)
    with pytest.raises(RobustnessError, match=r"fiducial: expected one of the mocks .*found 'mock09'"):
        robustness_rows(tables=tables, truths=TRUTHS, fiducial="mock09")
    bad = tables["mock01_sim00"]["tiny"]
    bad.write_text(json.dumps({"rows": [{"analysis": "tiny", "s8": {"median": 0.7}}]}))
    with pytest.raises(RobustnessError) as info:
        robustness_rows(tables=tables, truths=TRUTHS, fiducial="mock00_sim00")
    message = str(info.value)
    assert (
        str(bad) in message and "rows[0].s8" in message and "expected numbers median, plus, minus" in message
    )
    assert "found {'median': 0.7}" in message
    del tables["mock01_sim00"]["tiny"]
    with pytest.raises(
        RobustnessError, match=r"tables\.mock01_sim00: expected the fiducial mock's statistics"
    ):
        robustness_rows(tables=tables, truths=TRUTHS, fiducial="mock00_sim00")
