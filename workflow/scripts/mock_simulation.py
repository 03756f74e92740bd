"""Snakemake script: one mock particle-mesh simulation, written as Gadget-2 snapshots."""

from pathlib import Path

from wlcnn.cosmology import make_cosmology
from wlcnn.logs import setup_rule_logging
from wlcnn.nbody import write_pm_outputs
from wlcnn.provenance import provenance_record, utc_now, write_sidecar
from wlcnn.seeding import rng_for

log = setup_rule_logging(snakemake.log[0])
started = utc_now()
p = snakemake.params
sims = p.config["simulations"]
pm = sims["mock_pm"]
cosmo_id, sim = snakemake.wildcards.cosmology, snakemake.wildcards.simulation
# Initial-condition phases depend only on the run seed and this simulation's identity.
seed = int(rng_for(p.config["run"]["seed"], "mock_simulation", cosmo_id, sim).integers(2**31 - 1))
c = p.cosmology
cosmo = make_cosmology(
    omega_m=c["omega_m"],
    sigma8=c["sigma8"],
    omega_b=c["omega_b"],
    h=c["h"],
    n_s=c["n_s"],
    transfer_function=p.config["cosmology"].get("transfer_function", "eisenstein_hu"),
    radiation=False,
)
log.info(
    "%s/%s: Om=%.4f s8=%.4f N=%d^3 box=%.1f Mpc/h mesh=%d^3 z_init=%g seed=%d",
    cosmo_id,
    sim,
    c["omega_m"],
    c["sigma8"],
    sims["n_particles_1d"],
    p.box,
    pm["n_mesh"],
    sims["z_initial"],
    seed,
)


def progress(step: int, n_total: int, a: float) -> None:
    log.info("step %d/%d a=%.4f z=%.3f", step, n_total, a, 1 / a - 1)


try:
    files = write_pm_outputs(
        cosmo=cosmo,
        n_particles_1d=sims["n_particles_1d"],
        box=p.box,
        z_init=sims["z_initial"],
        output_redshifts=p.redshifts,
        n_steps=pm["n_steps"],
        seed=seed,
        out_dir=Path(snakemake.output[0]).parent,
        n_mesh=pm["n_mesh"],
        lpt_order=pm["lpt_order"],
        snap_format=pm.get("snap_format", 1),
        progress=progress,
        workers=snakemake.threads,
    )
    # Gadget files cannot hold a provenance record: each gets a <file>.prov.json sidecar.
    record = provenance_record(
        step="mock_simulation",
        inputs=[],
        config={
            "cosmology": c,
            "simulations": sims,
            "box": p.box,
            "redshifts": p.redshifts,
            "identity": {"cosmology": cosmo_id, "simulation": sim},
            "seed": seed,
        },
        started=started,
    )
    for path in files:
        write_sidecar(path, record)
    log.info("wrote %d snapshots", len(files))
except Exception:
    log.exception("mock simulation failed")
    raise
