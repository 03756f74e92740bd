"""Snakemake script: the robustness table (S8 shifts of every mock and statistic, issue 17)."""

from wlcnn.inference.robustness import robustness_rows, write_robustness_table
from wlcnn.logs import setup_rule_logging
from wlcnn.provenance import write_rendered_sidecars

log = setup_rule_logging(snakemake.log[0])
p = snakemake.params
# the inputs are robustness_tables(): every mock, and per mock every single statistic, in order
paths = iter(snakemake.input)
tables = {mock: {label: next(paths) for label in p.statistics} for mock in p.mocks}
fiducial = p.mocks[0]  # the survey's mock observation
rows, blinded = robustness_rows(tables=tables, truths=dict(p.truths), fiducial=fiducial)
write_robustness_table(
    rows,
    json_path=snakemake.output.json,
    markdown_path=snakemake.output.markdown,
    fiducial=fiducial,
    blinded=blinded,
    provenance={"tables": list(snakemake.input)},
)
log.info("%d (mock, statistic) shifts from %s", len(rows), fiducial)
write_rendered_sidecars([snakemake.output.markdown], sources=list(snakemake.input), step=snakemake.rule)
