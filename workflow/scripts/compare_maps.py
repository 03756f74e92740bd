"""Snakemake script: two sets of maps compared with every map statistic (statistics.compare)."""

from wlcnn.logs import setup_rule_logging
from wlcnn.statistics.compare import CompareSettings
from wlcnn.statistics.compare_files import compare_map_files

log = setup_rule_logging(snakemake.log[0])
config = snakemake.params.config
(pair,) = config["statistics"]["compare"]
result = compare_map_files(
    [snakemake.input.a],
    [snakemake.input.b],
    outputs=dict(snakemake.output.items()),
    name=pair["name"],
    settings=CompareSettings.from_config(config["statistics"]),
    seed=config["run"]["seed"],
    labels=tuple(f"{pair[s]['cosmology']}/{pair[s]['simulation']}" for s in ("a", "b")),
    expect=pair.get("expect", "same"),
    config_subset=config,
)
verdict = "different" if result.different else "consistent"
log.info(
    "%s: %s (smallest KS p-value x %d bins = %.3g, alpha = %g)",
    pair["name"],
    verdict,
    result.n_tests,
    result.min_pvalue_corrected,
    result.settings.alpha,
)
for name, s in result.statistics.items():
    log.info("  %s: smallest KS p-value %.3g", name, float(s.ks_pvalue.min()))
if result.different != (pair.get("expect", "same") == "different"):
    log.warning("%s: expected %s maps, found them %s", pair["name"], pair.get("expect", "same"), verdict)
