"""Checkpoints of one training run: restore, stale-configuration handling, saving.

A checkpoint (model, optimizer moments, loss scale, global step) is a ``tf.train`` checkpoint in
the run's checkpoint directory, beside ``fingerprint.json`` (the configuration the checkpoints
belong to, :func:`wlcnn.training.settings.resume_fingerprint`) and a copy of the loss history
up to the latest checkpoint. TensorFlow writes the checkpoint files first and then replaces the
``checkpoint`` index file by an atomic rename, so a crash at any moment leaves the previous
checkpoint usable. Checkpoints from a different configuration are moved to
``<dir>.stale-<time>`` and the run starts afresh. When to save is the training loop's business
(:mod:`wlcnn.training.trainer`).

Under ``MultiWorkerMirroredStrategy`` every worker takes part in saving; worker 0 writes to the
checkpoint directory, the others to a temporary directory that :meth:`Checkpoints.cleanup`
deletes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wlcnn.atomic import atomic_write_text
from wlcnn.training.distribute import Distribution

__all__ = ["FINGERPRINT_FILE", "HISTORY_BACKUP", "Checkpoints", "checkpoint_state"]

log = logging.getLogger("wlcnn.training")

#: The configuration fingerprint the checkpoints of a directory belong to.
FINGERPRINT_FILE = "fingerprint.json"
#: Copy of the loss history at the latest checkpoint (in the checkpoint directory).
HISTORY_BACKUP = "history.csv"
#: The loss history in the run's output directory (:mod:`wlcnn.training.history`).
HISTORY_FILE = "history.csv"
#: ``time.strftime`` format of the suffix of a directory of stale checkpoints.
STALE_TIME_FORMAT = "%Y%m%dT%H%M%S"


def checkpoint_state(ckpt_dir: Path, fingerprint: str) -> tuple[str | None, bool]:
    """The latest checkpoint of ``ckpt_dir`` that belongs to ``fingerprint``.

    Parameters
    ----------
    ckpt_dir
        The checkpoint directory (need not exist).
    fingerprint
        The run's configuration fingerprint.

    Returns
    -------
    latest, stale
        The latest checkpoint prefix (None when there is none or it is stale), and whether the
        existing checkpoints come from a different configuration.
    """
    import tensorflow as tf  # lazy: importing wlcnn.training must not need TensorFlow

    latest = tf.train.latest_checkpoint(str(ckpt_dir)) if ckpt_dir.is_dir() else None
    if latest is None:
        return None, False
    stored = ckpt_dir / FINGERPRINT_FILE
    try:
        ok = json.loads(stored.read_text()).get("fingerprint") == fingerprint
    except (OSError, ValueError):
        ok = False
    return (latest, False) if ok else (None, True)


class Checkpoints:
    """The checkpoints of one :func:`~wlcnn.training.trainer.train_network` call.

    Parameters
    ----------
    checkpoint
        The ``tf.train.Checkpoint`` of the model, optimizer, loss scale and step variable.
    step_var
        The global-step variable the checkpoint holds.
    ckpt_dir
        The checkpoint directory.
    out_dir
        The run's output directory (where ``history.csv`` lives).
    fingerprint
        The run's configuration fingerprint.
    config
        The configuration subset written beside the fingerprint.
    dist
        The distribution (only the chief writes to ``ckpt_dir``).
    keep
        Checkpoints to keep (``training.keep_checkpoints``).
    """

    def __init__(
        self,
        checkpoint: Any,
        step_var: Any,
        *,
        ckpt_dir: Path,
        out_dir: Path,
        fingerprint: str,
        config: Mapping[str, Any],
        dist: Distribution,
        keep: int,
    ) -> None:
        self.checkpoint = checkpoint
        self.step_var = step_var
        self.ckpt_dir = ckpt_dir
        self.out_dir = out_dir
        self.fingerprint = fingerprint
        self.config = config
        self.dist = dist
        self.keep = keep
        self._stale = False
        self._worker_tmp: Path | None = None
        self.manager: Any = None

    def restore(self, *, total: int) -> int:
        """Restore the latest matching checkpoint; return the step to start from.

        Parameters
        ----------
        total
            The run's total number of steps (for the log only).
        """
        latest, stale = checkpoint_state(self.ckpt_dir, self.fingerprint)
        self._stale = stale
        if latest is None:
            if stale:
                log.warning(
                    "checkpoints in %s come from a different configuration: starting afresh", self.ckpt_dir
                )
            return 0
        self.checkpoint.restore(latest).assert_existing_objects_matched()
        step = int(self.step_var.numpy())
        log.info("resumed from %s (step %d of %d)", latest, step, total)
        return step

    def prepare_directory(self) -> None:
        """After every worker has restored: move stale checkpoints away, write the fingerprint."""
        import tensorflow as tf  # lazy: importing wlcnn.training must not need TensorFlow

        if self.dist.is_chief:
            if self._stale:
                stale = self.ckpt_dir.with_name(
                    f"{self.ckpt_dir.name}.stale-{time.strftime(STALE_TIME_FORMAT)}"
                )
                os.replace(self.ckpt_dir, stale)
                log.warning("moved stale checkpoints to %s", stale)
            self.ckpt_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(
                self.ckpt_dir / FINGERPRINT_FILE,
                json.dumps({"fingerprint": self.fingerprint, "config": self.config}, indent=1, default=str),
            )
            directory = self.ckpt_dir
        else:
            # Non-chief workers must take part in saving, but their copies are thrown away.
            directory = Path(tempfile.mkdtemp(prefix=f"wlcnn-ckpt-worker{self.dist.worker_index}-"))
        self._worker_tmp = None if self.dist.is_chief else directory
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(directory), max_to_keep=self.keep)

    def restore_history(self, start: int) -> None:
        """Bring back history.csv from the checkpoint's copy when resuming without it.

        Snakemake deletes a job's declared outputs (``history.csv``) before rerunning it, while
        the checkpoints survive; a rerun resuming at step ``start`` then rebuilds the history up
        to there from the copy saved with the checkpoint.
        """
        history, backup = self.out_dir / HISTORY_FILE, self.ckpt_dir / HISTORY_BACKUP
        if self.dist.is_chief and start > 0 and not history.exists() and backup.is_file():
            self.out_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(history, backup.read_text())
            log.info("restored the loss history up to step %d from %s", start, backup)

    def save(self, step: int) -> None:
        """Write a checkpoint of ``step`` (every worker calls this)."""
        self.step_var.assign(step)
        path = self.manager.save(checkpoint_number=step)
        if self.dist.is_chief:
            # the loss history up to this checkpoint travels with it: Snakemake deletes a job's
            # declared outputs (history.csv) before a rerun, the checkpoints are not among them
            history = self.out_dir / HISTORY_FILE
            if history.exists():
                atomic_write_text(self.ckpt_dir / HISTORY_BACKUP, history.read_text())
            log.info("checkpoint %s", path)

    def cleanup(self) -> None:
        """Remove a non-chief worker's temporary checkpoints."""
        if self._worker_tmp is not None:
            shutil.rmtree(self._worker_tmp, ignore_errors=True)
