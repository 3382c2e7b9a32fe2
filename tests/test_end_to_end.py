"""The whole pipeline on a reduced config: artifacts, caching, and the CLI."""

import copy
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO
from safetensors.torch import load_file
from workflow_helpers import planned_jobs, snakemake, write_config

from isdaa.config import task_config, task_figures, validate_config
from isdaa.metrics import METRIC_KEYS
from isdaa.plots import FIGURES

pytestmark = pytest.mark.slow

TABLE_COLUMNS = ["task", "regime", *METRIC_KEYS[1:]]  # cells.csv and dynamics.csv
SMOKE = yaml.safe_load((REPO / "tests" / "configs" / "smoke.yaml").read_text())
(TASK,) = SMOKE["tasks"]  # the smoke config's one task
TOY = SMOKE["tasks"][TASK]
CELLS = [(m, b) for m in TOY["grid"]["methods"] for b in ("0.1", "1")]
# The figures the smoke config can show: one clip value, so no clip ablation.
SHOWN = task_figures(task_config(validate_config(copy.deepcopy(SMOKE)), TASK), FIGURES)


@pytest.fixture(scope="module")
def run(smoke_local_run):
    return smoke_local_run  # conftest: shared with the SLURM tests


def cell(run, method, beta):
    return run / "results" / TASK / method / f"beta{beta}" / "seed1"


def test_every_artifact_exists_with_sane_values(run):
    task = run / "results" / TASK
    prefs = pd.read_parquet(task / "data" / "preferences.parquet")
    assert {"pair_id", "prompt", "chosen", "rejected", "prompt_ids", "chosen_ids", "rejected_ids",
            "behavior_chosen_logp", "behavior_rejected_logp", "chosen_gold", "rejected_gold"} <= set(prefs.columns)
    assert len(prefs) > 0.8 * TOY["data"]["toy"]["n_train_prompts"] and prefs["pair_id"].is_unique
    assert all(list(c) != list(r) for c, r in zip(prefs["chosen_ids"], prefs["rejected_ids"]))
    ref = pd.read_parquet(task / "reference_logps.parquet")
    assert list(ref.columns) == ["pair_id", "reference_chosen_logp", "reference_rejected_logp"]
    # The behaviour policy is the SFT model at temperature 1: the shared reference pass must agree.
    merged = prefs.merge(ref, on="pair_id")
    assert np.allclose(merged["reference_chosen_logp"], merged["behavior_chosen_logp"], atol=1e-4)
    assert (merged["reference_rejected_logp"] < 0).all()
    evals = pd.read_parquet(task / "data" / "eval_prompts.parquet")
    assert len(evals) == TOY["data"]["toy"]["n_eval_prompts"]
    assert {"prompt_id", "prompt", "prompt_ids", "reference", "reference_gold"} <= set(evals.columns)

    for method, beta in CELLS:
        folder = cell(run, method, beta)
        assert (folder / "model" / "model.safetensors").exists()
        config = yaml.safe_load((folder / "config.yaml").read_text())
        assert config["loss"]["beta"] == float(beta) and config["method"] == method
        log = pd.read_csv(folder / "train_log.csv")
        for column in ("train_loss", "rewards_margin", "rewards_accuracy", "logps_chosen", "is_weight_mean",
                       "is_clipped_fraction", "grad_norm", "lr"):
            assert column in log.columns and log[column].notna().all(), column
        if method == "dpo":
            assert (log["is_weight_mean"] == 1).all()
        else:
            assert not np.allclose(log["is_weight_mean"], 1)
        samples = pd.read_parquet(folder / "samples.parquet")
        assert list(samples.columns) == ["prompt_id", "sample_idx", "response", "response_ids", "policy_logp",
                                         "reference_logp", "gold", "reference_gold", "length", "finished"]
        # A finished response's ids end with the end token; its text does not hold it.
        finished = samples[samples["finished"]]
        assert len(finished) and all(ids[-1] == finished["response_ids"].iloc[0][-1] for ids in finished["response_ids"])
        assert not finished["response"].str.contains("</s>").any()
        assert (samples["length"] == samples["response_ids"].map(len) - samples["finished"]).all()
        generations = pd.read_parquet(folder / "generations.parquet")
        pd.testing.assert_series_equal(generations["policy_logp"], samples["policy_logp"])
        metrics = json.loads((folder / "metrics.json").read_text())
        assert list(metrics) == sorted(METRIC_KEYS)
        assert metrics["n_samples"] == 2 * TOY["data"]["toy"]["n_eval_prompts"] == len(samples)
        assert metrics["kl_k3"] >= 0 and metrics["kl_k3"] > 1e-4  # the policy moved
        assert 0 <= metrics["win_rate"] <= 1 and 0 <= metrics["malformed_rate"] <= 1
        assert -6 < metrics["gold_reward"] < 4
        assert not (folder / "checkpoints").exists()  # cleaned up on success

    sft = json.loads((task / "sft" / "metrics.json").read_text())
    assert sft["method"] == "sft" and abs(sft["kl_k1"]) < 1e-9 and abs(sft["kl_k3"]) < 1e-9

    cells = pd.read_csv(task / "tables" / "cells.csv")
    # The metrics of each policy, with the regime (one, `default`, without regimes) after the task.
    assert len(cells) == len(CELLS) + 1 and list(cells.columns) == TABLE_COLUMNS
    assert set(cells["regime"]) == {"default"}
    pd.testing.assert_frame_equal(pd.read_csv(run / "results" / "tables" / "cells.csv"), cells)
    for rule in ("sft", "reference_logps", "aggregate"):
        assert list((run / "results").rglob(f"{rule}.tsv")), f"no benchmark for {rule}"


def test_every_figure_and_the_dynamics_tables(run):
    assert "is_eps_ablation" not in SHOWN and "kl_tradeoff" in SHOWN
    for name in FIGURES:
        pdf, png = (run / "results" / TASK / "figures" / f"{name}.{ext}" for ext in ("pdf", "png"))
        if name not in SHOWN:  # left out of the targets, not drawn empty
            assert not pdf.exists() and not png.exists(), name
            continue
        assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5000, name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        # The headline task's figures are the users' targets under results/figures/.
        for path in (pdf, png):
            assert (run / "results" / "figures" / path.name).read_bytes() == path.read_bytes()
    # The dynamics cells' snapshots (every half epoch of 2) are evaluated like cells.
    dynamics = pd.read_csv(run / "results" / TASK / "tables" / "dynamics.csv")
    assert list(dynamics.columns) == TABLE_COLUMNS
    selected = [(m, b) for m in TOY["dynamics"]["methods"] for b in TOY["dynamics"]["betas"]]
    assert len(dynamics) == 1 + 4 * len(selected)  # SFT, then epochs 0.5, 1, 1.5 and 2 of each cell
    assert sorted(dynamics["epoch"]) == [0.0] + sorted([0.5, 1.0, 1.5, 2.0] * len(selected))
    for method, beta in selected:
        snapshot = json.loads((cell(run, method, f"{beta:g}") / "epoch1" / "metrics.json").read_text())
        final = json.loads((cell(run, method, f"{beta:g}") / "metrics.json").read_text())
        assert snapshot["epoch"] == 1 and final["epoch"] == 2 and snapshot["gold_reward"] != final["gold_reward"]
    logs = pd.read_csv(run / "results" / TASK / "tables" / "train_logs.csv")
    assert {"task", "method", "beta", "seed", "step", "logps_chosen", "is_weight_mean"} <= set(logs.columns)
    assert set(logs["method"]) == set(TOY["dynamics"]["methods"])


def test_report_bundles_figures_and_tables(run):
    snakemake(run, "--report", "results/report.html")
    html = (run / "results" / "report.html").read_text(errors="replace")
    for name in [f"{f}.png" for f in SHOWN] + ["summary.html", "cells.html", "How to read this report"]:
        assert name in html, name
    # Captions say what the figures were drawn from.
    assert f"each policy sampled 2 times on {TOY['data']['toy']['n_eval_prompts']}" in html
    summary = (run / "results" / TASK / "tables" / "summary.html").read_text()
    assert "<table" in summary and "IS-DPO (ε=1)" in summary and "SFT (reference)" in summary


def test_nothing_to_do_after_a_run(run):
    out = snakemake(run, "-n", "all")
    assert "Nothing to be done" in out.stdout + out.stderr


# --- the cache contract: a config edit plans exactly the jobs whose inputs it changes ----

def plan(run, config, tmp_path, target="all"):
    """(rule, wildcards) of every job `snakemake -n target` plans under `config`."""
    path = write_config(tmp_path, config, name="edited.yaml")
    out = snakemake(run, "-n", target, configfile=path)
    return planned_jobs(out.stdout)


def edited(**sections):
    config = copy.deepcopy(SMOKE)
    for dotted, value in sections.items():
        *parents, key = dotted.split("__")
        node = config
        for parent in parents:
            node = node.setdefault(parent, {})
        node[key] = value
    return config


FIGURE_JOBS = {("plot", f"task={TASK}, figure={f}") for f in SHOWN} | {
    ("headline_figure", f"figure={f}, ext={ext}") for f in SHOWN for ext in ("pdf", "png")}
PAGE_JOBS = {("table_pages", f"task={TASK}")}
TABLE_JOBS = {("aggregate", f"task={TASK}"), ("all_tasks_tables", ""), ("all", "")} | PAGE_JOBS
RUNS = ["sft"] + [f"{m}/beta{b}/seed1" for m, b in CELLS] + [
    f"{m}/beta0.1/seed1/epoch{e}" for m in TOY["dynamics"]["methods"] for e in ("0.5", "1", "1.5")]


def test_evaluation_settings_rerun_evaluation_only(run, tmp_path):
    config = edited(**{f"tasks__{TASK}__evaluation": {"one_job": True, "temperature": 0.9}})
    expected = {("evaluate", f"task={TASK}, run={r}") for r in RUNS} | TABLE_JOBS | FIGURE_JOBS
    assert plan(run, config, tmp_path) == expected


def test_sampling_batch_size_is_a_result_setting_under_batch_seeds_and_checkpointing_is_not(run, tmp_path):
    """The toy draws one random stream per batch (`seed_scope: batch`): its sampling batch
    size changes the samples, so it reruns them; checkpoint and logging frequency never do."""
    config = edited(**{f"tasks__{TASK}__evaluation": {"one_job": True, "batch_size": 100}})
    expected = {("evaluate", f"task={TASK}, run={r}") for r in RUNS} | TABLE_JOBS | FIGURE_JOBS
    assert plan(run, config, tmp_path) == expected
    config = copy.deepcopy(SMOKE)
    config["tasks"][TASK]["preference_training"].update(save_steps=3, logging_steps=1)
    config["tasks"][TASK].setdefault("preference_data", {})["batch_size"] = 100
    jobs = plan(run, config, tmp_path)
    assert ("label_preferences", f"task={TASK}") in jobs and ("reference_logps", f"task={TASK}") in jobs
    config["tasks"][TASK]["preference_data"].pop("batch_size")
    assert plan(run, config, tmp_path) == set()


def test_plot_settings_and_labels_rerun_plots_only(run, tmp_path):
    assert plan(run, edited(plots={"kl_estimator": "kl_k1"}), tmp_path) == FIGURE_JOBS | {("all", "")}
    relabelled = copy.deepcopy(SMOKE)
    relabelled["methods"]["dpo"]["label"] = "DPO (sigmoid)"
    assert plan(run, relabelled, tmp_path) == FIGURE_JOBS | PAGE_JOBS | {("all", "")}


def test_a_new_beta_or_a_changed_method_reruns_only_its_cells(run, tmp_path):
    config = copy.deepcopy(SMOKE)
    config["tasks"][TASK]["grid"]["betas"] = [0.1, 1.0, 2.0]
    expected = {("train_preference", f"task={TASK}, method={m}, beta=2, seed=1") for m in TOY["grid"]["methods"]}
    expected |= {("evaluate", f"task={TASK}, run={m}/beta2/seed1") for m in TOY["grid"]["methods"]}
    assert plan(run, config, tmp_path) == expected | TABLE_JOBS | FIGURE_JOBS

    config = copy.deepcopy(SMOKE)
    config["methods"]["is_dpo"]["is_eps"] = 0.5
    expected = {("train_preference", f"task={TASK}, method=is_dpo, beta={b}, seed=1") for b in ("0.1", "1")}
    expected |= {("evaluate", f"task={TASK}, run={r}") for r in RUNS if r.startswith("is_dpo/")}
    assert plan(run, config, tmp_path) == expected | TABLE_JOBS | FIGURE_JOBS


def test_key_order_and_defaults_written_out_change_nothing(run, tmp_path):
    def reverse(node):
        return {k: reverse(node[k]) for k in reversed(list(node))} if isinstance(node, dict) else node

    config = reverse(copy.deepcopy(SMOKE))
    toy = config["tasks"][TASK]
    toy["evaluation"]["top_p"] = 0.95  # the schema default, written out
    toy["preference_training"]["max_grad_norm"] = 1  # the default 1.0, spelled as an integer
    toy["preference_training"]["epochs"] = 2.0  # written 2 in the smoke config
    toy["sampling"]["backend"] = "hf"
    assert plan(run, config, tmp_path) == set()


def test_forcing_one_cell_reruns_its_chain_and_the_plots_only(run):
    out = snakemake(run, "-n", "results/figures/kl_tradeoff.pdf", "--forcerun", f"results/{TASK}/dpo/beta1/seed1/model")
    assert planned_jobs(out.stdout) == {
        ("train_preference", f"task={TASK}, method=dpo, beta=1, seed=1"), ("evaluate", f"task={TASK}, run=dpo/beta1/seed1"),
        ("aggregate", f"task={TASK}"), ("plot", f"task={TASK}, figure=kl_tradeoff"),
        ("headline_figure", "figure=kl_tradeoff, ext=pdf"),
    }


# --- by hand, outside Snakemake ----------------------------------------------------------

def test_cli_train_reproduces_a_cell_bit_for_bit_and_never_touches_the_cell(run, tmp_path):
    folder = cell(run, "is_dpo", "0.1")
    before = (folder / "model" / "model.safetensors").stat().st_mtime_ns
    subprocess.run([sys.executable, "-m", "isdaa", "train", "--config", folder / "config.yaml"], cwd=run, check=True,
                   capture_output=True)
    manual = folder / "manual"
    ours = load_file(manual / "model" / "model.safetensors")
    theirs = load_file(folder / "model" / "model.safetensors")
    assert ours.keys() == theirs.keys() and all((ours[k] == theirs[k]).all() for k in ours)
    assert (folder / "model" / "model.safetensors").stat().st_mtime_ns == before
    assert (manual / "config.yaml").exists()  # what `evaluate` reads beside the model
    assert "Nothing to be done" in snakemake(run, "-n", "all").stdout  # the workflow's outputs are untouched
    # A manual run's folder holds what evaluate needs; on CPU it reproduces the cell's metrics.
    subprocess.run([sys.executable, "-m", "isdaa", "evaluate", "--model-path", manual / "model", "--study",
                    run / "config.yaml"], cwd=run, check=True, capture_output=True)
    assert json.loads((manual / "manual_eval" / "metrics.json").read_text()) == json.loads(
        (folder / "metrics.json").read_text())


def test_cli_evaluate_reproduces_metrics(run, tmp_path):
    folder = cell(run, "dpo", "1")
    subprocess.run([sys.executable, "-m", "isdaa", "evaluate", "--model-path", folder / "model", "--study",
                    run / "config.yaml", "--output-dir", tmp_path], cwd=run, check=True, capture_output=True)
    assert json.loads((tmp_path / "metrics.json").read_text()) == json.loads((folder / "metrics.json").read_text())


def test_cli_plot_redraws_the_figure_in_any_format(run, tmp_path):
    out = tmp_path / "kl_tradeoff.png"
    subprocess.run([sys.executable, "-m", "isdaa", "plot", "--summary", run / "results" / "tables" / "summary.csv",
                    "--config", run / "config.yaml", "--output", out], check=True, capture_output=True)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
