"""Snakemake script: constraints from measured shapes against those from exact shapes, per analysis."""

from wlcnn.logs import setup_rule_logging
from wlcnn.provenance import file_record, provenance_record, utc_now, write_rendered_sidecars
from wlcnn.shapes.constraints_comparison import compare_shape_constraints, plot_comparison, write_comparison
from wlcnn.shapes.merge import read_merge_summary

log = setup_rule_logging(snakemake.log[0])
p = snakemake.params
started = utc_now()
settings = p.config["shapes"]["constraints"]
design = {
    "exact": "the survey mock catalogue unchanged (the main analysis' constraints)",
    "measured": "the same catalogue, rendered galaxies' e1, e2 replaced by the CNN's (g - c) / (1 + m)",
    **read_merge_summary(snakemake.input.merged),
}
payload = compare_shape_constraints(
    exact=list(snakemake.input.exact),
    measured=list(snakemake.input.measured),
    analyses=list(settings["analyses"]),
    agree_sigma=float(settings["agree_sigma"]),
    design=design,
)
write_comparison(
    payload,
    json_path=snakemake.output.json,
    markdown_path=snakemake.output.markdown,
    provenance=provenance_record(
        step="compare_shape_constraints",
        inputs=[
            file_record(f)
            for f in [*snakemake.input.exact, *snakemake.input.measured, snakemake.input.merged]
        ],
        config=p.config,
        started=started,
    ),
)
plot_comparison(payload, snakemake.output.plot)
write_rendered_sidecars(
    [snakemake.output.markdown, snakemake.output.plot], sources=[snakemake.output.json], step=snakemake.rule
)
for row in payload["analyses"]:
    s8 = row["parameters"]["s8"]
    log.info(
        "%s: S8 exact %.3f, measured %.3f, shift %+.2f sigma (%s)",
        row["analysis"],
        s8["exact"]["median"],
        s8["measured"]["median"],
        s8["shift_sigma"],
        "agree" if row["agree"] else "DISAGREE",
    )
