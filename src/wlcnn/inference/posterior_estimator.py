"""Amortized neural posterior estimation (NPE) of one analysis, beside its likelihood and calibrated.

The simulated surveys of an analysis (its summaries file: S surveys at every grid cosmology and
A_IA value) are (θ, summary) pairs drawn from the prior the grid defines. A conditional density
estimator q(θ | summary) (:func:`wlcnn.training.mixture_density.fit_posterior_estimator`, a mixture
of K Gaussians) trained on them approaches that prior's posterior; evaluated at the observed data
vector it is an inference that never assumes a Gaussian likelihood or interpolates a covariance.

:func:`run_posterior_estimator` does one analysis:

1. hold out a seeded fraction of the surveys of every (cosmology, A_IA) (:func:`holdout_mask`)
   and train on the rest;
2. evaluate q(θ | data) on a zoomed grid over the prior (the convex hull of the simulated
   cosmologies × the A_IA range, as the likelihood's; zero outside) and draw from it: posterior
   mean, median and central 68 % interval of Ωm, σ8, S8, A_IA;
3. calibration: every held-out survey is analysed as an observation of known truth
   (:func:`wlcnn.training.mixture_density.mixture_trial_statistics` →
   :func:`wlcnn.inference.coverage.summarise_coverage`), stated like the likelihood's coverage;
4. write the JSON (:data:`NPE_FILES`), the NPE grid, the Ωm–σ8 contours of the NPE overlaid on
   the analysis' likelihood contours (its ``grid.h5``, else its chain), and the coverage plot.

What the calibration tests: the estimator's own approximation (too few pairs, too few epochs,
too few components), averaged over the training prior (the grid's cosmologies and A_IA values),
which is the coverage an amortized posterior promises. Not the network or survey model behind
the summaries (simulated and observed surveys share them), and not coverage at one cosmology.

With ``inference.blind`` the reported values are shifted by the same secret offset as the
likelihood's results (:mod:`.blinding`); the coverage, relative to the truths, is not.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from wlcnn.atomic import atomic_write_text
from wlcnn.inference.analysis import RESULT_FILES
from wlcnn.inference.blinding import load_or_create_secret
from wlcnn.inference.constraints import INTERVAL_LEVEL, marginal_interval, s8
from wlcnn.inference.coverage import summarise_coverage
from wlcnn.inference.likelihood import PARAMETER_NAMES, GridInterpolator
from wlcnn.inference.sampling import GridPosterior, evaluate_grid, read_chain, read_grid, write_grid
from wlcnn.inference.summaries import DataVector, Summaries, SummariesFileError
from wlcnn.provenance import file_record, provenance_record, utc_now, write_rendered_sidecars
from wlcnn.seeding import rng_for
from wlcnn.training.mixture_density import (
    MixtureParameters,
    fit_posterior_estimator,
    mixture_trial_statistics,
    predict_mixture,
)

if TYPE_CHECKING:
    from wlcnn.inference.analysis import InferenceSettings
    from wlcnn.training.mixture_density import MixtureParameters, PosteriorEstimator

__all__ = [
    "DEFAULTS",
    "NPE_FILES",
    "NPE_SCHEMA",
    "NPESettings",
    "holdout_mask",
    "posterior_estimator_config_problems",
    "run_posterior_estimator",
]

NPE_SCHEMA = "wlcnn.npe/1"
#: File names of one analysis' NPE results.
NPE_FILES = {
    "json": "npe.json",
    "grid": "grid.h5",
    "contours": "omega_m_sigma8.png",
    "coverage_plot": "coverage.png",
}
#: Values of the ``inference.npe`` keys the configuration leaves out.
DEFAULTS: dict[str, Any] = {"k": 1, "hidden": [64, 64], "epochs": 100, "holdout_fraction": 0.25}
#: Draws of the observed posterior from which the marginal intervals are taken.
POSTERIOR_SAMPLES = 40_000
#: Fewest draws inside the prior for intervals worth quoting (else the estimator is refused).
MIN_PRIOR_SAMPLES = 1_000
#: Largest integer seed handed to the estimator's training.
_SEED_LIMIT = 2**31 - 1
#: Parameters of the JSON, S8 first (the headline number).
NPE_PARAMETERS = ("s8", *PARAMETER_NAMES)
#: Index of S8's own offset in a blinding secret's vector (after Ωm, σ8, A_IA).
_S8_SHIFT_INDEX = len(PARAMETER_NAMES)
#: What the coverage statement of the NPE measures (beside the likelihood's COVERAGE_NOTE).
NPE_COVERAGE_NOTE = (
    "NPE calibration: held-out simulated surveys of every grid cosmology and A_IA value, each "
    "analysed with the estimator trained without them (posterior draws of the mixture). This tests "
    "the estimator's approximation averaged over the training prior; not the network or survey "
    "model behind the summaries."
)


@dataclass(frozen=True)
class NPESettings:
    """The ``inference.npe`` block.

    Attributes
    ----------
    k
        Gaussian components of the mixture.
    hidden
        Widths of the estimator's hidden layers.
    epochs
        Training passes over the (θ, summary) pairs.
    holdout_fraction
        Fraction of the surveys of each (cosmology, A_IA) kept out of training, for calibration.
    analyses
        Labels to run (None: every analysis).
    """

    k: int
    hidden: tuple[int, ...]
    epochs: int
    holdout_fraction: float
    analyses: tuple[str, ...] | None = None

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> NPESettings:
        """Settings from a validated configuration (missing keys: :data:`DEFAULTS`)."""
        block = {**DEFAULTS, **cfg.get("inference", {}).get("npe", {})}
        analyses = block.get("analyses")
        return cls(
            k=int(block["k"]),
            hidden=tuple(int(w) for w in block["hidden"]),
            epochs=int(block["epochs"]),
            holdout_fraction=float(block["holdout_fraction"]),
            analyses=None if analyses is None else tuple(str(a) for a in analyses),
        )


def analysis_labels(cfg: Mapping[str, Any]) -> list[str]:
    """Every analysis label of a configuration: networks, power spectrum, map statistics, combinations."""
    inference = cfg.get("inference", {})
    return [
        *cfg.get("training", {}).get("networks", []),
        "power_spectrum",
        *inference.get("map_statistics", []),
        *(c["name"] for c in inference.get("combinations", [])),
    ]


def posterior_estimator_config_problems(cfg: Mapping[str, Any]) -> list[str]:
    """What the schema cannot check in ``inference.npe``: its analyses must exist.

    Returns
    -------
    list of str
        One line per problem, naming the key, what was expected and what was found.
    """
    npe = cfg.get("inference", {}).get("npe", {})
    known = analysis_labels(cfg)
    return [
        f"inference.npe.analyses: expected analysis labels among {known}, found {label!r}"
        for label in npe.get("analyses", [])
        if label not in known
    ]


def holdout_mask(shape: Sequence[int], *, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """(n_c, n_a, S) True for the surveys held out: round(fraction S) of each (cosmology, A_IA).

    At least one survey of each grid value is held out when ``fraction`` > 0, and at least one
    is kept for training.
    """
    n_c, n_a, n_s = (int(n) for n in shape)
    n_hold = min(max(round(fraction * n_s), 1 if fraction > 0 else 0), n_s - 1)
    mask = np.zeros((n_c, n_a, n_s), dtype=bool)
    for c in range(n_c):
        for j in range(n_a):
            mask[c, j, rng.choice(n_s, size=n_hold, replace=False)] = True
    return mask


def _pairs(summaries: Summaries, select: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, d) summaries and (n, 3) θ of the surveys where ``select`` (n_c, n_a, S) is True."""
    n_c, n_a, n_s, _ = summaries.predictions.shape
    theta = np.empty((n_c, n_a, n_s, len(PARAMETER_NAMES)))
    theta[..., 0] = summaries.omega_m[:, None, None]
    theta[..., 1] = summaries.sigma8[:, None, None]
    theta[..., 2] = summaries.a_ia[None, :, None]
    return np.asarray(summaries.predictions, dtype=np.float64)[select], theta[select]


def _single(mixtures: MixtureParameters, index: int) -> MixtureParameters:
    return MixtureParameters(
        weights=mixtures.weights[index],
        means=mixtures.means[index],
        precision_cholesky=mixtures.precision_cholesky[index],
    )


class _Prior:
    """Flat prior of the likelihood: convex hull of the simulated (Ωm, σ8) × the A_IA range."""

    def __init__(self, summaries: Summaries, *, settings: InferenceSettings) -> None:
        self.hull_interpolator = GridInterpolator(
            nodes=summaries.nodes, a_ia=summaries.a_ia, scale=settings.prior_box
        )
        self.a_ia_range = settings.a_ia_range
        hull = self.hull_interpolator.hull
        self.hull = hull
        self.bounds = [
            (float(hull[:, 0].min()), float(hull[:, 0].max())),
            (float(hull[:, 1].min()), float(hull[:, 1].max())),
            self.a_ia_range,
        ]

    def contains(self, theta: np.ndarray) -> np.ndarray:
        theta = np.atleast_2d(theta)
        lo, hi = self.a_ia_range
        return self.hull_interpolator.in_hull(theta[:, :2]) & (theta[:, 2] >= lo) & (theta[:, 2] <= hi)


def _interval(values: np.ndarray) -> dict[str, float]:
    return {"mean": float(np.mean(values)), **marginal_interval(values, level=INTERVAL_LEVEL).to_dict()}


def _observed_posterior(
    mixture: MixtureParameters,
    *,
    prior: _Prior,
    label: str,
    grid_shape: Sequence[int],
    rng: np.random.Generator,
) -> tuple[GridPosterior, np.ndarray, float]:
    """The NPE posterior truncated to the prior: grid, (n, 3) draws inside it, mixture mass inside."""

    def log_posterior(points: np.ndarray) -> np.ndarray:
        inside = prior.contains(points)
        return np.where(inside, mixture.log_density(points), -np.inf)

    grid = replace(
        evaluate_grid(log_posterior, bounds=prior.bounds, shape=grid_shape, label=label),
        prior_hull=prior.hull,
    )
    draws = mixture.sample(POSTERIOR_SAMPLES, rng=rng)
    inside = prior.contains(draws)
    if inside.sum() < MIN_PRIOR_SAMPLES:
        raise ValueError(
            f"{label}: NPE posterior at the data vector: expected at least {MIN_PRIOR_SAMPLES} of "
            f"{POSTERIOR_SAMPLES} draws inside the prior, found {int(inside.sum())} (the data lie "
            "outside what the simulated surveys cover, or the estimator is undertrained)"
        )
    return grid, draws[inside], float(inside.mean())


def _likelihood_contours(chain_path: Path) -> tuple[np.ndarray, GridPosterior | None]:
    """The likelihood's samples and grid posterior (``grid.h5`` beside the chain, when present)."""
    chain = read_chain(chain_path)
    grid_path = chain_path.with_name(RESULT_FILES["grid"])
    return chain.flat(), (read_grid(grid_path) if grid_path.is_file() else None)


def run_posterior_estimator(
    summaries: Summaries,
    data: DataVector,
    *,
    settings: InferenceSettings,
    npe: NPESettings,
    out_dir: str | Path,
    label: str,
    likelihood_chain: str | Path | None = None,
    truth: Sequence[float] | None = None,
    inputs: Sequence[str | Path] = (),
    config_subset: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train, evaluate and calibrate the NPE of one analysis; write :data:`NPE_FILES` to ``out_dir``.

    Parameters
    ----------
    summaries
        The analysis' simulated surveys (training pairs and held-out trials).
    data
        The observed data vector (same outputs).
    settings
        Inference settings (prior box, A_IA range, grid shape, run seed, blinding).
    npe
        Estimator settings (``inference.npe``).
    out_dir
        Results directory of this analysis' NPE.
    label
        Analysis name (seeds derive from ``run.seed`` and it).
    likelihood_chain
        The analysis' ``chain.h5`` (its ``grid.h5`` beside it, when present): the likelihood
        contours drawn under the NPE's, and its S8 in the JSON. None: the NPE alone.
    truth
        (Ωm, σ8, A_IA) of a mock observation, marked unless blinded.
    inputs
        Input files, for the provenance record.
    config_subset
        Configuration that affects the result, for the provenance record.

    Returns
    -------
    dict
        The JSON written.

    Raises
    ------
    SummariesFileError
        The data vector's outputs differ from the summaries'.
    """
    from wlcnn.inference.plots import (  # lazy: matplotlib only when plotting
        plot_coverage,
        plot_omega_m_sigma8,
    )

    started = utc_now()
    model_file = summaries.source or f"<summaries {summaries.label!r}>"
    data_file = data.source or f"<data vector {data.label!r}>"
    if data.output_names != summaries.output_names:
        raise SummariesFileError(
            data_file,
            "attrs/output_names",
            f"the outputs of the summaries {model_file}: {list(summaries.output_names)}",
            f"{list(data.output_names)}",
        )
    prior = _Prior(summaries, settings=settings)
    held_out = holdout_mask(
        summaries.predictions.shape[:3],
        fraction=npe.holdout_fraction,
        rng=rng_for(settings.base_seed, "npe-holdout", label),
    )
    x_train, theta_train = _pairs(summaries, ~held_out)
    x_test, theta_test = _pairs(summaries, held_out)
    seed = int(rng_for(settings.base_seed, "npe-fit", label).integers(_SEED_LIMIT))
    fit_started = time.perf_counter()
    estimator: PosteriorEstimator = fit_posterior_estimator(
        x_train, theta_train, k=npe.k, hidden=npe.hidden, epochs=npe.epochs, seed=seed
    )
    fit_seconds = time.perf_counter() - fit_started

    # Calibration on the held-out surveys (untruncated mixtures: what the estimator states).
    test_mixtures = predict_mixture(estimator, x_test)
    posteriors = [_single(test_mixtures, i) for i in range(len(x_test))]
    statistics = mixture_trial_statistics(
        posteriors, theta_test, bounds=prior.bounds, rng=rng_for(settings.base_seed, "npe-coverage", label)
    )
    calibration = summarise_coverage(statistics)
    train_mixtures = predict_mixture(estimator, x_train)
    nll = {
        "train": -float(
            np.mean([_single(train_mixtures, i).log_density(t)[0] for i, t in enumerate(theta_train)])
        ),
        "held_out": -float(
            np.mean([m.log_density(t)[0] for m, t in zip(posteriors, theta_test, strict=True)])
        ),
    }

    observed = predict_mixture(estimator, np.asarray(data.data, dtype=np.float64))
    grid, draws, mass_in_prior = _observed_posterior(
        observed,
        prior=prior,
        label=label,
        grid_shape=settings.grid_shape,
        rng=rng_for(settings.base_seed, "npe-posterior", label),
    )
    draws_s8 = s8(draws[:, 0], draws[:, 1])
    shift = np.zeros(len(PARAMETER_NAMES) + 1)
    if settings.blind:
        shift = load_or_create_secret(settings.secret_path, scales=settings.blinding_scales).vector
    columns = {name: draws[:, i] + shift[i] for i, name in enumerate(PARAMETER_NAMES)}
    columns["s8"] = draws_s8 + shift[_S8_SHIFT_INDEX]
    grid = grid.shifted(shift, blinded=settings.blind)

    lik_samples, lik_grid = (None, None)
    likelihood_s8 = None
    if likelihood_chain is not None:
        lik_samples, lik_grid = _likelihood_contours(Path(likelihood_chain))
        likelihood_s8 = marginal_interval(read_chain(likelihood_chain).flat_s8()).to_dict()

    result: dict[str, Any] = {
        "schema": NPE_SCHEMA,
        "label": label,
        "blinded": settings.blind,
        "parameters": {name: _interval(columns[name]) for name in NPE_PARAMETERS},
        "interval_level": INTERVAL_LEVEL,
        "mixture_mass_in_prior": mass_in_prior,
        "likelihood_s8": likelihood_s8,
        "calibration": {**calibration, "note": NPE_COVERAGE_NOTE},
        "statement": calibration["statement"],
        "training": {
            "k": npe.k,
            "hidden": list(npe.hidden),
            "epochs": npe.epochs,
            "holdout_fraction": npe.holdout_fraction,
            "seed": seed,
            "n_train": len(x_train),
            "n_held_out": len(x_test),
            "mean_nll": nll,
            "seconds": fit_seconds,
        },
    }
    if truth is not None and not settings.blind:
        result["truth"] = dict(zip(PARAMETER_NAMES, map(float, truth), strict=True))
        result["truth"]["s8"] = float(s8(truth[0], truth[1]))
    result["provenance"] = provenance_record(
        step="inference.posterior_estimator",
        inputs=[file_record(p) for p in inputs],
        config=dict(config_subset or {}),
        started=started,
        extra={"label": label},
    )
    grid = replace(grid, provenance=result["provenance"])

    out = Path(out_dir)
    files = {key: out / name for key, name in NPE_FILES.items()}
    out.mkdir(parents=True, exist_ok=True)
    write_grid(files["grid"], grid)
    atomic_write_text(files["json"], json.dumps(result, indent=2) + "\n")
    npe_samples = np.column_stack([columns[name] for name in PARAMETER_NAMES])
    analyses: list[tuple[str, np.ndarray]] = [(f"{label}: NPE", npe_samples)]
    grids: list[GridPosterior | None] = [grid]
    if lik_samples is not None:
        analyses.insert(0, (f"{label}: likelihood", lik_samples))
        grids.insert(0, lik_grid)
    plot_omega_m_sigma8(
        files["contours"],
        analyses=analyses,
        grids=grids,
        hull=prior.hull,
        blinded=settings.blind,
        truth=None if (truth is None or settings.blind) else truth[:2],
    )
    plot_coverage(files["coverage_plot"], coverage=calibration, title=f"{label}: NPE")
    write_rendered_sidecars(
        [files["contours"], files["coverage_plot"]],
        sources=[files["json"], files["grid"]],
        step="inference.npe.render",
    )
    return result
