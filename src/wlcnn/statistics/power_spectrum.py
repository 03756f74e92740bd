r"""The flat-sky power spectrum: the project's one estimator (Fig. 4, the power-spectrum analysis).

Estimator. For an N×N map of side θ (radians) and Fourier mode k (integer frequencies),
:math:`\hat C(\ell_k) = \mathrm{Re}[\tilde\kappa_k \tilde\lambda_k^*]\, \theta^2 / N^4` with
:math:`\tilde\kappa` the unnormalised DFT, :math:`\lambda = \kappa` for an auto-spectrum and
:math:`\ell_k = 2\pi |k| / \theta`; a white-noise map of pixel variance σ² has C = σ² Ω_pix
(Ω_pix = (θ/N)² the pixel solid angle). A bin averages the modes with
``edges[i] <= ℓ < edges[i+1]`` (the ℓ = 0 mode never counts). Without edges the bins are the
Fourier rings of unit width in |k|, ring r = 1 … N/2 holding (r − ½) <= |k| < (r + ½) (the
"per mode" spectrum of CosmoGAN).

Cost. One real FFT (``rfft2``) per map: the half plane holds every mode once and each column
except kx = 0 (and kx = N/2 for even N) also stands for its mirror image, with the same power,
so its weight is 2. The mode → bin indices and weights are computed once per geometry
(:class:`FourierRings`, cached). A batch is transformed 16 maps at a time (so the coefficients
are still in the cache when they are binned) and binned by a compiled loop straight from the
coefficients (:mod:`.power_kernel`, imported on first use).

Mask. With a mask (``True`` = observed) the masked pixels are set to zero and C is divided by
the observed fraction f of the map (the pseudo-C_ℓ's leading-order f_sky correction; the mode
coupling is not undone). Maps that already carry zeros in masked pixels (the survey patches)
are analysed without a mask, as in the inference, so that data and simulations match.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> white = rng.normal(0.0, 0.01, size=(100, 64, 64))      # σ = 0.01 per pixel
>>> ps = power_spectrum(white, side_deg=5.0, ell_edges=[200.0, 1000.0, 4000.0])
>>> pixel_sr = np.deg2rad(5.0 / 64) ** 2
>>> np.round(ps.cl.mean(axis=0) / (1e-4 * pixel_sr), 2)    # C = σ² Ω_pix at every ℓ
array([1., 1.])
>>> power_spectrum(white[:1], side_deg=5.0).cl.shape        # per ring: r = 1 ... 32
(1, 32)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from wlcnn.statistics.maps import as_map_batch
from wlcnn.statistics.thresholds import checked_edges

__all__ = ["FlatSkySpectrum", "FourierRings", "power_spectrum", "ring_edges"]

#: Maps transformed per rfft2 call in a batch: 16 transforms of a 128² map (2 MB) stay in the
#: cache, so the binning reads them there; one transform of a whole stack of hundreds of maps
#: (tens of MB, fresh pages) was slower per map than single calls (issue 16).
_FFT_CHUNK = 16


@dataclass(frozen=True)
class FlatSkySpectrum:
    """Binned flat-sky power spectrum.

    Attributes
    ----------
    ell
        Mean multipole of the modes in each bin, shape (n_ell,) (NaN for empty bins).
    cl
        Mode-averaged C_ℓ estimate, shape (..., n_ell), in map units² × steradian (NaN for
        empty bins).
    n_modes
        Number of (complex, non-independent ±k) Fourier modes of the full plane in each bin.
    ell_edges
        Bin edges, shape (n_ell + 1,).
    """

    ell: np.ndarray
    cl: np.ndarray
    n_modes: np.ndarray
    ell_edges: np.ndarray


def ring_edges(*, n_pix: int, side_deg: float) -> np.ndarray:
    """Multipole edges of the unit-width Fourier rings r = 1 … N/2: (r ± ½) 2π/θ.

    Parameters
    ----------
    n_pix
        Pixels per side.
    side_deg
        Side of a map, degrees.

    Returns
    -------
    numpy.ndarray
        ``(N // 2 + 1,)`` edges.

    Examples
    --------
    >>> ring_edges(n_pix=4, side_deg=360.0 / (2 * np.pi)).tolist()   # θ = 1 rad: ℓ = 2π|k|
    [3.14159..., 9.42477..., 15.70796...]
    """
    fundamental = 2.0 * np.pi / np.deg2rad(side_deg)
    return (np.arange(n_pix // 2 + 1) + 0.5) * fundamental


@dataclass(frozen=True, eq=False)
class FourierRings:
    """Which rfft2 modes of an N×N map fall in which multipole bin, with their weights.

    Build with :meth:`build` (cached per geometry); :meth:`average` turns per-mode values of a
    batch of maps into bin means over the full Fourier plane.

    Attributes
    ----------
    n_pix
        Pixels per side.
    ell_edges
        Bin edges, shape (n_ell + 1,).
    modes
        Flat rfft2 indices of the modes inside a bin.
    bins
        Bin of each of those modes.
    weights
        Multiplicity (1 or 2, see module doc) over the bin's full-plane mode count.
    n_modes
        Full-plane modes per bin, int64.
    ell
        Mean ℓ of each bin's modes (NaN if empty).
    """

    n_pix: int
    ell_edges: np.ndarray
    modes: np.ndarray
    bins: np.ndarray
    weights: np.ndarray
    n_modes: np.ndarray
    ell: np.ndarray

    @classmethod
    def build(cls, n_pix: int, *, side_deg: float, ell_edges: npt.ArrayLike | None = None) -> FourierRings:
        """Mode → bin tables of an N×N map of side ``side_deg`` (rings when ``ell_edges`` is None).

        Parameters
        ----------
        n_pix
            Pixels per side.
        side_deg
            Side of a map, degrees.
        ell_edges
            Increasing multipole edges; ``None`` for :func:`ring_edges`.

        Returns
        -------
        FourierRings
            The (cached, read-only) tables.

        Examples
        --------
        >>> FourierRings.build(64, side_deg=5.0, ell_edges=[100.0, 500.0]).n_modes.tolist()
        [140]
        """
        if ell_edges is None:
            edges = ring_edges(n_pix=n_pix, side_deg=side_deg)
        else:
            edges = checked_edges(ell_edges, name="ell_edges")
        return _build_rings(int(n_pix), float(side_deg), tuple(edges.tolist()))

    @property
    def n_fourier(self) -> int:
        """Coefficients of one map's rfft2, N (N // 2 + 1)."""
        return self.n_pix * (self.n_pix // 2 + 1)

    def average(self, values: np.ndarray) -> np.ndarray:
        """Bin means of per-mode values, ``(..., N, N // 2 + 1)`` → ``(..., n_ell)`` (NaN if empty).

        Parameters
        ----------
        values
            Real per-mode values in rfft2 layout (e.g. ``|rfft2(map)|²``).

        Returns
        -------
        numpy.ndarray
            Mean over the full plane's modes of each bin.
        """
        from wlcnn.statistics.power_kernel import bin_values  # lazy: numba, ~0.35 s of import (module doc)

        n_bins = self.ell_edges.size - 1
        lead = values.shape[:-2]
        flat = np.ascontiguousarray(values, dtype=np.float64).reshape(-1, values.shape[-2] * values.shape[-1])
        out = np.zeros((flat.shape[0], n_bins))
        bin_values(flat, self.modes, self.bins, self.weights, out)
        out = out.reshape(*lead, n_bins)
        if np.any(self.n_modes == 0):
            out[..., self.n_modes == 0] = np.nan
        return out


@functools.lru_cache(maxsize=32)
def _build_rings(n_pix: int, side_deg: float, edges: tuple[float, ...]) -> FourierRings:
    """Cached body of :meth:`FourierRings.build` (hashable arguments)."""
    ell_edges = np.array(edges)
    n_bins = ell_edges.size - 1
    k = np.fft.fftfreq(n_pix, d=1.0 / n_pix)  # integer frequencies
    ky, kx = np.meshgrid(k, k[: n_pix // 2 + 1] if n_pix > 1 else k, indexing="ij")
    kx = np.abs(kx)  # rfft2 columns hold kx = 0 … N/2 (fftfreq gives -N/2 for the last one)
    ell = (2.0 * np.pi * np.hypot(kx, ky) / np.deg2rad(side_deg)).ravel()
    multiplicity = np.full(kx.shape, 2.0)
    multiplicity[:, 0] = 1.0
    if n_pix % 2 == 0:
        multiplicity[:, -1] = 1.0
    multiplicity = multiplicity.ravel()
    which = np.searchsorted(ell_edges, ell, side="right") - 1
    inside = (which >= 0) & (which < n_bins) & (ell > 0.0)
    modes = np.flatnonzero(inside)
    bins = which[modes]
    n_modes = np.bincount(bins, weights=multiplicity[modes], minlength=n_bins)
    ell_sum = np.bincount(bins, weights=multiplicity[modes] * ell[modes], minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_ell = ell_sum / n_modes
        weights = multiplicity[modes] / n_modes[bins]
    arrays = (ell_edges, modes, bins, weights, n_modes.astype(np.int64), mean_ell)
    for a in arrays:
        a.setflags(write=False)
    return FourierRings(n_pix, *arrays)


def power_spectrum(
    maps: npt.ArrayLike,
    *,
    side_deg: float,
    ell_edges: npt.ArrayLike | None = None,
    other: npt.ArrayLike | None = None,
    mask: npt.ArrayLike | None = None,
) -> FlatSkySpectrum:
    """Binned (or per-ring) flat-sky auto- or cross-power spectrum of square maps.

    Parameters
    ----------
    maps
        Maps shaped (..., N, N), e.g. (realisation, bin, 128, 128).
    side_deg
        Side of a map in degrees (5 for KiDS-450 patches).
    ell_edges
        Increasing multipole bin edges; ``None`` for the unit-width Fourier rings
        (:func:`ring_edges`).
    other
        Second set of maps of the same shape for a cross-spectrum (Re of κ̃₁ κ̃₂*).
    mask
        Boolean, ``True`` = observed, broadcastable to the maps (module doc); ``None``: none.

    Returns
    -------
    FlatSkySpectrum
        ``cl`` shaped (..., n_ell), map units² × steradian.

    Raises
    ------
    ValueError
        Maps not square, ``other`` of another shape, bad edges or mask, or a map without
        observed pixels.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.random.default_rng(3).normal(size=(2, 32, 32))
    >>> auto = power_spectrum(m, side_deg=2.0, ell_edges=[500.0, 2000.0, 5000.0])
    >>> cross = power_spectrum(m, side_deg=2.0, ell_edges=[500.0, 2000.0, 5000.0], other=m)
    >>> bool(np.allclose(auto.cl, cross.cl)), auto.n_modes.tolist()
    (True, [364, 639])
    """
    a = np.asarray(maps, dtype=np.float64)
    batch, full_mask = as_map_batch(a, mask=mask)
    n_pix = a.shape[-1]
    rings = FourierRings.build(n_pix, side_deg=side_deg, ell_edges=ell_edges)
    fraction = np.ones(len(batch))
    if full_mask is not None:
        fraction = full_mask.reshape(len(batch), -1).mean(axis=1)
        if np.any(fraction == 0):
            raise ValueError(
                f"mask: expected observed pixels in every map, found none in map "
                f"{int(np.flatnonzero(fraction == 0)[0])}"
            )
        batch = np.where(full_mask, batch, 0.0)
    b_batch = batch
    if other is not None:
        b = np.asarray(other, dtype=np.float64)
        if b.shape != a.shape:
            raise ValueError(f"other: expected the shape of maps {a.shape}, found {b.shape}")
        b_batch = b.reshape(batch.shape)
        if full_mask is not None:
            b_batch = np.where(full_mask, b_batch, 0.0)
    from wlcnn.statistics.power_kernel import bin_power  # lazy: numba, ~0.35 s of import (module doc)

    n_bins = rings.ell_edges.size - 1
    sums = np.zeros((len(batch), n_bins))
    for first in range(0, len(batch), _FFT_CHUNK):
        chunk = slice(first, first + _FFT_CHUNK)
        fa = np.fft.rfft2(batch[chunk]).reshape(-1, rings.n_fourier)
        fb = fa if other is None else np.fft.rfft2(b_batch[chunk]).reshape(-1, rings.n_fourier)
        bin_power(fa, fb, other is not None, rings.modes, rings.bins, rings.weights, sums, first)
    if np.any(rings.n_modes == 0):
        sums[:, rings.n_modes == 0] = np.nan
    norm = np.deg2rad(side_deg) ** 2 / float(n_pix) ** 4  # θ² / N⁴ (module doc)
    cl = sums * (norm / fraction[:, None])
    return FlatSkySpectrum(
        ell=rings.ell.copy(),
        cl=cl.reshape(*a.shape[:-2], cl.shape[-1]),
        n_modes=rings.n_modes.copy(),
        ell_edges=rings.ell_edges.copy(),
    )
