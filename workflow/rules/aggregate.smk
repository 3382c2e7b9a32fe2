# Tables from every evaluated policy of a task, and figures from the tables only. All
# cheap, so they run on the submitting machine even under a cluster executor.


localrules:
    data_report,
    aggregate,
    regime_map_table,
    table_pages,
    plot,
    headline_figure,
    all_tasks_tables,


TABLES = ["cells", "summary", "dynamics", "train_logs"]


rule aggregate:
    input:
        cells=lambda wc: cell_paths(wc.task, "metrics.json"),
        # The SFT policy on each regime's evaluation data (one file per data study).
        sft=lambda wc: sorted(set(sft_evaluations(wc.task).values())),
        snapshots=lambda wc: [L.run("metrics.json", cell.task, run) for cell, run in task_snapshots(wc.task)],
        dynamics_finals=lambda wc: cell_paths(wc.task, "metrics.json", dynamics_of(wc)),
        train_logs=lambda wc: cell_paths(wc.task, "train_log.csv", dynamics_of(wc)),
    output:
        cells=L.table("cells.csv"),
        summary=L.table("summary.csv"),
        dynamics=L.table("dynamics.csv"),
        train_logs=L.table("train_logs.csv"),
    params:
        # The regime of each input, in input order, and the SFT evaluation of each regime.
        cell_regimes=lambda wc: [c.regime for c in task_cells(wc.task)],
        sft_of_regime=lambda wc: sft_evaluations(wc.task),
        snapshot_regimes=lambda wc: [cell.regime for cell, _ in task_snapshots(wc.task)],
        dynamics_regimes=lambda wc: [c.regime for c in dynamics_of(wc)],
        # (regime, method, beta, seed) of each train log, in input order.
        train_log_cells=lambda wc: [(c.regime, c.method, float(c.beta), c.seed) for c in dynamics_of(wc)],
    wildcard_constraints:
        task=alternatives(TASKS),
    log:
        L.log("aggregate"),
    benchmark:
        L.benchmark("aggregate")
    threads: 1
    resources:
        mem_mb=resource("aggregate", "mem_mb"),
        runtime=resource("aggregate", "runtime"),
    conda:
        "../../envs/plot.yaml"
    script:
        "../../scripts/aggregate.py"


# The two tables a reader looks at, rendered for the report (the CSVs are the data):
# a relabelled method redraws these and the figures, nothing else.
rule table_pages:
    input:
        cells=rules.aggregate.output.cells,
        summary=rules.aggregate.output.summary,
    output:
        cells=report(L.table("cells.html"), caption="../report/cells.rst", category="Tables", subcategory="{task}"),
        summary=report(L.table("summary.html"), caption="../report/summary.rst", category="Tables",
                       subcategory="{task}"),
    params:
        labels=lambda wc: method_labels(task_of(wc), grid_methods(task_of(wc))),
    wildcard_constraints:
        task=alternatives(TASKS),
    log:
        L.log("table_pages"),
    benchmark:
        L.benchmark("table_pages")
    conda:
        "../../envs/plot.yaml"
    script:
        "../../scripts/table_pages.py"


# Each importance-sampled method against its baseline at matched KL, per regime: the
# table behind regime_map.pdf (isdaa.regime_map).
rule regime_map_table:
    input:
        cells=rules.aggregate.output.cells,
    output:
        cells=L.table("regime_map.csv"),
        summary=L.table("regime_map_summary.csv"),
    params:
        settings=lambda wc: canonical({**regime_map_settings(task_of(wc)),
                                       "kl_estimator": config["plots"]["kl_estimator"]}),
    wildcard_constraints:
        task=alternatives(TASKS),
    log:
        L.log("regime_map_table"),
    benchmark:
        L.benchmark("regime_map_table")
    threads: 1
    resources:
        mem_mb=resource("regime_map_table", "mem_mb"),
        runtime=resource("regime_map_table", "runtime"),
    conda:
        "../../envs/plot.yaml"
    script:
        "../../scripts/regime_map_table.py"


rule plot:
    input:
        cells=rules.aggregate.output.cells,
        # The regime map is drawn from its table (only that figure waits for it).
        regime_map=lambda wc: [L.table("regime_map.csv", wc.task)] if wc.figure == "regime_map" else [],
        summary=rules.aggregate.output.summary,
        dynamics=rules.aggregate.output.dynamics,
        train_logs=rules.aggregate.output.train_logs,
    output:
        pdf=L.figure(),
        # The PNG beside every PDF: what the report shows, and what a machine without a PDF viewer opens.
        png=report(L.figure(ext="png"), caption="../report/figure.rst", category="Figures", subcategory="{task}"),
    params:
        settings=lambda wc: canonical({**plot_settings(with_all_methods(task_of(wc)), config["plots"]["kl_estimator"]),
                                       **regime_map_settings(task_of(wc))}),
        facts=lambda wc: canonical(figure_facts(task_of(wc))),
    wildcard_constraints:
        task=alternatives(TASKS),
    log:
        L.log("plot", "{task}", "{figure}"),
    benchmark:
        L.benchmark("plot", "{task}", "{figure}")
    conda:
        "../../envs/plot.yaml"
    script:
        "../../scripts/plot_figure.py"


# The headline task's figures under results/figures/ (`results/figures/kl_tradeoff.pdf`).
rule headline_figure:
    input:
        L.figure(task=HEADLINE, ext="{ext}"),
    output:
        L.headline_figure(ext="{ext}"),
    wildcard_constraints:
        ext="pdf|png",
    log:
        f"{L.results}/logs/headline_figure/{{figure}}.{{ext}}.log",
    benchmark:
        f"{L.results}/benchmarks/headline_figure/{{figure}}.{{ext}}.tsv"
    conda:
        "../../envs/plot.yaml"
    shell:
        "cp {input} {output} 2> {log}"


# Every task's rows in one table per kind (tables carry a `task` column).
rule all_tasks_tables:
    input:
        [L.table(f"{table}.csv", task) for task in TASKS for table in TABLES],
    output:
        [L.all_tasks_table(f"{table}.csv") for table in TABLES],
    log:
        f"{L.results}/logs/all_tasks_tables.log",
    benchmark:
        f"{L.results}/benchmarks/all_tasks_tables.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../../scripts/concat_tables.py"


ALL_TARGETS = (
    [L.figure(name, task, ext) for task in TASKS for name in TASK_FIGURES[task] for ext in ("pdf", "png")]
    + [L.headline_figure(name, ext) for name in TASK_FIGURES[HEADLINE] for ext in ("pdf", "png")]
    + [L.table(f"{table}.html", task) for task in TASKS for table in ("summary", "cells")]
    + [L.table(name, task) for task in TASKS if "regime_map" in TASK_FIGURES[task]
       for name in ("regime_map.csv", "regime_map_summary.csv")]
    + [L.all_tasks_table(f"{table}.csv") for table in TABLES]
    # What each dataset gave: rows kept and dropped by reason (tasks on datasets).
    + [L.data("report.json", task) for task in HUB_TASKS]
    # The LLM-judge benchmarks' table and figure (tasks with benchmarks).
    + BENCHMARK_TARGETS
)
