"""The map job's memory model and the simulation cosmology, against their former hand-written forms."""

from __future__ import annotations

import pytest

from wlcnn.cosmology import DEFAULT_H, comoving_distance, make_cosmology, simulation_cosmology
from wlcnn.maps.plan import estimate_memory_mb, map_job_memory_mb

SHELLS = {"n_realisations": 40, "n_pix": 64, "nside": 256, "patch_nside": 2, "mpi_tasks": 3}


@pytest.mark.parametrize("attempt", [1, 2])
def test_map_job_memory_is_the_former_workflow_formula(attempt: int) -> None:
    # The formulas common.smk had before the model moved into the library.
    snap = estimate_memory_mb(n_particles=64**3, n_realisations=40, n_shells=5, n_bins=4, n_pix=64, ranks=3)
    assert (
        map_job_memory_mb(
            SHELLS, source="snapshots", n_particles=64**3, n_shells=5, n_bins=4, attempt=attempt
        )
        == int(snap * 3 * attempt) + 500
    )
    lc = estimate_memory_mb(
        n_particles=0,
        n_realisations=1,
        n_shells=5,
        n_bins=4,
        n_pix=64,
        mode="healpix",
        nside=256,
        patches_per_sky=48,
    )
    assert map_job_memory_mb(
        SHELLS, source="lightcone_healpix", n_particles=64**3, n_shells=5, n_bins=4, attempt=attempt
    ) == int(lc * attempt) + 500 + 3 * (24 * 12 * 256**2 >> 20)


def test_simulation_cosmology_is_matter_plus_lambda_with_the_defaults() -> None:
    ref = make_cosmology(omega_m=0.3, sigma8=0.8, radiation=False)
    cosmo = simulation_cosmology({"omega_m": 0.3, "sigma8": 0.8, "role": "ignored"})
    assert cosmo["h"] == DEFAULT_H and cosmo["Omega_g"] == 0.0
    assert comoving_distance(cosmo, 1.0) == comoving_distance(ref, 1.0)
    with pytest.raises(KeyError):
        simulation_cosmology({"omega_m": 0.3})
