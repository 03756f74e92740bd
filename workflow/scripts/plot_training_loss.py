"""Snakemake script: training and validation loss of every network (the paper's Fig. 11)."""

from pathlib import Path

from wlcnn.logs import setup_rule_logging
from wlcnn.provenance import write_rendered_sidecars
from wlcnn.training.plots import plot_loss_curves

setup_rule_logging(snakemake.log[0])
plot_loss_curves({Path(p).parent.name: p for p in snakemake.input}, snakemake.output[0])
# Plots and tables cannot hold a provenance record: a sidecar names what they were made from.
write_rendered_sidecars(list(snakemake.output), sources=list(snakemake.input), step=snakemake.rule)
