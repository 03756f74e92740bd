"""Streaming training examples from the map files with ``tf.data``.

One training example = one simulated survey = one cosmology's ``n_patches`` × ``n_bins`` κ and
κ_IA maps (SPEC §6). Per optimizer step ``cosmologies_per_step`` distinct training cosmologies are
drawn (with replacement only when there are fewer cosmologies than that), and for each of them
``n_patches`` realisations (patches) from all the realisations of all its simulation files,
without replacement when there are enough; A_IA ~ U[a_ia_range] and a stateless seed for the
forward model's other draws complete the example.

Every draw comes from :func:`wlcnn.seeding.rng_for` keyed by (base seed, stream, global step,
example index), never by the worker, the replica, the thread or the order of reads: step ``s``
sees the same examples whether the run started at 0, resumed at ``s``, or runs on 1 or 16
devices. That is what makes resumption and the distributed-equality tests exact.

Only the maps of the batches in flight are in memory: a ``tf.data`` pipeline over example
indices reads each example's realisations from the HDF5 files (``/kappa``, ``/kappa_ia``:
float32 (realisation, bin, y, x)) in ``input_threads`` parallel calls, batches them per replica
and prefetches ``prefetch_batches`` batches. The forward model is *not* applied here but in the
training step, on the device (:mod:`wlcnn.training.forward`).

Element of the datasets (per replica batch of ``b`` surveys)::

    kappa, kappa_ia  float32 (b, n_patches, n_bins, N, N)
    a_ia             float32 (b,)
    seed             int64   (b, 2)
    theta            float32 (b, 3)   targets (Ωm, σ8, A_IA/10)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from wlcnn.maps.mapfile import read_map_attrs
from wlcnn.seeding import rng_for
from wlcnn.training.loss import parameter_targets

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = [
    "CosmologyMaps",
    "ExamplePlan",
    "ExamplePlanner",
    "MapReader",
    "dataset_for_replicas",
    "describe_cosmologies",
    "per_replica_batch",
    "scan_map_files",
]

#: Largest seed word of TF's stateless random ops (int64).
_SEED_LIMIT = np.iinfo(np.int64).max
#: Open HDF5 files kept per reader (the paper's 57 × 12 files stay well below the fd limit).
MAX_OPEN_FILES = 256
#: Random stream names: training and validation examples never share draws.
TRAIN_STREAM = "training_examples"
VALIDATION_STREAM = "validation_examples"


@dataclass(frozen=True)
class CosmologyMaps:
    """The map files of one cosmology.

    Attributes
    ----------
    cosmology_id
        Grid identifier (``c000``...).
    omega_m, sigma8
        The cosmology's parameters.
    files
        Map files of its simulations.
    n_realisations
        Realisations (patches) in each file.
    n_bins, n_pix
        Tomographic bins and pixels per side.
    """

    cosmology_id: str
    omega_m: float
    sigma8: float
    files: tuple[str, ...]
    n_realisations: tuple[int, ...]
    n_bins: int
    n_pix: int

    @property
    def pool_size(self) -> int:
        """Total realisations over all files."""
        return int(sum(self.n_realisations))

    def locate(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(file index, realisation in file) of pool indices."""
        edges = np.cumsum((0, *self.n_realisations))
        file_index = np.searchsorted(edges, index, side="right") - 1
        return file_index, index - edges[file_index]


def _attrs(path: Path) -> dict[str, Any]:
    return read_map_attrs(path)


def scan_map_files(paths: Iterable[str | Path]) -> list[CosmologyMaps]:
    """Group map files by cosmology (sorted by id), checking that all have κ of one shape.

    Raises
    ------
    ValueError
        If a file has no ``/kappa`` and ``/kappa_ia`` or shapes differ between files.
    """
    groups: dict[str, dict[str, Any]] = {}
    shape: tuple[int, int] | None = None
    for raw in sorted({str(Path(p)) for p in paths}):
        path = Path(raw)
        attrs = _attrs(path)
        with h5py.File(path, "r") as fh:
            if "kappa" not in fh or "kappa_ia" not in fh:
                raise ValueError(f"{path}: no /kappa and /kappa_ia (a shells-only map file?)")
            n_real, n_bins, ny, nx = fh["kappa"].shape
            if fh["kappa_ia"].shape != fh["kappa"].shape or ny != nx:
                raise ValueError(
                    f"{path}: /kappa {fh['kappa'].shape} and /kappa_ia {fh['kappa_ia'].shape} "
                    "must have one (realisation, bin, n, n) shape"
                )
        if shape is None:
            shape = (n_bins, ny)
        elif shape != (n_bins, ny):
            raise ValueError(f"{path}: (bins, pixels) {(n_bins, ny)} differ from the other files' {shape}")
        cosmo = attrs.get("cosmology") or {}
        cid = str(attrs.get("cosmology_id") or path.parent.name)
        entry = groups.setdefault(
            cid, {"omega_m": float(cosmo["omega_m"]), "sigma8": float(cosmo["sigma8"]), "files": [], "n": []}
        )
        entry["files"].append(str(path))
        entry["n"].append(int(n_real))
    if shape is None:
        raise ValueError("no map files given")
    return [
        CosmologyMaps(
            cosmology_id=cid,
            omega_m=g["omega_m"],
            sigma8=g["sigma8"],
            files=tuple(g["files"]),
            n_realisations=tuple(g["n"]),
            n_bins=shape[0],
            n_pix=shape[1],
        )
        for cid, g in sorted(groups.items())
    ]


@dataclass(frozen=True)
class ExamplePlan:
    """Everything drawn for one example; the maps are read from ``(file, realisation)`` pairs.

    Attributes
    ----------
    cosmology
        Index into the planner's cosmology list.
    file_index, realisation
        (n_patches,) which file of the cosmology and which realisation in it, per patch.
    a_ia
        Intrinsic-alignment amplitude.
    seed
        (2,) int64 stateless seed of the forward model's other draws.
    theta
        (3,) float32 targets (Ωm, σ8, A_IA/10).
    """

    cosmology: int
    file_index: np.ndarray
    realisation: np.ndarray
    a_ia: float
    seed: np.ndarray
    theta: np.ndarray


class ExamplePlanner:
    """Deterministic draws of example ``k`` of global step ``s`` (see the module docstring).

    Parameters
    ----------
    cosmologies
        Map files per cosmology (:func:`scan_map_files`).
    base_seed
        The run's base seed.
    stream
        Random stream (:data:`TRAIN_STREAM`, :data:`VALIDATION_STREAM`).
    n_patches
        Patches per example (SPEC: 20).
    a_ia_range
        [low, high] of the uniform A_IA prior.
    per_step
        Examples (cosmologies) per step.
    """

    def __init__(
        self,
        cosmologies: Sequence[CosmologyMaps],
        *,
        base_seed: int,
        stream: str,
        n_patches: int,
        a_ia_range: Sequence[float],
        per_step: int,
    ) -> None:
        if not cosmologies:
            raise ValueError("no cosmologies to draw examples from")
        self.cosmologies = list(cosmologies)
        self.base_seed = int(base_seed)
        self.stream = stream
        self.n_patches = int(n_patches)
        self.a_ia_range = (float(a_ia_range[0]), float(a_ia_range[1]))
        self.per_step = int(per_step)

    def cosmologies_of_step(self, step: int) -> np.ndarray:
        """Indices of the ``per_step`` cosmologies of global step ``step``."""
        rng = rng_for(self.base_seed, self.stream, "step", int(step))
        n = len(self.cosmologies)
        return rng.choice(n, size=self.per_step, replace=self.per_step > n)

    def plan(self, step: int, k: int) -> ExamplePlan:
        """Draws of example ``k`` (0 ≤ k < per_step) of global step ``step``."""
        ci = int(self.cosmologies_of_step(step)[k])
        cosmo = self.cosmologies[ci]
        rng = rng_for(self.base_seed, self.stream, "example", int(step), int(k))
        pool = rng.choice(cosmo.pool_size, size=self.n_patches, replace=self.n_patches > cosmo.pool_size)
        file_index, realisation = cosmo.locate(pool)
        a_ia = (
            float(rng.uniform(*self.a_ia_range))
            if self.a_ia_range[1] > self.a_ia_range[0]
            else self.a_ia_range[0]
        )
        seed = rng.integers(0, _SEED_LIMIT, size=2, dtype=np.int64)
        return ExamplePlan(
            cosmology=ci,
            file_index=file_index,
            realisation=realisation,
            a_ia=a_ia,
            seed=seed,
            theta=parameter_targets(cosmo.omega_m, cosmo.sigma8, a_ia),
        )


class MapReader:
    """Reads the κ, κ_IA patches of an :class:`ExamplePlan` from the HDF5 files.

    Files are opened on first use and kept open (at most :data:`MAX_OPEN_FILES`, least recently
    used closed first). Thread-safe: ``tf.data`` calls :meth:`read` from several threads.
    """

    def __init__(self, cosmologies: Sequence[CosmologyMaps]) -> None:
        self.cosmologies = list(cosmologies)
        self._open: OrderedDict[str, h5py.File] = OrderedDict()
        self._lock = threading.Lock()

    def _file(self, path: str) -> h5py.File:
        fh = self._open.get(path)
        if fh is None:
            fh = h5py.File(path, "r")
            self._open[path] = fh
            while len(self._open) > MAX_OPEN_FILES:
                self._open.popitem(last=False)[1].close()
        self._open.move_to_end(path)
        return fh

    def read(self, plan: ExamplePlan) -> tuple[np.ndarray, np.ndarray]:
        """κ and κ_IA, float32 (n_patches, n_bins, N, N), patches in the plan's order."""
        cosmo = self.cosmologies[plan.cosmology]
        n = len(plan.realisation)
        kappa = np.empty((n, cosmo.n_bins, cosmo.n_pix, cosmo.n_pix), np.float32)
        kappa_ia = np.empty_like(kappa)
        with self._lock:
            for fi in np.unique(plan.file_index):
                where = np.flatnonzero(plan.file_index == fi)
                # h5py point selection needs increasing, unique indices.
                wanted, inverse = np.unique(plan.realisation[where], return_inverse=True)
                fh = self._file(cosmo.files[fi])
                kappa[where] = fh["kappa"][wanted][inverse]
                kappa_ia[where] = fh["kappa_ia"][wanted][inverse]
        return kappa, kappa_ia

    def close(self) -> None:
        """Close every open file."""
        with self._lock:
            while self._open:
                self._open.popitem()[1].close()


def per_replica_batch(global_batch: int, num_replicas: int) -> int:
    """Surveys per replica; the global batch must split evenly over the replicas."""
    if global_batch % num_replicas:
        raise ValueError(
            f"cosmologies per step ({global_batch}) must be a multiple of the number of "
            f"replicas ({num_replicas})"
        )
    return global_batch // num_replicas


def dataset_for_replicas(
    *,
    planner: ExamplePlanner,
    reader: MapReader,
    start_step: int,
    stop_step: int | None,
    num_replicas: int,
    pipeline_id: int = 0,
    num_pipelines: int = 1,
    threads: int = 2,
    prefetch: int = 2,
    cache: bool = False,
) -> tf.data.Dataset:
    """Per-replica batches of steps ``[start_step, stop_step)`` for one input pipeline.

    Replica ``r`` of a step gets examples ``[r b, (r + 1) b)`` (``b`` =
    :func:`per_replica_batch`); input pipeline ``p`` (one per worker) reads only the examples of
    its ``num_replicas / num_pipelines`` local replicas and yields their batches in replica order,
    which is how ``tf.distribute`` hands consecutive elements to the local devices.

    Parameters
    ----------
    planner, reader
        Draws and reading.
    start_step, stop_step
        Global steps to produce (``stop_step=None``: endless).
    num_replicas
        Replicas in sync over all workers.
    pipeline_id, num_pipelines
        This input pipeline and how many there are (``tf.distribute.InputContext``).
    threads
        Parallel example reads.
    prefetch
        Per-replica batches prefetched.
    cache
        Keep the read examples in memory (the fixed validation batch).
    """
    import tensorflow as tf

    b = per_replica_batch(planner.per_step, num_replicas)
    if num_replicas % num_pipelines:
        raise ValueError(f"{num_replicas} replicas do not split over {num_pipelines} input pipelines")
    local = (num_replicas // num_pipelines) * b  # examples of this pipeline per step
    first = pipeline_id * local
    cosmo = planner.cosmologies[0]
    maps_shape = (planner.n_patches, cosmo.n_bins, cosmo.n_pix, cosmo.n_pix)

    def read(index: np.int64) -> tuple[np.ndarray | np.generic, ...]:
        step, j = divmod(int(index), local)
        plan = planner.plan(step, first + j)
        kappa, kappa_ia = reader.read(plan)
        return kappa, kappa_ia, np.float32(plan.a_ia), plan.seed, plan.theta

    def to_element(index: tf.Tensor) -> dict[str, tf.Tensor]:
        kappa, kappa_ia, a_ia, seed, theta = tf.numpy_function(
            read, [index], [tf.float32, tf.float32, tf.float32, tf.int64, tf.float32], stateful=False
        )
        kappa.set_shape(maps_shape)
        kappa_ia.set_shape(maps_shape)
        a_ia.set_shape(())
        seed.set_shape((2,))
        theta.set_shape((3,))
        return {"kappa": kappa, "kappa_ia": kappa_ia, "a_ia": a_ia, "seed": seed, "theta": theta}

    stop = None if stop_step is None else int(stop_step) * local
    indices = (
        tf.data.Dataset.range(int(start_step) * local, stop)
        if stop is not None
        else tf.data.Dataset.range(int(start_step) * local, np.iinfo(np.int64).max)
    )
    ds = indices.map(to_element, num_parallel_calls=max(1, int(threads)), deterministic=True)
    ds = ds.batch(b, drop_remainder=True)
    if cache:
        ds = ds.cache()
    options = tf.data.Options()
    # The order of examples is part of the run's identity: keep it under parallel reads.
    options.deterministic = True
    return ds.with_options(options).prefetch(max(1, int(prefetch)))


def describe_cosmologies(cosmologies: Sequence[CosmologyMaps]) -> list[Mapping[str, Any]]:
    """JSON-able summary (id, parameters, files, realisations) for logs and provenance."""
    return [
        {
            "cosmology_id": c.cosmology_id,
            "omega_m": c.omega_m,
            "sigma8": c.sigma8,
            "files": list(c.files),
            "n_realisations": list(c.n_realisations),
        }
        for c in cosmologies
    ]
