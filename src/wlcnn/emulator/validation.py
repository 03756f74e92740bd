"""Validation of the emulator: generated against held-out simulated maps (CosmoGAN §3-4).

* :func:`generate` — κ maps of one cosmology from the generator (latents seeded by the run's
  seed and the cosmology);
* :func:`power_spectrum_chi2` — the χ² distance of the mean power spectra of two sets, per
  (tomographic bin, ℓ bin) in units of the reference set's map-to-map scatter (model selection);
* :func:`nearest_training_distances` — memorisation: every map's distance to its nearest
  training map in pixel space (RMS difference in units of the training σ per bin) and in
  power-spectrum space (RMS difference of log C_ℓ). Generated maps much closer to the training
  set than held-out simulated maps are would be copies;
* :func:`latent_interpolation` — maps along a straight line between two latent vectors;
* :func:`generation_speed` — maps per second;
* :func:`simulation_cost_per_map` — the simulation + projection path's cost from the
  workflow's benchmark files (CPU seconds and wall seconds per map).

The statistical comparison itself is :func:`wlcnn.statistics.compare.compare_map_sets` (pixel
histogram, power spectrum, Minkowski functionals, peaks; KS / AD tests; correlation matrices).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from wlcnn.emulator.data import channels_first
from wlcnn.emulator.pixel_transform import PixelTransform
from wlcnn.seeding import rng_for
from wlcnn.statistics.power_spectrum import power_spectrum

__all__ = [
    "BENCHMARK_COLUMNS",
    "NearestDistances",
    "SimulationCost",
    "generate",
    "generation_speed",
    "latent_interpolation",
    "map_power_spectra",
    "nearest_training_distances",
    "power_spectrum_chi2",
    "simulation_cost_per_map",
]

#: Columns of a Snakemake benchmark file read for the simulation path's cost.
BENCHMARK_COLUMNS = ("s", "cpu_time")
#: Floor of C_ℓ before the logarithm (an empty ℓ bin of a tiny map).
_CL_FLOOR = 1.0e-30
#: Generator calls before timing (graph tracing, memory allocation).
_WARMUP_CALLS = 2


def _latents(n: int, latent_dim: int, *, seed: int, identity: Sequence[object]) -> np.ndarray:
    return rng_for(seed, "emulator", *identity).standard_normal((n, latent_dim)).astype(np.float32)


def _latent_dim(generator: Any) -> int:
    """Dimension of the generator's latent input (its first input)."""
    return int(generator.inputs[0].shape[-1])


def _call(generator: Any, z: np.ndarray, condition: np.ndarray | None) -> np.ndarray:
    inputs = z if condition is None else [z, np.broadcast_to(condition, (len(z), len(condition))).copy()]
    return np.asarray(generator(inputs, training=False))


def generate(
    generator: Any,
    transform: PixelTransform,
    *,
    n_maps: int,
    condition: npt.ArrayLike | None,
    seed: int,
    identity: Sequence[object],
    batch: int,
) -> np.ndarray:
    """κ maps (n_maps, n, n, n_bins) of one cosmology (``condition``: its normalised (Ωm, σ8))."""
    latent_dim = _latent_dim(generator)
    z = _latents(n_maps, latent_dim, seed=seed, identity=("generate", *identity))
    cond = None if condition is None else np.asarray(condition, dtype=np.float32)
    out = [_call(generator, z[i : i + batch], cond) for i in range(0, n_maps, batch)]
    return transform.inverse(np.concatenate(out))


def map_power_spectra(maps: np.ndarray, *, side_deg: float, ell_edges: np.ndarray) -> np.ndarray:
    """C_ℓ per map, bin and ℓ bin of channels-last maps, shape (n_maps, n_bins, n_ell)."""
    return power_spectrum(channels_first(maps), side_deg=side_deg, ell_edges=ell_edges).cl


def power_spectrum_chi2(
    maps: np.ndarray, reference: np.ndarray, *, side_deg: float, ell_edges: np.ndarray
) -> float:
    """Mean over (bin, ℓ) of ((mean C_ℓ of ``maps`` - that of ``reference``) / σ_reference)²."""
    cl = map_power_spectra(maps, side_deg=side_deg, ell_edges=ell_edges)
    ref = map_power_spectra(reference, side_deg=side_deg, ell_edges=ell_edges)
    sigma = ref.std(axis=0, ddof=1)
    # ℓ bins without a Fourier mode of the map (NaN) or without scatter carry no information
    usable = np.isfinite(sigma) & (sigma > 0) & np.all(np.isfinite(cl), axis=0)
    if not usable.any():
        raise ValueError("ell_edges: expected at least one ℓ bin with modes of the maps, found none")
    return float(np.mean(((cl.mean(axis=0)[usable] - ref.mean(axis=0)[usable]) / sigma[usable]) ** 2))


@dataclass(frozen=True)
class NearestDistances:
    """Each query map's distance to its nearest training map.

    Attributes
    ----------
    pixel, power_spectrum
        Distances, shape (n_query,).
    pixel_index, power_spectrum_index
        Index of the nearest training map in each space.
    """

    pixel: np.ndarray
    power_spectrum: np.ndarray
    pixel_index: np.ndarray
    power_spectrum_index: np.ndarray


def _nearest(query: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # |q - t|² = |q|² + |t|² - 2 q·t, one matrix product for all pairs
    d2 = (query**2).sum(1)[:, None] + (train**2).sum(1)[None, :] - 2.0 * query @ train.T
    idx = d2.argmin(axis=1)
    return np.sqrt(np.maximum(d2[np.arange(len(query)), idx], 0.0) / query.shape[1]), idx


def nearest_training_distances(
    query: np.ndarray, training: np.ndarray, *, side_deg: float, ell_edges: np.ndarray
) -> NearestDistances:
    """Nearest training map of every query map in pixel and power-spectrum space (module doc)."""
    sigma = training.reshape(-1, training.shape[-1]).std(axis=0)
    pix_q = (query / sigma).reshape(len(query), -1)
    pix_t = (training / sigma).reshape(len(training), -1)
    pixel, pixel_index = _nearest(pix_q, pix_t)
    log_q = np.log(np.maximum(map_power_spectra(query, side_deg=side_deg, ell_edges=ell_edges), _CL_FLOOR))
    log_t = np.log(np.maximum(map_power_spectra(training, side_deg=side_deg, ell_edges=ell_edges), _CL_FLOOR))
    ps, ps_index = _nearest(log_q.reshape(len(query), -1), log_t.reshape(len(training), -1))
    return NearestDistances(
        pixel=pixel, power_spectrum=ps, pixel_index=pixel_index, power_spectrum_index=ps_index
    )


def latent_interpolation(
    generator: Any,
    transform: PixelTransform,
    *,
    steps: int,
    condition: npt.ArrayLike | None,
    seed: int,
) -> np.ndarray:
    """κ maps (steps, n, n, n_bins) along the straight line between two seeded latent vectors."""
    latent_dim = _latent_dim(generator)
    z0, z1 = _latents(2, latent_dim, seed=seed, identity=("interpolation",))
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    cond = None if condition is None else np.asarray(condition, dtype=np.float32)
    return transform.inverse(_call(generator, (1 - t) * z0 + t * z1, cond))


def generation_speed(
    generator: Any, *, n_maps: int, batch: int, condition: npt.ArrayLike | None, seed: int
) -> dict[str, float]:
    """Maps per second of the generator (tanh outputs, on the device TensorFlow chose).

    Returns
    -------
    dict
        ``maps_per_second``, ``seconds``, ``n_maps``, ``batch``.
    """
    import tensorflow as tf  # lazy: the emulator package is used without TensorFlow

    latent_dim = _latent_dim(generator)
    z = tf.constant(_latents(batch, latent_dim, seed=seed, identity=("speed",)))
    inputs: Any = z
    if condition is not None:
        inputs = [z, tf.constant(np.broadcast_to(np.asarray(condition, np.float32), (batch, 2)).copy())]
    # a plain call: AutoGraph has nothing to convert in it
    call = tf.function(tf.autograph.experimental.do_not_convert(lambda x: generator(x, training=False)))
    for _ in range(_WARMUP_CALLS):
        call(inputs).numpy()
    n_calls = max(1, -(-n_maps // batch))
    start = time.perf_counter()
    for _ in range(n_calls):
        out = call(inputs)
    out.numpy()  # wait for the device
    seconds = time.perf_counter() - start
    return {
        "maps_per_second": n_calls * batch / seconds,
        "seconds": seconds,
        "n_maps": n_calls * batch,
        "batch": batch,
    }


@dataclass(frozen=True)
class SimulationCost:
    """Cost of the simulation + projection path per map, from the benchmark files.

    Attributes
    ----------
    cpu_seconds_per_map, wall_seconds_per_map
        Summed over every file, divided by the maps they produced.
    n_files, n_maps
        Benchmark files read and maps they produced.
    """

    cpu_seconds_per_map: float
    wall_seconds_per_map: float
    n_files: int
    n_maps: int


def simulation_cost_per_map(paths: Sequence[str | Path], *, n_maps: int) -> SimulationCost | None:
    """The cost per map of the rules that made ``n_maps`` maps (None when no file exists).

    Parameters
    ----------
    paths
        Snakemake benchmark TSVs (simulation, ingestion, map rules of the simulations).
    n_maps
        Maps those jobs produced (realisations × simulations).
    """
    cpu = wall = 0.0
    found = 0
    for path in paths:
        if not Path(path).is_file():
            continue
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        found += 1
        for row in rows:
            wall += float(row[BENCHMARK_COLUMNS[0]])
            cpu += float(row[BENCHMARK_COLUMNS[1]])
    if not found or n_maps <= 0:
        return None
    return SimulationCost(cpu / n_maps, wall / n_maps, found, n_maps)
