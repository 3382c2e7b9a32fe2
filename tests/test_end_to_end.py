"""The whole pipeline on a reduced config: artifacts, caching, and the CLI."""

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

from isdaa.metrics import METRIC_KEYS

pytestmark = pytest.mark.slow

SMOKE = yaml.safe_load((REPO / "tests" / "configs" / "smoke.yaml").read_text())
CELLS = [(m, b) for m in SMOKE["grid"]["methods"] for b in ("0.1", "1")]


@pytest.fixture(scope="module")
def run(smoke_local_run):
    return smoke_local_run  # conftest: shared with the SLURM tests


def cell(run, method, beta):
    return run / "results" / "toy" / method / f"beta{beta}" / "seed1"


def test_every_artifact_exists_with_sane_values(run):
    task = run / "results" / "toy"
    prefs = pd.read_parquet(task / "data" / "preferences.parquet")
    assert {"pair_id", "prompt", "chosen", "rejected", "behavior_chosen_logp", "behavior_rejected_logp",
            "chosen_gold", "rejected_gold"} <= set(prefs.columns)
    assert len(prefs) > 0.8 * SMOKE["toy"]["n_train_prompts"] and prefs["pair_id"].is_unique
    assert (prefs["chosen"] != prefs["rejected"]).all()
    ref = pd.read_parquet(task / "reference_logps.parquet")
    assert list(ref.columns) == ["pair_id", "reference_chosen_logp", "reference_rejected_logp"]
    # The behaviour policy is the SFT model at temperature 1: the shared reference pass must agree.
    merged = prefs.merge(ref, on="pair_id")
    assert np.allclose(merged["reference_chosen_logp"], merged["behavior_chosen_logp"], atol=1e-4)
    assert (merged["reference_rejected_logp"] < 0).all()
    evals = pd.read_parquet(task / "data" / "eval_prompts.parquet")
    assert len(evals) == SMOKE["toy"]["n_eval_prompts"]
    assert {"prompt_id", "prompt", "reference", "reference_gold"} <= set(evals.columns)

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
        assert {"prompt_id", "sample_idx", "response", "policy_logp", "reference_logp", "gold"} <= set(samples.columns)
        metrics = json.loads((folder / "metrics.json").read_text())
        assert list(metrics) == sorted(METRIC_KEYS)
        assert metrics["n_samples"] == 2 * SMOKE["toy"]["n_eval_prompts"] == len(samples)
        assert metrics["kl_k3"] >= 0 and metrics["kl_k3"] > 1e-4  # the policy moved
        assert 0 <= metrics["win_rate"] <= 1 and 0 <= metrics["malformed_rate"] <= 1
        assert -6 < metrics["gold_reward"] < 4
        assert not (folder / "checkpoints").exists()  # cleaned up on success

    sft = json.loads((task / "sft" / "metrics.json").read_text())
    assert sft["method"] == "sft" and abs(sft["kl_k1"]) < 1e-9 and abs(sft["kl_k3"]) < 1e-9

    cells = pd.read_csv(run / "results" / "tables" / "cells.csv")
    assert len(cells) == len(CELLS) + 1 and list(cells.columns) == METRIC_KEYS
    pdf = run / "results" / "figures" / "kl_tradeoff.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5000
    for rule in ("sft", "reference_logps", "aggregate"):
        assert list((run / "results").rglob(f"{rule}.tsv")), f"no benchmark for {rule}"


def test_every_figure_and_the_dynamics_tables(run):
    figures = run / "results" / "figures"
    for name in ("kl_tradeoff", "gold_vs_beta", "winrate_vs_beta", "training_dynamics", "is_eps_ablation"):
        pdf = figures / f"{name}.pdf"
        assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5000, name
    # The dynamics cells' snapshots (every half epoch of 2) are evaluated like cells.
    dynamics = pd.read_csv(run / "results" / "tables" / "dynamics.csv")
    assert list(dynamics.columns) == METRIC_KEYS
    selected = [(m, b) for m in SMOKE["dynamics"]["methods"] for b in SMOKE["dynamics"]["betas"]]
    assert len(dynamics) == 1 + 4 * len(selected)  # SFT, then epochs 0.5, 1, 1.5 and 2 of each cell
    assert sorted(dynamics["epoch"]) == [0.0] + sorted([0.5, 1.0, 1.5, 2.0] * len(selected))
    for method, beta in selected:
        snapshot = json.loads((cell(run, method, f"{beta:g}") / "epoch1" / "metrics.json").read_text())
        final = json.loads((cell(run, method, f"{beta:g}") / "metrics.json").read_text())
        assert snapshot["epoch"] == 1 and final["epoch"] == 2 and snapshot["gold_reward"] != final["gold_reward"]
    logs = pd.read_csv(run / "results" / "tables" / "train_logs.csv")
    assert {"method", "beta", "seed", "step", "logps_chosen", "is_weight_mean"} <= set(logs.columns)
    assert set(logs["method"]) == set(SMOKE["dynamics"]["methods"])


def test_report_bundles_figures_and_tables(run):
    snakemake(run, "--report", "results/report.html")
    html = (run / "results" / "report.html").read_text(errors="replace")
    for name in ("kl_tradeoff.pdf", "training_dynamics.pdf", "is_eps_ablation.pdf", "summary.csv"):
        assert name in html, name


def test_nothing_to_do_after_a_run(run):
    out = snakemake(run, "-n", "all")
    assert "Nothing to be done" in out.stdout + out.stderr


def test_changing_one_beta_reruns_only_that_cells_chain(run, tmp_path):
    changed = json.loads(json.dumps(SMOKE))
    for method in changed["grid"]["methods"]:
        changed["grid"]["per_method"][method]["betas"] = [0.1, 2.0]
    write_config(tmp_path, changed)
    (run / "config.yaml").rename(run / "config.orig.yaml")
    try:
        (run / "config.yaml").write_text((tmp_path / "config.yaml").read_text())
        out = snakemake(run, "-n", "results/figures/kl_tradeoff.pdf")
    finally:
        (run / "config.orig.yaml").replace(run / "config.yaml")
    expected = {("aggregate", ""), ("plot_kl_tradeoff", "")}
    for method in SMOKE["grid"]["methods"]:
        expected.add(("train_preference", f"method={method}, beta=2, seed=1"))
        expected.add(("evaluate", f"run={method}/beta2/seed1"))
    assert planned_jobs(out.stdout) == expected


def test_cli_train_reproduces_a_cell_bit_for_bit(run, tmp_path):
    folder = cell(run, "is_dpo", "0.1")
    subprocess.run([sys.executable, "-m", "isdaa", "train", "--config", folder / "config.yaml",
                    "--output-dir", tmp_path], cwd=run, check=True, capture_output=True)
    ours = load_file(tmp_path / "model" / "model.safetensors")
    theirs = load_file(folder / "model" / "model.safetensors")
    assert ours.keys() == theirs.keys()
    assert all((ours[k] == theirs[k]).all() for k in ours)


def test_cli_evaluate_reproduces_metrics(run, tmp_path):
    folder = cell(run, "dpo", "1")
    subprocess.run([sys.executable, "-m", "isdaa", "evaluate", "--model-path", folder / "model",
                    "--output-dir", tmp_path], cwd=run, check=True, capture_output=True)
    assert json.loads((tmp_path / "metrics.json").read_text()) == json.loads((folder / "metrics.json").read_text())


def test_cli_plot_redraws_the_figure_in_any_format(run, tmp_path):
    out = tmp_path / "kl_tradeoff.png"
    subprocess.run([sys.executable, "-m", "isdaa", "plot", "--summary", run / "results" / "tables" / "summary.csv",
                    "--config", run / "config.yaml", "--output", out], check=True, capture_output=True)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_forcing_one_cell_reruns_its_chain_and_the_plots_only(run):
    out = snakemake(run, "-n", "results/figures/kl_tradeoff.pdf", "--forcerun", "results/toy/dpo/beta1/seed1/model")
    assert planned_jobs(out.stdout) == {
        ("train_preference", "method=dpo, beta=1, seed=1"), ("evaluate", "run=dpo/beta1/seed1"),
        ("aggregate", ""), ("plot_kl_tradeoff", ""),
    }
