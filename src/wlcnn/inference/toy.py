"""A synthetic summary statistic with a known answer: linear in θ plus Gaussian noise.

The survey-averaged "prediction" is d = A θ + b + ε, ε ~ N(0, C), θ = (Ωm, σ8, A_IA). With a flat
prior wide enough not to cut the posterior and an exactly known model (M, N → ∞), the posterior
is Gaussian with covariance Σ = (Aᵀ C⁻¹ A)⁻¹ and mean Σ Aᵀ C⁻¹ (d − b). It serves as the stand-in
network in tests, the benchmark and CLI dry runs (``--predictor wlcnn.inference.toy:predictor_factory
--surveys wlcnn.inference.toy:survey_factory``): each patch gets noise √n_patches C^(1/2) z, so
that the patch average has covariance C.

Examples
--------
>>> import numpy as np
>>> toy = default_toy()
>>> mean, cov = toy.analytic_posterior(toy.model(np.array([[0.3, 0.8, 1.0]]))[0])
>>> np.round(mean, 6).tolist()
[0.3, 0.8, 1.0]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wlcnn.grid import read_grid
from wlcnn.seeding import rng_for

__all__ = [
    "TOY_PATCHES",
    "LinearGaussianToy",
    "default_toy",
    "observation_factory",
    "predictor_factory",
    "survey_factory",
]

#: Patches per simulated survey of the toy (the paper's survey has 20).
TOY_PATCHES = 20
#: A_IA of the toy observation made by :func:`observation_factory`.
TOY_OBSERVED_A_IA = 0.0
#: Non-linearity of the second stand-in network.
_TOY_BEND = 0.5


@dataclass(frozen=True)
class LinearGaussianToy:
    """d = A θ + b + ε, ε ~ N(0, C).

    Attributes
    ----------
    matrix
        A, (p, 3).
    offset
        b, (p,).
    noise_covariance
        C, (p, p): covariance of one survey's (patch-averaged) prediction.
    """

    matrix: np.ndarray
    offset: np.ndarray
    noise_covariance: np.ndarray

    @property
    def n_data(self) -> int:
        """Length p of the data vector."""
        return len(self.offset)

    def model(self, theta: np.ndarray) -> np.ndarray:
        """Noise-free predictions (n, p) at (n, 3) θ."""
        return np.atleast_2d(theta) @ self.matrix.T + self.offset

    def surveys(self, theta: np.ndarray, *, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, p) noisy survey predictions at one θ (3,)."""
        return rng.multivariate_normal(self.model(theta)[0], self.noise_covariance, size=n)

    def patches(self, theta: np.ndarray, *, n_patches: int, rng: np.random.Generator) -> np.ndarray:
        """(n_patches, p) patch "inputs" whose mean is one survey's prediction (noise covariance C)."""
        noise = rng.multivariate_normal(
            np.zeros(self.n_data), self.noise_covariance * n_patches, size=n_patches
        )
        return self.model(theta)[0] + noise

    def analytic_posterior(self, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean (3,) and covariance (3, 3) of the Gaussian posterior (flat, non-truncating prior)."""
        inv = np.linalg.inv(self.noise_covariance)
        fisher = self.matrix.T @ inv @ self.matrix
        cov = np.linalg.inv(fisher)
        return cov @ self.matrix.T @ inv @ (np.asarray(data) - self.offset), cov


def default_toy() -> LinearGaussianToy:
    """A 4-entry toy whose posterior has KiDS-like widths and an Ωm–σ8 degeneracy.

    Posterior standard deviations about (0.03, 0.05, 0.7) in (Ωm, σ8, A_IA).
    """
    matrix = np.array(
        [
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0],
            [0.5, 0.5, 0.02],  # a fourth, S8-like combination
        ]
    )
    sd = np.array([0.04, 0.07, 0.8, 0.02])
    corr = np.array(
        [
            [1.0, -0.7, 0.1, 0.0],
            [-0.7, 1.0, 0.0, 0.0],
            [0.1, 0.0, 1.0, 0.2],
            [0.0, 0.0, 0.2, 1.0],
        ]
    )
    return LinearGaussianToy(
        matrix=matrix, offset=np.array([0.1, -0.2, 0.0, 0.05]), noise_covariance=corr * np.outer(sd, sd)
    )


class _ToyNetwork:
    """``predict`` of the toy: the patch inputs are predictions already, bent by ``bend`` tanh.

    The bend differs between labels so that two stand-in "networks" are not identical: their
    concatenation must have a non-singular covariance, as for real networks.
    """

    output_names = ("t0", "t1", "t2", "t3")

    def __init__(self, bend: float) -> None:
        self.bend = bend

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = np.asarray(batch, dtype=np.float64)
        return x + self.bend * np.tanh(x)


def predictor_factory(*, config: Mapping[str, Any], label: str, base_dir: str | Path = ".") -> _ToyNetwork:
    """CLI stand-in network: identity for labels ending in ``a`` (e.g. ``net_a``), else bent (see above)."""
    return _ToyNetwork(0.0 if label.endswith("a") else _TOY_BEND)


def survey_factory(
    *,
    config: Mapping[str, Any],
    cosmology_id: str,
    omega_m: float,
    sigma8: float,
    a_ia: float,
    base_dir: str | Path = ".",
) -> Callable[[int], np.ndarray]:
    """CLI stand-in ``make_survey``: the toy's patches at (Ωm, σ8, A_IA), drawn from the seed."""
    toy = default_toy()
    theta = np.array([omega_m, sigma8, a_ia])

    def make_survey(seed: int) -> np.ndarray:
        return toy.patches(theta, n_patches=TOY_PATCHES, rng=np.random.default_rng(seed))

    return make_survey


def observation_factory(*, config: Mapping[str, Any], base_dir: str | Path = ".") -> np.ndarray:
    """CLI stand-in observation: toy patches at the grid's first mock cosmology, A_IA = 0."""
    mocks = [c for c in read_grid(Path(base_dir) / config["cosmology"]["grid"]) if "mock" in c.n_sims]
    if not mocks:
        raise ValueError("the grid has no mock cosmology to observe")
    theta = np.array([mocks[0].omega_m, mocks[0].sigma8, TOY_OBSERVED_A_IA])
    rng = rng_for(int(config["run"]["seed"]), "toy-observation", mocks[0].id)
    return default_toy().patches(theta, n_patches=TOY_PATCHES, rng=rng)
