r"""The robustness table: S8 shift of every mock observation and statistic from the fiducial mock.

For each single statistic (network, power spectrum, map statistic) the fiducial mock (the first
mock observation, the demo's survey) gives S8 = m_fid with the central 68 % interval
[m_fid - minus, m_fid + plus]; its half-width is σ_fid = (plus + minus) / 2. Another mock of
the same statistic with median m is shifted by

.. math::

    \Delta_\sigma = (m - m_{fid}) / \sigma_{fid},

the measure of Fluri et al. 2019's Fig. 7 (systematics mocks: ray-traced shear, a different
H0, ...). Mocks with a different truth S8_true are expected to move by
(S8_true - S8_true,fid) / σ_fid; the table gives that expectation and the shift beyond it
(``bias_shift_sigma``), which is the systematic effect when the truths differ.

A blinded input (its medians shifted by a secret offset) blinds the table: shifts are not
reported (``null``), widths are.

Examples
--------
>>> row = {"s8": {"median": 0.80, "plus": 0.05, "minus": 0.03}}
>>> fid = {"s8": {"median": 0.78, "plus": 0.04, "minus": 0.04}}
>>> round(s8_shift_sigma(row, fiducial=fid), 3)
0.5
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wlcnn.atomic import atomic_write_text
from wlcnn.inference.constraints import INTERVAL_LEVEL, s8

__all__ = [
    "ROBUSTNESS_SCHEMA",
    "RobustnessError",
    "format_robustness_markdown",
    "robustness_rows",
    "s8_shift_sigma",
    "write_robustness_table",
]

ROBUSTNESS_SCHEMA = "wlcnn.robustness/1"
#: Half-width of an interval from its two sides: their mean.
_HALF = 0.5


class RobustnessError(ValueError):
    """A constraints table cannot enter the robustness table; the message names file and field."""


def _half_width(row: Mapping[str, Any]) -> float:
    return _HALF * (float(row["s8"]["plus"]) + float(row["s8"]["minus"]))


def s8_shift_sigma(row: Mapping[str, Any], *, fiducial: Mapping[str, Any]) -> float:
    """S8 median of ``row`` minus the fiducial's, in units of the fiducial 68 % half-width.

    Parameters
    ----------
    row, fiducial
        Rows of constraints tables (:func:`wlcnn.inference.constraints.constraints_row`).

    Returns
    -------
    float
        (median - median_fid) / ((plus_fid + minus_fid) / 2).
    """
    return (float(row["s8"]["median"]) - float(fiducial["s8"]["median"])) / _half_width(fiducial)


def _read_row(path: str | Path) -> tuple[dict[str, Any], bool]:
    """The single row and the blinding flag of one analysis' constraints.json."""
    try:
        payload = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise RobustnessError(f"{path}: file: expected a constraints JSON table, found {exc}") from None
    rows = payload.get("rows") if isinstance(payload, dict) else None
    if not isinstance(rows, list) or len(rows) != 1:
        found = "no rows" if not rows else f"{len(rows)} rows"
        raise RobustnessError(f"{path}: rows: expected one row (one analysis), found {found}")
    row = rows[0]
    s8_entry = row.get("s8") if isinstance(row, dict) else None
    if not isinstance(s8_entry, dict) or not all(
        isinstance(s8_entry.get(k), int | float) for k in ("median", "plus", "minus")
    ):
        raise RobustnessError(f"{path}: rows[0].s8: expected numbers median, plus, minus, found {s8_entry!r}")
    if _half_width(row) <= 0:
        raise RobustnessError(f"{path}: rows[0].s8: expected plus + minus > 0, found {s8_entry!r}")
    return row, bool(payload.get("blinded", False))


def robustness_rows(
    *,
    tables: Mapping[str, Mapping[str, str | Path]],
    truths: Mapping[str, Sequence[float] | None],
    fiducial: str,
) -> tuple[list[dict[str, Any]], bool]:
    """Every (mock, statistic): its S8 and the shift from the fiducial mock in fiducial σ.

    Parameters
    ----------
    tables
        mock -> statistic -> constraints.json of that analysis; every mock has the fiducial's
        statistics.
    truths
        mock -> (Ωm, σ8, A_IA) truth, or None when unknown.
    fiducial
        The mock the shifts are measured from (a key of ``tables``).

    Returns
    -------
    tuple
        ``(rows, blinded)``: rows in mock then statistic order, each with ``mock``,
        ``statistic``, ``s8`` (median, plus, minus), ``truth_s8``, ``fiducial_half_width``,
        ``delta_s8``, ``shift_sigma``, ``truth_shift_sigma``, ``bias_shift_sigma`` (None where
        blinded or without truths).

    Raises
    ------
    RobustnessError
        If ``fiducial`` is not a mock of ``tables``, a mock lacks one of its statistics, or a
        table is unreadable.
    """
    if fiducial not in tables:
        raise RobustnessError(f"fiducial: expected one of the mocks {list(tables)}, found {fiducial!r}")
    read = {m: {label: _read_row(path) for label, path in per.items()} for m, per in tables.items()}
    blinded = any(flag for per in read.values() for _, flag in per.values())
    fid_rows = read[fiducial]
    fid_truth = truths.get(fiducial)
    rows: list[dict[str, Any]] = []
    for mock, per in read.items():
        missing = [label for label in fid_rows if label not in per]
        if missing:
            raise RobustnessError(
                f"tables.{mock}: expected the fiducial mock's statistics {list(fid_rows)}, found {list(per)}"
            )
        truth = truths.get(mock)
        truth_s8 = None if truth is None else float(s8(truth[0], truth[1]))
        for label, (row, _) in per.items():
            fid = fid_rows[label][0]
            half = _half_width(fid)
            shift = None if blinded else s8_shift_sigma(row, fiducial=fid)
            truth_shift = None
            if truth_s8 is not None and fid_truth is not None:
                truth_shift = (truth_s8 - float(s8(fid_truth[0], fid_truth[1]))) / half
            rows.append(
                {
                    "mock": mock,
                    "statistic": label,
                    "s8": {k: float(row["s8"][k]) for k in ("median", "plus", "minus")},
                    "truth_s8": truth_s8,
                    "fiducial_half_width": half,
                    "delta_s8": None if blinded else float(row["s8"]["median"]) - float(fid["s8"]["median"]),
                    "shift_sigma": shift,
                    "truth_shift_sigma": truth_shift,
                    "bias_shift_sigma": None if shift is None or truth_shift is None else shift - truth_shift,
                }
            )
    return rows, blinded


def _cell(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def format_robustness_markdown(rows: Sequence[Mapping[str, Any]], *, fiducial: str, blinded: bool) -> str:
    """Markdown of the robustness table: one line per (mock, statistic)."""
    level = round(100 * INTERVAL_LEVEL)
    lines = []
    if blinded:
        lines += ["**BLINDED**: shifts are not reported while any analysis is blinded.", ""]
    head = ["mock", "statistic", "S8", "true S8", "ΔS8", "shift / σ_fid", "expected / σ_fid", "bias / σ_fid"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        entry = r["s8"]
        cells = [
            str(r["mock"]),
            str(r["statistic"]),
            f"{entry['median']:.3f} +{entry['plus']:.3f} −{entry['minus']:.3f}",
            _cell(r["truth_s8"], ".3f"),
            _cell(r["delta_s8"], "+.3f"),
            _cell(r["shift_sigma"], "+.2f"),
            _cell(r["truth_shift_sigma"], "+.2f"),
            _cell(r["bias_shift_sigma"], "+.2f"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        (
            f"Shifts of the S8 median from the fiducial mock {fiducial} of the same statistic, in units of "
            f"the fiducial's {level} % half-width σ_fid = (plus + minus)/2; 'expected' is the shift of the "
            "true S8, 'bias' the shift beyond it."
        ),
    ]
    return "\n".join(lines) + "\n"


def write_robustness_table(
    rows: Sequence[Mapping[str, Any]],
    *,
    json_path: str | Path,
    markdown_path: str | Path,
    fiducial: str,
    blinded: bool,
    provenance: Mapping[str, Any] | None = None,
) -> None:
    """Write the robustness table as JSON (``schema``, ``fiducial``, ``blinded``, ``rows``) and Markdown."""
    payload = {
        "schema": ROBUSTNESS_SCHEMA,
        "fiducial": fiducial,
        "blinded": blinded,
        "interval_level": INTERVAL_LEVEL,
        "rows": list(rows),
        "provenance": dict(provenance or {}),
    }
    atomic_write_text(json_path, json.dumps(payload, indent=2) + "\n")
    atomic_write_text(markdown_path, format_robustness_markdown(rows, fiducial=fiducial, blinded=blinded))
