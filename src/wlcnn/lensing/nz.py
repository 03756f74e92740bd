"""Source redshift distributions n(z): KiDS 'DIR' style text files, synthetic demo files.

File format (as published by KiDS-450): plain text, one file per tomographic bin, ``#`` starts
a comment (whole line or the rest of a line), blank lines are ignored, every other line holds
``n_columns`` numbers of which the first two are ``z`` and ``n(z)``. ``n(z)`` may have any
normalisation (counts or a density per unit redshift); it must be finite and non-negative, and
``z`` must increase strictly. Every format problem is reported as :class:`NzError` naming the
file, the line and what was expected there.

The ``z`` column is read according to ``z_convention``:

``"lower_edge"``
    KiDS-450 DIR files are histograms: ``z`` is the *lower edge* of a bin of fixed width and
    ``n`` the bin's value. The nodes of the returned distribution are the bin mid-points, with a
    node ``n = 0`` prepended at ``z = 0`` (as the KiDS-450 likelihood codes do) so that the
    distribution reaches ``z = 0`` without a step.
``"point"``
    ``z`` are sample locations of a continuous ``n(z)``.

Either way an :class:`NzTable` is a piecewise-linear function through its nodes, zero outside
``[z[0], z[-1]]``: the same function the Born weights integrate (:mod:`wlcnn.lensing.born`)
and pyccl interpolates (:mod:`wlcnn.lensing.theory`), so maps and theory see one n(z).

The demo ships synthetic files in the KiDS format, made by :func:`write_demo_nz` (mean n(z) per
bin and a few bootstrap variants seeded through :func:`wlcnn.seeding.rng_for`); regenerate with
``python -m wlcnn.lensing.nz --out data/demo/nz --seed 42 --n-bootstrap 5``.

Examples
--------
>>> import numpy as np
>>> from wlcnn.lensing.nz import NzTable
>>> t = NzTable(z=np.array([0.0, 0.5, 1.0]), nz=np.array([0.0, 2.0, 0.0]))
>>> float(t.integral()), float(t.mean_redshift())
(1.0, 0.5)
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

from wlcnn.atomic import atomic_write_text
from wlcnn.provenance import file_record
from wlcnn.seeding import rng_for

__all__ = [
    "DEMO_BOOTSTRAP_PATTERN",
    "DEMO_MEAN_PATTERN",
    "KIDS450_PHOTOZ_EDGES",
    "NzError",
    "NzFileNotFoundError",
    "NzTable",
    "ZConvention",
    "bootstrap_nz_histograms",
    "bootstrap_nz_paths",
    "load_nz_from_config",
    "main",
    "nz_identity",
    "read_nz",
    "read_nz_bins",
    "read_nz_columns",
    "synthetic_nz_histograms",
    "write_demo_nz",
    "write_nz_columns",
]

ZConvention = Literal["lower_edge", "point"]
_Z_CONVENTIONS: tuple[str, ...] = ("lower_edge", "point")

#: Photometric-redshift (Z_B) bin edges of the four KiDS-450 tomographic bins.
KIDS450_PHOTOZ_EDGES: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
#: File names of the demo files, relative to the demo n(z) directory; ``bin`` counts from 1
#: (like the KiDS file names), ``realisation`` from 0.
DEMO_MEAN_PATTERN = "nz_bin{bin}.txt"
DEMO_BOOTSTRAP_PATTERN = "bootstrap/nz_bin{bin}_{realisation:04d}.txt"
#: Relative tolerance on the equal spacing of histogram lower edges.
_EDGE_SPACING_RTOL = 1e-6
#: Significant digits written for n(z); the generators round to exactly what is written, so a
#: file read back gives the generator's numbers bit for bit.
_NZ_DIGITS = 6
#: Decimals written for the z column (demo bin widths are multiples of 1e-3).
_Z_DECIMALS = 4

# Synthetic demo n(z) (a Smail-type parent distribution cut in photo-z with Gaussian scatter).
#: Parent distribution p(z) ∝ z^α exp(-(z/z0)^β): KiDS-like shape with median ≈ 0.6.
_PARENT_ALPHA, _PARENT_BETA, _PARENT_Z0 = 2.0, 1.5, 0.45
#: Photo-z scatter σ_z = σ0 (1 + z).
_PHOTOZ_SIGMA0 = 0.06
#: Exponent of the taper (1 - (z/z_max)^p) that takes p(z) smoothly to 0 at the maximum z.
_TAPER_POWER = 6
#: Gauss-Legendre points used to average the continuous n(z) over each histogram bin.
_HIST_GL_ORDER = 8
#: Bootstrap variants: rms redshift shift of a whole bin's n(z), and the effective number of
#: calibration galaxies per tomographic bin that sets the per-histogram-bin Poisson-like noise.
_BOOT_SHIFT_SIGMA = 0.015
_BOOT_N_CALIBRATION = 3000.0


class NzError(ValueError):
    """An n(z) file or table is invalid; ``path`` and ``line`` (1-based) say where."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        where = "" if path is None else (f"{path}:{line}: " if line is not None else f"{path}: ")
        super().__init__(f"{where}{message}")


class NzFileNotFoundError(NzError, FileNotFoundError):
    """An n(z) file does not exist."""


@dataclass(frozen=True)
class NzTable:
    """A redshift distribution: piecewise linear through nodes, zero outside them.

    Parameters
    ----------
    z
        Node redshifts, strictly increasing, ``>= 0``.
    nz
        ``n(z)`` at the nodes (per unit redshift, any normalisation), finite and ``>= 0``,
        not all zero.
    source
        Where the table came from (a file path), for messages and provenance.
    """

    z: np.ndarray
    nz: np.ndarray
    source: str = field(default="<memory>", compare=False)

    def __post_init__(self) -> None:
        z = np.asarray(self.z, dtype=np.float64).copy()
        nz = np.asarray(self.nz, dtype=np.float64).copy()
        if z.ndim != 1 or z.shape != nz.shape or z.size < 2:
            raise NzError(
                f"expected two 1-D arrays of equal length >= 2, got shapes {z.shape} and {nz.shape}",
                path=self.source,
            )
        if not (np.all(np.isfinite(z)) and np.all(np.isfinite(nz))):
            raise NzError("z and n(z) must be finite", path=self.source)
        if z[0] < 0.0 or np.any(np.diff(z) <= 0.0):
            raise NzError("z must be >= 0 and strictly increasing", path=self.source)
        if np.any(nz < 0.0) or not np.any(nz > 0.0):
            raise NzError("n(z) must be >= 0 and not all zero", path=self.source)
        z.setflags(write=False)
        nz.setflags(write=False)
        object.__setattr__(self, "z", z)
        object.__setattr__(self, "nz", nz)

    def evaluate(self, z: npt.ArrayLike) -> np.ndarray:
        """Evaluate n at redshift(s) ``z`` (linear between nodes, 0 outside ``[z[0], z[-1]]``)."""
        return np.interp(np.asarray(z, dtype=np.float64), self.z, self.nz, left=0.0, right=0.0)

    def integral(self, *, z_max: float | None = None) -> float:
        """∫ n(z) dz over ``[0, z_max]`` (the whole table when ``z_max`` is None), exact."""
        table = self if z_max is None else self.truncated(z_max=z_max)
        return float(np.sum(0.5 * (table.nz[1:] + table.nz[:-1]) * np.diff(table.z)))

    def mean_redshift(self) -> float:
        """∫ z n dz / ∫ n dz, exact for the piecewise-linear n."""
        z0, z1, n0, n1 = self.z[:-1], self.z[1:], self.nz[:-1], self.nz[1:]
        # ∫ z (n0 + (n1 - n0) t) dz over one segment, z = z0 + t h.
        h = z1 - z0
        first = h * (z0 * (n0 + n1) / 2 + h * (n0 / 6 + n1 / 3))
        return float(np.sum(first) / self.integral())

    def normalised(self) -> NzTable:
        """The same shape scaled to ∫ n dz = 1."""
        return NzTable(z=self.z, nz=self.nz / self.integral(), source=self.source)

    def truncated(self, *, z_max: float) -> NzTable:
        """n(z) for ``z <= z_max`` and 0 above: nodes beyond dropped, a node added at ``z_max``.

        The result is still 0 outside its nodes, so it steps from ``n(z_max)`` to 0 at
        ``z_max`` exactly as the Born weights (whose source redshifts end at ``z_max``) see it.
        """
        if z_max >= self.z[-1]:
            return self
        if z_max <= self.z[0]:
            raise NzError(f"z_max = {z_max} is below the first node z = {self.z[0]}", path=self.source)
        keep = self.z < z_max
        z = np.append(self.z[keep], z_max)
        nz = np.append(self.nz[keep], self.evaluate(z_max))
        return NzTable(z=z, nz=nz, source=self.source)


def _parse_lines(text: str, *, path: Path, n_columns: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Parse the data lines of an n(z) file; returns z, n and the 1-based line numbers."""
    zs: list[float] = []
    ns: list[float] = []
    lines: list[int] = []
    expected = f"{n_columns} numeric columns (z, n(z){', ...' if n_columns > 2 else ''})"
    for number, raw in enumerate(text.splitlines(), start=1):
        body = raw.split("#", 1)[0].strip()
        if not body:
            continue
        tokens = body.split()
        if len(tokens) != n_columns:
            raise NzError(
                f"expected {expected}, found {len(tokens)} column(s): {body!r}", path=path, line=number
            )
        values = []
        for column, token in enumerate(tokens[:2], start=1):
            try:
                values.append(float(token))
            except ValueError:
                raise NzError(
                    f"expected {expected}; column {column} is not a number: {token!r}", path=path, line=number
                ) from None
        for column, token in enumerate(tokens[2:], start=3):
            try:
                float(token)
            except ValueError:
                raise NzError(
                    f"expected {expected}; column {column} is not a number: {token!r}", path=path, line=number
                ) from None
        z, n = values
        if not (math.isfinite(z) and math.isfinite(n)):
            raise NzError(f"expected finite z and n(z), found z={z!r}, n={n!r}", path=path, line=number)
        if z < 0.0:
            raise NzError(f"expected z >= 0, found z={z!r}", path=path, line=number)
        if n < 0.0:
            raise NzError(f"expected n(z) >= 0, found n={n!r} at z={z!r}", path=path, line=number)
        if zs and z <= zs[-1]:
            raise NzError(
                f"expected z to increase strictly, found z={z!r} after z={zs[-1]!r} (line {lines[-1]})",
                path=path,
                line=number,
            )
        zs.append(z)
        ns.append(n)
        lines.append(number)
    return np.asarray(zs), np.asarray(ns), lines


def read_nz_columns(path: str | Path, *, n_columns: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Read the raw ``z`` and ``n(z)`` columns of an n(z) text file, validated.

    Parameters
    ----------
    path
        The file.
    n_columns
        Number of columns every data line must have; the first two are ``z`` and ``n(z)``
        (some releases add e.g. an error column).

    Returns
    -------
    z, nz
        The two columns as float64 arrays, in file order (``z`` strictly increasing).

    Raises
    ------
    NzFileNotFoundError
        The file does not exist.
    NzError
        A line has the wrong number of columns, a non-numeric or non-finite value, a negative
        ``z`` or ``n``, a ``z`` not above the previous one; or the file has fewer than two data
        lines or ``n`` is zero everywhere. The message names the file and the line.
    """
    if n_columns < 2:
        raise ValueError(f"n_columns must be >= 2, got {n_columns}")
    path = Path(path)
    if not path.is_file():
        raise NzFileNotFoundError("n(z) file does not exist", path=path)
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise NzError(f"expected a text file ({exc})", path=path) from None
    z, n, _ = _parse_lines(text, path=path, n_columns=n_columns)
    if z.size < 2:
        raise NzError(f"expected at least 2 data lines (z, n(z)), found {z.size}", path=path)
    if not np.any(n > 0.0):
        raise NzError("expected some n(z) > 0, found n(z) = 0 on every line", path=path)
    return z, n


def read_nz(path: str | Path, *, z_convention: ZConvention = "lower_edge", n_columns: int = 2) -> NzTable:
    """Read one tomographic bin's n(z) file.

    Parameters
    ----------
    path
        KiDS 'DIR' style text file (see the module docstring).
    z_convention
        ``"lower_edge"`` (KiDS-450 histograms: ``z`` is each bin's lower edge, equal widths) or
        ``"point"`` (``z`` are sample points).
    n_columns
        Columns per data line (first two used).

    Returns
    -------
    NzTable
        Not normalised (normalisation is irrelevant to the weights and spectra, which divide by
        ∫ n dz); ``source`` is the path.

    Raises
    ------
    NzError, NzFileNotFoundError
        See :func:`read_nz_columns`; also unequal bin widths under ``"lower_edge"``.
    """
    if z_convention not in _Z_CONVENTIONS:
        raise ValueError(f"z_convention must be one of {_Z_CONVENTIONS}, got {z_convention!r}")
    z, n = read_nz_columns(path, n_columns=n_columns)
    if z_convention == "lower_edge":
        widths = np.diff(z)
        if not np.allclose(widths, widths[0], rtol=_EDGE_SPACING_RTOL, atol=0.0):
            raise NzError(
                f"expected equally spaced lower bin edges for z_convention='lower_edge', found widths "
                f"from {widths.min():.6g} to {widths.max():.6g}",
                path=path,
            )
        z = z + 0.5 * widths[0]
        if z[0] > 0.0:
            z, n = np.concatenate([[0.0], z]), np.concatenate([[0.0], n])
    return NzTable(z=z, nz=n, source=str(path))


def read_nz_bins(
    paths: Sequence[str | Path], *, z_convention: ZConvention = "lower_edge", n_columns: int = 2
) -> list[NzTable]:
    """Read one n(z) file per tomographic bin (see :func:`read_nz`)."""
    return [read_nz(p, z_convention=z_convention, n_columns=n_columns) for p in paths]


def bootstrap_nz_paths(
    pattern: str, *, n_bins: int, realisation: int, base_dir: str | Path = "."
) -> list[Path]:
    """Paths of bootstrap realisation ``realisation`` for bins ``1..n_bins``.

    ``pattern`` has ``{bin}`` (1-based) and ``{realisation}`` placeholders, e.g.
    ``"data/kids450/bootstrap/nz_DIR_bin{bin}_{realisation:04d}.txt"``.
    """
    return [Path(base_dir) / pattern.format(bin=b, realisation=realisation) for b in range(1, n_bins + 1)]


def load_nz_from_config(
    lensing: Mapping[str, Any], *, base_dir: str | Path = ".", realisation: int | None = None
) -> list[NzTable]:
    """The n(z) of every bin named by a configuration's ``lensing`` block.

    Parameters
    ----------
    lensing
        The ``lensing`` mapping (``nz_files``, optional ``nz_bootstrap_pattern``,
        ``nz_z_convention``, ``nz_columns``).
    base_dir
        Directory the paths are relative to.
    realisation
        None for the mean n(z) (``nz_files``, used for training maps), else the index of a
        bootstrap realisation (``nz_bootstrap_pattern``; test set only).

    Returns
    -------
    list of NzTable
        One per tomographic bin, in bin order.
    """
    convention = lensing.get("nz_z_convention", "lower_edge")
    n_columns = int(lensing.get("nz_columns", 2))
    n_bins = len(lensing["nz_files"])
    if realisation is None:
        paths = [Path(base_dir) / p for p in lensing["nz_files"]]
    else:
        if "nz_bootstrap_pattern" not in lensing:
            raise KeyError("lensing.nz_bootstrap_pattern is needed for bootstrap n(z)")
        n_boot = lensing.get("n_nz_bootstrap")
        if n_boot is not None and not 0 <= realisation < n_boot:
            raise ValueError(f"bootstrap realisation {realisation} outside [0, {n_boot})")
        paths = bootstrap_nz_paths(
            lensing["nz_bootstrap_pattern"], n_bins=n_bins, realisation=realisation, base_dir=base_dir
        )
    return read_nz_bins(paths, z_convention=convention, n_columns=n_columns)


def nz_identity(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Provenance records (path, size, sha256) of the n(z) files used for a map."""
    return [file_record(p) for p in paths]


def write_nz_columns(path: str | Path, *, z: np.ndarray, nz: np.ndarray, header: Sequence[str] = ()) -> None:
    """Write ``z``, ``n(z)`` columns in the KiDS text format, atomically.

    Parameters
    ----------
    path
        Target file (parents are created).
    z, nz
        Columns; ``z`` with :data:`_Z_DECIMALS` decimals, ``n`` with :data:`_NZ_DIGITS`
        significant digits.
    header
        Comment lines (written with a leading ``# ``).
    """
    z = np.asarray(z, dtype=np.float64)
    nz = np.asarray(nz, dtype=np.float64)
    if z.shape != nz.shape or z.ndim != 1:
        raise ValueError(f"z and nz must be 1-D of equal length, got {z.shape} and {nz.shape}")
    lines = [f"# {h}" for h in header]
    lines += [f"{zi:.{_Z_DECIMALS}f} {ni:.{_NZ_DIGITS - 1}e}" for zi, ni in zip(z, nz, strict=True)]
    atomic_write_text(path, "\n".join(lines) + "\n")


def _as_written(values: np.ndarray) -> np.ndarray:
    """Round n(z) values to exactly what :func:`write_nz_columns` writes."""
    return np.array([float(f"{v:.{_NZ_DIGITS - 1}e}") for v in np.asarray(values, dtype=np.float64)])


def _synthetic_density(z: np.ndarray, *, photoz_edges: Sequence[float], z_max: float) -> np.ndarray:
    """Continuous synthetic n_i(z) for each photo-z bin, shape (n_bins, z.size)."""
    zc = np.clip(z, 0.0, z_max)
    parent = zc**_PARENT_ALPHA * np.exp(-((zc / _PARENT_Z0) ** _PARENT_BETA))
    parent *= 1.0 - (zc / z_max) ** _TAPER_POWER
    sigma = _PHOTOZ_SIGMA0 * (1.0 + zc)
    lo = np.asarray(photoz_edges[:-1])[:, None]
    hi = np.asarray(photoz_edges[1:])[:, None]
    # Probability that a galaxy at true z has its photo-z in (lo, hi].
    select = ndtr((hi - zc) / sigma) - ndtr((lo - zc) / sigma)
    return np.where((z >= 0.0) & (z <= z_max), parent * select, 0.0)


def synthetic_nz_histograms(
    *,
    photoz_edges: Sequence[float] = KIDS450_PHOTOZ_EDGES,
    z_max: float = 1.4,
    bin_width: float = 0.025,
) -> tuple[np.ndarray, np.ndarray]:
    """KiDS-like synthetic n(z) histograms (deterministic), as written to the demo files.

    A parent distribution ``p(z) ∝ z² exp(-(z/0.45)^1.5)``, tapered to 0 at ``z_max``, cut in
    photometric redshift with Gaussian scatter ``0.06 (1+z)`` into the bins ``photoz_edges``;
    each histogram bin holds the average of that density over the bin.

    Parameters
    ----------
    photoz_edges
        Photo-z bin edges (n_bins + 1).
    z_max
        Largest true redshift (the demo's highest snapshot); a multiple of ``bin_width``.
    bin_width
        Histogram bin width in redshift.

    Returns
    -------
    z_lower, hist
        Lower bin edges, shape (n_hist,), and histograms normalised to ``Σ hist · width = 1``
        (rounded to the digits written), shape (n_bins, n_hist).
    """
    n_hist = round(z_max / bin_width)
    if not math.isclose(n_hist * bin_width, z_max, rel_tol=1e-9):
        raise ValueError(f"z_max ({z_max}) must be a multiple of bin_width ({bin_width})")
    z_lower = np.round(np.arange(n_hist) * bin_width, _Z_DECIMALS)
    x, w = np.polynomial.legendre.leggauss(_HIST_GL_ORDER)
    nodes = z_lower[:, None] + 0.5 * bin_width * (x[None, :] + 1.0)  # (n_hist, q)
    dens = _synthetic_density(nodes.ravel(), photoz_edges=photoz_edges, z_max=z_max).reshape(-1, *nodes.shape)
    hist = 0.5 * np.einsum("bhq,q->bh", dens, w)  # bin averages
    hist /= hist.sum(axis=1, keepdims=True) * bin_width
    return z_lower, np.stack([_as_written(h) for h in hist])


def bootstrap_nz_histograms(
    *, z_lower: np.ndarray, hist: np.ndarray, seed: int, realisation: int
) -> np.ndarray:
    """A bootstrap-like variant of n(z) histograms, seeded by ``(seed, realisation, bin)``.

    Mimics resampling a spectroscopic calibration sample: each bin's n(z) is shifted by a
    random δz ~ N(0, 0.015) and every histogram value scattered with Gamma-distributed noise
    of relative rms ``1/sqrt(N p)``, N = 3000 calibration galaxies per bin and ``p`` the bin's
    probability; empty histogram bins stay empty. Each bin is renormalised.

    Parameters
    ----------
    z_lower, hist
        Output of :func:`synthetic_nz_histograms` (or any histograms on equal-width bins).
    seed
        Base seed (``run.seed``).
    realisation
        Bootstrap realisation index.

    Returns
    -------
    numpy.ndarray
        Shape of ``hist``, normalised, rounded to the digits written.
    """
    z_lower = np.asarray(z_lower, dtype=np.float64)
    width = float(z_lower[1] - z_lower[0])
    centres = z_lower + 0.5 * width
    out = np.empty_like(np.asarray(hist, dtype=np.float64))
    for b, h in enumerate(np.asarray(hist, dtype=np.float64)):
        rng = rng_for(seed, "nz_bootstrap", b + 1, realisation)
        shift = rng.normal(0.0, _BOOT_SHIFT_SIGMA)
        shifted = np.interp(centres - shift, centres, h, left=0.0, right=0.0)
        expected = _BOOT_N_CALIBRATION * shifted * width  # expected calibration counts per bin
        # Gamma(k, 1)/k: mean 1, relative rms 1/sqrt(k) (the Poisson scatter of k galaxies).
        shape = np.maximum(expected, np.finfo(np.float64).tiny)
        noisy = np.where(expected > 0.0, rng.gamma(shape) / shape, 0.0)
        variant = shifted * noisy
        out[b] = _as_written(variant / (variant.sum() * width))
    return out


def write_demo_nz(
    directory: str | Path,
    *,
    seed: int,
    n_bootstrap: int,
    photoz_edges: Sequence[float] = KIDS450_PHOTOZ_EDGES,
    z_max: float = 1.4,
    bin_width: float = 0.025,
) -> list[Path]:
    """Write the demo n(z) files: the mean per bin and ``n_bootstrap`` variants per bin.

    Files follow :data:`DEMO_MEAN_PATTERN` and :data:`DEMO_BOOTSTRAP_PATTERN` under
    ``directory``, in the KiDS-450 DIR format (``z_convention="lower_edge"``). Deterministic:
    the same arguments write the same bytes.

    Returns
    -------
    list of Path
        Every file written.
    """
    directory = Path(directory)
    z_lower, hist = synthetic_nz_histograms(photoz_edges=photoz_edges, z_max=z_max, bin_width=bin_width)
    n_bins = hist.shape[0]
    written: list[Path] = []

    def header(b: int, what: str) -> list[str]:
        return [
            (
                f"wlcnn synthetic demo n(z), tomographic bin {b} of {n_bins}, "
                f"photo-z in ({photoz_edges[b - 1]}, {photoz_edges[b]}]; {what}"
            ),
            f"columns: z (lower edge of a histogram bin of width {bin_width}), n(z) (normalised)",
            "written by wlcnn.lensing.nz.write_demo_nz; regenerate with python -m wlcnn.lensing.nz",
        ]

    for b in range(1, n_bins + 1):
        path = directory / DEMO_MEAN_PATTERN.format(bin=b)
        write_nz_columns(path, z=z_lower, nz=hist[b - 1], header=header(b, "mean distribution"))
        written.append(path)
    for r in range(n_bootstrap):
        variant = bootstrap_nz_histograms(z_lower=z_lower, hist=hist, seed=seed, realisation=r)
        for b in range(1, n_bins + 1):
            path = directory / DEMO_BOOTSTRAP_PATTERN.format(bin=b, realisation=r)
            write_nz_columns(
                path,
                z=z_lower,
                nz=variant[b - 1],
                header=header(b, f"bootstrap realisation {r} (seed {seed})"),
            )
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write the demo n(z) files (see :func:`write_demo_nz`)."""
    parser = argparse.ArgumentParser(
        prog="python -m wlcnn.lensing.nz",
        description="Write the demo n(z) files (mean and bootstrap variants).",
    )
    parser.add_argument("--out", required=True, help="directory for the files (e.g. data/demo/nz)")
    parser.add_argument("--seed", type=int, default=42, help="base seed of the bootstrap variants")
    parser.add_argument("--n-bootstrap", type=int, default=5, help="bootstrap realisations per bin")
    parser.add_argument("--z-max", type=float, default=1.4, help="largest redshift (default 1.4)")
    parser.add_argument("--bin-width", type=float, default=0.025, help="histogram bin width (default 0.025)")
    args = parser.parse_args(argv)
    files = write_demo_nz(
        args.out, seed=args.seed, n_bootstrap=args.n_bootstrap, z_max=args.z_max, bin_width=args.bin_width
    )
    print(f"wrote {len(files)} files under {args.out}")  # noqa: T201 - the CLI reports on stdout
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
