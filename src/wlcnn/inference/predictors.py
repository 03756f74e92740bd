"""The statistics the inference stage compresses each simulated or observed survey into.

``power_spectrum`` is the baseline and ``peaks`` and ``minkowski`` the map statistics of
:mod:`.map_statistics` (no TensorFlow); any other label is a trained network whose
exported ``model.keras`` predicts (Ωm, σ8, A_IA/10) and the 6 Cholesky entries per patch: the
summary statistic is its first three outputs (SPEC §7).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from wlcnn.inference.map_statistics import MAP_STATISTICS, map_statistic_from_config
from wlcnn.inference.power_spectrum import PowerSpectrumStatistic, ell_bin_edges
from wlcnn.training.export import ModelFileError, load_trained_model

__all__ = ["NETWORK_OUTPUTS", "POWER_SPECTRUM", "STATISTICS", "make_predictor"]

POWER_SPECTRUM = "power_spectrum"
#: Labels computed from the maps without a network (no TensorFlow, no trained model).
STATISTICS = (POWER_SPECTRUM, *MAP_STATISTICS)
#: The network outputs used as summary statistics (the rest parametrise the loss covariance).
NETWORK_OUTPUTS = ("omega_m", "sigma8", "a_ia_over_10")
#: CNN input channels per tomographic bin: γ1, γ2 and κ_E (:func:`wlcnn.survey.channel_names`).
CHANNELS_PER_BIN = 3


def make_predictor(
    label: str, *, config: Mapping[str, Any], model_path: str | Path | None = None
) -> tuple[Callable[[np.ndarray], np.ndarray], tuple[str, ...]]:
    """``predict(batch (n, N, N, 3 n_bins)) -> (n, p)`` and the p output names of a statistic."""
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

    def predict(batch: np.ndarray) -> np.ndarray:
        out = model.predict_on_batch(np.asarray(batch, dtype=np.float32))
        pred = np.asarray(out, dtype=np.float64)[:, : len(NETWORK_OUTPUTS)]
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
        return pred

    return predict, NETWORK_OUTPUTS
