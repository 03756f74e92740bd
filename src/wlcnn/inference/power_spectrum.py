"""Power-spectrum baseline (SPEC §8): flat-sky auto- and cross-spectra of the tomographic maps.

The statistic is computed on exactly the maps the CNN sees (same mode removal, smoothing, mask
and noise): the κ_E channels of the CNN inputs. For n tomographic maps there are n(n+1)/2
spectra (10 for 4 bins), each averaged in logarithmic ℓ bins (paper: 7 bins in [75, 3500]); the
data vector of a patch is the spectra concatenated pair by pair, (0,0), (0,1), …, (n−1,n−1),
and a survey's vector is the mean over its patches (:mod:`.summaries` averages the patches).
The likelihood is the same as for the CNN but with a fixed covariance, taken from the test set
at the grid cosmology nearest the mock, at A_IA = 0 (:func:`fixed_covariance`).

Estimator (the project's one, :func:`wlcnn.statistics.power_spectrum`; flat sky, periodic FFT
of a square patch of side L = n_pix Δ, Δ the pixel size in radians): κ̃(ℓ) = Δ² Σ_x κ(x)
e^(−i ℓ·x), Ĉ_ij(ℓ) = Re[κ̃_i(ℓ) κ̃_j*(ℓ)] / L², averaged over the Fourier modes with
ℓ_low <= |ℓ| < ℓ_high of each bin (ℓ = 2π k / L). No correction for the mask or the
smoothing: simulations and data go through the same maps, so the model absorbs them.
A white-noise map of pixel variance σ² has Ĉ = σ² Δ² at every ℓ.

This module must not import TensorFlow (the baseline runs without it).

Examples
--------
>>> import numpy as np
>>> edges = ell_bin_edges(ell_min=75.0, ell_max=3500.0, n_bins=7)
>>> len(spectrum_pairs(4)), edges.size, round(float(edges[1]), 1)
(10, 8, 129.9)
>>> rng = np.random.default_rng(1)
>>> white = rng.normal(0.0, 0.01, size=(200, 64, 64, 1))          # σ = 0.01 per pixel
>>> c = binned_spectra(white, patch_size_deg=5.0, ell_edges=edges[:5]).mean(axis=0)
>>> pixel_sr = np.deg2rad(5.0 / 64) ** 2
>>> np.round(c[0, 1:] / (1e-4 * pixel_sr), 1)   # bins with >= 20 modes: 1 within noise
array([1., 1., 1.])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from wlcnn.inference.summaries import Summaries
from wlcnn.statistics.power_spectrum import FourierRings

__all__ = [
    "DEFAULT_ELL_RANGE",
    "DEFAULT_N_ELL_BINS",
    "PowerSpectrumStatistic",
    "binned_spectra",
    "ell_bin_edges",
    "fixed_covariance",
    "kappa_channels",
    "mode_ell",
    "nearest_node",
    "spectrum_pairs",
]

#: SPEC §8: 7 logarithmic ℓ bins in [75, 3500].
DEFAULT_ELL_RANGE = (75.0, 3500.0)
DEFAULT_N_ELL_BINS = 7
#: Shear components per tomographic bin in the CNN inputs (γ1, γ2 come before the κ channels).
_SHEAR_COMPONENTS = 2


def ell_bin_edges(*, ell_min: float, ell_max: float, n_bins: int) -> np.ndarray:
    """(n_bins + 1,) logarithmically spaced multipole edges."""
    if not 0 < ell_min < ell_max or n_bins < 1:
        raise ValueError(
            f"expected 0 < ell_min < ell_max and n_bins >= 1, found {ell_min}, {ell_max}, {n_bins}"
        )
    return np.geomspace(ell_min, ell_max, n_bins + 1)


def spectrum_pairs(n_maps: int) -> list[tuple[int, int]]:
    """Map pairs (i, j), i <= j, in data-vector order: (0,0), (0,1), …, (n−1,n−1)."""
    return [(i, j) for i in range(n_maps) for j in range(i, n_maps)]


def mode_ell(*, n_pix: int, patch_size_deg: float) -> np.ndarray:
    """(n_pix, n_pix) |ℓ| of the FFT modes of a patch (numpy.fft.fft2 order)."""
    side = np.deg2rad(patch_size_deg)
    k = np.fft.fftfreq(n_pix, d=1.0 / n_pix)  # integer wavenumbers
    ell_1d = 2.0 * np.pi * k / side
    return np.hypot(ell_1d[:, None], ell_1d[None, :])


def binned_spectra(maps: np.ndarray, *, patch_size_deg: float, ell_edges: np.ndarray) -> np.ndarray:
    """Binned auto- and cross-spectra of square maps (module doc for the estimator).

    Parameters
    ----------
    maps
        (..., n_pix, n_pix, n_maps) maps, channels last (dimensionless κ).
    patch_size_deg
        Side of a patch, degrees.
    ell_edges
        Multipole bin edges (increasing).

    Returns
    -------
    numpy.ndarray
        (..., n_pairs, n_ell) spectra in steradians, pairs in :func:`spectrum_pairs` order.
    """
    maps = np.asarray(maps, dtype=np.float64)
    n_pix = maps.shape[-2]
    if maps.shape[-3] != n_pix:
        raise ValueError(f"expected square maps (..., n, n, n_maps), found {maps.shape}")
    # The project's one estimator (wlcnn.statistics.power_spectrum): its mode → bin tables,
    # applied to the cross power of every channel pair from one real FFT per map.
    rings = FourierRings.build(n_pix, side_deg=patch_size_deg, ell_edges=ell_edges)
    if np.any(rings.n_modes == 0):
        raise ValueError(
            f"ℓ bins without Fourier modes: {rings.ell_edges[:-1][rings.n_modes == 0]}"
            " (patch too small for them)"
        )
    fourier = np.fft.rfft2(np.moveaxis(maps, -1, -3))  # (..., n_maps, n, n // 2 + 1)
    # θ² / n⁴ (wlcnn.statistics.power_spectrum), θ = n Δ: Δ² / n².
    norm = np.deg2rad(patch_size_deg) ** 2 / float(n_pix) ** 4
    from wlcnn.statistics.power_kernel import bin_power  # lazy: numba, ~0.35 s (not for importers)

    lead = fourier.shape[:-3]
    channels = fourier.reshape(-1, maps.shape[-1], rings.n_fourier)
    out = []
    for i, j in spectrum_pairs(maps.shape[-1]):
        # Re(κ̃_i κ̃_j*) binned straight from the coefficients (no per-pair product arrays).
        sums = np.zeros((len(channels), rings.ell_edges.size - 1))
        bin_power(channels[:, i], channels[:, j], True, rings.modes, rings.bins, rings.weights, sums, 0)
        out.append(sums.reshape(*lead, -1) * norm)
    return np.stack(out, axis=-2)


def kappa_channels(inputs: np.ndarray, *, n_bins: int) -> np.ndarray:
    """κ_E channels (…, n_pix, n_pix, n_bins) of CNN inputs (…, n_pix, n_pix, 3 n_bins).

    The channel order is that of :func:`wlcnn.survey.forward_model.channel_names`: per bin
    (γ1, γ2), then the κ_E of every bin.
    """
    inputs = np.asarray(inputs)
    if inputs.shape[-1] != (_SHEAR_COMPONENTS + 1) * n_bins:
        raise ValueError(f"expected {3 * n_bins} channels for {n_bins} bins, found {inputs.shape[-1]}")
    return inputs[..., _SHEAR_COMPONENTS * n_bins :]


@dataclass(frozen=True)
class PowerSpectrumStatistic:
    """The baseline as a ``predict`` callable: patch inputs (n, …) → spectra vectors (n, p).

    Attributes
    ----------
    patch_size_deg
        Side of a patch, degrees.
    ell_edges
        Multipole bin edges.
    n_bins
        Tomographic bins; with ``from_cnn_inputs`` the κ channels are taken from CNN inputs
        (n, n_pix, n_pix, 3 n_bins), otherwise the inputs are κ maps (n, n_pix, n_pix, n_bins).
    from_cnn_inputs
        See ``n_bins``.
    """

    patch_size_deg: float
    ell_edges: np.ndarray
    n_bins: int
    from_cnn_inputs: bool = True

    @property
    def output_names(self) -> tuple[str, ...]:
        """Names ``C{i}{j}_l{k}`` of the p = n_pairs × n_ell entries."""
        n_ell = len(self.ell_edges) - 1
        return tuple(f"C{i}{j}_l{k}" for i, j in spectrum_pairs(self.n_bins) for k in range(n_ell))

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """(n, p) spectra vectors of a batch of patches."""
        maps = kappa_channels(batch, n_bins=self.n_bins) if self.from_cnn_inputs else np.asarray(batch)
        spectra = binned_spectra(maps, patch_size_deg=self.patch_size_deg, ell_edges=self.ell_edges)
        return spectra.reshape(len(spectra), -1)


def nearest_node(nodes: np.ndarray, *, target: Sequence[float], scale: Sequence[float]) -> int:
    """Index of the (Ωm, σ8) node nearest ``target``, distances in units of ``scale`` per axis."""
    d = (np.asarray(nodes, dtype=np.float64) - np.asarray(target, dtype=np.float64)) / np.asarray(scale)
    return int(np.argmin(np.sum(d**2, axis=1)))


def fixed_covariance(
    summaries: Summaries, *, target: Sequence[float], scale: Sequence[float], a_ia: float = 0.0
) -> tuple[np.ndarray, int, str, float]:
    """The baseline's fixed covariance: Ŝ at the node nearest ``target`` and the A_IA nearest ``a_ia``.

    Parameters
    ----------
    summaries
        Power-spectrum summaries of the test set.
    target
        (Ωm, σ8) of the mock (SPEC §8).
    scale
        Per-axis distance units (e.g. the prior widths).
    a_ia
        A_IA of the covariance (SPEC: 0).

    Returns
    -------
    tuple
        (covariance (p, p), N surveys, cosmology id, A_IA used).
    """
    node = nearest_node(summaries.nodes, target=target, scale=scale)
    j = int(np.argmin(np.abs(np.asarray(summaries.a_ia) - a_ia)))
    return (
        summaries.covariance[node, j],
        int(summaries.n_surveys[node, j]),
        summaries.cosmology_ids[node],
        float(summaries.a_ia[j]),
    )
