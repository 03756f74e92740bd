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

The names below are loaded on first use (:mod:`wlcnn._lazy`), so that importing one module
(e.g. the power spectrum) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wlcnn._lazy import attach

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from wlcnn.inference.analysis import (
        InferenceSettings,
        build_likelihood,
        compare,
        constrain,
        sample_posterior,
        unblind,
    )
    from wlcnn.inference.constraints import marginal_interval, s8, write_table
    from wlcnn.inference.likelihood import (
        PARAMETER_NAMES,
        GridInterpolator,
        SummaryLikelihood,
        sellentin_heavens_logpdf,
    )
    from wlcnn.inference.sampling import Chain, read_chain, run_emcee, write_arviz_netcdf, write_chain
    from wlcnn.inference.summaries import (
        DataVector,
        Summaries,
        read_data_vector,
        read_summaries,
        write_summaries,
    )

__all__ = [
    "Chain",
    "DataVector",
    "GridInterpolator",
    "InferenceSettings",
    "PARAMETER_NAMES",
    "Summaries",
    "SummaryLikelihood",
    "build_likelihood",
    "compare",
    "constrain",
    "marginal_interval",
    "read_chain",
    "read_data_vector",
    "read_summaries",
    "run_emcee",
    "s8",
    "sample_posterior",
    "sellentin_heavens_logpdf",
    "unblind",
    "write_arviz_netcdf",
    "write_chain",
    "write_summaries",
    "write_table",
]

#: Public name -> the submodule that defines it (loaded on first use).
_HOME = {
    "InferenceSettings": "analysis",
    "build_likelihood": "analysis",
    "compare": "analysis",
    "constrain": "analysis",
    "sample_posterior": "analysis",
    "unblind": "analysis",
    "marginal_interval": "constraints",
    "s8": "constraints",
    "write_table": "constraints",
    "PARAMETER_NAMES": "likelihood",
    "GridInterpolator": "likelihood",
    "SummaryLikelihood": "likelihood",
    "sellentin_heavens_logpdf": "likelihood",
    "Chain": "sampling",
    "read_chain": "sampling",
    "run_emcee": "sampling",
    "write_arviz_netcdf": "sampling",
    "write_chain": "sampling",
    "DataVector": "summaries",
    "Summaries": "summaries",
    "read_data_vector": "summaries",
    "read_summaries": "summaries",
    "write_summaries": "summaries",
}

__getattr__, __dir__ = attach(__name__, _HOME, public=__all__)
