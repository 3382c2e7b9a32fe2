# The task's data, and the base model when a rule builds it (the toy's tiny Llama).
# A base model given as a checkpoint (`model.path`) is read where it is, never copied.

rule prepare_data:
    output:
        sft=L.data("sft.parquet"),
        prompts=L.data("prompts.parquet"),
    params:
        data=lambda wc: canonical(task_of(wc)["data"]),
    wildcard_constraints:
        task=alternatives(TASKS),
    log:
        L.log("prepare_data"),
    benchmark:
        L.benchmark("prepare_data")
    threads: 1
    resources:
        mem_mb=RESOURCES["mem_mb"],
        runtime=RESOURCES["runtime"],
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
        mem_mb=RESOURCES["mem_mb"],
        runtime=RESOURCES["runtime"],
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/build_model.py"
