"""Where every artifact lives: the one owner of the results layout.

Each function returns a concrete path when given values, and the Snakemake wildcard
pattern when its arguments are left at their defaults (`"{task}"`, `"{method}"`, ...),
so the rules, the cell configs and the readers share one definition. The `task`
argument is a study's folder: a task (its default regime) or `<task>/regimes/<regime>`.

    results/<task>/data/            sft.parquet, prompts.parquet, preferences.parquet, eval_prompts.parquet
    results/<task>/base_model/      a model a rule builds (the toy's); checkpoints from the hub are not copied
    results/<task>/sft/model/       the SFT (reference) policy
    results/<task>/reference_logps.parquet
    results/<task>/<method>/beta<b>/seed<s>/          a grid cell (config.yaml, model/, train_log.csv, snapshots/)
    results/<task>/regimes/<regime>/                  a regime's study: its cells, as above, and (when its
                                                      preference data differ from the task's) its data/,
                                                      reference_logps.parquet and sft/ evaluation
    results/<task>/<run>/           a policy under evaluation: `sft`, a cell, or `<cell>/epoch<e>` (a snapshot):
                                    generations.parquet, samples.parquet, metrics.json; and (tasks with
                                    LLM-judge benchmarks) benchmarks/<name>/answers.parquet, judgments.parquet,
                                    score.json
    results/<task>/benchmark_sets/<name>/   a benchmark's questions, judge prompts and sources
    results/judge_cache/<name>/     every judge reply, by request (judge.cache_dir; never a rule output)
    results/<task>/tensorboard/     TensorBoard logs of the cells and SFT (report_to)
    results/<task>/tables/ figures/ every table and figure of the task
    results/tables/                 every task's tables together (a `task` column)
    results/figures/                the headline task's figures
"""

from __future__ import annotations

from dataclasses import dataclass

SFT_RUN = "sft"
DEFAULT_REGIME = "default"
REGIMES_FOLDER = "regimes"


def format_beta(beta) -> str:
    """The beta of a folder name: `beta0.05`. Short and stable across YAML spellings."""
    return f"{float(beta):g}"


def study_name(task: str, regime: str) -> str:
    """The folder of one regime of a task under the results: the task's own for the
    default regime (the layout of configs without regimes), else `<task>/regimes/<regime>`."""
    return task if regime == DEFAULT_REGIME else f"{task}/{REGIMES_FOLDER}/{regime}"


def parse_study(study: str) -> tuple[str, str]:
    """(task, regime) of a study folder: the inverse of `study_name`."""
    task, _, regime = study.partition(f"/{REGIMES_FOLDER}/")
    return task, regime or DEFAULT_REGIME


def snapshot_name(epoch) -> str:
    return f"epoch{float(epoch):g}"


@dataclass(frozen=True)
class Cell:
    """One grid cell. `task` is the folder of its study under the results (the task's
    own, or `<task>/regimes/<regime>`); `beta` is kept as its folder spelling (see
    `format_beta`)."""

    task: str
    method: str
    beta: str
    seed: int
    regime: str = "default"

    @property
    def name(self) -> str:
        return cell_name(self.method, self.beta, self.seed)


def cell_name(method="{method}", beta="{beta}", seed="{seed}") -> str:
    return f"{method}/beta{beta}/seed{seed}"


@dataclass(frozen=True)
class Run:
    """A policy under evaluation: the SFT policy (method None), a cell's final model
    (epoch None), or a cell's snapshot."""

    method: str | None = None
    beta: str | None = None
    seed: int | None = None
    epoch: float | None = None

    @property
    def name(self) -> str:
        if self.method is None:
            return SFT_RUN
        cell = cell_name(self.method, self.beta, self.seed)
        return cell if self.epoch is None else f"{cell}/{snapshot_name(self.epoch)}"


def parse_run(run: str) -> Run:
    """The inverse of `Run.name`."""
    if run == SFT_RUN:
        return Run()
    method, beta, seed, *epoch = run.split("/")
    return Run(method, beta.removeprefix("beta"), int(seed.removeprefix("seed")),
               float(epoch[0].removeprefix("epoch")) if epoch else None)


class Layout:
    def __init__(self, results: str = "results"):
        self.results = results

    def task(self, task="{task}") -> str:
        return f"{self.results}/{task}"

    def data(self, name: str, task="{task}") -> str:
        return f"{self.task(task)}/data/{name}"

    def base_model(self, task="{task}") -> str:
        return f"{self.task(task)}/base_model"

    def sft_model(self, task="{task}") -> str:
        return f"{self.task(task)}/{SFT_RUN}/model"

    def reference_logps(self, task="{task}") -> str:
        return f"{self.task(task)}/reference_logps.parquet"

    def cell(self, name: str = "", task="{task}", method="{method}", beta="{beta}", seed="{seed}") -> str:
        folder = f"{self.task(task)}/{cell_name(method, beta, seed)}"
        return f"{folder}/{name}" if name else folder

    def cell_of(self, cell: Cell, name: str = "") -> str:
        return self.cell(name, cell.task, cell.method, cell.beta, cell.seed)

    def checkpoints(self, cell: Cell) -> str:
        """Training checkpoints: inside the cell folder but never a rule output, so
        Snakemake does not delete them when a job fails or is requeued."""
        return self.cell_of(cell, "checkpoints")

    def tensorboard(self, name: str, task="{task}") -> str:
        """TensorBoard logs of a cell or of SFT (`report_to`): never a rule output, never deleted."""
        return f"{self.task(task)}/tensorboard/{name}"

    def run(self, name: str, task="{task}", run="{run}") -> str:
        return f"{self.task(task)}/{run}/{name}"

    def benchmark_set(self, benchmark="{benchmark}", task="{task}") -> str:
        """A benchmark's files in one layout (isdaa.judges.files), once per task."""
        return f"{self.task(task)}/benchmark_sets/{benchmark}"

    def benchmark_run(self, name: str, benchmark="{benchmark}", task="{task}", run="{run}") -> str:
        """A policy's answers, judgments or score on a benchmark."""
        return self.run(f"benchmarks/{benchmark}/{name}", task, run)

    def table(self, name: str, task="{task}") -> str:
        return f"{self.task(task)}/tables/{name}"

    def figure(self, name="{figure}", task="{task}", ext="pdf") -> str:
        return f"{self.task(task)}/figures/{name}.{ext}"

    def all_tasks_table(self, name: str) -> str:
        return f"{self.results}/tables/{name}"

    def headline_figure(self, name="{figure}", ext="pdf") -> str:
        return f"{self.results}/figures/{name}.{ext}"

    def log(self, rule: str, task="{task}", *parts: str) -> str:
        return "/".join([self.task(task), "logs", rule, *parts]) + ".log"

    def benchmark(self, rule: str, task="{task}", *parts: str) -> str:
        return "/".join([self.task(task), "benchmarks", rule, *parts]) + ".tsv"
