"""Snakemake script: S simulated test surveys per A_IA for one cosmology, one or more statistics.

Several map statistics (power spectrum, peaks, Minkowski functionals) are computed on the same
surveys in one pass: the surveys cost far more than the statistics, and the survey seeds do not
depend on the statistic, so each output equals a separate run of its statistic. A network's
summaries file also keeps the network's predicted σ of each survey (``predicted_sigma``).
"""

import numpy as np

from wlcnn.inference.analysis import DEFAULTS
from wlcnn.inference.predictors import VARIANCE_PREFIX, make_predictor
from wlcnn.inference.summaries import (
    compute_summaries,
    separate_predicted_sigma,
    split_summaries,
    write_summaries,
)
from wlcnn.inference.survey_sets import SimulatedSurveys
from wlcnn.logs import setup_rule_logging
from wlcnn.provenance import file_record, provenance_record, utc_now

log = setup_rule_logging(snakemake.log[0])
started = utc_now()
cfg, labels, cid = snakemake.params.config, list(snakemake.params.labels), snakemake.wildcards.cosmology
# the inference settings the summaries depend on (the rest belong to the likelihood stage)
settings = {**DEFAULTS, **cfg["inference"]}
n_surveys, batch_size = int(settings["n_surveys"]), int(settings["batch_size"])
model = snakemake.input.model[0] if snakemake.input.model else None
# networks also return their predicted variances (moved into predicted_sigma below)
predictors = [
    make_predictor(label, config=cfg, model_path=model, predicted_variance=True) for label in labels
]


def predict(batch):
    return np.concatenate([p(batch) for p, _ in predictors], axis=-1)


names = [name for _, part in predictors for name in part]
a_ia = np.linspace(*(float(a) for a in settings["a_ia_range"]), int(settings["n_a_ia"]))
c = snakemake.params.cosmology


def make_survey_for(cosmology_id, a):  # noqa: ARG001 - one cosmology per job: its maps are the inputs
    return SimulatedSurveys(
        map_files=list(snakemake.input.maps),
        config=cfg,
        patch_maps_path=snakemake.input.patch_maps,
        a_ia=a,
        forward_model=settings["survey_forward_model"],
    )


log.info(
    "%s on %s: %d surveys x %d A_IA values, %s forward model",
    "+".join(labels),
    cid,
    n_surveys,
    len(a_ia),
    settings["survey_forward_model"],
)
joint = compute_summaries(
    label="+".join(labels),
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
        config={"inference": cfg["inference"], "labels": labels, "cosmology": c},
        started=started,
    ),
)
parts = split_summaries(
    joint, parts=[(label, len(part)) for label, (_, part) in zip(labels, predictors, strict=True)]
)
n_patches = int(cfg["survey"]["n_patches"])
for part, path in zip(parts, snakemake.output, strict=True):
    summaries = separate_predicted_sigma(part, variance_prefix=VARIANCE_PREFIX, n_patches=n_patches)
    write_summaries(path, summaries)
    log.info(
        "%s mean prediction per A_IA:\n%s", summaries.label, np.array2string(summaries.mean[0], precision=4)
    )
