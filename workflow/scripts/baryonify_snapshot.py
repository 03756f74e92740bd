"""Snakemake script: baryonify every snapshot of one simulation at one strength (issue 17)."""

from wlcnn.logs import setup_rule_logging
from wlcnn.nbody.baryon_snapshots import baryonify_simulation
from wlcnn.nbody.baryons import BaryonParameters

log = setup_rule_logging(snakemake.log[0])
baryons = snakemake.params.config["baryons"]
strength = snakemake.params.strength
try:
    parameters = BaryonParameters.from_config(
        baryons["strengths"][strength], source=f"baryons.strengths.{strength}"
    )
    baryonify_simulation(
        snakemake.input.manifest,
        snakemake.output.snapshots,
        snakemake.output.manifest,
        parameters=parameters,
        strength=strength,
        linking_length=baryons.get("linking_length", 0.2),
        min_members=baryons.get("min_members", 20),
        config_subset=snakemake.params.config,
        checksum=snakemake.params.checksum,
    )
except Exception:
    log.exception("baryonification failed")
    raise
