"""Snakemake script: the paper's Fig. 1 (galaxy counts per pixel) with shear and KS kappa."""

from wlcnn.logs import setup_rule_logging
from wlcnn.survey.plots import plot_patch_maps
from wlcnn.survey.shear_maps import read_patch_maps

setup_rule_logging(snakemake.log[0])
plot_patch_maps(read_patch_maps(snakemake.input[0]), snakemake.output[0])
