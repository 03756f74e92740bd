"""Snakemake script: the shear field from measured (CNN) shapes against that from exact shapes."""

import json

import h5py

from wlcnn.atomic import atomic_write_text
from wlcnn.logs import setup_rule_logging
from wlcnn.provenance import file_record, provenance_record, utc_now, write_rendered_sidecars
from wlcnn.shapes.comparison import compare_shear_fields
from wlcnn.shapes.plots import plot_comparison
from wlcnn.survey import SurveySettings, read_catalogue

log = setup_rule_logging(snakemake.log[0])
p = snakemake.params
started = utc_now()
survey = SurveySettings.from_config(p.config, base_dir=p.base_dir)
options = {
    "columns": survey.columns,
    "invalid_rows": survey.invalid_rows,
    "flip_e1": survey.flip_e1,
    "flip_e2": survey.flip_e2,
}
exact, _ = read_catalogue([snakemake.input.exact], **options)
measured, _ = read_catalogue([snakemake.input.measured], **options)
comparison = compare_shear_fields(exact, measured, settings=survey)
# what the survey stage made of each catalogue: its kept galaxies per patch and bin
for name in ("exact_maps", "measured_maps"):
    with h5py.File(snakemake.input[name], "r") as fh:
        comparison[f"patch_maps_kept_{name.split('_')[0]}"] = fh["table/per_patch_bin_kept"][()].tolist()
log.info(
    "measured vs exact shapes: chi2 = %.1f for %d dof (p = %.3f), r = %.3f",
    comparison["chi2"],
    comparison["dof"],
    comparison["p_value"],
    comparison["correlation"],
)
comparison["provenance"] = provenance_record(
    step="compare_shapes",
    inputs=[file_record(f) for f in snakemake.input],
    config=p.config,
    started=started,
)
atomic_write_text(snakemake.output.json, json.dumps(comparison, indent=1, default=str))
plot_comparison(comparison, snakemake.output.plot)
write_rendered_sidecars([snakemake.output.plot], sources=[snakemake.output.json], step=snakemake.rule)
