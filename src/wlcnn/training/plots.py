"""Training plots (Agg backend): loss curves (Fig. 11) and test-set predictions against truth.

The predictions plot draws the network's predicted σ as error bars.

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

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from wlcnn.atomic import atomic_path
from wlcnn.training.history import read_history

__all__ = ["plot_loss_curves", "plot_predictions_vs_truth"]

#: Figure size in inches (one column of a paper, two panels' height).
FIGSIZE = (7.0, 4.5)
#: Dots per inch of the PNG.
DPI = 120
#: Side of one panel of the predictions-against-truth plot, inches.
PANEL_INCH = 3.2
#: Points drawn per panel at most (a random subset, seeded, when the test set is larger).
MAX_POINTS = 2000


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


def plot_predictions_vs_truth(
    out_path: str | Path,
    *,
    truth: np.ndarray,
    prediction: np.ndarray,
    sigma: np.ndarray | None = None,
    names: Sequence[str],
    labels: Sequence[str] | None = None,
    title: str = "Network predictions on the test set",
    max_points: int = MAX_POINTS,
    seed: int = 0,
) -> Path:
    """Predicted against true parameter, one panel per parameter, with the predicted σ as error bars.

    Parameters
    ----------
    out_path
        PNG (or any matplotlib format by suffix), written atomically.
    truth, prediction
        (n, k) true and predicted parameters of the test maps.
    sigma
        (n, k) predicted standard deviations (the square root of the diagonal of the network's
        Σ); None: no error bars.
    names
        k parameter names (panel keys).
    labels
        k axis labels (LaTeX without $); default ``names``.
    title
        Figure title.
    max_points
        Points drawn per panel at most (a seeded random subset); the statistics quoted per panel
        (bias, rms error, mean σ, fraction within 1 σ) use all points.
    seed
        Seed of the subset.

    Returns
    -------
    Path
        ``out_path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    truth = np.atleast_2d(np.asarray(truth, dtype=np.float64))
    prediction = np.atleast_2d(np.asarray(prediction, dtype=np.float64))
    k = len(names)
    if truth.shape != prediction.shape or truth.shape[1] != k or truth.shape[0] < 1:
        raise ValueError(
            f"truth and prediction must both be (n >= 1, {k}) for {list(names)}, "
            f"found {truth.shape} and {prediction.shape}"
        )
    if sigma is not None:
        sigma = np.atleast_2d(np.asarray(sigma, dtype=np.float64))
        if sigma.shape != truth.shape:
            raise ValueError(f"sigma must be {truth.shape} like the predictions, found {sigma.shape}")
    labels = list(names) if labels is None else list(labels)
    n = truth.shape[0]
    shown = np.arange(n)
    if n > max_points:
        shown = np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))
    fig, axes = plt.subplots(1, k, figsize=(PANEL_INCH * k, PANEL_INCH + 0.4), squeeze=False)
    for j, ax in enumerate(axes[0]):
        t, p = truth[:, j], prediction[:, j]
        yerr = None if sigma is None else sigma[shown, j]
        ax.errorbar(t[shown], p[shown], yerr=yerr, fmt="o", ms=2, lw=0.4, alpha=0.5, color="C0", ecolor="0.6")
        finite = np.concatenate([t, p])
        finite = finite[np.isfinite(finite)]
        lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
        pad = 0.05 * (hi - lo) if hi > lo else 0.5 * max(abs(lo), 1.0)
        ax.plot(
            [lo - pad, hi + pad], [lo - pad, hi + pad], color="k", lw=0.8, ls="--", label="prediction = truth"
        )
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_aspect("equal")
        ax.set_xlabel(rf"true ${labels[j]}$")
        ax.set_ylabel(rf"predicted ${labels[j]}$")
        residual = p - t
        text = f"bias {np.mean(residual):+.3g}\nrms {np.sqrt(np.mean(residual**2)):.3g}"
        if sigma is not None:
            within = np.mean(np.abs(residual) <= sigma[:, j])
            text += f"\nmean σ {np.mean(sigma[:, j]):.3g}\nwithin 1σ {within:.0%}"
        ax.text(0.03, 0.97, text, transform=ax.transAxes, va="top", fontsize="small")
        ax.grid(alpha=0.3)
    axes[0][0].legend(loc="lower right", fontsize="x-small")
    fig.suptitle(f"{title} ({n} maps)")
    fig.tight_layout()
    out = Path(out_path)
    with atomic_path(out, suffix=out.suffix) as tmp:
        fig.savefig(tmp, dpi=DPI, format=out.suffix.lstrip(".") or "png")
    plt.close(fig)
    return out
