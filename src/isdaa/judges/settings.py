"""A task's benchmarks, resolved: each protocol's canonical defaults under the config's own
values, and the judge of each benchmark (its `judge` keys over the top-level `judge`).

Which settings a rule's params hold decides what a config edit reruns: the judge's model
and request parameters change judgments; how the judge is reached (endpoint, key variable,
concurrency, retries, timeout, failure threshold, cache folder) changes none, and its price
changes only the table.
"""

from __future__ import annotations

import copy

from isdaa.config import merge

PROTOCOLS = ("alpaca_eval", "arena_hard", "mt_bench")
VERSIONS = {"alpaca_eval": ("2.0",), "arena_hard": ("v0.1", "v2.0"), "mt_bench": ("1",)}

# Keys of a judge section that change how a judge is reached, never what it answers.
JUDGE_EXECUTION = ("base_url", "api_key_env", "max_concurrency", "max_retries", "timeout", "max_failed_share",
                   "cache_dir", "price")

# Each protocol's canonical settings (docs/judges.md gives the sources).
DEFAULTS = {
    "alpaca_eval": {
        "version": "2.0",
        # AlpacaEval leaves decoding to the model's own config; ours: sampled, as policies are used.
        "decoding": {"temperature": 0.7, "top_p": 1.0, "max_new_tokens": 2048},
        "length_controlled": "length_controlled_v1",
    },
    "arena_hard": {
        "version": "v0.1",
        # arena-hard-auto's gen_answer_config: greedy, 4096 new tokens.
        "decoding": {"temperature": 0.0, "top_p": 1.0, "max_new_tokens": 4096},
        # arena-hard-auto's show_result: 100 bootstrap rounds.
        "bootstrap_rounds": 100, "bootstrap_seed": 0,
    },
    "mt_bench": {
        "version": "1",
        # FastChat's gen_model_answer: 1024 new tokens; temperature by category (its temperature_config).
        "decoding": {"temperature": 0.7, "top_p": 1.0, "max_new_tokens": 1024,
                     "category_temperature": {"writing": 0.7, "roleplay": 0.7, "extraction": 0.0, "math": 0.0,
                                              "coding": 0.0, "reasoning": 0.0, "stem": 0.1, "humanities": 0.1}},
        "bootstrap_rounds": 1000, "bootstrap_seed": 0,
    },
}

# Each protocol's canonical files, by version: role -> source (isdaa.judges.files reads them).
ARENA_HUB = "hf://datasets/lmarena-ai/arena-hard-auto"
ARENA_GITHUB = "https://raw.githubusercontent.com/lmarena/arena-hard-auto"
# FastChat's files have not changed since 2023; its branch is named, not a commit (none could be
# checked from here), and sources.json records the hash of what was read.
FASTCHAT = "https://raw.githubusercontent.com/lm-sys/FastChat/main/fastchat/llm_judge/data"
CANONICAL_FILES = {
    ("alpaca_eval", "2.0"): {
        "reference_outputs": "hf://datasets/tatsu-lab/alpaca_eval/alpaca_eval_gpt4_baseline.json",
        "df_gamed": "hf://datasets/tatsu-lab/alpaca_eval/df_gamed.csv",
        "annotator_config": "pypi://alpaca-eval/alpaca_eval/evaluators_configs/weighted_alpaca_eval_gpt4_turbo/configs.yaml",
        "annotator_prompt": "pypi://alpaca-eval/alpaca_eval/evaluators_configs/alpaca_eval_clf_gpt4_turbo/alpaca_eval_clf.txt",
    },
    ("arena_hard", "v0.1"): {
        "questions": f"{ARENA_HUB}/data/arena-hard-v0.1/question.jsonl",
        "baseline": f"{ARENA_HUB}/data/arena-hard-v0.1/model_answer/gpt-4-0314.jsonl",
        "judge_config": f"{ARENA_GITHUB}/7f1b7f5dd6ce53e1f8530220ceb452b7019a8056/config/judge_config.yaml",
    },
    ("arena_hard", "v2.0"): {
        "questions": f"{ARENA_HUB}/data/arena-hard-v2.0/question.jsonl",
        "baseline": f"{ARENA_HUB}/data/arena-hard-v2.0/model_answer/o3-mini-2025-01-31.jsonl",
        "baseline_creative_writing": f"{ARENA_HUB}/data/arena-hard-v2.0/model_answer/gemini-2.0-flash-001.jsonl",
        "judge_config": f"{ARENA_GITHUB}/9a1d3864b1a4388635b856fdd7eefb2cc8142525/config/arena-hard-v2.0.yaml",
        # v2.0's system prompts live in the repository's code (read, never run: isdaa.judges.files).
        "judge_prompts": f"{ARENA_GITHUB}/main/utils/judge_utils.py",
    },
    ("mt_bench", "1"): {
        "questions": f"{FASTCHAT}/mt_bench/question.jsonl",
        "reference_answers": f"{FASTCHAT}/mt_bench/reference_answer/gpt-4.jsonl",
        "judge_prompts": f"{FASTCHAT}/judge_prompts.jsonl",
    },
}
# Roles a version may go without (the prompts may come in one file or two).
OPTIONAL_ROLES = {("arena_hard", "v2.0"): ("judge_config", "judge_prompts", "baseline_creative_writing")}

# The number of questions of each set (for plans made before its files are here).
QUESTIONS = {("alpaca_eval", "2.0"): 805, ("arena_hard", "v0.1"): 500, ("arena_hard", "v2.0"): 750,
             ("mt_bench", "1"): 80}
# Judge calls per question: one annotation; two games; one grading per turn.
CALLS_PER_QUESTION = {"alpaca_eval": 1, "arena_hard": 2, "mt_bench": 2}


def enabled_benchmarks(task: dict) -> list[str]:
    """The task's benchmarks that run, in protocol order."""
    section = task.get("benchmarks") or {}
    return [name for name in PROTOCOLS if name in section and section[name].get("enabled", True)]


def benchmark_settings(config: dict, task: dict, name: str) -> dict:
    """One benchmark of a task, resolved: its protocol's defaults under the config's values,
    its files (canonical, with the config's overrides), and its judge (the benchmark's
    `judge` keys over the top-level `judge`)."""
    own = copy.deepcopy(task["benchmarks"][name])
    own.pop("enabled", None)
    settings = merge(DEFAULTS[name], {k: v for k, v in own.items() if k not in ("judge", "files")})
    settings["files"] = {**CANONICAL_FILES.get((name, settings["version"]), {}), **(own.get("files") or {})}
    settings["judge"] = merge(config["judge"], own.get("judge") or {})
    settings["name"] = name
    return settings


def result_settings(settings: dict) -> dict:
    """What a benchmark's judgments depend on (a judge rule's params)."""
    out = copy.deepcopy(settings)
    out["judge"] = {k: v for k, v in out["judge"].items() if k not in JUDGE_EXECUTION}
    return out


def answer_settings(settings: dict) -> dict:
    """What a benchmark's answers depend on (the answers rule's params)."""
    return {k: settings[k] for k in ("name", "version", "decoding", "max_questions", "max_prompt_length")}


def data_settings(settings: dict) -> dict:
    """What a benchmark's files depend on (the benchmark_data rule's params)."""
    return {k: settings[k] for k in ("name", "version", "files")}


def check_benchmarks(config: dict, task: dict, key: str) -> None:
    """What the schema cannot say: versions, per-protocol keys, roles of `files`. Raises
    ValueError "config key ...: ..."."""
    for name in enabled_benchmarks(task):
        where = f"{key}.benchmarks.{name}"
        own = task["benchmarks"][name]
        version = own.get("version", DEFAULTS[name]["version"])
        if version not in VERSIONS[name]:
            raise ValueError(f"config key {where}.version = {version!r}: {name} has versions {list(VERSIONS[name])}")
        roles = set(CANONICAL_FILES[(name, version)])
        unknown = sorted(set(own.get("files") or {}) - roles)
        if unknown:
            raise ValueError(f"config key {where}.files.{unknown[0]}: not a file of {name} {version}; its files: "
                             f"{sorted(roles)}")
        for option, protocols in (("length_controlled", ("alpaca_eval",)),
                                  ("bootstrap_rounds", ("arena_hard", "mt_bench")),
                                  ("bootstrap_seed", ("arena_hard", "mt_bench"))):
            if option in own and name not in protocols:
                raise ValueError(f"config key {where}.{option}: only for {', '.join(protocols)}")
        if "category_temperature" in (own.get("decoding") or {}) and name != "mt_bench":
            raise ValueError(f"config key {where}.decoding.category_temperature: only for mt_bench")
        judge = merge(config["judge"], own.get("judge") or {})
        if not judge.get("model"):
            raise ValueError(f"config key {where}.judge.model: no judge model (set judge.model)")
