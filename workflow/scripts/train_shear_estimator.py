"""Snakemake script: train the seed paper's CNN shear estimator on simulated stamps."""

import json
from pathlib import Path

from wlcnn.logs import setup_rule_logging
from wlcnn.provenance import file_record, provenance_record, utc_now, write_sidecar
from wlcnn.shapes.estimator import train_shear_estimator
from wlcnn.shapes.settings import estimator_settings
from wlcnn.shapes.stamps import read_stamp_file

# a resumed job continues the log of the interrupted one
log = setup_rule_logging(snakemake.log[0], append=True)
p = snakemake.params
started = utc_now()
stamps, _ = read_stamp_file(snakemake.input[0], stamp_size=p.config["shapes"]["stamps"]["stamp_size"])
result = train_shear_estimator(
    stamps.stamps,
    stamps.shear,
    settings=estimator_settings(p.config),
    seed=p.config["run"]["seed"],
    out_dir=Path(snakemake.output.model).parent,
    fingerprint_config=p.config,
)
log.info("trained: %s", json.dumps(result))
record = provenance_record(
    step="train_shear_estimator",
    inputs=[file_record(snakemake.input[0])],
    config=p.config,
    started=started,
    extra={k: v for k, v in result.items() if k != "seconds"},
)
for output in (snakemake.output.model, snakemake.output.history):
    write_sidecar(output, record)
