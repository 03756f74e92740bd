"""Snakemake script: E/B null test of the observed survey (B modes against noise-only simulations)."""

from wlcnn.inference.eb_null import EBNullSettings, eb_null_test, plot_eb_null, write_eb_null_json
from wlcnn.inference.survey_sets import forward_model_from_config
from wlcnn.logs import setup_rule_logging
from wlcnn.provenance import write_rendered_sidecars
from wlcnn.survey.shear_maps import read_patch_maps

log = setup_rule_logging(snakemake.log[0])
cfg = snakemake.params.config
patch_maps = snakemake.input.patch_maps
result = eb_null_test(
    forward_model_from_config(cfg, patch_maps_path=patch_maps),
    read_patch_maps(patch_maps).gamma,
    patch_size_deg=float(cfg["shells"]["patch_size_deg"]),
    settings=EBNullSettings.from_config(cfg),
    seed=int(cfg["run"]["seed"]),
)
write_eb_null_json(snakemake.output.json, result)
plot_eb_null(snakemake.output.plot, result)
write_rendered_sidecars([snakemake.output.json, snakemake.output.plot], sources=[patch_maps], step="eb_null")
if result.passes:
    log.info("E/B null test passed: %s", result.message)
else:
    # not an error: the observed data exist either way; `wlcnn unblind` repeats this warning
    log.warning("E/B null test FAILED: %s", result.message)
