rule sft:
    input:
        base_model=rules.init_model.output[0],
        sft=rules.prepare_data.output.sft,
    output:
        directory(f"{BASE}/sft/model"),
    params:
        settings=config["sft"],
        work_dir=f"{BASE}/sft/work",
    log:
        f"{BASE}/logs/sft.log",
    benchmark:
        f"{BASE}/benchmarks/sft.tsv"
    threads: config["threads"]
    resources:
        mem_mb=RESOURCES["mem_mb"],
        runtime=RESOURCES["runtime"],
        gpu=RESOURCES["gpu"],
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/sft.py"
