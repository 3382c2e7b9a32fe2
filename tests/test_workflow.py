"""The DAG of the default configuration, without running it."""

import copy
import subprocess

from conftest import BIN, REPO, default_config, smoke_config
from workflow_helpers import job_stats, planned_jobs, snakemake, with_task, write_config

from isdaa.config import dynamics_cells, grid, task_config, validate_config


def test_dry_run_of_default_grid_schedules_every_cell(tmp_path):
    write_config(tmp_path)
    out = snakemake(tmp_path, "-n", "all")
    task = task_config(validate_config(default_config()), "toy")
    n_cells = len(grid(task))
    # Every method of the family is in the default grid.
    assert {c.method for c in grid(task)} == set(task["methods"])
    training = task["preference_training"]
    n_snapshots = len(dynamics_cells(task)) * (training["epochs"] * training["snapshots_per_epoch"] - 1)
    stats = job_stats(out.stdout)
    assert stats["train_preference"] == n_cells
    # The toy samples and scores a policy in one job (evaluation.one_job).
    assert stats["evaluate"] == n_cells + n_snapshots + 1 and "sample" not in stats
    for once in ("prepare_data", "build_model", "sft", "label_preferences", "reference_logps", "aggregate"):
        assert stats[once] == 1, once  # the reference pass is shared by the whole grid


def test_single_cell_is_a_target(tmp_path):
    write_config(tmp_path)
    out = snakemake(tmp_path, "-n", "results/toy/is_dpo/beta0.1/seed1/metrics.json")
    stats = job_stats(out.stdout)
    assert stats["train_preference"] == 1 and stats["evaluate"] == 1 and "aggregate" not in stats


def test_sampling_and_scoring_are_separate_jobs_unless_one_job_is_asked(tmp_path):
    config = default_config()
    config["tasks"]["toy"]["evaluation"] = {"one_job": False}
    write_config(tmp_path, config)
    stats = job_stats(snakemake(tmp_path, "-n", "results/toy/is_dpo/beta0.1/seed1/metrics.json").stdout)
    assert stats["sample"] == 1 and stats["score"] == 1 and "evaluate" not in stats


def test_two_tasks_live_side_by_side_and_the_headline_task_owns_results_figures(tmp_path):
    config = default_config()
    second = copy.deepcopy(config["tasks"]["toy"])
    second["grid"] = {"methods": ["dpo"], "betas": [0.5], "seeds": [2]}
    second["dynamics"] = {}
    config["tasks"]["toy_b"] = second
    config["headline_task"] = "toy_b"
    write_config(tmp_path, config)
    jobs = planned_jobs(snakemake(tmp_path, "-n", "results/figures/kl_tradeoff.pdf").stdout)
    assert ("train_preference", "task=toy_b, method=dpo, beta=0.5, seed=2") in jobs
    assert not any("task=toy," in wildcards for _, wildcards in jobs)  # the other task is not needed
    everything = job_stats(snakemake(tmp_path, "-n", "all").stdout)
    assert everything["sft"] == 2 and everything["aggregate"] == 2
    assert everything["train_preference"] == len(grid(task_config(validate_config(config), "toy"))) + 1


def test_method_outside_the_grid_is_built_by_its_path_and_all_does_not_need_it(tmp_path):
    # One more method, defined but not listed in grid.methods (trying a variant, or an
    # extra cell beside the grid, as the SLURM tests do).
    config = default_config()
    config["methods"]["is_dpo_eps4"] = {"daa": "dpo", "is_eps": 4.0}
    write_config(tmp_path, config)
    cell = planned_jobs(snakemake(tmp_path, "-n", "results/toy/is_dpo_eps4/beta0.1/seed1/metrics.json").stdout)
    assert ("train_preference", "task=toy, method=is_dpo_eps4, beta=0.1, seed=1") in cell
    assert not any(rule == "aggregate" for rule, _ in cell)
    everything = planned_jobs(snakemake(tmp_path, "-n", "all").stdout)
    assert not any("is_dpo_eps4" in wildcards for _, wildcards in everything)


def test_a_configfile_is_the_whole_study(tmp_path):
    """Nothing of config/config.yaml leaks into a config given with --configfile: a
    minimal config with two methods plans exactly its own cells."""
    config = with_task(smoke_config(), grid={"methods": ["dpo"], "betas": [0.3], "seeds": [4]}, dynamics={})
    write_config(tmp_path, config)
    jobs = planned_jobs(snakemake(tmp_path, "-n", "all").stdout)
    assert {w for rule, w in jobs if rule == "train_preference"} == {"task=toy, method=dpo, beta=0.3, seed=4"}


def test_lint_is_clean():
    out = subprocess.run([BIN / "snakemake", "--lint", "-s", REPO / "Snakefile", "-d", REPO],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Lints for" not in out.stdout + out.stderr, out.stdout + out.stderr
