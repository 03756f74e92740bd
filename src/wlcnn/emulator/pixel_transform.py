r"""The invertible map between κ and the generator's tanh range (-1, 1).

CosmoGAN maps the (positive) pixel values with ``s(x) = 2x / (x + a) - 1``; κ has both signs, so
each tomographic bin ``t`` is first standardised with the training maps' mean μ_t and standard
deviation σ_t, and the standardised value u is squashed symmetrically:

.. math::

    u = (κ - μ_t) / σ_t, \qquad y = u / (|u| + a) \in (-1, 1), \qquad
    u = a\,y / (1 - |y|).

``a`` (``emulator.transform_softness``) sets how much of the tanh range the bulk of the pixels
use: ``|u| = a`` maps to ``|y| = 1/2``; the map is smooth, odd and strictly increasing, and the
heavy positive tail of κ (peaks) keeps room below 1. Generator outputs with ``|y|`` at the float
limit are clipped to :data:`Y_MAX` before the inverse so that every emulated κ is finite.

Examples
--------
>>> import numpy as np
>>> maps = np.random.default_rng(0).normal(size=(8, 16, 16, 4))
>>> t = PixelTransform.fit(maps, softness=4.0)
>>> bool(np.allclose(t.inverse(t.forward(maps)), maps))
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Y_MAX", "PixelTransform"]

#: Largest |y| inverted (a float32 tanh saturates at 1 exactly; 1 - 1e-6 keeps κ finite).
Y_MAX = 1.0 - 1.0e-6


@dataclass(frozen=True)
class PixelTransform:
    """Per-bin standardisation and the squashing of the module doc; channels are the last axis.

    Attributes
    ----------
    mean, scale
        μ_t and σ_t per tomographic bin, shape (n_bins,).
    softness
        ``a``: |u| = a maps to |y| = 1/2.
    """

    mean: np.ndarray
    scale: np.ndarray
    softness: float

    @classmethod
    def fit(cls, maps: npt.ArrayLike, *, softness: float) -> PixelTransform:
        """Fit μ_t, σ_t on maps shaped (n_maps, N, N, n_bins)."""
        arr = np.asarray(maps, dtype=np.float64)
        flat = arr.reshape(-1, arr.shape[-1])
        scale = flat.std(axis=0)
        if softness <= 0 or not np.all(scale > 0):
            raise ValueError(
                f"expected softness > 0 and maps with a positive σ per bin, found softness = "
                f"{softness}, σ = {scale}"
            )
        return cls(mean=flat.mean(axis=0), scale=scale, softness=float(softness))

    def forward(self, kappa: npt.ArrayLike) -> np.ndarray:
        """κ (..., n_bins) -> y in (-1, 1), float32."""
        u = (np.asarray(kappa, dtype=np.float64) - self.mean) / self.scale
        return (u / (np.abs(u) + self.softness)).astype(np.float32)

    def inverse(self, y: npt.ArrayLike) -> np.ndarray:
        """Invert: y (..., n_bins) in [-1, 1] -> κ, float64 (|y| clipped to :data:`Y_MAX`)."""
        y64 = np.clip(np.asarray(y, dtype=np.float64), -Y_MAX, Y_MAX)
        u = self.softness * y64 / (1.0 - np.abs(y64))
        return u * self.scale + self.mean

    def to_json(self) -> dict[str, Any]:
        """JSON-able form (written with the trained generator)."""
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(), "softness": self.softness}

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> PixelTransform:
        """Inverse of :meth:`to_json`."""
        return cls(
            mean=np.asarray(record["mean"], dtype=np.float64),
            scale=np.asarray(record["scale"], dtype=np.float64),
            softness=float(record["softness"]),
        )
