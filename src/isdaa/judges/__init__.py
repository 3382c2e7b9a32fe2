"""LLM-judge benchmarks: AlpacaEval 2, Arena-Hard and MT-Bench through any OpenAI-compatible
judge.

- `settings`: a task's benchmarks resolved (canonical defaults, the judge of each);
- `files`: a benchmark's files fetched and turned into one layout (questions, judge prompts);
- `cache`: every paid reply on disk, keyed by the exact request;
- `client`: the `openai` SDK, bounded concurrency, the cache in front;
- `alpaca_eval`, `arena_hard`, `mt_bench`: each protocol's requests, verdicts and score;
- `run`: one policy's judgments and score (what a judge rule runs); `plan`: how many calls
  a config will make; `table`: every score of a task in one table.

A protocol is a module with `build(questions, answers, judge, settings) -> (requests,
table)`, `parse(replies, table, judge) -> judgments` (a `verdict` column, None when
unparsable) and `score(judgments, questions, judge, settings, folder, generator) -> dict`.
"""

from __future__ import annotations

import importlib


def protocol(name: str):
    """The module of a benchmark's protocol."""
    from isdaa.judges.settings import PROTOCOLS

    if name not in PROTOCOLS:
        raise ValueError(f"unknown benchmark {name!r}; known: {list(PROTOCOLS)}")
    return importlib.import_module(f"isdaa.judges.{name}")
