"""Observed shear maps, masks, shear biases and noise ingredients of the survey's patches.

From a validated catalogue (read in chunks) this module builds, per patch p and tomographic bin
b, on the patch grid of :mod:`wlcnn.survey.patches`:

- the pixel shear (SPEC §4, paper eq. 1) γ(pix) = Σ w (e − c) / Σ w = Σ w e / Σ w − c,
- the mask: pixels with at least one galaxy of positive weight (observed = True),
- the additive bias c[p, b, i] = Σ w e_i / Σ w over the patch and bin (``additive_bias_from:
  data``; or the configured per-bin values, or 0),
- the multiplicative bias m[b] = Σ w m / Σ w over the kept galaxies of bin b (``data``; or the
  configured values). It is applied to the simulated maps, never to the data.
- the noise ingredients of :mod:`wlcnn.survey.shape_noise`,
- the selection table (paper's Table I).

:func:`build_patch_maps` writes them to one HDF5 file (:func:`write_patch_maps`, layout below),
atomically and with a provenance record; :func:`read_patch_maps` reads it back::

    /                    attrs: format, format_version, n_pix, patch_size_deg, zb_edges,
                                patch_centres, additive_bias_from, multiplicative_bias_from,
                                conventions, selection_table (JSON), provenance (JSON)
    /maps/gamma          float64 (P, B, 2, N, N)  bias-corrected shear, 0 where masked
    /maps/mask           uint8   (P, B, N, N)     1 = observed pixel
    /maps/counts         int32   (P, B, N, N)     galaxies per pixel
    /maps/weight_sum     float64 (P, B, N, N)     Σ w per pixel
    /bias/additive       float64 (P, B, 2)        c used in γ and in the noise
    /bias/multiplicative float64 (B,)             m per bin (for the simulations)
    /bias/additive_data, /bias/multiplicative_data   the data estimates, whatever was used
    /table/per_bin_in_bin      int64 (B,)
    /table/per_patch_bin_kept  int64 (P, B)
    /noise/pixel_index         int32 (n_gal,)   sorted flat (patch, bin, y, x) index
    /noise/weighted_modulus    float32 (n_gal,)  w |e − c|
    /noise/inverse_weight_sum  float32 (P, B, N, N)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from wlcnn.atomic import atomic_path
from wlcnn.maps.mapfile import MapFileContentError
from wlcnn.provenance import file_record, provenance_record, utc_now
from wlcnn.survey.catalogue import Catalogue, CatalogueError, DropCounts, iter_validated_chunks
from wlcnn.survey.patches import SelectionTable, assign_patches, tomographic_bin
from wlcnn.survey.settings import SurveySettings
from wlcnn.survey.shape_noise import NoiseIngredients, noise_ingredients

__all__ = [
    "MAPS_FORMAT",
    "MAPS_FORMAT_VERSION",
    "PatchMaps",
    "build_patch_maps",
    "flat_pixel_index",
    "read_patch_maps",
    "write_patch_maps",
]

log = logging.getLogger(__name__)

MAPS_FORMAT = "wlcnn.survey_maps"
MAPS_FORMAT_VERSION = 1
#: Root attributes and datasets :func:`read_patch_maps` needs (checked, so that a damaged file
#: is named instead of failing with a bare KeyError).
_PATCH_MAPS_ATTRS = ("selection_table", "provenance", "patch_centres", "patch_size_deg", "zb_edges")
_PATCH_MAPS_DATASETS = (
    "maps/gamma",
    "maps/mask",
    "maps/counts",
    "maps/weight_sum",
    "bias/additive",
    "bias/multiplicative",
    "bias/additive_data",
    "bias/multiplicative_data",
    "table/per_bin_in_bin",
    "table/per_patch_bin_kept",
    "noise/pixel_index",
    "noise/weighted_modulus",
    "noise/inverse_weight_sum",
)
CONVENTIONS = (
    "maps (..., y, x); x towards increasing RA, y towards increasing Dec (gnomonic, degrees); "
    "shear component axis: 0 = gamma1, 1 = gamma2 in the map frame; bin b: "
    "zb_edges[b] < Z_B <= zb_edges[b+1]"
)


@dataclass
class PatchMaps:
    """Everything the forward model and the data vector need from the survey (see module doc).

    ``mask`` is True where a pixel is observed.
    """

    gamma: np.ndarray
    mask: np.ndarray
    counts: np.ndarray
    weight_sum: np.ndarray
    additive_bias: np.ndarray
    multiplicative_bias: np.ndarray
    additive_bias_data: np.ndarray
    multiplicative_bias_data: np.ndarray
    noise: NoiseIngredients
    table: SelectionTable
    patch_centres: np.ndarray
    patch_size_deg: float
    zb_edges: tuple[float, ...]
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def map_shape(self) -> tuple[int, int, int, int]:
        """(n_patches, n_bins, n_pix, n_pix)."""
        p, b, n, _ = self.mask.shape
        return p, b, n, n


def flat_pixel_index(
    patch: np.ndarray, tbin: np.ndarray, iy: np.ndarray, ix: np.ndarray, *, n_bins: int, n_pix: int
) -> np.ndarray:
    """Flat index of (patch, bin, iy, ix) in a C-ordered (P, B, N, N) array (int64)."""
    return ((patch.astype(np.int64) * n_bins + tbin) * n_pix + iy) * n_pix + ix


@dataclass
class _Kept:
    """Kept galaxies, accumulated over chunks."""

    index: list[np.ndarray] = field(default_factory=list)
    weight: list[np.ndarray] = field(default_factory=list)
    e1: list[np.ndarray] = field(default_factory=list)
    e2: list[np.ndarray] = field(default_factory=list)
    m: list[np.ndarray] = field(default_factory=list)

    def add(self, cat: Catalogue, index: np.ndarray) -> None:
        self.index.append(index)
        self.weight.append(cat.weight)
        self.e1.append(cat.e1)
        self.e2.append(cat.e2)
        self.m.append(cat.m)

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(
            np.concatenate(x) if x else np.empty(0)
            for x in (self.index, self.weight, self.e1, self.e2, self.m)
        )


#: Largest |RA| and |Dec| of a catalogue given in radians (2π and π/2).
_RADIAN_RA_LIMIT = 2.0 * np.pi
_RADIAN_DEC_LIMIT = 0.5 * np.pi


def _footprint_text(settings: SurveySettings) -> str:
    """The survey footprint in words: ranges of the patch centres and the patch size (degrees)."""
    centres = np.asarray(settings.patch_centres, dtype=float).reshape(-1, 2)
    return (
        f"{len(centres)} patches of {settings.patch_size_deg:g} deg centred at RA "
        f"{centres[:, 0].min():g}..{centres[:, 0].max():g} deg, Dec {centres[:, 1].min():g}.."
        f"{centres[:, 1].max():g} deg"
    )


@dataclass
class _Footprint:
    """Extent of one file's validated galaxies and how many fell in a patch."""

    n_valid: int = 0
    n_inside: int = 0
    ra_range: tuple[float, float] = (np.inf, -np.inf)
    dec_range: tuple[float, float] = (np.inf, -np.inf)

    def add(self, cat: Catalogue, *, n_inside: int) -> None:
        if not len(cat):
            return
        self.n_valid += len(cat)
        self.n_inside += n_inside
        self.ra_range = (min(self.ra_range[0], cat.ra.min()), max(self.ra_range[1], cat.ra.max()))
        self.dec_range = (min(self.dec_range[0], cat.dec.min()), max(self.dec_range[1], cat.dec.max()))

    def check(self, path: Path, *, settings: SurveySettings) -> None:
        """Refuse a file whose galaxies all miss the patches while looking like radians.

        RA/Dec in radians pass every per-row check (|Dec| < 90), then simply fall outside every
        patch; a real field in degrees inside 0 <= RA < 6.3, |Dec| < 1.6 would still land in a
        patch, so only a file with no galaxy in any patch is diagnosed.
        """
        if self.n_valid == 0 or self.n_inside > 0:
            return
        in_radian_box = (
            self.ra_range[1] < _RADIAN_RA_LIMIT
            and max(abs(self.dec_range[0]), abs(self.dec_range[1])) <= _RADIAN_DEC_LIMIT
        )
        if in_radian_box:
            raise CatalogueError(
                path,
                f"{settings.columns.ra}/{settings.columns.dec}",
                f"positions in degrees inside the survey footprint ({_footprint_text(settings)})",
                f"RA {self.ra_range[0]:.4g}..{self.ra_range[1]:.4g}, Dec {self.dec_range[0]:.4g}.."
                f"{self.dec_range[1]:.4g} for all {self.n_valid} usable galaxies, none in a patch: "
                "RA/Dec given in radians? (the catalogue must be in degrees)",
            )
        log.warning(
            "%s: none of %d usable galaxies (RA %.4g..%.4g, Dec %.4g..%.4g) falls in a patch (%s)",
            path,
            self.n_valid,
            *self.ra_range,
            *self.dec_range,
            _footprint_text(settings),
        )


def _per_patch_bin(values: np.ndarray) -> np.ndarray:
    """Sum (P, B, N, N) maps over the pixels → (P, B)."""
    return values.sum(axis=(-2, -1))


def build_patch_maps(
    catalogue_paths: Sequence[str | Path] | str | Path | None = None,
    *,
    settings: SurveySettings,
    out_path: str | Path | None = None,
    checksum: str = "sha256",
    identity: Mapping[str, Any] | None = None,
) -> PatchMaps:
    """Build the survey's patch maps from catalogue file(s), optionally writing them.

    Parameters
    ----------
    catalogue_paths
        Catalogue file(s); ``settings.catalogue`` when ``None``.
    settings
        The survey settings (:meth:`SurveySettings.from_config`).
    out_path
        Where to write the HDF5 file (atomically); nothing is written when ``None``.
    checksum
        Checksum of the inputs in the provenance record (``"sha256"`` or ``"none"``).
    identity
        Extra facts for the provenance record (e.g. the rule name).

    Returns
    -------
    PatchMaps
        The maps, biases, noise ingredients and selection table.
    """
    started = utc_now()
    paths = settings.catalogue if catalogue_paths is None else catalogue_paths
    paths = [paths] if isinstance(paths, str | Path) else list(paths)
    n_bins, n_pix, n_patches = settings.n_bins, settings.n_pix, settings.n_patches
    map_shape = (n_patches, n_bins, n_pix, n_pix)
    drops = DropCounts()
    in_bin_counts = np.zeros(n_bins, dtype=np.int64)
    n_zb_outside = n_multiple = 0
    kept = _Kept()
    for path in paths:
        footprint = _Footprint()
        for chunk_cat, chunk_drops in iter_validated_chunks(
            path,
            columns=settings.columns,
            selections=settings.selections,
            invalid_rows=settings.invalid_rows,
            flip_e1=settings.flip_e1,
            flip_e2=settings.flip_e2,
            chunk_rows=settings.chunk_rows,
            format=settings.catalogue_format,
            table=settings.catalogue_table,
        ):
            drops.merge(chunk_drops)
            tbin = tomographic_bin(chunk_cat.z_b, settings.zb_edges)
            in_bin = tbin >= 0
            n_zb_outside += int((~in_bin).sum())
            in_bin_counts += np.bincount(tbin[in_bin], minlength=n_bins)
            cat, tbin = chunk_cat.select(in_bin), tbin[in_bin]
            where = assign_patches(
                cat.ra,
                cat.dec,
                centres=settings.patch_centres,
                patch_size_deg=settings.patch_size_deg,
                n_pix=n_pix,
            )
            n_multiple += where.n_multiple
            inside = where.inside
            footprint.add(cat, n_inside=int(inside.sum()))
            index = flat_pixel_index(
                where.patch[inside],
                tbin[inside],
                where.iy[inside],
                where.ix[inside],
                n_bins=n_bins,
                n_pix=n_pix,
            )
            kept.add(cat.select(inside), index)
        footprint.check(Path(path), settings=settings)
    index, weight, e1, e2, m = kept.arrays()
    if index.size == 0:
        # Every file had usable galaxies, but none falls in a patch with a Z_B in a bin: the maps
        # would be empty (and fail later with an unrelated numerical error).
        files = ", ".join(str(p) for p in paths)
        raise CatalogueError(
            files,
            f"{settings.columns.ra}/{settings.columns.dec}/{settings.columns.z_b}",
            f"galaxies inside the patches ({_footprint_text(settings)}) with Z_B in "
            f"({settings.zb_edges[0]:g}, {settings.zb_edges[-1]:g}]",
            f"none of {drops.n_read - drops.n_dropped} usable rows "
            f"({n_zb_outside} with Z_B outside the bins)",
        )
    index = index.astype(np.int64)
    size = int(np.prod(map_shape))
    counts = np.bincount(index, minlength=size).reshape(map_shape).astype(np.int32)
    w_sum = np.bincount(index, weights=weight, minlength=size).reshape(map_shape)
    we1 = np.bincount(index, weights=weight * e1, minlength=size).reshape(map_shape)
    we2 = np.bincount(index, weights=weight * e2, minlength=size).reshape(map_shape)
    mask = w_sum > 0
    w_pb = _per_patch_bin(w_sum)
    with np.errstate(invalid="ignore", divide="ignore"):
        c_data = np.stack([_per_patch_bin(we1) / w_pb, _per_patch_bin(we2) / w_pb], axis=-1)
    c_data = np.nan_to_num(c_data)  # an empty patch-bin has no bias to remove
    if settings.additive_bias_from == "data":
        c = c_data
    elif settings.additive_bias_from == "config":
        c = np.broadcast_to(np.asarray(settings.additive_bias)[None, :, None], c_data.shape).copy()
    else:
        c = np.zeros_like(c_data)
    tbin_of = (index // (n_pix * n_pix)) % n_bins
    w_bin = np.bincount(tbin_of, weights=weight, minlength=n_bins)
    m_data = np.divide(
        np.bincount(tbin_of, weights=weight * m, minlength=n_bins),
        w_bin,
        out=np.zeros(n_bins),
        where=w_bin > 0,
    )
    m_used = (
        m_data if settings.multiplicative_bias_from == "data" else np.asarray(settings.multiplicative_bias)
    )
    inv = np.divide(1.0, w_sum, out=np.zeros_like(w_sum), where=mask)
    gamma = np.stack(
        [(we1 * inv - c[..., 0, None, None]) * mask, (we2 * inv - c[..., 1, None, None]) * mask], axis=2
    )
    c_gal = c.reshape(-1, 2)[index // (n_pix * n_pix)]
    noise = noise_ingredients(
        pixel_index=index, weight=weight, e1=e1 - c_gal[:, 0], e2=e2 - c_gal[:, 1], map_shape=map_shape
    )
    table = SelectionTable(
        zb_edges=settings.zb_edges,
        per_bin_in_bin=in_bin_counts,
        per_patch_bin_kept=counts.sum(axis=(-2, -1)).astype(np.int64),
        catalogue_drops=drops.to_dict(),
        n_zb_outside=n_zb_outside,
        n_multiple=n_multiple,
    )
    maps = PatchMaps(
        gamma=gamma,
        mask=mask,
        counts=counts,
        weight_sum=w_sum,
        additive_bias=c,
        multiplicative_bias=m_used,
        additive_bias_data=c_data,
        multiplicative_bias_data=m_data,
        noise=noise,
        table=table,
        patch_centres=np.asarray(settings.patch_centres, dtype=float),
        patch_size_deg=settings.patch_size_deg,
        zb_edges=settings.zb_edges,
        attrs={
            "additive_bias_from": settings.additive_bias_from,
            "multiplicative_bias_from": settings.multiplicative_bias_from,
        },
    )
    log.info(
        "patch maps: %d galaxies kept in %d patches x %d bins; %.1f%% of pixels observed",
        noise.n_galaxies,
        n_patches,
        n_bins,
        100 * mask.mean() if mask.size else 0.0,
    )
    if out_path is not None:
        record = provenance_record(
            step="survey_patch_maps",
            inputs=[file_record(p, checksum=checksum) for p in paths],
            config=settings.config_subset(),
            started=started,
            extra={"identity": dict(identity or {}), "n_galaxies": noise.n_galaxies},
        )
        write_patch_maps(out_path, maps, provenance=record)
    return maps


def write_patch_maps(path: str | Path, maps: PatchMaps, *, provenance: Mapping[str, Any]) -> None:
    """Write :class:`PatchMaps` to HDF5 (layout in the module docstring), atomically."""
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w") as fh:
        fh.attrs.update(
            {
                "format": MAPS_FORMAT,
                "format_version": MAPS_FORMAT_VERSION,
                "n_pix": maps.mask.shape[-1],
                "patch_size_deg": maps.patch_size_deg,
                "zb_edges": np.asarray(maps.zb_edges),
                "patch_centres": maps.patch_centres,
                "conventions": CONVENTIONS,
                "selection_table": json.dumps(maps.table.to_dict()),
                "provenance": json.dumps(dict(provenance), default=str),
                **{k: str(v) for k, v in maps.attrs.items()},
            }
        )
        fh["maps/gamma"] = maps.gamma
        fh["maps/mask"] = maps.mask.astype(np.uint8)
        fh["maps/counts"] = maps.counts
        fh["maps/weight_sum"] = maps.weight_sum
        fh["bias/additive"] = maps.additive_bias
        fh["bias/multiplicative"] = maps.multiplicative_bias
        fh["bias/additive_data"] = maps.additive_bias_data
        fh["bias/multiplicative_data"] = maps.multiplicative_bias_data
        fh["table/per_bin_in_bin"] = maps.table.per_bin_in_bin
        fh["table/per_patch_bin_kept"] = maps.table.per_patch_bin_kept
        fh["noise/pixel_index"] = maps.noise.pixel_index
        fh["noise/weighted_modulus"] = maps.noise.weighted_modulus
        fh["noise/inverse_weight_sum"] = maps.noise.inverse_weight_sum


def read_patch_maps(path: str | Path) -> PatchMaps:
    """Read a file written by :func:`write_patch_maps`.

    Raises
    ------
    MapFileContentError
        If the file is missing, truncated, not a survey-maps file of this version, or lacks a
        dataset or attribute (the message names file, field, expected and found).
    """
    path = Path(path)
    if not path.is_file():
        raise MapFileContentError(path, "file", "an existing survey patch-maps file", "no such file")
    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise MapFileContentError(path, "file", "a complete HDF5 file (truncated?)", str(exc)) from None
    with fh:
        attrs = dict(fh.attrs)
        if attrs.get("format") != MAPS_FORMAT or int(attrs.get("format_version", -1)) != MAPS_FORMAT_VERSION:
            raise MapFileContentError(
                path,
                "format, format_version",
                f"{MAPS_FORMAT!r} version {MAPS_FORMAT_VERSION}",
                f"{attrs.get('format')!r} version {attrs.get('format_version')}",
            )
        for name in _PATCH_MAPS_ATTRS:
            if name not in attrs:
                raise MapFileContentError(path, name, "this attribute", f"attributes {sorted(attrs)}")
        for name in _PATCH_MAPS_DATASETS:
            if name not in fh:
                raise MapFileContentError(path, name, "this dataset", "no such dataset")
        try:
            table_info = json.loads(attrs["selection_table"])
            provenance = json.loads(attrs["provenance"])
        except ValueError as exc:
            raise MapFileContentError(path, "selection_table, provenance", "JSON text", str(exc)) from None
        table = SelectionTable(
            zb_edges=tuple(table_info["zb_edges"]),
            per_bin_in_bin=fh["table/per_bin_in_bin"][()],
            per_patch_bin_kept=fh["table/per_patch_bin_kept"][()],
            catalogue_drops=table_info["catalogue_drops"],
            n_zb_outside=table_info["n_zb_outside"],
            n_multiple=table_info["n_multiple"],
        )
        noise = NoiseIngredients(
            pixel_index=fh["noise/pixel_index"][()],
            weighted_modulus=fh["noise/weighted_modulus"][()],
            inverse_weight_sum=fh["noise/inverse_weight_sum"][()],
        )
        return PatchMaps(
            gamma=fh["maps/gamma"][()],
            mask=fh["maps/mask"][()].astype(bool),
            counts=fh["maps/counts"][()],
            weight_sum=fh["maps/weight_sum"][()],
            additive_bias=fh["bias/additive"][()],
            multiplicative_bias=fh["bias/multiplicative"][()],
            additive_bias_data=fh["bias/additive_data"][()],
            multiplicative_bias_data=fh["bias/multiplicative_data"][()],
            noise=noise,
            table=table,
            patch_centres=np.asarray(attrs["patch_centres"]),
            patch_size_deg=float(attrs["patch_size_deg"]),
            zb_edges=tuple(float(z) for z in attrs["zb_edges"]),
            attrs={
                "provenance": provenance,
                "additive_bias_from": attrs.get("additive_bias_from"),
                "multiplicative_bias_from": attrs.get("multiplicative_bias_from"),
            },
        )
