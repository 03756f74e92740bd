"""Snakemake script: all analyses' constraints in one table and the S8 whisker plot (Fig. 9)."""

from wlcnn.inference.analysis import compare
from wlcnn.logs import setup_rule_logging
from wlcnn.provenance import write_rendered_sidecars

log = setup_rule_logging(snakemake.log[0])
truth = snakemake.params.truth
truth_s8 = truth[1] * (truth[0] / 0.3) ** 0.5 if truth else None
inputs = dict(snakemake.input.items())
rows = compare(
    tables=list(inputs["tables"]),
    coverage=list(inputs.get("coverage", [])),
    chains=list(inputs.get("chains", [])),
    out_triangle=dict(snakemake.output.items()).get("triangle"),
    truth=truth,
    out_plot=snakemake.output.plot,
    out_json=snakemake.output.json,
    out_markdown=snakemake.output.markdown,
    published=snakemake.params.published,
    truth_s8=truth_s8,
    title="S8 from this run" if snakemake.rule == "compare_constraints" else "S8 on the mock observations",
)
log.info("%d analyses compared", len(rows))
# Plots and tables cannot hold a provenance record: a sidecar names what they were made from.
write_rendered_sidecars(list(snakemake.output), sources=list(snakemake.input), step=snakemake.rule)
