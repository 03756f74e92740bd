"""Snakemake script: the paper's Fig. 4 check of the maps' power spectra against theory."""

from wlcnn.logs import setup_rule_logging
from wlcnn.maps.validation import power_spectrum_validation
from wlcnn.provenance import write_rendered_sidecars

log = setup_rule_logging(snakemake.log[0])
lensing = snakemake.params.config["lensing"]
result = power_spectrum_validation(
    list(snakemake.input),
    lensing=lensing,
    base_dir=snakemake.params.base_dir,
    ell_range=lensing["validation_ell_range"],
    n_ell_bins=lensing["validation_n_ell_bins"],
    tolerance=lensing["validation_tolerance"],
    tolerance_ia=lensing.get("validation_tolerance_ia", 0.2),
    k_min=lensing.get("validation_k_min"),
    k_max=lensing.get("validation_k_max"),
    resolved_fraction=lensing.get("validation_resolved_fraction", 0.9),
    plot_path=snakemake.output.plot,
    json_path=snakemake.output.json,
)
for label in ("no_ia", "ia", "gi", "ii"):
    log.info(
        "%s: max |sim/theory - 1| = %s over the validated entries", label, result[label]["max_deviation"]
    )
log.info(
    "%d maps; validated l from %s to %s per bin (>= %.0f%% of theory from %.3f <= k <= %.3f h/Mpc)",
    result["n_maps"],
    result["ell_min_validated"],
    result["ell_max_validated"],
    100 * result["resolved_fraction"],
    result["k_min"],
    result["k_max"],
)
if not result["passed"]:
    log.warning("maps deviate from theory by more than %.0f%%", 100 * result["tolerance"])
if not result["passed_ia"]:
    log.warning("IA maps deviate from the NLA GI/II theory by more than %.0f%%", 100 * result["tolerance_ia"])
# Plots and tables cannot hold a provenance record: a sidecar names what they were made from.
write_rendered_sidecars(list(snakemake.output), sources=list(snakemake.input), step=snakemake.rule)
