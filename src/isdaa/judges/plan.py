"""How many judge calls a config's benchmarks will make, before making any.

`planned`: per task and benchmark, the policies (SFT and every grid cell) x the questions x
the calls per question (one annotation, two games, two turns): an upper bound that needs
nothing but the config. `counted` (`python -m isdaa judge-plan`) also builds the requests of
every policy whose answers exist and looks each up in the cache: what a run would really
ask, and, from the tokens of the cached replies, what it is likely to cost.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from isdaa.config import task_cells, task_config
from isdaa.judges import files, protocol
from isdaa.judges.cache import JudgmentCache, request_key
from isdaa.judges.run import answer_lookup, cache_root
from isdaa.judges.settings import CALLS_PER_QUESTION, QUESTIONS, benchmark_settings, enabled_benchmarks
from isdaa.layout import SFT_RUN, Layout


def policies(config: dict, name: str) -> list[tuple[str, str]]:
    """(study folder, run) of every policy that answers a task's benchmarks."""
    return [(name, SFT_RUN)] + [(c.task, c.name) for c in task_cells(task_config(config, name))]


def question_count(settings: dict, folder: Path) -> int:
    if (folder / "questions.parquet").is_file():
        total = len(pd.read_parquet(folder / "questions.parquet", columns=["question_id"]))
    else:
        total = QUESTIONS[(settings["name"], settings["version"])]
    return min(total, settings["max_questions"] or total)


def planned(config: dict) -> list[dict]:
    """One row per (task, benchmark): policies, questions, calls (an upper bound)."""
    rows = []
    layout = Layout(config["results_dir"])
    for name in config["tasks"]:
        task = task_config(config, name)
        for bench in enabled_benchmarks(task):
            settings = benchmark_settings(config, task, bench)
            folder = Path(layout.benchmark_set(bench, name))
            runs = len(policies(config, name))
            questions = question_count(settings, folder)
            rows.append({"task": name, "benchmark": bench, "version": settings["version"],
                         "judge_model": settings["judge"]["model"], "policies": runs, "questions": questions,
                         "calls": runs * questions * CALLS_PER_QUESTION[bench]})
    return rows


def counted(config: dict) -> list[dict]:
    """`planned`, with the requests of every policy whose answers exist built and looked up
    in the cache: `answered` policies, their `requests` and how many are `cached`, and the
    calls still to make (`to_ask`: the answered policies' uncached requests plus the upper
    bound of the others)."""
    layout = Layout(config["results_dir"])
    out = []
    for row in planned(config):
        task = task_config(config, row["task"])
        settings = benchmark_settings(config, task, row["benchmark"])
        folder = Path(layout.benchmark_set(row["benchmark"], row["task"]))
        cache = JudgmentCache(cache_root(settings, config["results_dir"]), row["benchmark"])
        answered = requests = cached = 0
        tokens: list[int] = []
        if (folder / "questions.parquet").is_file():
            module = protocol(row["benchmark"])
            questions, judge = files.load(folder)
            questions = files.first_questions(questions, settings["max_questions"])
            for study, run in policies(config, row["task"]):
                answers = Path(layout.benchmark_run("answers.parquet", row["benchmark"], study, run))
                if not answers.is_file():
                    continue
                built, _ = module.build(questions, answer_lookup(pd.read_parquet(answers)), judge, settings)
                answered += 1
                requests += len(built)
                for request in built:
                    reply = cache.get(request_key(request.body))
                    if reply is not None:
                        cached += 1
                        usage = reply.get("usage") or {}
                        tokens.append(int(usage.get("prompt_tokens") or 0) + int(usage.get("completion_tokens") or 0))
        per_policy = row["questions"] * CALLS_PER_QUESTION[row["benchmark"]]
        to_ask = requests - cached + (row["policies"] - answered) * per_policy
        mean_tokens = sum(tokens) / len(tokens) if tokens else None
        out.append({**row, "answered": answered, "requests": requests, "cached": cached, "to_ask": to_ask,
                    "mean_tokens_per_call": mean_tokens,
                    "tokens_to_ask": None if mean_tokens is None else round(mean_tokens * to_ask)})
    return out


def summary(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        line = (f"{r['task']} {r['benchmark']} {r['version']} (judge {r['judge_model']}): {r['policies']} policies x "
                f"{r['questions']} questions x {CALLS_PER_QUESTION[r['benchmark']]} = {r['calls']:,} judge calls at most")
        if "to_ask" in r:
            line += (f"; answers of {r['answered']} policies here, {r['cached']:,} of their {r['requests']:,} requests "
                     f"cached; {r['to_ask']:,} calls to make")
            if r["tokens_to_ask"] is not None:
                line += f" (~{r['tokens_to_ask']:,} tokens at the cached replies' mean)"
        lines.append(line)
    return "\n".join(lines)
