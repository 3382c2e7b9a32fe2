"""config/paper-smoke.yaml end to end on CPU: the paper's rules and sources on small files in
the hub datasets' formats (bad rows included), tiny models on a real BPE tokenizer, vLLM
sampling, relabelling by a reward model; then the cache contract on the finished run:
execution settings rerun nothing, result settings rerun exactly what they change."""

import copy
import json
import os

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO
from transformers import AutoTokenizer
from workflow_helpers import planned_jobs, snakemake, write_config

pytestmark = [pytest.mark.slow, pytest.mark.vllm]
SMOKE_PATH = REPO / "config" / "paper-smoke.yaml"
SMOKE = yaml.safe_load(SMOKE_PATH.read_text())
TASK = "tldr"
CELLS = ["dpo/beta0.1/seed1", "is_dpo/beta0.1/seed1"]


def study_folder(workdir):
    """A working folder where the config's relative paths (tests/data/...) resolve."""
    os.symlink(REPO / "tests", workdir / "tests")
    return workdir


@pytest.fixture(scope="module")
def run(paper_smoke_run):
    return paper_smoke_run


def results(run):
    return run / "results" / TASK


def test_the_data_report_counts_every_dropped_row_by_source_and_reason(run):
    report = json.loads((results(run) / "data" / "report.json").read_text())
    assert set(report["sources"]) == {"sft", "preferences", "eval"}
    for role, source in report["sources"].items():
        assert 0 < source["rows_kept"] < source["rows_read"], role
        assert sum(source["dropped"].values()) == source["rows_read"] - source["rows_kept"], role
        assert source["source"]["files"] and source["source"]["split"], role  # file hashes: what was read
    # The committed preference set holds a bad row of every kind (tests/data/hub/README.md).
    assert {"empty", "identical_pair", "duplicate", "prompt_too_long"} <= set(report["sources"]["preferences"]["dropped"])
    pairs = report["pairs"]
    assert pairs["mode"] == "relabel" and pairs["behavior"] == "recorded"
    assert pairs["pairs"] == len(pd.read_parquet(results(run) / "data" / "preferences.parquet"))


def test_relabelled_pairs_are_token_exact_on_the_policys_tokenizer(run):
    data = results(run) / "data"
    tokenizer = AutoTokenizer.from_pretrained(REPO / "tests" / "data" / "checkpoints" / "tiny-llama-smollm2")
    prefs = pd.read_parquet(data / "preferences.parquet")
    settings = SMOKE["tasks"][TASK]["preference_data"]
    prompts = min(pd.read_parquet(data / "source_pairs.parquet")["prompt_id"].nunique(), settings["max_prompts"])
    assert prefs["prompt_id"].nunique() == prompts  # the first max_prompts distinct prompts of the set
    # The authors' pairing: up to 4 pairs of the 4 samples of each prompt.
    assert prefs.groupby("prompt_id").size().max() <= settings["pairs_per_prompt"]
    assert len(prefs) > 2 * prompts
    assert (prefs["chosen_gold"] >= prefs["rejected_gold"]).all()  # argmax labels
    first = prefs.iloc[0]
    # A raw prompt: the TL;DR query's own tokens, ending in "TL;DR:".
    assert tokenizer.decode(first["prompt_ids"]).endswith("TL;DR:") and first["prompt"].endswith("TL;DR:")
    assert np.isfinite(prefs["behavior_chosen_logp"]).all() and np.isfinite(prefs["behavior_rejected_logp"]).all()
    # Behaviour log-probs are the SFT policy's at the sampling temperature (0.8), not the
    # reference's at temperature 1: the importance weights then differ from one.
    ref = pd.read_parquet(results(run) / "reference_logps.parquet").merge(prefs, on="pair_id")
    assert not np.allclose(ref["reference_chosen_logp"], ref["behavior_chosen_logp"], atol=1e-3)
    evals = pd.read_parquet(data / "eval_prompts.parquet")
    assert len(evals) == SMOKE["tasks"][TASK]["evaluation"]["max_prompts"] and evals["reference_gold"].notna().all()
    assert evals["prompt_id"].is_unique and not evals["reference"].str.contains("<|endoftext|>", regex=False).any()


def test_every_cell_records_its_behaviour_policy_and_is_evaluated(run):
    for name in CELLS:
        cell = results(run) / name
        config = yaml.safe_load((cell / "config.yaml").read_text())
        assert config["behavior_used"] == ("recorded" if name.startswith("is_") else "none")
        metrics = json.loads((cell / "metrics.json").read_text())
        assert metrics["n_samples"] == 2 * SMOKE["tasks"][TASK]["evaluation"]["max_prompts"]
        assert np.isfinite(metrics["gold_reward"]) and metrics["kl_k3"] >= 0
    assert (run / "results" / "figures" / "kl_tradeoff.png").read_bytes()[:4] == b"\x89PNG"
    assert "Nothing to be done" in snakemake(run, "-n", "all", configfile=SMOKE_PATH).stdout


# --- the cache contract on the finished run --------------------------------------------

def plan(run, config):
    path = write_config(run, config, name="edited.yaml")
    return planned_jobs(snakemake(run, "-n", "all", configfile=path).stdout)


def edited(**changes):
    """The smoke config with `section__key=value` changes to its task (or `top__key`)."""
    config = copy.deepcopy(SMOKE)
    for dotted, value in changes.items():
        node = config["tasks"][TASK]
        *parents, key = dotted.split("__")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[key] = value
    return config


EXECUTION_EDITS = {
    "preference_data.batch_size": dict(preference_data__batch_size=8),
    "sampling.vllm_kv_cache_gb": dict(sampling__vllm_kv_cache_gb=0.5),
    "sampling.vllm_max_model_len": dict(sampling__vllm_max_model_len=1024),
    "evaluation.batch_size": dict(evaluation__batch_size=4),
    "gold.batch_size": dict(gold__batch_size=3),
    "preference_training.save_steps": dict(preference_training__save_steps=50),
    "preference_training.logging_steps": dict(preference_training__logging_steps=1),
    "per-device batch against accumulation": dict(preference_training__per_device_batch_size=4),
    "no accumulation": dict(preference_training__per_device_batch_size=None),
    "sft per-device batch": dict(sft__per_device_batch_size=16, sft__logging_steps=1),
    "threads": dict(threads=2),
    "GPUs per job": dict(resources__per_rule__train_preference={"gpu": 2, "mem_mb": 8000, "runtime": 60}),
}


@pytest.mark.parametrize("edit", list(EXECUTION_EDITS), ids=list(EXECUTION_EDITS))
def test_an_execution_setting_reruns_nothing(run, edit):
    assert plan(run, edited(**EXECUTION_EDITS[edit])) == set()


RUNS = ["sft", *CELLS, "dpo/beta0.1/seed1/epoch0.5"]
TABLES = {("aggregate", f"task={TASK}"), ("table_pages", f"task={TASK}"), ("all_tasks_tables", ""), ("all", "")}


def test_result_settings_rerun_exactly_what_they_change(run):
    jobs = plan(run, edited(evaluation__temperature=0.9))
    evaluations = {(rule, f"task={TASK}, run={r}") for rule in ("sample", "score") for r in RUNS}
    assert evaluations <= jobs and not any(rule in ("train_preference", "relabel_pairs", "sft") for rule, _ in jobs)
    assert {rule for rule, _ in jobs - evaluations} <= {"aggregate", "table_pages", "all_tasks_tables", "all",
                                                        "plot", "headline_figure"}
    # The global batch is a result setting: every cell retrains, nothing upstream reruns.
    jobs = plan(run, edited(preference_training__batch_size=8, preference_training__per_device_batch_size=None))
    assert {w for r, w in jobs if r == "train_preference"} == {
        f"task={TASK}, method={m}, beta=0.1, seed=1" for m in ("dpo", "is_dpo")}
    assert not any(rule in ("relabel_pairs", "reference_logps", "sft", "prepare_pairs") for rule, _ in jobs)
    # The behaviour temperature changes the pairs: relabelling and everything after it.
    jobs = plan(run, edited(preference_data__temperature=0.9))
    assert {"relabel_pairs", "reference_logps", "train_preference", "sample", "score", "data_report"} <= {
        r for r, _ in jobs}
    assert not any(rule in ("sft", "prepare_sft", "prepare_pairs", "prepare_eval", "score_references")
                   for rule, _ in jobs)


def test_the_sets_own_pairs_human_or_released_without_any_model(tmp_path):
    """mode human / released take data.preferences' pairs as they are (no sampling):
    the released set's gold scores are kept, its bad scores counted."""
    workdir = study_folder(tmp_path)
    human = edited(preference_data__mode="human", preference_data__behavior="reference")
    path = write_config(workdir, human, name="human.yaml")
    snakemake(workdir, "--cores", "1", f"results/{TASK}/data/preferences.parquet", configfile=path)
    pairs = pd.read_parquet(workdir / "results" / TASK / "data" / "preferences.parquet")
    source = json.loads((workdir / "results" / TASK / "data" / "sources" / "preferences.json").read_text())
    assert len(pairs) == source["rows_kept"] and "chosen_gold" not in pairs
    labelling = json.loads((workdir / "results" / TASK / "data" / "labelling.json").read_text())
    assert labelling == {"mode": "human", "behavior": "reference", "pairs": len(pairs),
                         "prompts": int(pairs["prompt_id"].nunique()), "with_gold": False, "with_behavior": False}

    released = edited(preference_data__mode="released", preference_data__behavior="reference")
    released["tasks"][TASK]["data"]["preferences"] = {
        "format": "preference", "path": "tests/data/hub/DatPySci/Llama-3.1-8B-rm-tldr-pref", "split": "train",
        "columns": {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected", "chosen_gold": "chosen_score",
                    "rejected_gold": "rejected_score"}}
    path = write_config(workdir, released, name="released.yaml")
    snakemake(workdir, "--cores", "1", f"results/{TASK}/data/preferences.parquet", configfile=path)
    pairs = pd.read_parquet(workdir / "results" / TASK / "data" / "preferences.parquet")
    source = json.loads((workdir / "results" / TASK / "data" / "sources" / "preferences.json").read_text())
    assert np.isfinite(pairs["chosen_gold"]).all() and source["dropped"].get("not_number", 0) >= 1
    assert source["source"]["path"].endswith("DatPySci/Llama-3.1-8B-rm-tldr-pref")


def test_pairs_without_behaviour_log_probs_need_the_reference_said_explicitly(tmp_path):
    workdir = study_folder(tmp_path)
    path = write_config(workdir, edited(preference_data__mode="human"), name="human.yaml")
    out = snakemake(workdir, "-n", "all", configfile=path, check=False)
    assert out.returncode != 0
    assert "tasks.tldr.preference_data.behavior = 'recorded'" in out.stdout + out.stderr
    assert "preference_data.behavior: reference" in out.stdout + out.stderr
