"""Reader for PKDGRAV3 HEALPix light-cone shells (``<run>.<step>.hpb.<thread>``).

At every step PKDGRAV3 counts, per HEALPix pixel (RING order), the particles that crossed the
observer's past light cone during the step: a full-sky map of a thin shell. The map is split
over the threads: thread ``t`` owns pixels ``t * P ... (t + 1) * P - 1`` and writes them to
``.hpb.<t>``, so the map is the concatenation of ``.hpb.0, .hpb.1, ...``. ``P`` is
``ceil(npix / threads)`` rounded up to a multiple of 16 (``pkdLightConeOpen``), so when
``npix`` does not divide evenly the last file ends with padding entries beyond ``npix``; they
are dropped (and must be empty). Each entry is 12 little-endian bytes::

    uint32 grouped      particles in a FoF group      (PKDGRAV3 counts saturate at 2^32 - 1)
    uint32 ungrouped    particles in no group
    float32 potential   mean potential of the pixel's particles

The fixture's README calls the counts int32: identical for any count below 2^31. When FoF is
not run, every particle is counted in ``grouped``; :meth:`HealpixShellReader.read_counts`
returns ``grouped + ungrouped``, the number of particles whatever the grouping.

These files hold counts, not particles: :meth:`~HealpixShellReader.iter_chunks` raises a
:class:`~wlcnn.io.errors.SnapshotError` (yielding nothing would silently turn a shell into an
empty particle set); use :meth:`~HealpixShellReader.read_counts`. ``header.n_particles`` is the
map's total count. The redshift comes from the run's step table as for light-cone particles.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import numpy as np

from wlcnn.io.base import DEFAULT_CHUNK_SIZE, ParticleChunk, SnapshotHeader
from wlcnn.io.errors import ParticleCountError, SnapshotError, TruncatedFileError
from wlcnn.io.pkd_params import (
    StepFiles,
    read_par,
    resolve_step_files,
    step_redshift_facts,
)
from wlcnn.io.pkd_run import PkdStepReader, StepRedshifts, load_step_table

__all__ = ["HPB_DTYPE", "HealpixShellReader", "MAP_FIELDS", "nside_from_pixels"]

#: One pixel of a PKDGRAV3 ``healpixData`` map, 12 bytes, little-endian.
HPB_DTYPE = np.dtype([("grouped", "<u4"), ("ungrouped", "<u4"), ("potential", "<f4")])
#: What :meth:`HealpixShellReader.read_map` can return.
MAP_FIELDS = ("counts", "grouped", "ungrouped", "potential")
#: HEALPix has 12 base pixels: npix = 12 nside^2.
BASE_PIXELS = 12
#: PKDGRAV3 rounds the pixels per thread up to a multiple of 16.
PIXELS_PER_THREAD_ALIGN = 16


def _padded_per_thread(npix: int, threads: int) -> int:
    """Pixels per thread file as PKDGRAV3 allocates them for ``npix`` pixels."""
    per = -(-npix // threads)
    return -(-per // PIXELS_PER_THREAD_ALIGN) * PIXELS_PER_THREAD_ALIGN


def nside_from_pixels(entries: int, threads: int = 1) -> int | None:
    """Infer the HEALPix nside of a map stored as ``threads`` files of ``entries / threads`` pixels.

    Accepts an exact ``12 nside^2`` total, or PKDGRAV3's padded layout (pixels per thread
    rounded up to a multiple of 16) when exactly one nside fits. Returns None otherwise.
    """
    if entries <= 0 or threads <= 0 or entries % threads:
        return None
    if entries % BASE_PIXELS == 0:
        n = math.isqrt(entries // BASE_PIXELS)
        if BASE_PIXELS * n * n == entries:
            return n
    per = entries // threads
    # The padding is less than 16 entries per thread: 12 n^2 lies in (entries - 16 T, entries].
    lowest = math.isqrt(max(0, entries - PIXELS_PER_THREAD_ALIGN * threads) // BASE_PIXELS)
    fits = [
        n
        for n in range(max(1, lowest), math.isqrt(entries // BASE_PIXELS) + 1)
        if _padded_per_thread(BASE_PIXELS * n * n, threads) == per
    ]
    return fits[0] if len(fits) == 1 else None


class HealpixShellReader(PkdStepReader):
    """One step's HEALPix shell map of a PKDGRAV3 light cone (all thread files).

    Parameters
    ----------
    path
        The step's base name ``<run>.<step>.hpb`` or any of its thread files
        ``<run>.<step>.hpb.<T>``: either way the whole map (every thread) is read.
    nside
        Expected nside (e.g. ``nSideHealpix`` of the run); None: inferred from the pixel count.
    box
        Box side in Mpc/h, for the header only (the map has no lengths).
    step_redshifts
        Step -> redshift at the end of the step: a mapping, or a file (``step z`` table, or the
        run's PKDGRAV3 ``.log``).
    params
        The run's ``.par`` file: fills ``nside`` (nSideHealpix), ``box``, the cosmology and
        ``particle_mass`` where not given.

    Notes
    -----
    ``header.extra``: ``nside``, ``npix``, ``order`` (``"RING"``), ``step``, ``threads``,
    ``pixels_per_thread``, ``n_grouped``, ``n_ungrouped``, ``redshift_min``, ``redshift_max``.
    The header reads the whole map once to sum the counts (12 bytes per pixel).

    Raises
    ------
    TruncatedFileError
        A thread file whose size is not a multiple of 12, or shorter than the others.
    ParticleCountError
        A missing thread file, or a total pixel count that is not a HEALPix map.
    """

    format = "pkd-healpix"
    kind = "hpb"
    record_dtype = HPB_DTYPE

    def __init__(
        self,
        path: str | Path,
        *,
        nside: int | None = None,
        box: float | None = None,
        step_redshifts: StepRedshifts = None,
        params: str | Path | None = None,
    ) -> None:
        files = resolve_step_files(path, self.kind, all_threads=True)
        self._setup(Path(path), files, nside=nside, box=box, step_redshifts=step_redshifts, params=params)

    def _setup(  # type: ignore[override]  # each reader names its own options; only it calls _setup
        self,
        path: Path,
        step_files: StepFiles,
        *,
        nside: int | None = None,
        box: float | None = None,
        step_redshifts: StepRedshifts = None,
        params: str | Path | None = None,
    ) -> None:
        self.path = path
        par = read_par(params) if params is not None else None
        if par is not None:
            box = par.box if box is None else box
            nside = (par.nside_healpix or None) if nside is None else nside
        self.step = step_files.step
        self.files = step_files.files
        per = self._pixels_per_file()
        entries = per * len(self.files)
        found = nside_from_pixels(entries, len(self.files))
        if found is None or (nside is not None and found != nside):
            want = (
                "a HEALPix map: 12 nside^2 pixels"
                if nside is None
                else f"nside {nside}: {BASE_PIXELS * nside**2} pixels"
            )
            raise ParticleCountError(
                self.files[0],
                "pixel count",
                f"{want} (or PKDGRAV3's layout padding each thread to a multiple of "
                f"{PIXELS_PER_THREAD_ALIGN})",
                f"{entries} pixels in {len(self.files)} thread file(s) of {per} (a missing thread file?)",
            )
        self.nside = found
        self.npix = BASE_PIXELS * found * found
        self._per = per
        self._check_padding(entries)
        grouped, ungrouped = self._sum_counts()
        a, z, z_range = step_redshift_facts(self.step, load_step_table(step_redshifts))
        self.header = SnapshotHeader(
            format=self.format,
            files=self.files,
            n_particles=grouped + ungrouped,
            a=a,
            redshift=z,
            box=math.nan if box is None else float(box),
            particle_mass=math.nan if par is None else par.particle_mass,
            omega_m=None if par is None else par.omega_m,
            omega_lambda=None if par is None else par.omega_lambda,
            hubble=None if par is None else par.hubble,
            has_ids=False,
            has_velocities=False,
            extra={
                "nside": self.nside,
                "npix": self.npix,
                "order": "RING",
                "step": self.step,
                "threads": len(self.files),
                "pixels_per_thread": per,
                "n_grouped": grouped,
                "n_ungrouped": ungrouped,
                **z_range,
            },
        )

    def _pixels_per_file(self) -> int:
        sizes = [f.stat().st_size for f in self.files]
        for f, size in zip(self.files, sizes, strict=True):
            if size % HPB_DTYPE.itemsize:
                whole = size // HPB_DTYPE.itemsize
                raise TruncatedFileError(
                    f,
                    f"offset {whole * HPB_DTYPE.itemsize} (pixel {whole})",
                    f"a whole number of {HPB_DTYPE.itemsize}-byte pixels",
                    f"{size} bytes ({whole} pixels and {size % HPB_DTYPE.itemsize} stray bytes)",
                )
        # Every thread writes the same number of pixels: a shorter file lost its end.
        longest = max(sizes)
        for f, size in zip(self.files, sizes, strict=True):
            if size != longest:
                raise TruncatedFileError(
                    f,
                    f"offset {size} (end of file)",
                    f"{longest} bytes like the step's other thread files",
                    f"{size} bytes",
                )
        if longest == 0:
            raise TruncatedFileError(self.files[0], "offset 0", "HEALPix pixels", "empty thread files")
        return longest // HPB_DTYPE.itemsize

    def _check_padding(self, entries: int) -> None:
        """PKDGRAV3's padding entries beyond npix must be empty (else the layout guess is wrong)."""
        if entries == self.npix:
            return
        for rec, first in self._iter_entries(DEFAULT_CHUNK_SIZE, start=self.npix, stop=entries):
            if rec["grouped"].any() or rec["ungrouped"].any():
                raise ParticleCountError(
                    self.files[first // self._per],
                    f"pixel {first} (padding beyond npix {self.npix})",
                    "empty padding entries",
                    "non-zero counts (is nside right?)",
                )

    def _iter_entries(
        self,
        chunk_size: int,
        *,
        start: int = 0,
        stop: int | None = None,
    ) -> Iterator[tuple[np.ndarray, int]]:
        """Yield (records, index of the first) for map entries ``start .. stop - 1``, file by file."""
        stop = self.npix if stop is None else stop
        for t, path in enumerate(self.files):
            lo, hi = max(start, t * self._per), min(stop, (t + 1) * self._per)
            if lo >= hi:
                continue
            with open(path, "rb") as fh:
                fh.seek((lo - t * self._per) * HPB_DTYPE.itemsize)
                for first in range(lo, hi, chunk_size):
                    count = min(chunk_size, hi - first)
                    rec = np.fromfile(fh, dtype=HPB_DTYPE, count=count)
                    if rec.shape[0] != count:  # the file shrank since the header was read
                        raise TruncatedFileError(
                            path, f"pixel {first + rec.shape[0]}", f"{self._per} pixels", "the file ends"
                        )
                    yield rec, first

    def _sum_counts(self) -> tuple[int, int]:
        grouped = ungrouped = 0
        for rec, _ in self._iter_entries(DEFAULT_CHUNK_SIZE):
            grouped += int(rec["grouped"].sum(dtype=np.int64))
            ungrouped += int(rec["ungrouped"].sum(dtype=np.int64))
        return grouped, ungrouped

    def read_map(self, field: str = "counts") -> np.ndarray:
        """One field of the map, ``npix`` values in RING order.

        Parameters
        ----------
        field
            ``"counts"`` (grouped + ungrouped, int64), ``"grouped"``, ``"ungrouped"`` (int64) or
            ``"potential"`` (float32, mean potential of the pixel's particles, code units).
        """
        if field not in MAP_FIELDS:
            raise ValueError(f"field must be one of {MAP_FIELDS}, got {field!r}")
        out = np.empty(self.npix, dtype=np.float32 if field == "potential" else np.int64)
        for rec, first in self._iter_entries(DEFAULT_CHUNK_SIZE):
            sl = slice(first, first + rec.shape[0])
            if field == "counts":
                out[sl] = rec["grouped"].astype(np.int64) + rec["ungrouped"]
            else:
                out[sl] = rec[field]
        return out

    def read_counts(self) -> np.ndarray:
        """Particle count per pixel (grouped + ungrouped), int64, ``npix`` values in RING order."""
        return self.read_map("counts")

    def iter_chunks(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> NoReturn:  # noqa: ARG002 - the reader interface
        """Not available: HEALPix shells hold counts, not particles (use :meth:`read_counts`).

        Raises
        ------
        SnapshotError
            Always.
        """
        raise SnapshotError(
            self.files[0],
            "particles",
            "a particle file (tipsy, Gadget, light-cone .lcp)",
            "a HEALPix shell, which holds counts, not particles: use read_counts()",
        )

    def read(self) -> ParticleChunk:
        """Not available: see :meth:`iter_chunks`."""
        self.iter_chunks()
