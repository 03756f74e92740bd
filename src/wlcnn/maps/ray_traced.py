"""Ray-traced κ and γ patch maps from the shells kept in a map file (issue 17, ray-traced mocks).

A map file of a simulation whose role is in ``shells.keep_shells`` stores the δ stack of every
realisation (``/shells/delta``), the shells' redshift edges and the Born weights of the mean
n(z) the map job used (``/weights/born``, ``/weights/ia``, ``/weights/delta_d``). This module
traces rays through exactly those shells with exactly those weights
(:func:`wlcnn.lensing.ray_tracing.ray_traced_maps`), so that the ray-traced maps differ from the
file's Born κ (and its Kaiser-Squires γ) by the post-Born physics only, not by a different shell
plan, cosmology or n(z) discretisation. With a single shell the two agree to rounding.

Examples
--------
>>> maps = ray_traced_patch_maps("maps/mock00/sim00.h5", n_realisations=4, padding=64)  # doctest: +SKIP
>>> maps.kappa.shape, maps.gamma.shape  # doctest: +SKIP
((4, 4, 128, 128), (4, 4, 2, 128, 128))
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from wlcnn.cosmology import simulation_cosmology
from wlcnn.lensing.born import IA_C1_RHO_CRIT, BornWeights
from wlcnn.lensing.ray_tracing import DEFAULT_INTERPOLATION_ORDER, RayTracedMaps, ray_traced_maps
from wlcnn.maps.mapfile import MapFileContentError, read_map_attrs

__all__ = ["born_weights_from_map_file", "ray_traced_patch_maps"]

#: Datasets of the Born weights the map job stored (bin, shell) and (shell,).
_WEIGHT_DATASETS = ("weights/born", "weights/ia", "weights/delta_d", "shells/z_near", "shells/z_far")


def born_weights_from_map_file(path: str | Path) -> BornWeights:
    """The Born weights a map job used for its κ maps, as stored in the map file.

    Parameters
    ----------
    path
        A map file written with Born maps (``born`` true: ``lensing.nz_files`` were given).

    Returns
    -------
    BornWeights
        Shells in the file's order (near to far).

    Raises
    ------
    MapFileContentError
        If the file is missing, truncated, lacks a weight or shell-edge dataset, or its
        ``cosmology`` attribute has no ``omega_m``.
    """
    attrs = read_map_attrs(path)
    cosmology = attrs.get("cosmology") or {}
    if "omega_m" not in cosmology:
        raise MapFileContentError(path, "cosmology", "a JSON object with omega_m", f"{cosmology!r}")
    with h5py.File(path, "r") as fh:
        for name in _WEIGHT_DATASETS:
            if name not in fh:
                raise MapFileContentError(
                    path,
                    name,
                    "this dataset (a map file with Born maps, lensing.nz_files set)",
                    "no such dataset",
                )
        born = np.asarray(fh["weights/born"][()], dtype=np.float64)
        ia = np.asarray(fh["weights/ia"][()], dtype=np.float64)
        delta_d = np.asarray(fh["weights/delta_d"][()], dtype=np.float64)
        z_lo = np.asarray(fh["shells/z_near"][()], dtype=np.float64)
        z_hi = np.asarray(fh["shells/z_far"][()], dtype=np.float64)
    n_shells = z_lo.size
    for name, array in (("weights/born", born), ("weights/ia", ia)):
        if array.ndim != 2 or array.shape[1] != n_shells:
            raise MapFileContentError(
                path, name, f"shape (bins, {n_shells}) like shells/z_near", f"{array.shape}"
            )
    if delta_d.shape != (n_shells,) or z_hi.shape != (n_shells,):
        raise MapFileContentError(
            path,
            "weights/delta_d",
            f"{n_shells} entries like shells/z_near",
            f"{delta_d.shape}, {z_hi.shape}",
        )
    return BornWeights(
        z_lo=z_lo,
        z_hi=z_hi,
        delta_d=delta_d,
        born_weights=born,
        ia_weights=ia,
        omega_m=float(cosmology["omega_m"]),
        # not used by the ray tracing (the stored weights already carry the n(z) cut and C1 ρcrit)
        z_source_max=float(z_hi.max()),
        ia_c1_rho_crit=IA_C1_RHO_CRIT,
    )


def ray_traced_patch_maps(
    path: str | Path,
    *,
    n_realisations: int,
    padding: int,
    interpolation_order: int = DEFAULT_INTERPOLATION_ORDER,
) -> RayTracedMaps:
    """Ray-traced κ, γ (and ω) of the first ``n_realisations`` shell stacks of a map file.

    Parameters
    ----------
    path
        Map file of a simulation with kept shells (``/shells/delta``: a role in ``shells.keep_shells``).
    n_realisations
        Stacks to trace, from the first (a mock observation takes one per survey patch, like
        the Born κ it replaces).
    padding
        Zero padding (pixels per side) of each plane's Poisson solve; the survey's Kaiser-Squires
        padding (``survey.ks_padding``) makes one plane reproduce the Born κ and its KS γ.
    interpolation_order
        1 (bilinear) or 3 (cubic spline), see :mod:`wlcnn.lensing.ray_tracing`.

    Returns
    -------
    RayTracedMaps
        κ, ω shaped (n_realisations, n_bins, n_pix, n_pix), γ (n_realisations, n_bins, 2, n_pix, n_pix).

    Raises
    ------
    MapFileContentError
        If the file lacks ``/shells/delta`` (its role is not in ``shells.keep_shells``), holds
        fewer stacks than asked for, or lacks the Born weights (see :func:`born_weights_from_map_file`).
    """
    weights = born_weights_from_map_file(path)
    cosmo = simulation_cosmology(read_map_attrs(path)["cosmology"])
    with h5py.File(path, "r") as fh:
        if "shells/delta" not in fh:
            raise MapFileContentError(
                path,
                "shells/delta",
                "this dataset (ray tracing needs the shells: add the role to shells.keep_shells)",
                "no such dataset",
            )
        stacks = fh["shells/delta"]
        if stacks.shape[0] < n_realisations or stacks.shape[1] != weights.n_shells:
            raise MapFileContentError(
                path,
                "shells/delta",
                f"at least {n_realisations} stacks of {weights.n_shells} shells",
                f"shape {stacks.shape}",
            )
        delta = np.asarray(stacks[:n_realisations], dtype=np.float64)
    return ray_traced_maps(
        delta_shells=delta,
        weights=weights,
        cosmo=cosmo,
        padding=padding,
        interpolation_order=interpolation_order,
    )
