"""Snakemake script: the survey catalogue with its rendered galaxies' shapes replaced by the measured ones."""

from wlcnn.logs import setup_rule_logging
from wlcnn.provenance import file_record, provenance_record, utc_now
from wlcnn.shapes.merge import merge_measured_shapes
from wlcnn.survey.settings import ColumnMap

log = setup_rule_logging(snakemake.log[0])
p = snakemake.params
started = utc_now()
survey = p.config["survey"]
inputs = [snakemake.input.catalogue, snakemake.input.measured]
summary = merge_measured_shapes(
    snakemake.input.catalogue,
    snakemake.input.measured,
    snakemake.output[0],
    column_map=ColumnMap(**survey.get("columns", {})),
    table=survey.get("catalogue_table"),
    provenance=provenance_record(
        step="merge_measured_shapes",
        inputs=[file_record(f) for f in inputs],
        config=p.config,
        started=started,
    ),
)
log.info(
    "%d of %d galaxies (%.2f %%) carry their measured shapes -> %s",
    summary["n_replaced"],
    summary["n_rows"],
    100 * summary["replaced_fraction"],
    snakemake.output[0],
)
