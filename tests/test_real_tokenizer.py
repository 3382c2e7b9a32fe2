"""The whole DAG on a real BPE tokenizer with a chat template, a reward model as gold and
vLLM sampling (tests/configs/smoke-real-tokenizer.yaml): nothing in the workflow may
assume the toy's word-level tokenizer, its programmatic reward or the hf backend."""

import json
import os

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, require_vllm
from transformers import AutoTokenizer
from workflow_helpers import job_stats, snakemake, write_config

from isdaa.metrics import METRIC_KEYS

pytestmark = [pytest.mark.slow, pytest.mark.vllm]
CONFIG = yaml.safe_load((REPO / "tests" / "configs" / "smoke-real-tokenizer.yaml").read_text())
CELLS = ["dpo/beta0.1/seed1", "is_dpo/beta0.1/seed1"]


def study_folder(workdir, policy, reward_model):
    """A working folder with the config and its two checkpoints (linked where the config says)."""
    (workdir / "checkpoints").mkdir()
    os.symlink(policy, workdir / "checkpoints" / "policy")
    os.symlink(reward_model, workdir / "checkpoints" / "reward_model")
    write_config(workdir, CONFIG)
    return workdir


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_chat_policy_dir, tiny_reward_model_dir):
    require_vllm()
    workdir = study_folder(tmp_path_factory.mktemp("real-tokenizer"), tiny_chat_policy_dir, tiny_reward_model_dir)
    snakemake(workdir, "--cores", "2", "all")
    return workdir


def test_pairs_and_samples_are_token_exact_on_a_bpe_tokenizer(run, tiny_chat_policy_dir):
    task = run / "results" / "chat"
    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_policy_dir)
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    prefs = pd.read_parquet(task / "data" / "preferences.parquet")
    assert len(prefs) > 0.5 * CONFIG["tasks"]["chat"]["data"]["toy"]["n_train_prompts"]
    # Prompts went through the chat template, with the config's system prompt.
    first = tokenizer.decode(prefs["prompt_ids"].iloc[0])
    assert first.startswith("<|im_start|>system\nSummarise the document") and first.endswith("<|im_start|>assistant\n")
    # The shared reference pass (transformers) scored exactly what vLLM sampled: at
    # temperature 1 the behaviour log-probs are the reference's, to float32 precision.
    ref = pd.read_parquet(task / "reference_logps.parquet").merge(prefs, on="pair_id")
    np.testing.assert_allclose(ref["reference_chosen_logp"], ref["behavior_chosen_logp"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(ref["reference_rejected_logp"], ref["behavior_rejected_logp"], atol=1e-4, rtol=0)

    sft = pd.read_parquet(task / "sft" / "samples.parquet")
    finished = sft[sft["finished"]]
    assert all(ids[-1] == end for ids in finished["response_ids"])
    assert not sft["response"].str.contains("<|im_end|>", regex=False).any()
    # The SFT policy is the reference: vLLM's log-probs and transformers' agree per sample.
    np.testing.assert_allclose(sft["policy_logp"], sft["reference_logp"], atol=1e-4, rtol=0)
    metrics = json.loads((task / "sft" / "metrics.json").read_text())
    assert abs(metrics["kl_k1"]) < 1e-4 and metrics["kl_k3"] < 1e-6
    # The gold reward is the reward model's: a real score per sample, not a constant.
    assert sft["gold"].std() > 0 and np.isfinite(sft["gold"]).all()


def test_every_cell_is_sampled_and_scored_in_separate_jobs(run):
    task = run / "results" / "chat"
    for name in CELLS:
        metrics = json.loads((task / name / "metrics.json").read_text())
        assert list(metrics) == sorted(METRIC_KEYS) and metrics["kl_k3"] > 0
        assert (task / name / "generations.parquet").exists()
    assert list((task / "benchmarks" / "sample").rglob("*.tsv")) and list((task / "benchmarks" / "score").rglob("*.tsv"))
    assert not (task / "benchmarks" / "evaluate").exists()
    assert (run / "results" / "figures" / "kl_tradeoff.pdf").read_bytes()[:5] == b"%PDF-"
    assert (run / "results" / "figures" / "kl_tradeoff.png").read_bytes()[:4] == b"\x89PNG"
    assert "Nothing to be done" in snakemake(run, "-n", "all").stdout


def test_planned_jobs_of_the_real_tokenizer_study(tmp_path, tiny_chat_policy_dir, tiny_reward_model_dir):
    study_folder(tmp_path, tiny_chat_policy_dir, tiny_reward_model_dir)
    stats = job_stats(snakemake(tmp_path, "-n", "all").stdout)
    assert "build_model" not in stats  # the policy is a checkpoint
    assert stats["sample"] == stats["score"] == len(CELLS) + 1
