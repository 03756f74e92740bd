"""Blinding of the constraints on real data (SPEC §8: analyse only after the pipeline is frozen).

With ``inference.blind: true`` every constraint output (chains, grid posterior, Table II, plots)
is written with each reported parameter shifted by its own secret offset δ = (δΩm, δσ8, δA_IA,
δS8), applied to the samples after inference. S8 is shifted by δS8, not recomputed from the
shifted Ωm and σ8 (that would rescale its width by √((Ωm + δΩm)/Ωm) and by the σ8 shift: −15 % to
+12 % on the demo chain). So every marginal width, every contour area and the shape of the
contours are unchanged, and the analysis can be checked and frozen; the values are not the
answer. The unshifted chain never reaches the disk while blinded.

The secret lives apart from the results, in a JSON file readable by its owner only (mode 0600,
directory 0700). It is created once and reused, so reruns are blinded identically. Its offset is
drawn from fresh OS entropy (:mod:`secrets`), the one deliberate exception to the rule that all
randomness derives from the run seed: a shift computable from the public configuration would
blind nothing. The entropy is stored in the secret file, so the draw stays reproducible from it.

:func:`record_unblinding` writes the explicit, recorded step (who, when, where, why, the code
state, the offset revealed and checksums of the blinded inputs).

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "secret" / "blinding.json"
>>> secret = load_or_create_secret(path, scales={"omega_m": 0.05, "sigma8": 0.1, "a_ia": 1.0})
>>> oct(path.stat().st_mode & 0o777), load_or_create_secret(path, scales={}).shift == secret.shift
('0o600', True)
"""

from __future__ import annotations

import datetime as _dt
import getpass
import json
import os
import secrets
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wlcnn._errors import FieldError
from wlcnn.atomic import atomic_path, atomic_write_text
from wlcnn.inference.likelihood import PARAMETER_NAMES
from wlcnn.provenance import file_record, git_state, utc_now
from wlcnn.seeding import rng_for

__all__ = [
    "BLINDED_PARAMETERS",
    "BLINDED_WARNING",
    "DEFAULT_SCALES",
    "SECRET_SCHEMA",
    "UNBLINDING_SCHEMA",
    "BlindingSecret",
    "UnblindingError",
    "load_or_create_secret",
    "record_unblinding",
]

SECRET_SCHEMA = "wlcnn.blinding_secret/1"  # noqa: S105 - a schema name, not a secret
UNBLINDING_SCHEMA = "wlcnn.unblinding/1"
#: Text placed on every blinded plot and table.
BLINDED_WARNING = "BLINDED: parameter values shifted by a secret offset"
#: Half-widths of the uniform offset per parameter: a few times the KiDS-450 68 % errors, so
#: that blinded values cannot be read as the result (S8: 0.037 in Fluri+19).
DEFAULT_SCALES = {"omega_m": 0.1, "sigma8": 0.15, "a_ia": 2.0, "s8": 0.1}
#: Order of the offsets in :attr:`BlindingSecret.vector`: the sampled parameters, then S8.
BLINDED_PARAMETERS = (*PARAMETER_NAMES, "s8")
_SECRET_FILE_MODE = 0o600
_SECRET_DIR_MODE = 0o700
#: Bits of OS entropy behind the offset.
_ENTROPY_BITS = 128


class UnblindingError(FieldError):
    """Unblinding refused: not confirmed, results not blinded, a file missing.

    Parameters
    ----------
    path
        The results directory, secret or file at fault.
    field
        The option or file entry at fault (``"--confirm"``, ``"constraints.json: blinded"``).
    expected, found
        What unblinding needs and what was given.
    """


@dataclass(frozen=True)
class BlindingSecret:
    """The secret offset δ, added to (Ωm, σ8, A_IA) and, separately, to S8 in blinded outputs."""

    shift: tuple[float, float, float]
    created: str
    path: Path
    s8_shift: float = 0.0

    @property
    def vector(self) -> np.ndarray:
        """δ as a (4,) array in the order of :data:`BLINDED_PARAMETERS` (S8 last)."""
        return np.asarray([*self.shift, self.s8_shift], dtype=np.float64)


def _read_secret(path: Path) -> BlindingSecret:
    payload = json.loads(path.read_text())
    if payload.get("schema") != SECRET_SCHEMA:
        raise ValueError(f"{path}: not a blinding secret (schema {payload.get('schema')!r})")
    shift = tuple(float(payload["shift"][name]) for name in PARAMETER_NAMES)
    if "s8" in payload["shift"]:
        s8_shift = float(payload["shift"]["s8"])
    else:
        # A secret made before S8 had its own offset: derive it from the stored entropy, so that
        # it is as secret, and as reproducible, as the others.
        scale = float(payload.get("scales", {}).get("s8", DEFAULT_SCALES["s8"]))
        s8_shift = float(rng_for(int(payload["entropy"]), "blinding", "s8").uniform(-scale, scale))
    return BlindingSecret(
        shift=(shift[0], shift[1], shift[2]), created=payload["created"], path=path, s8_shift=s8_shift
    )


def load_or_create_secret(path: str | Path, *, scales: Mapping[str, float]) -> BlindingSecret:
    """The blinding secret at ``path``; created (mode 0600) with offsets uniform in ±``scales``.

    An existing secret is always reused (``scales`` is then ignored), so that every output of a
    blinded run carries the same offset.

    Raises
    ------
    PermissionError
        An existing secret file is readable or writable by others than its owner.
    """
    path = Path(path)
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise PermissionError(f"{path}: blinding secret is accessible to others; chmod 600 it")
        return _read_secret(path)
    if not path.parent.exists():
        path.parent.mkdir(parents=True)
        # A directory made for the secret is closed to others too (mkdir's mode obeys umask).
        os.chmod(path.parent, _SECRET_DIR_MODE)
    entropy = secrets.randbits(_ENTROPY_BITS)
    rng = rng_for(entropy, "blinding")
    full_scales = {**DEFAULT_SCALES, **dict(scales)}
    shift = {name: float(rng.uniform(-full_scales[name], full_scales[name])) for name in BLINDED_PARAMETERS}
    payload = {
        "schema": SECRET_SCHEMA,
        "created": utc_now(),
        "shift": shift,
        "scales": {name: float(full_scales[name]) for name in BLINDED_PARAMETERS},
        "entropy": str(entropy),
        "note": "added to (omega_m, sigma8, a_ia, s8) in blinded outputs; do not open before unblinding",
    }
    # mkstemp (inside atomic_path) creates the file with mode 0600 before anything is written.
    with atomic_path(path) as tmp:
        os.chmod(tmp, _SECRET_FILE_MODE)
        tmp.write_text(json.dumps(payload, indent=2) + "\n")
    return _read_secret(path)


def record_unblinding(
    path: str | Path,
    *,
    secret: BlindingSecret,
    reason: str,
    inputs: Iterable[str | Path],
    outputs: Iterable[str | Path],
    by: str | None = None,
) -> dict[str, Any]:
    """Append an unblinding record to the JSON list at ``path`` and return it.

    Parameters
    ----------
    path
        Record file (a JSON list: every unblinding of these results, in order).
    secret
        The secret whose offset was removed.
    reason
        Why unblinding is allowed now (e.g. "pipeline frozen at commit ...; approved by ...").
    inputs
        Blinded files that were unblinded (checksummed).
    outputs
        Unblinded files written.
    by
        Who unblinds (default: the login name).
    """
    if not reason.strip():
        raise ValueError("unblinding needs a reason")
    path = Path(path)
    record = {
        "schema": UNBLINDING_SCHEMA,
        "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "by": by or getpass.getuser(),
        "host": socket.gethostname(),
        "reason": reason,
        "secret": {
            "path": str(secret.path),
            "created": secret.created,
            "shift": dict(zip(BLINDED_PARAMETERS, map(float, secret.vector), strict=True)),
        },
        "code": git_state(),
        "inputs": [file_record(p) for p in inputs],
        "outputs": [str(p) for p in outputs],
    }
    history = json.loads(path.read_text()) if path.exists() else []
    history.append(record)
    atomic_write_text(path, json.dumps(history, indent=2) + "\n")
    return record
