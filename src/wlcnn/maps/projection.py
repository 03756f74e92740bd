"""Projection of a planned simulation's realisations: shells -> δ patches -> Born κ, κ_IA, in memory.

:func:`project_realisations` projects any list of realisations of a :class:`wlcnn.maps.plan.MapPlan`
(use it to regenerate a single map):

- pencil-beam mode: for each shell reads its snapshot once, sorts the particles into cells and
  projects the realisations (:class:`wlcnn.maps.pencil_beam.ShellProjector`), each seeded by
  its identity, so a realisation is the same whichever rank makes it, alone or in a batch;
- HEALPix mode: full-sky δ of every shell from the plan's source, Born sums accumulated shell
  by shell, patches cut at the patch centres.

κ and κ_IA are formed one realisation at a time (:func:`wlcnn.lensing.born.born_convergence`)
so that the arithmetic cannot depend on the batch size.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import healpy as hp
import numpy as np

from wlcnn.lensing.born import born_convergence
from wlcnn.maps.cellgrid import ParticleGrid
from wlcnn.maps.healpix_shells import patch_centres, patch_from_healpix
from wlcnn.maps.parallel import Comm
from wlcnn.maps.pencil_beam import ShellProjector
from wlcnn.maps.plan import MapPlan, realisation_transform
from wlcnn.maps.snapshots import read_snapshot_positions

__all__ = ["RealisationMaps", "project_realisations"]

log = logging.getLogger(__name__)


@dataclass
class RealisationMaps:
    """Maps of some realisations, in memory (one row per requested realisation).

    Attributes
    ----------
    realisations
        Map realisation indices (HEALPix mode: sky × patches_per_sky + patch).
    delta
        float32 (n, n_shells, y, x).
    kappa, kappa_ia
        float32 (n, n_bins, y, x), or None without weights.
    symmetry, shift
        Transforms drawn per (realisation or sky, shell).
    fullsky_kappa, fullsky_kappa_ia
        HEALPix mode: float32 (n_skies, n_bins, npix), or None.
    tested
        Particles tested by the projection kernels.
    """

    realisations: np.ndarray
    delta: np.ndarray
    kappa: np.ndarray | None
    kappa_ia: np.ndarray | None
    symmetry: np.ndarray
    shift: np.ndarray
    fullsky_kappa: np.ndarray | None = None
    fullsky_kappa_ia: np.ndarray | None = None
    tested: int = 0


def _born(plan: MapPlan, delta: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """κ, κ_IA float32 (n, bins, y, x) from δ (n, shells, y, x), one realisation at a time."""
    if plan.weights is None:
        return None, None
    n = delta.shape[0]
    shape = (n, plan.n_bins, *delta.shape[2:])
    kappa = np.empty(shape, dtype=np.float32)
    kappa_ia = np.empty(shape, dtype=np.float32)
    for i in range(n):
        maps = born_convergence(delta_shells=delta[i], weights=plan.weights, map_ndim=2)
        kappa[i] = maps.kappa
        kappa_ia[i] = maps.kappa_ia
    return kappa, kappa_ia


def project_realisations(
    plan: MapPlan,
    realisations: Sequence[int],
    *,
    base_seed: int,
    keep_shells: bool = True,
    comm: Comm | None = None,
) -> RealisationMaps:
    """Shells, κ and κ_IA of the given realisations (in memory).

    Parameters
    ----------
    plan
        From :func:`plan_maps`.
    realisations
        Pencil beam: realisation indices. HEALPix mode: full-sky realisation indices (each
        gives ``patches_per_sky`` map rows).
    base_seed
        The run's base seed.
    keep_shells
        HEALPix mode: also cut δ patches of every shell (skipped for training roles, which do
        not store them). The pencil beam always has them (κ is formed from them).
    comm
        Passed to the plan's source (a light cone's ranks share the counting of its shells;
        only rank 0 may then call this).

    Returns
    -------
    RealisationMaps
        Identical, row by row, whichever subset or order of realisations is asked for.
    """
    reals = np.asarray(list(realisations), dtype=np.int64)
    if reals.size == 0:  # e.g. an MPI rank beyond the number of realisations: read nothing
        return _empty_maps(plan)
    if plan.settings.mode == "healpix":
        return _project_healpix(plan, reals, base_seed=base_seed, keep_shells=keep_shells, comm=comm)
    geometry = plan.settings.geometry
    n_pix, n_sh = geometry.n_pix, plan.n_shells
    delta = np.empty((reals.size, n_sh, n_pix, n_pix), dtype=np.float32)
    symmetry = np.empty((reals.size, n_sh), dtype=np.int16)
    shift = np.empty((reals.size, n_sh, 3), dtype=np.float64)
    tested = 0
    for shell in plan.shells:
        t0 = time.perf_counter()
        pos, box = read_snapshot_positions(plan.snapshot_paths[shell.snapshot])
        grid = ParticleGrid.build(pos, box=box, particles_per_cell=plan.settings.particles_per_cell)
        del pos
        projector = ShellProjector(grid=grid, shell=shell, geometry=geometry)
        for i, r in enumerate(reals):
            tr = realisation_transform(plan, base_seed=base_seed, shell=shell, realisation=int(r))
            delta[i, shell.index] = projector.delta(tr)
            symmetry[i, shell.index] = tr.symmetry
            shift[i, shell.index] = tr.shift
        tested += projector.tested
        dt = time.perf_counter() - t0
        log.info(
            "shell %d/%d z %.3f-%.3f (snapshot %d): %d realisations, %.3g particles tested, %.2f s",
            shell.index + 1,
            n_sh,
            shell.z_near,
            shell.z_far,
            shell.snapshot,
            reals.size,
            projector.tested,
            dt,
        )
    kappa, kappa_ia = _born(plan, delta)
    return RealisationMaps(
        realisations=reals,
        delta=delta,
        kappa=kappa,
        kappa_ia=kappa_ia,
        symmetry=symmetry,
        shift=shift,
        tested=tested,
    )


def _empty_maps(plan: MapPlan) -> RealisationMaps:
    s = plan.settings
    n_pix, n_sh, n_b = s.n_pix, plan.n_shells, plan.n_bins
    born = plan.weights is not None
    full = born and s.mode == "healpix" and s.store_fullsky
    npix = hp.nside2npix(s.nside)
    return RealisationMaps(
        realisations=np.zeros(0, dtype=np.int64),
        delta=np.zeros((0, n_sh, n_pix, n_pix), dtype=np.float32),
        kappa=np.zeros((0, n_b, n_pix, n_pix), dtype=np.float32) if born else None,
        kappa_ia=np.zeros((0, n_b, n_pix, n_pix), dtype=np.float32) if born else None,
        symmetry=np.zeros((0, n_sh), dtype=np.int16),
        shift=np.zeros((0, n_sh, 3)),
        fullsky_kappa=np.zeros((0, n_b, npix), dtype=np.float32) if full else None,
        fullsky_kappa_ia=np.zeros((0, n_b, npix), dtype=np.float32) if full else None,
    )


def _project_healpix(
    plan: MapPlan, skies: np.ndarray, *, base_seed: int, keep_shells: bool, comm: Comm | None = None
) -> RealisationMaps:
    """HEALPix mode: full-sky shells per sky realisation, Born sums, patches cut at the centres.

    The plan's source yields the shells' full-sky δ (snapshots: every sky a random transform of
    the replicated box; a light cone: the one sky the run saw, its shells counted over the ranks
    of ``comm``).
    """
    s = plan.settings
    geometry = s.geometry
    npix = hp.nside2npix(s.nside)
    centres = patch_centres(s.patch_nside)
    n_patch = centres.shape[0]
    # Average over sub-samples at about the HEALPix resolution (a pixel-window average).
    oversample = max(1, math.ceil(geometry.pixel_size_rad / hp.nside2resol(s.nside)))
    n_sky, n_sh, n_b = skies.size, plan.n_shells, plan.n_bins
    rows = (skies[:, None] * n_patch + np.arange(n_patch)[None, :]).ravel()
    # typed as a plain ndarray: it is reshaped to 4 axes below
    delta: np.ndarray = np.empty(
        (n_sky, n_patch, n_sh if keep_shells else 0, s.n_pix, s.n_pix), dtype=np.float32
    )
    # Full-sky Born sums accumulated shell by shell (a full-sky shell stack would not fit):
    # κ = Σ_b c_b δ_b in shell order, the same order for every rank count.
    acc = np.zeros((n_sky, 2, n_b, npix), dtype=np.float64) if n_b else None
    w = plan.weights
    coeff = None if w is None else (w.convergence_coefficients, w.ia_coefficients)
    symmetry = np.empty((n_sky, n_sh), dtype=np.int16)
    shift = np.empty((n_sky, n_sh, 3), dtype=np.float64)
    tested = 0
    source = plan.source.overdensities(plan, skies, base_seed=base_seed, comm=comm)
    for shell, i, d_sky, sym, shell_shift, n_tested in source:
        tested += n_tested
        symmetry[i, shell.index] = sym
        shift[i, shell.index] = shell_shift
        if keep_shells:
            for p, (lon, lat) in enumerate(centres):
                delta[i, p, shell.index] = patch_from_healpix(
                    d_sky, geometry=geometry, centre_lon_deg=lon, centre_lat_deg=lat, oversample=oversample
                )
        if acc is not None and coeff is not None:
            for b in range(n_b):
                acc[i, 0, b] += coeff[0][b, shell.index] * d_sky
                acc[i, 1, b] += coeff[1][b, shell.index] * d_sky
    kappa: np.ndarray | None = None
    kappa_ia: np.ndarray | None = None
    full_k = full_ia = None
    if acc is not None:
        kappa = np.empty((n_sky, n_patch, n_b, s.n_pix, s.n_pix), dtype=np.float32)
        kappa_ia = np.empty_like(kappa)
        for i in range(n_sky):
            for p, (lon, lat) in enumerate(centres):
                kappa[i, p] = patch_from_healpix(
                    acc[i, 0],
                    geometry=geometry,
                    centre_lon_deg=lon,
                    centre_lat_deg=lat,
                    oversample=oversample,
                )
                kappa_ia[i, p] = patch_from_healpix(
                    acc[i, 1],
                    geometry=geometry,
                    centre_lon_deg=lon,
                    centre_lat_deg=lat,
                    oversample=oversample,
                )
        kappa = kappa.reshape(n_sky * n_patch, n_b, s.n_pix, s.n_pix)
        kappa_ia = np.reshape(kappa_ia, kappa.shape)
        if s.store_fullsky:
            full_k = acc[:, 0].astype(np.float32)
            full_ia = acc[:, 1].astype(np.float32)
    delta = delta.reshape(n_sky * n_patch, delta.shape[2], s.n_pix, s.n_pix)
    return RealisationMaps(
        realisations=rows,
        delta=delta,
        kappa=kappa,
        kappa_ia=kappa_ia,
        symmetry=symmetry,
        shift=shift,
        fullsky_kappa=full_k,
        fullsky_kappa_ia=full_ia,
        tested=tested,
    )
