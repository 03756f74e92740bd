"""Periodic Gaussian random κ maps of a given angular power spectrum (tests and checks).

The maps a perfect simulation would give if κ were Gaussian: the reference against which the
estimator (:func:`wlcnn.statistics.power_spectrum`), the binned theory and the map validation
(:mod:`wlcnn.maps.validation`) are tested.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from wlcnn.lensing._flat_sky_modes import interp_loglog, mode_ell

__all__ = ["gaussian_random_field"]


def gaussian_random_field(
    *,
    ell: npt.ArrayLike,
    cl: npt.ArrayLike,
    n_pix: int,
    side_deg: float,
    rng: np.random.Generator,
    n_maps: int = 1,
) -> np.ndarray:
    """Periodic Gaussian random maps with angular power spectrum C_ℓ (no pixel window).

    White noise of unit variance is Fourier transformed, multiplied by sqrt(C(ℓ_k) N² / θ²)
    and transformed back, so that the estimator of :func:`wlcnn.statistics.power_spectrum` has mean
    C(ℓ_k) at every mode.

    Parameters
    ----------
    ell, cl
        Input spectrum (1-D, positive; log-log interpolated; 0 at ℓ = 0).
    n_pix, side_deg
        Map geometry.
    rng
        Random generator (e.g. :func:`wlcnn.seeding.rng_for`).
    n_maps
        Number of maps.

    Returns
    -------
    numpy.ndarray
        Shape (n_maps, n_pix, n_pix), float64.
    """
    ell_modes, _, _ = mode_ell(n_pix=n_pix, side_deg=side_deg)
    c_modes = interp_loglog(
        np.asarray(ell, dtype=np.float64), np.asarray(cl, dtype=np.float64), ell_modes.ravel()
    ).reshape(n_pix, n_pix)
    amplitude = np.sqrt(c_modes * n_pix**2 / np.deg2rad(side_deg) ** 2)
    noise = rng.standard_normal((n_maps, n_pix, n_pix))
    return np.fft.ifft2(np.fft.fft2(noise) * amplitude).real
