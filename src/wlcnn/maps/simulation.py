"""Maps of one simulation: every shell realisation, the Born κ and κ_IA, the map file.

:func:`make_simulation_maps` is what the workflow runs, once per (cosmology, simulation), under
MPI or not (:mod:`wlcnn.maps.mpi`). It

1. reads the ingestion manifest and every snapshot's TRUE header redshift (from the canonical
   file itself), and cuts the redshift range into shells (:mod:`wlcnn.maps.shells`);
2. computes the Born weights W_b, W_b^IA of every shell and tomographic bin for the mean n(z)
   (:func:`wlcnn.lensing.born.shell_weights`; skipped, with ``born = False`` in the file, when
   the configuration names no n(z));
3. for each shell reads its snapshot once, sorts the particles into cells, and projects this
   rank's realisations (seeded per (cosmology, simulation, snapshot, realisation), so a
   realisation is the same whichever rank makes it, alone or in a batch);
4. forms κ and κ_IA per realisation (:func:`wlcnn.lensing.born.born_convergence`, one
   realisation at a time so that the arithmetic cannot depend on the batch size);
5. writes the map file (:mod:`wlcnn.maps.mapfile`), gathering the ranks' blocks on rank 0 in
   realisation order.

:func:`project_realisations` is steps 1-4 for any list of realisations, in memory: use it to
regenerate a single map.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import healpy as hp
import numpy as np
import pyccl

from wlcnn.cosmology import DEFAULT_H, DEFAULT_N_S, DEFAULT_OMEGA_B, make_cosmology
from wlcnn.io.canonical import CANONICAL_FORMAT
from wlcnn.maps.cellgrid import DEFAULT_PARTICLES_PER_CELL, ParticleGrid
from wlcnn.maps.gnomonic import PatchGeometry
from wlcnn.maps.healpix_shells import (
    counts_from_snapshot,
    healpix_overdensity,
    patch_centres,
    patch_from_healpix,
)
from wlcnn.maps.mapfile import MapFileWriter
from wlcnn.maps.pencil_beam import ShellProjector, expected_counts
from wlcnn.maps.shells import Shell, shells_from_redshifts, shot_noise_cl
from wlcnn.maps.symmetries import TRANSFORM_STREAM, BoxTransform, draw_transform
from wlcnn.provenance import file_record, provenance_record, utc_now

__all__ = [
    "DEFAULT_KEEP_SHELLS",
    "DEFAULT_PATCH_NSIDE",
    "LIGHTCONE_EDGES",
    "MODES",
    "SOURCES",
    "MapPlan",
    "MapSettings",
    "RealisationMaps",
    "estimate_memory_mb",
    "born_weights_for_shells",
    "make_simulation_maps",
    "plan_maps",
    "project_realisations",
    "read_snapshot_positions",
]

log = logging.getLogger(__name__)

MODES = ("pencil_beam", "healpix")
#: Where the shells come from: ingested snapshots (with replicas and random transforms), or the
#: light-cone outputs of a PkdGrav3 run (:mod:`wlcnn.maps.lightcone`; HEALPix mode only).
SOURCES = ("snapshots", "lightcone_healpix", "lightcone_particles")
#: Light-cone sources: shell edges at the step ends nearest the requested output redshifts, or
#: one shell per step.
LIGHTCONE_EDGES = ("output_redshifts", "steps")
#: Roles whose shell stacks are stored (κ can then be rebuilt for any bootstrap n(z), SPEC §7).
DEFAULT_KEEP_SHELLS = ("test", "mock")
#: HEALPix mode: patch centres at the pixel centres of this nside (48 patches, ~29 deg apart).
DEFAULT_PATCH_NSIDE = 2
#: Relative tolerance between the manifest's redshift and the snapshot file's header redshift.
_REDSHIFT_RTOL = 1e-9
_MB = 1 << 20
#: σ8 when a cosmology lacks it: shells need only distances, which do not depend on σ8.
_PLACEHOLDER_SIGMA8 = 0.8


@dataclass(frozen=True)
class MapSettings:
    """The ``shells:`` configuration block, with defaults.

    Attributes
    ----------
    mode
        ``"pencil_beam"`` (KiDS-450 default) or ``"healpix"``.
    n_realisations
        Pencil beam: projections per snapshot (1000 in the paper). HEALPix: full-sky
        realisations (each gives ``patches_per_sky`` patches).
    patch_size_deg, n_pix
        Patch geometry (5 deg, 128 pixels).
    nside
        HEALPix mode resolution.
    patch_nside
        HEALPix mode: patch centres at the pixel centres of this nside.
    store_fullsky
        HEALPix mode: also store the full-sky κ, κ_IA maps.
    keep_shells
        Roles whose δ shell stacks are stored.
    particles_per_cell
        Mean occupation of the cell index (performance only).
    source
        ``"snapshots"`` or a PkdGrav3 light cone (``"lightcone_healpix"``: ``.hpb`` count maps,
        ``"lightcone_particles"``: ``.lcp`` particles), see :mod:`wlcnn.maps.lightcone`.
    lightcone_edges
        Light-cone sources: ``"output_redshifts"`` (shell edges at the step ends nearest the
        requested output redshifts) or ``"steps"`` (one shell per step).
    """

    mode: str = "pencil_beam"
    n_realisations: int = 1
    patch_size_deg: float = 5.0
    n_pix: int = 128
    nside: int = 512
    patch_nside: int = DEFAULT_PATCH_NSIDE
    store_fullsky: bool = False
    keep_shells: tuple[str, ...] = DEFAULT_KEEP_SHELLS
    particles_per_cell: int = DEFAULT_PARTICLES_PER_CELL
    source: str = "snapshots"
    lightcone_edges: str = "output_redshifts"

    @classmethod
    def from_config(cls, shells: Mapping[str, Any]) -> MapSettings:
        """Settings from a (validated) ``shells:`` block; absent keys take the defaults."""
        known = {k: shells[k] for k in cls.__dataclass_fields__ if k in shells}
        if "keep_shells" in known:
            known["keep_shells"] = tuple(known["keep_shells"])
        settings = cls(**known)
        if settings.mode not in MODES:
            raise ValueError(f"shells.mode must be one of {MODES}, got {settings.mode!r}")
        if settings.source not in SOURCES:
            raise ValueError(f"shells.source must be one of {SOURCES}, got {settings.source!r}")
        if settings.lightcone_edges not in LIGHTCONE_EDGES:
            raise ValueError(f"shells.lightcone_edges must be one of {LIGHTCONE_EDGES}, "
                             f"got {settings.lightcone_edges!r}")
        if settings.source != "snapshots" and settings.mode != "healpix":
            raise ValueError(f"shells.source {settings.source!r} needs shells.mode 'healpix' (a light cone "
                             f"is a sky seen from one observer), got {settings.mode!r}")
        return settings

    @property
    def geometry(self) -> PatchGeometry:
        """The patch geometry."""
        return PatchGeometry(n_pix=int(self.n_pix), patch_size_deg=float(self.patch_size_deg))

    @property
    def patches_per_sky(self) -> int:
        """Patches cut from each full-sky realisation (HEALPix mode), else 1."""
        return 12 * self.patch_nside**2 if self.mode == "healpix" else 1


@dataclass(frozen=True)
class MapPlan:
    """Everything about a simulation's maps that does not depend on the realisation.

    Attributes
    ----------
    cosmology_id, simulation
        Identity (from the manifest).
    cosmology
        Parameters (omega_m, sigma8, h, omega_b, n_s).
    box
        Box side, Mpc/h.
    n_particles
        Particles per snapshot.
    snapshot_paths
        Canonical snapshot files, manifest order.
    redshifts
        Their header redshifts.
    shells
        Near to far.
    settings
        The ``shells:`` block.
    weights
        :class:`wlcnn.lensing.born.BornWeights` of the mean n(z), or None (no n(z) configured).
    nz_records
        Provenance records of the n(z) files (path, size, sha256).
    inputs
        Provenance records of the manifest and of the snapshots (from the manifest), or of the
        light-cone files and the step-redshift table.
    lightcone
        :class:`wlcnn.maps.lightcone.LightconeInput` for a light-cone source (no snapshots:
        ``snapshot_paths`` is empty, ``n_particles`` is the run's particle count and each
        shell's ``snapshot`` the PkdGrav3 step ending at its near edge), else None.
    """

    cosmology_id: str
    simulation: str
    cosmology: dict[str, float]
    box: float
    n_particles: int
    snapshot_paths: tuple[Path, ...]
    redshifts: tuple[float, ...]
    shells: tuple[Shell, ...]
    settings: MapSettings
    weights: Any
    nz_records: tuple[dict[str, Any], ...]
    inputs: tuple[dict[str, Any], ...]
    lightcone: Any = None

    @property
    def n_bins(self) -> int:
        """Tomographic bins (0 without weights)."""
        return 0 if self.weights is None else int(self.weights.n_bins)

    @property
    def n_shells(self) -> int:
        """Shells."""
        return len(self.shells)

    @property
    def n_maps(self) -> int:
        """Map realisations in the file (HEALPix mode: skies × patches per sky)."""
        return self.settings.n_realisations * self.settings.patches_per_sky

    @property
    def nz_checksum(self) -> str | None:
        """sha256 over the n(z) files' sha256 digests in bin order (None without n(z))."""
        if not self.nz_records:
            return None
        digest = hashlib.sha256()
        for rec in self.nz_records:
            digest.update(str(rec.get("sha256", rec.get("path"))).encode())
        return digest.hexdigest()


def _shell_cosmology(cosmology: Mapping[str, float]) -> pyccl.Cosmology:
    # Matter + Λ background, no radiation: what the N-body codes integrate (the light-cone
    # fixtures' particle radii agree with these distances to 3e-5).
    return make_cosmology(
        omega_m=float(cosmology["omega_m"]), sigma8=float(cosmology.get("sigma8", _PLACEHOLDER_SIGMA8)),
        omega_b=float(cosmology.get("omega_b", DEFAULT_OMEGA_B)), h=float(cosmology.get("h", DEFAULT_H)),
        n_s=float(cosmology.get("n_s", DEFAULT_N_S)), radiation=False,
    )


def _snapshot_redshift(path: Path) -> tuple[float, float, int]:
    """(redshift, box, n_particles) from a canonical snapshot's header."""
    with h5py.File(path, "r") as fh:
        if fh.attrs.get("format") != CANONICAL_FORMAT:
            raise ValueError(f"{path}: not a canonical snapshot (format {fh.attrs.get('format')!r})")
        n = int(fh["particles/pos"].shape[0]) if "particles/pos" in fh else int(fh.attrs["n_particles"])
        return float(fh.attrs["redshift"]), float(fh.attrs["box"]), n


def born_weights_for_shells(
    shells: Sequence[Shell],
    *,
    cosmo: pyccl.Cosmology,
    lensing_config: Mapping[str, Any] | None,
    base_dir: str | Path = ".",
    z_source_default: float,
) -> tuple[Any, tuple[dict[str, Any], ...]]:
    """Born weights of the shells for the configured mean n(z), and the n(z) files' records.

    Parameters
    ----------
    shells
        Near to far.
    cosmo
        Background of the simulation (matter + Λ, as the N-body codes integrate).
    lensing_config
        The ``lensing:`` block; None or without ``nz_files``: no weights (shells only).
    base_dir
        Directory the n(z) paths are relative to.
    z_source_default
        ``z_source_max`` when the block does not set it (the highest shell edge).

    Returns
    -------
    tuple
        ``(weights or None, n(z) file records)``.
    """
    if not (lensing_config and lensing_config.get("nz_files")):
        log.warning("no lensing.nz_files: writing shells only (no Born kappa / kappa_IA)")
        return None, ()
    from wlcnn.lensing.born import IA_C1_RHO_CRIT, shell_weights
    from wlcnn.lensing.nz import load_nz_from_config

    tables = load_nz_from_config(lensing_config, base_dir=base_dir)
    nz_records = tuple(file_record(Path(base_dir) / p) for p in lensing_config["nz_files"])
    weights = shell_weights(
        cosmo=cosmo, z_edges=[[s.z_near, s.z_far] for s in shells], nz=tables,
        z_source_max=float(lensing_config.get("z_source_max", z_source_default)),
        ia_c1_rho_crit=float(lensing_config.get("ia_c1_rho_crit", IA_C1_RHO_CRIT)),
    )
    return weights, nz_records


def plan_maps(
    manifest_path: str | Path,
    *,
    cosmology: Mapping[str, float] | None,
    shells_config: Mapping[str, Any],
    lensing_config: Mapping[str, Any] | None,
    base_dir: str | Path = ".",
) -> MapPlan:
    """Read the manifest and headers, define the shells and compute the Born weights.

    Parameters
    ----------
    manifest_path
        ``manifest.json`` of the ingested simulation.
    cosmology
        omega_m, sigma8, h, omega_b, n_s; None: the manifest's.
    shells_config
        The ``shells:`` block.
    lensing_config
        The ``lensing:`` block (``nz_files``, ``z_source_max``, ``ia_c1_rho_crit``, ...); None
        or without ``nz_files``: no Born maps, only shells.
    base_dir
        Directory the n(z) paths are relative to.

    Raises
    ------
    ValueError
        If a snapshot's header redshift disagrees with the manifest, or boxes differ.
    """
    manifest_path = Path(manifest_path)
    manifest = json.loads(manifest_path.read_text())
    identity = manifest.get("identity") or {}
    cosmo_params = dict(cosmology if cosmology is not None else manifest["cosmology"])
    paths, redshifts = [], []
    box = float(manifest["box"])
    n_particles = None
    for entry in manifest["snapshots"]:
        path = Path(entry["path"])
        if not path.is_absolute():
            path = manifest_path.parent / path
        z, snap_box, n = _snapshot_redshift(path)
        if not math.isclose(z, float(entry["redshift"]), rel_tol=_REDSHIFT_RTOL, abs_tol=1e-12):
            raise ValueError(f"{path}: header redshift {z} differs from the manifest's {entry['redshift']}")
        if not math.isclose(snap_box, box, rel_tol=1e-9):
            raise ValueError(f"{path}: box {snap_box} Mpc/h differs from the manifest's {box}")
        if n_particles is not None and n != n_particles:
            raise ValueError(f"{path}: {n} particles, but the first snapshot has {n_particles}")
        n_particles = n
        paths.append(path)
        redshifts.append(z)
    settings = MapSettings.from_config(shells_config)
    if settings.source != "snapshots":
        raise ValueError(f"shells.source is {settings.source!r}: a light cone has no ingestion manifest "
                         "(use wlcnn.maps.lightcone.plan_lightcone_maps)")
    cosmo = _shell_cosmology(cosmo_params)
    shells = tuple(shells_from_redshifts(redshifts, cosmo=cosmo))
    weights, nz_records = born_weights_for_shells(shells, cosmo=cosmo, lensing_config=lensing_config,
                                                  base_dir=base_dir, z_source_default=max(redshifts))
    inputs = [file_record(manifest_path)]
    inputs += [e.get("output") or {"path": e["path"]} for e in manifest["snapshots"]]
    return MapPlan(
        cosmology_id=str(identity.get("cosmology", "")), simulation=str(identity.get("simulation", "")),
        cosmology={k: float(v) for k, v in cosmo_params.items() if isinstance(v, int | float)},
        box=box, n_particles=int(n_particles or 0), snapshot_paths=tuple(paths), redshifts=tuple(redshifts),
        shells=shells, settings=settings, weights=weights, nz_records=nz_records, inputs=tuple(inputs),
    )


def read_snapshot_positions(path: str | Path) -> tuple[np.ndarray, float]:
    """``(pos float32 (N, 3) Mpc/h, box Mpc/h)`` of a canonical snapshot."""
    with h5py.File(path, "r") as fh:
        return fh["particles/pos"][()], float(fh.attrs["box"])


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


def _transform(plan: MapPlan, base_seed: int, shell: Shell, realisation: int) -> BoxTransform:
    return draw_transform(base_seed=base_seed, cosmology=plan.cosmology_id, simulation=plan.simulation,
                          snapshot=shell.snapshot, realisation=realisation, box=plan.box)


def _born(plan: MapPlan, delta: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """κ, κ_IA float32 (n, bins, y, x) from δ (n, shells, y, x), one realisation at a time."""
    if plan.weights is None:
        return None, None
    from wlcnn.lensing.born import born_convergence

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
    plan: MapPlan, realisations: Sequence[int], *, base_seed: int, keep_shells: bool = True
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

    Returns
    -------
    RealisationMaps
        Identical, row by row, whichever subset or order of realisations is asked for.
    """
    reals = np.asarray(list(realisations), dtype=np.int64)
    if reals.size == 0:  # e.g. an MPI rank beyond the number of realisations: read nothing
        return _empty_maps(plan)
    if plan.settings.mode == "healpix":
        return _project_healpix(plan, reals, base_seed=base_seed, keep_shells=keep_shells)
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
            tr = _transform(plan, base_seed, shell, int(r))
            delta[i, shell.index] = projector.delta(tr)
            symmetry[i, shell.index] = tr.symmetry
            shift[i, shell.index] = tr.shift
        tested += projector.tested
        dt = time.perf_counter() - t0
        log.info("shell %d/%d z %.3f-%.3f (snapshot %d): %d realisations, %.3g particles tested, %.2f s",
                 shell.index + 1, n_sh, shell.z_near, shell.z_far, shell.snapshot, reals.size,
                 projector.tested, dt)
    kappa, kappa_ia = _born(plan, delta)
    return RealisationMaps(realisations=reals, delta=delta, kappa=kappa, kappa_ia=kappa_ia,
                           symmetry=symmetry, shift=shift, tested=tested)


def _empty_maps(plan: MapPlan) -> RealisationMaps:
    s = plan.settings
    n_pix, n_sh, n_b = s.n_pix, plan.n_shells, plan.n_bins
    born = plan.weights is not None
    full = born and s.mode == "healpix" and s.store_fullsky
    npix = hp.nside2npix(s.nside)
    return RealisationMaps(
        realisations=np.zeros(0, dtype=np.int64), delta=np.zeros((0, n_sh, n_pix, n_pix), dtype=np.float32),
        kappa=np.zeros((0, n_b, n_pix, n_pix), dtype=np.float32) if born else None,
        kappa_ia=np.zeros((0, n_b, n_pix, n_pix), dtype=np.float32) if born else None,
        symmetry=np.zeros((0, n_sh), dtype=np.int16), shift=np.zeros((0, n_sh, 3)),
        fullsky_kappa=np.zeros((0, n_b, npix), dtype=np.float32) if full else None,
        fullsky_kappa_ia=np.zeros((0, n_b, npix), dtype=np.float32) if full else None,
    )


def _snapshot_overdensities(
    plan: MapPlan, skies: np.ndarray, *, base_seed: int
) -> Iterator[tuple[Shell, int, np.ndarray, int, np.ndarray, int]]:
    """Full-sky δ of every (shell, sky) cut from the snapshots with replicas, shell by shell.

    Yields ``(shell, sky position in skies, δ map, symmetry, shift, particles tested)``.
    """
    s = plan.settings
    for shell in plan.shells:
        pos, box = read_snapshot_positions(plan.snapshot_paths[shell.snapshot])
        grid = ParticleGrid.build(pos, box=box, particles_per_cell=s.particles_per_cell)
        del pos
        for i, sky in enumerate(skies):
            tr = _transform(plan, base_seed, shell, int(sky))
            counts, n_tested = counts_from_snapshot(grid, r_near=shell.r_near, r_far=shell.r_far,
                                                    nside=s.nside, transform=tr)
            d_sky = healpix_overdensity(counts, mean_density=grid.mean_density, r_near=shell.r_near,
                                        r_far=shell.r_far)
            yield shell, i, d_sky, tr.symmetry, tr.shift, n_tested
        log.info("healpix shell %d/%d z %.3f-%.3f: %d skies", shell.index + 1, plan.n_shells, shell.z_near,
                 shell.z_far, skies.size)


def _lightcone_overdensities(
    plan: MapPlan, *, comm: Any = None
) -> Iterator[tuple[Shell, int, np.ndarray, int, np.ndarray, int]]:
    """The light cone's single sky: δ of every shell (as :func:`_snapshot_overdensities` yields)."""
    from wlcnn.maps.lightcone import lightcone_overdensities

    identity_shift = np.zeros(3, dtype=np.float64)
    for shell, d_sky in lightcone_overdensities(plan, comm=comm):
        yield shell, 0, d_sky, 0, identity_shift, 0


def _project_healpix(
    plan: MapPlan, skies: np.ndarray, *, base_seed: int, keep_shells: bool, comm: Any = None
) -> RealisationMaps:
    """HEALPix mode: full-sky shells per sky realisation, Born sums, patches cut at the centres.

    Snapshots: every sky is a random transform of the replicated box. Light cones: the one sky
    the run saw (``skies == [0]``; ``comm`` splits the shells' counting over the ranks, and only
    rank 0 may call this).
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
    delta = np.empty((n_sky, n_patch, n_sh if keep_shells else 0, s.n_pix, s.n_pix), dtype=np.float32)
    # Full-sky Born sums accumulated shell by shell (a full-sky shell stack would not fit):
    # κ = Σ_b c_b δ_b in shell order, the same order for every rank count.
    acc = np.zeros((n_sky, 2, n_b, npix), dtype=np.float64) if n_b else None
    w = plan.weights
    coeff = None if w is None else (w.convergence_coefficients, w.ia_coefficients)
    symmetry = np.empty((n_sky, n_sh), dtype=np.int16)
    shift = np.empty((n_sky, n_sh, 3), dtype=np.float64)
    tested = 0
    if plan.lightcone is not None:
        if skies.tolist() != [0]:
            raise ValueError(f"a light cone is one sky (realisation 0), asked for {skies.tolist()}")
        source = _lightcone_overdensities(plan, comm=comm)
    else:
        source = _snapshot_overdensities(plan, skies, base_seed=base_seed)
    for shell, i, d_sky, sym, shell_shift, n_tested in source:
        tested += n_tested
        symmetry[i, shell.index] = sym
        shift[i, shell.index] = shell_shift
        if keep_shells:
            for p, (lon, lat) in enumerate(centres):
                delta[i, p, shell.index] = patch_from_healpix(
                    d_sky, geometry=geometry, centre_lon_deg=lon, centre_lat_deg=lat,
                    oversample=oversample)
        if acc is not None and coeff is not None:
            for b in range(n_b):
                acc[i, 0, b] += coeff[0][b, shell.index] * d_sky
                acc[i, 1, b] += coeff[1][b, shell.index] * d_sky
    kappa = kappa_ia = full_k = full_ia = None
    if acc is not None:
        kappa = np.empty((n_sky, n_patch, n_b, s.n_pix, s.n_pix), dtype=np.float32)
        kappa_ia = np.empty_like(kappa)
        for i in range(n_sky):
            for p, (lon, lat) in enumerate(centres):
                kappa[i, p] = patch_from_healpix(acc[i, 0], geometry=geometry, centre_lon_deg=lon,
                                                 centre_lat_deg=lat, oversample=oversample)
                kappa_ia[i, p] = patch_from_healpix(acc[i, 1], geometry=geometry, centre_lon_deg=lon,
                                                    centre_lat_deg=lat, oversample=oversample)
        kappa = kappa.reshape(n_sky * n_patch, n_b, s.n_pix, s.n_pix)
        kappa_ia = kappa_ia.reshape(kappa.shape)
        if s.store_fullsky:
            full_k = acc[:, 0].astype(np.float32)
            full_ia = acc[:, 1].astype(np.float32)
    delta = delta.reshape(n_sky * n_patch, delta.shape[2], s.n_pix, s.n_pix)
    return RealisationMaps(realisations=rows, delta=delta, kappa=kappa, kappa_ia=kappa_ia,
                           symmetry=symmetry, shift=shift,
                           fullsky_kappa=full_k, fullsky_kappa_ia=full_ia, tested=tested)


def estimate_memory_mb(
    *, n_particles: int, n_realisations: int, n_shells: int, n_bins: int, n_pix: int, ranks: int = 1,
    mode: str = "pencil_beam", nside: int = 0, patches_per_sky: int = 1,
) -> int:
    """Peak memory per rank (MB) of :func:`make_simulation_maps`, for the workflow's resources.

    Counts one snapshot in memory twice (read + cell-sorted copy) and, per local realisation,
    the δ stack plus κ and κ_IA (float32), with rank 0 holding one more rank's block while
    writing; HEALPix mode adds two float64 full-sky accumulators per bin and sky.
    """
    local = math.ceil(n_realisations / max(ranks, 1))
    snapshot = 2 * n_particles * 3 * 4 + 8 * n_particles
    per_map = n_pix * n_pix * 4 * (n_shells + 2 * n_bins)
    maps = 2 * local * patches_per_sky * per_map
    fullsky = local * 2 * n_bins * 12 * nside * nside * 8 if mode == "healpix" else 0
    return int((snapshot + maps + fullsky) / _MB * 1.25) + 256


def _write_static(writer: MapFileWriter, plan: MapPlan) -> None:
    """Shell table, N̄ per pixel, weights, patch centres: what does not depend on the realisation."""
    s = plan.settings
    for name in ("z_near", "z_far", "r_near", "r_far"):
        values = [getattr(sh, name) for sh in plan.shells]
        writer.write_static(f"shells/{name}", np.asarray(values, dtype=np.float64))
    writer.write_static("shells/snapshot", np.asarray([sh.snapshot for sh in plan.shells], dtype=np.int64))
    if s.mode == "pencil_beam":
        density = plan.n_particles / plan.box**3
        expected = [expected_counts(sh, s.geometry, density) for sh in plan.shells]
        empty = np.zeros((0, s.n_pix, s.n_pix))
        writer.write_static("shells/expected", np.stack(expected) if expected else empty)
    else:
        writer.write_static("healpix/patch_centres", patch_centres(s.patch_nside))
    if plan.weights is not None:
        writer.write_static("weights/born", np.asarray(plan.weights.born_weights, dtype=np.float64))
        writer.write_static("weights/ia", np.asarray(plan.weights.ia_weights, dtype=np.float64))
        writer.write_static("weights/delta_d", np.asarray(plan.weights.delta_d, dtype=np.float64))


def make_simulation_maps(
    manifest_path: str | Path,
    *,
    out_path: str | Path,
    cosmology: Mapping[str, float] | None,
    shells_config: Mapping[str, Any],
    lensing_config: Mapping[str, Any] | None,
    role: str,
    base_seed: int,
    comm: Any = None,
    base_dir: str | Path = ".",
) -> Path | None:
    """Project every realisation of a simulation and write its map file.

    Parameters
    ----------
    manifest_path
        The simulation's ingestion ``manifest.json``.
    out_path
        Map file to write (atomically).
    cosmology
        omega_m, sigma8, h, omega_b, n_s (None: the manifest's).
    shells_config, lensing_config
        The configuration's ``shells:`` and ``lensing:`` blocks.
    role
        ``train``, ``test`` or ``mock``; shell stacks are kept for ``shells.keep_shells`` roles.
    base_seed
        ``run.seed``.
    comm
        An mpi4py communicator to split the realisations over (None: this process does all).
        Every rank must call; rank 0 writes.
    base_dir
        Directory the n(z) paths are relative to.

    Returns
    -------
    pathlib.Path or None
        The map file on rank 0, None on the other ranks.
    """
    started = utc_now()
    plan = plan_maps(manifest_path, cosmology=cosmology, shells_config=shells_config,
                     lensing_config=lensing_config, base_dir=base_dir)
    return write_simulation_maps(plan, out_path=out_path, shells_config=shells_config,
                                 lensing_config=lensing_config, role=role, base_seed=base_seed, comm=comm,
                                 started=started)


def write_simulation_maps(
    plan: MapPlan,
    *,
    out_path: str | Path,
    shells_config: Mapping[str, Any],
    lensing_config: Mapping[str, Any] | None,
    role: str,
    base_seed: int,
    comm: Any = None,
    started: str | None = None,
) -> Path | None:
    """Project every realisation of a planned simulation and write its map file.

    Snapshot plans (:func:`plan_maps`) split the realisations over the ranks; light-cone plans
    (:func:`wlcnn.maps.lightcone.plan_lightcone_maps`) have one sky, and split the counting of
    its shells over the ranks instead (integer count maps, summed on rank 0 in shell order), so
    the file is byte-identical for any number of ranks either way.

    Parameters
    ----------
    plan
        The simulation's plan (identical on every rank).
    out_path, shells_config, lensing_config, role, base_seed, comm
        As for :func:`make_simulation_maps`.
    started
        Start time for the provenance record (None: now).

    Returns
    -------
    pathlib.Path or None
        The map file on rank 0, None on the other ranks.
    """
    from wlcnn.maps.mpi import gather_to_root, split_range

    started = started or utc_now()
    rank = 0 if comm is None else comm.Get_rank()
    size = 1 if comm is None else comm.Get_size()
    s = plan.settings
    keep = role in s.keep_shells
    t0 = time.perf_counter()
    if plan.lightcone is not None:
        if rank != 0:  # count this rank's shells and send them to rank 0
            from wlcnn.maps.lightcone import lightcone_overdensities

            for _ in lightcone_overdensities(plan, comm=comm):
                pass
            return None
        mine = range(1)
        maps = _project_healpix(plan, np.zeros(1, dtype=np.int64), base_seed=base_seed, keep_shells=keep,
                                comm=comm)
        comm = None  # everything is on rank 0 now: write the blocks directly
    else:
        mine = split_range(s.n_realisations, size, rank)
        maps = project_realisations(plan, mine, base_seed=base_seed, keep_shells=keep)
    elapsed = time.perf_counter() - t0
    log.info("rank %d/%d: realisations %d-%d in %.1f s (%.3g particles tested)", rank, size, mine.start,
             mine.stop - 1, elapsed, maps.tested)
    # (array, rows per realisation of the split): HEALPix mode has patches_per_sky map rows per
    # full-sky realisation but one transform row.
    per = s.patches_per_sky
    blocks = {
        "kappa": (maps.kappa, per), "kappa_ia": (maps.kappa_ia, per),
        "shells__delta": (maps.delta if keep else None, per),
        "realisations__symmetry": (maps.symmetry, 1), "realisations__shift": (maps.shift, 1),
        "healpix__kappa": (maps.fullsky_kappa, 1), "healpix__kappa_ia": (maps.fullsky_kappa_ia, 1),
    }
    if rank != 0:
        gather_to_root(comm, blocks, writer=None, n_realisations=s.n_realisations)
        return None
    config_subset = {"shells": dict(shells_config), "lensing": dict(lensing_config or {}),
                     "cosmology": plan.cosmology, "role": role, "base_seed": int(base_seed)}
    prov = provenance_record(step="maps", inputs=[*plan.inputs, *plan.nz_records], config=config_subset,
                             started=started,
                             extra={"mpi_ranks": size, "particles_tested_rank0": maps.tested})
    attrs = {
        "mode": s.mode, "role": role, "cosmology_id": plan.cosmology_id, "simulation": plan.simulation,
        "cosmology": plan.cosmology, "box": plan.box, "n_particles": plan.n_particles,
        "n_realisations": plan.n_maps, "n_bins": plan.n_bins, "n_shells": plan.n_shells, "n_pix": s.n_pix,
        "patch_size_deg": s.patch_size_deg, "pixel_size_arcmin": s.geometry.pixel_size_arcmin,
        "base_seed": int(base_seed),
        "seed_identity": [TRANSFORM_STREAM, plan.cosmology_id, plan.simulation, "<snapshot>",
                          "<realisation>"],
        "nz": list(plan.nz_records), "nz_checksum": plan.nz_checksum or "",
        "shells": [sh.to_dict() for sh in plan.shells], "provenance": prov,
    }
    if plan.weights is not None:
        density = plan.n_particles / plan.box**3
        attrs["shot_noise_cl_kappa"] = shot_noise_cl(
            plan.shells, mean_density=density, coefficients=plan.weights.convergence_coefficients)
        attrs["shot_noise_cl_kappa_ia"] = shot_noise_cl(
            plan.shells, mean_density=density, coefficients=plan.weights.ia_coefficients)
    if s.mode == "healpix":
        attrs.update(nside=s.nside, patches_per_sky=s.patches_per_sky, patch_nside=s.patch_nside)
    if plan.lightcone is not None:
        attrs.update(source=s.source, lightcone=plan.lightcone.describe())
    npix = hp.nside2npix(s.nside) if (s.mode == "healpix" and s.store_fullsky) else 0
    skies = s.n_realisations if s.mode == "healpix" else 0
    with MapFileWriter(out_path, attrs=attrs, n_realisations=plan.n_maps, n_bins=plan.n_bins,
                       n_shells=plan.n_shells, n_pix=s.n_pix, born=plan.weights is not None, keep_shells=keep,
                       fullsky_npix=npix, fullsky_count=skies) as writer:
        _write_static(writer, plan)
        gather_to_root(comm, blocks, writer=writer, n_realisations=s.n_realisations)
    log.info("wrote %s (%d maps, %d shells, %d bins)", out_path, plan.n_maps, plan.n_shells, plan.n_bins)
    return Path(out_path)
