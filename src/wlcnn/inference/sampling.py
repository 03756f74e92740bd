"""Posterior sampling: seeded emcee chains saved with their settings, and a dense-grid check.

:func:`run_emcee` runs the affine-invariant ensemble sampler (Foreman-Mackey et al. 2013) on a
vectorised log posterior. Its random state, and the walkers' starting points, come from
:func:`wlcnn.seeding.rng_for` of the run seed and the analysis identity, so a rerun reproduces
the chain exactly. Convergence criterion (emcee's recommendation, recorded with the chain): the
post-burn-in chain is longer than :data:`CONVERGENCE_FACTOR` times the largest integrated
autocorrelation time τ of the parameters, τ changed by less than :data:`TAU_RELATIVE_CHANGE`
(1 %) since the previous check, :data:`CHECK_INTERVAL` steps earlier, and the burn-in is at
least 2 τ. With ``max_steps`` the chain is extended, ``check_interval`` steps at a time, until it
meets the criterion or reaches ``max_steps``; a chain that stops unconverged says so
(:attr:`Chain.converged` false, a WARNING in the log): it is never silently reported as final.

:func:`evaluate_grid` evaluates the same posterior on a dense (Ωm, σ8, A_IA) grid, zoomed onto
the region holding the posterior mass; it is a sampler-free cross-check
(:func:`compare_with_grid`) and gives 2-D densities without kernel smoothing (contour areas).

HDF5 layouts
------------
Chain (:func:`write_chain`): ``samples`` (n_steps, n_walkers, 3) f8, ``log_prob`` (n_steps,
n_walkers) f8, ``acceptance_fraction`` (n_walkers,) f8, ``s8`` (n_steps, n_walkers) f8 (the
reported S8 of every sample: derived from Ωm and σ8, plus its own blinding offset when blinded);
attributes ``schema``, ``label``, ``parameter_names``, ``settings`` (JSON: n_walkers, n_steps,
n_burn, thin, max_steps, check_interval, autocorr_relative_change, base_seed, identity, emcee
version, move), ``autocorr_time`` (JSON, per parameter, steps), ``converged``, ``blinded``,
``provenance`` (JSON). The same file is a read-only emcee backend: its group ``mcmc`` holds
hard links to the same data under emcee's names (``chain``, ``log_prob``, ``accepted``) with the
attributes emcee reads, so ``emcee.backends.HDFBackend(path, read_only=True).get_chain()``
returns ``samples`` (as stored: blinded values when blinded).

Files other tools read (next to the chain, post-burn-in and thinned samples only, as stored:
blinded values when blinded): :func:`write_getdist_chain` writes a getdist root
(``chain.txt``: ``weight −ln P Ωm σ8 A_IA S8`` per row; ``chain.paramnames`` with LaTeX labels
and S8 as the derived ``s8*``; ``chain.ranges``: the prior, unbounded when blinded since the
bounds would reveal the offset), read by ``getdist.loadMCSamples(".../chain")``.
:func:`write_arviz_netcdf` writes the netCDF-4/HDF5 layout of ArviZ's ``from_netcdf``: groups
``posterior`` (``omega_m``, ``sigma8``, ``a_ia``, ``s8``, dims ``(chain, draw)``, a chain per
walker) and ``sample_stats`` (``lp``), with HDF5 dimension scales ``chain`` and ``draw``. It is
written with h5py alone (no runtime dependency on xarray or netCDF libraries); ArviZ's
``from_netcdf`` reading it is tested (``tests/inference/test_sampling_arviz.py``, arviz 0.23
through xarray's h5netcdf engine).

Grid (:func:`write_grid`): ``omega_m``, ``sigma8``, ``a_ia`` (axes, f8) and ``log_posterior``
(n1, n2, n3) f8 (−inf outside the prior), ``prior_hull`` (k, 2) f8 (true coordinates);
attributes ``schema``, ``label``, ``blinded``,
``provenance``.

Blinded files hold parameter values shifted by the blinding secret (:mod:`.blinding`); the log
posterior values are unchanged.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from wlcnn.atomic import atomic_path, atomic_paths
from wlcnn.inference.constraints import s8
from wlcnn.inference.likelihood import PARAMETER_LABELS, PARAMETER_NAMES
from wlcnn.seeding import rng_for, seed_sequence_for

__all__ = [
    "CHAIN_SCHEMA",
    "CHECK_INTERVAL",
    "CONVERGENCE_FACTOR",
    "EMCEE_GROUP",
    "TAU_RELATIVE_CHANGE",
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
    "write_arviz_netcdf",
    "write_chain",
    "write_getdist_chain",
    "write_grid",
]

CHAIN_SCHEMA = "wlcnn.chain/1"
GRID_SCHEMA = "wlcnn.grid_posterior/1"
#: Converged when the post-burn-in length exceeds this many autocorrelation times (emcee docs).
CONVERGENCE_FACTOR = 50
#: Converged only when τ changed by less than this fraction since the previous check (emcee docs).
TAU_RELATIVE_CHANGE = 0.01
#: Steps between convergence checks of a chain extended towards ``max_steps``.
CHECK_INTERVAL = 250
#: Group of the chain file that emcee's ``HDFBackend`` reads (its default ``name``).
EMCEE_GROUP = "mcmc"
#: getdist's name of S8 (a trailing ``*`` in .paramnames marks a derived parameter) and label.
S8_NAME = "s8"
S8_LABEL = r"S_8"
#: Suffixes of a getdist root's files.
GETDIST_SUFFIXES = (".txt", ".paramnames", ".ranges")
#: Digits written per value in the getdist chain (float64 round trip).
_GETDIST_FORMAT = "%.17g"
#: Burn-in must cover at least this many autocorrelation times.
BURN_IN_FACTOR = 2
#: Zoomed grid: keep the region where ln P > max − this (ln 1e-9: far beyond the 99.99 % level).
ZOOM_LOG_RATIO = 20.7
#: Rejection sampling draws at most this many batches when placing walkers in the prior.
_MAX_REJECTION_ROUNDS = 1000
#: Points per log-posterior call in the grid evaluation (memory bound for long data vectors).
_GRID_BATCH = 16384

LogPosterior = Callable[[np.ndarray], np.ndarray]

_LOG = logging.getLogger(__name__)


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
    reported_s8
        (n_steps, n_walkers) S8 of every sample as reported; None: derived from ``samples``. Set
        by :meth:`shifted`: blinding shifts S8 by its own offset, so that its width is unchanged
        (S8 recomputed from shifted Ωm and σ8 would not be).
    """

    samples: np.ndarray
    log_prob: np.ndarray
    acceptance_fraction: np.ndarray
    settings: Mapping[str, Any]
    autocorr_time: Mapping[str, float]
    label: str = ""
    blinded: bool = False
    provenance: Mapping[str, Any] = field(default_factory=dict)
    reported_s8: np.ndarray | None = None

    @property
    def converged(self) -> bool:
        """The criterion of the module doc (false when τ's change was never measured)."""
        tau = max(self.autocorr_time.values())
        n_burn = int(self.settings["n_burn"])
        n_kept = int(self.settings["n_steps"]) - n_burn
        change = float(self.settings.get("autocorr_relative_change", math.inf))
        return bool(
            np.isfinite(tau)
            and n_kept > CONVERGENCE_FACTOR * tau
            and n_burn >= BURN_IN_FACTOR * tau
            and change < TAU_RELATIVE_CHANGE
        )

    @property
    def s8(self) -> np.ndarray:
        """(n_steps, n_walkers) S8 as reported (:attr:`reported_s8`, else derived)."""
        if self.reported_s8 is not None:
            return self.reported_s8
        return s8(self.samples[..., 0], self.samples[..., 1])

    def flat(self) -> np.ndarray:
        """(n, 3) samples after burn-in and thinning (walkers interleaved)."""
        n_burn, thin = int(self.settings["n_burn"]), int(self.settings.get("thin", 1))
        return self.samples[n_burn::thin].reshape(-1, self.samples.shape[-1])

    def flat_s8(self) -> np.ndarray:
        """(n,) reported S8 of the samples of :meth:`flat`, in the same order."""
        n_burn, thin = int(self.settings["n_burn"]), int(self.settings.get("thin", 1))
        return self.s8[n_burn::thin].reshape(-1)

    def flat_log_prob(self) -> np.ndarray:
        """(n,) log posterior of the samples of :meth:`flat`, in the same order."""
        n_burn, thin = int(self.settings["n_burn"]), int(self.settings.get("thin", 1))
        return self.log_prob[n_burn::thin].reshape(-1)

    def shifted(self, shift: Sequence[float] | np.ndarray, *, blinded: bool) -> Chain:
        """The chain with every reported parameter shifted (blinding / unblinding).

        ``shift`` is (δΩm, δσ8, δA_IA) or (δΩm, δσ8, δA_IA, δS8): each reported column moves by
        its own offset (S8 by δS8, default 0), so no marginal width changes.
        """
        vector = np.asarray(shift, dtype=np.float64)
        n_dim = self.samples.shape[-1]
        s8_shift = float(vector[n_dim]) if len(vector) > n_dim else 0.0
        return replace(
            self,
            samples=self.samples + vector[:n_dim],
            reported_s8=self.s8 + s8_shift,
            blinded=blinded,
        )


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


def _autocorr_time(chain: np.ndarray, *, n_burn: int) -> np.ndarray:
    """Integrated autocorrelation time per parameter of ``chain[n_burn:]`` (inf when too short)."""
    import emcee

    post = chain[n_burn:]
    if len(post) <= 1:
        return np.full(chain.shape[-1], np.inf)
    # tol=0: always return the estimate; the convergence criterion judges it, not emcee's raise.
    return np.asarray(emcee.autocorr.integrated_time(post, tol=0), dtype=np.float64)


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
    max_steps: int | None = None,
    check_interval: int = CHECK_INTERVAL,
) -> Chain:
    """Run emcee's ensemble sampler from ``initial`` until converged; return the :class:`Chain`.

    Parameters
    ----------
    log_posterior
        Vectorised: (n, 3) → (n,) (−inf outside the prior).
    initial
        (n_walkers, 3) starting points; need finite log posterior (at least in most walkers).
    n_steps
        Steps per walker run first (burn-in included): the minimum length.
    n_burn
        Steps discarded as burn-in.
    thin
        Keep every ``thin``-th step after burn-in in :meth:`Chain.flat`.
    base_seed, identity
        Seed of the sampler's random state: ``rng_for(base_seed, "emcee", *identity)``.
    label
        Analysis label.
    max_steps
        Extend the chain, ``check_interval`` steps at a time, until the criterion of the module
        doc holds or it has this many steps (None: ``n_steps``, no extension). The first
        ``n_steps`` steps do not depend on it.
    check_interval
        Steps between convergence checks (and the lag of τ's relative change).

    Notes
    -----
    A chain that stops unconverged is logged at WARNING with τ, the length and the criterion.
    """
    import emcee

    initial = np.asarray(initial, dtype=np.float64)
    n_walkers, n_dim = initial.shape
    max_steps = n_steps if max_steps is None else int(max_steps)
    if n_walkers < 2 * n_dim:
        raise ValueError(f"emcee needs at least {2 * n_dim} walkers, found {n_walkers}")
    if not 0 <= n_burn < n_steps:
        raise ValueError(f"need 0 <= n_burn < n_steps, found n_burn={n_burn}, n_steps={n_steps}")
    if max_steps < n_steps:
        raise ValueError(f"need max_steps >= n_steps, found max_steps={max_steps}, n_steps={n_steps}")
    if check_interval < 1:
        raise ValueError(f"need check_interval >= 1, found {check_interval}")
    sampler = emcee.EnsembleSampler(n_walkers, n_dim, log_posterior, vectorize=True)
    # emcee draws from a legacy RandomState; seed it from the project's seeding scheme.
    state = np.random.RandomState(np.random.MT19937(seed_sequence_for(base_seed, "emcee", *identity)))
    sampler.random_state = state.get_state()
    sampler.run_mcmc(initial, n_steps, progress=False)

    def status() -> tuple[np.ndarray, float, bool]:
        chain = sampler.get_chain()
        tau = _autocorr_time(chain, n_burn=n_burn)
        earlier = _autocorr_time(chain[: len(chain) - check_interval], n_burn=n_burn)
        tau_max = float(np.max(tau))
        change = float(np.max(np.abs(tau - earlier) / tau)) if np.all(np.isfinite(tau)) else math.inf
        if not np.isfinite(change):
            change = math.inf
        ok = (
            np.isfinite(tau_max)
            and len(chain) - n_burn > CONVERGENCE_FACTOR * tau_max
            and n_burn >= BURN_IN_FACTOR * tau_max
            and change < TAU_RELATIVE_CHANGE
        )
        return tau, change, bool(ok)

    tau, change, ok = status()
    while not ok and sampler.iteration < max_steps:
        sampler.run_mcmc(None, min(check_interval, max_steps - sampler.iteration), progress=False)
        tau, change, ok = status()
    n_total = int(sampler.iteration)
    settings = {
        "sampler": "emcee.EnsembleSampler",
        "emcee_version": emcee.__version__,
        "move": "StretchMove(a=2)",
        "n_walkers": int(n_walkers),
        "n_steps": n_total,
        "n_steps_min": int(n_steps),
        "max_steps": int(max_steps),
        "check_interval": int(check_interval),
        "n_burn": int(n_burn),
        "thin": int(thin),
        "base_seed": int(base_seed),
        "identity": [str(x) for x in identity],
        "autocorr_relative_change": change,
        "convergence": (
            f"n_steps - n_burn > {CONVERGENCE_FACTOR} tau_max, n_burn >= {BURN_IN_FACTOR} tau_max and "
            f"tau changed < {TAU_RELATIVE_CHANGE:.0%} over the last {check_interval} steps"
        ),
    }
    result = Chain(
        samples=sampler.get_chain(),
        log_prob=sampler.get_log_prob(),
        acceptance_fraction=np.asarray(sampler.acceptance_fraction),
        settings=settings,
        autocorr_time={name: float(t) for name, t in zip(PARAMETER_NAMES, tau, strict=True)},
        label=label,
    )
    if not result.converged:
        _LOG.warning(
            "chain %r NOT converged after %d steps (max_steps %d): tau_max = %.1f steps, "
            "%d post-burn-in steps (need > %d tau = %.0f), burn-in %d (need >= %d tau), "
            "tau changed %.1f %% over the last %d steps (need < %.0f %%); its intervals are not final",
            label,
            n_total,
            max_steps,
            float(np.max(tau)),
            n_total - n_burn,
            CONVERGENCE_FACTOR,
            CONVERGENCE_FACTOR * float(np.max(tau)),
            n_burn,
            BURN_IN_FACTOR,
            100 * change,
            check_interval,
            100 * TAU_RELATIVE_CHANGE,
        )
    return result


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

    def shifted(self, shift: Sequence[float] | np.ndarray, *, blinded: bool) -> GridPosterior:
        """The grid with ``shift`` added to the axes (blinding / unblinding).

        ``shift`` is (δΩm, δσ8, δA_IA), optionally followed by δS8 (not a grid axis: ignored).
        """
        vector = np.asarray(shift, dtype=np.float64)[: len(self.axes)]
        axes = tuple(a + s for a, s in zip(self.axes, vector, strict=True))
        return replace(self, axes=axes, blinded=blinded)


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
    bounds: Sequence[Sequence[float]] | np.ndarray,
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
        f.create_dataset("s8", data=chain.s8, compression="gzip", shuffle=True)
        _link_emcee_backend(f, chain)


def _link_emcee_backend(f: h5py.File, chain: Chain) -> None:
    """Make the file readable by ``emcee.backends.HDFBackend(path, read_only=True)``.

    Hard links (no copy) of the chain under emcee's names, and the attributes its reader uses;
    ``accepted`` counts accepted proposals per walker (acceptance fraction × steps).
    """
    n_steps, n_walkers, n_dim = chain.samples.shape
    g = f.create_group(EMCEE_GROUP)
    g.attrs["version"] = str(chain.settings.get("emcee_version", ""))
    g.attrs["nwalkers"] = n_walkers
    g.attrs["ndim"] = n_dim
    g.attrs["has_blobs"] = False
    g.attrs["iteration"] = n_steps
    g["chain"] = f["samples"]
    g["log_prob"] = f["log_prob"]
    g.create_dataset("accepted", data=np.rint(chain.acceptance_fraction * n_steps))


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
            reported_s8=f["s8"][()] if "s8" in f else None,
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


def write_getdist_chain(
    root: str | Path, chain: Chain, *, ranges: Mapping[str, Sequence[float]] | None = None
) -> list[Path]:
    """Write the getdist root ``root`` (``.txt``, ``.paramnames``, ``.ranges``) of a chain, atomically.

    Parameters
    ----------
    root
        Path without suffix, e.g. ``results/cnn/chain``: ``getdist.loadMCSamples(root)`` reads it.
    chain
        The chain; its post-burn-in, thinned samples (:meth:`Chain.flat`) with unit weights, −ln P
        and the reported S8 (:attr:`Chain.s8`) as a derived parameter.
    ranges
        Prior range ``(low, high)`` per parameter name; parameters left out (and all of them
        for a blinded chain) are written unbounded (``N N``).

    Returns
    -------
    list of Path
        The three files written.
    """
    root = Path(root)
    paths = [root.with_name(root.name + suffix) for suffix in GETDIST_SUFFIXES]
    flat = chain.flat()
    table = np.column_stack([np.ones(len(flat)), -chain.flat_log_prob(), flat, chain.flat_s8()])
    names = [*PARAMETER_NAMES, S8_NAME]
    paramnames = (
        "".join(f"{n}\t{PARAMETER_LABELS[n]}\n" for n in PARAMETER_NAMES) + f"{S8_NAME}*\t{S8_LABEL}\n"
    )
    shown = {} if chain.blinded or ranges is None else dict(ranges)
    range_lines = []
    for name in names:
        lo_hi = shown.get(name)
        range_lines.append(f"{name} N N" if lo_hi is None else f"{name} {lo_hi[0]!r} {lo_hi[1]!r}")
    with atomic_paths(paths) as (tmp_txt, tmp_names, tmp_ranges):
        np.savetxt(tmp_txt, table, fmt=_GETDIST_FORMAT, delimiter=" ")
        tmp_names.write_text(paramnames)
        tmp_ranges.write_text("\n".join(range_lines) + "\n")
    return paths


def _dimension(group: h5py.Group, name: str, size: int) -> h5py.Dataset:
    scale = group.create_dataset(name, data=np.arange(size, dtype=np.int64))
    scale.make_scale(name)
    return scale


def write_arviz_netcdf(path: str | Path, chain: Chain) -> Path:
    """Write the post-burn-in chain in the netCDF-4 group layout of ArviZ's ``from_netcdf``, atomically.

    One ArviZ chain per walker; draws after burn-in and thinning. Layout in the module doc;
    values as stored (blinded when the chain is). Written with h5py (see the module doc).
    """
    n_burn, thin = int(chain.settings["n_burn"]), int(chain.settings.get("thin", 1))
    # (steps, walkers) → ArviZ's (chain, draw): a walker is a chain.
    columns = {name: chain.samples[n_burn::thin, :, i].T for i, name in enumerate(PARAMETER_NAMES)}
    columns[S8_NAME] = chain.s8[n_burn::thin].T
    lp = chain.log_prob[n_burn::thin].T
    n_chain, n_draw = lp.shape
    with atomic_path(path, suffix=".nc") as tmp, h5py.File(tmp, "w") as f:
        f.attrs["created_by"] = "wlcnn.inference.sampling.write_arviz_netcdf"
        f.attrs["inference_library"] = "emcee"
        f.attrs["inference_library_version"] = str(chain.settings.get("emcee_version", ""))
        f.attrs["label"] = chain.label
        f.attrs["blinded"] = int(chain.blinded)
        for group_name, variables in (("posterior", columns), ("sample_stats", {"lp": lp})):
            group = f.create_group(group_name)
            chain_dim, draw_dim = _dimension(group, "chain", n_chain), _dimension(group, "draw", n_draw)
            for name, values in variables.items():
                data = group.create_dataset(name, data=np.asarray(values, dtype=np.float64))
                for axis, scale in enumerate((chain_dim, draw_dim)):
                    data.dims[axis].attach_scale(scale)
                    data.dims[axis].label = scale.name.rsplit("/", 1)[-1]
    return Path(path)
