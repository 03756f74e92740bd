"""The linear bias model: injected m, c recovered with honest errors; mis-calibration detected."""

from __future__ import annotations

import numpy as np
import pytest

from wlcnn.shapes.calibration import (
    apply_calibration,
    binned_bias,
    calibration_summary,
    check_calibration,
    fit_bias,
    rms_error,
)

N = 4000
SHEAR_MAX = 0.2
NOISE = 0.25
#: Estimator noise of the mis-calibration tests, and the drift of m they must detect.
LOW_NOISE = 0.05
DRIFT = 0.1
M_TRUE = np.array([0.07, -0.12])
C_TRUE = np.array([0.004, -0.003])
#: How many standard errors a recovered parameter may be off.
PULL = 4.0


def _synthetic(
    rng: np.random.Generator, *, m: np.ndarray, c: np.ndarray, n: int = N, noise: float = NOISE
) -> tuple[np.ndarray, np.ndarray]:
    g = rng.uniform(-SHEAR_MAX, SHEAR_MAX, size=(n, 2))
    return g, (1 + m) * g + c + rng.normal(0.0, noise, size=(n, 2))


def test_fit_recovers_injected_m_and_c_within_errors():
    rng = np.random.default_rng(1)
    g, est = _synthetic(rng, m=M_TRUE, c=C_TRUE)
    fit = fit_bias(g, est)
    assert fit.n == N
    assert np.all(np.abs(np.array(fit.m) - M_TRUE) < PULL * np.array(fit.m_err))
    assert np.all(np.abs(np.array(fit.c) - C_TRUE) < PULL * np.array(fit.c_err))
    # the standard error of the slope: noise / (sqrt(N) std(g)), std(g) = shear_max / sqrt(3)
    expected = NOISE / np.sqrt(N) / (SHEAR_MAX / np.sqrt(3))
    np.testing.assert_allclose(fit.m_err, expected, rtol=0.1)
    calibrated = apply_calibration(est, fit)
    np.testing.assert_allclose(rms_error(g, calibrated), NOISE / (1 + M_TRUE), rtol=0.05)


def test_errors_are_honest_over_many_sets():
    # the scatter of fitted m over independent sets equals the quoted error
    rng = np.random.default_rng(2)
    fits = [fit_bias(*_synthetic(rng, m=M_TRUE, c=C_TRUE, n=500)) for _ in range(200)]
    m = np.array([f.m for f in fits])
    quoted = np.mean([f.m_err for f in fits], axis=0)
    np.testing.assert_allclose(m.std(axis=0), quoted, rtol=0.2)


def test_failed_rows_are_left_out():
    rng = np.random.default_rng(3)
    g, est = _synthetic(rng, m=M_TRUE, c=C_TRUE)
    est[::10] = np.nan
    fit = fit_bias(g, est)
    assert fit.n == N - N // 10
    assert np.all(np.isfinite(fit.m))


def test_a_miscalibrated_estimator_is_detected(calibration_cfg):
    rng = np.random.default_rng(40)
    # low noise: the calibration's own error (0.007) is well below the drift
    # calibrate on one set, then apply that calibration to an estimator whose m drifted by 0.1
    g, est = _synthetic(rng, m=M_TRUE, c=C_TRUE, noise=LOW_NOISE)
    fit = fit_bias(g, est)
    g_good, est_good = _synthetic(rng, m=M_TRUE, c=C_TRUE, noise=LOW_NOISE)
    g_bad, est_bad = _synthetic(rng, m=M_TRUE + DRIFT, c=C_TRUE, noise=LOW_NOISE)
    kwargs = {
        "max_abs_m": calibration_cfg.max_abs_m,
        "max_abs_c": calibration_cfg.max_abs_c,
        "n_sigma": calibration_cfg.n_sigma,
        "reference": fit,
    }
    good = check_calibration(g_good, apply_calibration(est_good, fit), **kwargs)
    bad = check_calibration(g_bad, apply_calibration(est_bad, fit), **kwargs)
    assert not good["miscalibrated"], good["reasons"]
    assert bad["miscalibrated"]
    assert any(r.startswith("m1") for r in bad["reasons"]) and any(r.startswith("m2") for r in bad["reasons"])


def test_additive_drift_is_detected(calibration_cfg):
    rng = np.random.default_rng(5)
    g, est = _synthetic(rng, m=np.zeros(2), c=np.zeros(2), n=20000)
    shifted = est + np.array([0.0, 0.02])
    result = check_calibration(
        g,
        shifted,
        max_abs_m=calibration_cfg.max_abs_m,
        max_abs_c=calibration_cfg.max_abs_c,
        n_sigma=calibration_cfg.n_sigma,
    )
    assert result["miscalibrated"] and [r[:2] for r in result["reasons"]] == ["c2"]


def test_binned_bias_finds_an_snr_dependent_m():
    rng = np.random.default_rng(6)
    snr = rng.uniform(10, 100, size=N)
    g = rng.uniform(-SHEAR_MAX, SHEAR_MAX, size=(N, 2))
    m = np.where(snr < 55, -0.2, 0.0)[:, None]
    est = (1 + m) * g + rng.normal(0, 0.05, size=(N, 2))
    bins = binned_bias(g, est, snr, n_bins=2)
    assert bins["n"] == [N // 2, N // 2] or abs(bins["n"][0] - N // 2) <= 1
    assert bins["m"][0] == pytest.approx([-0.2, -0.2], abs=0.02)
    assert bins["m"][1] == pytest.approx([0.0, 0.0], abs=0.02)


def test_summary_reports_everything(calibration_cfg):
    rng = np.random.default_rng(7)
    g, est = _synthetic(rng, m=M_TRUE, c=C_TRUE)
    size = rng.uniform(0.3, 1.0, size=N)
    summary = calibration_summary(g, est, snr=rng.uniform(10, 100, N), size=size, settings=calibration_cfg)
    assert set(summary) == {"fit", "rms", "rms_mean", "by_snr", "by_size", "n_failed", "check"}
    assert len(summary["by_snr"]["m"]) == calibration_cfg.n_snr_bins
    assert len(summary["by_size"]["rms"]) == calibration_cfg.n_size_bins
    assert not summary["check"]["miscalibrated"]
