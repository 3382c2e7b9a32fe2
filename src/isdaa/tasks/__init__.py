"""Task data: each source yields the same record shapes.

- SFT demonstrations: `prompt`, `response` (the demonstration's text) and, for the raw
  prompt format, `completion` (the exact token text after the prompt, end token
  included);
- prompts: `prompt_id`, `split` (train: pairs are sampled for them; eval: held out),
  `prompt`.

A source is a key under a task's `data` section; adding one is a module here and one
entry in `SOURCES`.

Hub datasets (a task's `data.sft` / `data.preferences` / `data.eval`) are read through a
dataset format (`FORMATS`: a `preference_set.Format` each); adding one is a module here
and one entry in `FORMATS`. sources.py finds and loads the data, cleaning.py turns rows
into records.
"""

from __future__ import annotations

from isdaa.tasks import instruction, preference_set, tldr, toy

SOURCES = {"toy": toy.make_records}

FORMATS = {f.name: f for f in (tldr.TLDR_SFT, tldr.TLDR_PREFERENCES, instruction.ULTRACHAT, instruction.ULTRAFEEDBACK,
                               preference_set.PREFERENCE)}


def make_records(data: dict):
    """(sft records, prompt records) of a task's `data` section."""
    (source, settings), = data.items()
    try:
        return SOURCES[source](settings)
    except KeyError:
        raise ValueError(f"unknown data source {source!r}; known: {sorted(SOURCES)}") from None
