"""Snakemake script: ingest one simulation's snapshots into the canonical format."""

from wlcnn.ingest import ingest_simulation
from wlcnn.logs import setup_rule_logging

log = setup_rule_logging(snakemake.log[0])
sims = snakemake.params.config["simulations"]
ingest = snakemake.params.config["ingest"]
options = {"box": snakemake.params.box}
if sims.get("length_unit", "auto") != "auto":
    options["length_unit"] = sims["length_unit"]
try:
    ingest_simulation(
        snakemake.params.snapshots,
        snakemake.output.snapshots,
        snakemake.output.manifest,
        cosmology=snakemake.params.cosmology,
        requested_redshifts=snakemake.params.redshifts,
        redshift_tolerance=sims.get("redshift_tolerance", 0.0),
        chunk_size=ingest["chunk_size"],
        format=sims.get("format", "auto"),
        reader_options=options,
        keep_velocities=ingest.get("keep_velocities", False),
        checksum=ingest.get("checksum", "sha256"),
        identity={"cosmology": snakemake.wildcards.cosmology, "simulation": snakemake.wildcards.simulation},
    )
except Exception:
    log.exception("ingestion failed")
    raise
