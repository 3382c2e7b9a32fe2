# Config validation, the tasks and their grids, wildcard constraints and path helpers.
import re
import sys

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from isdaa.availability import missing_message, unavailable
from isdaa.config import (
    ConfigError,
    canonical,
    cell_config,
    data_limits,
    dynamics_cells,
    evaluation_settings,
    figure_facts,
    grid,
    grid_methods,
    is_hub_task,
    method_labels,
    method_training,
    policy_tokenizer,
    regime_map_settings,
    result_settings,
    rule_resources,
    scoring_settings,
    snapshot_epochs,
    studies,
    task_figures,
    tasks,
    validate_config,
    with_all_methods,
)
from isdaa.judges.settings import PROTOCOLS, answer_settings, benchmark_settings, data_settings, enabled_benchmarks
from isdaa.judges.settings import result_settings as judge_result_settings
from isdaa.layout import SFT_RUN, Layout, parse_run
from isdaa.plots import FIGURES, plot_settings

# Checkpoints, datasets and packages a run needs are required only before a real run
# (onstart, below): `snakemake -n` plans a study on a machine that has none of them (CI, a
# login node). The jobs' own parses skip what the main process has checked already.
try:
    validate_config(config, check_availability=False, deep=workflow.is_main_process)
except ConfigError as error:
    raise WorkflowError(f"invalid configuration: {error}") from None

# Looked up once, by the main process (the only one that runs onstart).
MISSING = unavailable(config) if workflow.is_main_process else []
if MISSING:
    print(f"note: {len(MISSING)} checkpoint(s), dataset(s) or package(s) of this config are not here; a run "
          "stops before its first job (`python -m isdaa fetch --configfile <config>` on a networked machine):",
          file=sys.stderr)
    for item in MISSING:
        print(f"  {item['key']} = {item['value']!r}: {item['what']}", file=sys.stderr)


onstart:
    if MISSING:
        raise WorkflowError(f"not ready to run (nothing was started):\n{missing_message(MISSING)}")


L = Layout(config["results_dir"])
TASKS = tasks(config)
HEADLINE = config["headline_task"]
# A study is one regime of a task, in its own folder (the `task` wildcard): the task's
# own for the default regime, `<task>/regimes/<regime>` otherwise (isdaa.config.studies).
STUDIES = {sid: study for task in TASKS.values() for sid, study in studies(task).items()}
TASK_STUDIES = {name: [sid for sid, s in STUDIES.items() if s["name"] == name] for name in TASKS}
# Any folder the `task` wildcard may name: the studies, and each task's own folder (its
# SFT model and data, and the pairs of every regime that keeps the task's data).
CONFIGS = {**TASKS, **STUDIES}
CELLS = {sid: grid(study) for sid, study in STUDIES.items()}
# Studies whose folder holds preference pairs (and the SFT policy's evaluation on them).
DATA_STUDIES = sorted({s["data_study"] for s in STUDIES.values()})
# Tasks whose data a generator makes (the toy's) or datasets hold (hub ids or local
# files), and the studies whose pairs are relabelled SFT samples or a set's own pairs.
TOY_TASKS = [name for name, task in TASKS.items() if not is_hub_task(task)]
HUB_TASKS = [name for name in TASKS if name not in TOY_TASKS]
TOY_DATA_STUDIES = [sid for sid in DATA_STUDIES if not is_hub_task(CONFIGS[sid])]
RELABEL_STUDIES = [sid for sid in DATA_STUDIES if sid not in TOY_DATA_STUDIES
                   and CONFIGS[sid]["preference_data"]["mode"] == "relabel"]
IMPORT_STUDIES = [sid for sid in DATA_STUDIES if sid not in TOY_DATA_STUDIES + RELABEL_STUDIES]
HUB_DATA_STUDIES = RELABEL_STUDIES + IMPORT_STUDIES
# Tasks whose base model a rule builds (the toy's), and tasks that sample and score a
# policy in one job (`evaluation.one_job`).
BUILT_MODEL_TASKS = [name for name, task in TASKS.items() if "build" in task["model"]]
ONE_JOB_TASKS = [name for name, task in CONFIGS.items() if task["evaluation"]["one_job"]]
TWO_JOB_TASKS = [name for name in CONFIGS if name not in ONE_JOB_TASKS]
# The figures each task can show (the clip ablation needs two clip values, the dynamics a cell).
TASK_FIGURES = {name: task_figures(task, FIGURES) for name, task in TASKS.items()}
# The LLM-judge benchmarks of each task (instruction following), and the study folders
# whose policies answer them.
BENCHMARKS = {name: enabled_benchmarks(task) for name, task in TASKS.items()}
BENCHMARK_TASKS = [name for name, names in BENCHMARKS.items() if names]
BENCHMARK_STUDIES = [sid for name in BENCHMARK_TASKS for sid in TASK_STUDIES[name]]


def alternatives(values):
    """A regex matching exactly these values (one that matches nothing when empty)."""
    values = sorted(set(map(str, values)))
    return "|".join(re.escape(v) for v in values) if values else "(?!)"


# Every configured method can be built by its path at its task's betas and seeds, in
# the grid or not (one extra cell without widening the grid, which `all` would then need).
METHODS = {m for task in TASKS.values() for m in task["methods"]}


wildcard_constraints:
    task=alternatives(CONFIGS),
    method=alternatives(METHODS),
    beta=alternatives(c.beta for cells in CELLS.values() for c in cells),
    seed=alternatives(c.seed for cells in CELLS.values() for c in cells),
    figure=alternatives(FIGURES),
    # A policy under evaluation: the SFT model, a grid cell, or a cell's snapshot.
    run=f"{SFT_RUN}|({alternatives(METHODS)})/beta[^/]+/seed\\d+(/epoch[0-9.]+)?",


def task_of(wildcards):
    """The config of the study (or task folder) the `task` wildcard names."""
    return CONFIGS[wildcards.task]


def base_task(wildcards):
    """The task a study belongs to: where its SFT model and prompts are."""
    return task_of(wildcards)["name"]


def sft_model_of(wildcards):
    return L.sft_model(base_task(wildcards))


def data_of(name):
    """The input function of one of a study's preference-data files (its data study's)."""
    return lambda wc: L.data(name, task_of(wc)["data_study"])


def task_cells(task):
    """Every cell of a task, over its regimes."""
    return [cell for sid in TASK_STUDIES[task] for cell in CELLS[sid]]


def cell_paths(task, filename, cells=None):
    return [L.cell_of(cell, filename) for cell in (task_cells(task) if cells is None else cells)]


def task_dynamics(task):
    """The `dynamics` cells of every regime of a task."""
    return [cell for sid in TASK_STUDIES[task] for cell in dynamics_cells(STUDIES[sid])]


def task_snapshots(task):
    """Every evaluated snapshot of a task (of its `dynamics` cells): (cell, run name) pairs."""
    out = []
    for cell in task_dynamics(task):
        training = method_training(STUDIES[cell.task], cell.method)
        out += [(cell, f"{cell.name}/epoch{e:g}")
                for e in snapshot_epochs(training["epochs"], training["snapshots_per_epoch"])]
    return out


def sft_evaluations(task):
    """{regime: metrics.json of the SFT policy on that regime's evaluation data}."""
    return {STUDIES[sid]["regime"]: L.run("metrics.json", STUDIES[sid]["data_study"], SFT_RUN)
            for sid in TASK_STUDIES[task]}


def run_model_input(wildcards):
    """What an evaluation waits for: the SFT model, a cell's model, or its snapshots folder."""
    run = parse_run(wildcards.run)
    if run.method is None:
        return sft_model_of(wildcards)
    cell = L.cell("", wildcards.task, run.method, run.beta, run.seed)
    return f"{cell}/model" if run.epoch is None else f"{cell}/snapshots"


def run_model_path(wildcards):
    run = parse_run(wildcards.run)
    if run.epoch is None:
        return run_model_input(wildcards)
    return f"{run_model_input(wildcards)}/epoch{run.epoch:g}"


def run_identity(wildcards):
    """(method, beta, seed, epoch) that metrics.json records for a policy; the seed is
    also the evaluation's sampling seed."""
    task = task_of(wildcards)
    run = parse_run(wildcards.run)
    if run.method is None:
        return {"method": "sft", "beta": None, "seed": task["evaluation"]["sft_seed"], "epoch": 0.0}
    epochs = method_training(task, run.method)["epochs"]
    return {"method": run.method, "beta": float(run.beta), "seed": run.seed,
            "epoch": float(epochs if run.epoch is None else run.epoch)}


def task_threads(wildcards):
    return task_of(wildcards)["threads"]




def base_model(wildcards):
    """The checkpoint SFT starts from: a hub id or folder, or the folder a rule builds."""
    model = task_of(wildcards)["model"]
    return L.base_model(wildcards.task) if "build" in model else model["path"]


def base_model_input(wildcards):
    """The base model as an input of SFT: only when a job builds it (a hub id is no file,
    and a checkpoint folder's time stamps are not ours to track)."""
    return [L.base_model(wildcards.task)] if "build" in task_of(wildcards)["model"] else []


def dynamics_of(wildcards):
    return task_dynamics(wildcards.task)



def resource(rule, name):
    """A job's `name` resource: the top-level resources, then its task's, each with its
    per_rule override (isdaa.config.rule_resources); a profile's set-resources wins."""
    return lambda wc: rule_resources(config, task_of(wc)["name"], rule)[name]


def source_settings(role):
    """What one of a task's data sources gives: the source, the token limits that apply to
    it, and how prompts are tokenised (the policy's tokenizer and prompt format)."""
    def settings(wc):
        task = task_of(wc)
        # A key added after results existed is passed only when set, so that cached sources stay valid.
        source = {k: v for k, v in task["data"][role].items() if not (k == "drop_ties" and not v)}
        return canonical({
            "source": source,
            "limits": data_limits(task, role),
            "over_length": task["data"].get("over_length", "drop"),
            "model": {k: task["model"][k] for k in ("prompt_format", "system_prompt")},
            "tokenizer": policy_tokenizer(task),
        })

    return settings


def bench(wildcards):
    """The resolved settings of the benchmark a job names (its task's)."""
    return benchmark_settings(config, TASKS[base_task(wildcards)], wildcards.benchmark)


def benchmark_runs(task):
    """(study folder, run name) of every policy that answers a task's benchmarks: the SFT
    policy (once, in the task's folder) and every grid cell of every regime."""
    return [(task, SFT_RUN)] + [(cell.task, cell.name) for cell in task_cells(task)]


def benchmark_scores(task):
    return [L.benchmark_run("score.json", name, study, run) for study, run in benchmark_runs(task)
            for name in BENCHMARKS[task]]


def run_regime(wildcards):
    return STUDIES.get(wildcards.task, TASKS[base_task(wildcards)])["regime"]


# A benchmark's answers are a policy's final model's (the SFT model or a grid cell; no snapshots).
BENCHMARK_RUN = f"{SFT_RUN}|({alternatives(METHODS)})/beta[^/]+/seed\\d+"


def judge_rule(name):
    """What the judge rule of one protocol reads, writes and depends on."""
    return dict(
        input=dict(answers=L.benchmark_run("answers.parquet", name),
                   data=lambda wc: L.benchmark_set(name, base_task(wc))),
        output=dict(judgments=L.benchmark_run("judgments.parquet", name), score=L.benchmark_run("score.json", name)),
        params=dict(settings=lambda wc: canonical(judge_result_settings(
                        benchmark_settings(config, TASKS[base_task(wc)], name))),
                    identity=lambda wc: {**run_identity(wc), "task": base_task(wc), "regime": run_regime(wc),
                                         "run": wc.run}),
    )


def judge_concurrency(name):
    """A judge job's `judge` resource: its requests in flight (`--resources judge=N` caps them all)."""
    return lambda wc: int(benchmark_settings(config, TASKS[base_task(wc)], name)["judge"]["max_concurrency"])
