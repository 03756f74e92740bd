"""The training history (CSV) and the progress line of the log.

One row per ``log_every`` steps (and one per validation, and one at the end) with the mean
training loss since the previous row. When a run resumes from the checkpoint of step ``s``, rows
after ``s`` (written before the interruption, but whose steps are redone) are dropped, so the
file always describes the steps that made the weights.

Columns (units):

=================== ===============================================================
step                global optimizer step after which the row was written
stage               curriculum stage
train_loss          mean training loss (nats per patch, without (3/2) ln 2π) since the previous row
val_loss            loss of the held-out validation batch at ``step`` (empty if not evaluated)
grad_norm           mean global gradient norm (before clipping) since the previous row
learning_rate       learning rate of the stage
steps_per_s         optimizer steps per second since the previous row (wall clock)
maps_per_s          κ maps (surveys × patches × bins) consumed per second
input_wait          fraction of the wall time spent waiting for the input pipeline
skipped             steps skipped so far for a non-finite gradient
elapsed_s           wall time of this process since it started training, seconds
=================== ===============================================================
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wlcnn.atomic import atomic_write_text

__all__ = ["HISTORY_COLUMNS", "format_duration", "progress_line", "read_history", "HistoryWriter"]

HISTORY_COLUMNS = (
    "step",
    "stage",
    "train_loss",
    "val_loss",
    "grad_norm",
    "learning_rate",
    "steps_per_s",
    "maps_per_s",
    "input_wait",
    "skipped",
    "elapsed_s",
)
_SECONDS_PER_DAY = 86400


def format_duration(seconds: float) -> str:
    """``1d 02:03:04`` / ``02:03:04``; ``?`` when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    days, rest = divmod(round(seconds), _SECONDS_PER_DAY)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return (f"{days}d " if days else "") + f"{h:02d}:{m:02d}:{s:02d}"


def progress_line(
    *,
    step: int,
    total: int,
    stage: str,
    loss: float,
    val_loss: float | None,
    steps_per_s: float,
    maps_per_s: float,
    input_wait: float,
) -> str:
    """The log's progress line: step, loss, throughput, ETA.

    Examples
    --------
    >>> progress_line(step=50, total=100, stage="noisy", loss=1.5, val_loss=None, steps_per_s=2.0,
    ...               maps_per_s=640.0, input_wait=0.05)
    'step 50/100 [noisy] loss 1.5000 | 2.00 steps/s 640 maps/s input wait 5.0% | ETA 00:00:25'
    """
    val = f" val {val_loss:.4f}" if val_loss is not None else ""
    eta = (total - step) / steps_per_s if steps_per_s > 0 else float("nan")
    return (
        f"step {step}/{total} [{stage}] loss {loss:.4f}{val} | {steps_per_s:.2f} steps/s "
        f"{maps_per_s:.0f} maps/s input wait {100 * input_wait:.1f}% | ETA {format_duration(eta)}"
    )


def read_history(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a history CSV (numbers as float, empty cells as None)."""
    rows = []
    with open(path, newline="") as fh:
        for raw in csv.DictReader(fh):
            row: dict[str, Any] = {}
            for key, value in raw.items():
                if key == "stage":
                    row[key] = value
                elif value in ("", None):
                    row[key] = None
                else:
                    row[key] = float(value)
            row["step"] = int(row["step"])
            rows.append(row)
    return rows


class HistoryWriter:
    """Appends rows to the history CSV; :meth:`truncate` drops rows after a resumed step."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def truncate(self, step: int) -> None:
        """Keep the header and the rows with ``step <= step`` (rewritten atomically)."""
        if not self.path.exists():
            return
        rows = [r for r in self._raw_rows() if int(r["step"]) <= step]
        atomic_write_text(self.path, self._format(rows, header=True))

    def append(self, row: Mapping[str, Any]) -> None:
        """Append one row (writes the header first if the file is new)."""
        new = not self.path.exists() or self.path.stat().st_size == 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", newline="") as fh:
            fh.write(self._format([row], header=new))
            fh.flush()

    def _raw_rows(self) -> list[dict[str, str]]:
        with open(self.path, newline="") as fh:
            # A row cut by a SIGKILL mid-write lacks columns: drop it.
            return [r for r in csv.DictReader(fh) if r.get(HISTORY_COLUMNS[-1]) not in (None, "")]

    @staticmethod
    def _format(rows: Sequence[Mapping[str, Any]], *, header: bool) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
        if header:
            writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k)) for k in HISTORY_COLUMNS})
        return buf.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.8g}"
    return value
