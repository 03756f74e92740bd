"""Snakemake script: training and validation loss of every network (the paper's Fig. 11)."""

from pathlib import Path

from wlcnn.logs import setup_rule_logging
from wlcnn.training.plots import plot_loss_curves

setup_rule_logging(snakemake.log[0])
plot_loss_curves({Path(p).parent.name: p for p in snakemake.input}, snakemake.output[0])
