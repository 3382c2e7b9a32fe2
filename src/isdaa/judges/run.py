"""One policy's judgments on one benchmark, and its score: what a judge rule runs.

Every question ends in a row of `judgments.parquet` with a status: `ok` (a parsed verdict),
`api_error` (the call failed after the SDK's retries), `unparsable` (a reply without a
usable verdict) or `no_answer` (the policy gave none: its prompt was over the length
limit). Failures are counted in `score.json`, never dropped silently; when API errors and
unparsable replies together exceed `judge.max_failed_share` of the requests asked, the job
fails before writing its outputs (the paid replies stay cached: a rerun resumes). Questions
without an answer are a property of the policy and its length limit, not of the judge: they
are counted, and do not count against that share. Tokens are those of every judgment of the
policy, cached or not (what the judgments cost); `calls.made` says what this job paid for.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from isdaa.io import write_json, write_parquet
from isdaa.judges import files, protocol
from isdaa.judges.client import JudgeClient

log = logging.getLogger(__name__)
ANSWER_COLUMNS = ["question_id", "turn", "answer", "finished", "length", "prompt_length", "status"]
STATUSES = ("ok", "api_error", "unparsable", "no_answer")


class TooManyFailures(RuntimeError):
    """More failed judgments than judge.max_failed_share allows."""


def answer_lookup(answers: pd.DataFrame) -> dict:
    """(question_id, turn) -> the answer text, or None when the policy gave none."""
    return {(str(q), int(t)): (a if s == "ok" else None)
            for q, t, a, s in zip(answers["question_id"], answers["turn"], answers["answer"], answers["status"])}


def cache_root(settings: dict, results_dir: str) -> Path:
    return Path(settings["judge"].get("cache_dir") or Path(results_dir) / "judge_cache")


# Each protocol's judgments of a question: (the column naming them, its values).
SLOTS = {"alpaca_eval": (None, [None]), "arena_hard": ("game", [1, 2]), "mt_bench": ("turn", [1, 2])}


def missing_rows(questions: pd.DataFrame, table: pd.DataFrame, name: str) -> pd.DataFrame:
    """A `no_answer` row for every judgment a question could not have (no answer to judge)."""
    column, values = SLOTS[name]
    asked = set(zip(table["question_id"], table[column] if column else [None] * len(table)))
    rows = [{"question_id": q.question_id, "category": q.category, **({column: v} if column else {}),
             "status": "no_answer"}
            for q in questions.itertuples() for v in values if (q.question_id, v) not in asked]
    return pd.DataFrame(rows)


def judge_policy(data_folder, answers_path, settings: dict, identity: dict, results_dir: str, judgments_path,
                 score_path, client=None) -> dict:
    """Judge one policy's answers (`settings`: `isdaa.judges.settings.benchmark_settings`,
    execution keys included; `identity`: task, regime, method, beta, seed and run name)."""
    name = settings["name"]
    module = protocol(name)
    questions, judge = files.load(data_folder)
    questions = files.first_questions(questions, settings["max_questions"])
    answers = pd.read_parquet(answers_path)
    requests, table = module.build(questions, answer_lookup(answers), judge, settings)
    judge_client = JudgeClient(settings["judge"], name, cache_root(settings, results_dir), client=client)
    replies = judge_client.ask(requests, desc=f"{name} {identity['run']}")
    judgments = module.parse(replies, table, judge)
    judgments["status"] = ["api_error" if r.response is None else "ok" if pd.notna(v) else "unparsable"
                           for r, v in zip(replies, judgments["verdict"])]
    judgments["error"] = [r.error for r in replies]
    judgments["reply"] = [r.content for r in replies]
    judgments["cached"] = [r.cached for r in replies]
    judgments["key"] = [r.key for r in replies]
    judgments["prompt_tokens"] = [r.usage["prompt_tokens"] for r in replies]
    judgments["completion_tokens"] = [r.usage["completion_tokens"] for r in replies]
    judgments = pd.concat([judgments, missing_rows(questions, judgments, name)], ignore_index=True)
    counts = {s: int((judgments["status"] == s).sum()) for s in STATUSES}
    failed = counts["api_error"] + counts["unparsable"]
    limit = float(settings["judge"]["max_failed_share"])
    if requests and failed > limit * len(requests):
        examples = judgments.loc[judgments["status"].isin(["api_error", "unparsable"]), ["question_id", "status", "error"]]
        raise TooManyFailures(
            f"{name} {identity['run']}: {failed} of {len(requests)} judgments failed ({counts['api_error']} API errors, "
            f"{counts['unparsable']} unparsable replies), over judge.max_failed_share = {limit}; the "
            f"{len(requests) - failed} good replies are cached, so a rerun asks only the failed ones. First failures:\n"
            f"{examples.head(5).to_string(index=False)}")
    result = module.score(judgments[judgments["status"] == "ok"], questions, judge, settings, Path(data_folder),
                          identity["run"])
    record = {
        **identity,
        "benchmark": name, "version": settings["version"], "judge_model": settings["judge"]["model"],
        "judge_parameters": {**judge.get("request", {}), **settings["judge"].get("parameters", {})},
        "questions": int(len(questions)), "judgments": int(len(judgments)),
        "failures": {"api_error": counts["api_error"], "unparsable": counts["unparsable"],
                     "no_answer": counts["no_answer"], "total": failed + counts["no_answer"]},
        "tokens": {"prompt": int(judgments["prompt_tokens"].fillna(0).sum()),
                   "completion": int(judgments["completion_tokens"].fillna(0).sum())},
        "calls": {"requests": len(requests), "cached": int(sum(r.cached for r in replies)),
                  "made": judge_client.calls_made},
        **result,
    }
    record["tokens"]["total"] = record["tokens"]["prompt"] + record["tokens"]["completion"]
    write_parquet(judgments, judgments_path)
    write_json(record, score_path)
    log.info("%s %s: %s", name, identity["run"], {m: round(v["score"], 3) for m, v in record["metrics"].items()})
    return record
