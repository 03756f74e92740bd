"""Per-rule logging: every Snakemake job writes its progress to its own ``log:`` file."""

from __future__ import annotations

import logging
from pathlib import Path

__all__ = ["setup_rule_logging"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_rule_logging(
    log_path: str | Path | None, *, level: int = logging.INFO, append: bool = False
) -> logging.Logger:
    """Send the ``wlcnn`` loggers (and warnings) to ``log_path`` (or stderr when None).

    ``append`` keeps what the file already holds: a resumed job (training after a time-limit
    checkpoint) continues the log of the interrupted one.
    """
    handler: logging.Handler
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_path, mode="a" if append else "w")
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)
    return logging.getLogger("wlcnn")
