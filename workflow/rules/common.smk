# Config validation, the grid, wildcard constraints and path helpers.
import re
import sys

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from isdaa.config import ConfigError, cell_config, format_beta, grid, method_labels, validate_config

try:
    validate_config(config)
except ConfigError as error:
    raise WorkflowError(f"invalid configuration: {error}") from None

RESULTS = config["results_dir"]
TASK = config["task"]
BASE = f"{RESULTS}/{TASK}"
CELLS = grid(config)


def alternatives(values):
    return "|".join(re.escape(str(v)) for v in values)


wildcard_constraints:
    task=re.escape(TASK),
    method=alternatives(config["grid"]["methods"]),
    beta=alternatives(format_beta(b) for b in config["grid"]["betas"]),
    seed=alternatives(config["grid"]["seeds"]),
    # A policy under evaluation: the SFT model or one grid cell.
    run=f"sft|({alternatives(config['grid']['methods'])})/beta[^/]+/seed\\d+",


def cell_paths(filename):
    return [f"{BASE}/{cell.name}/{filename}" for cell in CELLS]


def run_seed(wildcards):
    """Evaluation sampling seed: the cell's seed, or the SFT evaluation seed."""
    if wildcards.run == "sft":
        return config["evaluation"]["sft_seed"]
    return int(wildcards.run.rsplit("seed", 1)[1])


def run_identity(wildcards):
    """(method, beta, seed) that metrics.json records for a policy."""
    if wildcards.run == "sft":
        return {"method": "sft", "beta": None, "seed": config["evaluation"]["sft_seed"]}
    method, beta, seed = wildcards.run.split("/")
    return {"method": method, "beta": float(beta.removeprefix("beta")), "seed": int(seed.removeprefix("seed"))}


RESOURCES = config["resources"]
