"""Gold scorers: the reward that plays ground truth, behind one interface.

A scorer is built once per job (`make_scorer`) and scores whole lists, never one
sample per call: a reward model is loaded once and runs in batches.

Two kinds (the `gold` section of a task), either with an optional length penalty:
- `toy`: the toy task's programmatic reward (`isdaa.tasks.toy.gold_reward`);
- `reward_model`: a Hugging Face sequence-classification model with a single score,
  applied to (prompt, response) through its own chat template or a format string.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class GoldScorer(Protocol):
    def score(self, prompts: list[str], responses: list[str], finished: list[bool]) -> np.ndarray:
        """(N,) gold rewards. `responses` are the texts without their end token;
        `finished` says whether each response ended (False: it hit the length limit)."""
        ...


class ToyScorer:
    """The toy task's r*(x, y) (see `isdaa.tasks.toy`)."""

    def score(self, prompts, responses, finished) -> np.ndarray:
        from isdaa.tasks.toy import gold_reward

        return np.array([gold_reward(p, r, f) for p, r, f in zip(prompts, responses, finished)], dtype=np.float64)


class LengthPenalized:
    """A scorer minus `penalty` per word of the response: an explicit length penalty
    (words are whitespace-separated; a toy word is one token)."""

    def __init__(self, scorer: GoldScorer, penalty: float):
        self.scorer, self.penalty = scorer, penalty

    def score(self, prompts, responses, finished) -> np.ndarray:
        words = np.array([len(r.split()) for r in responses], dtype=np.float64)
        return self.scorer.score(prompts, responses, finished) - self.penalty * words


def make_scorer(spec: dict, device: str = "cpu") -> GoldScorer:
    """The scorer of a task's `gold` section (with its `length_penalty`, if any)."""
    kind = spec["type"]
    if kind == "toy":
        scorer = ToyScorer()
    elif kind == "reward_model":
        from isdaa.reward_model import RewardModelScorer

        scorer = RewardModelScorer.from_spec(spec, device)
    else:
        raise ValueError(f"unknown gold scorer type {kind!r}; known: toy, reward_model")
    penalty = spec.get("length_penalty", 0.0)
    return LengthPenalized(scorer, penalty) if penalty else scorer
