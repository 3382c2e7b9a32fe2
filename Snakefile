# IS-DAAs: the whole study as one DAG. Every figure is a file target:
#   snakemake --cores all results/figures/kl_tradeoff.pdf
from snakemake.utils import min_version

min_version("9.0")


# A config given with --configfile is the whole study: the default is read only when
# none is given (Snakemake would otherwise merge the two, key by key).
if not workflow.overwrite_configfiles:

    configfile: Path(workflow.basedir) / "config" / "config.yaml"


# The landing page of `snakemake --report`: what the study is and how to read it.
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/sft.smk"
include: "workflow/rules/preferences.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/benchmarks.smk"
include: "workflow/rules/aggregate.smk"


# What the LLM judges of this config's benchmarks will cost, before anything runs (also in
# `snakemake -n`); `python -m isdaa judge-plan` counts the calls already cached.
if workflow.is_main_process and BENCHMARK_TASKS:
    from isdaa.judges.plan import planned, summary

    print(f"judges: {summary(planned(config))}\n(`python -m isdaa judge-plan --configfile <config>` counts the "
          "requests already cached)", file=sys.stderr)


# Every figure and table of every task.
rule all:
    input:
        ALL_TARGETS,
    default_target: True
