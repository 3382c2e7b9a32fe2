"""Arena-Hard: pairwise judgments against a baseline, both position orders.

Per question two games: game 1 shows the baseline as assistant A and the policy as B, game 2
the reverse (arena-hard-auto's order). The verdict is the one label the reply gives
(`[[A>>B]]`, `[[A>B]]`, `[[A=B]]`, `[[B>A]]`, `[[B>>A]]`, or the same read from the other
side, e.g. `[[A<B]]`); a reply with no label, or with different labels, is unparsable and
counted, never guessed. A strong verdict weighs 3 (arena-hard-auto's WEIGHT). The score is
the policy's win rate against the baseline over all weighted games (ties half), in %: with
two players, arena-hard-auto's Bradley-Terry score against the baseline is that win rate.
Its 5-95% interval: percentiles of `bootstrap_rounds` resamples of the weighted games.
The position bias: the share of questions with both games parsed whose outcome for the
policy (win, tie, loss) changes with the order.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from isdaa.judges.client import JudgeRequest, Reply
from isdaa.judges.templates import fill

STRONG_WEIGHT = 3
# A label -> (winner: "A" | "B" | "tie", strong).
LABELS = {"A>>B": ("A", True), "A>B": ("A", False), "A=B": ("tie", False), "B>A": ("B", False),
          "B>>A": ("B", True), "B<<A": ("A", True), "B<A": ("A", False), "B=A": ("tie", False), "A<B": ("B", False),
          "A<<B": ("B", True)}


CANONICAL = ("A>>B", "A>B", "A=B", "B>A", "B>>A")


def system_prompt(judge: dict, category) -> str:
    prompts = judge["system_prompts"]
    if category in prompts:
        return prompts[category]
    if "default" in prompts:
        return prompts["default"]
    if len(prompts) == 1:
        return next(iter(prompts.values()))
    raise ValueError(f"no judge system prompt for category {category!r}; prompts for {sorted(prompts)}")


def build(questions: pd.DataFrame, answers: dict, judge: dict, settings: dict) -> tuple[list[JudgeRequest], pd.DataFrame]:
    parameters = {**judge["request"], **settings["judge"].get("parameters", {})}
    requests, rows = [], []
    for q in questions.itertuples():
        answer = answers.get((q.question_id, 1))
        if answer is None:
            continue
        for game, (a, b) in ((1, (q.baseline[0], answer)), (2, (answer, q.baseline[0]))):
            user = fill(judge["prompt_template"], question=q.turns[0], answer_a=a, answer_b=b)
            messages = [{"role": "system", "content": system_prompt(judge, q.category)},
                        {"role": "user", "content": user}]
            requests.append(JudgeRequest(f"q{q.question_id}/game{game}",
                                         {"model": settings["judge"]["model"], "messages": messages, **parameters}))
            rows.append({"question_id": q.question_id, "category": q.category, "game": game,
                         "baseline_model": q.baseline_model})
    return requests, pd.DataFrame(rows, columns=["question_id", "category", "game", "baseline_model"])


def verdict(content: str | None, pattern: str) -> str | None:
    """The reply's one label, normalised to a key of LABELS; None when it has none, an
    unknown one, or several different ones."""
    if not content:
        return None
    found = {m.strip() for m in re.findall(pattern, content) if m.strip()}
    if not found or not found <= set(LABELS):
        return None
    # The same verdict written from either side (`[[A>B]]`, `[[B<A]]`) is one verdict.
    if len({LABELS[label] for label in found}) != 1:
        return None
    return min(found, key=lambda label: (label not in CANONICAL, label))


def outcome(label: str, game: int) -> tuple[float, int]:
    """(the policy's result: 1 win, 0.5 tie, 0 loss; weight) of a game's label."""
    winner, strong = LABELS[label]
    policy = "B" if game == 1 else "A"
    result = 0.5 if winner == "tie" else float(winner == policy)
    return result, STRONG_WEIGHT if strong and winner != "tie" else 1


def parse(replies: list[Reply], table: pd.DataFrame, judge: dict) -> pd.DataFrame:
    out = table.copy()
    labels = [verdict(r.content, judge["regex_pattern"]) for r in replies]
    out["verdict"] = pd.Series(labels, index=out.index, dtype=object)
    results = [outcome(label, game) if label else (None, None) for label, game in zip(labels, out["game"])]
    out["result"] = [r for r, _ in results]
    out["weight"] = pd.array([w for _, w in results], dtype="Int64")
    return out


def win_rate(results: np.ndarray, weights: np.ndarray) -> float:
    return float(100 * np.sum(results * weights) / np.sum(weights))


def bootstrap(results: np.ndarray, weights: np.ndarray, rounds: int, seed: int) -> tuple[float, float]:
    """5th and 95th percentiles of the win rate over resamples of the weighted games (a
    strong verdict is three games, as arena-hard-auto expands it)."""
    expanded = np.repeat(results, weights)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(expanded), size=(rounds, len(expanded)))
    rates = 100 * expanded[draws].mean(axis=1)
    return float(np.percentile(rates, 5)), float(np.percentile(rates, 95))


def metric(games: pd.DataFrame, settings: dict, primary: bool) -> dict:
    results, weights = games["result"].to_numpy(float), games["weight"].to_numpy(int)
    low, high = bootstrap(results, weights, settings["bootstrap_rounds"], settings["bootstrap_seed"])
    return {"score": win_rate(results, weights), "interval_low": low, "interval_high": high, "primary": primary,
            "games": int(len(games))}


def position_flips(judgments: pd.DataFrame) -> tuple[int, int]:
    """(questions whose outcome for the policy changes with the order, questions with both
    games parsed)."""
    parsed = judgments[judgments["result"].notna()]
    both = parsed.pivot_table(index="question_id", columns="game", values="result", aggfunc="first")
    both = both.reindex(columns=[1, 2]).dropna()
    if both.empty:
        return 0, 0
    flips = int((np.sign(both[1] - 0.5) != np.sign(both[2] - 0.5)).sum())
    return flips, int(len(both))


def score(judgments: pd.DataFrame, questions: pd.DataFrame, judge: dict, settings: dict, folder, generator: str) -> dict:
    games = judgments[judgments["result"].notna()]
    if games.empty:
        return {"metrics": {}, "n": 0}
    metrics = {"win_rate": metric(games, settings, primary=True)}
    categories = sorted(c for c in games["category"].dropna().unique())
    if settings["version"] != "v0.1" and len(categories) > 1:
        for category in categories:
            metrics[f"win_rate/{category}"] = metric(games[games["category"] == category], settings, primary=False)
    flips, both = position_flips(judgments)
    return {
        "n": int(games["question_id"].nunique()),
        "metrics": metrics,
        "position_flips": flips, "questions_with_both_games": both,
        "position_flip_share": flips / both if both else None,
        "baselines": sorted(questions["baseline_model"].dropna().unique().tolist()),
        "strong_verdict_share": float((games["weight"] > 1).mean()),
        "tie_share": float((games["result"] == 0.5).mean()),
    }
