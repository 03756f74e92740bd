"""Snakemake script: S simulated test surveys per A_IA for one cosmology and one statistic."""

import numpy as np

from wlcnn.inference.analysis import DEFAULTS
from wlcnn.inference.predictors import make_predictor
from wlcnn.inference.summaries import compute_summaries, write_summaries
from wlcnn.inference.survey_sets import SimulatedSurveys
from wlcnn.logs import setup_rule_logging
from wlcnn.provenance import file_record, provenance_record, utc_now

log = setup_rule_logging(snakemake.log[0])
started = utc_now()
cfg, label, cid = snakemake.params.config, snakemake.wildcards.label, snakemake.wildcards.cosmology
# the inference settings the summaries depend on (the rest belong to the likelihood stage)
settings = {**DEFAULTS, **cfg["inference"]}
n_surveys, batch_size = int(settings["n_surveys"]), int(settings["batch_size"])
model = snakemake.input.model[0] if snakemake.input.model else None
predict, names = make_predictor(label, config=cfg, model_path=model)
a_ia = np.linspace(*(float(a) for a in settings["a_ia_range"]), int(settings["n_a_ia"]))
c = snakemake.params.cosmology


def make_survey_for(_cosmology_id, a):
    return SimulatedSurveys(
        map_files=list(snakemake.input.maps), config=cfg, patch_maps_path=snakemake.input.patch_maps, a_ia=a
    )


log.info("%s on %s: %d surveys x %d A_IA values", label, cid, n_surveys, len(a_ia))
summaries = compute_summaries(
    label=label,
    predict=predict,
    make_survey_for=make_survey_for,
    cosmologies=[(cid, c["omega_m"], c["sigma8"])],
    a_ia=a_ia,
    n_surveys=n_surveys,
    base_seed=int(cfg["run"]["seed"]),
    batch_size=batch_size,
    output_names=names,
    provenance=provenance_record(
        step="test_summaries",
        inputs=[file_record(p) for p in snakemake.input],
        config={"inference": cfg["inference"], "label": label, "cosmology": c},
        started=started,
    ),
)
write_summaries(snakemake.output[0], summaries)
log.info("mean prediction per A_IA:\n%s", np.array2string(summaries.mean[0], precision=4))
