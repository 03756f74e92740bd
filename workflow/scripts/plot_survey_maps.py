"""Snakemake script: the paper's Fig. 1 (galaxy counts per pixel) with shear and KS kappa."""

from wlcnn.logs import setup_rule_logging
from wlcnn.provenance import write_rendered_sidecars
from wlcnn.survey.plots import plot_patch_maps
from wlcnn.survey.shear_maps import read_patch_maps

setup_rule_logging(snakemake.log[0])
plot_patch_maps(read_patch_maps(snakemake.input[0]), snakemake.output[0])
# Plots and tables cannot hold a provenance record: a sidecar names what they were made from.
write_rendered_sidecars(list(snakemake.output), sources=list(snakemake.input), step=snakemake.rule)
