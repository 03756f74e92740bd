"""Snakemake script: a stamp catalogue measured by the CNN -> the shear catalogue of the survey stage."""

import json

from wlcnn.logs import setup_rule_logging
from wlcnn.provenance import file_record, provenance_record, utc_now
from wlcnn.shapes.catalogue import measure_stamp_catalogue, write_shear_catalogue
from wlcnn.shapes.estimator import load_estimator
from wlcnn.survey.settings import ColumnMap

log = setup_rule_logging(snakemake.log[0])
p = snakemake.params
started = utc_now()
survey = p.config["survey"]
with open(snakemake.input.calibration) as fh:
    calibration = json.load(fh)["cnn"]
columns = measure_stamp_catalogue(
    snakemake.input.stamps,
    model=load_estimator(snakemake.input.model),
    calibration=calibration,
    stamp_size=p.config["shapes"]["stamps"]["stamp_size"],
    batch_size=p.config["shapes"]["measure_batch_size"],
)
record = provenance_record(
    step="measure_shapes",
    inputs=[file_record(snakemake.input[k]) for k in ("stamps", "model", "calibration")],
    config=p.config,
    started=started,
    extra={"n_rows": int(columns["ra"].shape[0]), "estimator": "cnn"},
)
write_shear_catalogue(
    snakemake.output[0],
    columns=columns,
    column_map=ColumnMap(**survey.get("columns", {})),
    flip_e1=survey.get("flip_e1", False),
    flip_e2=survey.get("flip_e2", False),
    provenance=record,
)
log.info("%d galaxies measured -> %s", columns["ra"].shape[0], snakemake.output[0])
