"""The reduced regime map end to end: the figure as a file target, its table, the cache."""

import copy

import pandas as pd
import pytest
import yaml
from conftest import REPO
from workflow_helpers import planned_jobs, snakemake, write_config

pytestmark = pytest.mark.slow

CONFIG = yaml.safe_load((REPO / "tests" / "configs" / "smoke-regime-map.yaml").read_text())
TOY = CONFIG["tasks"]["toy"]
REGIMES = list(TOY["regimes"])
BETAS = [0.1, 1.0]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("regime_map")
    write_config(workdir, CONFIG)
    snakemake(workdir, "--cores", "2", "results/figures/regime_map.pdf")
    return workdir


def tables(run):
    folder = run / "results" / "toy" / "tables"
    return (pd.read_csv(folder / "cells.csv"), pd.read_csv(folder / "regime_map.csv"),
            pd.read_csv(folder / "regime_map_summary.csv"))


def test_the_figure_and_its_table_cover_every_cell(run):
    # The target, and the PNG its job draws beside the task's PDF.
    assert (run / "results" / "figures" / "regime_map.pdf").read_bytes()[:5] == b"%PDF-"
    for ext in ("pdf", "png"):
        assert (run / "results" / "toy" / "figures" / f"regime_map.{ext}").stat().st_size > 10_000
    cells, table, summary = tables(run)
    # Every cell in its regime's folder; one SFT row per regime.
    assert set(cells["regime"]) == set(REGIMES)
    assert (cells[cells["method"] == "sft"]["regime"].tolist()) == REGIMES
    for regime in REGIMES:
        for method in TOY["grid"]["methods"]:
            for beta in ("0.1", "1"):
                assert (run / "results" / "toy" / "regimes" / regime / method / f"beta{beta}" / "seed1" /
                        "metrics.json").exists()
    # The figure's table: one row per cell of every compared variant, in every regime.
    expected = {(r, m, b) for r in REGIMES for m in TOY["regime_map"]["pairs"] for b in BETAS}
    assert set(zip(table["regime"], table["method"], table["beta"])) == expected and len(table) == len(expected)
    assert set(zip(summary["regime"], summary["method"])) == {(r, m) for r in REGIMES for m in TOY["regime_map"]["pairs"]}


def test_identical_methods_differ_by_exactly_zero_at_matched_kl(run):
    _, table, summary = tables(run)
    copy_rows = table[table["method"] == "dpo_copy"]
    assert copy_rows["in_range"].all() and (copy_rows["delta"] == 0).all()
    assert (summary[summary["method"] == "dpo_copy"]["delta_mean"] == 0).all()


def test_regimes_with_other_data_label_their_own_pairs(run):
    task = run / "results" / "toy"
    # The training-only regime trains on the task's pairs; the length-penalised one on its own.
    assert (task / "data" / "preferences.parquet").exists()
    assert not (task / "regimes" / "fast" / "data").exists()
    own = pd.read_parquet(task / "regimes" / "length_penalty" / "data" / "preferences.parquet")
    shared = pd.read_parquet(task / "data" / "preferences.parquet")
    assert list(own["chosen_ids"].map(list)) != list(shared["chosen_ids"].map(list)) or \
        not own["chosen_gold"].equals(shared["chosen_gold"])
    words = shared["chosen"].str.split().str.len()
    penalised = own.set_index("pair_id")["chosen_gold"]
    # Same samples (same seed), gold minus 0.5 per word.
    samples = dict(zip(zip(shared["prompt_id"], shared["chosen"]), shared["chosen_gold"] - 0.5 * words))
    hits = [abs(samples[k] - g) < 1e-9 for k, g in zip(zip(own["prompt_id"], own["chosen"]), penalised) if k in samples]
    assert hits and all(hits)


def test_a_rerun_is_a_no_op_and_one_cell_of_one_regime_is_one_target(run):
    out = snakemake(run, "-n", "results/figures/regime_map.pdf")
    assert planned_jobs(out.stdout) == set()
    cell = "results/toy/regimes/length_penalty/dpo/beta1/seed1"
    out = snakemake(run, "-n", "results/figures/regime_map.pdf", "--forcerun", f"{cell}/model")
    assert {rule for rule, _ in planned_jobs(out.stdout)} == {
        "train_preference", "evaluate", "aggregate", "regime_map_table", "plot", "headline_figure"}
    assert ("train_preference", "task=toy/regimes/length_penalty, method=dpo, beta=1, seed=1") in planned_jobs(
        out.stdout)
    assert sum(rule == "train_preference" for rule, _ in planned_jobs(out.stdout)) == 1


def test_editing_one_regime_reruns_only_its_cells(run, tmp_path):
    config = copy.deepcopy(CONFIG)
    config["tasks"]["toy"]["regimes"]["fast"]["preference_training"]["learning_rate"] = 0.001
    path = write_config(tmp_path, config, name="edited.yaml")
    jobs = planned_jobs(snakemake(run, "-n", "results/figures/regime_map.pdf", configfile=path).stdout)
    trained = {w for rule, w in jobs if rule == "train_preference"}
    assert len(trained) == len(TOY["grid"]["methods"]) * len(BETAS)
    assert all(w.startswith("task=toy/regimes/fast,") for w in trained)
    assert not {rule for rule, _ in jobs} & {"label_preferences", "reference_logps", "sft", "prepare_data"}
