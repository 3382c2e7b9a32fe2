rule train_preference:
    input:
        sft_model=rules.sft.output[0],
        preferences=rules.label_preferences.output.preferences,
        reference_logps=rules.reference_logps.output[0],
    output:
        model=directory(L.cell("model")),
        config=L.cell("config.yaml"),
        train_log=L.cell("train_log.csv"),
        # The policy every 1/snapshots_per_epoch of an epoch (epoch0.5/, epoch1/, ...),
        # evaluated for the `dynamics` cells.
        snapshots=directory(L.cell("snapshots")),
    params:
        # Only this cell's training settings: editing another cell, or how cells are
        # evaluated, never reruns this one.
        cell=lambda wc: canonical(cell_config(task_of(wc), wc.method, wc.beta, int(wc.seed))),
    log:
        L.log("train_preference", "{task}", "{method}", "beta{beta}", "seed{seed}"),
    benchmark:
        L.benchmark("train_preference", "{task}", "{method}", "beta{beta}", "seed{seed}")
    threads: task_threads
    resources:
        mem_mb=RESOURCES["mem_mb"],
        runtime=RESOURCES["runtime"],
        gpu=RESOURCES["gpu"],
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/train_preference.py"
