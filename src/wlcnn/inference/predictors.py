"""The statistics the inference stage compresses each simulated or observed survey into.

``power_spectrum`` is the baseline and ``peaks`` and ``minkowski`` the map statistics of
:mod:`.map_statistics` (no TensorFlow); any other label is a trained network whose
exported ``model.keras`` predicts (Ωm, σ8, A_IA/10) and the 6 Cholesky entries per patch: the
summary statistic is its first three outputs (SPEC §7). A network with a K > 1 mixture-density
head (``training.mixture_components``) predicts a Gaussian mixture per patch: its summary is the
mixture mean Σₖ πₖ μₖ (the VMIM summary of :mod:`wlcnn.training.mixture_density`).

With ``predicted_variance=True`` a network's predictor also returns, after the summaries, the
network's own predicted variance of each of them per patch (the diagonal of (L Lᵀ)⁻¹, or of the
mixture's covariance, within- plus between-component), named :data:`VARIANCE_PREFIX` + name;
:func:`wlcnn.inference.summaries.separate_predicted_sigma` turns their survey averages into the
predicted σ of the survey-averaged predictions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from wlcnn.inference.map_statistics import MAP_STATISTICS, map_statistic_from_config
from wlcnn.inference.power_spectrum import PowerSpectrumStatistic, ell_bin_edges
from wlcnn.training.export import ModelFileError, load_trained_model
from wlcnn.training.loss import covariance_from_outputs
from wlcnn.training.mixture_density import mixture_components_from_width, mixture_parameters

__all__ = [
    "NETWORK_OUTPUTS",
    "POWER_SPECTRUM",
    "STATISTICS",
    "VARIANCE_PREFIX",
    "make_predictor",
    "network_moments",
]

POWER_SPECTRUM = "power_spectrum"
#: Labels computed from the maps without a network (no TensorFlow, no trained model).
STATISTICS = (POWER_SPECTRUM, *MAP_STATISTICS)
#: The network outputs used as summary statistics (the rest parametrise the loss covariance).
NETWORK_OUTPUTS = ("omega_m", "sigma8", "a_ia_over_10")
#: Prefix of the predicted-variance outputs of a network predictor (``predicted_variance=True``).
VARIANCE_PREFIX = "variance:"
#: CNN input channels per tomographic bin: γ1, γ2 and κ_E (:func:`wlcnn.survey.channel_names`).
CHANNELS_PER_BIN = 3


def network_moments(outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predicted mean (n, 3) and covariance (n, 3, 3) per patch from raw network outputs (n, W).

    W = 9: the Cholesky head (mean: the first three outputs; covariance (L Lᵀ)⁻¹). W = 10 K: a
    K-component mixture (mean Σₖ πₖ μₖ, covariance within- plus between-component).
    """
    out = np.asarray(outputs, dtype=np.float64)
    n_params = len(NETWORK_OUTPUTS)
    k = mixture_components_from_width(out.shape[-1], n_params=n_params)
    if k == 1:
        return covariance_from_outputs(out)
    mixture = mixture_parameters(out, k=k, n_params=n_params)
    return mixture.mean, mixture.covariance


def make_predictor(
    label: str,
    *,
    config: Mapping[str, Any],
    model_path: str | Path | None = None,
    predicted_variance: bool = False,
) -> tuple[Callable[[np.ndarray], np.ndarray], tuple[str, ...]]:
    """``predict(batch (n, N, N, 3 n_bins)) -> (n, p)`` and the p output names of a statistic.

    ``predicted_variance``: a network's predictor returns 2 p columns, the summaries and then
    their predicted variances (module docstring); statistics without a network ignore it.
    """
    n_bins = len(config["survey"]["zb_edges"]) - 1
    if label == POWER_SPECTRUM:
        inference = config["inference"]
        lo, hi = inference["ps_ell_range"]
        stat = PowerSpectrumStatistic(
            patch_size_deg=float(config["survey"].get("patch_size_deg", 5.0)),
            ell_edges=ell_bin_edges(ell_min=lo, ell_max=hi, n_bins=inference["ps_n_ell_bins"]),
            n_bins=n_bins,
        )
        return stat, stat.output_names
    if label in MAP_STATISTICS:
        map_stat = map_statistic_from_config(label, config=config)
        return map_stat, map_stat.output_names
    if model_path is None:
        raise ValueError(f"network statistic {label!r} needs its model_path")

    survey = config["survey"]
    n_pix = survey.get("n_pix")
    # The model must take the survey's patches: (n_pix, n_pix, γ1 γ2 κ per bin).
    patch_shape = None if n_pix is None else (int(n_pix), int(n_pix), CHANNELS_PER_BIN * n_bins)
    model = load_trained_model(model_path, input_shape=patch_shape)
    n_params = len(NETWORK_OUTPUTS)
    mixture = mixture_components_from_width(int(model.output_shape[-1]), n_params=n_params) > 1

    def predict(batch: np.ndarray) -> np.ndarray:
        out = np.asarray(model.predict_on_batch(np.asarray(batch, dtype=np.float32)), dtype=np.float64)
        # The Cholesky head's summaries are its raw first outputs, as they always were.
        mean, covariance = network_moments(out) if mixture or predicted_variance else (out, None)
        pred = mean[:, :n_params]
        # A NaN prediction would otherwise flow silently into the summaries and the likelihood.
        bad = np.argwhere(~np.isfinite(pred))
        if len(bad):
            row, col = (int(i) for i in bad[0])
            raise ModelFileError(
                model_path,
                "outputs",
                "finite predictions",
                f"{pred[row, col]} for output {NETWORK_OUTPUTS[col]!r} of patch {row} of a batch of "
                f"{len(pred)} ({len(bad)} non-finite value(s); NaN weights or inputs?)",
            )
        if covariance is None:
            return pred
        variance = np.diagonal(covariance, axis1=-2, axis2=-1)
        return np.concatenate([pred, variance], axis=-1) if predicted_variance else pred

    names: tuple[str, ...] = NETWORK_OUTPUTS
    if predicted_variance:
        names = (*NETWORK_OUTPUTS, *(f"{VARIANCE_PREFIX}{name}" for name in NETWORK_OUTPUTS))
    return predict, names
