"""Provenance audit: the lineage of a result file, with every recorded checksum verified.

A file's provenance record (see :mod:`wlcnn.provenance`) is found in, by order of preference:
a sidecar ``<file>.prov.json``, the ``provenance`` attribute of an HDF5 file, the ``PROVJSON``
card of a FITS catalogue, or the ``provenance`` key of a JSON file. :func:`audit` follows the
recorded inputs recursively back to files that carry no record (the simulation outputs) and
classifies every node:

``ok``          the file exists, its checksum equals the one its consumer recorded, and its
                content and record match the seal its producer wrote
``modified``    the file exists but its checksum changed since it was used, or its content or
                its record no longer matches its producer's seal
``missing``     the file is gone (or is not a regular file)
``outside``     the record names a file outside the audited trees: reported, never read
``stale``       the file itself is intact but something upstream of it is modified or missing
``unverified``  the consumer recorded no checksum (``ingest.checksum: none``)

A record that is not JSON, not an object, lists inputs without a path, or makes the lineage
cyclic (a file among its own ancestors) raises :class:`ProvenanceError` naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wlcnn.records import (
    SEAL_KEY,
    SIDECAR_SUFFIX,
    ProvenanceError,
    content_digest,
    file_checksum,
    read_provenance,
    read_record,
    record_digest,
    shorten,
)

__all__ = ["AuditNode", "ProvenanceError", "audit", "default_roots", "format_tree", "read_provenance"]

BAD = ("modified", "missing", "stale", "outside")
#: Checksum algorithms a consumer may have recorded for an input, by order of preference.
CHECKSUM_ALGORITHMS = ("sha256", "md5", "blake2b")
#: Longest lineage followed; a deeper one is reported instead of exhausting the stack.
MAX_LINEAGE_DEPTH = 200
#: Characters of a digest shown in details.
_DIGEST_SHOWN = 12


def default_roots(paths: Sequence[str | Path]) -> list[Path]:
    """The trees an audit reads by default.

    The working directory, and for each audited file the directory above its own (so that a
    result's sibling stage folders are covered).
    """
    roots = [Path.cwd().resolve()]
    for path in paths:
        parent = Path(path).resolve().parent
        roots.append(parent.parent if parent.parent != parent else parent)
    return roots


@dataclass
class AuditNode:
    """One file in a lineage tree."""

    path: Path
    status: str
    detail: str = ""
    record: dict[str, Any] | None = None
    inputs: list[AuditNode] = field(default_factory=list)

    def walk(self) -> Iterator[AuditNode]:
        """Yield this node and every node below it."""
        yield self
        for child in self.inputs:
            yield from child.walk()

    def unique(self) -> Iterator[AuditNode]:
        """Yield every file of the tree once (shared ancestors appear under many consumers)."""
        seen: set[Path] = set()
        for node in self.walk():
            if node.path not in seen:
                seen.add(node.path)
                yield node

    @property
    def ok(self) -> bool:
        """True when nothing in the tree is modified, missing, stale or outside the audited trees."""
        return all(node.status not in BAD for node in self.walk())


def _check(path: Path, recorded: Mapping[str, Any], *, holder: Path, where: str) -> tuple[str, str]:
    """Compare a file with what its consumer recorded about it."""
    if not path.is_file():
        return "missing", "not a regular file" if path.exists() else "file not found"
    for algorithm in CHECKSUM_ALGORITHMS:
        if algorithm in recorded:
            expected = recorded[algorithm]
            if not isinstance(expected, str):
                raise ProvenanceError(
                    holder, f"{where}.{algorithm}", "a hex digest string", shorten(repr(expected))
                )
            actual = file_checksum(path, algorithm=algorithm)
            if actual != expected:
                return "modified", (
                    f"{algorithm} {actual[:_DIGEST_SHOWN]}… != recorded {expected[:_DIGEST_SHOWN]}…"
                )
            return "ok", f"{algorithm} {actual[:_DIGEST_SHOWN]}…"
    size = path.stat().st_size
    if "size" in recorded and recorded["size"] != size:
        return "modified", f"size {size} != recorded {recorded['size']}"
    return "unverified", "no checksum recorded"


def _check_seal(path: Path, record: Mapping[str, Any], source: str) -> tuple[str, str] | None:
    """Compare a product and its record with the seal its producer wrote (None: no seal)."""
    seal = record.get(SEAL_KEY)
    if seal is None:
        return None  # a record written before seals existed
    holder = path.with_name(path.name + SIDECAR_SUFFIX) if source == "sidecar" else path
    if not isinstance(seal, dict) or not isinstance(seal.get("record"), str):
        raise ProvenanceError(holder, SEAL_KEY, "an object with a 'record' digest", shorten(repr(seal)))
    if record_digest(record) != seal["record"]:
        return "modified", f"provenance record edited after it was written ({holder.name})"
    sealed_content = seal.get("content")
    if sealed_content is None:
        return None
    scope = "file" if source == "sidecar" else seal.get("scope", "file")
    try:
        actual = content_digest(path, scope=scope)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return "modified", f"content unreadable ({shorten(str(exc))})"
    if actual != sealed_content:
        return "modified", (
            f"content sha256 {actual[:_DIGEST_SHOWN]}… != sealed by its producer "
            f"{str(sealed_content)[:_DIGEST_SHOWN]}…"
        )
    return None


def _within(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


@dataclass
class _Audit:
    """State of one audit: verified files, the current lineage (for cycles), the allowed trees."""

    roots: list[Path]
    seen: dict[Path, AuditNode] = field(default_factory=dict)
    stack: list[Path] = field(default_factory=list)

    def inputs_of(self, path: Path, record: Mapping[str, Any], source: str) -> list[AuditNode]:
        holder = path.with_name(path.name + SIDECAR_SUFFIX) if source == "sidecar" else path
        inputs = record.get("inputs", [])
        if not isinstance(inputs, list):
            raise ProvenanceError(holder, "inputs", "a list of file records", f"a {type(inputs).__name__}")
        if len(self.stack) >= MAX_LINEAGE_DEPTH:
            raise ProvenanceError(
                holder, "inputs", f"a lineage at most {MAX_LINEAGE_DEPTH} files deep", "a deeper one"
            )
        nodes = []
        for i, recorded in enumerate(inputs):
            where = f"inputs[{i}]"
            if not isinstance(recorded, dict) or not isinstance(recorded.get("path"), str):
                named_path = recorded.get("path") if isinstance(recorded, dict) else recorded
                raise ProvenanceError(
                    holder, f"{where}.path", "a file path string", shorten(repr(named_path))
                )
            named = Path(recorded["path"])
            # Relative paths are relative to the record's own file, never to the working directory.
            child = Path(os.path.normpath(named if named.is_absolute() else holder.parent / named))
            resolved = child.resolve()
            if resolved == path:
                raise ProvenanceError(
                    holder,
                    f"{where}.path",
                    "a file other than the one it describes",
                    f"the file itself ({recorded['path']})",
                )
            if resolved in self.stack:
                loop = [*self.stack[self.stack.index(resolved) :], resolved]  # the stack ends with path
                cycle = " -> ".join(map(str, loop))
                raise ProvenanceError(holder, f"{where}.path", "an acyclic lineage", f"a cycle: {cycle}")
            if not _within(resolved, self.roots):
                nodes.append(
                    AuditNode(
                        path=resolved,
                        status="outside",
                        detail=(
                            f"recorded as {recorded['path']!r}, outside the audited trees "
                            f"({', '.join(map(str, self.roots))}); not read (add it with --root DIR)"
                        ),
                    )
                )
                continue
            nodes.append(self.node(resolved, recorded, holder=holder, where=where))
        return nodes

    def node(
        self, path: Path, recorded: Mapping[str, Any] | None, *, holder: Path | None = None, where: str = ""
    ) -> AuditNode:
        if recorded is None:
            status, detail = ("ok", "") if path.is_file() else ("missing", "file not found")
        else:
            status, detail = _check(path, recorded, holder=holder or path, where=where)
        if status == "missing":
            return AuditNode(path=path, status=status, detail=detail)
        record, source = read_record(path)
        node = AuditNode(path=path, status=status, detail=detail, record=record or None)
        if not record:
            return node
        if path in self.seen:  # shared ancestors are verified once
            done = self.seen[path]
            node.inputs = done.inputs
            if done.status == "modified" and node.status != "modified":
                node.status, node.detail = done.status, done.detail
        else:
            verdict = _check_seal(path, record, source or "")
            if verdict is not None and node.status != "modified":
                node.status, node.detail = verdict
            self.stack.append(path)
            try:
                node.inputs = self.inputs_of(path, record, source or "")
            finally:
                self.stack.pop()
            self.seen[path] = node
        if node.status in {"ok", "unverified"} and any(c.status in BAD for c in node.inputs):
            node.status, node.detail = "stale", "an input changed, disappeared or was not read"
        return node


def audit(path: str | Path, *, roots: Sequence[str | Path] | None = None) -> AuditNode:
    """Audit ``path`` and, recursively, everything it was made from.

    Parameters
    ----------
    path
        The result file.
    roots
        Directories whose trees the audit may read; a recorded input elsewhere is reported as
        ``outside`` and not read. None: :func:`default_roots` of ``path``.

    Raises
    ------
    ProvenanceError
        A record on the way is not JSON, not an object, malformed, self-referencing or cyclic.
    """
    path = Path(path).resolve()
    trees = [Path(r).resolve() for r in roots] if roots is not None else default_roots([path])
    return _Audit(roots=trees).node(path, None)


def format_tree(
    node: AuditNode, *, prefix: str = "", last: bool = True, root: bool = True, _listed: set | None = None
) -> str:
    """Text tree of an audit, one file per line; a shared ancestor's inputs are listed once."""
    listed: set[Path] = set() if _listed is None else _listed
    branch = "" if root else ("└─ " if last else "├─ ")
    info = ""
    if node.record and "step" in node.record:
        recorded_code = node.record.get("code")
        code = recorded_code if isinstance(recorded_code, dict) else {}
        commit = str(code.get("commit") or "?")[:10] + ("+dirty" if code.get("dirty") else "")
        step, finished = node.record.get("step"), node.record.get("finished", "")
        info = f"  [{step} {finished} wlcnn {code.get('wlcnn')} {commit}"
        if node.record.get("slurm_job_id"):
            info += f" slurm {node.record['slurm_job_id']}"
        info += f" on {node.record.get('host')}]"
    line = f"{prefix}{branch}{node.status.upper():10s} {node.path}{info}"
    if node.detail and node.status != "ok":
        line += f"  ({node.detail})"
    if node.inputs and node.path in listed:
        return line + f"  (its {len(node.inputs)} inputs are listed above)"
    listed.add(node.path)
    lines = [line]
    child_prefix = prefix + ("" if root else ("   " if last else "│  "))
    for i, child in enumerate(node.inputs):
        lines.append(
            format_tree(
                child, prefix=child_prefix, last=i == len(node.inputs) - 1, root=False, _listed=listed
            )
        )
    return "\n".join(lines)
