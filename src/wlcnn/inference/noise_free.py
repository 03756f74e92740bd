"""Noise-free constraints: a network and the power spectrum on survey maps without shape noise.

The question behind issue 14's goal ("on noise-free maps, the CNN's Ωm–σ8 68 % area at most
0.7× the power spectrum's") is how much the network extracts from the convergence field
itself, beyond the two-point function, before shape noise hides it. This module answers it with
the pipeline's own pieces, on the same test simulations as the noisy analysis:

1. the test set's surveys (same seeds: patch sets, n(z) realisations, m-bias errors) through the
   survey forward model *without* shape noise (:class:`~wlcnn.inference.survey_sets.SimulatedSurveys`
   with ``noise=False``), predicted by the network (usually its noise-free curriculum stage,
   :func:`wlcnn.training.export.stage_model_path`) and by the power spectrum in one pass;
2. the mock observation made the same way from the mock simulation's maps: one noise-free
   survey, the first of the mock cosmology's seeds at its A_IA;
3. each analysis' likelihood, posterior and 68 % area by :func:`wlcnn.inference.analysis.constrain`
   (the power spectrum with its fixed covariance near the truth, as in the noisy analysis).

The data vector of the noise-free mock is the one realisation of sample variance the mock
simulation's patches give: the contours scatter around the truth by that much.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wlcnn.inference.analysis import DEFAULTS, InferenceSettings, constrain
from wlcnn.inference.predictors import POWER_SPECTRUM, make_predictor
from wlcnn.inference.summaries import (
    DataVector,
    Summaries,
    compute_summaries,
    predict_data_vector,
    split_summaries,
    survey_seed,
)
from wlcnn.inference.survey_sets import SimulatedSurveys

__all__ = ["NOISE_FREE_SUFFIX", "NoiseFreeAnalysis", "noise_free_constraints"]

#: Suffix of the noise-free analyses' labels (``tiny_noise_free``, ``power_spectrum_noise_free``).
NOISE_FREE_SUFFIX = "_noise_free"


@dataclass(frozen=True)
class NoiseFreeAnalysis:
    """The noise-free analyses of one network beside the power spectrum.

    Attributes
    ----------
    summaries
        Label → test-set summaries on noise-free surveys (the network's give its noise-free R²).
    data
        Label → data vector of the noise-free mock observation.
    rows
        Label → constraints row (:func:`~wlcnn.inference.analysis.constrain`: medians, intervals,
        ``area_68``, ``truth_in_68``, ...).
    area_ratio_68
        The network's 68 % Ωm–σ8 area over the power spectrum's.
    """

    summaries: Mapping[str, Summaries]
    data: Mapping[str, DataVector]
    rows: Mapping[str, Mapping[str, Any]]
    area_ratio_68: float


def noise_free_constraints(
    cfg: Mapping[str, Any],
    *,
    network: str,
    model_path: str | Path,
    patch_maps: str | Path,
    test_maps: Mapping[str, Sequence[Path]],
    nodes: Mapping[str, tuple[float, float]],
    mock_id: str,
    mock_maps: Sequence[Path],
    truth: Sequence[float],
    out_dir: str | Path,
    base_dir: str | Path = ".",
    n_surveys: int | None = None,
) -> NoiseFreeAnalysis:
    """Constraints of ``network`` and of the power spectrum from noise-free surveys.

    Parameters
    ----------
    cfg
        The run's validated configuration.
    network
        The network's preset name (``training.networks``).
    model_path
        The network to use (e.g. its noise-free stage, ``training/<network>/stages/<stage>.keras``).
    patch_maps
        The survey's patch maps (masks, biases; the noise ingredients are not used).
    test_maps
        Test cosmology id → its test simulations' map files.
    nodes
        Cosmology id → (Ωm, σ8).
    mock_id, mock_maps
        The mock observation's cosmology id and map files.
    truth
        (Ωm, σ8, A_IA) of the mock observation.
    out_dir
        Folder of the analyses' results (one sub-folder per label, as ``inference/results``).
    base_dir
        Directory the configuration's paths are relative to.
    n_surveys
        Surveys per (test cosmology, A_IA) (default: ``inference.n_surveys``, as the noisy test
        set; the likelihood's covariance needs more surveys than data-vector entries).

    Returns
    -------
    NoiseFreeAnalysis
    """
    settings = {**DEFAULTS, **cfg.get("inference", {})}
    base_seed = int(cfg["run"]["seed"])
    batch_size = int(settings["batch_size"])
    low, high = (float(a) for a in settings["a_ia_range"])
    a_ia = np.linspace(low, high, int(settings["n_a_ia"]))
    predictors = [
        make_predictor(network, config=cfg, model_path=model_path),
        make_predictor(POWER_SPECTRUM, config=cfg),
    ]
    labels = [network + NOISE_FREE_SUFFIX, POWER_SPECTRUM + NOISE_FREE_SUFFIX]
    widths = [len(names) for _, names in predictors]

    def predict(batch: np.ndarray) -> np.ndarray:
        return np.concatenate([p(batch) for p, _ in predictors], axis=-1)

    def surveys(map_files: Sequence[Path], value: float) -> SimulatedSurveys:
        return SimulatedSurveys(
            map_files=list(map_files),
            config=cfg,
            patch_maps_path=patch_maps,
            a_ia=value,
            base_dir=base_dir,
            noise=False,
        )

    # one pass of surveys for both statistics: the surveys cost far more than the predictions
    joint = compute_summaries(
        label="+".join(labels),
        predict=predict,
        make_survey_for=lambda cid, value: surveys(test_maps[cid], value),
        cosmologies=[(cid, *nodes[cid]) for cid in test_maps],
        a_ia=a_ia,
        n_surveys=int(settings["n_surveys"] if n_surveys is None else n_surveys),
        base_seed=base_seed,
        batch_size=batch_size,
        output_names=[name for _, names in predictors for name in names],
    )
    split = split_summaries(joint, parts=list(zip(labels, widths, strict=True)))
    parts = dict(zip(labels, split, strict=True))
    # the mock observation: its first survey seed at A_IA index 0, the same path as the test set
    seed = survey_seed(base_seed=base_seed, cosmology_id=mock_id, a_ia_index=0, index=0)
    observed = surveys(mock_maps, float(truth[2]))(seed)
    inference = InferenceSettings.from_config(cfg, base_dir=base_dir)
    data: dict[str, DataVector] = {}
    rows: dict[str, Mapping[str, Any]] = {}
    for (predict_one, names), label in zip(predictors, labels, strict=True):
        data[label] = predict_data_vector(
            predict=predict_one, inputs=observed, batch_size=batch_size, label=label, output_names=names
        )
        rows[label] = constrain(
            summaries=parts[label],
            data=data[label],
            settings=inference,
            out_dir=Path(out_dir) / label,
            label=label,
            truth=list(truth),
            # as the noisy power-spectrum baseline: fixed covariance from the test set near the mock
            fixed_covariance_near=list(truth[:2]) if label.startswith(POWER_SPECTRUM) else None,
            config_subset={"inference": dict(cfg.get("inference", {})), "noise": False},
        )
    ratio = float(rows[labels[0]]["area_68"]) / float(rows[labels[1]]["area_68"])
    return NoiseFreeAnalysis(summaries=parts, data=data, rows=rows, area_ratio_68=ratio)
