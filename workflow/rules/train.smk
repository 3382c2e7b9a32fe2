rule train_preference:
    input:
        sft_model=sft_model_of,
        # A regime that keeps the task's data trains on the task's pairs.
        preferences=data_of("preferences.parquet"),
        reference_logps=lambda wc: L.reference_logps(task_of(wc)["data_study"]),
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
    wildcard_constraints:
        task=alternatives(STUDIES),
    log:
        L.log("train_preference", "{task}", "{method}", "beta{beta}", "seed{seed}"),
    benchmark:
        L.benchmark("train_preference", "{task}", "{method}", "beta{beta}", "seed{seed}")
    threads: task_threads
    resources:
        mem_mb=resource("train_preference", "mem_mb"),
        runtime=resource("train_preference", "runtime"),
        gpu=resource("train_preference", "gpu"),
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/train_preference.py"
