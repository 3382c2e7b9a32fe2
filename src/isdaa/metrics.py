"""KL estimators, gold win rates and the per-cell metrics record."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

METRIC_KEYS = [
    "task", "method", "beta", "seed", "epoch", "n_samples", "gold_reward", "gold_reward_std",
    "win_rate", "kl_k1", "kl_k3", "mean_length", "malformed_rate",
]


def kl_k1(policy_logp, reference_logp) -> float:
    """k1 = mean(log pi(y) - log pi_ref(y)) over policy samples: unbiased, high variance."""
    d = np.asarray(policy_logp) - np.asarray(reference_logp)
    return float(d.mean())


def kl_k3(policy_logp, reference_logp) -> float:
    """k3 = mean((lp - lr) + exp(lr - lp) - 1): unbiased and never negative per sample."""
    d = np.asarray(policy_logp) - np.asarray(reference_logp)
    return float(np.mean(d + np.exp(-d) - 1.0))


def win_rate(gold, reference_gold) -> float:
    """Share of samples whose gold score beats the reference response's; ties count 1/2."""
    gold, reference_gold = np.asarray(gold), np.asarray(reference_gold)
    return float(np.mean((gold > reference_gold) + 0.5 * (gold == reference_gold)))


def cell_metrics(samples: pd.DataFrame, *, task: str, method: str, beta, seed: int, epoch: float) -> dict:
    """The `metrics.json` record of one policy from its scored samples. `epoch` says how
    far along training it is: 0 for the SFT policy, the last epoch for a finished cell."""
    for column in ("policy_logp", "reference_logp", "gold", "reference_gold", "length", "finished"):
        if column not in samples.columns:
            raise ValueError(f"scored samples lack column {column!r}")
    return {
        "task": task,
        "method": method,
        "beta": None if beta is None or (isinstance(beta, float) and math.isnan(beta)) else float(beta),
        "seed": int(seed),
        "epoch": float(epoch),
        "n_samples": int(len(samples)),
        "gold_reward": float(samples["gold"].mean()),
        "gold_reward_std": float(samples["gold"].std(ddof=1)) if len(samples) > 1 else 0.0,
        "win_rate": win_rate(samples["gold"], samples["reference_gold"]),
        "kl_k1": kl_k1(samples["policy_logp"], samples["reference_logp"]),
        "kl_k3": kl_k3(samples["policy_logp"], samples["reference_logp"]),
        "mean_length": float(samples["length"].mean()),
        "malformed_rate": float(1.0 - samples["finished"].mean()),
    }


def with_regimes(table: pd.DataFrame, regimes) -> pd.DataFrame:
    """`table` with a `regime` column (one value per row, or one for all) after `task`."""
    table = table.copy()
    table.insert(1 if "task" in table.columns else 0, "regime", regimes)
    return table


def summarize(cells: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds, per (task, regime, method, beta)."""
    values = ["gold_reward", "win_rate", "kl_k1", "kl_k3", "mean_length", "malformed_rate"]
    keys = ["task", "regime", "method", "beta"] if "regime" in cells.columns else ["task", "method", "beta"]
    grouped = cells.groupby(keys, dropna=False)[values]
    summary = grouped.mean().add_suffix("_mean").join(grouped.std(ddof=1).add_suffix("_std"))
    summary["n_seeds"] = grouped.size()
    return summary.reset_index()


def read_metrics(paths) -> pd.DataFrame:
    """metrics.json files as one table: METRIC_KEYS first, then any other key a record has
    (a new metric is kept, not dropped)."""
    rows = []
    for path in paths:
        with open(path) as f:
            rows.append(json.load(f))
    extra = sorted({k for row in rows for k in row} - set(METRIC_KEYS))
    return pd.DataFrame(rows, columns=METRIC_KEYS + extra)


def read_train_logs(paths, cells, task: str) -> pd.DataFrame:
    """train_log.csv files of cells as one table, with task, regime, method, beta and seed
    columns first; `cells` gives the (regime, method, beta, seed) of each path, in order."""
    frames = []
    for path, (regime, method, beta, seed) in zip(paths, cells, strict=True):
        log = pd.read_csv(path)
        log.insert(0, "seed", int(seed))
        log.insert(0, "beta", float(beta))
        log.insert(0, "method", method)
        log.insert(0, "regime", regime)
        log.insert(0, "task", task)
        frames.append(log)
    if not frames:
        return pd.DataFrame(columns=["task", "regime", "method", "beta", "seed", "step"])
    return pd.concat(frames, ignore_index=True)


def markdown_table(summary: pd.DataFrame) -> str:
    """summary.csv as a markdown table: mean +- std over seeds (std left out for one seed)."""

    def cell(row, name, digits):
        mean, std = row[f"{name}_mean"], row[f"{name}_std"]
        return f"{mean:.{digits}f}" + ("" if pd.isna(std) else f" ± {std:.{digits}f}")

    regimes = _several_regimes(summary)
    lines = ["| " + ("regime | " if regimes else "") + "method | beta | seeds | gold reward | win rate | KL k1 | "
             "KL k3 | mean length | malformed |", "|---" * (10 if regimes else 9) + "|"]
    keys = (["regime"] if regimes else []) + ["_sft", "method", "beta"]
    order = summary.assign(_sft=summary["method"] != "sft").sort_values(keys, kind="stable")
    for _, row in order.iterrows():
        beta = "-" if pd.isna(row["beta"]) else f"{row['beta']:g}"
        lines.append("| " + (f"{row['regime']} | " if regimes else "") + f"{row['method']} | {beta} | {int(row['n_seeds'])} | {cell(row, 'gold_reward', 3)} | "
                     f"{cell(row, 'win_rate', 3)} | {cell(row, 'kl_k1', 2)} | {cell(row, 'kl_k3', 2)} | "
                     f"{cell(row, 'mean_length', 2)} | {cell(row, 'malformed_rate', 3)} |")
    return "\n".join(lines)


SUMMARY_COLUMNS = [("gold_reward", "gold reward", 3), ("win_rate", "win rate", 3), ("kl_k1", "KL k1", 2),
                   ("kl_k3", "KL k3", 2), ("mean_length", "mean length", 2), ("malformed_rate", "malformed", 3)]


def _ordered(table: pd.DataFrame, labels: dict) -> pd.DataFrame:
    """By regime (in table order) when there are several; within one, SFT first, then the
    methods in the config's order (`labels`), each by beta."""
    order = {"sft": -1, **{m: i for i, m in enumerate(labels)}}
    rank = table["method"].map(lambda m: order.get(m, len(order)))
    keys = ["_rank", "method", "beta"]
    if "regime" in table.columns:
        regimes = {r: i for i, r in enumerate(dict.fromkeys(table["regime"]))}
        table = table.assign(_regime=table["regime"].map(regimes))
        keys = ["_regime", *keys]
    out = table.assign(_rank=rank).sort_values(keys, kind="stable")
    return out.drop(columns=[k for k in ("_rank", "_regime") if k in out.columns])


def _several_regimes(table: pd.DataFrame) -> bool:
    return "regime" in table.columns and table["regime"].nunique() > 1


def summary_display(summary: pd.DataFrame, labels: dict | None = None) -> pd.DataFrame:
    """summary.csv as a reader sees it: method labels, mean ± std over seeds."""
    labels = labels or {}
    rows = []
    for _, row in _ordered(summary, labels).iterrows():
        out = {"regime": row["regime"]} if _several_regimes(summary) else {}
        out |= {"method": "SFT (reference)" if row["method"] == "sft" else labels.get(row["method"], row["method"]),
               "beta": "-" if pd.isna(row["beta"]) else f"{row['beta']:g}", "seeds": int(row["n_seeds"])}
        for name, title, digits in SUMMARY_COLUMNS:
            mean, std = row[f"{name}_mean"], row[f"{name}_std"]
            out[title] = f"{mean:.{digits}f}" + ("" if pd.isna(std) else f" ± {std:.{digits}f}")
        rows.append(out)
    return pd.DataFrame(rows)


def cells_display(cells: pd.DataFrame, labels: dict | None = None) -> pd.DataFrame:
    """cells.csv as a reader sees it: one row per policy, rounded."""
    labels = labels or {}
    out = _ordered(cells, labels).copy()
    out["method"] = [("SFT (reference)" if m == "sft" else labels.get(m, m)) for m in out["method"]]
    out["beta"] = ["-" if pd.isna(b) else f"{b:g}" for b in out["beta"]]
    if "regime" in out.columns and not _several_regimes(out):
        out = out.drop(columns="regime")
    return out.round({"gold_reward": 3, "gold_reward_std": 3, "win_rate": 3, "kl_k1": 3, "kl_k3": 3,
                      "mean_length": 2, "malformed_rate": 3})


def html_table(table: pd.DataFrame, title: str, note: str = "") -> str:
    """A standalone HTML page holding one table (the report shows it as a page)."""
    style = ("body{font-family:sans-serif;margin:1em} table{border-collapse:collapse;font-size:14px}"
             "th,td{border:1px solid #ccc;padding:3px 8px;text-align:right} th{background:#f2f2f2}"
             "td:first-child,th:first-child{text-align:left}")
    body = table.to_html(index=False, border=0, escape=True)
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{title}</title><style>{style}</style>"
            f"</head><body><h3>{title}</h3><p>{note}</p>{body}</body></html>\n")
