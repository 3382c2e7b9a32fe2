# A policy under evaluation (`run`): the SFT model, a grid cell's final model, or a
# cell's end-of-epoch snapshot (`<cell>/epoch<E>`): a snapshot is evaluated like a cell.


rule evaluate:
    input:
        model=run_model_input,
        eval_prompts=rules.label_preferences.output.eval_prompts,
        reference_model=rules.sft.output[0],
    output:
        samples=f"{BASE}/{{run}}/samples.parquet",
        metrics=f"{BASE}/{{run}}/metrics.json",
    params:
        model_path=run_model_path,
        identity=run_identity,
        task=TASK,
        settings=config["evaluation"],
    log:
        f"{BASE}/logs/evaluate/{{run}}.log",
    benchmark:
        f"{BASE}/benchmarks/evaluate/{{run}}.tsv"
    threads: config["threads"]
    resources:
        mem_mb=RESOURCES["mem_mb"],
        runtime=RESOURCES["runtime"],
        gpu=RESOURCES["gpu"],
    conda:
        "../../envs/evaluate.yaml"
    script:
        "../../scripts/evaluate.py"
