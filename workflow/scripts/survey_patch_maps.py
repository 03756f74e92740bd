"""Snakemake script: the survey's patch shear maps, masks, biases, noise ingredients, Table I."""

from wlcnn.atomic import atomic_write_text
from wlcnn.logs import setup_rule_logging
from wlcnn.survey import SurveySettings, build_patch_maps, format_selection_table

log = setup_rule_logging(snakemake.log[0])
p = snakemake.params
settings = SurveySettings.from_config(p.config, base_dir=p.base_dir)
maps = build_patch_maps(
    list(snakemake.input),
    settings=settings,
    out_path=snakemake.output.maps,
    identity={"rule": "survey_patch_maps"},
)
table = format_selection_table(maps.table)
atomic_write_text(snakemake.output.table, table + "\n")
log.info("patch maps %s: %s\n%s", maps.map_shape, snakemake.output.maps, table)
