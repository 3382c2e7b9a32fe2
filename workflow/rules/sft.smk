rule sft:
    input:
        base_model=base_model_input,
        sft=L.data("sft.parquet"),
    output:
        directory(L.sft_model()),
    params:
        base_model=base_model,
        settings=lambda wc: canonical(result_settings(task_of(wc), "sft")),
        model=lambda wc: canonical(task_of(wc)["model"]),
        work_dir=lambda wc: f"{L.task(wc.task)}/sft/work",
    wildcard_constraints:
        task=alternatives(TASKS),
    log:
        L.log("sft"),
    benchmark:
        L.benchmark("sft")
    threads: task_threads
    resources:
        mem_mb=resource("sft", "mem_mb"),
        runtime=resource("sft", "runtime"),
        gpu=resource("sft", "gpu"),
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/sft.py"
