"""config/paper.yaml: every value sourced, its whole DAG planned on a machine without the
hub or its cache, a real run stopped before any job with what to fetch, and
config/paper-smoke.yaml the same study with only sizes and paths changed."""

import hashlib
import json
import os
import shutil
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from paper_smoke import OVERRIDES, PAPER, SMOKE, key_paths, render
from workflow_helpers import job_stats, snakemake, write_config

from isdaa.config import load_config, snapshot_epochs
from isdaa.fetch import command, hub_items

SOURCE_TAG = re.compile(r"#.*\[(paper|hub|is|ais|judges|ours)\]")


def flat(node, prefix=""):
    """{dotted key: leaf value} of a YAML tree (lists, and the mappings the smoke replaces
    whole, are leaves)."""
    out = {}
    for key, value in node.items():
        path = f"{prefix}.{key}" if prefix else key
        whole = path in OVERRIDES
        out.update(flat(value, path) if isinstance(value, dict) and value and not whole else {path: value})
    return out


def test_every_value_of_the_paper_config_names_its_source():
    text = PAPER.read_text()
    unsourced = [path for i, path, match in key_paths(text)
                 if match["value"].strip() and not SOURCE_TAG.search(match["comment"] or "")]
    assert unsourced == [], f"values of config/paper.yaml without a [paper]/[hub]/[is]/[ais]/[ours] comment: {unsourced}"
    # Values the paper does not give say so.
    assert "# [ours] chi-PO's clip R is not given by the paper" in text


def test_the_smoke_config_is_the_paper_config_with_only_sizes_and_paths_changed():
    assert SMOKE.read_text() == render(), "config/paper-smoke.yaml is stale: run `.venv/bin/python tests/paper_smoke.py`"
    paper, smoke = flat(yaml.safe_load(PAPER.read_text())), flat(yaml.safe_load(SMOKE.read_text()))
    assert paper.keys() == smoke.keys()
    changed = {k for k in paper if paper[k] != smoke[k]}
    allowed = {k for k in paper if any(k == o or k.startswith(o + ".") for o in OVERRIDES)}
    assert changed and changed <= allowed, sorted(changed - allowed)
    # Rules, sources and methods are the paper's: formats, modes, losses, recipes' shapes.
    for key in ("tasks.tldr.data.sft.format", "tasks.tldr.preference_data.mode", "tasks.tldr.sampling.backend",
                "tasks.tldr.gold.format", "tasks.tldr.preference_data.pairing", "tasks.tldr.evaluation.one_job",
                "tasks.tldr.preference_training.lr_scheduler_type", "methods.is_dpo.is_eps"):
        assert paper[key] == smoke[key], key


def offline_env(tmp_path):
    """No hub, and an empty Hugging Face cache: what CI or a login node has."""
    return dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(tmp_path / "hf-home"))


def test_the_paper_dag_plans_offline_without_the_hub_or_its_cache(tmp_path, monkeypatch):
    env = offline_env(tmp_path)
    out = snakemake(tmp_path, "-n", "all", configfile=PAPER, env=env)
    stats = job_stats(out.stdout)
    config = load_config(PAPER, check_availability=False)
    task = config["tasks"]["tldr"]
    training = task["preference_training"]
    snapshots = len(snapshot_epochs(training["epochs"], training["snapshots_per_epoch"]))
    cells = 9 * 3 * 3
    policies = cells + 1 + snapshots * len(task["dynamics"]["methods"])  # the cells, SFT, the dynamics snapshots
    # The instruction-following study: the nine methods x three betas x one seed, no dynamics.
    instruction = 9 * 3
    assert stats["train_preference"] == cells + instruction == 108
    assert stats["sample"] == stats["score"] == policies + instruction + 1 and "evaluate" not in stats
    for each_task in ("prepare_sft", "prepare_pairs", "prepare_eval", "sft", "score_references", "reference_logps",
                      "data_report", "aggregate", "table_pages"):
        assert stats[each_task] == 2, each_task
    assert stats["relabel_pairs"] == 1 and stats["import_pairs"] == 1  # TL;DR relabels, UltraFeedback is imported
    assert stats["all_tasks_tables"] == 1
    assert "build_model" not in stats and "label_preferences" not in stats
    assert stats["plot"] == 4 + 3 and stats["headline_figure"] == 8  # no clip ablation; no dynamics for instruction
    # Its benchmarks: each policy (SFT and 27 cells) answers and is judged on each of the three.
    assert stats["benchmark_data"] == 3 and stats["benchmark_answers"] == 3 * (instruction + 1)
    for rule in ("judge_alpaca_eval", "judge_arena_hard", "judge_mt_bench"):
        assert stats[rule] == instruction + 1, rule
    assert stats["benchmark_table"] == stats["plot_benchmarks"] == 1
    # The dry run says what a real run would miss, and how to get it, and what the judges will cost.
    assert "meta-llama/Llama-3.2-3B" in out.stderr and "python -m isdaa fetch" in out.stderr
    assert "instruction alpaca_eval 2.0 (judge gpt-4-1106-preview): 28 policies x 805 questions x 1 = 22,540 judge " \
           "calls at most" in out.stderr
    assert "mt_bench 1 (judge gpt-4): 28 policies x 80 questions x 2 = 4,480" in out.stderr


def test_a_real_run_without_the_checkpoints_or_data_stops_before_any_job(tmp_path):
    out = snakemake(tmp_path, "--cores", "1", "all", configfile=PAPER, env=offline_env(tmp_path), check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "config key tasks.tldr.model.path = 'meta-llama/Llama-3.2-3B'" in text
    assert "hf download meta-llama/Llama-3.2-3B" in text
    assert "hf download --repo-type dataset vwxyzjn/summarize_from_feedback_oai_preprocessing_1706381144" in text
    assert "config key tasks.tldr.gold.path = 'DatPySci/Llama-3.1-8B-rm-mixture'" in text
    assert not (tmp_path / "results").exists()


def test_fetch_lists_every_hub_checkpoint_and_dataset_once(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.chdir(REPO)  # the smoke config's paths are relative to the repository
    items = hub_items(load_config(PAPER, check_availability=False))
    assert {(i["repo_type"], i["repo_id"], i.get("filename")) for i in items} == {
        ("model", "meta-llama/Llama-3.2-3B", None), ("model", "DatPySci/Llama-3.1-8B-rm-mixture", None),
        ("model", "meta-llama/Llama-3.2-3B-Instruct", None),
        ("dataset", "vwxyzjn/summarize_from_feedback_tldr_3_filtered_oai_preprocessing_1706381144", None),
        ("dataset", "vwxyzjn/summarize_from_feedback_oai_preprocessing_1706381144", None),
        ("dataset", "HuggingFaceH4/ultrachat_200k", None), ("dataset", "HuggingFaceH4/ultrafeedback_binarized", None),
        # The benchmarks' hub files, one by one (not their whole repositories).
        ("dataset", "tatsu-lab/alpaca_eval", "alpaca_eval_gpt4_baseline.json"),
        ("dataset", "tatsu-lab/alpaca_eval", "df_gamed.csv"),
        ("dataset", "lmarena-ai/arena-hard-auto", "data/arena-hard-v0.1/question.jsonl"),
        ("dataset", "lmarena-ai/arena-hard-auto", "data/arena-hard-v0.1/model_answer/gpt-4-0314.jsonl"),
    }
    assert command(next(i for i in items if i["repo_type"] == "dataset")).startswith("hf download ")
    assert command(next(i for i in items if i.get("filename") == "df_gamed.csv")) == \
        "hf download --repo-type dataset tatsu-lab/alpaca_eval df_gamed.csv"
    # The smoke config reads local copies only: nothing to fetch.
    assert hub_items(load_config(SMOKE, check_availability=False)) == []


def fake_snapshot(hub: Path, repo_type: str, repo_id: str, files: dict) -> str:
    """A repository as `hf download` leaves it in the cache: snapshots/<commit>/ and refs/main.
    `files`: name -> text, or a folder whose files to copy."""
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    folder = hub / f"{repo_type}s--{repo_id.replace('/', '--')}"
    snapshot = folder / "snapshots" / commit
    for name, content in files.items():
        if isinstance(content, Path):
            shutil.copytree(content, snapshot, dirs_exist_ok=True)
            continue
        (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
        (snapshot / name).write_text(content)
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    return commit


def test_fetch_resolves_each_item_and_says_which_commit_to_pin(tmp_path):
    """On a networked machine `fetch` downloads; here the cache already holds the items
    (offline, huggingface_hub resolves them from it), which runs the same code path."""
    hub, data = tmp_path / "hf-home" / "hub", REPO / "tests" / "data" / "hub"
    policy = json.dumps({"architectures": ["LlamaForCausalLM"]})
    reward = json.dumps({"architectures": ["LlamaForSequenceClassification"], "id2label": {"0": "LABEL_0"}})
    sft_id = "vwxyzjn/summarize_from_feedback_tldr_3_filtered_oai_preprocessing_1706381144"
    pref_id = "vwxyzjn/summarize_from_feedback_oai_preprocessing_1706381144"
    commits = {
        "meta-llama/Llama-3.2-3B": fake_snapshot(hub, "model", "meta-llama/Llama-3.2-3B", {"config.json": policy}),
        "DatPySci/Llama-3.1-8B-rm-mixture": fake_snapshot(hub, "model", "DatPySci/Llama-3.1-8B-rm-mixture",
                                                          {"config.json": reward}),
        sft_id: fake_snapshot(hub, "dataset", sft_id, {"": data / sft_id}),
        pref_id: fake_snapshot(hub, "dataset", pref_id, {"": data / pref_id}),
        # A tokenizer with a chat template (the tiny checkpoint's) stands in for Llama's.
        "meta-llama/Llama-3.2-3B-Instruct": fake_snapshot(hub, "model", "meta-llama/Llama-3.2-3B-Instruct", {
            "": REPO / "tests" / "data" / "checkpoints" / "tiny-llama-smollm2"}),
        "HuggingFaceH4/ultrachat_200k": fake_snapshot(hub, "dataset", "HuggingFaceH4/ultrachat_200k",
                                                      {"": data / "HuggingFaceH4/ultrachat_200k"}),
        "HuggingFaceH4/ultrafeedback_binarized": fake_snapshot(hub, "dataset", "HuggingFaceH4/ultrafeedback_binarized",
                                                               {"": data / "HuggingFaceH4/ultrafeedback_binarized"}),
        "tatsu-lab/alpaca_eval": fake_snapshot(hub, "dataset", "tatsu-lab/alpaca_eval",
                                               {"alpaca_eval_gpt4_baseline.json": "[]", "df_gamed.csv": "index\n"}),
        "lmarena-ai/arena-hard-auto": fake_snapshot(hub, "dataset", "lmarena-ai/arena-hard-auto", {
            "data/arena-hard-v0.1/question.jsonl": "", "data/arena-hard-v0.1/model_answer/gpt-4-0314.jsonl": ""}),
    }
    out = subprocess.run([sys.executable, "-m", "isdaa", "fetch", "--configfile", PAPER], capture_output=True, text=True,
                         env=offline_env(tmp_path), cwd=REPO)
    assert out.returncode == 0, out.stderr
    for repo_id, commit in commits.items():
        assert f"{repo_id}: commit {commit}" in out.stdout
    assert f"pin it: tasks.tldr.data.sft.revision: {commits[sft_id]}" in out.stdout


def smoke_with(edit) -> dict:
    config = yaml.safe_load(SMOKE.read_text())
    edit(config["tasks"]["tldr"])
    return config


BAD_INPUT = {
    "a path that does not exist": (lambda t: t["data"]["sft"].update(path="tests/data/hub/no/such-set"),
                                   "config key tasks.tldr.data.sft.path = 'tests/data/hub/no/such-set': no such file"),
    "a split the set does not have": (lambda t: t["data"]["eval"].update(split="test"),
                                      "config key tasks.tldr.data.eval.split = 'test': no such split"),
    "a mapping that does not fit": (
        lambda t: t["data"]["preferences"].update(
            format="preference", path="tests/data/hub/DatPySci/Llama-3.1-8B-rm-tldr-pref", split="train",
            columns={"prompt": "query", "chosen": "chosen", "rejected": "rejected"}),
        "config key tasks.tldr.data.preferences.columns.prompt = 'query': no such column"),
    # (the raw format's template is SmolLM2's no special tokens: tests/test_data_sources.py checks a chat
    # template's length against the limits)
    "limits that leave no room for a response": (
        lambda t: t["preference_data"].update(max_length=200),
        "config key tasks.tldr.preference_data.max_length = 200: must be above "
        "tasks.tldr.preference_data.max_prompt_length = 256"),
    "a hub id not cached while offline": (
        lambda t: t["data"]["eval"].update(path="org/not-cached-set"), None),
}


@pytest.mark.parametrize("case", list(BAD_INPUT), ids=list(BAD_INPUT))
def test_bad_data_input_fails_before_any_job_naming_the_key(tmp_path, case):
    edit, message = BAD_INPUT[case]
    os.symlink(REPO / "tests", tmp_path / "tests")
    path = write_config(tmp_path, smoke_with(edit), name="bad.yaml")
    out = snakemake(tmp_path, "--cores", "1", "all", configfile=path, env=offline_env(tmp_path), check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0
    if message is None:  # planned (a dry run works), then stopped before the first job with the fetch command
        assert "config key tasks.tldr.data.eval.path = 'org/not-cached-set': dataset not in the Hugging Face cache" in text
        assert "hf download --repo-type dataset org/not-cached-set" in text
    else:
        assert message in text, text[-2000:]
        # A first parse error: nothing planned, nothing run.
        assert "Job stats" not in text
    assert not (tmp_path / "results").exists()
