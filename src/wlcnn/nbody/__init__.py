"""Mock N-body simulations: initial conditions, a FastPM-style particle-mesh code, P(k).

A stand-in for PkdGrav3 in the demo: :func:`run_pm` evolves 1LPT/2LPT initial conditions with
a kick-drift-kick particle-mesh integrator whose large scales follow linear growth exactly,
and :func:`write_pm_outputs` writes each output as a Gadget-2 snapshot, which the pipeline
then ingests with :func:`wlcnn.io.open_snapshot` like real data.

Units everywhere: comoving Mpc/h, peculiar km/s, h/Mpc, (Mpc/h)^3, M_sun/h.

The names below are loaded on first use (:mod:`wlcnn._lazy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wlcnn._lazy import attach

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from wlcnn.nbody.ics import (
        InitialConditions,
        linear_density_field,
        lpt_displacements,
        make_initial_conditions,
    )
    from wlcnn.nbody.pm import ParticleMesh, PMSnapshot, pm_time_steps, run_pm, write_pm_outputs
    from wlcnn.nbody.power import log_k_edges, power_spectrum

__all__ = [
    "InitialConditions",
    "PMSnapshot",
    "ParticleMesh",
    "linear_density_field",
    "log_k_edges",
    "lpt_displacements",
    "make_initial_conditions",
    "pm_time_steps",
    "power_spectrum",
    "run_pm",
    "write_pm_outputs",
]

#: Public name -> the submodule that defines it (loaded on first use).
_HOME = {
    "InitialConditions": "ics",
    "linear_density_field": "ics",
    "lpt_displacements": "ics",
    "make_initial_conditions": "ics",
    "ParticleMesh": "pm",
    "PMSnapshot": "pm",
    "pm_time_steps": "pm",
    "run_pm": "pm",
    "write_pm_outputs": "pm",
    "log_k_edges": "power",
    "power_spectrum": "power",
}

__getattr__, __dir__ = attach(__name__, _HOME, public=__all__)
