"""Snakemake script: the observed survey's data vector for one statistic."""

from wlcnn.inference.analysis import DEFAULTS
from wlcnn.inference.predictors import make_predictor
from wlcnn.inference.summaries import predict_data_vector, write_data_vector
from wlcnn.inference.survey_sets import observed_inputs
from wlcnn.logs import setup_rule_logging
from wlcnn.provenance import file_record, provenance_record, utc_now

log = setup_rule_logging(snakemake.log[0])
started = utc_now()
cfg, label = snakemake.params.config, snakemake.wildcards.label
model = snakemake.input.model[0] if snakemake.input.model else None
predict, names = make_predictor(label, config=cfg, model_path=model)
vector = predict_data_vector(
    predict=predict,
    inputs=observed_inputs(cfg, patch_maps_path=snakemake.input.patch_maps),
    batch_size=int({**DEFAULTS, **cfg["inference"]}["batch_size"]),
    label=label,
    output_names=names,
    provenance=provenance_record(
        step="data_vector",
        inputs=[file_record(p) for p in snakemake.input],
        config={"label": label, "survey": cfg["survey"]},
        started=started,
    ),
)
write_data_vector(snakemake.output[0], vector)
log.info("%s data vector: %s", label, vector)
