"""MT-Bench: two-turn answers, single-answer grading 1-10 (FastChat's llm_judge).

Turn 1 is graded with `single-v1` (`single-math-v1`, with the reference answer, for math,
reasoning and coding), turn 2 with the multi-turn prompts, which show the whole
conversation: the policy's second answer was conditioned on its own first one. The rating
is `[[N]]` (or FastChat's fallback `[N]`) in 1-10; a reply without one, or with one out of
range, is unparsable and counted. Scores: the mean rating per turn and over both turns,
each with a 5-95% bootstrap interval over its judgments.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from isdaa.judges.client import JudgeRequest, Reply
from isdaa.judges.templates import fill

RATING = re.compile(r"\[\[(\d+\.?\d*)\]\]")
RATING_FALLBACK = re.compile(r"\[(\d+\.?\d*)\]")


def prompt_name(category: str, turn: int, judge: dict) -> str:
    math = category in judge["reference_categories"]
    return ("single-math-v1" if math else "single-v1") + ("-multi-turn" if turn == 2 else "")


def build(questions: pd.DataFrame, answers: dict, judge: dict, settings: dict) -> tuple[list[JudgeRequest], pd.DataFrame]:
    parameters = {**judge["request"], **settings["judge"].get("parameters", {})}
    requests, rows = [], []
    for q in questions.itertuples():
        first, second = answers.get((q.question_id, 1)), answers.get((q.question_id, 2))
        reference = q.reference or ["", ""]
        for turn, ready in ((1, first is not None), (2, first is not None and second is not None)):
            if not ready:
                continue
            name = prompt_name(q.category, turn, judge)
            prompt = judge["prompts"][name]
            if turn == 1:
                values = {"question": q.turns[0], "answer": first, "ref_answer_1": reference[0]}
            else:
                values = {"question_1": q.turns[0], "answer_1": first, "question_2": q.turns[1], "answer_2": second,
                          "ref_answer_1": reference[0], "ref_answer_2": reference[1]}
            messages = [{"role": "system", "content": prompt["system_prompt"]},
                        {"role": "user", "content": fill(prompt["prompt_template"], **values)}]
            requests.append(JudgeRequest(f"q{q.question_id}/turn{turn}",
                                         {"model": settings["judge"]["model"], "messages": messages, **parameters}))
            rows.append({"question_id": q.question_id, "category": q.category, "turn": turn, "prompt": name})
    return requests, pd.DataFrame(rows, columns=["question_id", "category", "turn", "prompt"])


def rating(content: str | None) -> float | None:
    if not content:
        return None
    match = RATING.search(content) or RATING_FALLBACK.search(content)
    if not match:
        return None
    value = float(match.group(1))
    return value if 1 <= value <= 10 else None


def parse(replies: list[Reply], table: pd.DataFrame, judge: dict) -> pd.DataFrame:
    out = table.copy()
    ratings = [rating(r.content) for r in replies]
    out["rating"] = pd.Series(ratings, index=out.index, dtype=float)
    out["verdict"] = pd.Series([None if v is None else f"{v:g}" for v in ratings], index=out.index, dtype=object)
    return out


def metric(ratings: np.ndarray, settings: dict, primary: bool) -> dict:
    rng = np.random.default_rng(settings["bootstrap_seed"])
    draws = rng.integers(0, len(ratings), size=(settings["bootstrap_rounds"], len(ratings)))
    means = ratings[draws].mean(axis=1)
    return {"score": float(ratings.mean()), "interval_low": float(np.percentile(means, 5)),
            "interval_high": float(np.percentile(means, 95)), "primary": primary, "judgments": int(len(ratings))}


def score(judgments: pd.DataFrame, questions: pd.DataFrame, judge: dict, settings: dict, folder, generator: str) -> dict:
    rated = judgments[judgments["rating"].notna()]
    if rated.empty:
        return {"metrics": {}, "n": 0}
    metrics = {"overall": metric(rated["rating"].to_numpy(float), settings, primary=True)}
    for turn in (1, 2):
        values = rated.loc[rated["turn"] == turn, "rating"].to_numpy(float)
        if len(values):
            metrics[f"turn_{turn}"] = metric(values, settings, primary=False)
    by_category = rated.groupby("category")["rating"].mean().round(4).to_dict()
    return {"n": int(rated["question_id"].nunique()), "metrics": metrics, "category_means": by_category}
