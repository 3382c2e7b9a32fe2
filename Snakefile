# IS-DAAs: the whole study as one DAG. Every figure is a file target:
#   snakemake --cores all results/figures/kl_tradeoff.pdf
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/sft.smk"
include: "workflow/rules/preferences.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/aggregate.smk"


# Every figure of the study (the tables come with them).
rule all:
    input:
        FIGURES,
    default_target: True
