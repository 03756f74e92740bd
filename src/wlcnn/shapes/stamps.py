"""Postage stamps of sheared parametric galaxies (GalSim), and the chunked HDF5 stamp file.

One stamp (``stamps.stamp_size``² pixels of ``pixel_scale_arcsec``) per galaxy, drawn like the
seed paper's simulations (§3, §4.2) but from parametric profiles:

- a Sérsic profile: index n ~ U(``sersic_n``) on a grid of :data:`SERSIC_N_STEP` (GalSim
  tabulates each index once, so the grid keeps the draws fast), half-light radius log-uniform in
  ``half_light_radius_arcsec``, flux log-uniform in ``flux``;
- an intrinsic ellipticity (reduced-shear convention, ``|e| = (a - b) / (a + b)``) Gaussian per
  component with ``sigma_intrinsic``, redrawn where ``|e| >=`` :data:`MAX_INTRINSIC_ELLIPTICITY`;
- a lensing shear g ~ U(−``shear_max``, ``shear_max``) per component, applied after the
  intrinsic shape;
- convolution with the PSF (``psf.profile``: ``moffat``, ground-based, ``fwhm_arcsec`` and
  ``moffat_beta``; ``airy``, space-like, ``lam_over_diam_arcsec`` and ``obscuration``);
- Gaussian pixel noise of the σ that gives the drawn optimal S/N, log-uniform in ``snr``:
  S/N = sqrt(Σ I²) / σ over the noise-free stamp I (GalSim's definition);
- the seed paper's augmentations (ii) and (iii) for training sets only: scale × U(1 ± ``scale_augmentation``),
  centroid offset U(± ``max_offset_pix``) per axis. Augmentation (iv), rotations, is implicit:
  intrinsic position angles are uniform already. Calibration / test sets are not augmented.

Every stamp's draws come from :func:`wlcnn.seeding.rng_for` (seed, "shapes_stamps", label,
index): a stamp is the same whichever chunk or job draws it.

The stamp file (HDF5, written through :func:`wlcnn.atomic.atomic_path`, in chunks of
``chunk_stamps``) holds ``stamps`` (N, S, S) float32, ``shear`` (N, 2) (the true g, or for a
rendered catalogue the galaxy's lensed shape), ``e_intrinsic``, ``snr``,
``half_light_radius_arcsec``, ``sersic_n``, ``flux``, ``noise_sigma``, ``offset_pix``, ``scale``,
the PSF image ``psf_image`` and the attributes ``pixel_scale_arcsec``, ``psf`` (JSON) and
``provenance``. A stamp catalogue adds ``ra``, ``dec``, ``z_b`` (and optionally ``weight``); real
stamps (e.g. COSMOS cut-outs a user supplies) go through the same reader.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from wlcnn.atomic import atomic_path
from wlcnn.seeding import rng_for
from wlcnn.shapes.settings import StampSettings
from wlcnn.survey.catalogue import CatalogueError

__all__ = [
    "MAX_INTRINSIC_ELLIPTICITY",
    "SERSIC_N_STEP",
    "StampSet",
    "make_psf",
    "psf_image",
    "read_stamp_file",
    "render_shapes",
    "simulate_stamps",
    "write_stamp_catalogue",
    "write_stamp_file",
]

#: Grid of the Sérsic indices drawn (GalSim builds one profile table per distinct index).
SERSIC_N_STEP = 0.1
#: Intrinsic ellipticities at or above this modulus are redrawn (a nearly flat disc at most).
MAX_INTRINSIC_ELLIPTICITY = 0.9
#: Largest FFT GalSim may use for one stamp (large, faint Sérsic-4 wings otherwise refuse).
_MAX_FFT_SIZE = 16384
#: Per-object datasets of a stamp file besides the stamps (name -> number of columns, 0: scalar).
_TRUTH_FIELDS = {
    "shear": 2,
    "e_intrinsic": 2,
    "snr": 0,
    "half_light_radius_arcsec": 0,
    "sersic_n": 0,
    "flux": 0,
    "noise_sigma": 0,
    "offset_pix": 2,
    "scale": 0,
}


@dataclass
class StampSet:
    """Stamps and what was drawn for them (one row per stamp)."""

    stamps: np.ndarray
    shear: np.ndarray
    e_intrinsic: np.ndarray
    snr: np.ndarray
    half_light_radius_arcsec: np.ndarray
    sersic_n: np.ndarray
    flux: np.ndarray
    noise_sigma: np.ndarray
    offset_pix: np.ndarray
    scale: np.ndarray

    def __len__(self) -> int:
        return int(self.stamps.shape[0])

    @staticmethod
    def concatenate(parts: Sequence[StampSet]) -> StampSet:
        """One set from several, in order."""
        return StampSet(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(StampSet)}
        )


def make_psf(psf: Mapping[str, Any]) -> Any:
    """The GalSim PSF of a ``shapes.stamps.psf`` block (``moffat`` or ``airy``)."""
    import galsim  # lazy: only stamp drawing and HSM need GalSim

    if psf["profile"] == "moffat":
        return galsim.Moffat(beta=float(psf["moffat_beta"]), fwhm=float(psf["fwhm_arcsec"]))
    if psf["profile"] == "airy":
        return galsim.Airy(
            lam_over_diam=float(psf["lam_over_diam_arcsec"]), obscuration=float(psf["obscuration"])
        )
    raise ValueError(f"shapes.stamps.psf.profile: expected 'moffat' or 'airy', found {psf['profile']!r}")


def psf_image(settings: StampSettings) -> np.ndarray:
    """The PSF drawn on a stamp's pixel grid (unit flux), as HSM needs it."""
    image = make_psf(settings.psf).drawImage(
        nx=settings.stamp_size, ny=settings.stamp_size, scale=settings.pixel_scale_arcsec
    )
    return image.array.astype(np.float32)


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]))))


def _intrinsic(rng: np.random.Generator, sigma: float) -> np.ndarray:
    e = rng.normal(0.0, sigma, size=2)
    while np.hypot(*e) >= MAX_INTRINSIC_ELLIPTICITY:
        e = rng.normal(0.0, sigma, size=2)
    return e


def _draw_one(
    settings: StampSettings,
    rng: np.random.Generator,
    psf: Any,
    *,
    shear: np.ndarray | None,
    e_intrinsic: np.ndarray | None,
    augment: bool,
) -> dict[str, Any]:
    """Draw one stamp: the galaxy's parameters from ``rng``, unless given (shear, intrinsic shape)."""
    import galsim  # lazy: only stamp drawing needs GalSim

    low, high = settings.sersic_n
    n_index = round(round(rng.uniform(low, high) / SERSIC_N_STEP) * SERSIC_N_STEP, 6)
    hlr = _log_uniform(rng, settings.half_light_radius_arcsec)
    flux = _log_uniform(rng, settings.flux)
    snr = _log_uniform(rng, settings.snr)
    e_int = (
        _intrinsic(rng, settings.sigma_intrinsic) if e_intrinsic is None else np.asarray(e_intrinsic, float)
    )
    g = (
        rng.uniform(-settings.shear_max, settings.shear_max, size=2)
        if shear is None
        else np.asarray(shear, float)
    )
    if augment:
        scale = 1.0 + rng.uniform(-settings.scale_augmentation, settings.scale_augmentation)
        offset = rng.uniform(-settings.max_offset_pix, settings.max_offset_pix, size=2)
    else:
        scale, offset = 1.0, np.zeros(2)
    gsparams = galsim.GSParams(maximum_fft_size=_MAX_FFT_SIZE)
    galaxy = galsim.Sersic(n=n_index, half_light_radius=hlr * scale, flux=flux, gsparams=gsparams)
    galaxy = galaxy.shear(g1=float(e_int[0]), g2=float(e_int[1])).shear(g1=float(g[0]), g2=float(g[1]))
    image = galsim.Convolve(galaxy, psf, gsparams=gsparams).drawImage(
        nx=settings.stamp_size,
        ny=settings.stamp_size,
        scale=settings.pixel_scale_arcsec,
        offset=tuple(offset),
    )
    clean = image.array.astype(np.float64)
    sigma = float(np.sqrt(np.sum(clean**2)) / snr)
    noisy = clean + rng.normal(0.0, sigma, size=clean.shape)
    return {
        "stamps": noisy.astype(np.float32),
        "shear": g,
        "e_intrinsic": e_int,
        "snr": snr,
        "half_light_radius_arcsec": hlr * scale,
        "sersic_n": n_index,
        "flux": flux,
        "noise_sigma": sigma,
        "offset_pix": offset,
        "scale": scale,
    }


def _stack(rows: list[dict[str, Any]], stamp_size: int) -> StampSet:
    if not rows:
        empty = {name: np.empty((0, width) if width else 0) for name, width in _TRUTH_FIELDS.items()}
        return StampSet(stamps=np.empty((0, stamp_size, stamp_size), np.float32), **empty)
    return StampSet(**{f.name: np.asarray([r[f.name] for r in rows]) for f in fields(StampSet)})


def simulate_stamps(
    settings: StampSettings, *, seed: int, label: str, start: int, stop: int, augment: bool
) -> StampSet:
    """Stamps ``start`` to ``stop`` (exclusive) of the set ``label``; see the module docstring.

    Parameters
    ----------
    settings
        ``shapes.stamps``.
    seed
        The run's base seed (``run.seed``).
    label
        The set's identity in the seeds (e.g. ``"train"``, ``"calibration"``).
    start, stop
        Stamp indices (a stamp's draws depend on its index only, not on the chunking).
    augment
        Apply the training augmentations (scale, centroid offset).
    """
    psf = make_psf(settings.psf)
    rows = [
        _draw_one(
            settings,
            rng_for(seed, "shapes_stamps", label, i),
            psf,
            shear=None,
            e_intrinsic=None,
            augment=augment,
        )
        for i in range(start, stop)
    ]
    return _stack(rows, settings.stamp_size)


def render_shapes(
    settings: StampSettings, *, e1: np.ndarray, e2: np.ndarray, seed: int, label: str
) -> StampSet:
    """Stamps of galaxies whose lensed shape is given (a catalogue's ellipticities).

    The galaxy is drawn with the intrinsic shape ``(e1, e2)`` and no further shear, which is the
    same image as its unlensed shape sheared by its true shear; profile, size, flux and S/N are
    drawn as for simulated stamps, without augmentation. ``shear`` of the result holds the shapes.
    """
    psf = make_psf(settings.psf)
    rows = []
    for i, e in enumerate(zip(np.asarray(e1, float), np.asarray(e2, float), strict=True)):
        row = _draw_one(
            settings,
            rng_for(seed, "shapes_render", label, i),
            psf,
            shear=np.zeros(2),
            e_intrinsic=np.array(e),
            augment=False,
        )
        row["shear"] = np.array(e)
        rows.append(row)
    return _stack(rows, settings.stamp_size)


def write_stamp_file(
    path: str | Path,
    settings: StampSettings,
    *,
    n: int,
    seed: int,
    label: str,
    augment: bool,
    provenance: Mapping[str, Any],
) -> None:
    """Simulate ``n`` stamps and write them chunk by chunk to an HDF5 stamp file, atomically."""
    import h5py

    size = settings.stamp_size
    chunk = max(1, min(settings.chunk_stamps, n))
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w") as fh:
        stamps = fh.create_dataset("stamps", shape=(n, size, size), dtype="f4", chunks=(chunk, size, size))
        truth = {
            name: fh.create_dataset(name, shape=(n, width) if width else (n,), dtype="f8")
            for name, width in _TRUTH_FIELDS.items()
        }
        for begin in range(0, n, chunk):
            part = simulate_stamps(
                settings, seed=seed, label=label, start=begin, stop=min(begin + chunk, n), augment=augment
            )
            stamps[begin : begin + len(part)] = part.stamps
            for name, dataset in truth.items():
                dataset[begin : begin + len(part)] = getattr(part, name)
        _write_attributes(fh, settings, provenance=provenance)


def write_stamp_catalogue(
    path: str | Path,
    stamps: StampSet,
    *,
    columns: Mapping[str, np.ndarray],
    settings: StampSettings,
    provenance: Mapping[str, Any],
) -> None:
    """Write rendered stamps with per-galaxy ``columns`` (``ra``, ``dec``, ``z_b``) as a stamp catalogue."""
    import h5py

    size = settings.stamp_size
    chunk = max(1, min(settings.chunk_stamps, len(stamps)))
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w") as fh:
        fh.create_dataset("stamps", data=stamps.stamps, chunks=(chunk, size, size))
        for name in _TRUTH_FIELDS:
            fh.create_dataset(name, data=getattr(stamps, name))
        for name, values in columns.items():
            fh.create_dataset(name, data=np.asarray(values, dtype=np.float64))
        _write_attributes(fh, settings, provenance=provenance)


def _write_attributes(fh: Any, settings: StampSettings, *, provenance: Mapping[str, Any]) -> None:
    fh.create_dataset("psf_image", data=psf_image(settings))
    fh.attrs["pixel_scale_arcsec"] = settings.pixel_scale_arcsec
    fh.attrs["psf"] = json.dumps(dict(settings.psf))
    fh.attrs["provenance"] = json.dumps(dict(provenance), default=str)


def read_stamp_file(
    path: str | Path, *, stamp_size: int, require: Sequence[str] = (), truth: bool = True
) -> tuple[StampSet | np.ndarray, dict[str, np.ndarray]]:
    """Read and check a stamp file (simulated set or stamp catalogue).

    Parameters
    ----------
    path
        HDF5 stamp file.
    stamp_size
        The stamp side the estimator expects.
    require
        Further per-object datasets that must exist (e.g. ``ra``, ``dec``, ``z_b``).
    truth
        Return a :class:`StampSet` (needs every truth dataset); else the stamps array alone.

    Returns
    -------
    stamps, extra
        The stamps (a :class:`StampSet` or an array) and the ``require`` datasets.

    Raises
    ------
    CatalogueError
        Missing file or dataset, wrong stamp shape, rows that disagree in number, non-finite stamps.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise CatalogueError(path, None, "an existing HDF5 stamp file", "no such file")
    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise CatalogueError(path, None, "an HDF5 stamp file", f"unreadable file ({exc})") from None
    with fh:
        needed = ["stamps", *(list(_TRUTH_FIELDS) if truth else []), *require]
        for name in needed:
            if name not in fh:
                raise CatalogueError(path, name, "this dataset to exist", f"datasets {sorted(fh)}")
        shape = fh["stamps"].shape
        if len(shape) != 3 or shape[1:] != (stamp_size, stamp_size):
            raise CatalogueError(
                path,
                "stamps",
                f"shape (N, {stamp_size}, {stamp_size}) (shapes.stamps.stamp_size)",
                f"shape {shape}",
            )
        data = {name: np.asarray(fh[name][...]) for name in needed}
    n = shape[0]
    for name, values in data.items():
        if values.shape[0] != n:
            raise CatalogueError(path, name, f"{n} rows (one per stamp)", f"{values.shape[0]} rows")
    bad = ~np.isfinite(data["stamps"]).all(axis=(1, 2))
    if bad.any():
        raise CatalogueError(
            path, "stamps", "finite pixel values", "NaN or inf", row=int(np.flatnonzero(bad)[0])
        )
    extra = {name: data[name] for name in require}
    if not truth:
        return data["stamps"], extra
    return StampSet(**{f.name: data[f.name] for f in fields(StampSet)}), extra
