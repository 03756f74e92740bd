"""E/B null test of the observed survey (issue 15, item 5; SPEC §10): B modes against noise.

Lensing makes E modes only. A mirrored shear frame (the e1/e2 sign convention of a real
catalogue unverified: flipping e1 or e2 maps κ̃_E to κ̃_B ≈ ±sin 4φ_ℓ κ̃_E, half the E power), a
rotated frame or an additive systematic shows up as B-mode power above that of noise.

Method. The observed shear maps go through the path of :meth:`ForwardModel.observe` (mask, mode
removal, re-mask, smoothing) and the same Kaiser-Squires inversion
(:func:`wlcnn.survey.kaiser_squires.gamma_to_kappa`), keeping κ_B instead of κ_E. The data
vector d is the B-mode auto-spectrum of every tomographic bin in the ℓ bins of the power
spectrum (:func:`~wlcnn.inference.power_spectrum.binned_spectra`, the project's estimator),
averaged over patches: n_bins × n_ell entries. Its distribution under the null hypothesis comes
from ``n_sims`` simulations of the same footprint: the observed catalogue's ellipticities
randomly rotated (:func:`wlcnn.survey.shape_noise.shape_noise_numpy` with the survey's noise
ingredients; rotations remove the signal, keep each galaxy's |e|, weight and pixel), drawn from
an explicit seed, plus the E-mode part of the observed maps (:func:`e_mode_shear`): the masks
and the patch edges leak E into B (on a 2.5° mock patch with holes, ~10 % of the E power at the
lowest ℓ, enough to fail a strong-signal survey), and this way the null distribution carries
that leakage while a mirrored frame's B modes are in the data only. With μ̂ and Ŝ the mean and
covariance of the simulated spectra,

    χ² = (d − μ̂)ᵀ h Ŝ⁻¹ (d − μ̂),   h = (n_sims − p − 2) / (n_sims − 1)  (Hartlap et al. 2007),

and the probability to exceed is PTE = P(χ²_p > χ²). The survey ``passes`` when PTE >=
``pte_threshold``.

Examples
--------
>>> settings = EBNullSettings(n_sims=40, pte_threshold=0.01, ell_edges=np.geomspace(75, 3500, 5))
>>> settings.n_entries(n_bins=4)
16
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from wlcnn.atomic import atomic_path, atomic_write_text
from wlcnn.inference.power_spectrum import (
    DEFAULT_ELL_RANGE,
    DEFAULT_N_ELL_BINS,
    binned_spectra,
    ell_bin_edges,
)
from wlcnn.seeding import rng_for
from wlcnn.survey.forward_model import ForwardModel
from wlcnn.survey.kaiser_squires import gamma_to_kappa, kappa_to_gamma, remove_modes
from wlcnn.survey.shape_noise import draw_rotation_angles, shape_noise_numpy
from wlcnn.survey.smoothing import smooth

__all__ = [
    "DEFAULT_EB_N_SIMS",
    "DEFAULT_EB_PTE_THRESHOLD",
    "EBNullResult",
    "EBNullSettings",
    "b_mode_spectra",
    "e_and_b_maps",
    "e_mode_shear",
    "eb_null_config_problems",
    "eb_null_test",
    "plot_eb_null",
    "write_eb_null_json",
]

#: Noise-only simulations of the footprint (enough for a covariance of ~20 entries).
DEFAULT_EB_N_SIMS = 100
#: The survey passes when its PTE is at least this.
DEFAULT_EB_PTE_THRESHOLD = 0.01
#: Identity tag of the noise-simulation draws (keeps them apart from every other draw).
_SEED_TAG = "eb-null"
#: Hartlap et al. (2007): an unbiased inverse covariance needs n_sims > p + 2.
_HARTLAP_OFFSET = 2
#: Bands of the plot: ±1σ and ±2σ of the noise simulations.
_BANDS = (1.0, 2.0)
_DPI = 120


@dataclass(frozen=True)
class EBNullSettings:
    """What the E/B null test takes from the configuration.

    Attributes
    ----------
    n_sims
        Noise-only simulations.
    pte_threshold
        The survey passes when PTE >= this.
    ell_edges
        Multipole bin edges (default: those of the power-spectrum baseline).
    include_leakage
        Add the observed maps' E-mode part to every noise simulation, so that the null
        distribution includes the mask's E → B leakage (module doc).
    """

    n_sims: int = DEFAULT_EB_N_SIMS
    pte_threshold: float = DEFAULT_EB_PTE_THRESHOLD
    ell_edges: np.ndarray = field(
        default_factory=lambda: ell_bin_edges(
            ell_min=DEFAULT_ELL_RANGE[0], ell_max=DEFAULT_ELL_RANGE[1], n_bins=DEFAULT_N_ELL_BINS
        )
    )
    include_leakage: bool = True

    def n_entries(self, *, n_bins: int) -> int:
        """Data-vector entries for ``n_bins`` tomographic bins."""
        return n_bins * (len(self.ell_edges) - 1)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> EBNullSettings:
        """From ``inference``: ``eb_n_sims``, ``eb_pte_threshold``, ``ps_ell_range``, ``ps_n_ell_bins``."""
        inference = config.get("inference", {})
        lo, hi = inference.get("ps_ell_range", DEFAULT_ELL_RANGE)
        return cls(
            n_sims=int(inference.get("eb_n_sims", DEFAULT_EB_N_SIMS)),
            pte_threshold=float(inference.get("eb_pte_threshold", DEFAULT_EB_PTE_THRESHOLD)),
            ell_edges=ell_bin_edges(
                ell_min=float(lo),
                ell_max=float(hi),
                n_bins=int(inference.get("ps_n_ell_bins", DEFAULT_N_ELL_BINS)),
            ),
        )


@dataclass(frozen=True)
class EBNullResult:
    """Outcome of :func:`eb_null_test` (spectra in steradians, shapes (n_bins, n_ell)).

    Attributes
    ----------
    ell_edges
        Multipole bin edges.
    observed
        B-mode spectra of the survey, averaged over patches.
    noise_mean, noise_std
        Mean and standard deviation of the noise simulations' spectra.
    chi2
        χ² of the observed spectra against the noise distribution (Hartlap-corrected).
    dof
        Entries of the data vector.
    pte
        Probability to exceed ``chi2`` under the null hypothesis.
    pte_threshold
        The survey passes when ``pte >= pte_threshold``.
    n_sims
        Noise simulations.
    seed
        Seed of the noise simulations.
    """

    ell_edges: np.ndarray
    observed: np.ndarray
    noise_mean: np.ndarray
    noise_std: np.ndarray
    chi2: float
    dof: int
    pte: float
    pte_threshold: float
    n_sims: int
    seed: int

    @property
    def passes(self) -> bool:
        """No B modes beyond noise at the configured threshold."""
        return self.pte >= self.pte_threshold

    @property
    def message(self) -> str:
        """One line for logs and the warning before unblinding."""
        verdict = "passes" if self.passes else "FAILS (check the e1/e2 sign convention and frame)"
        return (
            f"E/B null test {verdict}: chi2 = {self.chi2:.1f} for {self.dof} B-mode entries, "
            f"PTE = {self.pte:.3g} (threshold {self.pte_threshold:g}, {self.n_sims} noise simulations)"
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-able record of every number."""
        return {
            "passes": self.passes,
            "chi2": self.chi2,
            "dof": self.dof,
            "pte": self.pte,
            "pte_threshold": self.pte_threshold,
            "n_sims": self.n_sims,
            "seed": self.seed,
            "ell_edges": self.ell_edges.tolist(),
            "observed_cl_bb": self.observed.tolist(),
            "noise_mean_cl_bb": self.noise_mean.tolist(),
            "noise_std_cl_bb": self.noise_std.tolist(),
            "message": self.message,
        }


def e_and_b_maps(model: ForwardModel, gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """κ_E, κ_B (P, B, N, N) of shear maps (P, B, 2, N, N) by the path of :meth:`ForwardModel.observe`.

    The κ_E returned equals the κ channels of ``model.observe(gamma)`` (tested); κ_B comes from
    the same inversion.
    """
    mask = np.asarray(model.mask)[:, :, None]
    cleaned = remove_modes(np.asarray(gamma, dtype=np.float64) * mask, padding=model.padding)
    if model.mask_after_mode_removal:
        cleaned = cleaned * mask
    smoothed = smooth(cleaned, sigma_pix=model.smoothing_sigma_pix, truncate=model.smoothing_truncate)
    return gamma_to_kappa(smoothed, padding=0)


def e_mode_shear(model: ForwardModel, gamma: np.ndarray) -> np.ndarray:
    """The E-mode part (P, B, 2, N, N) of masked shear maps, re-masked: what the mask leaks into B.

    κ_E of the masked maps (padded Kaiser-Squires), back to shear (padded) and masked again:
    a pure E-mode field on the survey's footprint, whose B modes after the observation path
    are the mask's leakage (of the signal and of the E part of the noise).
    """
    mask = np.asarray(model.mask)[:, :, None]
    kappa_e, _ = gamma_to_kappa(np.asarray(gamma, dtype=np.float64) * mask, padding=model.padding)
    return kappa_to_gamma(kappa_e, padding=model.padding) * mask


def b_mode_spectra(
    model: ForwardModel, gamma: np.ndarray, *, patch_size_deg: float, ell_edges: np.ndarray
) -> np.ndarray:
    """(n_bins, n_ell) B-mode auto-spectra of shear maps (P, B, 2, N, N), averaged over patches."""
    _, kappa_b = e_and_b_maps(model, gamma)
    spectra = binned_spectra(kappa_b[..., None], patch_size_deg=patch_size_deg, ell_edges=ell_edges)
    return spectra[:, :, 0, :].mean(axis=0)


def eb_null_test(
    model: ForwardModel,
    gamma_obs: np.ndarray,
    *,
    patch_size_deg: float,
    settings: EBNullSettings,
    seed: int,
) -> EBNullResult:
    """B modes of the observed shear maps against noise-only simulations (module doc).

    Parameters
    ----------
    model
        The survey's forward model (masks, noise ingredients from the observed catalogue,
        padding, smoothing).
    gamma_obs
        Observed shear maps (P, B, 2, N, N) (``PatchMaps.gamma``).
    patch_size_deg
        Side of a patch, degrees.
    settings
        Simulations, threshold and ℓ bins.
    seed
        Base seed of the noise simulations (e.g. ``run.seed``); the same seed gives the same result.

    Returns
    -------
    EBNullResult

    Raises
    ------
    ValueError
        Too few simulations for an inverse covariance (n_sims <= p + 2).
    """
    p = settings.n_entries(n_bins=model.n_bins)
    if settings.n_sims <= p + _HARTLAP_OFFSET:
        raise ValueError(
            f"n_sims: expected more than {p + _HARTLAP_OFFSET} noise simulations for {p} B-mode entries, "
            f"found {settings.n_sims}"
        )

    def spectra(gamma: np.ndarray) -> np.ndarray:
        return b_mode_spectra(model, gamma, patch_size_deg=patch_size_deg, ell_edges=settings.ell_edges)

    observed = spectra(gamma_obs)
    # The mask leaks E into B: the null simulations carry the observed E modes (no B) plus noise.
    leaking = e_mode_shear(model, gamma_obs) if settings.include_leakage else 0.0
    rng = rng_for(seed, _SEED_TAG)
    sims = np.stack(
        [
            spectra(
                leaking
                + shape_noise_numpy(model.noise, phase=draw_rotation_angles(rng, model.noise.n_galaxies))
            )
            for _ in range(settings.n_sims)
        ]
    )
    flat = sims.reshape(settings.n_sims, -1)
    mean = flat.mean(axis=0)
    cov = np.cov(flat, rowvar=False)
    hartlap = (settings.n_sims - p - _HARTLAP_OFFSET) / (settings.n_sims - 1)
    diff = observed.ravel() - mean
    chi2 = float(hartlap * diff @ np.linalg.solve(cov, diff))
    return EBNullResult(
        ell_edges=np.asarray(settings.ell_edges, dtype=np.float64),
        observed=observed,
        noise_mean=mean.reshape(observed.shape),
        noise_std=flat.std(axis=0, ddof=1).reshape(observed.shape),
        chi2=chi2,
        dof=p,
        pte=float(stats.chi2.sf(chi2, p)),
        pte_threshold=settings.pte_threshold,
        n_sims=settings.n_sims,
        seed=int(seed),
    )


def eb_null_config_problems(cfg: Mapping[str, Any]) -> list[str]:
    """``inference.eb_n_sims`` must exceed the B-mode entries + 2 (an invertible covariance)."""
    inference = cfg.get("inference", {})
    zb_edges = cfg.get("survey", {}).get("zb_edges")
    if "eb_n_sims" not in inference or zb_edges is None:
        return []
    p = (len(zb_edges) - 1) * int(inference.get("ps_n_ell_bins", DEFAULT_N_ELL_BINS))
    if inference["eb_n_sims"] > p + _HARTLAP_OFFSET:
        return []
    return [
        (
            f"inference.eb_n_sims: expected more than {p + _HARTLAP_OFFSET} noise simulations "
            f"({len(zb_edges) - 1} tomographic bins x ps_n_ell_bins B-mode entries + 2), "
            f"found {inference['eb_n_sims']}"
        )
    ]


def write_eb_null_json(path: str | Path, result: EBNullResult) -> None:
    """Write :meth:`EBNullResult.to_json` atomically."""
    atomic_write_text(path, json.dumps(result.to_json(), indent=2) + "\n")


def plot_eb_null(path: str | Path, result: EBNullResult) -> None:
    """ℓ(ℓ+1) C_BB / 2π of every tomographic bin with the noise simulations' ±1σ, ±2σ bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ell = np.sqrt(result.ell_edges[1:] * result.ell_edges[:-1])  # geometric bin centres
    scale = ell * (ell + 1) / (2 * np.pi)
    n_bins = len(result.observed)
    fig, axes = plt.subplots(1, n_bins, figsize=(3.2 * n_bins, 3.0), sharey=True, squeeze=False)
    for b, ax in enumerate(axes[0]):
        mu, sd = result.noise_mean[b] * scale, result.noise_std[b] * scale
        for width, alpha in zip(_BANDS, (0.4, 0.2), strict=True):
            ax.fill_between(
                ell,
                mu - width * sd,
                mu + width * sd,
                color="grey",
                alpha=alpha,
                lw=0,
                label=f"noise ±{width:g}σ",
            )
        ax.plot(ell, mu, color="grey", lw=1)
        ax.plot(
            ell,
            result.observed[b] * scale,
            "o-",
            color="C3" if not result.passes else "C0",
            label="observed B",
        )
        ax.set_xscale("log")
        ax.set_xlabel(r"$\ell$")
        ax.set_title(f"bin {b}")
    axes[0][0].set_ylabel(r"$\ell(\ell+1)C_\ell^{BB}/2\pi$")
    axes[0][0].legend(fontsize="small")
    fig.suptitle(
        f"χ² = {result.chi2:.1f} / {result.dof}, PTE = {result.pte:.3g} "
        f"({'pass' if result.passes else 'FAIL'})"
    )
    suffix = Path(path).suffix or ".png"
    with atomic_path(path, suffix=suffix) as tmp:
        fig.savefig(tmp, dpi=_DPI, bbox_inches="tight", format=suffix.lstrip("."))
    plt.close(fig)
