"""Snakemake script: train (or resume) one network with the survey forward model."""

import sys

from wlcnn.logs import setup_rule_logging
from wlcnn.provenance import file_checksum
from wlcnn.survey import ForwardModel, SurveySettings
from wlcnn.survey.forward_model import TFForwardModel
from wlcnn.survey.shear_maps import read_patch_maps
from wlcnn.training.cli import SIGNAL_EXIT_BASE
from wlcnn.training.distribute import make_distribution
from wlcnn.training.forward import SurveyForwardModel
from wlcnn.training.trainer import TrainingInterrupted, train_network

log = setup_rule_logging(snakemake.log[0], append=True)  # resumed runs continue the log
p = snakemake.params
patch_maps = snakemake.input.patch_maps
settings = SurveySettings.from_config(p.config)
model = ForwardModel.from_patch_maps(read_patch_maps(patch_maps), settings=settings)
forward = SurveyForwardModel(
    TFForwardModel(model), identity=f"patch_maps:sha256={file_checksum(patch_maps)[:16]}"
)
# The strategy first: under SLURM it decides which GPUs this process may see.
dist = make_distribution(kind="auto")
try:
    result = train_network(
        train_files=list(snakemake.input.train),
        validation_files=list(snakemake.input.validation),
        out_dir=p.out_dir,
        preset=snakemake.wildcards.network,
        training_config=p.config["training"],
        base_seed=p.config["run"]["seed"],
        n_patches=p.config["survey"]["n_patches"],
        forward_model=forward,
        strategy=dist.strategy,
        checkpoint_dir=p.checkpoints,
        checksum="sha256",  # the model's provenance verifies the map files it learnt from
    )
except TrainingInterrupted as exc:  # checkpoint written: rerun the rule to continue
    log.warning("%s", exc)
    sys.exit(SIGNAL_EXIT_BASE + int(exc.signum))
log.info("done: %d steps (resumed from %d), model %s", result.steps, result.resumed_from, result.model_path)
