"""Hub data sources: finding and reading a source (every kind of path), the dataset
formats, bad-row counts and token limits, on the committed stand-ins of the hub sets
(tests/data/hub, counts in its README) and on small tables written here, with a real
BPE tokenizer (SmolLM2's)."""

import hashlib
import json
import math
import re

import datasets
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import REPO
from transformers import AutoTokenizer

from isdaa.config import ConfigError, validate_config
from isdaa.tasks import FORMATS
from isdaa.tasks.cleaning import REASONS, check_limits, prepare_role, template_length
from isdaa.tasks.preference_set import message_text
from isdaa.tasks.sources import check_source, hub_ids, is_cached, load_source
from isdaa.tokenization import encode_completions, encode_prompts

HUB = REPO / "tests" / "data" / "hub"
TLDR_SFT = HUB / "vwxyzjn" / "summarize_from_feedback_tldr_3_filtered_oai_preprocessing_1706381144"
TLDR_PREFERENCES = HUB / "vwxyzjn" / "summarize_from_feedback_oai_preprocessing_1706381144"
RELABELLED = HUB / "DatPySci" / "Llama-3.1-8B-rm-tldr-pref"
ULTRACHAT = HUB / "HuggingFaceH4" / "ultrachat_200k"
ULTRAFEEDBACK = HUB / "HuggingFaceH4" / "ultrafeedback_binarized"
TINY_POLICY = REPO / "tests" / "data" / "checkpoints" / "tiny-llama-smollm2"
GOLD_COLUMNS = {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected", "chosen_gold": "chosen_score",
                "rejected_gold": "rejected_score"}
RAW = {"prompt_format": "raw", "system_prompt": None}
CHAT = {"prompt_format": "chat", "system_prompt": "Summarise the post."}
INSTRUCT = {"prompt_format": "chat", "system_prompt": None}  # SmolLM2's template adds its own system message
LIMITS = {"max_prompt_length": 256, "max_length": 320}  # the smoke's limits
EVAL_LIMITS = {"max_prompt_length": 256, "max_length": None}
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def tokenizer(smollm2_tokenizer_dir):
    return AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)


@pytest.fixture(scope="module")
def policy_tokenizer():
    """The tokenizer of the committed tiny policy (SmolLM2's, with its chat template)."""
    return AutoTokenizer.from_pretrained(TINY_POLICY)


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path, monkeypatch):
    """`datasets` writes its Arrow copies into this test's folder, not the user's cache."""
    cache = tmp_path / "datasets-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    return cache


def spec(path, fmt="tldr_preferences", split="train", **fields):
    return {"format": fmt, "path": str(path), "revision": None, "split": split, "columns": None, "end_text": None,
            "max_rows": None, "drop_last_rows": 0, **fields}


def prepare(role, source, tokenizer, limits=None, over_length="drop", model=RAW):
    limits = limits or (EVAL_LIMITS if role == "eval" else LIMITS)
    return prepare_role(role, source, tokenizer, model, limits, over_length)


def dropped(report):
    return {reason: n for reason, n in report["dropped"].items() if n}


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------ the committed stand-ins


@pytest.mark.parametrize("split, kept, counts, examples", [
    ("train", 153, {"not_text": 2, "empty": 2, "prompt_too_long": 1, "duplicate": 2},
     {"not_text": [10, 20], "empty": [30, 40], "prompt_too_long": [50], "duplicate": [158, 159]}),
    ("validation", 20, {"not_text": 1, "empty": 1, "prompt_too_long": 1, "duplicate": 1},
     {"not_text": [3], "empty": [5], "prompt_too_long": [7], "duplicate": [23]}),
    ("test", 20, {"not_text": 1, "empty": 1, "prompt_too_long": 1, "duplicate": 1},
     {"not_text": [3], "empty": [5], "prompt_too_long": [7], "duplicate": [23]}),
])
def test_tldr_sft_set_reports_its_bad_rows(tokenizer, split, kept, counts, examples):
    table, report = prepare("sft", spec(TLDR_SFT, "tldr_sft", split), tokenizer)
    assert report["rows_kept"] == len(table) == kept
    assert dropped(report) == counts and report["examples"] == examples
    assert list(table.columns) == ["prompt", "response", "completion"]


def test_tldr_sft_set_serves_eval_with_its_reference_summary(tokenizer):
    prompts, report = prepare("eval", spec(TLDR_SFT, "tldr_sft", "validation"), tokenizer)
    hub = pq.read_table(TLDR_SFT / "data" / "validation-00000-of-00001.parquet").to_pandas()
    assert report["rows_kept"] == len(prompts) == 20 and report["dropped"]["duplicate"] == 1
    assert prompts.iloc[0][["prompt", "reference"]].tolist() == [hub["query"][0], hub["summary"][0]]


@pytest.mark.parametrize("split, role, kept, counts", [
    ("train", "preferences", 111, {"not_text": 2, "empty": 2, "identical_pair": 1, "prompt_too_long": 1,
                                   "duplicate": 2}),
    ("train", "eval", 58, {"not_text": 2, "empty": 1, "prompt_too_long": 1, "duplicate": 57}),
    ("validation", "preferences", 33, {"not_text": 1, "empty": 1, "identical_pair": 1, "prompt_too_long": 1,
                                       "duplicate": 1}),
    ("validation", "eval", 18, {"not_text": 1, "prompt_too_long": 1, "duplicate": 18}),
    ("validation_cnndm", "preferences", 5, {"not_text": 1, "empty": 1, "identical_pair": 1, "prompt_too_long": 1,
                                            "duplicate": 1}),
    ("validation_cnndm", "eval", 4, {"not_text": 1, "prompt_too_long": 1, "duplicate": 4}),
])
def test_tldr_preference_set_reports_its_bad_rows(tokenizer, split, role, kept, counts):
    table, report = prepare(role, spec(TLDR_PREFERENCES, split=split), tokenizer)
    assert report["rows_kept"] == len(table) == kept
    assert dropped(report) == counts
    assert report["rows_read"] == kept + sum(counts.values())


def test_tldr_preference_set_examples_name_the_rows(tokenizer):
    _, report = prepare("preferences", spec(TLDR_PREFERENCES), tokenizer)
    assert report["examples"] == {"not_text": [7, 18], "empty": [11, 22], "identical_pair": [15],
                                  "prompt_too_long": [116], "duplicate": [117, 118]}


@pytest.mark.parametrize("split, role, columns, kept, counts", [
    ("train", "preferences", GOLD_COLUMNS, 31, {"not_text": 1, "empty": 1, "identical_pair": 1, "not_number": 1,
                                                "prompt_too_long": 4, "duplicate": 2}),
    ("train", "preferences", {k: GOLD_COLUMNS[k] for k in ("prompt", "chosen", "rejected")}, 32,
     {"not_text": 1, "empty": 1, "identical_pair": 1, "prompt_too_long": 4, "duplicate": 2}),
    ("train", "eval", GOLD_COLUMNS, 9, {"not_text": 1, "prompt_too_long": 4, "duplicate": 27}),
    ("test", "preferences", GOLD_COLUMNS, 11, {"not_text": 1, "empty": 1, "identical_pair": 1, "not_number": 1,
                                               "prompt_too_long": 4, "duplicate": 1}),
    ("test", "eval", GOLD_COLUMNS, 4, {"empty": 1, "prompt_too_long": 4, "duplicate": 11}),
])
def test_relabelled_set_through_a_column_mapping(tokenizer, split, role, columns, kept, counts):
    table, report = prepare(role, spec(RELABELLED, "preference", split, columns=columns), tokenizer)
    assert report["rows_kept"] == len(table) == kept
    assert dropped(report) == counts


def test_gold_scores_are_kept_as_floats_under_our_names(tokenizer):
    table, _ = prepare("preferences", spec(RELABELLED, "preference", columns=GOLD_COLUMNS), tokenizer)
    source = pq.read_table(RELABELLED / "data" / "train-00000-of-00001.parquet").to_pandas()
    assert list(table.columns) == ["pair_id", "prompt_id", "prompt", "chosen", "rejected", "prompt_ids", "chosen_ids",
                                   "rejected_ids", "chosen_gold", "rejected_gold"]
    assert table["chosen_gold"].dtype == float and (table["chosen_gold"] >= table["rejected_gold"]).all()
    first = source.iloc[0]
    assert table.loc[0, "chosen_gold"] == first["chosen_score"] and table.loc[0, "chosen"] == first["chosen"].strip()


def test_raw_tldr_pair_is_prompt_ids_then_completion_ids_then_end_token(tokenizer):
    table, _ = prepare("preferences", spec(TLDR_PREFERENCES), tokenizer)
    source = pq.read_table(TLDR_PREFERENCES / "data" / "train-00000-of-00001.parquet").to_pandas()
    row, hub = table.iloc[0], source.iloc[0]
    summary = hub["summaries"][hub["choice"]]["text"]
    assert hub["chosen"] == f" {summary}<|endoftext|>"
    assert row["prompt"] == hub["query"] and row["chosen"] == summary  # end text cut, stripped
    assert list(row["prompt_ids"]) == tokenizer(hub["query"])["input_ids"]
    completion = tokenizer(" " + summary, add_special_tokens=False)["input_ids"]
    assert list(row["chosen_ids"]) == completion + [tokenizer.eos_token_id]
    # Token-exact: the pair is the tokenisation of prompt + completion, then the end token.
    whole = tokenizer(hub["query"] + " " + summary)["input_ids"]
    assert list(row["prompt_ids"]) + list(row["chosen_ids"]) == whole + [tokenizer.eos_token_id]
    assert "<|endoftext|>" not in tokenizer.decode(row["chosen_ids"])


def test_sft_completion_keeps_the_leading_space_and_drops_the_end_text(tokenizer):
    table, _ = prepare("sft", spec(TLDR_SFT, "tldr_sft"), tokenizer)
    hub = pq.read_table(TLDR_SFT / "data" / "train-00000-of-00001.parquet").to_pandas().iloc[0]
    assert table.iloc[0].to_dict() == {"prompt": hub["query"], "response": hub["summary"],
                                       "completion": " " + hub["summary"]}
    chat, _ = prepare("sft", spec(TLDR_SFT, "tldr_sft"), tokenizer, model=CHAT)
    assert chat.iloc[0]["completion"] == chat.iloc[0]["response"] == hub["summary"]


def test_report_holds_the_source_and_counts_every_row(tokenizer):
    _, report = prepare("eval", spec(TLDR_PREFERENCES, split="validation"), tokenizer)
    assert set(report) == {"role", "format", "source", "rows_read", "rows_kept", "dropped", "truncated", "ties",
                           "examples"}
    assert (report["role"], report["format"]) == ("eval", "tldr_preferences")
    assert list(report["dropped"]) == list(REASONS)
    assert report["rows_read"] == report["rows_kept"] + sum(report["dropped"].values()) == 38
    name = "data/validation-00000-of-00001.parquet"
    assert report["source"] == {"path": str(TLDR_PREFERENCES), "revision": None, "split": "validation",
                                "files": {name: sha256(TLDR_PREFERENCES / name)}}
    json.dumps(report)  # written as data/sources/<role>.json


def test_eval_has_one_row_per_prompt_with_stable_ids(tokenizer):
    pairs, _ = prepare("preferences", spec(TLDR_PREFERENCES), tokenizer)
    prompts, _ = prepare("eval", spec(TLDR_PREFERENCES), tokenizer)
    assert list(prompts.columns) == ["prompt_id", "prompt", "prompt_ids", "reference"]
    assert prompts["prompt"].is_unique and prompts["prompt_id"].is_unique
    assert all(re.fullmatch(r"p[0-9a-f]{16}", p) for p in prompts["prompt_id"])
    # The same prompt has the same id in every table.
    shared = prompts.merge(pairs[["prompt_id", "prompt"]].drop_duplicates(), on="prompt_id", suffixes=("", "_pair"))
    assert len(shared) > 50 and (shared["prompt"] == shared["prompt_pair"]).all()
    assert list(pairs["pair_id"]) == list(range(len(pairs)))


# ------------------------------------------------------------------ the instruction-following sets


def instruct(role, source, tokenizer, limits=None):
    """A role prepared as the instruction study prepares it: chat prompts, the smoke's limits."""
    return prepare(role, source, tokenizer, limits, model=INSTRUCT)


def hub_rows(root, split):
    return pq.read_table(root / "data" / f"{split}-00000-of-00001.parquet").to_pylist()


@pytest.mark.parametrize("split, kept, counts, examples", [
    ("train_sft", 111, {"not_text": 4, "empty": 2, "prompt_too_long": 1, "duplicate": 2},
     {"not_text": [5, 12, 33, 40], "empty": [19, 26], "prompt_too_long": [47], "duplicate": [118, 119]}),
    ("test_sft", 24, {"not_text": 2, "empty": 1, "prompt_too_long": 1, "duplicate": 2},
     {"not_text": [3, 7], "empty": [11], "prompt_too_long": [15], "duplicate": [28, 29]}),
    ("train_gen", 6, {"not_text": 1, "empty": 1, "prompt_too_long": 1, "duplicate": 1},
     {"not_text": [2], "empty": [4], "prompt_too_long": [6], "duplicate": [9]}),
    ("test_gen", 6, {"not_text": 1, "empty": 1, "prompt_too_long": 1, "duplicate": 1},
     {"not_text": [2], "empty": [4], "prompt_too_long": [6], "duplicate": [9]}),
])
@pytest.mark.parametrize("role", ["sft", "eval"])
def test_ultrachat_reports_its_bad_rows(policy_tokenizer, split, role, kept, counts, examples):
    table, report = instruct(role, spec(ULTRACHAT, "ultrachat", split), policy_tokenizer)
    assert (report["format"], report["rows_read"], report["rows_kept"], len(table)) == (
        "ultrachat", kept + sum(counts.values()), kept, kept)
    assert dropped(report) == counts and report["examples"] == examples and report["ties"] == 0
    columns = ["prompt", "response", "completion"] if role == "sft" else ["prompt_id", "prompt", "prompt_ids",
                                                                         "reference"]
    assert list(table.columns) == columns


def test_ultrachat_takes_the_first_answer_of_a_conversation_of_several_turns(policy_tokenizer):
    source = spec(ULTRACHAT, "ultrachat", "train_sft")
    sft, _ = instruct("sft", source, policy_tokenizer)
    prompts, _ = instruct("eval", source, policy_tokenizer)
    messages = hub_rows(ULTRACHAT, "train_sft")[1]["messages"]  # 3-4 exchanges
    assert len(messages) >= 6 and [m["role"] for m in messages[:3]] == ["user", "assistant", "user"]
    first_answer, last_answer = messages[1]["content"], messages[-1]["content"]
    assert first_answer != last_answer
    assert sft.iloc[1].to_dict() == {"prompt": messages[0]["content"], "response": first_answer,
                                     "completion": first_answer}
    assert prompts.iloc[1][["prompt", "reference"]].tolist() == [messages[0]["content"], first_answer]
    assert list(prompts.loc[1, "prompt_ids"]) == encode_prompts(policy_tokenizer, [messages[0]["content"]], "chat")[0]
    # Later turns are never a demonstration, so no row answers a follow-up question.
    follow_ups = {m["content"] for row in hub_rows(ULTRACHAT, "train_sft") for m in row["messages"][2:]}
    assert not follow_ups & (set(sft["prompt"]) | set(sft["response"]))
    # The generic `preference` format still reads a conversation's last answer.
    assert message_text(messages, "response") == last_answer


PREFERENCE_BAD = {"not_text": [4, 9, 14], "empty": [19, 24], "identical_pair": [29], "not_number": [54],
                  "prompt_too_long": [59], "duplicate": [118, 119]}


@pytest.mark.parametrize("split, role, drop_ties, kept, ties, counts", [
    ("train_prefs", "preferences", False, 110, 4, {k: len(v) for k, v in PREFERENCE_BAD.items()}),
    ("train_prefs", "preferences", True, 106, 4, {**{k: len(v) for k, v in PREFERENCE_BAD.items()}, "tied": 4}),
    ("train_prefs", "eval", False, 113, 0, {"not_text": 3, "empty": 1, "prompt_too_long": 1, "duplicate": 2}),
    ("test_prefs", "preferences", False, 21, 2, {"not_text": 2, "empty": 2, "identical_pair": 1, "not_number": 1,
                                                 "prompt_too_long": 1, "duplicate": 2}),
    ("test_prefs", "preferences", True, 19, 2, {"not_text": 2, "empty": 2, "identical_pair": 1, "tied": 2,
                                                "not_number": 1, "prompt_too_long": 1, "duplicate": 2}),
    ("test_prefs", "eval", False, 24, 0, {"not_text": 2, "empty": 1, "prompt_too_long": 1, "duplicate": 2}),
    *[(split, "preferences", False, 4, 1, {"not_text": 1, "empty": 1, "identical_pair": 1, "not_number": 1,
                                           "prompt_too_long": 1, "duplicate": 1})
      for split in ("train_sft", "test_sft", "train_gen", "test_gen")],
    ("train_gen", "preferences", True, 3, 1, {"not_text": 1, "empty": 1, "identical_pair": 1, "tied": 1,
                                              "not_number": 1, "prompt_too_long": 1, "duplicate": 1}),
    *[(split, "eval", False, 7, 0, {"not_text": 1, "prompt_too_long": 1, "duplicate": 1})
      for split in ("train_sft", "test_sft", "train_gen", "test_gen")],
])
def test_ultrafeedback_reports_its_bad_rows_and_ties(policy_tokenizer, split, role, drop_ties, kept, ties, counts):
    source = spec(ULTRAFEEDBACK, "ultrafeedback", split, drop_ties=drop_ties)
    table, report = instruct(role, source, policy_tokenizer)
    assert report["rows_kept"] == len(table) == kept and report["rows_read"] == kept + sum(counts.values())
    assert dropped(report) == counts and report["ties"] == ties


def test_ultrafeedback_examples_name_every_bad_row(policy_tokenizer):
    _, report = instruct("preferences", spec(ULTRAFEEDBACK, "ultrafeedback", "train_prefs"), policy_tokenizer)
    assert report["examples"] == {**PREFERENCE_BAD, "ties": [34, 39, 44, 49]}
    _, report = instruct("preferences", spec(ULTRAFEEDBACK, "ultrafeedback", "train_prefs", drop_ties=True),
                         policy_tokenizer)
    assert report["examples"] == {**PREFERENCE_BAD, "ties": [34, 39, 44, 49], "tied": [34, 39, 44, 49]}


def test_ultrafeedback_pairs_keep_the_ratings_as_ratings_and_ties_by_default(policy_tokenizer):
    source = spec(ULTRAFEEDBACK, "ultrafeedback", "train_prefs")
    pairs, _ = instruct("preferences", source, policy_tokenizer)
    hub = hub_rows(ULTRAFEEDBACK, "train_prefs")
    # GPT-4 ratings, not gold scores: nothing downstream may read them as the gold reward.
    assert list(pairs.columns) == ["pair_id", "prompt_id", "prompt", "chosen", "rejected", "prompt_ids", "chosen_ids",
                                   "rejected_ids", "chosen_rating", "rejected_rating"]
    assert pairs["chosen_rating"].dtype == pairs["rejected_rating"].dtype == float
    first = hub[0]
    assert pairs.iloc[0][["prompt", "chosen", "rejected", "chosen_rating", "rejected_rating"]].tolist() == [
        first["prompt"], first["chosen"][1]["content"], first["rejected"][1]["content"], first["score_chosen"],
        first["score_rejected"]]
    assert list(pairs.loc[0, "chosen_ids"]) == encode_completions(policy_tokenizer, [first["chosen"][1]["content"]])[0]
    tied = pairs[pairs["chosen_rating"] == pairs["rejected_rating"]]
    assert list(tied["prompt"]) == [hub[i]["prompt"] for i in (34, 39, 44, 49)]
    assert (pairs["chosen_rating"] >= pairs["rejected_rating"]).all()
    untied, _ = instruct("preferences", {**source, "drop_ties": True}, policy_tokenizer)
    assert (untied["chosen_rating"] > untied["rejected_rating"]).all() and len(untied) == len(pairs) - 4
    prompts, _ = instruct("eval", spec(ULTRAFEEDBACK, "ultrafeedback", "test_prefs"), policy_tokenizer)
    test = hub_rows(ULTRAFEEDBACK, "test_prefs")[0]
    assert prompts.iloc[0][["prompt", "reference"]].tolist() == [test["prompt"], test["chosen"][1]["content"]]


def test_ties_of_a_mapped_preference_set(tmp_path, tokenizer):
    rows = [
        ("Q1", "a1", "b1", 8.0, 6.5),    # 0 good
        ("Q2", "a2", "b2", 7.0, 7.0),    # 1 tied
        ("Q3", "same", "same", 5.0, 5.0),  # 2 identical_pair (first: not also a tie)
        ("Q4", "a4", "b4", 6.0, None),   # 3 not_number (one rating missing: no tie)
        ("Q5", "a5", "b5", 3.0, 3.0),    # 4 tied
    ]
    pd.DataFrame(rows, columns=["q", "good", "bad", "s_good", "s_bad"]).to_parquet(tmp_path / "r.parquet")
    columns = {"prompt": "q", "chosen": "good", "rejected": "bad", "chosen_rating": "s_good",
               "rejected_rating": "s_bad"}
    source = spec(tmp_path / "r.parquet", "preference", None, columns=columns)
    pairs, report = prepare("preferences", source, tokenizer)
    assert dropped(report) == {"identical_pair": 1, "not_number": 1} and report["ties"] == 2
    assert list(pairs["prompt"]) == ["Q1", "Q2", "Q5"] and list(pairs["rejected_rating"]) == [6.5, 7.0, 3.0]
    pairs, report = prepare("preferences", {**source, "drop_ties": True}, tokenizer)
    assert dropped(report) == {"identical_pair": 1, "tied": 2, "not_number": 1} and report["ties"] == 2
    assert list(pairs["prompt"]) == ["Q1"] and "chosen_gold" not in pairs


@pytest.mark.parametrize("change, role, message", [
    ({"format": "tldr_preferences"}, "preferences",
     r"^config key K\.drop_ties = True: only pairs with ratings can tie"),
    ({"format": "preference", "columns": {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"}},
     "preferences", r"^config key K\.drop_ties = True: only pairs with ratings can tie"),
    ({}, "eval", r"^config key K\.drop_ties = True: only pairs with ratings can tie \(the preferences role"),
])
def test_drop_ties_only_where_pairs_have_ratings(change, role, message):
    source = spec(ULTRAFEEDBACK, "ultrafeedback", "train_prefs", drop_ties=True)
    assert check_source(source, "preferences", "K") == "ok"
    with pytest.raises(ValueError, match=message):
        check_source({**source, **change}, role, "K")


@pytest.mark.parametrize("path, fmt, role, missing, found", [
    (TLDR_PREFERENCES, "ultrachat", "sft", "['messages']", "['info', 'summaries', "),
    (ULTRACHAT, "ultrafeedback", "preferences", "['chosen', 'rejected', 'score_chosen', 'score_rejected']",
     "['prompt', 'prompt_id', 'messages']"),
    (ULTRAFEEDBACK, "tldr_sft", "eval", "['query', 'reference_response']",
     "['prompt', 'prompt_id', 'chosen', 'rejected', 'messages', 'score_chosen', 'score_rejected']"),
])
def test_a_set_without_the_formats_columns_names_the_columns_found(path, fmt, role, missing, found):
    split = {TLDR_PREFERENCES: "train", ULTRACHAT: "train_sft", ULTRAFEEDBACK: "test_prefs"}[path]
    with pytest.raises(ValueError) as error:
        check_source(spec(path, fmt, split), role, "K")
    message = str(error.value)
    assert message.startswith(f"config key K.format = '{fmt}': {path} (split {split}) lacks the format's column(s) "
                              f"{missing}; columns found: {found}")


@pytest.mark.parametrize("path, fmt, splits, roles", [
    (ULTRACHAT, "ultrachat", ["train_sft", "test_sft", "train_gen", "test_gen"], ["sft", "eval"]),
    (ULTRAFEEDBACK, "ultrafeedback", ["train_prefs", "test_prefs", "train_sft", "test_sft", "train_gen", "test_gen"],
     ["preferences", "eval"]),
])
def test_check_source_accepts_the_committed_instruction_sets(path, fmt, splits, roles):
    for split in splits:
        for role in roles:
            assert check_source(spec(path, fmt, split), role, "K") == "ok"
    with pytest.raises(ValueError, match=rf"no such split; .* has splits {re.escape(str(sorted(splits)))}"):
        check_source(spec(path, fmt, "validation"), roles[0], "K")


def instruction_task_config() -> dict:
    """The paper smoke's config with the instruction study's sets, chat prompts."""
    config = yaml.safe_load((REPO / "config" / "paper-smoke.yaml").read_text())
    task = config["tasks"]["tldr"]
    task["data"] = {"sft": {"format": "ultrachat", "path": str(ULTRACHAT), "split": "train_sft"},
                    "preferences": {"format": "ultrafeedback", "path": str(ULTRAFEEDBACK), "split": "train_prefs",
                                    "drop_ties": True},
                    "eval": {"format": "ultrafeedback", "path": str(ULTRAFEEDBACK), "split": "test_prefs"}}
    task["model"].update(path=str(TINY_POLICY), prompt_format="chat")
    task["gold"]["path"] = str(REPO / "tests" / "data" / "checkpoints" / "tiny-rm-smollm2")
    return config


def test_a_task_on_the_instruction_sets_validates():
    config = validate_config(instruction_task_config(), check_availability=False)
    data = config["tasks"]["tldr"]["data"]
    assert [data[role]["drop_ties"] for role in ("sft", "preferences", "eval")] == [False, True, False]
    bad = instruction_task_config()
    bad["tasks"]["tldr"]["data"]["eval"]["drop_ties"] = True
    with pytest.raises(ConfigError, match=r"config key tasks\.tldr\.data\.eval\.drop_ties = True: only pairs with "
                                          r"ratings can tie"):
        validate_config(bad, check_availability=False)
    bad = instruction_task_config()
    bad["tasks"]["tldr"]["data"]["sft"]["split"] = "train_prefs"
    with pytest.raises(ConfigError, match=r"config key tasks\.tldr\.data\.sft\.split = 'train_prefs': no such split"):
        validate_config(bad, check_availability=False)


# ------------------------------------------------------------------ source kinds

ROWS = pd.DataFrame({"query": [f"POST: story number {i}\n\nTL;DR:" for i in range(6)],
                     "chosen": [f" good summary {i}<|endoftext|>" for i in range(6)],
                     "rejected": [f" bad summary {i}<|endoftext|>" for i in range(6)]})


def write_source(kind, root, rows=ROWS):
    """A source of `kind` holding `rows` (as its `train` split); returns its spec path."""
    dataset = datasets.Dataset.from_pandas(rows, preserve_index=False)
    if kind == "parquet":
        rows.to_parquet(root / "pairs.parquet", index=False)
        return root / "pairs.parquet"
    if kind == "jsonl":
        rows.to_json(root / "pairs.jsonl", orient="records", lines=True)
        return root / "pairs.jsonl"
    if kind == "json":
        (root / "pairs.json").write_text(json.dumps(rows.to_dict("records"), indent=2))
        return root / "pairs.json"
    if kind == "hub_folder":
        (root / "set" / "data").mkdir(parents=True)
        rows.to_parquet(root / "set" / "data" / "train-00000-of-00001.parquet", index=False)
        rows.head(2).to_parquet(root / "set" / "data" / "test-00000-of-00001.parquet", index=False)
        return root / "set"
    if kind == "saved_dataset":
        dataset.save_to_disk(str(root / "saved"))
        return root / "saved"
    datasets.DatasetDict({"train": dataset, "test": dataset.select(range(2))}).save_to_disk(str(root / "saved"))
    return root / "saved"


@pytest.mark.parametrize("kind", ["parquet", "jsonl", "json", "hub_folder", "saved_dataset", "saved_dict"])
def test_every_kind_of_local_source_reads_the_same_rows(tmp_path, kind):
    path = write_source(kind, tmp_path)
    source = spec(path, split=None if kind in ("parquet", "jsonl", "json", "saved_dataset") else "train")
    assert check_source(source, "preferences", "tasks.t.data.preferences") == "ok"
    dataset, provenance = load_source(source)
    assert dataset.to_pandas()[list(ROWS.columns)].equals(ROWS)
    assert provenance["split"] == "train" and provenance["revision"] is None
    assert provenance["files"] and all(len(h) == 64 for h in provenance["files"].values())
    base = path.parent if path.is_file() else path
    assert all(sha256(base / name) == h for name, h in provenance["files"].items())
    assert hub_ids(source) == [] and is_cached(source)


def test_folder_and_saved_dict_read_the_split_asked_for(tmp_path):
    for kind in ("hub_folder", "saved_dict"):
        root = tmp_path / kind
        root.mkdir()
        dataset, provenance = load_source(spec(write_source(kind, root), split="test"))
        assert len(dataset) == 2 and provenance["split"] == "test"
        if kind == "hub_folder":
            assert list(provenance["files"]) == ["data/test-00000-of-00001.parquet"]


def test_drop_last_rows_comes_before_max_rows(tmp_path):
    path = write_source("parquet", tmp_path)
    dataset, _ = load_source(spec(path, split=None, drop_last_rows=4, max_rows=3))
    assert list(dataset["query"]) == list(ROWS["query"][:2])
    dataset, _ = load_source(spec(path, split=None, drop_last_rows=1, max_rows=3))
    assert list(dataset["query"]) == list(ROWS["query"][:3])
    with pytest.raises(ValueError, match="drop_last_rows = 6 leaves none of its 6 rows"):
        load_source(spec(path, split=None, drop_last_rows=6))


def fabricate_hub_cache(home, repo_id, files):
    """A Hugging Face cache as `hf download` leaves it: blobs, a snapshot of links, refs/main."""
    repo = home / "hub" / f"datasets--{repo_id.replace('/', '--')}"
    for name, source in files.items():
        blob = repo / "blobs" / sha256(source)
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(source.read_bytes())
        link = repo / "snapshots" / COMMIT / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(blob)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)


@pytest.fixture
def hub_home(tmp_path, monkeypatch):
    home = tmp_path / "hf-home"
    files = {f"data/{s}-00000-of-00001.parquet": TLDR_PREFERENCES / "data" / f"{s}-00000-of-00001.parquet"
             for s in ("train", "validation")}
    fabricate_hub_cache(home, "vwxyzjn/prefs", files)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.mark.parametrize("revision", [None, COMMIT])
def test_a_cached_hub_id_reads_its_snapshot_offline(hub_home, tokenizer, revision):
    source = spec("vwxyzjn/prefs", split="validation", revision=revision)
    assert is_cached(source) and check_source(source, "preferences", "k") == "ok"
    assert hub_ids(source) == [("dataset", "vwxyzjn/prefs", revision)]
    table, report = prepare("preferences", source, tokenizer)
    name = "data/validation-00000-of-00001.parquet"
    assert report["source"] == {"path": "vwxyzjn/prefs", "revision": COMMIT, "split": "validation",
                                "files": {name: sha256(TLDR_PREFERENCES / name)}}
    local, _ = prepare("preferences", spec(TLDR_PREFERENCES, split="validation"), tokenizer)
    assert table.equals(local)


def test_hf_hub_cache_points_at_the_hub_cache_itself(hub_home, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "elsewhere"))
    assert not is_cached(spec("vwxyzjn/prefs"))
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_home / "hub"))
    assert is_cached(spec("vwxyzjn/prefs"))


def test_a_hub_id_not_cached_offline_says_how_to_fetch_it(hub_home):
    source = spec("vwxyzjn/absent", revision="abc123")
    assert check_source(source, "preferences", "k") == "not_cached"
    assert not is_cached(source)
    with pytest.raises(ValueError) as error:
        load_source(source)
    message = str(error.value)
    assert "'vwxyzjn/absent'" in message and "HF_HOME" in message
    assert "hf download --repo-type dataset vwxyzjn/absent --revision abc123" in message


def test_check_source_reads_no_data(tmp_path, datasets_cache):
    """It runs at every Snakefile parse: schemas only, no Arrow copy of the data."""
    for kind in ("parquet", "jsonl", "hub_folder", "saved_dict"):
        root = tmp_path / kind
        root.mkdir()
        split = "train" if kind in ("hub_folder", "saved_dict") else None
        assert check_source(spec(write_source(kind, root), split=split), "eval", "k") == "ok"
    assert not datasets_cache.exists() or not any(datasets_cache.rglob("*.arrow"))


# ------------------------------------------------------------------ bad rows of small tables

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "What is 2 + 2?"},
            {"role": "assistant", "content": "It is 4."}]


def conversation(answer):
    return [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": answer}]


def test_every_kind_of_bad_row_in_a_mapped_preference_set(tmp_path, tokenizer):
    rows = [
        ("Q1", "a1", "b1", 1.0, -1.0),         # 0 good
        ("Q2", None, "b2", 1.0, -1.0),         # 1 not_text (None)
        ("Q3", 7, "b3", 1.0, -1.0),            # 2 not_text (a number)
        ("Q4", "a4", "  \n", 1.0, -1.0),       # 3 empty (whitespace)
        ("", "a5", "b5", 1.0, -1.0),           # 4 empty prompt
        ("Q6", " same ", "same", 1.0, -1.0),   # 5 identical_pair (after stripping)
        ("Q7", "a7", "b7", float("nan"), -1.0),  # 6 not_number (NaN)
        ("Q8", "a8", "b8", 1.0, None),         # 7 not_number (missing)
        ("Q9", "a9", "b9", float("inf"), 0.0),  # 8 not_number (not finite)
        ("Q1", "a1", "b1", 2.0, -2.0),         # 9 duplicate of row 0 (same texts)
        ("Q1", "a1", "b1x", 1.0, -1.0),        # 10 good: another pair of the same prompt
    ]
    table = pd.DataFrame(rows, columns=["q", "good", "bad", "lp_good", "lp_bad"])
    table.to_json(tmp_path / "set.jsonl", orient="records", lines=True)
    columns = {"prompt": "q", "chosen": "good", "rejected": "bad", "behavior_chosen_logp": "lp_good",
               "behavior_rejected_logp": "lp_bad"}
    pairs, report = prepare("preferences", spec(tmp_path / "set.jsonl", "preference", None, columns=columns),
                            tokenizer)
    assert dropped(report) == {"not_text": 2, "empty": 2, "identical_pair": 1, "not_number": 3, "duplicate": 1}
    assert report["examples"] == {"not_text": [1, 2], "empty": [3, 4], "identical_pair": [5],
                                  "not_number": [6, 7, 8], "duplicate": [9]}
    assert list(pairs["rejected"]) == ["b1", "b1x"] and list(pairs["behavior_chosen_logp"]) == [1.0, 1.0]
    assert pairs["prompt_id"].nunique() == 1


def test_conversations_give_the_user_prompt_and_the_last_answer(tmp_path, tokenizer):
    rows = {"prompt": ["What is 2 + 2?", "Hi", "Hey", "Yo"],
            "chosen": [MESSAGES, conversation("Hello!"), [{"role": "user", "content": "Hey"}], conversation("Sup")],
            "rejected": [conversation("5."), conversation("Go away."), conversation("x"), conversation("  ")]}
    pq.write_table(pa.Table.from_pydict(rows), tmp_path / "chat.parquet")
    columns = {"prompt": "chosen", "chosen": "chosen", "rejected": "rejected"}  # the prompt from the conversation
    pairs, report = prepare("preferences", spec(tmp_path / "chat.parquet", "preference", None, columns=columns),
                            tokenizer, model=CHAT)
    # Row 2 has no assistant message (not text); row 3's rejected answer is blank.
    assert dropped(report) == {"not_text": 1, "empty": 1}
    assert pairs[["prompt", "chosen", "rejected"]].values.tolist() == [["What is 2 + 2?", "It is 4.", "5."],
                                                                       ["What is 2 + 2?", "Hello!", "Go away."]]
    prompt_ids = encode_prompts(tokenizer, ["What is 2 + 2?"], "chat", CHAT["system_prompt"])[0]
    assert list(pairs.loc[0, "prompt_ids"]) == prompt_ids
    assert list(pairs.loc[0, "chosen_ids"]) == encode_completions(tokenizer, ["It is 4."])[0]


def test_end_text_is_the_formats_own_unless_the_config_says(tmp_path, tokenizer):
    ROWS.to_parquet(tmp_path / "p.parquet", index=False)
    columns = {"prompt": "query", "chosen": "chosen", "rejected": "rejected"}
    pairs, _ = prepare("preferences", spec(tmp_path / "p.parquet", "preference", None, columns=columns), tokenizer)
    assert pairs.loc[0, "chosen"] == "good summary 0<|endoftext|>"  # format preference: no end text of its own
    pairs, _ = prepare("preferences", spec(tmp_path / "p.parquet", "preference", None, columns=columns,
                                           end_text=["<|endoftext|>"]), tokenizer)
    assert pairs.loc[0, "chosen"] == "good summary 0"
    assert FORMATS["tldr_sft"].end_text == FORMATS["tldr_preferences"].end_text == ("<|endoftext|>",)


def test_raw_completion_gets_a_space_only_where_words_would_join(tmp_path, tokenizer):
    rows = pd.DataFrame({"query": ["Say hi:", "Say hi: ", "Say hello:"],
                         "reference_response": ["hi<|endoftext|>", "hi<|endoftext|>", "\nhi<|endoftext|>"]})
    rows.to_parquet(tmp_path / "s.parquet", index=False)
    table, _ = prepare("sft", spec(tmp_path / "s.parquet", "tldr_sft", None), tokenizer)
    assert list(table["completion"]) == [" hi", "hi", "\nhi"] and list(table["response"]) == ["hi"] * 3


def test_no_usable_row_names_the_role_the_source_and_the_counts(tmp_path, tokenizer):
    pd.DataFrame({"query": ["a", None], "reference_response": ["", "b"]}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ValueError) as error:
        prepare("sft", spec(tmp_path / "bad.parquet", "tldr_sft", None), tokenizer)
    message = str(error.value)
    assert "sft" in message and str(tmp_path / "bad.parquet") in message and "split train" in message
    assert "{'not_text': 1, 'empty': 1}" in message


# ------------------------------------------------------------------ token limits


def test_truncate_keeps_the_end_of_a_long_prompt(tokenizer):
    source = spec(TLDR_SFT, "tldr_sft", "validation")
    kept, report = prepare("sft", source, tokenizer, over_length="truncate")
    assert report["truncated"] == 1 and report["examples"]["truncated"] == [7]
    assert report["dropped"]["prompt_too_long"] == 0 and len(kept) == 21
    long = kept[kept["prompt"].map(lambda p: not p.startswith("SUBREDDIT"))]
    assert len(long) == 1
    prompt = long.iloc[0]["prompt"]
    ids = encode_prompts(tokenizer, [prompt], "raw")[0]
    assert 250 <= len(ids) <= 256 and prompt.endswith("\n\nTL;DR:")


def test_truncated_chat_prompts_keep_the_template(tokenizer):
    pairs, report = prepare("preferences", spec(TLDR_PREFERENCES, split="validation"), tokenizer,
                            over_length="truncate", model=CHAT)
    assert report["truncated"] == 1
    template = encode_prompts(tokenizer, [""], "chat", CHAT["system_prompt"])[0]
    row = pairs[pairs["prompt_ids"].map(len) > 200].iloc[0]
    assert len(row["prompt_ids"]) <= 256
    assert list(row["prompt_ids"]) == encode_prompts(tokenizer, [row["prompt"]], "chat", CHAT["system_prompt"])[0]
    assert list(row["prompt_ids"][:5]) == template[:5] and list(row["prompt_ids"][-3:]) == template[-3:]


def test_long_responses_are_dropped_or_cut_unfinished(tmp_path, tokenizer):
    words = " ".join(f"word{i}" for i in range(40))
    rows = pd.DataFrame({"query": ["Q:", "Q2:"], "chosen": [f" {words}", " short"], "rejected": [" no", " nope"]})
    rows.to_parquet(tmp_path / "long.parquet", index=False)
    columns = {"prompt": "query", "chosen": "chosen", "rejected": "rejected"}
    source = spec(tmp_path / "long.parquet", "preference", None, columns=columns)
    n_prompt = len(tokenizer("Q:")["input_ids"])
    limits = {"max_prompt_length": None, "max_length": n_prompt + 10}
    pairs, report = prepare("preferences", source, tokenizer, limits)
    assert dropped(report) == {"too_long": 1} and list(pairs["chosen"]) == ["short"]
    pairs, report = prepare("preferences", source, tokenizer, limits, over_length="truncate")
    assert report["truncated"] == 1 and report["examples"] == {"truncated": [0]}
    row = pairs.iloc[0]
    full = encode_completions(tokenizer, [f" {words}"])[0]
    assert list(row["chosen_ids"]) == full[:10] and tokenizer.eos_token_id not in row["chosen_ids"]
    assert row["chosen"] == tokenizer.decode(full[:10]).strip() and words.startswith(row["chosen"])
    assert list(row["rejected_ids"]) == encode_completions(tokenizer, [" no"])[0]  # it fits: finished


def test_a_long_demonstration_is_dropped_even_in_truncate_mode(tmp_path, tokenizer):
    """TRL's SFTTrainer appends the end token to every completion: a cut demonstration
    would teach the policy to stop mid-sentence, so SFT never cuts one."""
    words = " ".join(f"word{i}" for i in range(40))
    pd.DataFrame({"query": ["Q:", "Q2:"], "reference_response": [f" {words}<|endoftext|>", " short<|endoftext|>"]}
                 ).to_parquet(tmp_path / "sft.parquet", index=False)
    limits = {"max_prompt_length": None, "max_length": len(tokenizer("Q:")["input_ids"]) + 10}
    sft, report = prepare("sft", spec(tmp_path / "sft.parquet", "tldr_sft", None), tokenizer, limits,
                          over_length="truncate")
    assert dropped(report) == {"too_long": 1} and report["truncated"] == 0 and list(sft["response"]) == ["short"]


def test_limits_must_be_above_the_template_and_ordered(tokenizer):
    template = template_length(tokenizer, CHAT)
    assert template == len(encode_prompts(tokenizer, [""], "chat", CHAT["system_prompt"])[0]) > 5
    with pytest.raises(ValueError, match=rf"^config key tasks\.t\.preference_data\.max_prompt_length = {template}: "
                                         rf"not above the prompt template's own length \({template} tokens"):
        check_limits(tokenizer, CHAT, {"max_prompt_length": template, "max_length": 512}, "tasks.t.preference_data")
    check_limits(tokenizer, CHAT, {"max_prompt_length": template + 1, "max_length": 512}, "k")
    with pytest.raises(ValueError, match=r"^config key k\.max_length = 100: must be above k\.max_prompt_length = 100"):
        check_limits(tokenizer, CHAT, {"max_prompt_length": 100, "max_length": 100}, "k")
    with pytest.raises(ValueError, match=rf"^config key k\.max_length = {template}: not above"):
        check_limits(tokenizer, CHAT, {"max_prompt_length": None, "max_length": template}, "k")
    check_limits(tokenizer, RAW, {"max_prompt_length": 1, "max_length": 2}, "k")  # SmolLM2 adds no BOS


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("change, role, message", [
    ({"path": "no/such/file.parquet"}, "preferences",
     r"^config key K\.path = 'no/such/file\.parquet': no such file or folder \(relative paths are relative to the "
     r"working directory "),
    ({"split": "dev"}, "preferences",
     r"^config key K\.split = 'dev': no such split; .* has splits \['train', 'validation', 'validation_cnndm'\]"),
    ({"split": None}, "preferences", r"^config key K\.split = None: no split given; .* has splits \['train', "),
    ({"format": "tldr_sft"}, "preferences",
     r"^config key K\.format = 'tldr_sft': cannot serve the preferences role .*formats for preferences: "
     r"\['preference', 'tldr_preferences', 'ultrafeedback'\]"),
    ({"format": "tldr_preferences"}, "sft", r"^config key K\.format = 'tldr_preferences': cannot serve the sft role"),
    ({"format": "ultrafeedback"}, "sft",
     r"^config key K\.format = 'ultrafeedback': cannot serve the sft role .*formats for sft: \['tldr_sft', "
     r"'ultrachat'\]"),
    ({"format": "ultrachat_200k"}, "sft", r"^config key K\.format = 'ultrachat_200k': unknown format"),
    ({"format": "tldr_sft"}, "eval",
     r"^config key K\.format = 'tldr_sft': .* lacks the format's column\(s\) \['reference_response'\]; columns "
     r"found: \['info', 'summaries'"),
    ({"columns": {"prompt": "query", "chosen": "chosen", "rejected": "rejected"}}, "preferences",
     r"^config key K\.columns = .*: only format `preference` takes a column mapping"),
    ({"format": "preference"}, "preferences", r"^config key K\.columns = None: format preference needs a mapping"),
    ({"format": "preference", "columns": {"prompt": "query", "chosen": "chosen"}}, "preferences",
     r"^config key K\.columns = .*: missing \['rejected'\]"),
    ({"format": "preference", "columns": {"prompt": "query", "chosen": "chosen", "rejected": "worse"}}, "preferences",
     r"^config key K\.columns\.rejected = 'worse': no such column in .* \(split train\); columns found: \['info', "),
])
def test_bad_specs_fail_naming_the_key(change, role, message):
    with pytest.raises(ValueError, match=message):
        check_source({**spec(TLDR_PREFERENCES), **change}, role, "K")


def test_a_single_file_is_one_split(tmp_path):
    path = write_source("parquet", tmp_path)
    with pytest.raises(ValueError, match=r"^config key K\.split = 'validation': .* is a single file, which is one "
                                         r"split; use null or 'train'"):
        check_source(spec(path, split="validation"), "preferences", "K")
    assert check_source(spec(path, split="train"), "preferences", "K") == "ok"


def test_a_folder_without_data_files_is_no_source(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"^config key K\.path = .*: a folder without data files"):
        check_source(spec(tmp_path / "empty"), "preferences", "K")


def test_prepare_role_checks_the_format_and_over_length(tokenizer):
    with pytest.raises(ValueError, match="over_length = 'cut'"):
        prepare("sft", spec(TLDR_SFT, "tldr_sft"), tokenizer, over_length="cut")
    with pytest.raises(ValueError, match=r"config key data\.sft\.format = 'tldr_preferences': cannot serve"):
        prepare("sft", spec(TLDR_PREFERENCES), tokenizer)


def test_committed_stand_ins_stay_small():
    assert sum(f.stat().st_size for f in HUB.rglob("*") if f.is_file()) < 500_000
    assert math.isnan(pq.read_table(RELABELLED / "data" / "train-00000-of-00001.parquet")["chosen_score"][5].as_py())
