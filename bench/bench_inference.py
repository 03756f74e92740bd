"""Inference-stage benchmark: predictions/s, likelihood evaluations/s, time to converged chains.

Usage::

    .venv/bin/python bench/bench_inference.py [--out bench/out/bench_inference.json] [--quick]

* predictions: :func:`wlcnn.inference.summaries.predict_surveys` with the power-spectrum
  statistic (the CNN's own speed belongs to the training benchmark) on (20, 128, 128, 12)
  surveys, i.e. the prediction loop plus the baseline's FFTs;
* likelihood: vectorised :class:`SummaryLikelihood` evaluations on a 57-node grid with 25 A_IA
  values for data vectors of 3 (one CNN), 18 (combination) and 70 (power spectrum) entries;
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
from wlcnn.inference.likelihood import SummaryLikelihood
from wlcnn.inference.power_spectrum import PowerSpectrumStatistic, ell_bin_edges
from wlcnn.inference.sampling import CONVERGENCE_FACTOR, evaluate_grid, initial_walkers_from_grid, run_emcee
from wlcnn.inference.summaries import predict_surveys
from wlcnn.inference.toy import default_toy


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
    predict_surveys(predict=stat, make_survey=lambda seed: survey, seeds=range(n_surveys), batch_size=64)
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
        "chain": bench_chain(max_steps=8000),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
