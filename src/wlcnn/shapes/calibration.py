"""Shear calibration: the linear bias model ĝ = (1 + m) g + c, RMS errors, and its checks.

Per component i, an estimator's raw estimates g̃_i of stamps of known shear g_i are fitted by
least squares with g̃_i = (1 + m_i) g_i + c_i (the seed paper's Eq. 17); the standard errors of
m and c come from the residual scatter. Calibrated estimates are (g̃ − c) / (1 + m) (Eq. 16), and
the RMS error σ_i² = ⟨(ĝ_i − g_i)²⟩ (Eq. 15) is what the estimators are compared by, overall and
in bins of S/N and size (the seed paper's Figs. 10–11).

:func:`check_calibration` refits calibrated estimates of an independent set: a remaining m or c
that is both significant (``n_sigma`` standard errors) and larger than the tolerance means the
estimator is mis-calibrated (e.g. a network applied to another PSF, or a wrong calibration).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from wlcnn.shapes.settings import CalibrationSettings

__all__ = [
    "BiasFit",
    "apply_calibration",
    "binned_bias",
    "calibration_summary",
    "check_calibration",
    "fit_bias",
    "rms_error",
]

#: Fewer objects than this in a bin give no fit (NaN): two parameters need a margin of dof.
MIN_OBJECTS_PER_FIT = 10
_N_COMPONENTS = 2


@dataclass(frozen=True)
class BiasFit:
    """m, c and their standard errors per shear component (length-2 lists), objects used."""

    m: list[float]
    c: list[float]
    m_err: list[float]
    c_err: list[float]
    n: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BiasFit:
        """The inverse of :meth:`to_dict`."""
        return cls(**{k: data[k] for k in ("m", "c", "m_err", "c_err", "n")})


def _usable(g_true: np.ndarray, g_est: np.ndarray) -> np.ndarray:
    return np.isfinite(g_est).all(axis=1) & np.isfinite(g_true).all(axis=1)


def fit_bias(g_true: np.ndarray, g_est: np.ndarray) -> BiasFit:
    """Least-squares (m, c) per component of ``g_est`` (N, 2) against ``g_true`` (N, 2).

    Rows with a non-finite estimate (flagged failures) are left out.
    """
    ok = _usable(g_true, g_est)
    n = int(ok.sum())
    if n < MIN_OBJECTS_PER_FIT:
        nan = [float("nan")] * _N_COMPONENTS
        return BiasFit(m=nan, c=nan, m_err=nan, c_err=nan, n=n)
    m, c, m_err, c_err = [], [], [], []
    for i in range(_N_COMPONENTS):
        x, y = g_true[ok, i], g_est[ok, i]
        design = np.column_stack([x, np.ones_like(x)])
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        residual = y - design @ coef
        variance = residual @ residual / (n - 2)
        cov = variance * np.linalg.inv(design.T @ design)
        m.append(float(coef[0] - 1.0))
        c.append(float(coef[1]))
        m_err.append(float(np.sqrt(cov[0, 0])))
        c_err.append(float(np.sqrt(cov[1, 1])))
    return BiasFit(m=m, c=c, m_err=m_err, c_err=c_err, n=n)


def apply_calibration(g_est: np.ndarray, fit: BiasFit) -> np.ndarray:
    """Calibrated estimates (g̃ − c) / (1 + m), per component."""
    return (np.asarray(g_est) - np.asarray(fit.c)) / (1.0 + np.asarray(fit.m))


def rms_error(g_true: np.ndarray, g_cal: np.ndarray) -> list[float]:
    """RMS error per component of calibrated estimates (finite rows only)."""
    ok = _usable(g_true, g_cal)
    return [float(np.sqrt(np.mean((g_cal[ok, i] - g_true[ok, i]) ** 2))) for i in range(_N_COMPONENTS)]


def binned_bias(
    g_true: np.ndarray, g_est: np.ndarray, values: np.ndarray, *, n_bins: int
) -> dict[str, list[Any]]:
    """Bias fit and RMS after that bin's own calibration, in ``n_bins`` quantile bins of ``values``.

    Returns
    -------
    dict
        ``edges`` (n_bins + 1), ``centre`` (median value per bin), ``m`` and ``c`` (per bin, per
        component), ``rms`` (per bin: mean of the two components), ``n`` (objects per bin).
    """
    edges = np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1))
    which = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, n_bins - 1)
    out: dict[str, list[Any]] = {"edges": edges.tolist(), "centre": [], "m": [], "c": [], "rms": [], "n": []}
    for b in range(n_bins):
        sel = which == b
        fit = fit_bias(g_true[sel], g_est[sel])
        cal = apply_calibration(g_est[sel], fit)
        out["centre"].append(float(np.median(values[sel])) if sel.any() else float("nan"))
        out["m"].append(fit.m)
        out["c"].append(fit.c)
        out["rms"].append(float(np.mean(rms_error(g_true[sel], cal))) if fit.n else float("nan"))
        out["n"].append(fit.n)
    return out


def check_calibration(
    g_true: np.ndarray,
    g_cal: np.ndarray,
    *,
    max_abs_m: float,
    max_abs_c: float,
    n_sigma: float,
    reference: BiasFit | None = None,
) -> dict[str, Any]:
    """Refit calibrated estimates of an independent set; flag a remaining bias.

    A component is mis-calibrated when its residual m (or c) is both farther from 0 than
    ``n_sigma`` standard errors and larger in size than ``max_abs_m`` (``max_abs_c``): a
    significant bias that matters. ``reference``, the fit the calibration was made with, adds
    its own standard errors in quadrature (its scatter moves the residual too).

    Returns
    -------
    dict
        ``fit`` (the residual :class:`BiasFit` as a dict), ``miscalibrated`` (bool) and
        ``reasons`` (one line per failing component and parameter).
    """
    fit = fit_bias(g_true, g_cal)
    ref_m_err = reference.m_err if reference is not None else [0.0] * _N_COMPONENTS
    ref_c_err = reference.c_err if reference is not None else [0.0] * _N_COMPONENTS
    reasons = []
    for i in range(_N_COMPONENTS):
        for name, value, error, tolerance in (
            ("m", fit.m[i], float(np.hypot(fit.m_err[i], ref_m_err[i])), max_abs_m),
            ("c", fit.c[i], float(np.hypot(fit.c_err[i], ref_c_err[i])), max_abs_c),
        ):
            if not np.isfinite(value):
                reasons.append(f"{name}{i + 1}: no fit ({fit.n} usable objects)")
            elif abs(value) > n_sigma * error and abs(value) > tolerance:
                reasons.append(
                    f"{name}{i + 1} = {value:.4f} ± {error:.4f}: expected |{name}| <= {tolerance} "
                    f"or within {n_sigma} sigma"
                )
    return {"fit": fit.to_dict(), "miscalibrated": bool(reasons), "reasons": reasons}


def calibration_summary(
    g_true: np.ndarray,
    g_est: np.ndarray,
    *,
    snr: np.ndarray,
    size: np.ndarray,
    settings: CalibrationSettings,
) -> dict[str, Any]:
    """Everything the calibration reports for one estimator on one calibration set.

    The check of :func:`check_calibration` uses the set's halves: the bias fitted on the
    even rows calibrates the odd rows, which are then refitted (an independent set).

    Returns
    -------
    dict
        ``fit`` (m, c and errors per component), ``rms`` (per component, after calibration),
        ``rms_mean``, ``by_snr`` and ``by_size`` (:func:`binned_bias`), ``n_failed`` (rows
        without an estimate) and ``check``.
    """
    fit = fit_bias(g_true, g_est)
    rms = rms_error(g_true, apply_calibration(g_est, fit))
    half = fit_bias(g_true[0::2], g_est[0::2])
    check = check_calibration(
        g_true[1::2],
        apply_calibration(g_est[1::2], half),
        max_abs_m=settings.max_abs_m,
        max_abs_c=settings.max_abs_c,
        n_sigma=settings.n_sigma,
        reference=half,
    )
    return {
        "fit": fit.to_dict(),
        "rms": rms,
        "rms_mean": float(np.mean(rms)),
        "by_snr": binned_bias(g_true, g_est, snr, n_bins=settings.n_snr_bins),
        "by_size": binned_bias(g_true, g_est, size, n_bins=settings.n_size_bins),
        "n_failed": int((~np.isfinite(g_est).all(axis=1)).sum()),
        "check": check,
    }
