rule sft:
    input:
        base_model=base_model_input,
        sft=rules.prepare_data.output.sft,
    output:
        directory(L.sft_model()),
    params:
        base_model=base_model,
        settings=lambda wc: canonical(task_of(wc)["sft"]),
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
        mem_mb=RESOURCES["mem_mb"],
        runtime=RESOURCES["runtime"],
        gpu=RESOURCES["gpu"],
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/sft.py"
