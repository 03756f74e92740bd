"""Snakemake script: the survey mock's galaxies, thinned, rendered as stamps of their exact shapes."""

import numpy as np

from wlcnn.logs import setup_rule_logging
from wlcnn.provenance import file_record, provenance_record, utc_now
from wlcnn.seeding import rng_for
from wlcnn.shapes.catalogue import write_shear_catalogue
from wlcnn.shapes.settings import stamp_settings
from wlcnn.shapes.stamps import render_shapes, write_stamp_catalogue
from wlcnn.survey import SurveySettings, read_catalogue

log = setup_rule_logging(snakemake.log[0])
p = snakemake.params
started = utc_now()
survey = SurveySettings.from_config(p.config, base_dir=p.base_dir)
catalogue, drops = read_catalogue(
    snakemake.input,
    columns=survey.columns,
    invalid_rows=survey.invalid_rows,
    flip_e1=survey.flip_e1,
    flip_e2=survey.flip_e2,
    chunk_rows=survey.chunk_rows,
)
seed = p.config["run"]["seed"]
n_keep = min(p.config["shapes"]["n_measure"], len(catalogue))
keep = np.sort(rng_for(seed, "shapes_thin").choice(len(catalogue), size=n_keep, replace=False))
thinned = catalogue.select(keep)
stamps = render_shapes(stamp_settings(p.config), e1=thinned.e1, e2=thinned.e2, seed=seed, label="mock")
record = provenance_record(
    step="render_mock_stamps",
    inputs=[file_record(f) for f in snakemake.input],
    config=p.config,
    started=started,
    extra={"n_read": drops.n_read, "n_kept": len(catalogue), "n_thinned": n_keep},
)
write_stamp_catalogue(
    snakemake.output.stamps,
    stamps,
    columns={"ra": thinned.ra, "dec": thinned.dec, "z_b": thinned.z_b},
    settings=stamp_settings(p.config),
    provenance=record,
)
write_shear_catalogue(
    snakemake.output.exact,
    columns={f: getattr(thinned, f) for f in ("ra", "dec", "e1", "e2", "weight", "z_b", "m")},
    column_map=survey.columns,
    flip_e1=survey.flip_e1,
    flip_e2=survey.flip_e2,
    provenance=record,
)
log.info("%d of %d mock galaxies rendered as stamps", n_keep, len(catalogue))
