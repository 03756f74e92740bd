"""wlcnn: from N-body simulations and a shear catalogue to CNN weak-lensing constraints."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
