rule aggregate:
    input:
        cells=cell_paths("metrics.json"),
        sft=f"{BASE}/sft/metrics.json",
    output:
        cells=f"{RESULTS}/tables/cells.csv",
        summary=f"{RESULTS}/tables/summary.csv",
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
        report(
            f"{RESULTS}/figures/kl_tradeoff.pdf",
            caption="../report/kl_tradeoff.rst",
            category="Figures",
        ),
    params:
        kl_estimator=config["plots"]["kl_estimator"],
        labels=method_labels(config, config["grid"]["methods"]),
    log:
        f"{RESULTS}/logs/plot_kl_tradeoff.log",
    benchmark:
        f"{RESULTS}/benchmarks/plot_kl_tradeoff.tsv"
    threads: 1
    resources:
        mem_mb=RESOURCES["mem_mb"],
        runtime=RESOURCES["runtime"],
    conda:
        "../../envs/plot.yaml"
    script:
        "../../scripts/plot_kl_tradeoff.py"
