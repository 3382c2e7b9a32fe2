# Config validation, the tasks and their grids, wildcard constraints and path helpers.
import re
import sys

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from isdaa.config import (
    ConfigError,
    canonical,
    cell_config,
    dynamics_cells,
    evaluation_settings,
    figure_facts,
    grid,
    method_labels,
    method_training,
    scoring_settings,
    snapshot_epochs,
    task_figures,
    tasks,
    validate_config,
)
from isdaa.layout import SFT_RUN, Layout, parse_run
from isdaa.plots import FIGURES, plot_settings

try:
    validate_config(config)
except ConfigError as error:
    raise WorkflowError(f"invalid configuration: {error}") from None

L = Layout(config["results_dir"])
TASKS = tasks(config)
HEADLINE = config["headline_task"]
RESOURCES = config["resources"]
CELLS = {name: grid(task) for name, task in TASKS.items()}
# Tasks whose base model a rule builds (the toy's), and tasks that sample and score a
# policy in one job (`evaluation.one_job`).
BUILT_MODEL_TASKS = [name for name, task in TASKS.items() if "build" in task["model"]]
ONE_JOB_TASKS = [name for name, task in TASKS.items() if task["evaluation"]["one_job"]]
TWO_JOB_TASKS = [name for name in TASKS if name not in ONE_JOB_TASKS]
# The figures each task can show (the clip ablation needs two clip values, the dynamics a cell).
TASK_FIGURES = {name: task_figures(task, FIGURES) for name, task in TASKS.items()}


def alternatives(values):
    """A regex matching exactly these values (one that matches nothing when empty)."""
    values = sorted(set(map(str, values)))
    return "|".join(re.escape(v) for v in values) if values else "(?!)"


# Every configured method can be built by its path at its task's betas and seeds, in
# the grid or not (one extra cell without widening the grid, which `all` would then need).
METHODS = {m for task in TASKS.values() for m in task["methods"]}


wildcard_constraints:
    task=alternatives(TASKS),
    method=alternatives(METHODS),
    beta=alternatives(c.beta for cells in CELLS.values() for c in cells),
    seed=alternatives(c.seed for cells in CELLS.values() for c in cells),
    figure=alternatives(FIGURES),
    # A policy under evaluation: the SFT model, a grid cell, or a cell's snapshot.
    run=f"{SFT_RUN}|({alternatives(METHODS)})/beta[^/]+/seed\\d+(/epoch[0-9.]+)?",


def task_of(wildcards):
    return TASKS[wildcards.task]


def cell_paths(task, filename, cells=None):
    return [L.cell_of(cell, filename) for cell in (CELLS[task] if cells is None else cells)]


def snapshot_runs(task):
    """Every evaluated snapshot of a task (of its `dynamics` cells), as `run` names."""
    out = []
    for cell in dynamics_cells(TASKS[task]):
        training = method_training(TASKS[task], cell.method)
        out += [f"{cell.name}/epoch{e:g}" for e in snapshot_epochs(training["epochs"], training["snapshots_per_epoch"])]
    return out


def run_model_input(wildcards):
    """What an evaluation waits for: the SFT model, a cell's model, or its snapshots folder."""
    run = parse_run(wildcards.run)
    if run.method is None:
        return L.sft_model(wildcards.task)
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
    return dynamics_cells(task_of(wildcards))
