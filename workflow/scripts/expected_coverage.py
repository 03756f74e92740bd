"""Snakemake script: expected coverage of one analysis (simulated surveys of known truth)."""

from wlcnn.inference.analysis import InferenceSettings
from wlcnn.inference.coverage import run_coverage
from wlcnn.inference.summaries import read_summaries
from wlcnn.logs import setup_rule_logging

log = setup_rule_logging(snakemake.log[0])
p = snakemake.params
options = p.config["inference"].get("coverage", {})
result = run_coverage(
    read_summaries(snakemake.input.summaries),
    settings=InferenceSettings.from_config(p.config),
    out_dir=p.out_dir,
    label=snakemake.wildcards.label,
    **{key: tuple(value) if isinstance(value, list) else value for key, value in options.items()},
    inputs=[snakemake.input.summaries],
    config_subset=p.config,
)
log.info(
    "%s: %s (%.1f inferences/s)",
    snakemake.wildcards.label,
    result["statement"],
    result["timing"]["inferences_per_s"] or 0.0,
)
