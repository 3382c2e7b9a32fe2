# Tables from every evaluated policy, and figures from the tables only. Both are
# cheap, so they run on the submitting machine even under a cluster executor.


localrules:
    aggregate,
    plot_kl_tradeoff,
    plot_gold_vs_beta,
    plot_winrate_vs_beta,
    plot_training_dynamics,
    plot_is_eps_ablation,


rule aggregate:
    input:
        cells=cell_paths("metrics.json"),
        sft=f"{BASE}/sft/metrics.json",
        snapshots=snapshot_paths("metrics.json"),
        dynamics_finals=cell_paths("metrics.json", dynamics_cells(config)),
        train_logs=cell_paths("train_log.csv", dynamics_cells(config)),
    output:
        cells=report(f"{RESULTS}/tables/cells.csv", caption="../report/cells.rst", category="Tables"),
        summary=report(f"{RESULTS}/tables/summary.csv", caption="../report/summary.rst", category="Tables"),
        dynamics=f"{RESULTS}/tables/dynamics.csv",
        train_logs=f"{RESULTS}/tables/train_logs.csv",
    log:
        f"{RESULTS}/logs/aggregate.log",
    benchmark:
        f"{RESULTS}/benchmarks/aggregate.tsv"
    threads: 1
    resources:
        mem_mb=RESOURCES["mem_mb"],
        runtime=RESOURCES["runtime"],
    conda:
        "../../envs/plot.yaml"
    script:
        "../../scripts/aggregate.py"


rule plot_kl_tradeoff:
    input:
        summary=rules.aggregate.output.summary,
    output:
        figure("kl_tradeoff"),
    params:
        kl_estimator=config["plots"]["kl_estimator"],
        labels=method_labels(config, GRID_METHODS),
    log:
        f"{RESULTS}/logs/plot_kl_tradeoff.log",
    benchmark:
        f"{RESULTS}/benchmarks/plot_kl_tradeoff.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../../scripts/plot_figure.py"


rule plot_gold_vs_beta:
    input:
        summary=rules.aggregate.output.summary,
    output:
        figure("gold_vs_beta"),
    params:
        labels=method_labels(config, GRID_METHODS),
    log:
        f"{RESULTS}/logs/plot_gold_vs_beta.log",
    benchmark:
        f"{RESULTS}/benchmarks/plot_gold_vs_beta.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../../scripts/plot_figure.py"


rule plot_winrate_vs_beta:
    input:
        summary=rules.aggregate.output.summary,
    output:
        figure("winrate_vs_beta"),
    params:
        labels=method_labels(config, GRID_METHODS),
    log:
        f"{RESULTS}/logs/plot_winrate_vs_beta.log",
    benchmark:
        f"{RESULTS}/benchmarks/plot_winrate_vs_beta.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../../scripts/plot_figure.py"


rule plot_training_dynamics:
    input:
        dynamics=rules.aggregate.output.dynamics,
        train_logs=rules.aggregate.output.train_logs,
    output:
        figure("training_dynamics"),
    params:
        kl_estimator=config["plots"]["kl_estimator"],
        labels=method_labels(config, GRID_METHODS),
    log:
        f"{RESULTS}/logs/plot_training_dynamics.log",
    benchmark:
        f"{RESULTS}/benchmarks/plot_training_dynamics.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../../scripts/plot_figure.py"


rule plot_is_eps_ablation:
    input:
        summary=rules.aggregate.output.summary,
    output:
        figure("is_eps_ablation"),
    params:
        kl_estimator=config["plots"]["kl_estimator"],
        eps=eps_ablation(config),
    log:
        f"{RESULTS}/logs/plot_is_eps_ablation.log",
    benchmark:
        f"{RESULTS}/benchmarks/plot_is_eps_ablation.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../../scripts/plot_figure.py"


FIGURES = [
    rules.plot_kl_tradeoff.output[0],
    rules.plot_gold_vs_beta.output[0],
    rules.plot_winrate_vs_beta.output[0],
    rules.plot_training_dynamics.output[0],
    rules.plot_is_eps_ablation.output[0],
]
