r"""Constraints from measured shapes against those from exact shapes (issue 19).

Each analysis (a single statistic: the power spectrum, a network, a map statistic) is run twice
through the same path, data vector then ``constrain``: on the survey mock as it is (exact
shapes) and on the same catalogue with the rendered galaxies' shapes replaced by the CNN's
measurements (:mod:`wlcnn.shapes.merge`). For each parameter p ∈ (S8, Ωm, σ8, A_IA) the exact
run gives the median m_exact and the central 68 % interval [m_exact − minus, m_exact + plus],
of half-width σ_exact = (plus + minus) / 2; the measured run's median m_measured is shifted by

.. math::

    \Delta_\sigma = (m_{measured} - m_{exact}) / \sigma_{exact},

and the two agree when |Δσ| ≤ ``agree_sigma`` (1 by default: within the errors).

What the quoted error includes: σ_exact is the width of the exact catalogue's posterior, i.e.
the shape noise, cosmic variance and model uncertainty of the whole survey. The two runs share
every galaxy, its position, its intrinsic shape and the same simulations, so their shift is not
the difference of two independent samples: it measures only what the measurement changed
(the estimator's noise and residual bias on the rendered galaxies), and it is compared with the
posterior width, which is the natural tolerance for "agree within errors" but not an
independent-sample error of the difference.

A blinded input blinds both runs with the same secret offsets (one secret per run directory,
:mod:`wlcnn.inference.blinding`), so the shifts stay meaningful; inputs blinded differently
cannot be compared.

Examples
--------
>>> exact = {"s8": {"median": 0.78, "lower": 0.74, "upper": 0.82, "plus": 0.04, "minus": 0.04}}
>>> measured = {"s8": {"median": 0.80, "lower": 0.76, "upper": 0.84, "plus": 0.04, "minus": 0.04}}
>>> entry = compare_parameter(exact["s8"], measured["s8"], agree_sigma=1.0)
>>> round(entry["shift_sigma"], 3), entry["agree"]
(0.5, True)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wlcnn._errors import FieldError
from wlcnn.atomic import atomic_path, atomic_write_text

__all__ = [
    "COMPARISON_SCHEMA",
    "PARAMETERS",
    "ConstraintsComparisonError",
    "compare_analysis",
    "compare_parameter",
    "compare_shape_constraints",
    "format_comparison_markdown",
    "plot_comparison",
    "read_constraints_row",
    "shape_constraints_config_problems",
    "write_comparison",
]

COMPARISON_SCHEMA = "wlcnn.shape_constraints/1"
#: Parameters compared, in table order (the keys of a constraints row).
PARAMETERS = ("s8", "omega_m", "sigma8", "a_ia")
#: How the parameters are written in the table.
PARAMETER_LABELS = {"s8": "S8", "omega_m": "Ωm", "sigma8": "σ8", "a_ia": "A_IA"}
#: Fields of a parameter's entry in a constraints row that the comparison reads.
_ENTRY_FIELDS = ("median", "plus", "minus")
#: The configuration key listing the compared analyses.
_ANALYSES_KEY = "shapes.constraints.analyses"
#: How agreement is written in the table.
_VERDICT = {True: "yes", False: "NO"}
#: Half-width of an interval from its two sides: their mean.
_HALF = 0.5
#: What the quoted error is (written into every output).
ERROR_NOTE = (
    "shift = (median_measured - median_exact) / half-width of the exact 68 % interval; the error is "
    "the exact catalogue's posterior width (shape noise, cosmic variance, model), not an "
    "independent-sample error: both runs share every galaxy and the simulations, so the shift "
    "measures only what the shape measurement changed"
)


class ConstraintsComparisonError(FieldError):
    """A constraints table cannot be compared; the message names file, field, expected and found.

    Parameters
    ----------
    path
        The offending constraints table.
    field
        The field at fault (dotted path in the JSON).
    expected, found
        What the comparison needs and what the file holds.
    """


def shape_constraints_config_problems(cfg: Mapping[str, Any]) -> list[str]:
    """What the schema cannot check in ``shapes.constraints``: its analyses are the run's single statistics.

    Checked only when the shapes stage is enabled (a template may list analyses of a disabled stage).
    """
    shapes = cfg.get("shapes") or {}
    wanted = list((shapes.get("constraints") or {}).get("analyses", []))
    if not shapes.get("enabled") or not wanted:
        return []
    if "inference" not in cfg:
        return [f"{_ANALYSES_KEY}: expected an inference block that runs them, found none ({wanted})"]
    networks = list((cfg.get("training") or {}).get("networks", []))
    statistics = [*networks, "power_spectrum", *cfg["inference"].get("map_statistics", [])]
    return [
        f"{_ANALYSES_KEY}: expected single statistics of the run (one of {statistics}), found {name!r}"
        for name in wanted
        if name not in statistics
    ]


def read_constraints_row(path: str | Path) -> tuple[dict[str, Any], bool]:
    """The single row and the blinding flag of one analysis' ``constraints.json`` (``constrain``).

    Raises
    ------
    ConstraintsComparisonError
        Unreadable file, not exactly one row, or a compared parameter without finite median,
        plus and minus (plus + minus > 0).
    """
    try:
        payload = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConstraintsComparisonError(path, "file", "a constraints JSON table", str(exc)) from None
    rows = payload.get("rows") if isinstance(payload, dict) else None
    if not isinstance(rows, list) or len(rows) != 1 or not isinstance(rows[0], dict):
        found = repr(rows) if not isinstance(rows, list) else f"{len(rows)} rows"
        raise ConstraintsComparisonError(path, "rows", "one row (one analysis)", found)
    row = rows[0]
    for name in PARAMETERS:
        entry = row.get(name)
        valid = isinstance(entry, dict) and all(
            isinstance(entry.get(k), int | float) and not isinstance(entry.get(k), bool)
            for k in _ENTRY_FIELDS
        )
        if not valid or not isinstance(entry, dict):  # (the second test narrows the type for mypy)
            raise ConstraintsComparisonError(
                path, f"rows[0].{name}", f"numbers {', '.join(_ENTRY_FIELDS)}", repr(entry)
            )
        if not float(entry["plus"]) + float(entry["minus"]) > 0:
            raise ConstraintsComparisonError(path, f"rows[0].{name}", "plus + minus > 0", repr(entry))
    return row, bool(payload.get("blinded", False))


def _side(entry: Mapping[str, Any]) -> dict[str, float]:
    median, plus, minus = (float(entry[k]) for k in _ENTRY_FIELDS)
    return {"median": median, "lower": median - minus, "upper": median + plus, "plus": plus, "minus": minus}


def compare_parameter(
    exact: Mapping[str, Any], measured: Mapping[str, Any], *, agree_sigma: float
) -> dict[str, Any]:
    """One parameter: both constraints, the shift in exact half-widths, agreement.

    Parameters
    ----------
    exact, measured
        The parameter's entries of the two constraints rows (``median``, ``plus``, ``minus``).
    agree_sigma
        The largest |shift| (in exact half-widths) that counts as agreement.

    Returns
    -------
    dict
        ``exact`` and ``measured`` (median, lower, upper, plus, minus), ``half_width`` (exact),
        ``shift``, ``shift_sigma``, ``agree``.
    """
    a, b = _side(exact), _side(measured)
    half_width = _HALF * (a["plus"] + a["minus"])
    shift = b["median"] - a["median"]
    shift_sigma = shift / half_width
    return {
        "exact": a,
        "measured": b,
        "half_width": half_width,
        "shift": shift,
        "shift_sigma": shift_sigma,
        "agree": bool(abs(shift_sigma) <= agree_sigma),
    }


def compare_analysis(
    exact_path: str | Path, measured_path: str | Path, *, analysis: str, agree_sigma: float
) -> dict[str, Any]:
    """Every parameter of one analysis, exact against measured shapes.

    Returns
    -------
    dict
        ``analysis``, ``exact_table``, ``measured_table``, ``blinded``, ``parameters`` (name ->
        :func:`compare_parameter`), ``agree`` (all parameters agree) and ``agree_s8``.

    Raises
    ------
    ConstraintsComparisonError
        A bad table, or one blinded and the other not.
    """
    exact, exact_blinded = read_constraints_row(exact_path)
    measured, measured_blinded = read_constraints_row(measured_path)
    if exact_blinded != measured_blinded:
        raise ConstraintsComparisonError(
            measured_path,
            "blinded",
            f"the blinding of the exact-shapes table {exact_path} ({exact_blinded})",
            str(measured_blinded),
        )
    parameters = {
        name: compare_parameter(exact[name], measured[name], agree_sigma=agree_sigma) for name in PARAMETERS
    }
    return {
        "analysis": analysis,
        "exact_table": str(exact_path),
        "measured_table": str(measured_path),
        "blinded": exact_blinded,
        "parameters": parameters,
        "agree": all(p["agree"] for p in parameters.values()),
        "agree_s8": parameters["s8"]["agree"],
    }


def compare_shape_constraints(
    *,
    exact: Sequence[str | Path],
    measured: Sequence[str | Path],
    analyses: Sequence[str],
    agree_sigma: float,
    design: Mapping[str, Any],
) -> dict[str, Any]:
    """The comparison payload: every analysis (in order), the overall verdict and what it means.

    Parameters
    ----------
    exact, measured
        Constraints tables of each analysis, in the order of ``analyses``.
    analyses
        Analysis labels.
    agree_sigma
        Agreement threshold in exact half-widths.
    design
        How the two catalogues were made (written into the payload, e.g. galaxies replaced).

    Raises
    ------
    ConstraintsComparisonError
        A bad table, or a number of tables that is not one per analysis.
    """
    for name, paths in (("exact", exact), ("measured", measured)):
        if len(paths) != len(analyses):
            raise ConstraintsComparisonError(
                paths[0] if paths else "<none>",
                f"{name} tables",
                f"one per analysis ({len(analyses)}: {', '.join(analyses)})",
                f"{len(paths)} tables",
            )
    rows = [
        compare_analysis(e, m, analysis=a, agree_sigma=agree_sigma)
        for a, e, m in zip(analyses, exact, measured, strict=True)
    ]
    return {
        "schema": COMPARISON_SCHEMA,
        "agree_sigma": agree_sigma,
        "error_note": ERROR_NOTE,
        "design": dict(design),
        "analyses": rows,
        "agree": all(r["agree"] for r in rows),
        "agree_s8": all(r["agree_s8"] for r in rows),
    }


def _interval(side: Mapping[str, float]) -> str:
    return f"{side['median']:.3f} +{side['plus']:.3f} −{side['minus']:.3f}"


def format_comparison_markdown(payload: Mapping[str, Any]) -> str:
    """The comparison as a Markdown table: per analysis and parameter, both constraints and the shift."""
    lines = [
        "# Constraints from measured (CNN) shapes vs exact shapes",
        "",
        f"Agreement: |shift| ≤ {payload['agree_sigma']:g} σ_exact. {payload['error_note']}.",
        "",
        "| analysis | parameter | exact (68 %) | measured (68 %) | shift / σ_exact | agree |",
        "|---|---|---|---|---|---|",
    ]
    for row in payload["analyses"]:
        for name in PARAMETERS:
            entry = row["parameters"][name]
            lines.append(
                f"| {row['analysis']} | {PARAMETER_LABELS[name]} | {_interval(entry['exact'])} | "
                f"{_interval(entry['measured'])} | {entry['shift_sigma']:+.2f} | {_VERDICT[entry['agree']]} |"
            )
    verdict = "agree" if payload["agree"] else "DISAGREE"
    lines += ["", f"All analyses and parameters {verdict} within {payload['agree_sigma']:g} σ."]
    design = payload.get("design", {})
    if design:
        lines += ["", "Catalogues: " + "; ".join(f"{k} = {v}" for k, v in design.items()) + "."]
    if any(r["blinded"] for r in payload["analyses"]):
        lines += ["", "Blinded: medians carry the run's secret offsets (shifts are unaffected)."]
    return "\n".join(lines) + "\n"


def write_comparison(
    payload: Mapping[str, Any],
    *,
    json_path: str | Path,
    markdown_path: str | Path,
    provenance: Mapping[str, Any],
) -> None:
    """Write the comparison as JSON (with its provenance record) and as a Markdown table, atomically."""
    atomic_write_text(
        json_path, json.dumps({**payload, "provenance": dict(provenance)}, indent=1, default=str)
    )
    atomic_write_text(markdown_path, format_comparison_markdown(payload))


#: Figure size of the whisker plot, inches per analysis row and fixed width.
_FIGSIZE_WIDTH = 9.0
_FIGSIZE_PER_ANALYSIS = 1.2
_FIGSIZE_MIN_HEIGHT = 2.5
_DPI = 100
#: Vertical offset of the two whiskers of one analysis.
_OFFSET = 0.15


def plot_comparison(payload: Mapping[str, Any], path: str | Path) -> None:
    """Whiskers of every parameter (one panel each): exact and measured 68 % intervals per analysis."""
    import matplotlib  # lazy: plotting only

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = payload["analyses"]
    height = max(_FIGSIZE_MIN_HEIGHT, _FIGSIZE_PER_ANALYSIS * len(rows))
    fig, axes = plt.subplots(1, len(PARAMETERS), figsize=(_FIGSIZE_WIDTH, height), sharey=True)
    for ax, name in zip(axes, PARAMETERS, strict=True):
        for i, row in enumerate(rows):
            entry = row["parameters"][name]
            for side, offset, marker in (("exact", _OFFSET, "o"), ("measured", -_OFFSET, "s")):
                s = entry[side]
                ax.errorbar(
                    s["median"],
                    i + offset,
                    xerr=[[s["minus"]], [s["plus"]]],
                    fmt=marker,
                    capsize=3,
                    color=f"C{0 if side == 'exact' else 1}",
                    label=f"{side} shapes" if i == 0 else None,
                )
            ax.annotate(
                f"{entry['shift_sigma']:+.2f}σ",
                (entry["exact"]["median"], i),
                ha="center",
                va="center",
                fontsize="small",
            )
        ax.set_xlabel(PARAMETER_LABELS[name])
    axes[0].set_yticks(range(len(rows)), [r["analysis"] for r in rows])
    axes[0].legend(fontsize="small")
    fig.suptitle(
        f"measured vs exact shapes: agree within {payload['agree_sigma']:g}σ: "
        f"{'yes' if payload['agree'] else 'NO'}"
    )
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=_DPI, format="png")
    plt.close(fig)
