"""The numbers that the README and docs/results.md quote about a study, computed from a
finished run's artifacts, so that prose never drifts from what the run produced.

    python -m isdaa facts --results results --task toy                    # print them
    python -m isdaa facts --results results --task toy --output docs/results.md   # rewrite its block

tests/test_study_shape.py checks the block in docs/results.md against a run of the
default data, SFT and recipe.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from isdaa.layout import Layout

BLOCK = "study-facts"


def study_facts(results: str, task: str) -> dict:
    """Facts of a task's run: model size, data, labels, length signal, training steps."""
    layout = Layout(results)
    config = json.loads((Path(layout.sft_model(task)) / "config.json").read_text())
    from safetensors import safe_open

    with safe_open(Path(layout.sft_model(task)) / "model.safetensors", "pt") as f:
        n_params = sum(int(np.prod(f.get_slice(k).get_shape())) for k in f.keys())
    sft = pd.read_parquet(layout.data("sft.parquet", task))
    prompts = pd.read_parquet(layout.data("prompts.parquet", task))
    pairs = pd.read_parquet(layout.data("preferences.parquet", task))
    lengths = pd.concat([pairs["chosen_ids"].map(len), pairs["rejected_ids"].map(len)]) - 1
    golds = pd.concat([pairs["chosen_gold"], pairs["rejected_gold"]])
    chosen, rejected = pairs["chosen_ids"].map(len), pairs["rejected_ids"].map(len)
    # Each cell's log ends with "cell <name> trained: <steps> steps over <pairs> pairs".
    logs = Path(layout.task(task), "logs", "train_preference").rglob("*.log")
    steps = sorted({int(m[1]) for p in logs for m in re.finditer(r"trained: (\d+) steps", p.read_text())})
    return {
        "parameters": n_params,
        "architecture": config["architectures"][0],
        "sft_demonstrations": len(sft),
        "train_prompts": int((prompts["split"] == "train").sum()),
        "eval_prompts": int((prompts["split"] == "eval").sum()),
        "pairs": len(pairs),
        "labels_against_gold": float((pairs["chosen_gold"] < pairs["rejected_gold"]).mean()),
        "corr_length_gold": float(np.corrcoef(lengths, golds)[0, 1]),
        "chosen_longer": float((chosen > rejected).mean()),
        "chosen_shorter": float((chosen < rejected).mean()),
        "steps_per_cell": steps,
    }


def render(facts: dict, task: str, command: str) -> str:
    steps = ", ".join(map(str, facts["steps_per_cell"]))
    return "\n".join([
        f"Computed from a run's artifacts (task `{task}` of config/config.yaml) by `{command}`:",
        "",
        f"- policy: `{facts['architecture']}`, {facts['parameters']:,} parameters;",
        f"- data: {facts['sft_demonstrations']:,} SFT demonstrations, {facts['train_prompts']:,} training prompts, "
        f"{facts['eval_prompts']:,} held-out prompts;",
        f"- {facts['pairs']:,} preference pairs; {facts['labels_against_gold']:.1%} of labels go against the gold order;",
        f"- length signal: corr(length, gold) = {facts['corr_length_gold']:.2f} over pair responses; the chosen response "
        f"is longer in {facts['chosen_longer']:.1%} of pairs and shorter in {facts['chosen_shorter']:.1%};",
        f"- optimiser steps per cell: {steps}.",
    ])
