rule prepare_data:
    output:
        sft=f"{BASE}/data/sft.parquet",
        prompts=f"{BASE}/data/prompts.parquet",
    params:
        task=TASK,
        task_settings=config.get(TASK, {}),
    log:
        f"{BASE}/logs/prepare_data.log",
    benchmark:
        f"{BASE}/benchmarks/prepare_data.tsv"
    threads: 1
    resources:
        mem_mb=RESOURCES["mem_mb"],
        runtime=RESOURCES["runtime"],
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/prepare_data.py"


rule init_model:
    output:
        directory(f"{BASE}/base_model"),
    params:
        task=TASK,
        model=config["model"],
    log:
        f"{BASE}/logs/init_model.log",
    benchmark:
        f"{BASE}/benchmarks/init_model.tsv"
    threads: 1
    resources:
        mem_mb=RESOURCES["mem_mb"],
        runtime=RESOURCES["runtime"],
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/init_model.py"
