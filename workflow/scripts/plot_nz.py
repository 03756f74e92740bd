"""Snakemake script: the n(z) of each tomographic bin with its bootstrap spread."""

from wlcnn.lensing.nz import load_nz_from_config
from wlcnn.lensing.plots import plot_nz_bootstrap
from wlcnn.logs import setup_rule_logging
from wlcnn.provenance import write_rendered_sidecars

log = setup_rule_logging(snakemake.log[0])
lensing = snakemake.params.lensing
n_boot = int(snakemake.params.n_bootstrap)
bootstrap = [load_nz_from_config(lensing, realisation=r) for r in range(n_boot)]
plot_nz_bootstrap(snakemake.output[0], nz=load_nz_from_config(lensing), bootstrap=bootstrap)
write_rendered_sidecars(list(snakemake.output), sources=list(snakemake.input), step="plot_nz")
log.info("n(z) of %d bins with %d bootstrap realisations", len(lensing["nz_files"]), n_boot)
