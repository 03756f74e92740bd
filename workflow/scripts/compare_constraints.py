"""Snakemake script: all analyses' constraints in one table and the S8 whisker plot (Fig. 9)."""

from wlcnn.inference.analysis import compare
from wlcnn.logs import setup_rule_logging

log = setup_rule_logging(snakemake.log[0])
truth = snakemake.params.truth
truth_s8 = truth[1] * (truth[0] / 0.3) ** 0.5 if truth else None
rows = compare(
    tables=list(snakemake.input),
    out_plot=snakemake.output.plot,
    out_json=snakemake.output.json,
    out_markdown=snakemake.output.markdown,
    published=snakemake.params.published,
    truth_s8=truth_s8,
    title="S8 from this run" if snakemake.rule == "compare_constraints" else "S8 on the mock observations",
)
log.info("%d analyses compared", len(rows))
