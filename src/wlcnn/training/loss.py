"""The Gaussian likelihood loss with a predicted Cholesky factor (SPEC §6, appendix C).

For one patch the network predicts θp (3 values) and the 6 free entries of a lower-triangular
``L`` with Σ⁻¹ = L Lᵀ. The loss is the negative log-likelihood of the true parameters up to the
constant (3/2) ln 2π::

    loss = ½ [ ln|Σ| + (θp − θt)ᵀ Σ⁻¹ (θp − θt) ] = −Σᵢ ln Lᵢᵢ + ½ ‖Lᵀ (θp − θt)‖²

Layout of the 9 outputs: ``[θ0, θ1, θ2, r0, r1, r2, L10, L20, L21]``. The diagonal is kept
positive with a softplus, Lᵢᵢ = softplus(rᵢ) = ln(1 + e^rᵢ): unlike ``exp`` it grows only
linearly, so the quadratic term cannot overflow for large raw outputs, and the log-determinant
is taken from the diagonal with a log-softplus that stays finite (≈ rᵢ) for very negative rᵢ.

Targets θt = (Ωm, σ8, A_IA / :data:`A_IA_SCALE`) bring the three parameters to similar ranges.

The optional bias-reducing term of appendix C, λ ‖mean over the patches of θp − θt‖², is added
per simulated survey (one cosmology's patches).

Examples
--------
>>> import numpy as np
>>> # Exact prediction, raw diagonal 0: L = ln(2) I, so the loss is -3 ln(ln 2) = 1.0995.
>>> out = np.array([[0.3, 0.8, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]], dtype=np.float32)
>>> round(float(gaussian_nll(out, np.array([[0.3, 0.8, 0.1]], np.float32))[0]), 4)
1.0995
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "A_IA_SCALE",
    "N_PARAMS",
    "cholesky_factor",
    "covariance_from_outputs",
    "gaussian_nll",
    "log_softplus",
    "parameter_targets",
    "survey_loss",
]

#: Number of predicted parameters (Ωm, σ8, A_IA / 10).
N_PARAMS = 3
#: A_IA is divided by this in the targets (SPEC §6: θt = (Ωm, σ8, A_IA/10)).
A_IA_SCALE = 10.0
#: Below this raw value ln softplus(r) is replaced by r (the error, ~e^r/2, is below float32's ulp).
_LOG_SOFTPLUS_SWITCH = -20.0


def log_softplus(raw: Any) -> Any:
    """ln(softplus(raw)), finite with finite gradients for every finite ``raw``."""
    import tensorflow as tf

    raw = tf.convert_to_tensor(raw)
    small = raw < _LOG_SOFTPLUS_SWITCH
    # Both branches of a tf.where are differentiated: clamp the input of the one not taken.
    safe = tf.where(small, tf.fill(tf.shape(raw), tf.cast(_LOG_SOFTPLUS_SWITCH, raw.dtype)), raw)
    return tf.where(small, raw, tf.math.log(tf.math.softplus(safe)))


def _split(outputs: Any) -> tuple[Any, Any, Any]:
    """θp (..., 3), raw diagonal (..., 3), off-diagonal (L10, L20, L21) (..., 3)."""
    import tensorflow as tf

    outputs = tf.cast(tf.convert_to_tensor(outputs), tf.float32)
    return outputs[..., 0:3], outputs[..., 3:6], outputs[..., 6:9]


def gaussian_nll(outputs: Any, theta_true: Any) -> Any:
    """Per-patch loss ½[ln|Σ| + δᵀ Σ⁻¹ δ], δ = θp − θt.

    Parameters
    ----------
    outputs
        (..., 9) network outputs (layout in the module docstring).
    theta_true
        (..., 3) targets, broadcastable against ``outputs[..., :3]``.

    Returns
    -------
    tf.Tensor
        (...) float32 loss (nats, without the constant (3/2) ln 2π).
    """
    import tensorflow as tf

    theta_p, raw_diag, off = _split(outputs)
    delta = theta_p - tf.cast(theta_true, tf.float32)
    diag = tf.math.softplus(raw_diag)
    d0, d1, d2 = delta[..., 0], delta[..., 1], delta[..., 2]
    # Lᵀ δ written out for the 3x3 lower-triangular L: cheaper and XLA-friendly, no matrices.
    u0 = diag[..., 0] * d0 + off[..., 0] * d1 + off[..., 1] * d2
    u1 = diag[..., 1] * d1 + off[..., 2] * d2
    u2 = diag[..., 2] * d2
    quadratic = tf.square(u0) + tf.square(u1) + tf.square(u2)
    log_det_sigma = -2.0 * tf.reduce_sum(log_softplus(raw_diag), axis=-1)
    return 0.5 * (log_det_sigma + quadratic)


def survey_loss(outputs: Any, theta_true: Any, *, bias_lambda: float = 0.0) -> Any:
    """Loss of each simulated survey: mean over its patches of :func:`gaussian_nll` + bias term.

    Parameters
    ----------
    outputs
        (n_surveys, n_patches, 9) network outputs.
    theta_true
        (n_surveys, 3) targets of each survey.
    bias_lambda
        λ of the bias-reducing term λ ‖mean over patches of θp − θt‖² (appendix C; 0: off).

    Returns
    -------
    tf.Tensor
        (n_surveys,) float32.
    """
    import tensorflow as tf

    theta_true = tf.cast(theta_true, tf.float32)
    nll = tf.reduce_mean(gaussian_nll(outputs, theta_true[:, None, :]), axis=1)
    if not bias_lambda:
        return nll
    theta_p = _split(outputs)[0]
    bias = tf.reduce_mean(theta_p, axis=1) - theta_true
    return nll + float(bias_lambda) * tf.reduce_sum(tf.square(bias), axis=-1)


def parameter_targets(omega_m: Any, sigma8: Any, a_ia: Any) -> np.ndarray:
    """Targets (..., 3) float32 = (Ωm, σ8, A_IA / :data:`A_IA_SCALE`)."""
    return np.stack(
        np.broadcast_arrays(
            np.asarray(omega_m, np.float64),
            np.asarray(sigma8, np.float64),
            np.asarray(a_ia, np.float64) / A_IA_SCALE,
        ),
        axis=-1,
    ).astype(np.float32)


def cholesky_factor(outputs: Any) -> np.ndarray:
    """(..., 3, 3) lower-triangular L (float64) from network outputs (..., 9); Σ⁻¹ = L Lᵀ."""
    out = np.asarray(outputs, dtype=np.float64)
    chol = np.zeros((*out.shape[:-1], N_PARAMS, N_PARAMS))
    # Same softplus as the loss; logaddexp(0, r) = ln(1 + e^r) without overflow.
    chol[..., [0, 1, 2], [0, 1, 2]] = np.logaddexp(0.0, out[..., 3:6])
    chol[..., 1, 0], chol[..., 2, 0], chol[..., 2, 1] = out[..., 6], out[..., 7], out[..., 8]
    return chol


def covariance_from_outputs(outputs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Predicted mean θp (..., 3) and covariance Σ = (L Lᵀ)⁻¹ (..., 3, 3), float64.

    θp's third entry is A_IA / :data:`A_IA_SCALE`, like the targets.
    """
    out = np.asarray(outputs, dtype=np.float64)
    chol = cholesky_factor(out)
    precision = chol @ np.swapaxes(chol, -1, -2)
    return out[..., :N_PARAMS], np.linalg.inv(precision)
