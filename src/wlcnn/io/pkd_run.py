"""What the two PKDGRAV3 light-cone readers share: finding a run's steps and opening them.

A PKDGRAV3 light-cone output is one set of thread files per step, ``<run>.<step>.<kind>.<T>``
with ``kind`` ``lcp`` (particles, :mod:`wlcnn.io.pkd_lightcone`) or ``hpb`` (HEALPix shells,
:mod:`wlcnn.io.pkd_healpix`). The files have no header, so both readers recognise them by
name, list a run's steps the same way (:func:`wlcnn.io.pkd_params.find_step_files`) and read
the run's step table once for all steps. :class:`PkdStepReader` holds that code once; each
reader adds its record layout and what it builds from one step's files.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from wlcnn.io.base import SnapshotReader
from wlcnn.io.pkd_params import StepFiles, find_step_files, load_step_redshifts

__all__ = ["PkdStepReader", "StepRedshifts", "load_step_table"]

#: What a reader accepts as the run's step table: a mapping, a file, or None.
StepRedshifts = Mapping[int, float] | str | Path | None


def load_step_table(step_redshifts: StepRedshifts) -> dict[int, float] | None:
    """The run's step -> redshift table, read once (None when not given)."""
    return None if step_redshifts is None else load_step_redshifts(step_redshifts)


class PkdStepReader(SnapshotReader):
    """Base of the readers of one step of a PKDGRAV3 light-cone output.

    Subclasses set :attr:`kind` and :attr:`record_dtype` and implement :meth:`_setup`, which
    builds the header from one step's resolved files and the reader's options.
    """

    #: The file kind in ``<run>.<step>.<kind>.<T>``: ``"lcp"`` or ``"hpb"``.
    kind: ClassVar[str]
    #: One record of the files (their size must be a multiple of its itemsize).
    record_dtype: ClassVar[np.dtype]

    @abc.abstractmethod
    def _setup(self, path: Path, step_files: StepFiles, **options: Any) -> None:
        """Read and check one step's files and build :attr:`header` (the constructor's work)."""

    @classmethod
    def from_step_files(cls, files: StepFiles, **options: Any) -> Self:
        """Build a reader from already-resolved step files (saves a directory listing per step).

        Parameters
        ----------
        files
            One step's files, from :func:`wlcnn.io.pkd_params.find_step_files` or
            :func:`wlcnn.io.pkd_params.resolve_step_files`.
        **options
            The constructor's options.
        """
        self = cls.__new__(cls)
        self._setup(files.base, files, **options)
        return self

    @classmethod
    def _has_step_name(cls, path: Path) -> bool:
        """Whether ``path`` is named ``*.<kind>`` or ``*.<kind>.<T>`` and is a file."""
        return re.search(rf"\.{cls.kind}(\.\d+)?$", path.name) is not None and path.is_file()

    @classmethod
    def sniff(cls, path: Path) -> str | None:
        """The format for a ``*.<kind>`` / ``*.<kind>.T`` file whose size is a whole number of records."""
        try:
            path = Path(path)
            if not cls._has_step_name(path):
                return None
            return cls.format if path.stat().st_size % cls.record_dtype.itemsize == 0 else None
        except OSError:
            return None

    @classmethod
    def recognise(cls, path: Path) -> str | None:
        """The format for any file named ``*.<kind>`` / ``*.<kind>.T``, whatever its size.

        The files have no header, so the PKDGRAV3 name is the evidence; the reader then
        reports a size that is not a whole number of records.
        """
        try:
            return cls.format if cls._has_step_name(Path(path)) else None
        except OSError:
            return None

    @classmethod
    def iter_run(
        cls,
        directory: str | Path,
        *,
        prefix: str | None = None,
        step_redshifts: StepRedshifts = None,
        **options: Any,
    ) -> Iterator[Self]:
        """Like :meth:`from_run`, but opening one step at a time."""
        table = load_step_table(step_redshifts)
        for step_files in find_step_files(directory, cls.kind, prefix=prefix).values():
            yield cls.from_step_files(step_files, step_redshifts=table, **options)

    @classmethod
    def from_run(
        cls,
        directory: str | Path,
        *,
        prefix: str | None = None,
        step_redshifts: StepRedshifts = None,
        **options: Any,
    ) -> list[Self]:
        """One reader per step (all threads) for every step of a run, in step order.

        Parameters
        ----------
        directory
            Directory holding ``<prefix>.<step>.<kind>.<T>``.
        prefix
            The run's ``achOutName``; None: the only run in ``directory``.
        step_redshifts
            As for the constructor (a file is read once).
        **options
            Passed to the constructor (``box``, ``params``; ``nside`` for HEALPix shells).
        """
        # Every step is opened before any is returned, so a damaged step fails the whole run.
        return list(cls.iter_run(directory, prefix=prefix, step_redshifts=step_redshifts, **options))
