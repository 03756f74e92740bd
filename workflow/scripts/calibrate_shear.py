"""Snakemake script: calibrate the CNN and the HSM moments estimator on the same stamps; plot."""

import json
import time

from wlcnn.atomic import atomic_write_text
from wlcnn.logs import setup_rule_logging
from wlcnn.provenance import file_record, provenance_record, utc_now, write_rendered_sidecars
from wlcnn.shapes.calibration import calibration_summary
from wlcnn.shapes.estimator import load_estimator, measure_cnn
from wlcnn.shapes.moments import hsm_shear
from wlcnn.shapes.plots import plot_calibration
from wlcnn.shapes.settings import calibration_settings, stamp_settings
from wlcnn.shapes.stamps import psf_image, read_stamp_file

log = setup_rule_logging(snakemake.log[0])
p = snakemake.params
started = utc_now()
stamp_cfg, settings = stamp_settings(p.config), calibration_settings(p.config)
stamps, _ = read_stamp_file(snakemake.input.stamps, stamp_size=stamp_cfg.stamp_size)
model = load_estimator(snakemake.input.model)
clock = time.perf_counter()
g_cnn = measure_cnn(model, stamps.stamps, batch_size=p.config["shapes"]["measure_batch_size"])
cnn_rate = len(stamps) / (time.perf_counter() - clock)
clock = time.perf_counter()
hsm = hsm_shear(
    stamps.stamps,
    psf_image=psf_image(stamp_cfg),
    pixel_scale_arcsec=stamp_cfg.pixel_scale_arcsec,
    method=settings.moments_method,
)
hsm_rate = len(stamps) / (time.perf_counter() - clock)
# rates go to the log only: the JSON is a reproducible product
log.info(
    "stamps measured per second (this job): CNN %.0f, HSM %s %.0f",
    cnn_rate,
    settings.moments_method,
    hsm_rate,
)
estimates = {"cnn": g_cnn, "hsm": hsm.g}
summary = {
    name: calibration_summary(
        stamps.shear, g, snr=stamps.snr, size=stamps.half_light_radius_arcsec, settings=settings
    )
    for name, g in estimates.items()
}
summary["hsm"]["method"] = settings.moments_method
for name, entry in summary.items():
    fit = entry["fit"]
    log.info(
        "%s: m = %s ± %s, c = %s ± %s, RMS = %s; check: %s",
        name,
        fit["m"],
        fit["m_err"],
        fit["c"],
        fit["c_err"],
        entry["rms"],
        "mis-calibrated " + "; ".join(entry["check"]["reasons"]) if entry["check"]["miscalibrated"] else "ok",
    )
document = {
    **summary,
    "rms_ratio_cnn_over_hsm": summary["cnn"]["rms_mean"] / summary["hsm"]["rms_mean"],
    "n_stamps": len(stamps),
    "provenance": provenance_record(
        step="calibrate_shear",
        inputs=[file_record(snakemake.input.stamps), file_record(snakemake.input.model)],
        config=p.config,
        started=started,
    ),
}
atomic_write_text(snakemake.output.json, json.dumps(document, indent=1, default=str))
plot_calibration(summary, g_true=stamps.shear, estimates=estimates, path=snakemake.output.plot)
write_rendered_sidecars([snakemake.output.plot], sources=[snakemake.output.json], step=snakemake.rule)
