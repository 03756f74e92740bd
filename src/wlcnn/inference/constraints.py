"""Constraints from posterior samples: marginal intervals, contour areas, the paper's Table II.

* Marginals: median and the central 68 % interval (16th and 84th percentiles) of S8, A_IA, σ8
  and Ωm, with S8 = σ8 (Ωm/0.3)^0.5, as quoted in the paper (e.g. S8 = 0.777 +0.038 −0.036).
* Contour areas in the Ωm–σ8 plane: area of the highest-posterior-density region holding 68 %
  or 95 % of the marginal (Ωm, σ8) posterior. From a dense grid (:func:`hpd_area_grid`, exact
  density, used for the table) and from samples (:func:`hpd_area_samples`, cross-check).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> iv = marginal_interval(rng.normal(1.0, 0.1, 200_000), level=0.68)
>>> round(iv.median, 2), round(iv.plus, 2), round(iv.minus, 2)
(1.0, 0.1, 0.1)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from wlcnn.atomic import atomic_write_text
from wlcnn.inference.likelihood import PARAMETER_NAMES

__all__ = [
    "CONTOUR_LEVELS",
    "COVERAGE_NOTE",
    "INTERVAL_LEVEL",
    "NOT_CONVERGED_MARK",
    "NOT_CONVERGED_NOTE",
    "S8_EXPONENT",
    "S8_PIVOT",
    "TABLE_PARAMETERS",
    "TABLE_SCHEMA",
    "Interval",
    "constraints_row",
    "format_markdown_table",
    "hpd_area_grid",
    "hpd_contains",
    "hpd_area_samples",
    "marginal_interval",
    "s8",
    "weighted_quantile",
    "write_table",
]

TABLE_SCHEMA = "wlcnn.constraints/1"
#: S8 = σ8 (Ωm / S8_PIVOT)^S8_EXPONENT.
S8_PIVOT = 0.3
S8_EXPONENT = 0.5
#: Probability mass of the quoted marginal intervals (the paper's 68 %).
INTERVAL_LEVEL = 0.68
#: Probability masses of the Ωm–σ8 contours.
CONTOUR_LEVELS = (0.68, 0.95)
#: Rows of Table II, in the paper's order.
TABLE_PARAMETERS = ("s8", "a_ia", "sigma8", "omega_m")
#: Mark of an analysis whose chain did not meet the convergence criterion (and its footnote).
NOT_CONVERGED_MARK = "†"
NOT_CONVERGED_NOTE = (
    f"{NOT_CONVERGED_MARK} chain NOT converged (emcee autocorrelation criterion: N > 50 τ, τ "
    "changing < 1 %) within the maximum number of steps: intervals are not final."
)
_TABLE_LABELS = {"s8": "S8", "a_ia": "A_IA", "sigma8": "σ8", "omega_m": "Ωm"}
#: Histogram bin width of the sample-based area, in posterior standard deviations (whitened).
_AREA_BIN = 0.05
#: Whitened-range padding of the area histogram, in kernel widths.
_AREA_PAD = 4.0


def s8(omega_m: np.ndarray | float, sigma8: np.ndarray | float) -> np.ndarray:
    """S8 = σ8 (Ωm/0.3)^0.5 (dimensionless)."""
    return np.asarray(sigma8) * (np.asarray(omega_m) / S8_PIVOT) ** S8_EXPONENT


@dataclass(frozen=True)
class Interval:
    """Median and central interval of a marginal: ``median +plus −minus`` (``lower``, ``upper``)."""

    median: float
    lower: float
    upper: float
    level: float

    @property
    def plus(self) -> float:
        """Upper − median."""
        return self.upper - self.median

    @property
    def minus(self) -> float:
        """Median − lower."""
        return self.median - self.lower

    def to_dict(self) -> dict[str, float]:
        """JSON-able dict with ``plus`` and ``minus``."""
        return {**asdict(self), "plus": self.plus, "minus": self.minus}

    def __str__(self) -> str:
        return f"{self.median:.3f} +{self.plus:.3f} −{self.minus:.3f}"


def weighted_quantile(
    values: np.ndarray, quantiles: Sequence[float], *, weights: np.ndarray | None = None
) -> np.ndarray:
    """Quantiles of weighted samples (linear interpolation of the mid-point CDF)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    w = np.ones_like(values) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    keep = w > 0
    values, w = values[keep], w[keep]
    order = np.argsort(values)
    values, w = values[order], w[order]
    # Mid-point CDF: unweighted, it reproduces numpy's "hazen" quantiles.
    cdf = (np.cumsum(w) - 0.5 * w) / w.sum()
    return np.interp(np.asarray(quantiles, dtype=np.float64), cdf, values)


def marginal_interval(
    values: np.ndarray, *, weights: np.ndarray | None = None, level: float = INTERVAL_LEVEL
) -> Interval:
    """Median and central ``level`` interval of (weighted) samples of one parameter."""
    tail = 0.5 * (1.0 - level)
    lo, med, hi = weighted_quantile(values, [tail, 0.5, 1.0 - tail], weights=weights)
    return Interval(median=float(med), lower=float(lo), upper=float(hi), level=level)


def _hpd_count(mass: np.ndarray, level: float) -> float:
    """Number of cells (fractional) of the highest-density set holding ``level`` of the mass."""
    m = np.sort(mass.ravel())[::-1]
    m = m / m.sum()
    cum = np.cumsum(m)
    k = int(np.searchsorted(cum, level))  # cells 0..k reach the level
    before = cum[k - 1] if k > 0 else 0.0
    return k + (level - before) / m[k]


def hpd_area_grid(mass: np.ndarray, *, x: np.ndarray, y: np.ndarray, level: float) -> float:
    """Area of the highest-density region holding ``level`` of a posterior on a regular grid.

    Parameters
    ----------
    mass
        (len(x), len(y)) posterior mass (or density) at the grid points; evenly spaced axes.
    x, y
        Grid axes (e.g. Ωm, σ8).
    level
        Probability mass (0.68, 0.95).

    Returns
    -------
    float
        Area in units of x × y; the last cell is counted fractionally.
    """
    dx, dy = np.ptp(x) / (len(x) - 1), np.ptp(y) / (len(y) - 1)
    return float(_hpd_count(np.asarray(mass, dtype=np.float64), level) * dx * dy)


def hpd_area_samples(
    x: np.ndarray, y: np.ndarray, *, level: float, weights: np.ndarray | None = None
) -> float:
    """Area of the ``level`` highest-density region of 2-D (weighted) samples.

    The samples are whitened with their covariance, histogrammed in bins of
    :data:`_AREA_BIN` standard deviations and smoothed with a Gaussian kernel of width
    h = n_eff^(−1/6) (Scott's rule in 2-D). Smoothing widens a Gaussian by (1 + h²) in variance,
    i.e. the area by (1 + h²); this first-order bias is divided out (exact for a Gaussian).
    """
    pts = np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
    w = np.ones(len(pts)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mean = w @ pts
    cov = np.cov(pts.T, aweights=w)
    chol = np.linalg.cholesky(cov)
    z = np.linalg.solve(chol, (pts - mean).T).T
    n_eff = 1.0 / np.sum(w**2)
    h = n_eff ** (-1.0 / 6.0)
    lo = z.min(axis=0) - _AREA_PAD * h
    hi = z.max(axis=0) + _AREA_PAD * h
    n_bins = np.ceil((hi - lo) / _AREA_BIN).astype(int)
    hist, _, _ = np.histogram2d(
        z[:, 0], z[:, 1], bins=n_bins, range=list(zip(lo, hi, strict=True)), weights=w
    )
    smooth = ndimage.gaussian_filter(hist, sigma=h / _AREA_BIN, mode="constant")
    area_white = _hpd_count(smooth, level) * _AREA_BIN**2 / (1.0 + h**2)
    return float(area_white * np.prod(np.diag(chol)))


def hpd_contains(
    mass: np.ndarray, *, x: np.ndarray, y: np.ndarray, level: float, point: Sequence[float]
) -> bool:
    """Whether ``point`` lies inside the ``level`` highest-density region of a gridded posterior.

    The density at the point is interpolated bilinearly and compared with the density at which
    the region's cumulative mass reaches ``level``; points off the grid are outside.
    """
    from scipy.interpolate import RegularGridInterpolator

    mass = np.asarray(mass, dtype=np.float64) / np.sum(mass)
    ordered = np.sort(mass.ravel())[::-1]
    threshold = ordered[min(int(np.searchsorted(np.cumsum(ordered), level)), ordered.size - 1)]
    interp = RegularGridInterpolator((x, y), mass, bounds_error=False, fill_value=0.0)
    return bool(interp([tuple(point)])[0] >= threshold)


def constraints_row(
    *,
    label: str,
    samples: np.ndarray,
    weights: np.ndarray | None = None,
    s8_samples: np.ndarray | None = None,
    grid_mass_2d: np.ndarray | None = None,
    grid_axes_2d: tuple[np.ndarray, np.ndarray] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One row of Table II from (n, 3) samples of (Ωm, σ8, A_IA).

    Parameters
    ----------
    label
        Analysis name (network, combination, power spectrum, mock).
    samples
        (n, 3) posterior samples.
    weights
        Optional sample weights.
    s8_samples
        (n,) S8 of the samples as reported (a blinded chain carries its own S8 offset); default
        derived from Ωm and σ8.
    grid_mass_2d, grid_axes_2d
        Marginal (Ωm, σ8) posterior mass on a regular grid and its axes: the contour areas
        ``area_68``/``area_95`` come from it when given (exact density); the sample-based areas
        are always reported as ``area_68_samples``/``area_95_samples``.
    extra
        Further JSON-able facts (convergence, grid check, blinding state).
    """
    samples = np.asarray(samples, dtype=np.float64)
    columns = {name: samples[:, i] for i, name in enumerate(PARAMETER_NAMES)}
    columns["s8"] = (
        s8(columns["omega_m"], columns["sigma8"])
        if s8_samples is None
        else np.asarray(s8_samples, dtype=np.float64).ravel()
    )
    row: dict[str, Any] = {"analysis": label}
    for name in TABLE_PARAMETERS:
        row[name] = marginal_interval(columns[name], weights=weights).to_dict()
    for level in CONTOUR_LEVELS:
        tag = f"area_{round(100 * level)}"
        row[f"{tag}_samples"] = hpd_area_samples(
            columns["omega_m"], columns["sigma8"], level=level, weights=weights
        )
        if grid_mass_2d is not None and grid_axes_2d is not None:
            row[tag] = hpd_area_grid(grid_mass_2d, x=grid_axes_2d[0], y=grid_axes_2d[1], level=level)
        else:
            row[tag] = row[f"{tag}_samples"]
    row["area_source"] = "grid" if grid_mass_2d is not None else "samples"
    row["n_samples"] = len(samples)
    if extra:
        row.update(extra)
    return row


def _fmt(entry: Mapping[str, float]) -> str:
    return f"{entry['median']:.3f} +{entry['plus']:.3f} −{entry['minus']:.3f}"


#: What the coverage lines below the table measure (see :mod:`wlcnn.inference.coverage`).
COVERAGE_NOTE = (
    "Calibration (S8): simulated test surveys of known truth at the interior grid cosmologies, each "
    "left out of the mean and covariance it is analysed with, through the same likelihood on a grid "
    "posterior. This tests the interpolation between grid points, the noise of the estimated mean and "
    "covariance and the likelihood form; not a bias of the network, the survey model or the sampler."
)


def format_markdown_table(rows: Sequence[Mapping[str, Any]], *, blinded: bool) -> str:
    """Markdown of Table II: one line per analysis, medians with 68 % intervals and areas.

    An analysis whose row says ``converged: false`` is marked with :data:`NOT_CONVERGED_MARK`
    and explained in a footnote.
    """
    head = [
        "analysis",
        *(_TABLE_LABELS[p] for p in TABLE_PARAMETERS),
        "area 68 % (Ωm–σ8)",
        "area 95 % (Ωm–σ8)",
    ]
    lines = []
    if blinded:
        lines += [
            "**BLINDED**: parameter values are shifted by a secret offset (widths and areas are not).",
            "",
        ]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        name = str(row["analysis"])
        if row.get("converged") is False:
            name += NOT_CONVERGED_MARK
        cells = [name, *(_fmt(row[p]) for p in TABLE_PARAMETERS)]
        cells += [f"{row['area_68']:.4g}", f"{row['area_95']:.4g}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Medians and central {round(100 * INTERVAL_LEVEL)} % intervals; contour areas in Ωm × σ8 units.",
    ]
    if any(row.get("converged") is False for row in rows):
        lines += ["", NOT_CONVERGED_NOTE]
    calibrated = [row for row in rows if row.get("coverage")]
    if calibrated:
        lines += ["", COVERAGE_NOTE, ""]
        lines += [f"- {row['analysis']}: {row['coverage']}" for row in calibrated]
    return "\n".join(lines) + "\n"


def write_table(
    rows: Sequence[Mapping[str, Any]],
    *,
    json_path: str | Path,
    markdown_path: str | Path,
    blinded: bool,
    provenance: Mapping[str, Any] | None = None,
) -> None:
    """Write Table II as JSON (``schema``, ``blinded``, ``rows``, ``provenance``) and Markdown."""
    payload = {
        "schema": TABLE_SCHEMA,
        "blinded": blinded,
        "rows": list(rows),
        "provenance": dict(provenance or {}),
    }
    atomic_write_text(json_path, json.dumps(payload, indent=2, default=_json_default) + "\n")
    atomic_write_text(markdown_path, format_markdown_table(rows, blinded=blinded))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return str(obj)
