"""Snakemake script: concatenate several statistics into one data vector and model (SPEC §8)."""

from dataclasses import replace

from wlcnn.inference.summaries import (
    concatenate_data_vectors,
    concatenate_summaries,
    read_data_vector,
    read_summaries,
    write_data_vector,
    write_summaries,
)
from wlcnn.logs import setup_rule_logging
from wlcnn.provenance import file_record, provenance_record, utc_now

log = setup_rule_logging(snakemake.log[0])
started = utc_now()
name = snakemake.wildcards.combination
summaries = concatenate_summaries([read_summaries(p) for p in snakemake.input.summaries], label=name)
data = concatenate_data_vectors([read_data_vector(p) for p in snakemake.input.data], label=name)


def record(inputs):
    """A record of its own, with the combined statistics' files (which hold theirs) as inputs."""
    return provenance_record(
        step="combine_statistics",
        inputs=[file_record(p) for p in inputs],
        config={"combination": name},
        started=started,
    )


write_summaries(snakemake.output.summaries, replace(summaries, provenance=record(snakemake.input.summaries)))
write_data_vector(snakemake.output.data, replace(data, provenance=record(snakemake.input.data)))
log.info("%s = %s: data vector of length %d", name, list(summaries.components), len(summaries.output_names))
