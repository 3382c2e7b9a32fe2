"""Tasks: each yields the same record shapes (SFT examples, prompts) and names its
gold reward. Adding a task is adding a module and one entry in `TASKS`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from isdaa.tasks import toy


@dataclass(frozen=True)
class Task:
    name: str
    make_records: Callable  # (config) -> (sft_records, prompt_records)
    build_tokenizer: Callable  # () -> PreTrainedTokenizerFast
    disallowed_response_tokens: Callable  # (tokenizer) -> list[int]
    gold_reward: Callable  # (prompt, response) -> float
    response_length: Callable  # (response) -> (n_tokens_before_end, finished)


def _toy_records(config: dict):
    section = config["toy"]
    settings = toy.ToySettings.from_config(section)
    seed = section["seed"]
    sft = toy.generate_split(seed, "sft", section["n_sft_demos"], settings, with_demos=True)
    prompts = toy.generate_split(seed, "train", section["n_train_prompts"], settings, with_demos=False)
    prompts += toy.generate_split(seed, "eval", section["n_eval_prompts"], settings, with_demos=False)
    return sft, prompts


def _toy_length(response: str):
    words, finished = toy.parse_response(response)
    return len(words), finished


TASKS = {
    "toy": Task(
        name="toy",
        make_records=_toy_records,
        build_tokenizer=toy.build_tokenizer,
        disallowed_response_tokens=toy.disallowed_response_tokens,
        gold_reward=toy.gold_reward,
        response_length=_toy_length,
    ),
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known tasks: {sorted(TASKS)}") from None
