"""Inference stage (SPEC §7–§9): from network predictions to cosmological constraints.

Modules, one concept each:

* :mod:`.summaries`: simulated-survey predictions → μ̂, Ŝ per (cosmology, A_IA); network
  combination by concatenation; observed data vectors.
* :mod:`.likelihood`: Sellentin-Heavens likelihood on a Delaunay × linear-A_IA interpolation;
  prior = convex hull × A_IA range.
* :mod:`.sampling`: seeded emcee chains and a dense-grid cross-check.
* :mod:`.constraints`: S8 and marginal intervals, contour areas, Table II.
* :mod:`.plots`: Ωm–σ8 and S8–A_IA contours, S8 whisker plots (BLINDED warnings).
* :mod:`.power_spectrum`: the power-spectrum baseline (no TensorFlow).
* :mod:`.blinding`: secret parameter offset and the recorded unblinding.
* :mod:`.analysis`: one analysis end to end; :mod:`.cli`: ``python -m wlcnn.inference``.

Nothing is imported here, so that importing one module (e.g. the power spectrum) stays light.
"""

from __future__ import annotations

__all__: list[str] = []
