rule train_preference:
    input:
        sft_model=rules.sft.output[0],
        preferences=rules.label_preferences.output.preferences,
        reference_logps=rules.reference_logps.output[0],
    output:
        model=directory(f"{BASE}/{{method}}/beta{{beta}}/seed{{seed}}/model"),
        config=f"{BASE}/{{method}}/beta{{beta}}/seed{{seed}}/config.yaml",
        train_log=f"{BASE}/{{method}}/beta{{beta}}/seed{{seed}}/train_log.csv",
        # End-of-epoch policies (epoch1/, epoch2/, ...), evaluated for the `dynamics` cells.
        snapshots=directory(f"{BASE}/{{method}}/beta{{beta}}/seed{{seed}}/snapshots"),
    params:
        # Only this cell's settings: editing another cell never reruns this one.
        cell=lambda wc: cell_config(config, wc.method, wc.beta, int(wc.seed)),
    log:
        f"{BASE}/logs/train_preference/{{method}}/beta{{beta}}/seed{{seed}}.log",
    benchmark:
        f"{BASE}/benchmarks/train_preference/{{method}}/beta{{beta}}/seed{{seed}}.tsv"
    threads: config["threads"]
    resources:
        mem_mb=RESOURCES["mem_mb"],
        runtime=RESOURCES["runtime"],
        gpu=RESOURCES["gpu"],
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/train_preference.py"
