"""Training and validation loss curves (the paper's Fig. 11), matplotlib with the Agg backend.

Examples
--------
>>> import tempfile, pathlib
>>> from wlcnn.training.history import HistoryWriter
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> for step, loss in ((10, 2.0), (20, 1.0)):
...     row = {"step": step, "stage": "noisy", "train_loss": loss, "val_loss": 1.5}
...     HistoryWriter(d / "h.csv").append(row)
>>> plot_loss_curves({"tiny": d / "h.csv"}, d / "loss.png").exists()
True
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from wlcnn.training.history import read_history

__all__ = ["plot_loss_curves"]

#: Figure size in inches (one column of a paper, two panels' height).
FIGSIZE = (7.0, 4.5)
#: Dots per inch of the PNG.
DPI = 120


def _running_mean(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or values.size < window:
        return values
    kernel = np.ones(window) / window
    # 'valid' then pad the start with the partial means: no edge artefacts from zero padding.
    head = np.cumsum(values[: window - 1]) / np.arange(1, window)
    return np.concatenate([head, np.convolve(values, kernel, mode="valid")])


def plot_loss_curves(
    histories: Mapping[str, str | Path],
    out_path: str | Path,
    *,
    smooth: int = 5,
    title: str = "Training and validation loss",
) -> Path:
    """Plot the training (running mean over ``smooth`` rows) and validation loss of each network.

    Parameters
    ----------
    histories
        Network name → history CSV (:mod:`wlcnn.training.history`).
    out_path
        PNG (or any matplotlib format by suffix), written atomically.
    smooth
        Rows in the running mean of the training loss.
    title
        Figure title.

    Returns
    -------
    Path
        ``out_path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from wlcnn.atomic import atomic_path

    fig, ax = plt.subplots(figsize=FIGSIZE)
    for i, (name, path) in enumerate(histories.items()):
        rows = read_history(path)
        color = f"C{i}"
        steps = np.array([r["step"] for r in rows], dtype=float)
        train = np.array([r["train_loss"] for r in rows], dtype=float)
        if steps.size:
            ax.plot(steps, _running_mean(train, smooth), color=color, lw=1.2, label=f"{name} training")
        val = [(r["step"], r["val_loss"]) for r in rows if r["val_loss"] is not None]
        if val:
            vs, vl = np.array(val, dtype=float).T
            ax.plot(vs, vl, color=color, lw=1.0, ls="--", marker="o", ms=2.5, label=f"{name} validation")
        # Mark the curriculum's stage changes.
        stages = [r["stage"] for r in rows]
        for j in range(1, len(stages)):
            if stages[j] != stages[j - 1]:
                ax.axvline(steps[j - 1], color=color, lw=0.6, ls=":")
    ax.set_xlabel("training step")
    ax.set_ylabel(r"loss  $\frac{1}{2}[\ln|\Sigma| + \Delta\theta^T \Sigma^{-1} \Delta\theta]$")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    out = Path(out_path)
    with atomic_path(out, suffix=out.suffix) as tmp:
        fig.savefig(tmp, dpi=DPI, format=out.suffix.lstrip(".") or "png")
    plt.close(fig)
    return out
