"""Lensing: source redshift distributions, Born shell weights and maps, theory spectra.

- :mod:`wlcnn.lensing.nz`: n(z) files (KiDS 'DIR' format), demo and bootstrap generators.
- :mod:`wlcnn.lensing.born`: W_b, W_b^IA, ΔD_b (SPEC §3) and κ, κ_IA from shell stacks.
- :mod:`wlcnn.lensing.ray_tracing`: multi-plane ray-traced κ, γ from the same shells (patches).
- :mod:`wlcnn.lensing.theory`: pyccl κκ / GI / II spectra, binned like the flat-sky estimator.
- :mod:`wlcnn.lensing.random_fields`: Gaussian random κ maps of a theory spectrum.
- :mod:`wlcnn.lensing.plots`: the paper's Fig. 4 (map spectra vs theory).

The names below are re-exported lazily, so that ``python -m wlcnn.lensing.nz`` (the demo n(z)
generator) does not import its own module twice.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "BornMaps",
    "BornWeights",
    "NzError",
    "NzTable",
    "born_convergence",
    "load_nz_from_config",
    "read_nz",
    "read_nz_bins",
    "shell_weights",
]

_WHERE = {
    "BornMaps": "born",
    "BornWeights": "born",
    "born_convergence": "born",
    "shell_weights": "born",
    "NzError": "nz",
    "NzTable": "nz",
    "load_nz_from_config": "nz",
    "read_nz": "nz",
    "read_nz_bins": "nz",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"wlcnn.lensing.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'wlcnn.lensing' has no attribute {name!r}")
