"""Snakemake script: the paper's Fig. 4 check of the maps' power spectra against theory."""

from wlcnn.logs import setup_rule_logging
from wlcnn.maps.validation import power_spectrum_validation

log = setup_rule_logging(snakemake.log[0])
lensing = snakemake.params.lensing
result = power_spectrum_validation(
    list(snakemake.input),
    lensing=lensing,
    base_dir=snakemake.params.base_dir,
    ell_range=lensing["validation_ell_range"],
    n_ell_bins=lensing["validation_n_ell_bins"],
    tolerance=lensing["validation_tolerance"],
    plot_path=snakemake.output.plot,
    json_path=snakemake.output.json,
)
for label in ("no_ia", "ia"):
    log.info(
        "%s: max |sim/theory - 1| = %.3f over l in %s (%d maps)",
        label,
        result[label]["max_deviation"],
        lensing["validation_ell_range"],
        result["n_maps"],
    )
if not result["passed"]:
    log.warning("maps deviate from theory by more than %.0f%%", 100 * result["tolerance"])
