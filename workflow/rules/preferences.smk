rule label_preferences:
    input:
        model=sft_model_of,
        prompts=lambda wc: L.data("prompts.parquet", base_task(wc)),
    output:
        preferences=L.data("preferences.parquet"),
        eval_prompts=L.data("eval_prompts.parquet"),
    params:
        settings=lambda wc: canonical(task_of(wc)["preference_data"]),
        sampling=lambda wc: canonical(task_of(wc)["sampling"]),
        gold=lambda wc: canonical(task_of(wc)["gold"]),
        model=lambda wc: canonical(task_of(wc)["model"]),
    # The task's own folder and each regime with its own pairs (isdaa.config.studies).
    wildcard_constraints:
        task=alternatives(DATA_STUDIES),
    log:
        L.log("label_preferences"),
    benchmark:
        L.benchmark("label_preferences")
    threads: task_threads
    resources:
        mem_mb=RESOURCES["mem_mb"],
        runtime=RESOURCES["runtime"],
        gpu=RESOURCES["gpu"],
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/label_preferences.py"


# Computed once per preference set and read by every grid cell.
rule reference_logps:
    input:
        model=sft_model_of,
        preferences=rules.label_preferences.output.preferences,
    output:
        L.reference_logps(),
    params:
        batch_size=lambda wc: task_of(wc)["preference_data"]["batch_size"],
        model=lambda wc: canonical(task_of(wc)["model"]),
    wildcard_constraints:
        task=alternatives(DATA_STUDIES),
    log:
        L.log("reference_logps"),
    benchmark:
        L.benchmark("reference_logps")
    threads: task_threads
    resources:
        mem_mb=RESOURCES["mem_mb"],
        runtime=RESOURCES["runtime"],
        gpu=RESOURCES["gpu"],
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/reference_logps.py"
