"""Every benchmark score of a task in one long table: results/<task>/tables/benchmarks.csv.

One row per (policy, benchmark, metric): the benchmark's headline metric (`primary`: LC win
rate, Arena-Hard win rate, MT-Bench overall) and its others (raw win rate, per category, per
turn). Tokens and cost are the benchmark's judgments for that policy (every row of a
(policy, benchmark) repeats them); the cost uses the judge's `price`, unknown (empty) when
the config gives none.
"""

from __future__ import annotations

import json

import pandas as pd

COLUMNS = ["task", "regime", "method", "beta", "seed", "run", "benchmark", "version", "metric", "primary",
           "judge_model", "score", "interval_low", "interval_high", "n", "questions", "failures", "api_errors",
           "unparsable", "no_answer", "tokens", "prompt_tokens", "completion_tokens", "calls", "cost_usd",
           "position_flip_share"]


def cost(tokens: dict, price: dict) -> float | None:
    if not price or price.get("input") is None or price.get("output") is None:
        return None
    return (tokens["prompt"] * price["input"] + tokens["completion"] * price["output"]) / 1e6


def benchmark_table(score_paths, prices: dict) -> pd.DataFrame:
    """The rows of every score.json (`prices`: benchmark -> the judge's price section)."""
    rows = []
    for path in score_paths:
        record = json.loads(open(path).read())
        base = {
            "task": record["task"], "regime": record["regime"], "method": record["method"], "beta": record["beta"],
            "seed": record["seed"], "run": record["run"], "benchmark": record["benchmark"],
            "version": record["version"], "judge_model": record["judge_model"], "n": record["n"],
            "questions": record["questions"], "failures": record["failures"]["total"],
            "api_errors": record["failures"]["api_error"], "unparsable": record["failures"]["unparsable"],
            "no_answer": record["failures"]["no_answer"], "tokens": record["tokens"]["total"],
            "prompt_tokens": record["tokens"]["prompt"], "completion_tokens": record["tokens"]["completion"],
            "calls": record["calls"]["requests"], "cost_usd": cost(record["tokens"], prices.get(record["benchmark"])),
            "position_flip_share": record.get("position_flip_share"),
        }
        if not record["metrics"]:  # nothing could be scored: one row says so
            rows.append({**base, "metric": None, "primary": True, "score": None, "interval_low": None,
                         "interval_high": None})
        for metric, value in record["metrics"].items():
            rows.append({**base, "metric": metric, "primary": bool(value["primary"]), "score": value["score"],
                         "interval_low": value.get("interval_low"), "interval_high": value.get("interval_high")})
    return pd.DataFrame(rows, columns=COLUMNS)
