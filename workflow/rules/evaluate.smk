# A policy under evaluation (`run`) is the SFT model or a grid cell.


rule sample:
    input:
        model=f"{BASE}/{{run}}/model",
        eval_prompts=rules.label_preferences.output.eval_prompts,
    output:
        f"{BASE}/{{run}}/generations.parquet",
    params:
        settings=config["evaluation"],
        seed=run_seed,
    log:
        f"{BASE}/logs/sample/{{run}}.log",
    benchmark:
        f"{BASE}/benchmarks/sample/{{run}}.tsv"
    threads: config["threads"]
    resources:
        mem_mb=RESOURCES["mem_mb"],
        runtime=RESOURCES["runtime"],
        gpu=RESOURCES["gpu"],
    conda:
        "../../envs/evaluate.yaml"
    script:
        "../../scripts/sample.py"


rule score:
    input:
        generations=rules.sample.output[0],
        eval_prompts=rules.label_preferences.output.eval_prompts,
        reference_model=rules.sft.output[0],
    output:
        samples=f"{BASE}/{{run}}/samples.parquet",
        metrics=f"{BASE}/{{run}}/metrics.json",
    params:
        task=TASK,
        identity=run_identity,
        batch_size=config["evaluation"]["batch_size"],
    log:
        f"{BASE}/logs/score/{{run}}.log",
    benchmark:
        f"{BASE}/benchmarks/score/{{run}}.tsv"
    threads: config["threads"]
    resources:
        mem_mb=RESOURCES["mem_mb"],
        runtime=RESOURCES["runtime"],
        gpu=RESOURCES["gpu"],
    conda:
        "../../envs/evaluate.yaml"
    script:
        "../../scripts/score.py"
