# Config validation, the grid, wildcard constraints and path helpers.
import re
import sys

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from isdaa.config import (
    ConfigError,
    cell_config,
    dynamics_cells,
    eps_ablation,
    grid,
    method_labels,
    method_training,
    snapshot_epochs,
    snapshot_name,
    validate_config,
)

try:
    validate_config(config)
except ConfigError as error:
    raise WorkflowError(f"invalid configuration: {error}") from None

RESULTS = config["results_dir"]
TASK = config["task"]
BASE = f"{RESULTS}/{TASK}"
CELLS = grid(config)
GRID_METHODS = config["grid"]["methods"]
# Every configured method can be built by its path at the grid's betas and seeds, in the
# grid or not (one extra cell without widening the grid, which `all` would then need).
METHODS = list(config["methods"])
# Training length of each method (a method may override it) and where its snapshots fall.
EPOCHS = {m: method_training(config, m)["epochs"] for m in METHODS}
SNAPSHOTS = {m: snapshot_epochs(EPOCHS[m], method_training(config, m)["snapshots_per_epoch"]) for m in METHODS}
RESOURCES = config["resources"]


def alternatives(values):
    return "|".join(re.escape(str(v)) for v in sorted(set(map(str, values))))


wildcard_constraints:
    task=re.escape(TASK),
    method=alternatives(METHODS),
    beta=alternatives(c.beta for c in CELLS),
    seed=alternatives(c.seed for c in CELLS),
    # A policy under evaluation: the SFT model, a grid cell, or a cell's epoch snapshot.
    run=f"sft|({alternatives(METHODS)})/beta[^/]+/seed\\d+(/epoch[0-9.]+)?",


def cell_paths(filename, cells=CELLS):
    return [f"{BASE}/{cell.name}/{filename}" for cell in cells]


def snapshot_paths(filename):
    """`filename` of every evaluated end-of-epoch snapshot (the `dynamics` cells)."""
    return [f"{BASE}/{cell.name}/{snapshot_name(e)}/{filename}"
            for cell in dynamics_cells(config) for e in SNAPSHOTS[cell.method]]


def parse_run(run):
    """(method, beta, seed, snapshot epoch or None) of a run; None for the SFT policy."""
    if run == "sft":
        return None
    method, beta, seed, *epoch = run.split("/")
    return method, beta.removeprefix("beta"), int(seed.removeprefix("seed")), (
        float(epoch[0].removeprefix("epoch")) if epoch else None)


def run_model_input(wildcards):
    """What the evaluation waits for: the model folder, or the cell's snapshots folder."""
    parsed = parse_run(wildcards.run)
    if parsed is None:
        return f"{BASE}/sft/model"
    method, beta, seed, epoch = parsed
    cell = f"{BASE}/{method}/beta{beta}/seed{seed}"
    return f"{cell}/model" if epoch is None else f"{cell}/snapshots"


def run_model_path(wildcards):
    parsed = parse_run(wildcards.run)
    if parsed is None or parsed[3] is None:
        return run_model_input(wildcards)
    return f"{run_model_input(wildcards)}/{snapshot_name(parsed[3])}"


def run_identity(wildcards):
    """(method, beta, seed, epoch) that metrics.json records for a policy; the seed is
    also the evaluation's sampling seed."""
    parsed = parse_run(wildcards.run)
    if parsed is None:
        return {"method": "sft", "beta": None, "seed": config["evaluation"]["sft_seed"], "epoch": 0}
    method, beta, seed, epoch = parsed
    return {"method": method, "beta": float(beta), "seed": seed,
            "epoch": EPOCHS[method] if epoch is None else epoch}


def figure(name):
    """A figure target, with its caption for `snakemake --report`."""
    return report(f"{RESULTS}/figures/{name}.pdf", caption=f"../report/{name}.rst", category="Figures")
