"""Posterior sampling: seeded emcee chains saved with their settings, and a dense-grid check.

:func:`run_emcee` runs the affine-invariant ensemble sampler (Foreman-Mackey et al. 2013) on a
vectorised log posterior. Its random state, and the walkers' starting points, come from
:func:`wlcnn.seeding.rng_for` of the run seed and the analysis identity, so a rerun reproduces
the chain exactly. Convergence criterion (recorded with the chain): the post-burn-in chain is
longer than :data:`CONVERGENCE_FACTOR` times the largest integrated autocorrelation time τ of
the parameters (emcee's recommendation), and the burn-in is at least 2 τ.

:func:`evaluate_grid` evaluates the same posterior on a dense (Ωm, σ8, A_IA) grid, zoomed onto
the region holding the posterior mass; it is a sampler-free cross-check
(:func:`compare_with_grid`) and gives 2-D densities without kernel smoothing (contour areas).

HDF5 layouts
------------
Chain (:func:`write_chain`): ``samples`` (n_steps, n_walkers, 3) f8, ``log_prob`` (n_steps,
n_walkers) f8, ``acceptance_fraction`` (n_walkers,) f8; attributes ``schema``, ``label``,
``parameter_names``, ``settings`` (JSON: n_walkers, n_steps, n_burn, thin, base_seed, identity,
emcee version, move), ``autocorr_time`` (JSON, per parameter, steps), ``converged``, ``blinded``,
``provenance`` (JSON).

Grid (:func:`write_grid`): ``omega_m``, ``sigma8``, ``a_ia`` (axes, f8) and ``log_posterior``
(n1, n2, n3) f8 (−inf outside the prior), ``prior_hull`` (k, 2) f8 (true coordinates);
attributes ``schema``, ``label``, ``blinded``,
``provenance``.

Blinded files hold parameter values shifted by the blinding secret (:mod:`.blinding`); the log
posterior values are unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from wlcnn.atomic import atomic_path
from wlcnn.inference.likelihood import PARAMETER_NAMES
from wlcnn.seeding import rng_for, seed_sequence_for

__all__ = [
    "CHAIN_SCHEMA",
    "CONVERGENCE_FACTOR",
    "GRID_SCHEMA",
    "Chain",
    "GridPosterior",
    "compare_with_grid",
    "evaluate_grid",
    "initial_walkers_from_grid",
    "initial_walkers_from_prior",
    "read_chain",
    "read_grid",
    "run_emcee",
    "walker_rng",
    "write_chain",
    "write_grid",
]

CHAIN_SCHEMA = "wlcnn.chain/1"
GRID_SCHEMA = "wlcnn.grid_posterior/1"
#: Converged when the post-burn-in length exceeds this many autocorrelation times (emcee docs).
CONVERGENCE_FACTOR = 50
#: Burn-in must cover at least this many autocorrelation times.
BURN_IN_FACTOR = 2
#: Zoomed grid: keep the region where ln P > max − this (ln 1e-9: far beyond the 99.99 % level).
ZOOM_LOG_RATIO = 20.7
#: Rejection sampling draws at most this many batches when placing walkers in the prior.
_MAX_REJECTION_ROUNDS = 1000
#: Points per log-posterior call in the grid evaluation (memory bound for long data vectors).
_GRID_BATCH = 16384

LogPosterior = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Chain:
    """An ensemble chain and how it was made.

    Attributes
    ----------
    samples
        (n_steps, n_walkers, 3) θ = (Ωm, σ8, A_IA) per step and walker, burn-in included.
    log_prob
        (n_steps, n_walkers) log posterior of each sample.
    acceptance_fraction
        (n_walkers,).
    settings
        n_walkers, n_steps, n_burn, thin, base_seed, identity, sampler version, move.
    autocorr_time
        Integrated autocorrelation time per parameter, in steps (post burn-in).
    label
        Analysis label.
    blinded
        True when ``samples`` are shifted by the blinding secret.
    provenance
        Provenance record.
    """

    samples: np.ndarray
    log_prob: np.ndarray
    acceptance_fraction: np.ndarray
    settings: Mapping[str, Any]
    autocorr_time: Mapping[str, float]
    label: str = ""
    blinded: bool = False
    provenance: Mapping[str, Any] = field(default_factory=dict)

    @property
    def converged(self) -> bool:
        """The criterion of the module doc."""
        tau = max(self.autocorr_time.values())
        n_burn = int(self.settings["n_burn"])
        n_kept = int(self.settings["n_steps"]) - n_burn
        return bool(np.isfinite(tau) and n_kept > CONVERGENCE_FACTOR * tau and n_burn >= BURN_IN_FACTOR * tau)

    def flat(self) -> np.ndarray:
        """(n, 3) samples after burn-in and thinning (walkers interleaved)."""
        n_burn, thin = int(self.settings["n_burn"]), int(self.settings.get("thin", 1))
        return self.samples[n_burn::thin].reshape(-1, self.samples.shape[-1])

    def shifted(self, shift: Sequence[float], *, blinded: bool) -> Chain:
        """The chain with ``shift`` (3,) added to every sample (blinding / unblinding)."""
        return replace(self, samples=self.samples + np.asarray(shift, dtype=np.float64), blinded=blinded)


def initial_walkers_from_prior(
    *,
    in_prior: Callable[[np.ndarray], np.ndarray],
    bounds: Sequence[Sequence[float]],
    n_walkers: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """(n_walkers, 3) points uniform in the prior, by rejection from the box ``bounds``."""
    lo, hi = np.asarray(bounds, dtype=np.float64).T
    kept: list[np.ndarray] = []
    n_kept = 0
    for _ in range(_MAX_REJECTION_ROUNDS):
        trial = rng.uniform(lo, hi, size=(4 * n_walkers, len(lo)))
        good = trial[in_prior(trial)]
        kept.append(good)
        n_kept += len(good)
        if n_kept >= n_walkers:
            return np.concatenate(kept)[:n_walkers]
    raise ValueError(f"the prior fills too little of the box {bounds} to place {n_walkers} walkers")


def initial_walkers_from_grid(
    grid: GridPosterior,
    *,
    in_prior: Callable[[np.ndarray], np.ndarray],
    n_walkers: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """(n_walkers, 3) points drawn from the grid posterior, jittered uniformly within a cell.

    Walkers that start in the posterior bulk need only a short burn-in. A jittered point that
    leaves the prior falls back to its cell centre (which has posterior mass, so lies inside).
    """
    weights = grid.weights().ravel()
    cells = rng.choice(weights.size, size=n_walkers, p=weights)
    centres = grid.points()[cells]
    steps = np.array([np.ptp(a) / max(len(a) - 1, 1) for a in grid.axes])
    jittered = centres + rng.uniform(-0.5, 0.5, size=centres.shape) * steps
    return np.where(in_prior(jittered)[:, None], jittered, centres)


def run_emcee(
    log_posterior: LogPosterior,
    *,
    initial: np.ndarray,
    n_steps: int,
    n_burn: int,
    thin: int,
    base_seed: int,
    identity: Sequence[str | int],
    label: str = "",
) -> Chain:
    """Run emcee's ensemble sampler from ``initial`` and return the :class:`Chain`.

    Parameters
    ----------
    log_posterior
        Vectorised: (n, 3) → (n,) (−inf outside the prior).
    initial
        (n_walkers, 3) starting points; need finite log posterior (at least in most walkers).
    n_steps
        Steps per walker (burn-in included).
    n_burn
        Steps discarded as burn-in.
    thin
        Keep every ``thin``-th step after burn-in in :meth:`Chain.flat`.
    base_seed, identity
        Seed of the sampler's random state: ``rng_for(base_seed, "emcee", *identity)``.
    label
        Analysis label.
    """
    import emcee

    initial = np.asarray(initial, dtype=np.float64)
    n_walkers, n_dim = initial.shape
    if n_walkers < 2 * n_dim:
        raise ValueError(f"emcee needs at least {2 * n_dim} walkers, found {n_walkers}")
    if not 0 <= n_burn < n_steps:
        raise ValueError(f"need 0 <= n_burn < n_steps, found n_burn={n_burn}, n_steps={n_steps}")
    sampler = emcee.EnsembleSampler(n_walkers, n_dim, log_posterior, vectorize=True)
    # emcee draws from a legacy RandomState; seed it from the project's seeding scheme.
    state = np.random.RandomState(np.random.MT19937(seed_sequence_for(base_seed, "emcee", *identity)))
    sampler.random_state = state.get_state()
    sampler.run_mcmc(initial, n_steps, progress=False)
    chain = sampler.get_chain()
    post = chain[n_burn:]
    tau = emcee.autocorr.integrated_time(post, tol=0) if len(post) > 1 else np.full(n_dim, np.inf)
    settings = {
        "sampler": "emcee.EnsembleSampler",
        "emcee_version": emcee.__version__,
        "move": "StretchMove(a=2)",
        "n_walkers": int(n_walkers),
        "n_steps": int(n_steps),
        "n_burn": int(n_burn),
        "thin": int(thin),
        "base_seed": int(base_seed),
        "identity": [str(x) for x in identity],
        "convergence": (
            f"n_steps - n_burn > {CONVERGENCE_FACTOR} tau_max and n_burn >= {BURN_IN_FACTOR} tau_max"
        ),
    }
    return Chain(
        samples=chain,
        log_prob=sampler.get_log_prob(),
        acceptance_fraction=np.asarray(sampler.acceptance_fraction),
        settings=settings,
        autocorr_time={name: float(t) for name, t in zip(PARAMETER_NAMES, tau, strict=True)},
        label=label,
    )


@dataclass(frozen=True)
class GridPosterior:
    """Log posterior on a regular (Ωm, σ8, A_IA) grid.

    Attributes
    ----------
    axes
        (Ωm values, σ8 values, A_IA values), each increasing and evenly spaced.
    log_posterior
        (n1, n2, n3), −inf outside the prior.
    label
        Analysis label.
    blinded
        True when the axes are shifted by the blinding secret.
    provenance
        Provenance record.
    prior_hull
        Closed (k, 2) polygon of the (Ωm, σ8) prior, in true (never shifted) coordinates: it is
        public (the simulated grid).
    """

    axes: tuple[np.ndarray, np.ndarray, np.ndarray]
    log_posterior: np.ndarray
    label: str = ""
    blinded: bool = False
    provenance: Mapping[str, Any] = field(default_factory=dict)
    prior_hull: np.ndarray | None = None

    def points(self) -> np.ndarray:
        """(n1 n2 n3, 3) grid points, C order (matching ``log_posterior.ravel()``)."""
        mesh = np.meshgrid(*self.axes, indexing="ij")
        return np.column_stack([m.ravel() for m in mesh])

    def weights(self) -> np.ndarray:
        """(n1, n2, n3) posterior mass per grid point (sums to 1)."""
        lp = self.log_posterior
        finite = np.isfinite(lp)
        if not np.any(finite):
            raise ValueError("the posterior is zero on the whole grid")
        w = np.where(finite, np.exp(lp - np.max(lp[finite])), 0.0)
        return w / w.sum()

    @property
    def cell_volume(self) -> float:
        """Volume of one grid cell in parameter units."""
        return float(np.prod([np.ptp(a) / (len(a) - 1) for a in self.axes]))

    def shifted(self, shift: Sequence[float], *, blinded: bool) -> GridPosterior:
        """The grid with ``shift`` (3,) added to the axes (blinding / unblinding)."""
        axes = tuple(a + s for a, s in zip(self.axes, np.asarray(shift, dtype=np.float64), strict=True))
        return replace(self, axes=axes, blinded=blinded)  # type: ignore[arg-type]


def _evaluate(log_posterior: LogPosterior, axes: Sequence[np.ndarray]) -> np.ndarray:
    mesh = np.meshgrid(*axes, indexing="ij")
    points = np.column_stack([m.ravel() for m in mesh])
    out = np.concatenate(
        [np.asarray(log_posterior(points[i : i + _GRID_BATCH])) for i in range(0, len(points), _GRID_BATCH)]
    )
    return out.reshape(mesh[0].shape)


def evaluate_grid(
    log_posterior: LogPosterior,
    *,
    bounds: Sequence[Sequence[float]],
    shape: Sequence[int],
    zoom: bool = True,
    label: str = "",
) -> GridPosterior:
    """Evaluate the log posterior on a regular grid over ``bounds`` (3 × [low, high]).

    With ``zoom``, a second pass of the same ``shape`` covers only the bounding box (padded by
    one cell) of the first pass's points with ln P > max − :data:`ZOOM_LOG_RATIO`, so the
    resolution goes where the posterior mass is.
    """
    bounds = np.asarray(bounds, dtype=np.float64)
    axes = [np.linspace(lo, hi, int(n)) for (lo, hi), n in zip(bounds, shape, strict=True)]
    lp = _evaluate(log_posterior, axes)
    if zoom and np.any(np.isfinite(lp)):
        keep = lp > np.max(lp[np.isfinite(lp)]) - ZOOM_LOG_RATIO
        new_axes = []
        for dim, axis in enumerate(axes):
            other = tuple(d for d in range(3) if d != dim)
            idx = np.flatnonzero(np.any(keep, axis=other))
            lo_i, hi_i = max(idx[0] - 1, 0), min(idx[-1] + 1, len(axis) - 1)
            new_axes.append(np.linspace(axis[lo_i], axis[hi_i], len(axis)))
        axes = new_axes
        lp = _evaluate(log_posterior, axes)
    return GridPosterior(axes=(axes[0], axes[1], axes[2]), log_posterior=lp, label=label)


def compare_with_grid(
    samples: np.ndarray, grid: GridPosterior, *, tolerance_sigma: float = 0.2
) -> dict[str, Any]:
    """Posterior means and standard deviations of the chain vs the grid, per parameter.

    ``consistent`` is True when every mean agrees within ``tolerance_sigma`` posterior standard
    deviations and every standard deviation within that fraction.
    """
    w = grid.weights().ravel()
    points = grid.points()
    out: dict[str, Any] = {}
    ok = True
    for i, name in enumerate(PARAMETER_NAMES):
        g_mean = float(np.sum(w * points[:, i]))
        g_std = float(np.sqrt(np.sum(w * (points[:, i] - g_mean) ** 2)))
        c_mean, c_std = float(np.mean(samples[:, i])), float(np.std(samples[:, i]))
        shift = (c_mean - g_mean) / g_std if g_std > 0 else np.inf
        ratio = c_std / g_std if g_std > 0 else np.inf
        ok &= bool(abs(shift) < tolerance_sigma and abs(ratio - 1) < tolerance_sigma)
        out[name] = {
            "chain_mean": c_mean,
            "grid_mean": g_mean,
            "chain_std": c_std,
            "grid_std": g_std,
            "mean_shift_sigma": float(shift),
            "std_ratio": float(ratio),
        }
    out["tolerance_sigma"] = tolerance_sigma
    out["consistent"] = ok
    return out


def write_chain(path: str | Path, chain: Chain) -> None:
    """Write a :class:`Chain` atomically (layout in the module doc)."""
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w") as f:
        f.attrs["schema"] = CHAIN_SCHEMA
        f.attrs["label"] = chain.label
        f.attrs["parameter_names"] = json.dumps(list(PARAMETER_NAMES))
        f.attrs["settings"] = json.dumps(dict(chain.settings))
        f.attrs["autocorr_time"] = json.dumps(dict(chain.autocorr_time))
        f.attrs["converged"] = chain.converged
        f.attrs["blinded"] = chain.blinded
        f.attrs["provenance"] = json.dumps(dict(chain.provenance), default=str)
        f.create_dataset("samples", data=chain.samples, compression="gzip", shuffle=True)
        f.create_dataset("log_prob", data=chain.log_prob, compression="gzip", shuffle=True)
        f.create_dataset("acceptance_fraction", data=chain.acceptance_fraction)


def read_chain(path: str | Path) -> Chain:
    """Read a file of :func:`write_chain`."""
    with h5py.File(path, "r") as f:
        if f.attrs.get("schema") != CHAIN_SCHEMA:
            raise ValueError(f"{path}: not a chain file (schema {f.attrs.get('schema')!r})")
        return Chain(
            samples=f["samples"][()],
            log_prob=f["log_prob"][()],
            acceptance_fraction=f["acceptance_fraction"][()],
            settings=json.loads(f.attrs["settings"]),
            autocorr_time=json.loads(f.attrs["autocorr_time"]),
            label=str(f.attrs["label"]),
            blinded=bool(f.attrs["blinded"]),
            provenance=json.loads(f.attrs["provenance"]),
        )


def write_grid(path: str | Path, grid: GridPosterior) -> None:
    """Write a :class:`GridPosterior` atomically (layout in the module doc)."""
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w") as f:
        f.attrs["schema"] = GRID_SCHEMA
        f.attrs["label"] = grid.label
        f.attrs["blinded"] = grid.blinded
        f.attrs["provenance"] = json.dumps(dict(grid.provenance), default=str)
        for name, axis in zip(PARAMETER_NAMES, grid.axes, strict=True):
            f.create_dataset(name, data=axis)
        f.create_dataset("log_posterior", data=grid.log_posterior, compression="gzip", shuffle=True)
        if grid.prior_hull is not None:
            f.create_dataset("prior_hull", data=np.asarray(grid.prior_hull, dtype=np.float64))


def read_grid(path: str | Path) -> GridPosterior:
    """Read a file of :func:`write_grid`."""
    with h5py.File(path, "r") as f:
        if f.attrs.get("schema") != GRID_SCHEMA:
            raise ValueError(f"{path}: not a grid-posterior file (schema {f.attrs.get('schema')!r})")
        axes = tuple(f[name][()] for name in PARAMETER_NAMES)
        return GridPosterior(
            axes=(axes[0], axes[1], axes[2]),
            log_posterior=f["log_posterior"][()],
            label=str(f.attrs["label"]),
            blinded=bool(f.attrs["blinded"]),
            provenance=json.loads(f.attrs["provenance"]),
            prior_hull=f["prior_hull"][()] if "prior_hull" in f else None,
        )


def walker_rng(base_seed: int, identity: Sequence[str | int]) -> np.random.Generator:
    """Generator for the walkers' starting points of an analysis."""
    return rng_for(base_seed, "emcee-initial", *identity)
