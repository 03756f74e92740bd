"""Snakemake script: simulated galaxy stamps of known shear, chunked into HDF5 (wlcnn.shapes.stamps)."""

import time

from wlcnn.logs import setup_rule_logging
from wlcnn.provenance import provenance_record, utc_now
from wlcnn.shapes.settings import stamp_settings
from wlcnn.shapes.stamps import write_stamp_file

log = setup_rule_logging(snakemake.log[0])
p = snakemake.params
label = snakemake.wildcards.stamp_set
started, clock = utc_now(), time.perf_counter()
record = provenance_record(
    step="simulate_stamps",
    inputs=[],
    config=p.config,
    started=started,
    extra={"label": label, "n_stamps": p.n_stamps, "augmented": p.augment},
)
write_stamp_file(
    snakemake.output[0],
    stamp_settings(p.config),
    n=p.n_stamps,
    seed=p.config["run"]["seed"],
    label=label,
    augment=p.augment,
    provenance=record,
)
seconds = time.perf_counter() - clock
log.info(
    "%d %s stamps in %.1f s: %.0f stamps simulated per second (1 core)",
    p.n_stamps,
    label,
    seconds,
    p.n_stamps / seconds,
)
