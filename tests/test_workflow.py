"""The DAG of the default configuration, without running it."""

import subprocess

from conftest import BIN, REPO, default_config
from workflow_helpers import job_stats, planned_jobs, snakemake, write_config

from isdaa.config import dynamics_cells, grid, validate_config


def test_dry_run_of_default_grid_schedules_every_cell(tmp_path):
    write_config(tmp_path)
    out = snakemake(tmp_path, "-n", "all")
    config = validate_config(default_config())
    n_cells = len(grid(config))
    # Every method of the family is in the default grid.
    assert {c.method for c in grid(config)} == set(config["methods"])
    training = config["preference_training"]
    n_snapshots = len(dynamics_cells(config)) * (training["epochs"] * training["snapshots_per_epoch"] - 1)
    stats = job_stats(out.stdout)
    assert stats["train_preference"] == n_cells
    assert stats["evaluate"] == n_cells + n_snapshots + 1  # every cell, snapshots and the SFT policy
    for once in ("prepare_data", "init_model", "sft", "label_preferences", "reference_logps", "aggregate"):
        assert stats[once] == 1, once  # the reference pass is shared by the whole grid


def test_single_cell_is_a_target(tmp_path):
    write_config(tmp_path)
    out = snakemake(tmp_path, "-n", "results/toy/is_dpo/beta0.1/seed1/metrics.json")
    stats = job_stats(out.stdout)
    assert stats["train_preference"] == 1 and stats["evaluate"] == 1 and "aggregate" not in stats


def test_method_outside_the_grid_is_built_by_its_path_and_all_does_not_need_it(tmp_path):
    # One more method, defined but not listed in grid.methods (trying a variant, or an
    # extra cell beside the grid, as the SLURM tests do).
    write_config(tmp_path, {"methods": {"is_dpo_eps4": {"daa": "dpo", "is_eps": 4.0}}})
    cell = planned_jobs(snakemake(tmp_path, "-n", "results/toy/is_dpo_eps4/beta0.1/seed1/metrics.json").stdout)
    assert ("train_preference", "method=is_dpo_eps4, beta=0.1, seed=1") in cell
    assert not any(rule == "aggregate" for rule, _ in cell)
    everything = planned_jobs(snakemake(tmp_path, "-n", "all").stdout)
    assert not any("is_dpo_eps4" in wildcards for _, wildcards in everything)


def test_lint_is_clean():
    out = subprocess.run([BIN / "snakemake", "--lint", "-s", REPO / "Snakefile", "-d", REPO],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Lints for" not in out.stdout + out.stderr, out.stdout + out.stderr
