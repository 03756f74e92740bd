"""Provenance audit: the lineage of a result file, with every recorded checksum verified.

A file's provenance record (see :mod:`wlcnn.provenance`) is found in, by order of preference:
the ``provenance`` attribute of an HDF5 file, the ``PROVJSON`` card of a FITS catalogue, the
``provenance`` key of a JSON file, or a sidecar ``<file>.prov.json``. :func:`audit` follows the
recorded inputs recursively back to files that carry no record (the simulation outputs) and
classifies every node:

``ok``          the file exists and its checksum equals the one its consumer recorded
``modified``    the file exists but its checksum changed since it was used
``missing``     the file is gone
``stale``       the file itself is intact but something upstream of it is modified or missing
``unverified``  the consumer recorded no checksum (``ingest.checksum: none``)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wlcnn.provenance import file_checksum

__all__ = ["AuditNode", "audit", "format_tree", "read_provenance"]

SIDECAR_SUFFIX = ".prov.json"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
BAD = ("modified", "missing", "stale")


def read_provenance(path: str | Path) -> dict[str, Any] | None:
    """The provenance record of ``path`` (None when it has none)."""
    path = Path(path)
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    if sidecar.is_file():
        return json.loads(sidecar.read_text())
    if not path.is_file():
        return None
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head == _HDF5_MAGIC:
        import h5py

        with h5py.File(path, "r") as fh:
            text = fh.attrs.get("provenance")
        return json.loads(text) if text else None
    if head.startswith(b"SIMPLE"):  # FITS: the record is the primary header's PROVJSON card
        from astropy.io import fits

        text = fits.getheader(path).get("PROVJSON")
        return json.loads(text) if text else None
    if path.suffix == ".json":
        try:
            return json.loads(path.read_text()).get("provenance")
        except (json.JSONDecodeError, AttributeError):
            return None
    return None


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
        """True when nothing in the tree is modified, missing or stale."""
        return all(node.status not in BAD for node in self.walk())


def _check(recorded: dict[str, Any]) -> tuple[str, str]:
    path = Path(recorded["path"])
    if not path.is_file():
        return "missing", "file not found"
    for algorithm in ("sha256", "md5", "blake2b"):
        if algorithm in recorded:
            actual = file_checksum(path, algorithm=algorithm)
            if actual != recorded[algorithm]:
                return "modified", f"{algorithm} {actual[:12]}… != recorded {recorded[algorithm][:12]}…"
            return "ok", f"{algorithm} {actual[:12]}…"
    if path.stat().st_size != recorded.get("size", path.stat().st_size):
        return "modified", f"size {path.stat().st_size} != recorded {recorded['size']}"
    return "unverified", "no checksum recorded"


def audit(
    path: str | Path, *, _recorded: dict[str, Any] | None = None, _seen: dict | None = None
) -> AuditNode:
    """Audit ``path`` and, recursively, everything it was made from."""
    path = Path(path).resolve()
    seen = {} if _seen is None else _seen
    if _recorded is None:
        status, detail = ("ok", "") if path.is_file() else ("missing", "file not found")
    else:
        status, detail = _check(_recorded)
    record = read_provenance(path) if status != "missing" else None
    node = AuditNode(path=path, status=status, detail=detail, record=record)
    if record:
        key = str(path)
        if key in seen:  # shared ancestors are verified once
            node.inputs = seen[key]
        else:
            node.inputs = [audit(rec["path"], _recorded=rec, _seen=seen) for rec in record.get("inputs", [])]
            seen[key] = node.inputs
        if node.status in {"ok", "unverified"} and any(c.status in BAD for c in node.inputs):
            node.status, node.detail = "stale", "an input changed or disappeared since this file was made"
    return node


def format_tree(
    node: AuditNode, *, prefix: str = "", last: bool = True, root: bool = True, _listed: set | None = None
) -> str:
    """Text tree of an audit, one file per line; a shared ancestor's inputs are listed once."""
    listed: set[Path] = set() if _listed is None else _listed
    branch = "" if root else ("└─ " if last else "├─ ")
    info = ""
    if node.record:
        code = node.record.get("code", {})
        commit = (code.get("commit") or "?")[:10] + ("+dirty" if code.get("dirty") else "")
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
        lines.append(format_tree(child, prefix=child_prefix, last=i == len(node.inputs) - 1, root=False,
                                 _listed=listed))
    return "\n".join(lines)
