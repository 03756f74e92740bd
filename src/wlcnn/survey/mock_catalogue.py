"""A KiDS-450-like mock shear catalogue, and a mock observation carrying a simulation's shear.

The mock is written in the layout of the real catalogue (a FITS binary table with the configured
column names, ``survey.columns``), so the pipeline reads it through the same ingestion path as
real data. Per patch of ``survey.patch_centres`` (parameters in ``survey.mock``):

- galaxies at a raw density ``n_gal_arcmin2``, modulated by a smooth log-normal density field
  (rms ``density_contrast`` of the log density, correlation length ``density_scale_arcmin``);
- circular holes (``holes_per_deg2``, radii in ``hole_radius_arcmin``: bright-star masks) and
  one empty square of side ``empty_square_deg`` (a missing tile), so that masks are realistic;
- an extra ``outside_fraction`` of galaxies around the patches but inside none (dropped by the
  projection, like the paper's ≈2 of 12.5 M), and ``zb_outside_fraction`` with Z_B outside the
  bins;
- Z_B: a bin drawn with ``bin_fractions``, then the bin's n(z) (``lensing.nz_files``) truncated
  to the bin, or uniform in the bin without n(z) files;
- intrinsic ellipticities Gaussian with σ_e per component (``survey.sigma_e``), |e| < 1;
  lensfit-like weights (gamma distribution, a fraction exactly 0); per-object m ~ N(m_b,
  ``m_scatter``) about ``survey.multiplicative_bias``; additive bias ``survey.additive_bias`` of
  the bin added to both components; a fraction ``invalid_fraction`` of rows with e1 = NaN.

:func:`write_mock_observation` writes the same galaxies (same seed) with ellipticities lensed by
the reduced shear g = γ / (1 − κ) of given maps (e.g. a held-out simulation at the mock
cosmology): e = (e_s + g') / (1 + g'* e_s) + c with g' = (1 + m) g, at the galaxy's pixel and bin.
Galaxies outside every patch or bin are not lensed (they are dropped anyway).

Every draw comes from :func:`wlcnn.seeding.rng_for` (seed, "mock_catalogue", ...): the same
seed gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from wlcnn.atomic import atomic_path
from wlcnn.lensing.nz import load_nz_from_config
from wlcnn.provenance import provenance_record, utc_now
from wlcnn.seeding import rng_for
from wlcnn.survey.kaiser_squires import kappa_to_gamma
from wlcnn.survey.patches import assign_patches, inverse_gnomonic, tomographic_bin
from wlcnn.survey.settings import ARCMIN_PER_DEG, MockSettings, SurveySettings

__all__ = [
    "MockGalaxies",
    "generate_mock_galaxies",
    "lens_ellipticities",
    "nz_tables_from_config",
    "shear_at_galaxies",
    "write_mock_catalogue",
    "write_mock_observation",
]

#: Cells per side of the grid on which the density field of a patch is drawn.
_DENSITY_GRID = 256
#: Points of the grid on which a bin's n(z) is inverted for the Z_B draws.
_NZ_GRID = 1025
#: Width of the Z_B ranges below and above the bins where "outside" galaxies are put.
_ZB_OUTSIDE_WIDTH = 0.3
#: Share of the out-of-range z_b placed below the lowest edge (the rest go above the highest).
_ZB_OUTSIDE_BELOW = 0.5


@dataclass
class MockGalaxies:
    """Galaxies of a mock, before any shear: intrinsic ellipticities (map frame), no bias added."""

    ra: np.ndarray
    dec: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    weight: np.ndarray
    z_b: np.ndarray
    m: np.ndarray
    additive: np.ndarray
    invalid: np.ndarray

    def __len__(self) -> int:
        return int(self.ra.shape[0])


def nz_tables_from_config(
    config: Mapping[str, Any], *, base_dir: str | Path = "."
) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Per-bin (z, n(z)) nodes of ``lensing.nz_files`` (the maps' n(z)), or None without them.

    Read with :func:`wlcnn.lensing.nz.load_nz_from_config`, so that the mock's Z_B follow the
    same piecewise-linear n(z) as the Born weights.
    """
    lensing = config.get("lensing", {})
    if "nz_files" not in lensing:
        return None

    return [(t.z, t.nz) for t in load_nz_from_config(lensing, base_dir=base_dir)]


def _draw_in_bin(
    rng: np.random.Generator, n: int, lo: float, hi: float, nz: tuple[np.ndarray, np.ndarray] | None
) -> np.ndarray:
    """``n`` values in (lo, hi]: the piecewise-linear n(z) restricted to the bin, else uniform."""
    u = rng.random(n)
    if nz is not None:
        z, p = nz
        # The nodes inside the bin plus a fine grid: the inverse CDF of the piecewise-linear
        # density, interpolated linearly, is then accurate far below the sampling noise.
        grid = np.union1d(np.linspace(lo, hi, _NZ_GRID), z[(z > lo) & (z < hi)])
        density = np.clip(np.interp(grid, z, p, left=0.0, right=0.0), 0.0, None)
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(grid))])
        if cdf[-1] > 0:
            return np.clip(np.interp(u * cdf[-1], cdf, grid), np.nextafter(lo, hi), hi)
    return hi - (hi - lo) * u  # (lo, hi]: u in [0, 1)


def _density_field(rng: np.random.Generator, mock: MockSettings, patch_size_deg: float) -> np.ndarray:
    """Log-normal density (mean ≈ 1) on a _DENSITY_GRID² grid over the patch."""
    white = rng.standard_normal((_DENSITY_GRID, _DENSITY_GRID))
    cell_arcmin = patch_size_deg * ARCMIN_PER_DEG / _DENSITY_GRID
    field = ndimage.gaussian_filter(white, mock.density_scale_arcmin / cell_arcmin, mode="wrap")
    field /= field.std() or 1.0
    s = mock.density_contrast
    return np.exp(s * field - 0.5 * s**2)


def _patch_positions(
    rng: np.random.Generator, mock: MockSettings, patch_size_deg: float
) -> tuple[np.ndarray, np.ndarray]:
    """Gnomonic (x, y) in degrees of one patch's galaxies, holes and empty square removed."""
    half = patch_size_deg / 2
    area_arcmin2 = (patch_size_deg * ARCMIN_PER_DEG) ** 2
    density = _density_field(rng, mock, patch_size_deg).ravel()
    n = rng.poisson(mock.n_gal_arcmin2 * area_arcmin2)
    cells = rng.choice(density.size, size=n, p=density / density.sum())
    cell = patch_size_deg / _DENSITY_GRID
    x = (cells % _DENSITY_GRID + rng.random(n)) * cell - half
    y = (cells // _DENSITY_GRID + rng.random(n)) * cell - half
    keep = np.ones(n, dtype=bool)
    n_holes = rng.poisson(mock.holes_per_deg2 * patch_size_deg**2)
    centres = rng.uniform(-half, half, size=(n_holes, 2))
    radii = rng.uniform(*mock.hole_radius_arcmin, size=n_holes) / ARCMIN_PER_DEG
    for (hx, hy), r in zip(centres, radii, strict=True):
        keep &= (x - hx) ** 2 + (y - hy) ** 2 > r**2
    side = min(mock.empty_square_deg, patch_size_deg)
    if side > 0:
        sx, sy = rng.uniform(-half, half - side, size=2)
        keep &= ~((x >= sx) & (x < sx + side) & (y >= sy) & (y < sy + side))
    return x[keep], y[keep]


def generate_mock_galaxies(
    *, settings: SurveySettings, seed: int, nz_tables: Sequence[tuple[np.ndarray, np.ndarray]] | None = None
) -> MockGalaxies:
    """Draw the mock's galaxies (see the module docstring); deterministic in ``seed``.

    Parameters
    ----------
    settings
        Survey settings with a ``mock`` block.
    seed
        Base seed (``run.seed``).
    nz_tables
        Per-bin (z, n(z)) for the Z_B draws (:func:`nz_tables_from_config`); uniform in the bins if None.
    """
    mock = settings.mock
    if mock is None:
        raise ValueError("survey.mock: required to generate a mock catalogue")
    if nz_tables is not None and len(nz_tables) != settings.n_bins:
        raise ValueError(f"expected {settings.n_bins} n(z) tables (one per bin), found {len(nz_tables)}")
    size = settings.patch_size_deg
    ra_parts, dec_parts = [], []
    for k, centre in enumerate(settings.patch_centres):
        x, y = _patch_positions(rng_for(seed, "mock_catalogue", "patch", k), mock, size)
        ra, dec = inverse_gnomonic(x, y, centre=centre)
        ra_parts.append(ra)
        dec_parts.append(dec)
    n_inside = sum(r.size for r in ra_parts)
    rng = rng_for(seed, "mock_catalogue", "outside")
    reach = size / 2 + mock.outside_margin_deg
    # Points are drawn in the square of side 2 reach and those inside the patch rejected.
    ring_share = 1.0 - (size / (2 * reach)) ** 2
    n_out = rng.poisson(
        n_inside * mock.outside_fraction / (1 - mock.outside_fraction) / settings.n_patches / ring_share,
        size=settings.n_patches,
    )
    for k, centre in enumerate(settings.patch_centres):
        x, y = rng.uniform(-reach, reach, size=(2, int(n_out[k])))
        ra, dec = inverse_gnomonic(x, y, centre=centre)
        where = assign_patches(
            ra, dec, centres=settings.patch_centres, patch_size_deg=size, n_pix=settings.n_pix
        )
        ra_parts.append(ra[~where.inside])
        dec_parts.append(dec[~where.inside])
    ra, dec = np.concatenate(ra_parts), np.concatenate(dec_parts)
    n = ra.size
    rng = rng_for(seed, "mock_catalogue", "properties")
    edges = np.asarray(settings.zb_edges)
    fractions = np.asarray(mock.bin_fractions, dtype=float)
    tbin = rng.choice(settings.n_bins, size=n, p=fractions / fractions.sum())
    z_b = np.empty(n)
    for b in range(settings.n_bins):
        sel = np.flatnonzero(tbin == b)
        z_b[sel] = _draw_in_bin(
            rng, sel.size, edges[b], edges[b + 1], None if nz_tables is None else nz_tables[b]
        )
    outside = rng.random(n) < mock.zb_outside_fraction
    below = rng.random(n) < _ZB_OUTSIDE_BELOW
    z_b[outside & below] = rng.uniform(0.0, edges[0], size=int((outside & below).sum()))
    z_b[outside & ~below] = (
        edges[-1]
        + rng.uniform(0.0, _ZB_OUTSIDE_WIDTH, size=int((outside & ~below).sum()))
        + np.finfo(float).eps
    )
    e = rng.normal(0.0, settings.sigma_e, size=(2, n))
    while (bad := np.hypot(e[0], e[1]) >= 1.0).any():  # redraw the (rare) |e| >= 1
        e[:, bad] = rng.normal(0.0, settings.sigma_e, size=(2, int(bad.sum())))
    weight = rng.gamma(mock.weight_shape, mock.weight_scale, size=n)
    weight[rng.random(n) < mock.zero_weight_fraction] = 0.0
    true_bin = tomographic_bin(z_b, edges)
    m_bin = np.append(settings.multiplicative_bias, np.mean(settings.multiplicative_bias))[true_bin]
    m = m_bin + rng.normal(0.0, mock.m_scatter, size=n)
    additive = np.append(settings.additive_bias, 0.0)[true_bin]
    invalid = rng.random(n) < mock.invalid_fraction
    return MockGalaxies(
        ra=ra, dec=dec, e1=e[0], e2=e[1], weight=weight, z_b=z_b, m=m, additive=additive, invalid=invalid
    )


def lens_ellipticities(
    e1: np.ndarray, e2: np.ndarray, *, g1: np.ndarray, g2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Lensed ellipticity e = (e_s + g) / (1 + g* e_s) of intrinsic e_s by reduced shear g (|g| < 1)."""
    es = e1 + 1j * e2
    g = g1 + 1j * g2
    e = (es + g) / (1.0 + np.conj(g) * es)
    return e.real, e.imag


def shear_at_galaxies(
    galaxies: MockGalaxies, *, settings: SurveySettings, kappa: np.ndarray, gamma: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Reduced shear (g1, g2) at each galaxy: its pixel of its patch and bin (0 outside them).

    ``kappa`` is (P, B, N, N), ``gamma`` (P, B, 2, N, N); g = γ / (1 − κ).
    """
    where = assign_patches(
        galaxies.ra,
        galaxies.dec,
        centres=settings.patch_centres,
        patch_size_deg=settings.patch_size_deg,
        n_pix=settings.n_pix,
    )
    tbin = tomographic_bin(galaxies.z_b, settings.zb_edges)
    ok = where.inside & (tbin >= 0)
    g1, g2 = np.zeros(len(galaxies)), np.zeros(len(galaxies))
    p, b, iy, ix = where.patch[ok], tbin[ok], where.iy[ok], where.ix[ok]
    reduced = 1.0 / (1.0 - kappa[p, b, iy, ix])
    g1[ok] = gamma[p, b, 0, iy, ix] * reduced
    g2[ok] = gamma[p, b, 1, iy, ix] * reduced
    return g1, g2


def _write_fits(
    path: str | Path,
    galaxies: MockGalaxies,
    e1: np.ndarray,
    e2: np.ndarray,
    *,
    settings: SurveySettings,
    provenance: Mapping[str, Any],
) -> None:
    from astropy.io import fits

    cm = settings.columns
    e1 = np.where(galaxies.invalid, np.nan, e1)
    # Stored in the catalogue's convention: ingestion applies the flips back.
    e1 = -e1 if settings.flip_e1 else e1
    e2 = -e2 if settings.flip_e2 else e2
    columns = [
        fits.Column(name=cm.ra, format="D", unit="deg", array=galaxies.ra),
        fits.Column(name=cm.dec, format="D", unit="deg", array=galaxies.dec),
        fits.Column(name=cm.e1, format="E", array=e1.astype(np.float32)),
        fits.Column(name=cm.e2, format="E", array=e2.astype(np.float32)),
        fits.Column(name=cm.weight, format="E", array=galaxies.weight.astype(np.float32)),
        fits.Column(name=cm.z_b, format="E", array=galaxies.z_b.astype(np.float32)),
    ]
    if cm.m is not None:
        columns.append(fits.Column(name=cm.m, format="E", array=galaxies.m.astype(np.float32)))
    primary = fits.PrimaryHDU()
    primary.header["ORIGIN"] = "wlcnn mock"
    # Long strings are stored with the FITS CONTINUE convention.
    primary.header["PROVJSON"] = json.dumps(dict(provenance), default=str)
    table = fits.BinTableHDU.from_columns(columns, name="SHEAR")
    with atomic_path(path, suffix=".fits") as tmp:
        fits.HDUList([primary, table]).writeto(tmp, overwrite=True)


def write_mock_catalogue(
    path: str | Path,
    *,
    settings: SurveySettings,
    seed: int,
    nz_tables: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    identity: Mapping[str, Any] | None = None,
) -> MockGalaxies:
    """Write the shear-free mock catalogue (e = e_s + c) as FITS, atomically; returns the galaxies."""
    started = utc_now()
    galaxies = generate_mock_galaxies(settings=settings, seed=seed, nz_tables=nz_tables)
    record = provenance_record(
        step="survey_mock_catalogue",
        inputs=[],
        config=settings.config_subset(),
        started=started,
        extra={"seed": seed, "identity": dict(identity or {}), "n_rows": len(galaxies)},
    )
    _write_fits(
        path,
        galaxies,
        galaxies.e1 + galaxies.additive,
        galaxies.e2 + galaxies.additive,
        settings=settings,
        provenance=record,
    )
    return galaxies


def write_mock_observation(
    path: str | Path,
    *,
    settings: SurveySettings,
    seed: int,
    kappa: np.ndarray,
    kappa_ia: np.ndarray | None = None,
    a_ia: float = 0.0,
    gamma: np.ndarray | None = None,
    nz_tables: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    inputs: Sequence[Mapping[str, Any]] = (),
    identity: Mapping[str, Any] | None = None,
) -> MockGalaxies:
    """Write the mock catalogue lensed by the given maps (FITS, atomically); returns the galaxies.

    Parameters
    ----------
    path
        Output FITS file.
    settings, seed, nz_tables
        As for :func:`generate_mock_galaxies` (the same seed gives the same galaxies as
        :func:`write_mock_catalogue`).
    kappa, kappa_ia
        (P, B, N, N) convergence and IA maps of the simulation; the lensing convergence is
        κ + a_ia κ_IA.
    a_ia
        Intrinsic-alignment amplitude of the mock (its truth).
    gamma
        (P, B, 2, N, N) shear maps (e.g. ray-traced); computed from κ by Kaiser-Squires with
        ``settings.ks_padding`` when None.
    inputs
        :func:`wlcnn.provenance.file_record` of the map files, for the provenance record.
    identity
        Extra provenance facts (cosmology, simulation, ...).
    """
    started = utc_now()
    kappa = np.asarray(kappa, dtype=np.float64)
    expected = (settings.n_patches, settings.n_bins, settings.n_pix, settings.n_pix)
    if kappa.shape != expected:
        raise ValueError(f"kappa: expected shape {expected} (patches, bins, y, x), found {kappa.shape}")
    if kappa_ia is not None:
        kappa = kappa + a_ia * np.asarray(kappa_ia, dtype=np.float64)
    if gamma is None:
        gamma = kappa_to_gamma(kappa, padding=settings.ks_padding)
    galaxies = generate_mock_galaxies(settings=settings, seed=seed, nz_tables=nz_tables)
    g1, g2 = shear_at_galaxies(galaxies, settings=settings, kappa=kappa, gamma=np.asarray(gamma))
    e1, e2 = lens_ellipticities(galaxies.e1, galaxies.e2, g1=(1 + galaxies.m) * g1, g2=(1 + galaxies.m) * g2)
    record = provenance_record(
        step="survey_mock_observation",
        inputs=inputs,
        config=settings.config_subset(),
        started=started,
        extra={"seed": seed, "a_ia": a_ia, "identity": dict(identity or {}), "n_rows": len(galaxies)},
    )
    _write_fits(
        path, galaxies, e1 + galaxies.additive, e2 + galaxies.additive, settings=settings, provenance=record
    )
    return galaxies
