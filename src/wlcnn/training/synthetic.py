"""Small synthetic map files for tests, benchmarks and development of the training stage.

The files have the map-file layout of :mod:`wlcnn.maps.mapfile` (``/kappa``, ``/kappa_ia``
float32 (realisation, bin, y, x) and the root attributes the input pipeline reads), filled with
Gaussian random fields whose amplitude and correlation length depend on (Ωm, σ8), so that a
network can learn something from them in a few steps. They are not lensing maps.

Examples
--------
>>> import tempfile
>>> train, test = write_synthetic_map_files(tempfile.mkdtemp(), cosmologies=[(0.3, 0.8)],
...                                         n_realisations=2, n_bins=2, n_pix=16, seed=1)
>>> len(train), len(test)
(1, 1)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from wlcnn.atomic import atomic_path
from wlcnn.seeding import rng_for

__all__ = ["synthetic_maps", "write_synthetic_map_files"]

#: rms of κ at σ8 = 0.8, Ωm = 0.3 (a few per cent, like lensing maps at 2 arcmin).
KAPPA_RMS = 0.02
#: Correlation length in pixels at Ωm = 0.3.
BASE_SCALE_PIX = 3.0
#: κ_IA relative to κ (negative: IA reduces the lensing signal for A_IA > 0).
IA_RATIO = -0.1


def _field(rng: np.random.Generator, shape: tuple[int, ...], scale_pix: float) -> np.ndarray:
    n = shape[-1]
    white = np.fft.fft2(rng.standard_normal(shape))
    k = np.fft.fftfreq(n)
    kk = np.hypot(*np.meshgrid(k, k, indexing="ij"))
    field = np.fft.ifft2(white * np.exp(-0.5 * (kk * 2 * np.pi * scale_pix) ** 2)).real
    return field / field.std(axis=(-2, -1), keepdims=True)


def synthetic_maps(
    *, omega_m: float, sigma8: float, n_realisations: int, n_bins: int, n_pix: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """κ and κ_IA, float32 (realisation, bin, n_pix, n_pix), for one cosmology."""
    shape = (n_realisations, n_bins, n_pix, n_pix)
    amplitude = KAPPA_RMS * (sigma8 / 0.8) * (omega_m / 0.3) ** 0.5
    bins = (1.0 + 0.5 * np.arange(n_bins))[None, :, None, None]  # deeper bins: more signal
    kappa = amplitude * bins * _field(rng, shape, BASE_SCALE_PIX * omega_m / 0.3)
    kappa_ia = IA_RATIO * amplitude * _field(rng, shape, 1.0)
    return kappa.astype(np.float32), kappa_ia.astype(np.float32)


def write_synthetic_map_files(
    directory: str | Path,
    *,
    cosmologies: Sequence[tuple[float, float]],
    n_realisations: int,
    n_bins: int,
    n_pix: int,
    seed: int,
    n_train_sims: int = 1,
    n_test_sims: int = 1,
) -> tuple[list[Path], list[Path]]:
    """Write one file per (cosmology, simulation); returns (train files, test files).

    Parameters
    ----------
    directory
        Output directory (``c000/sim00.h5`` ...).
    cosmologies
        (Ωm, σ8) pairs.
    n_realisations, n_bins, n_pix
        Shape of each file's stacks.
    seed
        Base seed (:func:`wlcnn.seeding.rng_for`).
    n_train_sims, n_test_sims
        Simulations per cosmology with role ``train`` / ``test``.
    """
    out = Path(directory)
    train: list[Path] = []
    test: list[Path] = []
    for ci, (om, s8) in enumerate(cosmologies):
        cid = f"c{ci:03d}"
        for si in range(n_train_sims + n_test_sims):
            role = "train" if si < n_train_sims else "test"
            kappa, kappa_ia = synthetic_maps(
                omega_m=om,
                sigma8=s8,
                n_realisations=n_realisations,
                n_bins=n_bins,
                n_pix=n_pix,
                rng=rng_for(seed, "synthetic_maps", cid, si),
            )
            path = out / cid / f"sim{si:02d}.h5"
            with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w") as fh:
                fh.attrs.update(
                    {
                        "format": "wlcnn.maps",
                        "format_version": 1,
                        "mode": "synthetic",
                        "role": role,
                        "cosmology_id": cid,
                        "simulation": f"sim{si:02d}",
                        "cosmology": json.dumps({"omega_m": om, "sigma8": s8}),
                        "born": True,
                        "n_realisations": n_realisations,
                        "n_bins": n_bins,
                        "n_pix": n_pix,
                    }
                )
                fh["kappa"] = kappa
                fh["kappa_ia"] = kappa_ia
            (train if role == "train" else test).append(path)
    return train, test
