"""Inference-stage benchmark: predictions/s, likelihood evaluations/s, time to converged chains.

Usage::

    .venv/bin/python bench/bench_inference.py [--out bench/out/bench_inference.json] [--quick]

* predictions: :func:`wlcnn.inference.summaries.predict_surveys` with the power-spectrum
  statistic (the CNN's own speed belongs to the training benchmark) on (20, 128, 128, 12)
  surveys, i.e. the prediction loop plus the baseline's FFTs;
* likelihood: vectorised :class:`SummaryLikelihood` evaluations on a 57-node grid with 25 A_IA
  values for data vectors of 3 (one CNN), 18 (combination) and 70 (power spectrum) entries;
* interpolated covariance: the likelihood with Ŝ interpolated (p = 18, 70; a distinct Ŝ per
  grid value) evaluated today's way (numpy temporaries, batched Cholesky, LU solve; kept here
  as the reference) and by the fused kernel, against the memory-bandwidth floor of reading the
  6 interpolated (μ̂, Ŝ) per evaluation (bandwidth of a large ``np.add`` in the same run);
* chains: emcee (64 walkers) on the toy problem with grid-started walkers, run in blocks of
  500 steps until converged: n_steps − n_burn > 50 τ and n_burn >= 2 τ (τ: largest integrated
  autocorrelation time, n_burn = 20 % of the steps).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from wlcnn.grid import sigma8_line_grid
from wlcnn.inference.likelihood import SummaryLikelihood, sellentin_heavens_logpdf
from wlcnn.inference.power_spectrum import PowerSpectrumStatistic, ell_bin_edges
from wlcnn.inference.sampling import CONVERGENCE_FACTOR, evaluate_grid, initial_walkers_from_grid, run_emcee
from wlcnn.inference.summaries import predict_surveys
from wlcnn.inference.toy import default_toy

#: Points per block of the reference implementation (the likelihood's block size).
_REFERENCE_CHUNK = 4096
#: Grid values entering an interpolated point (3 triangle vertices × 2 A_IA ends).
_N_CORNERS = 6
#: Size of each array of the bandwidth measurement (far beyond the caches).
_BANDWIDTH_BYTES = 256 * 2**20


def _nodes() -> np.ndarray:
    pts = sigma8_line_grid(
        sigma8_lines=np.linspace(0.5, 1.0, 8),
        omega_m=np.linspace(0.1, 0.5, 8),
        prior={"omega_m": [0.1, 0.5], "sigma8": [0.4, 1.4]},
    )
    return np.array(pts)


def bench_predictions(n_surveys: int) -> dict:
    stat = PowerSpectrumStatistic(
        patch_size_deg=5.0, ell_edges=ell_bin_edges(ell_min=75, ell_max=3500, n_bins=7), n_bins=4
    )
    survey = np.random.default_rng(0).normal(size=(20, 128, 128, 12)).astype(np.float32)
    t0 = time.perf_counter()
    predict_surveys(predict=stat, make_survey=lambda _seed: survey, seeds=range(n_surveys), batch_size=64)
    dt = time.perf_counter() - t0
    return {
        "surveys": n_surveys,
        "seconds": dt,
        "patch_predictions_per_s": 20 * n_surveys / dt,
        "surveys_per_s": n_surveys / dt,
    }


def bench_likelihood(p: int, n_points: int, *, fixed: bool = False) -> dict:
    rng = np.random.default_rng(p)
    nodes = _nodes()
    a_ia = np.linspace(-6, 6, 25)
    mean = rng.normal(size=(len(nodes), len(a_ia), p))
    a = rng.normal(size=(p, p))
    cov = np.broadcast_to(a @ a.T + p * np.eye(p), (len(nodes), len(a_ia), p, p))
    like = SummaryLikelihood(
        nodes=nodes,
        a_ia=a_ia,
        mean=mean,
        covariance=None if fixed else cov,
        fixed_covariance=cov[0, 0] if fixed else None,
        fixed_n_cov=200 if fixed else None,
        n_mean=200,
        n_cov=200,
        data=rng.normal(size=p),
        scale=((0.1, 0.5), (0.4, 1.4)),
    )
    pts = np.column_stack(
        [rng.uniform(0.2, 0.4, n_points), rng.uniform(0.6, 1.0, n_points), rng.uniform(-6, 6, n_points)]
    )
    like(pts[:100])
    t0 = time.perf_counter()
    like(pts)
    dt = time.perf_counter() - t0
    return {
        "p": p,
        "covariance": "fixed" if fixed else "interpolated",
        "points": n_points,
        "seconds": dt,
        "evaluations_per_s": n_points / dt,
        "inside_fraction": float(np.mean(like.in_prior(pts))),
    }


def _todays_log_likelihood(like: SummaryLikelihood, theta: np.ndarray) -> np.ndarray:
    """The interpolated-covariance likelihood as it was before the fused kernel (the reference).

    (n, p, p) interpolation through numpy temporaries, a batched Cholesky and a generic
    (LU) solve on the triangular factor, in the same 4096-point blocks.
    """
    out = np.full(len(theta), -np.inf)
    for start in range(0, len(theta), _REFERENCE_CHUNK):
        block = theta[start : start + _REFERENCE_CHUNK]
        inside = like.in_prior(block)
        mean, cov, n_mean, n_cov = like.model(block[inside])
        out[start : start + len(block)][inside] = sellentin_heavens_logpdf(
            like.data, mean=mean, covariance=cov, n_cov=n_cov, n_mean=n_mean
        )
    return out


def _memory_bandwidth(n_bytes: int, *, repeats: int) -> float:
    """Bytes/s of ``np.add(a, b, out=c)`` on arrays of ``n_bytes`` (2 reads + 1 write), best CPU time."""
    n = n_bytes // 8
    a, b, c = np.ones(n), np.ones(n), np.empty(n)
    np.add(a, b, out=c)
    best = np.inf
    for _ in range(repeats):
        t0 = time.process_time()
        np.add(a, b, out=c)
        best = min(best, time.process_time() - t0)
    return 3 * n * 8 / best


def bench_interpolated_covariance(p: int, n_points: int, *, repeats: int = 3) -> dict:
    """Interpolated-covariance likelihood: today's numpy way vs the fused kernel vs the bandwidth floor.

    Every (node, A_IA) grid value has its own covariance (57 × 25 × p² doubles: 56 MB at
    p = 70, far beyond the caches), so the interpolation reads them from memory as in an
    analysis. The floor is the time to read the 6 interpolated (μ̂, Ŝ) per evaluation,
    6 (p² + p) doubles, at the bandwidth of a large ``np.add`` measured in the same run.
    Times are the best of ``repeats`` in CPU time of this process (``time.process_time``): on a
    shared machine wall-clock time counts the other users' processes too. The two results must
    agree to 1e-10 relative.
    """
    rng = np.random.default_rng(p)
    nodes = _nodes()
    a_ia = np.linspace(-6, 6, 25)
    mean = rng.normal(size=(len(nodes), len(a_ia), p))
    factors = rng.normal(size=(len(nodes), len(a_ia), p, p)) / np.sqrt(p)
    cov = np.einsum("caij,cakj->caik", factors, factors) + np.eye(p)
    like = SummaryLikelihood(
        nodes=nodes,
        a_ia=a_ia,
        mean=mean,
        covariance=cov,
        n_mean=200,
        n_cov=200,
        data=rng.normal(size=p),
        scale=((0.1, 0.5), (0.4, 1.4)),
    )
    pts = np.column_stack(
        [rng.uniform(0.2, 0.4, n_points), rng.uniform(0.6, 1.0, n_points), rng.uniform(-6, 6, n_points)]
    )
    like(pts[:100])  # compile / warm up
    n_inside = int(np.sum(like.in_prior(pts)))
    times: dict[str, float] = {}
    results: dict[str, np.ndarray] = {}
    for name, function in (("today", lambda x: _todays_log_likelihood(like, x)), ("fused", like)):
        best = np.inf
        for _ in range(repeats):
            t0 = time.process_time()
            results[name] = function(pts)
            best = min(best, time.process_time() - t0)
        times[name] = best
    finite = np.isfinite(results["today"])
    max_rel = float(np.max(np.abs(results["fused"][finite] / results["today"][finite] - 1.0)))
    bandwidth = _memory_bandwidth(_BANDWIDTH_BYTES, repeats=repeats)
    bytes_per_eval = _N_CORNERS * (p * p + p) * 8
    floor_s = bytes_per_eval / bandwidth
    per_eval = {name: t / n_inside for name, t in times.items()}
    return {
        "p": p,
        "points_inside_prior": n_inside,
        "evaluations_per_s": {
            "today": 1 / per_eval["today"],
            "fused": 1 / per_eval["fused"],
            "bandwidth_floor": 1 / floor_s,
        },
        "memory_bandwidth_GB_per_s": bandwidth / 1e9,
        "bytes_read_per_evaluation_floor": bytes_per_eval,
        "fused_over_floor": per_eval["fused"] / floor_s,
        "today_over_floor": per_eval["today"] / floor_s,
        "speed_up": per_eval["today"] / per_eval["fused"],
        "max_relative_difference": max_rel,
    }


def bench_chain(max_steps: int) -> dict:
    toy = default_toy()
    nodes = _nodes()
    a_ia = np.linspace(-6, 6, 25)
    theta = np.stack(np.broadcast_arrays(nodes[:, None, 0], nodes[:, None, 1], a_ia[None, :]), axis=-1)
    mean = toy.model(theta.reshape(-1, 3)).reshape(len(nodes), len(a_ia), -1)
    cov = np.broadcast_to(toy.noise_covariance, (*mean.shape[:2], 4, 4))
    data = toy.surveys(np.array([0.3, 0.8, 0.0]), n=1, rng=np.random.default_rng(1))[0]
    like = SummaryLikelihood(
        nodes=nodes,
        a_ia=a_ia,
        mean=mean,
        covariance=cov,
        n_mean=200,
        n_cov=200,
        data=data,
        scale=((0.1, 0.5), (0.4, 1.4)),
    )
    t0 = time.perf_counter()
    hull = like.hull
    grid = evaluate_grid(
        like,
        bounds=[(hull[:, 0].min(), hull[:, 0].max()), (hull[:, 1].min(), hull[:, 1].max()), (-6, 6)],
        shape=(64, 64, 25),
    )
    t_grid = time.perf_counter() - t0
    init = initial_walkers_from_grid(grid, in_prior=like.in_prior, n_walkers=64, rng=np.random.default_rng(2))
    n_steps = 500
    while True:
        t1 = time.perf_counter()
        chain = run_emcee(
            like, initial=init, n_steps=n_steps, n_burn=n_steps // 5, thin=1, base_seed=1, identity=("bench",)
        )
        t_chain = time.perf_counter() - t1
        if chain.converged or n_steps >= max_steps:
            break
        n_steps += 500
    return {
        "grid_points": 2 * 64 * 64 * 25,
        "grid_seconds": t_grid,
        "n_walkers": 64,
        "n_steps": n_steps,
        "converged": chain.converged,
        "tau_max": max(chain.autocorr_time.values()),
        "chain_seconds": t_chain,
        "criterion": f"n_steps - n_burn > {CONVERGENCE_FACTOR} tau, n_burn >= 2 tau",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="bench/out/bench_inference.json")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke test)")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    result = {
        "machine": platform.platform(),
        "predictions": bench_predictions(int(50 * scale) or 1),
        "likelihood": [
            *(bench_likelihood(p, int(100_000 * scale)) for p in (3, 18, 70)),
            bench_likelihood(70, int(100_000 * scale), fixed=True),
        ],
        "interpolated_covariance": [bench_interpolated_covariance(p, int(20_000 * scale)) for p in (18, 70)],
        "chain": bench_chain(max_steps=8000),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
