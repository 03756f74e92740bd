"""Snakemake script: join the per-cosmology summaries of one statistic."""

from dataclasses import replace

from wlcnn.inference.summaries import merge_cosmologies, read_summaries, write_summaries
from wlcnn.logs import setup_rule_logging
from wlcnn.provenance import file_record, provenance_record, utc_now

log = setup_rule_logging(snakemake.log[0])
started = utc_now()
merged = merge_cosmologies([read_summaries(p) for p in snakemake.input])
# a record of its own, with the per-cosmology files (which hold theirs) as inputs
record = provenance_record(
    step="merge_summaries",
    inputs=[file_record(p) for p in snakemake.input],
    config={"label": merged.label},
    started=started,
)
write_summaries(snakemake.output[0], replace(merged, provenance=record))
log.info("%s: %d cosmologies", merged.label, len(merged.cosmology_ids))
