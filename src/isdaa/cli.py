"""Command line for debugging one run by hand, outside Snakemake.

    python -m isdaa train --config results/toy/dpo/beta0.1/seed1/config.yaml
    python -m isdaa evaluate --model-path results/toy/dpo/beta0.1/seed1/model
    python -m isdaa plot --summary results/tables/summary.csv --output kl_tradeoff.png
    python -m isdaa table --summary results/tables/summary.csv    # markdown, as in docs/results.md
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from isdaa import runtime
from isdaa.io import read_yaml, write_json, write_parquet


def _train(args) -> int:
    from isdaa.losses import LossSpec
    from isdaa.preference_training import train_cell

    cell = read_yaml(args.config)
    LossSpec(**cell["loss"])  # fail on a bad loss before loading anything
    if args.output_dir:
        out = Path(args.output_dir)
        cell["paths"].update(model=str(out / "model"), train_log=str(out / "train_log.csv"),
                             checkpoints=str(out / "checkpoints"), snapshots=str(out / "snapshots"))
    runtime.setup(cell.get("threads", 1), seed=cell["seed"])
    result = train_cell(cell)
    print(f"trained {cell['name']}: {result} -> {cell['paths']['model']}")
    return 0


def _evaluate(args) -> int:
    from isdaa.evaluation import evaluate_policy
    from isdaa.metrics import cell_metrics

    model_path = Path(args.model_path)
    config_path = Path(args.config) if args.config else model_path.parent / "config.yaml"
    if not config_path.exists():
        sys.exit(f"error: {config_path} not found; pass --config with a cell config.yaml")
    cell = read_yaml(config_path)
    out = Path(args.output_dir) if args.output_dir else model_path.parent / "manual_eval"
    seed = cell["seed"] if args.seed is None else args.seed
    runtime.setup(cell.get("threads", 1), seed=seed)
    paths = cell["paths"]
    samples = evaluate_policy(model_path, paths["eval_prompts"], paths["sft_model"], cell["task"],
                              cell["evaluation"], seed)
    metrics = cell_metrics(samples, task=cell["task"], method=cell["method"], beta=cell["beta"], seed=seed,
                           epoch=cell["training"]["epochs"])
    write_parquet(samples, out / "samples.parquet")
    write_json(metrics, out / "metrics.json")
    for key, value in metrics.items():
        print(f"{key:>16}: {value}")
    return 0


def _plot(args) -> int:
    import pandas as pd

    from isdaa.plots import plot_kl_tradeoff

    labels = {}
    if args.config:
        from isdaa.config import load_config, method_labels

        labels = method_labels(load_config(args.config))
    plot_kl_tradeoff(pd.read_csv(args.summary), args.output, args.kl_estimator, labels)
    print(f"wrote {args.output}")
    return 0


def _table(args) -> int:
    import pandas as pd

    from isdaa.metrics import markdown_table

    print(markdown_table(pd.read_csv(args.summary)))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="isdaa", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train one cell from its resolved config.yaml")
    train.add_argument("--config", required=True, help="a cell's config.yaml")
    train.add_argument("--output-dir", help="write model/ and train_log.csv here instead of the cell folder")
    evaluate = sub.add_parser("evaluate", help="sample and score a saved policy")
    evaluate.add_argument("--model-path", required=True, help="a save_pretrained folder")
    evaluate.add_argument("--config", help="cell config.yaml (default: beside the model folder)")
    evaluate.add_argument("--output-dir", help="default: <model-path>/../manual_eval")
    evaluate.add_argument("--seed", type=int, help="sampling seed (default: the cell's)")
    plot = sub.add_parser("plot", help="redraw the KL trade-off figure from a summary table (any format)")
    plot.add_argument("--summary", default="results/tables/summary.csv")
    plot.add_argument("--output", required=True, help="file name; its extension picks the format (pdf, png, svg)")
    plot.add_argument("--config", help="config whose method labels to use in the legend")
    plot.add_argument("--kl-estimator", default="kl_k3", choices=["kl_k3", "kl_k1"])
    table = sub.add_parser("table", help="the summary table as markdown (mean +- std over seeds)")
    table.add_argument("--summary", default="results/tables/summary.csv")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return {"train": _train, "evaluate": _evaluate, "plot": _plot, "table": _table}[args.command](args)
