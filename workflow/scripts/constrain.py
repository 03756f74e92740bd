"""Snakemake script: likelihood, sampling, constraints table and plots of one analysis."""

from pathlib import Path

from wlcnn.inference.analysis import InferenceSettings, constrain
from wlcnn.inference.summaries import read_data_vector, read_summaries
from wlcnn.logs import setup_rule_logging

log = setup_rule_logging(snakemake.log[0])
p = snakemake.params
settings = InferenceSettings.from_config(p.config)
truth = p.truth
# analyses of systematics mocks are labelled with the mock they observe (Fig. 7)
mock = dict(snakemake.wildcards.items()).get("mock")
label = f"{snakemake.wildcards.label} @ {mock}" if mock else snakemake.wildcards.label
row = constrain(
    summaries=read_summaries(snakemake.input.summaries),
    data=read_data_vector(snakemake.input.data),
    settings=settings,
    out_dir=p.out_dir,
    label=label,
    truth=truth,
    # the power-spectrum baseline uses a fixed covariance from the test set near the mock (SPEC §8)
    fixed_covariance_near=truth[:2] if (p.fixed_covariance and truth) else None,
    inputs=[snakemake.input.summaries, snakemake.input.data],
    config_subset=p.config,
)
assert Path(snakemake.output.table).is_file(), "constrain() did not write constraints.json"
log.info("%s: %s", label, row)
