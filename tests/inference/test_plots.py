"""The plots a cosmologist expects (issue 13 item 5): triangle, chain traces, predictions against
truth, n(z) with its bootstrap spread. Each writes its PNG atomically, has sensible axes, and
survives edge cases (one analysis, no burn-in, a single test map, no bootstrap).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from wlcnn.atomic import is_temporary
from wlcnn.inference.constraints import s8
from wlcnn.inference.plots import TRIANGLE_PARAMETERS, plot_chain_traces, plot_triangle
from wlcnn.lensing.nz import NzTable, bootstrap_nz_histograms, synthetic_nz_histograms
from wlcnn.lensing.plots import plot_nz_bootstrap
from wlcnn.training.plots import plot_predictions_vs_truth

PNG_MAGIC = b"\x89PNG"


@pytest.fixture
def figures(monkeypatch) -> list:
    """Figures the plot functions close (captured for inspection)."""
    captured: list = []
    original = plt.close

    def capture(fig=None):
        captured.append(fig)
        original(fig)

    monkeypatch.setattr(plt, "close", capture)
    return captured


def _is_png(path) -> bool:
    return path.exists() and path.read_bytes()[:4] == PNG_MAGIC


def _no_temporaries(directory) -> bool:
    return not any(is_temporary(p) for p in directory.iterdir())


def _gaussian_samples(mean, sd, n=4000, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, sd, size=(n, 3))


def test_triangle_plot_overlays_every_analysis(tmp_path, figures) -> None:
    a = _gaussian_samples([0.30, 0.80, 0.0], [0.03, 0.05, 1.0])
    b = _gaussian_samples([0.32, 0.78, 0.5], [0.05, 0.08, 1.5], seed=1)
    blinded = np.column_stack([b, s8(b[:, 0], b[:, 1]) + 0.1])  # a blinded chain's own S8
    plot_triangle(
        tmp_path / "tri.png", analyses=[("a", a), ("b", blinded)], blinded=False, truth=(0.3, 0.8, 0.0)
    )
    assert _is_png(tmp_path / "tri.png") and _no_temporaries(tmp_path)
    fig = figures[-1]
    labels = {ax.get_xlabel() for ax in fig.axes} | {ax.get_ylabel() for ax in fig.axes}
    for expected in (r"$\Omega_{\rm m}$", r"$\sigma_8$", "$S_8$", r"$A_{\rm IA}$"):
        assert expected in labels
    n = len(TRIANGLE_PARAMETERS)
    assert len([ax for ax in fig.axes if ax.get_visible()]) >= n * (n + 1) // 2
    # The S8 panel shows the blinded S8 (shifted by 0.1): its x range reaches beyond a's.
    s8_axis = next(ax for ax in fig.axes if ax.get_xlabel() == "$S_8$")
    assert s8_axis.get_xlim()[1] > s8(0.3, 0.8) + 0.1


def test_triangle_plot_edge_cases(tmp_path) -> None:
    plot_triangle(
        tmp_path / "one.png",
        analyses=[("only", _gaussian_samples([0.3, 0.8, 0], [0.03, 0.05, 1]))],
        blinded=True,
    )
    assert _is_png(tmp_path / "one.png")
    with pytest.raises(ValueError, match="at least one analysis"):
        plot_triangle(tmp_path / "none.png", analyses=[], blinded=False)
    assert not (tmp_path / "none.png").exists() and _no_temporaries(tmp_path)


def _ar1_chain(n_steps: int, n_walkers: int, rho: float = 0.9, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.zeros((n_steps, n_walkers, 3))
    for t in range(1, n_steps):
        x[t] = rho * x[t - 1] + np.sqrt(1 - rho**2) * rng.standard_normal((n_walkers, 3))
    return x * [0.03, 0.05, 1.0] + [0.3, 0.8, 0.0]


def test_chain_traces_quote_the_autocorrelation_time(tmp_path, figures) -> None:
    chain = _ar1_chain(600, 8)
    tau = {"omega_m": 19.0, "sigma8": 19.5, "a_ia": 18.7}  # AR(1): (1 + ρ)/(1 − ρ) = 19
    plot_chain_traces(
        tmp_path / "trace.png", samples=chain, n_burn=100, autocorr_time=tau, blinded=False, label="x"
    )
    assert _is_png(tmp_path / "trace.png")
    fig = figures[-1]
    assert len(fig.axes) == 4 and fig.axes[-1].get_xlabel() == "step"
    assert fig.axes[0].get_xlim()[1] >= 599
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("= 19.0 steps" in t and "N/$\\tau$ = 26" in t for t in texts)  # 500 / 19
    # τ of S8 is estimated (emcee), close to the AR(1) value.
    s8_text = next(iter(fig.axes[3].texts)).get_text()
    tau_s8 = float(s8_text.split("= ")[1].split(" steps")[0])
    assert 10 < tau_s8 < 35


def test_chain_traces_edge_cases(tmp_path) -> None:
    chain = _ar1_chain(2, 6)
    plot_chain_traces(
        tmp_path / "short.png",
        samples=chain,
        n_burn=0,
        autocorr_time={"omega_m": np.inf, "sigma8": np.inf, "a_ia": np.inf},
        blinded=True,
    )
    assert _is_png(tmp_path / "short.png")
    with pytest.raises(ValueError, match="n_steps"):
        plot_chain_traces(
            tmp_path / "bad.png", samples=chain[:, :, :2], n_burn=0, autocorr_time={}, blinded=False
        )
    assert not (tmp_path / "bad.png").exists() and _no_temporaries(tmp_path)


def test_predictions_against_truth(tmp_path, figures) -> None:
    rng = np.random.default_rng(2)
    truth = rng.uniform([0.1, 0.5, -0.6], [0.5, 1.2, 0.6], size=(500, 3))
    sigma = np.full_like(truth, 0.02)
    prediction = truth + sigma * rng.standard_normal(truth.shape)
    names = ("omega_m", "sigma8", "a_ia_over_10")
    plot_predictions_vs_truth(
        tmp_path / "pred.png", truth=truth, prediction=prediction, sigma=sigma, names=names, max_points=200
    )
    assert _is_png(tmp_path / "pred.png")
    fig = figures[-1]
    assert len(fig.axes) == 3
    for ax, j in zip(fig.axes, range(3), strict=True):
        lo, hi = ax.get_xlim()
        assert lo <= truth[:, j].min() and hi >= truth[:, j].max()
        assert ax.get_xlabel() == f"true ${names[j]}$"
    stats = fig.axes[0].texts[0].get_text()
    within = float(stats.split("within 1σ ")[1].rstrip("%")) / 100
    assert abs(within - 0.683) < 0.07  # Gaussian errors of the stated σ


def test_predictions_edge_cases(tmp_path) -> None:
    one = np.array([[0.3, 0.8, 0.0]])
    plot_predictions_vs_truth(tmp_path / "one.png", truth=one, prediction=one, names=("a", "b", "c"))
    assert _is_png(tmp_path / "one.png")
    with pytest.raises(ValueError, match="sigma"):
        plot_predictions_vs_truth(
            tmp_path / "bad.png", truth=one, prediction=one, sigma=np.ones((2, 3)), names=("a", "b", "c")
        )
    assert not (tmp_path / "bad.png").exists() and _no_temporaries(tmp_path)


def _demo_nz(n_bootstrap: int) -> tuple[list[NzTable], list[list[NzTable]]]:
    edges = [0.1, 0.3, 0.5, 0.7, 0.9]
    z_lower, hist = synthetic_nz_histograms(photoz_edges=edges, z_max=2.0, bin_width=0.05)
    fiducial = [NzTable(z=z_lower, nz=h) for h in hist]
    boots = [
        [
            NzTable(z=z_lower, nz=h)
            for h in bootstrap_nz_histograms(z_lower=z_lower, hist=hist, seed=1, realisation=r)
        ]
        for r in range(n_bootstrap)
    ]
    return fiducial, boots


def test_nz_with_bootstrap_band(tmp_path, figures) -> None:
    fiducial, boots = _demo_nz(20)
    plot_nz_bootstrap(tmp_path / "nz.png", nz=fiducial, bootstrap=boots)
    assert _is_png(tmp_path / "nz.png")
    ax = figures[-1].axes[0]
    assert ax.get_xlabel() == "z" and ax.get_ylim()[0] == 0.0
    assert len(ax.collections) == len(fiducial)  # one band per bin
    assert "20 bootstrap" in ax.get_title()
    assert len(ax.get_legend().get_texts()) == len(fiducial)


def test_nz_edge_cases(tmp_path, figures) -> None:
    fiducial, boots = _demo_nz(1)
    plot_nz_bootstrap(tmp_path / "none.png", nz=fiducial)
    assert "no bootstrap" in figures[-1].axes[0].get_title()
    plot_nz_bootstrap(tmp_path / "single.png", nz=fiducial, bootstrap=boots)  # one realisation: no spread
    assert _is_png(tmp_path / "none.png") and _is_png(tmp_path / "single.png")
    with pytest.raises(ValueError, match="bins"):
        plot_nz_bootstrap(tmp_path / "bad.png", nz=fiducial, bootstrap=[boots[0][:2]])
    assert not (tmp_path / "bad.png").exists() and _no_temporaries(tmp_path)
