"""Atomic file writes: write to a temporary name in the target directory, then rename.

A crash, a SLURM time-out or a bad input never leaves a half-written file under the final
name, and never damages a file that was already there.

Temporary names are hidden and say who writes them::

    .{name}.wlcnn-tmp-{host}-{pid}-{random}{suffix}.tmp

so that the next write into the same directory can remove the temporaries of writers that were
killed (same host, process gone) without touching those of live writers, or of writers on other
hosts of a shared file system, whose processes cannot be seen from here. The file is flushed to
disk (``fsync``) before the rename and the directory after it, so that a power loss cannot leave
an empty or truncated file under the final name either.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from wlcnn.records import seal_product

__all__ = [
    "TEMP_TAG",
    "OutputPathError",
    "check_output_paths",
    "atomic_path",
    "atomic_paths",
    "atomic_write_text",
    "is_temporary",
    "remove_stale_temporaries",
]

log = logging.getLogger(__name__)

_DEFAULT_MODE = 0o666
#: Marks a temporary of this module; with host and PID it identifies the writer.
TEMP_TAG = "wlcnn-tmp"
#: Ending of temporaries (after the caller's suffix unless the suffix must stay last).
TEMP_ENDING = ".tmp"
_TEMP_NAME = re.compile(rf"^\.(?P<target>.+)\.{re.escape(TEMP_TAG)}-(?P<host>[A-Za-z0-9_]+)-(?P<pid>[0-9]+)-")


class OutputPathError(ValueError):
    """An output path that cannot be written safely (it is an input, a directory, ...).

    Parameters
    ----------
    path
        The offending output path.
    where
        What the path was given as, e.g. ``"output"`` or ``"--output"``.
    expected, found
        What a safe output path is and what was given.
    """

    def __init__(self, path: str | Path, where: str, expected: str, found: str) -> None:
        self.path = Path(path)
        self.where = where
        self.expected = expected
        self.found = found
        super().__init__(f"{self.path}: {where}: expected {expected}, found {found}")


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (through links, ``..`` or a shared inode)."""
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def check_output_paths(
    outputs: Sequence[str | Path],
    *,
    inputs: Sequence[str | Path] = (),
    where: str = "output",
    parents_must_exist: bool = False,
) -> None:
    """Refuse output paths that would destroy an input or cannot be files.

    Raises
    ------
    OutputPathError
        An output that is (through symbolic links, ``..`` or a hard link) one of ``inputs`` or
        another output; that is an existing directory; whose parent is not a directory; or, with
        ``parents_must_exist``, whose parent directory does not exist.
    """
    seen: list[Path] = []
    for out in map(Path, outputs):
        if out.is_dir():
            raise OutputPathError(out, where, "a file name", "an existing directory")
        parent = out.parent
        if parent.exists() and not parent.is_dir():
            raise OutputPathError(out, where, f"{parent} to be a directory", "a file")
        if parents_must_exist and not parent.exists():
            raise OutputPathError(
                out, where, f"an existing directory {parent}", "no such directory (create it first)"
            )
        for source in map(Path, inputs):
            if _same_file(out, source):
                raise OutputPathError(
                    out,
                    where,
                    "a path different from every input",
                    f"the input {source} (it would be overwritten)",
                )
        for other in seen:
            if _same_file(out, other):
                raise OutputPathError(out, where, "distinct output paths", f"the same file as output {other}")
        seen.append(out)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _host_token() -> str:
    # '-' separates the fields of the temporary name: keep the host to letters, digits and '_'.
    return re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname()) or "localhost"


def is_temporary(path: str | Path) -> bool:
    """Whether ``path`` is named like a temporary of :func:`atomic_path`.

    Examples
    --------
    >>> is_temporary(".maps.h5.wlcnn-tmp-node1-4242-ab12cd34.h5.tmp")
    True
    >>> is_temporary("maps.h5")
    False
    """
    return _TEMP_NAME.match(Path(path).name) is not None


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Remove the temporaries in ``directory`` whose writer (on this host) no longer runs.

    Temporaries of live processes, and of other hosts (whose processes cannot be checked from
    here), are kept.

    Returns
    -------
    list of Path
        The temporaries removed.
    """
    directory = Path(directory)
    host = _host_token()
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None or match["host"] != host or _process_alive(int(match["pid"])):
            continue
        stale = Path(entry.path)
        try:
            stale.unlink()
        except FileNotFoundError:  # another writer cleaned it first
            continue
        except IsADirectoryError:
            continue
        log.info("removed %s: temporary of a killed writer (pid %s)", stale, match["pid"])
        removed.append(stale)
    return removed


def _fsync(path: Path) -> None:
    """Flush ``path`` (a file or directory) to disk."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if path.is_dir() else os.O_RDONLY
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_temporary(path: Path, *, suffix: str, suffix_last: bool) -> Path:
    prefix = f".{path.name}.{TEMP_TAG}-{_host_token()}-{os.getpid()}-"
    ending = TEMP_ENDING + suffix if suffix_last else suffix + TEMP_ENDING
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=ending, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    # mkstemp creates 0600 files; results are shared, so give them the usual umask permissions.
    os.chmod(tmp, _DEFAULT_MODE & ~_current_umask())
    return tmp


@contextlib.contextmanager
def atomic_paths(
    paths: Sequence[str | Path], *, suffix: str = "", suffix_last: bool = False
) -> Iterator[list[Path]]:
    """Yield one temporary path per target; rename them all if the block succeeds.

    Nothing appears under a final name unless the whole block succeeds (a series of files
    is staged, then renamed together); on any exception every temporary is removed and the
    targets are left untouched. Stale temporaries of killed writers in the target directories
    are removed first (see :func:`remove_stale_temporaries`).

    Parameters
    ----------
    paths
        Final names; must be distinct.
    suffix
        Put into the temporary names (e.g. ``".h5"``), before ``.tmp``.
    suffix_last
        End the temporary names with ``suffix`` (for writers that insist on an extension,
        e.g. Keras' ``.keras``) instead of ``.tmp``.
    """
    targets = [Path(p) for p in paths]
    if len({os.path.abspath(t) for t in targets}) != len(targets):
        raise ValueError(f"atomic_paths: the same target twice in {[str(t) for t in targets]}")
    for directory in dict.fromkeys(t.parent for t in targets):
        directory.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(directory)
    temporaries: list[Path] = []
    try:
        temporaries.extend(
            _make_temporary(target, suffix=suffix, suffix_last=suffix_last) for target in targets
        )
        yield list(temporaries)
        for tmp in temporaries:
            seal_product(tmp)  # every product's record gets its content digest, whoever wrote it
            _fsync(tmp)
        for tmp, target in zip(temporaries, targets, strict=True):
            os.replace(tmp, target)
        for directory in dict.fromkeys(t.parent for t in targets):
            _fsync(directory)
    except BaseException:
        for tmp in temporaries:
            tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_path(path: str | Path, *, suffix: str = "", suffix_last: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    On any exception the temporary file is removed and ``path`` is left untouched. The file is
    flushed to disk before the rename, the directory after it; stale temporaries of killed
    writers in the directory are removed first.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    with atomic_paths([path], suffix=suffix, suffix_last=suffix_last) as (tmp,):
        yield tmp


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
