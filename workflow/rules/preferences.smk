rule label_preferences:
    input:
        model=rules.sft.output[0],
        prompts=rules.prepare_data.output.prompts,
    output:
        preferences=f"{BASE}/data/preferences.parquet",
        eval_prompts=f"{BASE}/data/eval_prompts.parquet",
    params:
        task=TASK,
        settings=config["preference_data"],
    log:
        f"{BASE}/logs/label_preferences.log",
    benchmark:
        f"{BASE}/benchmarks/label_preferences.tsv"
    threads: config["threads"]
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
        model=rules.sft.output[0],
        preferences=rules.label_preferences.output.preferences,
    output:
        f"{BASE}/reference_logps.parquet",
    params:
        batch_size=config["preference_data"]["batch_size"],
    log:
        f"{BASE}/logs/reference_logps.log",
    benchmark:
        f"{BASE}/benchmarks/reference_logps.tsv"
    threads: config["threads"]
    resources:
        mem_mb=RESOURCES["mem_mb"],
        runtime=RESOURCES["runtime"],
        gpu=RESOURCES["gpu"],
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/reference_logps.py"
