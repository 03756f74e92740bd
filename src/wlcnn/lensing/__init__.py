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

from typing import TYPE_CHECKING

from wlcnn._lazy import attach

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from wlcnn.lensing.born import BornMaps, BornWeights, born_convergence, shell_weights
    from wlcnn.lensing.nz import NzError, NzTable, load_nz_from_config, read_nz, read_nz_bins

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

#: Public name -> the submodule that defines it (loaded on first use).
_HOME = {
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

__getattr__, __dir__ = attach(__name__, _HOME, public=__all__)
