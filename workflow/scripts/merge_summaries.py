"""Snakemake script: join the per-cosmology summaries of one statistic."""

from wlcnn.inference.summaries import merge_cosmologies, read_summaries, write_summaries
from wlcnn.logs import setup_rule_logging

log = setup_rule_logging(snakemake.log[0])
merged = merge_cosmologies([read_summaries(p) for p in snakemake.input])
write_summaries(snakemake.output[0], merged)
log.info("%s: %d cosmologies", merged.label, len(merged.cosmology_ids))
