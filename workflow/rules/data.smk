# The task's data, and the base model when a rule builds it (the toy's tiny Llama).
# A base model given as a checkpoint (`model.path`) is read where it is, never copied.
# The toy's generator makes its demonstrations and prompts in one job; a task on datasets
# reads each of its three sources in a job of its own (editing one source reruns what
# depends on it only), dropping and counting bad rows (data/sources/<role>.json, merged
# into data/report.json).

rule prepare_data:
    output:
        sft=L.data("sft.parquet"),
        prompts=L.data("prompts.parquet"),
    params:
        data=lambda wc: canonical(task_of(wc)["data"]),
    wildcard_constraints:
        task=alternatives(TOY_TASKS),
    log:
        L.log("prepare_data"),
    benchmark:
        L.benchmark("prepare_data")
    threads: 1
    resources:
        mem_mb=resource("prepare_data", "mem_mb"),
        runtime=resource("prepare_data", "runtime"),
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/prepare_data.py"


rule build_model:
    output:
        directory(L.base_model()),
    params:
        build=lambda wc: canonical(task_of(wc)["model"]["build"]),
    wildcard_constraints:
        task=alternatives(BUILT_MODEL_TASKS),
    log:
        L.log("build_model"),
    benchmark:
        L.benchmark("build_model")
    threads: 1
    resources:
        mem_mb=resource("build_model", "mem_mb"),
        runtime=resource("build_model", "runtime"),
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/build_model.py"


rule prepare_sft:
    output:
        sft=L.data("sft.parquet"),
        report=L.data("sources/sft.json"),
    params:
        role="sft",
        settings=source_settings("sft"),
    wildcard_constraints:
        task=alternatives(HUB_TASKS),
    log:
        L.log("prepare_sft"),
    benchmark:
        L.benchmark("prepare_sft")
    threads: task_threads
    resources:
        mem_mb=resource("prepare_sft", "mem_mb"),
        runtime=resource("prepare_sft", "runtime"),
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/prepare_source.py"


# The preference set's pairs (or, for relabel, its prompts), tokenised with the policy's tokenizer.
rule prepare_pairs:
    output:
        pairs=L.data("source_pairs.parquet"),
        report=L.data("sources/preferences.json"),
    params:
        role="preferences",
        settings=source_settings("preferences"),
    wildcard_constraints:
        task=alternatives(HUB_TASKS),
    log:
        L.log("prepare_pairs"),
    benchmark:
        L.benchmark("prepare_pairs")
    threads: task_threads
    resources:
        mem_mb=resource("prepare_pairs", "mem_mb"),
        runtime=resource("prepare_pairs", "runtime"),
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/prepare_source.py"


# Held-out prompts, each with the dataset's chosen response as the win rate's reference.
rule prepare_eval:
    output:
        prompts=L.data("source_eval.parquet"),
        report=L.data("sources/eval.json"),
    params:
        role="eval",
        settings=source_settings("eval"),
    wildcard_constraints:
        task=alternatives(HUB_TASKS),
    log:
        L.log("prepare_eval"),
    benchmark:
        L.benchmark("prepare_eval")
    threads: task_threads
    resources:
        mem_mb=resource("prepare_eval", "mem_mb"),
        runtime=resource("prepare_eval", "runtime"),
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/prepare_source.py"


# What each source gave (rows read, kept, dropped by reason, the source's revision or file
# hashes) and what labelling made of the pairs: one file a reader checks first.
rule data_report:
    input:
        sources=[L.data(f"sources/{role}.json") for role in ("sft", "preferences", "eval")],
        labelling=L.data("labelling.json"),
    output:
        L.data("report.json"),
    wildcard_constraints:
        task=alternatives(HUB_TASKS),
    log:
        L.log("data_report"),
    benchmark:
        L.benchmark("data_report")
    conda:
        "../../envs/plot.yaml"
    script:
        "../../scripts/data_report.py"
