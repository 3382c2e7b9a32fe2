# A policy under evaluation (`run`): the SFT model, a grid cell's final model, or a
# cell's snapshot (`<cell>/epoch<e>`): a snapshot is evaluated like a cell.
# Two stages: `sample` (the policy's samples and their raw log-probs) and `score` (the
# reference's log-probs of the same token ids, the gold reward, metrics.json). At scale
# each is its own (GPU) job; a task with `evaluation.one_job` runs both in one job
# (`evaluate`), which saves a process start per policy on small models.

rule sample:
    input:
        model=run_model_input,
        eval_prompts=data_of("eval_prompts.parquet"),
    output:
        generations=L.run("generations.parquet"),
    params:
        model_path=run_model_path,
        seed=lambda wc: run_identity(wc)["seed"],
        settings=lambda wc: canonical(evaluation_settings(task_of(wc), results_only=True)),
    wildcard_constraints:
        task=alternatives(TWO_JOB_TASKS),
    log:
        L.log("sample", "{task}", "{run}"),
    benchmark:
        L.benchmark("sample", "{task}", "{run}")
    threads: task_threads
    resources:
        mem_mb=resource("sample", "mem_mb"),
        runtime=resource("sample", "runtime"),
        gpu=resource("sample", "gpu"),
    conda:
        "../../envs/evaluate.yaml"
    script:
        "../../scripts/sample.py"


rule score:
    input:
        generations=rules.sample.output.generations,
        eval_prompts=data_of("eval_prompts.parquet"),
        reference_model=sft_model_of,
    output:
        samples=L.run("samples.parquet"),
        metrics=L.run("metrics.json"),
    params:
        identity=run_identity,
        settings=lambda wc: canonical(scoring_settings(task_of(wc), results_only=True)),
    wildcard_constraints:
        task=alternatives(TWO_JOB_TASKS),
    log:
        L.log("score", "{task}", "{run}"),
    benchmark:
        L.benchmark("score", "{task}", "{run}")
    threads: task_threads
    resources:
        mem_mb=resource("score", "mem_mb"),
        runtime=resource("score", "runtime"),
        gpu=resource("score", "gpu"),
    conda:
        "../../envs/evaluate.yaml"
    script:
        "../../scripts/score.py"


rule evaluate:
    input:
        model=run_model_input,
        eval_prompts=data_of("eval_prompts.parquet"),
        reference_model=sft_model_of,
    output:
        generations=L.run("generations.parquet"),
        samples=L.run("samples.parquet"),
        metrics=L.run("metrics.json"),
    params:
        model_path=run_model_path,
        seed=lambda wc: run_identity(wc)["seed"],
        identity=run_identity,
        settings=lambda wc: canonical(evaluation_settings(task_of(wc), results_only=True)),
        scoring=lambda wc: canonical(scoring_settings(task_of(wc), results_only=True)),
    wildcard_constraints:
        task=alternatives(ONE_JOB_TASKS),
    log:
        L.log("evaluate", "{task}", "{run}"),
    benchmark:
        L.benchmark("evaluate", "{task}", "{run}")
    threads: task_threads
    resources:
        mem_mb=resource("evaluate", "mem_mb"),
        runtime=resource("evaluate", "runtime"),
        gpu=resource("evaluate", "gpu"),
    conda:
        "../../envs/evaluate.yaml"
    script:
        "../../scripts/evaluate.py"
