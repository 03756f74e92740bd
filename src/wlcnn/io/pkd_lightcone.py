"""Reader for PKDGRAV3 light-cone particle files (``<run>.<step>.lcp.<thread>``).

At every step, each thread appends the particles that crossed the observer's past light cone
during that step to its own file. Each record is 40 little-endian bytes::

    uint64 id        particle iOrder (0-based; the index in the run's tipsy snapshots)
    float32 pos[3]   position at crossing, box units, observer at the origin, not wrapped
                     (|pos| reaches the light cone's outer radius through periodic replicas)
    float32 vel[3]   peculiar velocity a dx/dt in code units (see below)
    float32 pot      potential
    4 bytes          padding

There is no header and no magic number: files are recognised by name (``.lcp`` or ``.lcp.T``)
and by a size that is a multiple of 40. Empty files are normal (no particle crossed in that
thread and step).

Units. Positions times the box side L give comoving Mpc/h relative to the observer. Velocities:
PKDGRAV3 integrates the momentum ``a^2 dx/dt`` and, for light-cone output only, multiplies it
by ``1/a`` before writing (``addToLightCone``: "Convert momentum (a^2 * x_dot) to physical
peculiar velocity (a * x_dot in sim units)"). So, unlike tipsy (which stores ``dx/dt``), the
peculiar velocity is ``vel * 100 L / sqrt(8 pi / 3)`` km/s **with no factor of a**; the test
suite checks this against the run's z = 0 tipsy snapshot. Without ``box`` positions and
velocities stay divided by L (``extra["length_unit"] == "box"``).

The files store no time: the step's redshift comes from the run's step table
(``step_redshifts``, e.g. the run's ``.log``). The particles of step S crossed between the
redshift at the end of step S-1 and that at the end of step S: ``header.redshift`` is the
latter, ``extra["redshift_min"]`` / ``extra["redshift_max"]`` give the range.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from wlcnn.io.base import DEFAULT_CHUNK_SIZE, ParticleChunk, SnapshotHeader
from wlcnn.io.errors import TruncatedFileError
from wlcnn.io.pkd_params import (
    VELOCITY_UNIT_FACTOR,
    StepFiles,
    read_par,
    resolve_step_files,
    step_redshift_facts,
)
from wlcnn.io.pkd_run import PkdStepReader, StepRedshifts, load_step_table

__all__ = ["EAGER_RADIUS_SCAN_BYTES", "LCP_DTYPE", "LightconeParticleReader", "iter_lightcone_steps"]

#: One light-cone particle record (PKDGRAV3 ``LIGHTCONEP``), 40 bytes, little-endian.
LCP_DTYPE = np.dtype(
    [("id", "<u8"), ("pos", "<f4", (3,)), ("vel", "<f4", (3,)), ("pot", "<f4"), ("pad", "<u4")]
)
#: The header fills ``extra["radius_min"/"radius_max"]`` by scanning the positions only when the
#: step's files total at most this many bytes (a fraction of a second); otherwise they are None
#: and :meth:`LightconeParticleReader.radius_range` computes them on demand.
EAGER_RADIUS_SCAN_BYTES = 64 << 20


class LightconeParticleReader(PkdStepReader):
    """The light-cone particles of one PKDGRAV3 step (one thread file, or all threads).

    Parameters
    ----------
    path
        A thread file ``<run>.<step>.lcp.<T>`` (that file only) or the step's base name
        ``<run>.<step>.lcp`` (every thread ``.0, .1, ...`` in order).
    box
        Box side in Mpc/h; positions become comoving Mpc/h relative to the observer (not
        wrapped) and velocities km/s. None: both stay divided by the box side.
    step_redshifts
        Step -> redshift at the end of the step: a mapping, or a file (two columns ``step z``,
        or the run's PKDGRAV3 ``.log``). Fills ``a``, ``redshift`` and the redshift range;
        without it they are NaN / None.
    params
        The run's ``.par`` file: fills ``box`` (if not given) and the cosmology
        (``omega_m``, ``omega_lambda``, ``hubble``) and ``particle_mass`` (from nGrid).

    Notes
    -----
    ``header.extra``: ``step``, ``threads`` (number of files read), ``length_unit``,
    ``velocity_unit``, ``redshift_min``, ``redshift_max``, ``radius_min``, ``radius_max`` (comoving
    distance range from the observer in the length unit; None when the files are larger than
    :data:`EAGER_RADIUS_SCAN_BYTES`, see :meth:`radius_range`). IDs are the uint64 iOrder.
    """

    format = "pkd-lightcone"
    kind = "lcp"
    record_dtype = LCP_DTYPE

    def __init__(
        self,
        path: str | Path,
        *,
        box: float | None = None,
        step_redshifts: StepRedshifts = None,
        params: str | Path | None = None,
    ) -> None:
        files = resolve_step_files(path, self.kind, all_threads=False)
        self._setup(Path(path), files, box=box, step_redshifts=step_redshifts, params=params)

    def _setup(  # type: ignore[override]  # each reader names its own options; only it calls _setup
        self,
        path: Path,
        step_files: StepFiles,
        *,
        box: float | None = None,
        step_redshifts: StepRedshifts = None,
        params: str | Path | None = None,
    ) -> None:
        self.path = path
        par = read_par(params) if params is not None else None
        if box is None and par is not None:
            box = par.box
        if box is not None and not (math.isfinite(box) and box > 0):
            raise ValueError(f"box must be a positive length in Mpc/h, got {box!r}")
        self.box = None if box is None else float(box)
        self._scale = 1.0 if self.box is None else self.box
        self.step = step_files.step
        self.files = step_files.files
        self._counts = [self._record_count(f) for f in self.files]
        a, z, z_range = step_redshift_facts(self.step, load_step_table(step_redshifts))
        extra: dict[str, Any] = {
            "step": self.step,
            "threads": len(self.files),
            "length_unit": "box" if self.box is None else "Mpc/h",
            "velocity_unit": "km/s per Mpc/h of box" if self.box is None else "km/s",
            **z_range,
            "radius_min": None,
            "radius_max": None,
        }
        self.header = SnapshotHeader(
            format=self.format,
            files=self.files,
            n_particles=sum(self._counts),
            a=a,
            redshift=z,
            box=math.nan if self.box is None else self.box,
            particle_mass=math.nan if par is None else par.particle_mass,
            omega_m=None if par is None else par.omega_m,
            omega_lambda=None if par is None else par.omega_lambda,
            hubble=None if par is None else par.hubble,
            has_ids=True,
            has_velocities=True,
            extra=extra,
        )
        if sum(self._counts) * LCP_DTYPE.itemsize <= EAGER_RADIUS_SCAN_BYTES:
            extra["radius_min"], extra["radius_max"] = self.radius_range()

    @staticmethod
    def _record_count(path: Path) -> int:
        size = path.stat().st_size
        if size % LCP_DTYPE.itemsize:
            whole = size // LCP_DTYPE.itemsize
            raise TruncatedFileError(
                path,
                f"offset {whole * LCP_DTYPE.itemsize} (record {whole})",
                f"a whole number of {LCP_DTYPE.itemsize}-byte light-cone records",
                f"{size} bytes ({whole} records and {size % LCP_DTYPE.itemsize} stray bytes)",
            )
        return size // LCP_DTYPE.itemsize

    def _iter_records(self, chunk_size: int) -> Iterator[np.ndarray]:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        for path, n in zip(self.files, self._counts, strict=True):
            if n == 0:
                continue
            with open(path, "rb") as fh:
                for start in range(0, n, chunk_size):
                    count = min(chunk_size, n - start)
                    rec = np.fromfile(fh, dtype=LCP_DTYPE, count=count)
                    if rec.shape[0] != count:  # the file shrank since the header was read
                        raise TruncatedFileError(
                            path,
                            f"record {start + rec.shape[0]}",
                            f"{n} records",
                            f"{start + rec.shape[0]} (file ends)",
                        )
                    yield rec

    def iter_chunks(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[ParticleChunk]:
        """Yield the particles thread file by thread file, at most ``chunk_size`` at a time."""
        vel_factor = VELOCITY_UNIT_FACTOR * self._scale
        for rec in self._iter_records(chunk_size):
            pos = (rec["pos"].astype(np.float64) * self._scale).astype(np.float32)
            vel = (rec["vel"].astype(np.float64) * vel_factor).astype(np.float32)
            yield ParticleChunk(pos=pos, vel=vel, ids=rec["id"].astype(np.uint64))

    def radius_range(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> tuple[float | None, float | None]:
        """Smallest and largest distance from the observer (length unit of the positions).

        Streams the positions; (None, None) for an empty step.
        """
        lo, hi = math.inf, -math.inf
        for rec in self._iter_records(chunk_size):
            r = np.sqrt((rec["pos"].astype(np.float64) ** 2).sum(axis=1))
            lo, hi = min(lo, float(r.min())), max(hi, float(r.max()))
        if lo > hi:
            return None, None
        return lo * self._scale, hi * self._scale


def iter_lightcone_steps(
    directory: str | Path,
    *,
    prefix: str | None = None,
    step_redshifts: StepRedshifts = None,
    **options: Any,
) -> Iterator[LightconeParticleReader]:
    """Like :meth:`LightconeParticleReader.from_run`, but opening one step at a time."""
    yield from LightconeParticleReader.iter_run(
        directory, prefix=prefix, step_redshifts=step_redshifts, **options
    )
