# LLM-judge benchmarks of a task's policies (instruction following): AlpacaEval 2,
# Arena-Hard and MT-Bench. A benchmark's files are fetched once per task (benchmark_data);
# every policy (the SFT model and each grid cell) answers its questions through the task's
# sampling backend (benchmark_answers, a GPU job at scale); a judge rule per protocol asks
# an OpenAI-compatible judge, every reply cached under judge.cache_dir (judge_<name>);
# benchmark_table gathers every score into results/<task>/tables/benchmarks.csv.
# The judge rules and the data rule run on the submitting machine (they need the network,
# which a cluster's compute nodes often lack, and little else). The judge's endpoint, key
# variable, concurrency, retries, timeout, failure threshold and cache folder are read from
# the config by the jobs: changing them reruns nothing.


localrules:
    benchmark_data,
    judge_alpaca_eval,
    judge_arena_hard,
    judge_mt_bench,
    benchmark_table,
    plot_benchmarks,


rule benchmark_data:
    output:
        directory(L.benchmark_set()),
    params:
        settings=lambda wc: canonical(data_settings(bench(wc))),
    wildcard_constraints:
        task=alternatives(BENCHMARK_TASKS),
        benchmark=alternatives(PROTOCOLS),
    log:
        L.log("benchmark_data", "{task}", "{benchmark}"),
    benchmark:
        L.benchmark("benchmark_data", "{task}", "{benchmark}")
    conda:
        "../../envs/judges.yaml"
    script:
        "../../scripts/benchmark_data.py"


rule benchmark_answers:
    input:
        model=run_model_input,
        data=lambda wc: L.benchmark_set(wc.benchmark, base_task(wc)),
    output:
        L.benchmark_run("answers.parquet"),
    params:
        model_path=run_model_path,
        seed=lambda wc: run_identity(wc)["seed"],
        settings=lambda wc: canonical(answer_settings(bench(wc))),
        evaluation=lambda wc: canonical({k: v for k, v in evaluation_settings(task_of(wc), results_only=True).items()
                                         if k in ("model", "sampling")}),
    wildcard_constraints:
        task=alternatives(BENCHMARK_STUDIES),
        benchmark=alternatives(PROTOCOLS),
        run=BENCHMARK_RUN,
    log:
        L.log("benchmark_answers", "{task}", "{run}", "{benchmark}"),
    benchmark:
        L.benchmark("benchmark_answers", "{task}", "{run}", "{benchmark}")
    threads: task_threads
    resources:
        mem_mb=resource("benchmark_answers", "mem_mb"),
        runtime=resource("benchmark_answers", "runtime"),
        gpu=resource("benchmark_answers", "gpu"),
    conda:
        "../../envs/evaluate.yaml"
    script:
        "../../scripts/benchmark_answers.py"


for _name in PROTOCOLS:

    rule:
        name:
            f"judge_{_name}"
        input:
            **judge_rule(_name)["input"],
        output:
            **judge_rule(_name)["output"],
        params:
            **judge_rule(_name)["params"],
            benchmark=_name,
        wildcard_constraints:
            task=alternatives(BENCHMARK_STUDIES),
            run=BENCHMARK_RUN,
        log:
            L.log(f"judge_{_name}", "{task}", "{run}"),
        benchmark:
            L.benchmark(f"judge_{_name}", "{task}", "{run}")
        threads: 1
        resources:
            # `--resources judge=N` caps the requests in flight over all judge jobs.
            judge=judge_concurrency(_name),
        conda:
            "../../envs/judges.yaml"
        script:
            "../../scripts/judge.py"


rule benchmark_table:
    input:
        lambda wc: benchmark_scores(wc.task),
    output:
        L.table("benchmarks.csv"),
    params:
        prices=lambda wc: canonical({name: benchmark_settings(config, TASKS[wc.task], name)["judge"].get("price", {})
                                     for name in BENCHMARKS[wc.task]}),
    wildcard_constraints:
        task=alternatives(BENCHMARK_TASKS),
    log:
        L.log("benchmark_table"),
    benchmark:
        L.benchmark("benchmark_table")
    conda:
        "../../envs/plot.yaml"
    script:
        "../../scripts/benchmark_table.py"


rule plot_benchmarks:
    input:
        L.table("benchmarks.csv"),
    output:
        pdf=L.figure("benchmarks"),
        png=report(L.figure("benchmarks", ext="png"), caption="../report/benchmarks.rst", category="Figures",
                   subcategory="{task}"),
    params:
        settings=lambda wc: canonical(plot_settings(with_all_methods(task_of(wc)), config["plots"]["kl_estimator"])),
    wildcard_constraints:
        task=alternatives(BENCHMARK_TASKS),
    log:
        L.log("plot", "{task}", "benchmarks"),
    benchmark:
        L.benchmark("plot", "{task}", "benchmarks")
    conda:
        "../../envs/plot.yaml"
    script:
        "../../scripts/plot_benchmarks.py"


BENCHMARK_TARGETS = [path for task in BENCHMARK_TASKS
                     for path in (L.table("benchmarks.csv", task), L.figure("benchmarks", task),
                                  L.figure("benchmarks", task, ext="png"))]
