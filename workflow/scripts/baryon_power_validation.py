"""Snakemake script: P(k) suppression of a baryonified snapshot against the model's prediction."""

import json

from wlcnn.atomic import atomic_write_text
from wlcnn.logs import setup_rule_logging
from wlcnn.nbody.baryon_snapshots import plot_power_suppression, power_suppression
from wlcnn.nbody.baryons import BaryonParameters
from wlcnn.provenance import file_record, provenance_record, utc_now, write_rendered_sidecars

log = setup_rule_logging(snakemake.log[0])
started = utc_now()
baryons = snakemake.params.config["baryons"]
strength = snakemake.params.strength
parameters = BaryonParameters.from_config(
    baryons["strengths"][strength], source=f"baryons.strengths.{strength}"
)
result = power_suppression(
    snakemake.input.original,
    snakemake.input.baryonified,
    parameters=parameters,
    n_mesh=baryons.get("validation_n_mesh", 128),
    k_max=baryons.get("validation_k_max", 0.8),
)
result["strength"] = strength
result["provenance"] = provenance_record(
    step=snakemake.rule,
    inputs=[file_record(snakemake.input.original), file_record(snakemake.input.baryonified)],
    config=snakemake.params.config,
    started=started,
)
atomic_write_text(snakemake.output.json, json.dumps(result, indent=1))
plot_power_suppression(snakemake.output.plot, result, title=f"baryons {strength}")
write_rendered_sidecars([snakemake.output.plot], sources=[snakemake.output.json], step=snakemake.rule)
log.info(
    "z = %.2f, %d haloes: measured P ratio >= %.4f for k <= %.2f h/Mpc, |measured - model| <= %.4f",
    result["redshift"],
    result["n_haloes"],
    result["min_measured"],
    result["k_max"],
    result["max_abs_difference"],
)
