"""The map file: κ, κ_IA (and shell) stacks of one (cosmology, simulation), HDF5.

Layout (``format = "wlcnn.maps"``, ``format_version = 1``)::

    /                    attrs: format, format_version, mode, role, cosmology_id, simulation,
                                cosmology (JSON), box, n_particles, n_realisations, n_bins,
                                n_shells, n_pix, patch_size_deg, pixel_size_arcmin,
                                pixel_convention, base_seed, seed_identity (JSON), nz (JSON file
                                records), nz_checksum, born (bool: κ present), shells (JSON),
                                nside, patches_per_sky (HEALPix mode), shot_noise_cl_kappa,
                                shot_noise_cl_kappa_ia (float64 per bin: Poisson noise power of
                                the particle shells, sr), provenance (JSON)
    /kappa               float32 (realisation, bin, y, x)   κ (dimensionless), if ``born``
    /kappa_ia            float32 (realisation, bin, y, x)   κ_IA for A_IA = 1, if ``born``
    /shells/delta        float32 (realisation, shell, y, x) δ (test and mock simulations)
    /shells/z_near, z_far, r_near, r_far   float64 (shell,)  redshifts; comoving Mpc/h
    /shells/snapshot     int64 (shell,)      manifest index of the projected snapshot
    /shells/expected     float64 (shell, y, x)  N̄ per pixel (counts = (δ + 1) N̄)
    /weights/born, /weights/ia   float64 (bin, shell)   W_b, W_b^IA (SPEC §3)
    /weights/delta_d     float64 (shell,)    ΔD_b (units of c/H0)
    /realisations/symmetry  int16 (realisation, shell)   index into wlcnn.maps.symmetries.SYMMETRIES
    /realisations/shift     float64 (realisation, shell, 3)  periodic shift, Mpc/h
    /healpix/patch_centres  float64 (patch, 2)  lon, lat in degrees (HEALPix mode)
    /healpix/kappa, /healpix/kappa_ia  float32 (sky, bin, npix)  full-sky RING maps (optional)

Maps from a PkdGrav3 light cone (:mod:`wlcnn.maps.lightcone`) add the attributes ``source``
(``lightcone_healpix`` or ``lightcone_particles``) and ``lightcone`` (JSON: file kind, run
prefix, step table, first and last step, the steps of each shell, the files' nside); they have
one sky, ``/shells/snapshot`` holds the PkdGrav3 step ending at each shell's near edge and the
stored transforms are the identity. Without ``source`` the maps come from snapshots.

Shells are ordered near to far. In HEALPix mode realisation ``k`` is patch ``k % P`` of
full-sky realisation ``k // P`` (``P = patches_per_sky``): patches of one sky are correlated.

The file is written under a temporary name and renamed when complete (:class:`MapFileWriter`).
Datasets are contiguous and written in realisation order, whatever the number of MPI ranks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np

from wlcnn.atomic import atomic_path

__all__ = [
    "MAPS_FORMAT",
    "MAPS_VERSION",
    "PIXEL_CONVENTION",
    "MapFileContentError",
    "MapFileError",
    "MapFileWriter",
    "check_consistent_map_files",
    "describe_map_file",
    "format_description",
    "is_map_file",
    "read_map_attrs",
]

MAPS_FORMAT = "wlcnn.maps"
MAPS_VERSION = 1
#: Stored with every file: how pixel (iy, ix) relates to the sky.
PIXEL_CONVENTION = (
    "gnomonic (tangent-plane) patch of n_pix x n_pix pixels of side D = patch_size/n_pix; pixel "
    "(iy, ix) is centred at x = (ix + 0.5 - n_pix/2) D, y = (iy + 0.5 - n_pix/2) D; arrays indexed "
    "[..., y, x]. Pencil beam: x = X/Z, y = Y/Z in the randomly rotated, shifted box (line of sight "
    "along its +z axis). HEALPix patches: "
    "x east (increasing longitude), y north."
)
#: Attributes holding JSON text.
_JSON_ATTRS = ("cosmology", "seed_identity", "nz", "shells", "provenance", "lightcone")


#: Root attributes that fix the geometry of a map file: files combined into one survey or one
#: training set must agree on every one they hold.
GEOMETRY_ATTRS = ("n_pix", "patch_size_deg", "n_bins", "n_shells", "nside", "patches_per_sky")
#: Relative tolerance when comparing the shell redshift edges of two files (written from the
#: same configuration they agree to rounding; a different shell plan differs by far more).
SHELL_EDGE_RTOL = 1e-9


class MapFileError(ValueError):
    """A file is not a map file of a known version."""


class MapFileContentError(MapFileError):
    """A map file is damaged, lacks what its reader needs, or disagrees with its sibling files.

    Parameters
    ----------
    path
        The offending file.
    field
        Attribute or dataset at fault (``"n_pix"``, ``"shells/z_near"``, ``"file"``).
    expected, found
        What the reader needed (for a disagreement: the value in ``other``) and what the file holds.
    other
        The file ``path`` was compared with, when the problem is a disagreement.
    """

    def __init__(
        self, path: str | Path, field: str, expected: str, found: str, *, other: str | Path | None = None
    ) -> None:
        self.path = Path(path)
        self.field = field
        self.expected = expected
        self.found = found
        self.other = None if other is None else Path(other)
        where = "" if other is None else f" (as in {self.other})"
        super().__init__(f"{self.path}: {field}: expected {expected}{where}, found {found}")


def _open_map_file(path: str | Path) -> h5py.File:
    """Open a map file for reading; a missing or truncated file names itself (h5py does not)."""
    path = Path(path)
    if not path.is_file():
        found = "a directory" if path.is_dir() else "no such file"
        raise MapFileContentError(path, "file", "an existing map file", found)
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise MapFileContentError(
            path, "file", "a complete HDF5 map file (truncated or not HDF5?)", str(exc)
        ) from None


def _attr_value(value: Any) -> Any:
    if isinstance(value, str | bytes | int | float | bool | np.generic | np.ndarray):
        return value
    return json.dumps(value, default=str)


class MapFileWriter:
    """Create a map file and fill it block by block (realisations in any order), atomically.

    Parameters
    ----------
    path
        Final file name; nothing appears there until :meth:`close` succeeds.
    attrs
        Root attributes (dicts and lists are stored as JSON text).
    n_realisations, n_bins, n_shells, n_pix
        Shapes of the stacks.
    born
        Whether ``/kappa`` and ``/kappa_ia`` are written.
    keep_shells
        Whether ``/shells/delta`` is written.
    fullsky_npix
        Pixels of the optional full-sky maps (0: none); ``fullsky_count`` of them.

    Examples
    --------
    >>> with MapFileWriter(path, attrs=..., n_realisations=4, ...) as w:   # doctest: +SKIP
    ...     w.write_block(0, kappa=k, kappa_ia=k_ia, symmetry=s, shift=t)
    """

    def __init__(
        self,
        path: str | Path,
        *,
        attrs: Mapping[str, Any],
        n_realisations: int,
        n_bins: int,
        n_shells: int,
        n_pix: int,
        born: bool,
        keep_shells: bool,
        fullsky_npix: int = 0,
        fullsky_count: int = 0,
    ) -> None:
        self.path = Path(path)
        self._ctx = atomic_path(self.path, suffix=".h5")
        tmp = self._ctx.__enter__()
        try:
            self._fh = h5py.File(tmp, "w")
            fh = self._fh
            fh.attrs["format"] = MAPS_FORMAT
            fh.attrs["format_version"] = MAPS_VERSION
            fh.attrs["pixel_convention"] = PIXEL_CONVENTION
            fh.attrs["born"] = bool(born)
            for key, value in attrs.items():
                fh.attrs[key] = _attr_value(value)
            # Contiguous storage, created in a fixed order: the layout of the file does not
            # depend on how many ranks computed it or in which order blocks arrive.
            maps = (n_realisations, n_bins, n_pix, n_pix)
            if born:
                fh.create_dataset("kappa", shape=maps, dtype=np.float32)
                fh.create_dataset("kappa_ia", shape=maps, dtype=np.float32)
            if keep_shells:
                stack = (n_realisations, n_shells, n_pix, n_pix)
                fh.create_dataset("shells/delta", shape=stack, dtype=np.float32)
            if fullsky_npix and fullsky_count and born:
                sky = (fullsky_count, n_bins, fullsky_npix)
                fh.create_dataset("healpix/kappa", shape=sky, dtype=np.float32)
                fh.create_dataset("healpix/kappa_ia", shape=sky, dtype=np.float32)
            fh.create_dataset(
                "realisations/symmetry", shape=(fullsky_count or n_realisations, n_shells), dtype=np.int16
            )
            fh.create_dataset(
                "realisations/shift", shape=(fullsky_count or n_realisations, n_shells, 3), dtype=np.float64
            )
        except BaseException:
            self._abort()
            raise

    def write_static(self, name: str, data: np.ndarray) -> None:
        """Write a small dataset that does not depend on the realisation (``shells/z_near``, ...)."""
        self._fh.create_dataset(name, data=data)

    def write_block(self, start: int, **arrays: np.ndarray | None) -> None:
        """Write realisations ``start ... start + len - 1`` of the given stacks.

        Keyword names are dataset paths with ``/`` written as ``__`` (``kappa``, ``kappa_ia``,
        ``shells__delta``, ``realisations__symmetry``, ``realisations__shift``,
        ``healpix__kappa``, ``healpix__kappa_ia``); None values are skipped.
        """
        for key, data in arrays.items():
            if data is None:
                continue
            name = key.replace("__", "/")
            if name not in self._fh:
                continue
            self._fh[name][start : start + data.shape[0]] = data

    def close(self) -> Path:
        """Flush, close and move the file into place."""
        self._fh.close()
        self._ctx.__exit__(None, None, None)
        return self.path

    def _abort(self) -> None:
        fh = getattr(self, "_fh", None)
        if fh is not None and fh.id.valid:
            fh.close()
        err = RuntimeError("map file writing aborted")
        self._ctx.__exit__(RuntimeError, err, None)

    def __enter__(self) -> MapFileWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort()


def is_map_file(path: str | Path) -> bool:
    """True when ``path`` is an HDF5 file tagged ``format = "wlcnn.maps"``."""
    try:
        with h5py.File(path, "r") as fh:
            return fh.attrs.get("format") == MAPS_FORMAT
    except (OSError, ValueError):
        return False


def read_map_attrs(path: str | Path) -> dict[str, Any]:
    """Root attributes of a map file (JSON decoded), checking format and version.

    Raises
    ------
    MapFileError
        If the file is not a map file or has a newer version.
    """
    with _open_map_file(path) as fh:
        attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in fh.attrs.items()}
    if attrs.get("format") != MAPS_FORMAT:
        raise MapFileError(f"{path}: attribute 'format' is {attrs.get('format')!r}, expected {MAPS_FORMAT!r}")
    if int(attrs.get("format_version", 0)) > MAPS_VERSION:
        raise MapFileError(f"{path}: format_version {attrs['format_version']} is newer than {MAPS_VERSION}")
    for key in _JSON_ATTRS:
        if isinstance(attrs.get(key), str):
            try:
                attrs[key] = json.loads(attrs[key])
            except ValueError as exc:
                raise MapFileContentError(path, key, "JSON text", f"{attrs[key][:40]!r} ({exc})") from None
    return attrs


def _shell_edges(fh: h5py.File, path: str | Path) -> np.ndarray:
    """(n_shells, 2) redshift edges (near, far) of an open map file."""
    edges = []
    for name in ("shells/z_near", "shells/z_far"):
        if name not in fh:
            raise MapFileContentError(path, name, "this dataset (shell redshift edges)", "no such dataset")
        edges.append(np.asarray(fh[name][()], dtype=np.float64))
    if edges[0].shape != edges[1].shape or edges[0].ndim != 1:
        raise MapFileContentError(
            path, "shells/z_far", f"shape {edges[0].shape} like shells/z_near", f"shape {edges[1].shape}"
        )
    return np.stack(edges, axis=1)


def check_consistent_map_files(
    paths: Sequence[str | Path], *, same_cosmology: bool = False, shells: bool = True
) -> dict[str, Any]:
    """Check that map files used together share their geometry; returns the first file's.

    Every file must agree with the first on the attributes of :data:`GEOMETRY_ATTRS` it holds,
    on the shell redshift edges (``shells``) and, with ``same_cosmology``, on the cosmology.
    Without this check the first file's edges or geometry would silently be used for all.

    Parameters
    ----------
    paths
        The map files (e.g. one cosmology's test simulations).
    same_cosmology
        Also require the same ``cosmology`` attribute.
    shells
        Also compare ``/shells/z_near`` and ``/shells/z_far`` (required to exist).

    Returns
    -------
    dict
        The first file's attributes (JSON decoded), with ``z_edges`` (n_shells, 2) when ``shells``.

    Raises
    ------
    MapFileContentError
        Naming both files, the field, the first file's value and the disagreeing one.
    """
    if not paths:
        raise ValueError("no map files given")
    first: dict[str, Any] = {}
    for i, path in enumerate(paths):
        attrs = read_map_attrs(path)
        if shells:
            with _open_map_file(path) as fh:
                attrs["z_edges"] = _shell_edges(fh, path)
        if i == 0:
            first = attrs
            continue
        names = [k for k in GEOMETRY_ATTRS if k in first or k in attrs]
        names += ["cosmology"] if same_cosmology else []
        for name in names:
            if attrs.get(name) != first.get(name):
                raise MapFileContentError(
                    path, name, repr(first.get(name)), repr(attrs.get(name)), other=paths[0]
                )
        if shells:
            ours, theirs = attrs["z_edges"], first["z_edges"]
            if ours.shape != theirs.shape:
                raise MapFileContentError(
                    path, "shells/z_near", f"{len(theirs)} shells", f"{len(ours)}", other=paths[0]
                )
            differs = ~np.isclose(ours, theirs, rtol=SHELL_EDGE_RTOL, atol=0.0).all(axis=1)
            if differs.any():
                k = int(np.flatnonzero(differs)[0])
                raise MapFileContentError(
                    path,
                    "shells/z_near, shells/z_far",
                    f"shell {k} from z = {theirs[k, 0]:.6g} to {theirs[k, 1]:.6g}",
                    f"z = {ours[k, 0]:.6g} to {ours[k, 1]:.6g}",
                    other=paths[0],
                )
    return first


def _as_list(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else value


def describe_map_file(
    path: str | Path,
    *,
    statistics: bool = True,
    max_stat_realisations: int = 16,
) -> dict[str, Any]:
    """Facts about a map file for ``wlcnn inspect`` (JSON-serialisable).

    Parameters
    ----------
    path
        The map file.
    statistics
        Also compute mean and rms of κ, κ_IA and δ per bin / shell over the first
        ``max_stat_realisations`` realisations (cheap: reads only those).
    max_stat_realisations
        Realisations read for the statistics.

    Returns
    -------
    dict
        ``format``, ``mode``, identity, cosmology, shapes of every dataset, shell table,
        weights summary, seeds, n(z) identity, provenance summary and optional statistics.
    """
    attrs = read_map_attrs(path)
    out: dict[str, Any] = {
        "file": str(Path(path).resolve()),
        "format": f"{attrs['format']} v{attrs['format_version']}",
        **{
            k: attrs.get(k)
            for k in (
                "mode",
                "role",
                "cosmology_id",
                "simulation",
                "cosmology",
                "box",
                "n_particles",
                "n_realisations",
                "n_bins",
                "n_shells",
                "n_pix",
                "patch_size_deg",
                "pixel_size_arcmin",
                "born",
                "base_seed",
                "seed_identity",
                "nz_checksum",
                "nside",
                "patches_per_sky",
                "source",
                "lightcone",
            )
        },
        "shot_noise_cl_kappa": _as_list(attrs.get("shot_noise_cl_kappa")),
        "nz_files": [rec.get("path") for rec in attrs.get("nz") or []],
        "datasets": {},
    }
    prov = attrs.get("provenance") or {}
    out["provenance"] = {k: prov.get(k) for k in ("step", "started", "finished", "host", "slurm_job_id")}
    out["provenance"]["code"] = prov.get("code")
    with h5py.File(path, "r") as fh:

        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset):
                out["datasets"][name] = {"shape": list(obj.shape), "dtype": str(obj.dtype)}

        fh.visititems(visit)
        if "shells/z_near" in fh:
            out["shells"] = {
                "z_near": fh["shells/z_near"][()].tolist(),
                "z_far": fh["shells/z_far"][()].tolist(),
                "r_near": fh["shells/r_near"][()].tolist(),
                "r_far": fh["shells/r_far"][()].tolist(),
                "snapshot": fh["shells/snapshot"][()].tolist(),
            }
        if "weights/born" in fh:
            w = fh["weights/born"][()]
            out["weights"] = {
                "born_sum_per_bin": w.sum(axis=1).tolist(),
                "ia_sum_per_bin": fh["weights/ia"][()].sum(axis=1).tolist(),
            }
        if statistics:
            stats: dict[str, Any] = {}
            for name in ("kappa", "kappa_ia", "shells/delta"):
                if name in fh and fh[name].shape[0]:
                    block = fh[name][:max_stat_realisations].astype(np.float64)
                    stats[name] = {
                        "realisations_used": int(block.shape[0]),
                        "mean": block.mean(axis=(0, 2, 3)).tolist(),
                        "rms": block.std(axis=(0, 2, 3)).tolist(),
                        "finite": bool(np.isfinite(block).all()),
                    }
            out["statistics"] = stats
    return out


def format_description(info: Mapping[str, Any]) -> str:
    """Human-readable text of :func:`describe_map_file`'s result."""
    cos = info.get("cosmology") or {}
    lines = [
        f"file:           {info['file']}",
        f"format:         {info['format']}  mode={info.get('mode')}  role={info.get('role')}"
        + (f"  source={info['source']}" if info.get("source") else ""),
        (
            f"simulation:     {info.get('cosmology_id')}/{info.get('simulation')}  "
            f"box={info.get('box')} Mpc/h  N={info.get('n_particles')}"
        ),
        "cosmology:      " + ", ".join(f"{k}={v:.6g}" for k, v in cos.items() if isinstance(v, int | float)),
        (
            f"maps:           {info.get('n_realisations')} realisations x {info.get('n_bins')} bins, "
            f"{info.get('n_pix')}^2 pixels of {info.get('pixel_size_arcmin'):.4g} arcmin "
            f"({info.get('patch_size_deg')} deg patches); born={info.get('born')}"
        ),
        f"seeds:          base {info.get('base_seed')}, identity {info.get('seed_identity')}",
        (
            f"n(z):           {', '.join(str(p) for p in info.get('nz_files') or []) or 'none'} "
            f"(checksum {info.get('nz_checksum')})"
        ),
    ]
    if info.get("shot_noise_cl_kappa") is not None:
        noise = ", ".join(f"{v:.3g}" for v in info["shot_noise_cl_kappa"])
        lines.append(f"shot noise:     C_ell(kappa) per bin [{noise}] sr (particle Poisson noise)")
    if info.get("nside"):
        lines.append(f"healpix:        nside {info['nside']}, {info.get('patches_per_sky')} patches per sky")
    shells = info.get("shells")
    if shells:
        lines.append(f"shells:         {len(shells['z_near'])} (near to far)")
        for i, (z0, z1, r0, r1, s) in enumerate(
            zip(
                shells["z_near"],
                shells["z_far"],
                shells["r_near"],
                shells["r_far"],
                shells["snapshot"],
                strict=True,
            )
        ):
            lines.append(f"  {i:3d}  z {z0:.4f} - {z1:.4f}   r {r0:8.2f} - {r1:8.2f} Mpc/h   snapshot {s}")
    lines.append("datasets:")
    for name, d in info.get("datasets", {}).items():
        lines.append(f"  /{name:24s} {d['dtype']:8s} {tuple(d['shape'])}")
    for name, s in (info.get("statistics") or {}).items():
        mean = ", ".join(f"{v:.3g}" for v in s["mean"][:8])
        rms = ", ".join(f"{v:.3g}" for v in s["rms"][:8])
        lines.append(
            f"stats /{name} (first {s['realisations_used']}): mean [{mean}] rms [{rms}]"
            f"{'' if s['finite'] else '  NON-FINITE VALUES'}"
        )
    prov = info.get("provenance") or {}
    lines.append(
        f"provenance:     {prov.get('step')} on {prov.get('host')} {prov.get('started')} -> "
        f"{prov.get('finished')} code {prov.get('code')}"
    )
    return "\n".join(lines)
