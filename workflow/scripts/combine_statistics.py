"""Snakemake script: concatenate several statistics into one data vector and model (SPEC §8)."""

from wlcnn.inference.summaries import (
    concatenate_data_vectors,
    concatenate_summaries,
    read_data_vector,
    read_summaries,
    write_data_vector,
    write_summaries,
)
from wlcnn.logs import setup_rule_logging

log = setup_rule_logging(snakemake.log[0])
name = snakemake.wildcards.combination
summaries = concatenate_summaries([read_summaries(p) for p in snakemake.input.summaries], label=name)
data = concatenate_data_vectors([read_data_vector(p) for p in snakemake.input.data], label=name)
write_summaries(snakemake.output.summaries, summaries)
write_data_vector(snakemake.output.data, data)
log.info("%s = %s: data vector of length %d", name, list(summaries.components), len(summaries.output_names))
