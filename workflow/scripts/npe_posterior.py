"""Snakemake script: neural posterior estimator of one analysis, beside its likelihood, calibrated."""

from wlcnn.inference.analysis import InferenceSettings
from wlcnn.inference.posterior_estimator import NPESettings, run_posterior_estimator
from wlcnn.inference.summaries import read_data_vector, read_summaries
from wlcnn.logs import setup_rule_logging

log = setup_rule_logging(snakemake.log[0])
p = snakemake.params
label = snakemake.wildcards.label
result = run_posterior_estimator(
    read_summaries(snakemake.input.summaries),
    read_data_vector(snakemake.input.data),
    settings=InferenceSettings.from_config(p.config),
    npe=NPESettings.from_config(p.config),
    out_dir=p.out_dir,
    label=label,
    likelihood_chain=snakemake.input.chain,
    truth=p.truth,
    inputs=[snakemake.input.summaries, snakemake.input.data, snakemake.input.chain],
    config_subset=p.config,
)
npe_s8, likelihood_s8 = result["parameters"]["s8"], result["likelihood_s8"]
log.info(
    "%s: NPE S8 = %.3f +%.3f -%.3f, likelihood S8 = %.3f +%.3f -%.3f; NPE calibration: %s (training %.1f s)",
    label,
    npe_s8["median"],
    npe_s8["plus"],
    npe_s8["minus"],
    likelihood_s8["median"],
    likelihood_s8["plus"],
    likelihood_s8["minus"],
    result["statement"],
    result["training"]["seconds"],
)
