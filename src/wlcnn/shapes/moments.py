"""The moments baseline: GalSim's HSM shear estimators on the same stamps.

The seed paper compares its CNN with RRG (Rhodes et al. 2000); a maintained moments method takes
its place here: GalSim HSM's ``EstimateShear`` with re-Gaussianisation (``REGAUSS``, default),
``KSB``, ``BJ`` or ``LINEAR``. HSM's ``REGAUSS``, ``BJ`` and ``LINEAR`` return a PSF-corrected
distortion e = (a² − b²) / (a² + b²); it is turned into the reduced-shear-like ellipticity
g = e / (1 + sqrt(1 − |e|²)) that the catalogues use. ``KSB`` returns a shear estimate directly.

A stamp HSM cannot measure (no convergence, a PSF larger than the galaxy, ...) is flagged and
its estimate is NaN; it never stops the run.
"""

from __future__ import annotations

import logging

import numpy as np

__all__ = ["HSM_METHODS", "MomentsResult", "hsm_shear"]

log = logging.getLogger(__name__)

#: HSM's shear estimators.
HSM_METHODS = ("REGAUSS", "KSB", "BJ", "LINEAR")
#: HSM's code for a distortion-type result (the others return a shear).
_DISTORTION = "e"


class MomentsResult:
    """HSM estimates of N stamps.

    Attributes
    ----------
    g
        (N, 2) estimates, NaN where the measurement failed.
    failed
        (N,) True where HSM failed.
    """

    def __init__(self, g: np.ndarray, failed: np.ndarray) -> None:
        self.g = g
        self.failed = failed

    @property
    def n_failed(self) -> int:
        """Number of stamps HSM could not measure."""
        return int(self.failed.sum())


def _distortion_to_shear(e1: float, e2: float) -> tuple[float, float]:
    modulus = np.hypot(e1, e2)
    factor = 1.0 / (1.0 + np.sqrt(max(0.0, 1.0 - modulus**2)))
    return e1 * factor, e2 * factor


def hsm_shear(
    stamps: np.ndarray, *, psf_image: np.ndarray, pixel_scale_arcsec: float, method: str = "REGAUSS"
) -> MomentsResult:
    """PSF-corrected shear estimates of ``stamps`` (N, S, S) with GalSim HSM.

    Parameters
    ----------
    stamps
        Galaxy stamps.
    psf_image
        The PSF on the same pixel grid.
    pixel_scale_arcsec
        Pixel scale of stamps and PSF.
    method
        One of :data:`HSM_METHODS`.
    """
    import galsim  # lazy: only the moments baseline needs GalSim here

    if method not in HSM_METHODS:
        raise ValueError(
            f"shapes.calibration.moments_method: expected one of {HSM_METHODS}, found {method!r}"
        )
    psf = galsim.Image(np.asarray(psf_image, dtype=np.float64), scale=pixel_scale_arcsec)
    n = stamps.shape[0]
    g = np.full((n, 2), np.nan)
    failed = np.zeros(n, dtype=bool)
    for i in range(n):
        image = galsim.Image(np.asarray(stamps[i], dtype=np.float64), scale=pixel_scale_arcsec)
        try:
            result = galsim.hsm.EstimateShear(image, psf, shear_est=method, strict=False)
        except (galsim.GalSimError, RuntimeError, ValueError):
            failed[i] = True
            continue
        if result.error_message or result.correction_status != 0:
            failed[i] = True
            continue
        e1, e2 = result.corrected_e1, result.corrected_e2
        if result.meas_type == _DISTORTION:
            if np.hypot(e1, e2) >= 1.0:  # not a distortion: a failed fit HSM did not flag
                failed[i] = True
                continue
            e1, e2 = _distortion_to_shear(e1, e2)
        else:
            e1, e2 = result.corrected_g1, result.corrected_g2
        g[i] = (e1, e2)
    if failed.any():
        log.info("HSM %s: %d of %d stamps not measured (flagged)", method, int(failed.sum()), n)
    return MomentsResult(g, failed)
