"""Expected coverage of the inference: simulated surveys of known truth analysed as observations.

Each trial takes one simulated test survey at an interior grid cosmology and one of several
A_IA values of the summaries, leaves it out of the mean and covariance of its own grid value
(rank-one downdates, :func:`leave_one_out`), builds the same likelihood as the real analysis
(:class:`.likelihood.SummaryLikelihood`, Sellentin-Heavens form, Delaunay × A_IA interpolation)
and evaluates the posterior on the same zoomed dense grid (:func:`.sampling.evaluate_grid`).
From the grid posterior it records, per trial:

* for S8, Ωm, σ8 and A_IA the posterior CDF at the truth, F; the truth lies in the central
  (equal-tailed) interval of credibility α iff |2F − 1| <= α. F is also the SBC rank
  (Talts et al. 2018) normalised to [0, 1]: flat histograms for a calibrated posterior;
* for the joint (Ωm, σ8, A_IA) the mass of the highest-density region whose boundary passes
  through the truth (the truth lies in the α HDR iff that mass is <= α);
* TARP (Lemos et al. 2023): the posterior mass closer to a random reference point (uniform in
  the prior) than the truth, in prior-width units; its CDF over trials is the expected coverage.

:func:`expected_coverage` turns them into empirical against nominal coverage with binomial errors,
rank histograms with a χ² test of flatness, and a one-line statement;
:func:`run_coverage` writes them (JSON, a coverage plot, rank histograms) with provenance.

What this tests: the likelihood form (Student-t for estimated mean and covariance), the
interpolation of mean and covariance between grid points (the truths are at grid nodes, but the
posterior mass lies between them), the noise of the estimated covariance and mean (the survey
is left out of both), and the grid evaluation and interval definitions. What it does not test:
the network's training-set noise or any bias of the network (the test surveys are predicted by
the same network as the summaries, so a biased network is "calibrated" here), the survey model
itself (shape noise, masks, n(z), baryons: simulated and real surveys share it), the prior
(truths sit at grid nodes, not drawn from the prior, so this is frequentist coverage at those
cosmologies; near the hull a truncated posterior can over- or under-cover) and the MCMC sampler
(only the grid posterior is used).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats
from scipy.spatial import ConvexHull

from wlcnn.atomic import atomic_write_text
from wlcnn.inference.constraints import s8
from wlcnn.inference.likelihood import SummaryLikelihood
from wlcnn.inference.sampling import GridPosterior, evaluate_grid
from wlcnn.inference.summaries import Summaries
from wlcnn.provenance import file_record, provenance_record, utc_now, write_rendered_sidecars
from wlcnn.seeding import rng_for

if TYPE_CHECKING:
    from wlcnn.inference.analysis import InferenceSettings

__all__ = [
    "COVERAGE_FILES",
    "COVERAGE_PARAMETERS",
    "COVERAGE_SCHEMA",
    "DEFAULT_GRID_SHAPE",
    "DEFAULT_LEVELS",
    "Trial",
    "TrialStatistics",
    "coverage_trials",
    "expected_coverage",
    "interior_nodes",
    "leave_one_out",
    "run_coverage",
    "run_trials",
    "summarise_coverage",
]

COVERAGE_SCHEMA = "wlcnn.coverage/1"
#: File names of one analysis' coverage results.
COVERAGE_FILES = {
    "json": "coverage.json",
    "coverage_plot": "coverage.png",
    "ranks_plot": "rank_histograms.png",
}
#: 1-D parameters whose intervals are tested (S8 first: the headline number).
COVERAGE_PARAMETERS = ("s8", "omega_m", "sigma8", "a_ia")
#: Nominal credibilities: a 0.05 ladder plus the contour levels.
DEFAULT_LEVELS = tuple(sorted({*(round(0.05 * k, 2) for k in range(1, 20)), 0.68, 0.95}))
#: Grid of each inference (Ωm, σ8, A_IA), zoomed like the analysis' grid: coarser than the
#: analysis' 64 × 64 × 25 so that hundreds of inferences take minutes. Much coarser is biased:
#: at 16 points per axis the cell-wise CDFs over-cover S8 by ~9 % on the toy (tests).
DEFAULT_GRID_SHAPE = (32, 32, 32)
#: Simulated surveys analysed per (interior cosmology, A_IA).
DEFAULT_SURVEYS_PER_NODE = 4
#: A_IA values of the summaries used as truths (interior ones, evenly spread).
DEFAULT_N_A_IA_TRUTHS = 3
#: Bins of the rank histograms.
DEFAULT_RANK_BINS = 10
#: Level of the headline statement ("68 % intervals cover the truth in ...").
HEADLINE_LEVEL = 0.68
#: Distance (unit-square units) within which a node counts as on the hull's boundary.
_BOUNDARY_TOLERANCE = 1e-9


def leave_one_out(predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of S surveys with each survey left out in turn.

    Rank-one downdates of the full-sample statistics: with μ, W = Σ_s (x_s − μ)(x_s − μ)ᵀ,
    leaving out x gives μ' = (S μ − x)/(S − 1) and W' = W − S/(S − 1) (x − μ)(x − μ)ᵀ, so
    Ŝ' = W'/(S − 2); O(S p²) instead of O(S² p²).

    Parameters
    ----------
    predictions
        (S, p) survey predictions of one grid value, S >= 3.

    Returns
    -------
    tuple of numpy.ndarray
        (S, p) means and (S, p, p) covariances, row s without survey s.
    """
    x = np.asarray(predictions, dtype=np.float64)
    n = len(x)
    if n < 3:
        raise ValueError(f"leave-one-out covariances need at least 3 surveys, found {n}")
    mean = x.mean(axis=0)
    dev = x - mean
    scatter = dev.T @ dev
    means = (n * mean - x) / (n - 1)
    covariances = (scatter - (n / (n - 1)) * np.einsum("si,sj->sij", dev, dev)) / (n - 2)
    return means, covariances


def interior_nodes(nodes: np.ndarray) -> np.ndarray:
    """Indices of (n, 2) nodes strictly inside their convex hull (not on its boundary)."""
    nodes = np.asarray(nodes, dtype=np.float64)
    lo, span = nodes.min(axis=0), np.ptp(nodes, axis=0)
    unit = (nodes - lo) / span
    hull = ConvexHull(unit)
    # Facet equations n·x + c <= 0 inside; a node on any facet (within tolerance) is boundary.
    distance = unit @ hull.equations[:, :2].T + hull.equations[:, 2]
    return np.flatnonzero(np.all(distance < -_BOUNDARY_TOLERANCE, axis=1))


@dataclass(frozen=True)
class Trial:
    """One simulated survey analysed as an observation.

    Attributes
    ----------
    cosmology
        Row of its cosmology in the summaries.
    a_ia_index
        Index of its A_IA in the summaries.
    survey
        Index of the survey among the S of that grid value.
    """

    cosmology: int
    a_ia_index: int
    survey: int


def coverage_trials(
    summaries: Summaries,
    *,
    surveys_per_node: int = DEFAULT_SURVEYS_PER_NODE,
    n_a_ia_truths: int = DEFAULT_N_A_IA_TRUTHS,
    rng: np.random.Generator,
) -> list[Trial]:
    """Trials at every interior cosmology × ``n_a_ia_truths`` interior A_IA values × surveys.

    The surveys of each grid value are drawn without replacement by ``rng``.
    """
    n_a, n_s = len(summaries.a_ia), summaries.predictions.shape[2]
    interior_a = np.arange(1, n_a - 1) if n_a > 2 else np.arange(n_a)
    picks = np.unique(np.round(np.linspace(0, len(interior_a) - 1, n_a_ia_truths)).astype(int))
    a_indices = interior_a[picks]
    if surveys_per_node > n_s:
        raise ValueError(f"surveys_per_node = {surveys_per_node} exceeds the {n_s} surveys per grid value")
    return [
        Trial(cosmology=int(c), a_ia_index=int(j), survey=int(s))
        for c in interior_nodes(summaries.nodes)
        for j in a_indices
        for s in rng.choice(n_s, size=surveys_per_node, replace=False)
    ]


@dataclass(frozen=True)
class TrialStatistics:
    """Per-trial calibration statistics (module doc), arrays of shape (n_trials,).

    Attributes
    ----------
    cdf
        Posterior CDF at the truth per parameter of :data:`COVERAGE_PARAMETERS`.
    joint_hdr_mass
        Mass of the joint HDR whose boundary passes through the truth.
    tarp_mass
        TARP: posterior mass closer to the reference point than the truth.
    truths
        (n_trials, 3) true (Ωm, σ8, A_IA).
    seconds
        Wall-clock time of all inferences.
    """

    cdf: Mapping[str, np.ndarray]
    joint_hdr_mass: np.ndarray
    tarp_mass: np.ndarray
    truths: np.ndarray
    seconds: float


def _cdf_on_axis(mass: np.ndarray, axis: np.ndarray, value: float) -> float:
    """CDF at ``value`` of point masses spread uniformly over their grid cells."""
    step = axis[1] - axis[0] if len(axis) > 1 else 1.0
    edges = np.concatenate([axis - step / 2, [axis[-1] + step / 2]])
    return float(np.interp(value, edges, np.concatenate([[0.0], np.cumsum(mass)])))


def _s8_cdf(mass_2d: np.ndarray, axes: Sequence[np.ndarray], value: float) -> float:
    """CDF of S8 at ``value``: each cell's mass spread as a linear ramp over its S8 extent."""
    om, sig = np.meshgrid(axes[0], axes[1], indexing="ij")
    steps = [a[1] - a[0] if len(a) > 1 else 0.0 for a in axes[:2]]
    values = s8(om, sig)
    # dS8/dΩm = S8/(2 Ωm), dS8/dσ8 = S8/σ8: the S8 range a cell spans.
    spread = np.abs(values / (2 * om)) * steps[0] + np.abs(values / sig) * steps[1]
    ramp = np.clip((value - values) / np.where(spread > 0, spread, 1.0) + 0.5, 0.0, 1.0)
    return float(np.sum(mass_2d * ramp))


def _trial_statistics(
    grid: GridPosterior,
    *,
    truth: np.ndarray,
    log_posterior_truth: float,
    reference: np.ndarray,
    distance_scale: np.ndarray,
) -> tuple[dict[str, float], float, float]:
    weights = grid.weights()
    cdf = {"s8": _s8_cdf(weights.sum(axis=2), grid.axes, float(s8(truth[0], truth[1])))}
    for dim, name in enumerate(("omega_m", "sigma8", "a_ia")):
        other = tuple(d for d in range(3) if d != dim)
        cdf[name] = _cdf_on_axis(weights.sum(axis=other), grid.axes[dim], float(truth[dim]))
    lp = grid.log_posterior
    hdr = float(np.sum(weights[np.isfinite(lp) & (lp > log_posterior_truth)]))
    points = grid.points()
    d_points = np.linalg.norm((points - reference) / distance_scale, axis=1)
    d_truth = float(np.linalg.norm((truth - reference) / distance_scale))
    tarp = float(np.sum(weights.ravel()[d_points < d_truth]))
    return cdf, hdr, tarp


def run_trials(
    summaries: Summaries,
    *,
    trials: Sequence[Trial],
    prior_box: Sequence[Sequence[float]],
    a_ia_range: Sequence[float],
    grid_shape: Sequence[int] = DEFAULT_GRID_SHAPE,
    covariance_scale: float = 1.0,
    rng: np.random.Generator,
) -> TrialStatistics:
    """Analyse each trial's survey with it left out of its grid value's mean and covariance.

    Parameters
    ----------
    summaries
        Summaries of one analysis (their surveys are the observations).
    trials
        What to analyse (:func:`coverage_trials`).
    prior_box
        ((Ωm low, high), (σ8 low, high)): triangulation box, as in the analysis.
    a_ia_range
        Prior range of A_IA.
    grid_shape
        Points per axis of each grid posterior.
    covariance_scale
        Multiplies every covariance of the model: 1 is the analysis; < 1 a deliberately too
        narrow likelihood (to show that the test detects it).
    rng
        Draws the TARP reference points.
    """
    predictions = np.asarray(summaries.predictions, dtype=np.float64)
    n_s = predictions.shape[2]
    likelihood = SummaryLikelihood(
        nodes=summaries.nodes,
        a_ia=summaries.a_ia,
        mean=summaries.mean,
        covariance=summaries.covariance * covariance_scale,
        n_mean=summaries.n_surveys,
        n_cov=summaries.n_surveys,
        data=predictions[0, 0, 0],
        a_ia_range=a_ia_range,
        scale=prior_box,
    )
    hull = likelihood.hull
    bounds = [
        (hull[:, 0].min(), hull[:, 0].max()),
        (hull[:, 1].min(), hull[:, 1].max()),
        likelihood.a_ia_range,
    ]
    distance_scale = np.array([hi - lo for lo, hi in bounds])
    loo_cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    cdfs: dict[str, list[float]] = {name: [] for name in COVERAGE_PARAMETERS}
    hdr, tarp, truths = [], [], []
    started = time.perf_counter()
    # leave-one-out replaces the per-node covariances, which a fixed-covariance likelihood has not
    assert likelihood.covariance is not None
    assert likelihood.n_cov is not None
    for trial in trials:
        c, j, s = trial.cosmology, trial.a_ia_index, trial.survey
        key = (c, j)
        if key not in loo_cache:
            loo_cache.clear()  # trials come grouped by grid value: keep one set of downdates
            loo_cache[key] = leave_one_out(predictions[c, j])
        loo_mean, loo_cov = loo_cache[key]
        saved = (likelihood.mean[c, j].copy(), likelihood.covariance[c, j].copy())
        likelihood.mean[c, j] = loo_mean[s]
        likelihood.covariance[c, j] = loo_cov[s] * covariance_scale
        likelihood.n_mean[c, j] = likelihood.n_cov[c, j] = n_s - 1
        try:
            data = predictions[c, j, s]
            truth = np.array([summaries.omega_m[c], summaries.sigma8[c], summaries.a_ia[j]], dtype=np.float64)

            def log_posterior(theta: np.ndarray, data: np.ndarray = data) -> np.ndarray:
                return likelihood.log_likelihood(theta, data=data)

            grid = evaluate_grid(log_posterior, bounds=bounds, shape=grid_shape)
            reference = _uniform_in_prior(likelihood, bounds=bounds, rng=rng)
            cdf, hdr_mass, tarp_mass = _trial_statistics(
                grid,
                truth=truth,
                log_posterior_truth=float(log_posterior(truth[None])[0]),
                reference=reference,
                distance_scale=distance_scale,
            )
        finally:
            likelihood.mean[c, j], likelihood.covariance[c, j] = saved
            likelihood.n_mean[c, j] = likelihood.n_cov[c, j] = n_s
        for name in COVERAGE_PARAMETERS:
            cdfs[name].append(cdf[name])
        hdr.append(hdr_mass)
        tarp.append(tarp_mass)
        truths.append(truth)
    return TrialStatistics(
        cdf={name: np.array(v) for name, v in cdfs.items()},
        joint_hdr_mass=np.array(hdr),
        tarp_mass=np.array(tarp),
        truths=np.array(truths).reshape(-1, 3),
        seconds=time.perf_counter() - started,
    )


def _uniform_in_prior(
    likelihood: SummaryLikelihood, *, bounds: Sequence[Sequence[float]], rng: np.random.Generator
) -> np.ndarray:
    """One point uniform in the prior (rejection from the box)."""
    lo, hi = np.asarray(bounds, dtype=np.float64).T
    while True:
        point = rng.uniform(lo, hi)
        if likelihood.in_prior(point[None])[0]:
            return point


def _coverage_curve(credibility: np.ndarray, levels: Sequence[float]) -> dict[str, Any]:
    """Empirical coverage at ``levels`` of trials with the given credibility of the truth."""
    n = len(credibility)
    levels_arr = np.asarray(levels, dtype=np.float64)
    empirical = (
        np.array([np.mean(credibility <= a) for a in levels_arr]) if n else np.full(len(levels), np.nan)
    )
    return {
        "nominal": levels_arr.tolist(),
        "empirical": empirical.tolist(),
        # Binomial error of the measured fraction, and the scatter a calibrated posterior shows.
        "error": np.sqrt(empirical * (1 - empirical) / max(n, 1)).tolist(),
        "expected_error": np.sqrt(levels_arr * (1 - levels_arr) / max(n, 1)).tolist(),
    }


def _rank_histogram(cdf: np.ndarray, n_bins: int) -> dict[str, Any]:
    counts, edges = np.histogram(np.clip(cdf, 0.0, 1.0), bins=n_bins, range=(0.0, 1.0))
    test = stats.chisquare(counts) if counts.sum() else None
    return {
        "edges": edges.tolist(),
        "counts": counts.tolist(),
        "chi2": None if test is None else float(test.statistic),
        "p_value": None if test is None else float(test.pvalue),
    }


def summarise_coverage(
    statistics: TrialStatistics,
    *,
    levels: Sequence[float] = DEFAULT_LEVELS,
    n_rank_bins: int = DEFAULT_RANK_BINS,
) -> dict[str, Any]:
    """JSON-able coverage result of :func:`run_trials` (empirical vs nominal, ranks, TARP, statement)."""
    n = len(statistics.joint_hdr_mass)
    parameters: dict[str, Any] = {}
    for name in COVERAGE_PARAMETERS:
        cdf = statistics.cdf[name]
        entry = _coverage_curve(np.abs(2 * cdf - 1), levels)
        entry["interval"] = "equal-tailed"
        entry["ranks"] = _rank_histogram(cdf, n_rank_bins)
        parameters[name] = entry
    joint = _coverage_curve(statistics.joint_hdr_mass, levels)
    joint["interval"] = "highest-density region (omega_m, sigma8, a_ia)"
    tarp = _coverage_curve(statistics.tarp_mass, levels)
    tarp["interval"] = "TARP expected coverage (Lemos et al. 2023), joint"
    headline = _coverage_curve(np.abs(2 * statistics.cdf["s8"] - 1), [HEADLINE_LEVEL])
    fraction, error = headline["empirical"][0], headline["error"][0]
    return {
        "schema": COVERAGE_SCHEMA,
        "n_trials": n,
        "parameters": parameters,
        "joint": joint,
        "tarp": tarp,
        "statement": (
            f"{round(100 * HEADLINE_LEVEL)} % intervals cover the truth in {100 * fraction:.1f} "
            f"+- {100 * error:.1f} % of {n} trials"
        ),
        "timing": {
            "seconds": statistics.seconds,
            "inferences_per_s": n / statistics.seconds if statistics.seconds > 0 else None,
        },
    }


def expected_coverage(
    summaries: Summaries,
    *,
    prior_box: Sequence[Sequence[float]],
    a_ia_range: Sequence[float],
    base_seed: int,
    grid_shape: Sequence[int] = DEFAULT_GRID_SHAPE,
    surveys_per_node: int = DEFAULT_SURVEYS_PER_NODE,
    n_a_ia_truths: int = DEFAULT_N_A_IA_TRUTHS,
    covariance_scale: float = 1.0,
    levels: Sequence[float] = DEFAULT_LEVELS,
    n_rank_bins: int = DEFAULT_RANK_BINS,
) -> dict[str, Any]:
    """Choose the trials, run them and summarise (see :func:`run_trials`, :func:`summarise_coverage`).

    Trials and TARP reference points come from ``rng_for(base_seed, "coverage", label)``, so a
    rerun gives the same numbers.
    """
    trials = coverage_trials(
        summaries,
        surveys_per_node=surveys_per_node,
        n_a_ia_truths=n_a_ia_truths,
        rng=rng_for(base_seed, "coverage-trials", summaries.label),
    )
    statistics = run_trials(
        summaries,
        trials=trials,
        prior_box=prior_box,
        a_ia_range=a_ia_range,
        grid_shape=grid_shape,
        covariance_scale=covariance_scale,
        rng=rng_for(base_seed, "coverage-tarp", summaries.label),
    )
    result = summarise_coverage(statistics, levels=levels, n_rank_bins=n_rank_bins)
    result["settings"] = {
        "grid_shape": list(grid_shape),
        "surveys_per_node": surveys_per_node,
        "n_a_ia_truths": n_a_ia_truths,
        "covariance_scale": covariance_scale,
        "interior_cosmologies": sorted({summaries.cosmology_ids[t.cosmology] for t in trials}),
        "a_ia_truths": sorted({float(summaries.a_ia[t.a_ia_index]) for t in trials}),
    }
    return result


def run_coverage(
    summaries: Summaries,
    *,
    settings: InferenceSettings,
    out_dir: str | Path,
    label: str | None = None,
    grid_shape: Sequence[int] = DEFAULT_GRID_SHAPE,
    surveys_per_node: int = DEFAULT_SURVEYS_PER_NODE,
    n_a_ia_truths: int = DEFAULT_N_A_IA_TRUTHS,
    inputs: Sequence[str | Path] = (),
    config_subset: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Coverage of one analysis written to ``out_dir`` (:data:`COVERAGE_FILES`); returns the result.

    Parameters
    ----------
    summaries
        The analysis' summaries (a network, a combination or the power spectrum).
    settings
        :class:`.analysis.InferenceSettings` (prior box, A_IA range, run seed).
    out_dir
        Results directory.
    label
        Analysis name (default the summaries' label).
    grid_shape, surveys_per_node, n_a_ia_truths
        See :func:`expected_coverage`.
    inputs
        Input files, for the provenance record.
    config_subset
        Configuration that affects the result, for the provenance record.
    """
    from wlcnn.inference.plots import (  # lazy: matplotlib only when plotting
        plot_coverage,
        plot_rank_histograms,
    )

    started = utc_now()
    label = label or summaries.label
    result = expected_coverage(
        summaries,
        prior_box=settings.prior_box,
        a_ia_range=settings.a_ia_range,
        base_seed=settings.base_seed,
        grid_shape=grid_shape,
        surveys_per_node=surveys_per_node,
        n_a_ia_truths=n_a_ia_truths,
    )
    result["label"] = label
    result["provenance"] = provenance_record(
        step="inference.coverage",
        inputs=[file_record(p) for p in inputs],
        config=dict(config_subset or {}),
        started=started,
        extra={"label": label},
    )
    out = Path(out_dir)
    files = {key: out / name for key, name in COVERAGE_FILES.items()}
    atomic_write_text(files["json"], json.dumps(result, indent=2) + "\n")
    plot_coverage(files["coverage_plot"], coverage=result, title=label)
    plot_rank_histograms(files["ranks_plot"], coverage=result, title=label)
    write_rendered_sidecars(
        [files["coverage_plot"], files["ranks_plot"]],
        sources=[files["json"]],
        step="inference.coverage.render",
    )
    return result
