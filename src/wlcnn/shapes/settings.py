"""The ``shapes:`` configuration block (validated by the schema) as typed settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CalibrationSettings",
    "EstimatorSettings",
    "StampSettings",
    "calibration_settings",
    "estimator_settings",
    "stamp_settings",
]


@dataclass(frozen=True)
class StampSettings:
    """How stamps are simulated (``shapes.stamps``; see :mod:`wlcnn.shapes.stamps`).

    Ranges are ``(low, high)``; sizes in arcsec, offsets in pixels.
    """

    stamp_size: int
    pixel_scale_arcsec: float
    psf: Mapping[str, Any]
    half_light_radius_arcsec: tuple[float, float]
    sersic_n: tuple[float, float]
    flux: tuple[float, float]
    sigma_intrinsic: float
    snr: tuple[float, float]
    shear_max: float
    scale_augmentation: float
    max_offset_pix: float
    chunk_stamps: int


@dataclass(frozen=True)
class EstimatorSettings:
    """Training of the CNN estimator (``shapes.estimator``)."""

    steps: int
    batch_size: int
    learning_rate: float
    dropout: float
    checkpoint_every: int
    keep_checkpoints: int
    strategy: str


@dataclass(frozen=True)
class CalibrationSettings:
    """Calibration and its checks (``shapes.calibration``)."""

    moments_method: str
    n_snr_bins: int
    n_size_bins: int
    max_abs_m: float
    max_abs_c: float
    n_sigma: float


def stamp_settings(config: Mapping[str, Any]) -> StampSettings:
    """``shapes.stamps`` of a whole (validated) configuration, or of its rule's subset."""
    s = config["shapes"]["stamps"]
    return StampSettings(
        stamp_size=int(s["stamp_size"]),
        pixel_scale_arcsec=float(s["pixel_scale_arcsec"]),
        psf=dict(s["psf"]),
        half_light_radius_arcsec=_pair(s["half_light_radius_arcsec"]),
        sersic_n=_pair(s["sersic_n"]),
        flux=_pair(s["flux"]),
        sigma_intrinsic=float(s["sigma_intrinsic"]),
        snr=_pair(s["snr"]),
        shear_max=float(s["shear_max"]),
        scale_augmentation=float(s["scale_augmentation"]),
        max_offset_pix=float(s["max_offset_pix"]),
        chunk_stamps=int(s["chunk_stamps"]),
    )


def estimator_settings(config: Mapping[str, Any]) -> EstimatorSettings:
    """``shapes.estimator`` of a whole (validated) configuration, or of its rule's subset."""
    e = config["shapes"]["estimator"]
    return EstimatorSettings(
        steps=int(e["steps"]),
        batch_size=int(e["batch_size"]),
        learning_rate=float(e["learning_rate"]),
        dropout=float(e["dropout"]),
        checkpoint_every=int(e["checkpoint_every"]),
        keep_checkpoints=int(e["keep_checkpoints"]),
        strategy=str(e["strategy"]),
    )


def calibration_settings(config: Mapping[str, Any]) -> CalibrationSettings:
    """``shapes.calibration`` of a whole (validated) configuration, or of its rule's subset."""
    c = config["shapes"]["calibration"]
    return CalibrationSettings(
        moments_method=str(c["moments_method"]),
        n_snr_bins=int(c["n_snr_bins"]),
        n_size_bins=int(c["n_size_bins"]),
        max_abs_m=float(c["max_abs_m"]),
        max_abs_c=float(c["max_abs_c"]),
        n_sigma=float(c["n_sigma"]),
    )


def _pair(value: Any) -> tuple[float, float]:
    low, high = value
    return float(low), float(high)
