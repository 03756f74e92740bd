"""Snakemake script: generated vs held-out simulated maps, memorisation, speed (wlcnn.emulator.pipeline)."""

from wlcnn.emulator.pipeline import run_validation
from wlcnn.emulator.settings import EmulatorSettings
from wlcnn.logs import setup_rule_logging

log = setup_rule_logging(snakemake.log[0])
config = snakemake.params.config
files = dict(snakemake.input.items())
record = run_validation(
    snakemake.input.generator,
    snakemake.input.emulator,
    {k.removeprefix("test_"): [v] for k, v in files.items() if k.startswith("test_")},
    {k.removeprefix("train_"): [v] for k, v in files.items() if k.startswith("train_")},
    benchmark_files=list(snakemake.params.benchmarks),
    n_simulated_maps=snakemake.params.n_simulated_maps,
    outputs=dict(snakemake.output.items()),
    settings=EmulatorSettings.from_config(config["emulator"]),
    statistics=config.get("statistics", {}),
    seed=config["run"]["seed"],
    config_subset=config,
)
for row in record["summary"]:
    log.info(
        "%s (%s): %s, min p x n = %.3g (expected %s)",
        row["name"],
        row["role"],
        "different" if row["different"] else "consistent",
        row["min_pvalue_corrected"],
        row["expect"],
    )
log.info("generation: %.4g maps/s on %s", record["speed"]["maps_per_second"], record["speed"]["device"])
