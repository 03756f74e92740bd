"""Snakemake script: train the GAN emulator and select its checkpoint (wlcnn.emulator.pipeline)."""

from wlcnn.emulator.pipeline import run_training
from wlcnn.emulator.settings import EmulatorSettings
from wlcnn.logs import setup_rule_logging

# a resumed job continues the log of the interrupted one
setup_rule_logging(snakemake.log[0], append=True)
config = snakemake.params.config
files = dict(snakemake.input.items())
run_training(
    {k.removeprefix("train_"): [v] for k, v in files.items() if k.startswith("train_")},
    {k.removeprefix("dev_"): [v] for k, v in files.items() if k.startswith("dev_")},
    outputs=dict(snakemake.output.items()),
    settings=EmulatorSettings.from_config(config["emulator"]),
    statistics=config.get("statistics", {}),
    prior=config["cosmology"]["prior"],
    seed=config["run"]["seed"],
    checkpoint_dir=snakemake.params.checkpoints,
    config_subset=config,
)
