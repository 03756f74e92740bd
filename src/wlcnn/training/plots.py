"""Training plots (Agg backend): loss curves (Fig. 11) and test-set predictions against truth.

The predictions plot draws the network's predicted σ as error bars: per point, or, given the
points' groups (e.g. the surveys of one (cosmology, A_IA) grid value), per group the mean
prediction with two bars side by side, the scatter of the group's predictions and the group's mean
predicted σ (a calibrated σ of independent patches matches the scatter).

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
from typing import Any

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
#: Grouped mode: the σ bar is drawn this fraction of the panel's truth range right of the scatter bar.
GROUP_BAR_OFFSET = 0.012
#: Legend entry when the predictions come without a predicted σ (e.g. an older summaries file).
NO_SIGMA_LABEL = "no predicted σ (older summaries file)"
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
    groups: np.ndarray | None = None,
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
    groups
        (n,) group label of each point (points of a group share their truth), or None. Given,
        the points are drawn faint without bars and each group as its mean prediction with the
        standard deviation of its predictions (scatter) and, beside it, the mean of its ``sigma``
        (when given; otherwise the legend says there is none, :data:`NO_SIGMA_LABEL`).

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
    if groups is not None:
        groups = np.asarray(groups).reshape(-1)
        if groups.shape != (truth.shape[0],):
            raise ValueError(f"groups must be ({truth.shape[0]},) like the predictions, found {groups.shape}")
    labels = list(names) if labels is None else list(labels)
    n = truth.shape[0]
    shown = np.arange(n)
    if n > max_points:
        shown = np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))
    fig, axes = plt.subplots(1, k, figsize=(PANEL_INCH * k, PANEL_INCH + 0.4), squeeze=False)
    for j, ax in enumerate(axes[0]):
        t, p = truth[:, j], prediction[:, j]
        finite = np.concatenate([t, p])
        if sigma is not None:
            # The error bars stay inside the panel.
            finite = np.concatenate([finite, p - sigma[:, j], p + sigma[:, j]])
        finite = finite[np.isfinite(finite)]
        lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
        pad = 0.05 * (hi - lo) if hi > lo else 0.5 * max(abs(lo), 1.0)
        if groups is None:
            yerr = None if sigma is None else sigma[shown, j]
            ax.errorbar(
                t[shown], p[shown], yerr=yerr, fmt="o", ms=2, lw=0.4, alpha=0.5, color="C0", ecolor="0.6"
            )
        else:
            ax.plot(t[shown], p[shown], "o", ms=1.5, alpha=0.25, color="0.6", label="surveys")
            _draw_group_bars(
                ax,
                truth=t,
                prediction=p,
                sigma=None if sigma is None else sigma[:, j],
                groups=groups,
                offset=GROUP_BAR_OFFSET * (hi - lo + 2 * pad),
            )
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
    fig.suptitle(f"{title} ({n} {'surveys' if groups is not None else 'maps'})")
    fig.tight_layout()
    out = Path(out_path)
    with atomic_path(out, suffix=out.suffix) as tmp:
        fig.savefig(tmp, dpi=DPI, format=out.suffix.lstrip(".") or "png")
    plt.close(fig)
    return out


def _draw_group_bars(
    ax: Any,
    *,
    truth: np.ndarray,
    prediction: np.ndarray,
    sigma: np.ndarray | None,
    groups: np.ndarray,
    offset: float,
) -> None:
    """Per group: mean prediction ± scatter of its predictions, and beside it ± its mean ``sigma``."""
    keys = np.unique(groups)
    centre = np.array([truth[groups == g].mean() for g in keys])
    mean = np.array([prediction[groups == g].mean() for g in keys])
    # ddof=1: the sample scatter, comparable to σ also for a handful of surveys per group.
    scatter = np.array(
        [prediction[groups == g].std(ddof=1) if np.sum(groups == g) > 1 else 0.0 for g in keys]
    )
    ax.errorbar(
        centre,
        mean,
        yerr=scatter,
        fmt="o",
        ms=3,
        lw=1.0,
        capsize=2,
        color="C0",
        label="mean ± scatter of the predictions",
    )
    if sigma is None:
        ax.plot([], [], " ", label=NO_SIGMA_LABEL)  # a legend line without a marker
        return
    mean_sigma = np.array([sigma[groups == g].mean() for g in keys])
    ax.errorbar(
        centre + offset,
        mean,
        yerr=mean_sigma,
        fmt="none",
        lw=1.0,
        capsize=2,
        color="C3",
        label="mean predicted σ",
    )
