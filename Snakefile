# wlcnn: N-body simulations -> shells -> maps -> CNN training -> predictions -> constraints.
# This file only includes the rule files and names the default target; see README.md.
#   snakemake --cores 2 --configfile config/demo.yaml                    (embedded demo)
#   snakemake --profile profiles/slurm --configfile config/config.yaml   (cluster)

include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/maps.smk"
include: "workflow/rules/survey.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/inference.smk"


rule all:
    input:
        final_targets(),
