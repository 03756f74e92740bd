# wlcnn: N-body simulations -> shells -> maps -> CNN training -> predictions -> constraints.
# This file only includes the rule files and names the default target; see README.md.
#   snakemake --cores 2 --configfile config/demo.yaml                    (embedded demo)
#   snakemake --profile profiles/slurm --configfile config/config.yaml   (cluster)
#   snakemake --report report.html --configfile config/demo.yaml         (HTML report of a run)

from snakemake.utils import min_version

# the oldest Snakemake the workflow is tested with (`use rule ... with:`, storage of params)
min_version("9.0")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/maps.smk"
include: "workflow/rules/baryons.smk"  # after maps, before survey/inference: adds the baryonified mocks
include: "workflow/rules/statistics.smk"
include: "workflow/rules/survey.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/inference.smk"
include: "workflow/rules/emulator.smk"
include: "workflow/rules/shapes.smk"
include: "workflow/rules/shapes_constraints.smk"  # after shapes and inference: reuses their rules


rule all:
    input:
        final_targets(),
        SHAPES_TARGETS,
