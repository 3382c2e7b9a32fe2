# Preference pairs and the reference pass. The toy labels SFT samples of its own prompts
# (label_preferences, which also picks its evaluation references). A task on datasets
# either relabels SFT samples of its preference set's prompts with the gold reward
# (relabel_pairs, the paper's controlled set-up) or takes the set's own pairs
# (import_pairs: `released` or `human` labels), and gold-scores the dataset's reference
# responses of its held-out prompts (score_references).

rule label_preferences:
    input:
        model=sft_model_of,
        prompts=lambda wc: L.data("prompts.parquet", base_task(wc)),
    output:
        preferences=L.data("preferences.parquet"),
        eval_prompts=L.data("eval_prompts.parquet"),
    params:
        settings=lambda wc: canonical(result_settings(task_of(wc), "preference_data")),
        sampling=lambda wc: canonical(result_settings(task_of(wc), "sampling")),
        gold=lambda wc: canonical(result_settings(task_of(wc), "gold")),
        model=lambda wc: canonical(task_of(wc)["model"]),
    # The task's own folder and each regime with its own pairs (isdaa.config.studies).
    wildcard_constraints:
        task=alternatives(TOY_DATA_STUDIES),
    log:
        L.log("label_preferences"),
    benchmark:
        L.benchmark("label_preferences")
    threads: task_threads
    resources:
        mem_mb=resource("label_preferences", "mem_mb"),
        runtime=resource("label_preferences", "runtime"),
        gpu=resource("label_preferences", "gpu"),
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/label_preferences.py"


rule relabel_pairs:
    input:
        model=sft_model_of,
        source_pairs=lambda wc: L.data("source_pairs.parquet", base_task(wc)),
    output:
        preferences=L.data("preferences.parquet"),
        labelling=L.data("labelling.json"),
    params:
        settings=lambda wc: canonical(result_settings(task_of(wc), "preference_data")),
        sampling=lambda wc: canonical(result_settings(task_of(wc), "sampling")),
        gold=lambda wc: canonical(result_settings(task_of(wc), "gold")),
        model=lambda wc: canonical(task_of(wc)["model"]),
    wildcard_constraints:
        task=alternatives(RELABEL_STUDIES),
    log:
        L.log("relabel_pairs"),
    benchmark:
        L.benchmark("relabel_pairs")
    threads: task_threads
    resources:
        mem_mb=resource("relabel_pairs", "mem_mb"),
        runtime=resource("relabel_pairs", "runtime"),
        gpu=resource("relabel_pairs", "gpu"),
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/relabel_pairs.py"


rule import_pairs:
    input:
        source_pairs=lambda wc: L.data("source_pairs.parquet", base_task(wc)),
    output:
        preferences=L.data("preferences.parquet"),
        labelling=L.data("labelling.json"),
    params:
        mode=lambda wc: task_of(wc)["preference_data"]["mode"],
    wildcard_constraints:
        task=alternatives(IMPORT_STUDIES),
    log:
        L.log("import_pairs"),
    benchmark:
        L.benchmark("import_pairs")
    threads: 1
    resources:
        mem_mb=resource("import_pairs", "mem_mb"),
        runtime=resource("import_pairs", "runtime"),
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/import_pairs.py"


# The evaluation prompts of a study on datasets: the first evaluation.max_prompts held-out
# prompts, with the gold score of their reference response (the win rate's bar).
rule score_references:
    input:
        prompts=lambda wc: L.data("source_eval.parquet", base_task(wc)),
    output:
        eval_prompts=L.data("eval_prompts.parquet"),
    params:
        gold=lambda wc: canonical(result_settings(task_of(wc), "gold")),
        max_prompts=lambda wc: task_of(wc)["evaluation"]["max_prompts"],
    wildcard_constraints:
        task=alternatives(HUB_DATA_STUDIES),
    log:
        L.log("score_references"),
    benchmark:
        L.benchmark("score_references")
    threads: task_threads
    resources:
        mem_mb=resource("score_references", "mem_mb"),
        runtime=resource("score_references", "runtime"),
        gpu=resource("score_references", "gpu"),
    conda:
        "../../envs/evaluate.yaml"
    script:
        "../../scripts/score_references.py"


# Computed once per preference set and read by every grid cell. Its batch size is an
# execution setting (read from the config by the job): it changes nothing but speed.
rule reference_logps:
    input:
        model=sft_model_of,
        preferences=L.data("preferences.parquet"),
    output:
        L.reference_logps(),
    params:
        model=lambda wc: canonical(task_of(wc)["model"]),
    wildcard_constraints:
        task=alternatives(DATA_STUDIES),
    log:
        L.log("reference_logps"),
    benchmark:
        L.benchmark("reference_logps")
    threads: task_threads
    resources:
        mem_mb=resource("reference_logps", "mem_mb"),
        runtime=resource("reference_logps", "runtime"),
        gpu=resource("reference_logps", "gpu"),
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/reference_logps.py"
