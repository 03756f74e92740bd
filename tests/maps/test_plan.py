"""The map job's memory model and the simulation cosmology, against their former hand-written forms."""

from __future__ import annotations

import pytest

from wlcnn.cosmology import DEFAULT_H, comoving_distance, make_cosmology, simulation_cosmology
from wlcnn.maps import plan
from wlcnn.maps.plan import estimate_memory_mb, map_job_memory_mb, map_job_runtime_min

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


#: Single-process CPU seconds of demo map jobs measured by bench/bench_resources.py (bench/README.md):
#: (particles, realisations) -> seconds, 17 snapshots of a 256 Mpc/h box.
MEASURED_MAP_JOB_CPU_S = {(64**3, 10): 2.7, (64**3, 100): 6.8, (64**3, 400): 17.6, (32**3, 400): 10.4}


@pytest.mark.parametrize(("size", "measured"), list(MEASURED_MAP_JOB_CPU_S.items()))
def test_map_job_runtime_model_reproduces_the_measurements(
    size: tuple[int, int], measured: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Safety factor 60 and no floor: the model's minutes are then its ceiled CPU seconds.
    monkeypatch.setattr(plan, "_RUNTIME_SAFETY", 60.0)
    monkeypatch.setattr(plan, "_RUNTIME_MIN_MIN", 0)
    n_particles, n_realisations = size
    seconds = map_job_runtime_min(
        {"n_realisations": n_realisations, "mpi_tasks": 1},
        source="snapshots",
        n_particles=n_particles,
        box_mpc_h=256.0,
        n_shells=17,
    )
    # 20 %, and 1.5 s for the ceiling to whole "minutes" and a shared machine's noise
    assert seconds == pytest.approx(measured, rel=0.2, abs=1.5)


def test_map_job_runtime_scales_with_ranks_attempts_and_source() -> None:
    paper = {"n_realisations": 1000, "mpi_tasks": 8}
    kwargs = {"source": "snapshots", "n_particles": 256**3, "box_mpc_h": 500.0, "n_shells": 51}
    eight = map_job_runtime_min(paper, **kwargs)
    one = map_job_runtime_min({**paper, "mpi_tasks": 1}, **kwargs)
    # the snapshot reads are not split over the ranks, the realisations are
    assert 10 <= eight < one < 8 * eight
    assert map_job_runtime_min(paper, attempt=2, **kwargs) == 2 * eight
    assert map_job_runtime_min(paper, **{**kwargs, "source": "lightcone_healpix"}) == 120
