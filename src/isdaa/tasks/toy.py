"""The controlled toy study: a summarisation-shaped task with a known gold reward.

A prompt ("document") is 20 words: a few *key* words, each repeated several times,
and *distractor* words that appear once. A good response ("summary") lists each key
word once and stops. The gold reward r*(x, y) scores that; there is no explicit
length penalty, so length hurts only through distractors, repeats and truncation.
SFT samples therefore carry a spurious length signal (longer responses tend to
cover more keys), which is what lets preference training over-optimise.

Text is the exact token sequence: words separated by spaces, the prompt ending in
``<sep>``, a finished response ending in ``</s>``. A response without ``</s>`` hit the
length limit and is malformed.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

PAD, SEP, EOS, UNK = "<pad>", "<sep>", "</s>", "<unk>"
SPECIAL_TOKENS = [PAD, SEP, EOS, UNK]
# 40 content words: one token each; readable so samples can be inspected by eye.
WORDS = (
    "apple river stone cloud tiger lamp ocean forest candle mirror "
    "garden bridge rocket violin desert island pepper silver thunder marble "
    "falcon harbor copper meadow lantern glacier orchard canyon ember velvet "
    "compass quartz willow anchor beacon cobalt dune fossil saffron tundra"
).split()

# Gold reward terms (per response word, plus the truncation penalty).
KEY_REWARD = 1.0
DISTRACTOR_PENALTY = -0.25
REPEAT_PENALTY = -0.5
ABSENT_PENALTY = -0.5
UNFINISHED_PENALTY = -3.0


@dataclass(frozen=True)
class ToySettings:
    """Shape of the generated data (the `toy:` section of the config)."""

    prompt_length: int = 20
    n_keys: tuple[int, ...] = (2, 3, 4)
    key_repeats: tuple[int, ...] = (3, 4, 5)
    max_response_words: int = 9
    demo_key_prob: float = 0.5
    demo_distractor_probs: tuple[float, ...] = (0.4, 0.3, 0.2, 0.1)
    demo_duplicate_prob: float = 0.1

    @classmethod
    def from_config(cls, section: dict) -> "ToySettings":
        known = {k: section[k] for k in cls.__dataclass_fields__ if k in section}
        for key in ("n_keys", "key_repeats", "demo_distractor_probs"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)


def make_prompt(rng: np.random.Generator, settings: ToySettings) -> list[str]:
    """Key words repeated, distinct distractors filling the rest, shuffled."""
    n_keys = int(rng.choice(settings.n_keys))
    chosen = rng.permutation(len(WORDS))
    keys = [WORDS[i] for i in chosen[:n_keys]]
    words = [k for k in keys for _ in range(int(rng.choice(settings.key_repeats)))]
    words = words[: settings.prompt_length]
    n_distractors = settings.prompt_length - len(words)
    words += [WORDS[i] for i in chosen[n_keys : n_keys + n_distractors]]
    return [words[i] for i in rng.permutation(len(words))]


def make_demonstration(rng: np.random.Generator, prompt: list[str], settings: ToySettings) -> list[str]:
    """A deliberately imperfect summary, so preference training has room to rise and to fall."""
    counts = Counter(prompt)
    keys = [w for w in dict.fromkeys(prompt) if counts[w] >= 2]
    distractors = [w for w in dict.fromkeys(prompt) if counts[w] == 1]
    words = [k for k in keys if rng.random() < settings.demo_key_prob]
    n_distractors = int(rng.choice(len(settings.demo_distractor_probs), p=settings.demo_distractor_probs))
    n_distractors = min(n_distractors, len(distractors))
    if n_distractors:
        words += [distractors[i] for i in rng.choice(len(distractors), n_distractors, replace=False)]
    words = [words[i] for i in rng.permutation(len(words))]
    if words and rng.random() < settings.demo_duplicate_prob:
        words.insert(int(rng.integers(len(words) + 1)), words[int(rng.integers(len(words)))])
    return words[: settings.max_response_words]


def prompt_text(words: list[str]) -> str:
    return " ".join(words + [SEP])


def response_text(words: list[str], finished: bool = True) -> str:
    return " ".join(words + ([EOS] if finished else []))


def parse_response(text: str) -> tuple[list[str], bool]:
    """(words before the end token, whether the response ended with it)."""
    tokens = text.split()
    if EOS in tokens:
        return tokens[: tokens.index(EOS)], True
    return tokens, False


def gold_reward(prompt: str, response: str, finished: bool = True) -> float:
    """r*(x, y): +1 per new key word, -0.25 per distractor, -0.5 per repeat or absent
    word, -3 when the response never ends. `response` is the text before the end
    token; a response text that still holds ``</s>`` is cut there."""
    counts = Counter(w for w in prompt.split() if w != SEP)
    words, ended = parse_response(response)
    seen: set[str] = set()
    total = 0.0
    for word in words:
        if word in seen:
            total += REPEAT_PENALTY
        elif counts[word] >= 2:
            total += KEY_REWARD
        elif counts[word] == 1:
            total += DISTRACTOR_PENALTY
        else:
            total += ABSENT_PENALTY
        seen.add(word)
    return total + (0.0 if (finished or ended) else UNFINISHED_PENALTY)


def generate_split(seed: int, split: str, n: int, settings: ToySettings, with_demos: bool):
    """Records of one split; each split has its own random stream, so resizing one
    split never changes another."""
    stream = {"sft": 0, "train": 1, "eval": 2}[split]
    rng = np.random.default_rng([seed, stream])
    records = []
    for i in range(n):
        words = make_prompt(rng, settings)
        record = {"prompt_id": f"{split}-{i:06d}", "split": split, "prompt": prompt_text(words)}
        if with_demos:
            demo = make_demonstration(rng, words, settings)
            record["response"] = " ".join(demo)
            # The exact token text for the raw prompt format: words, then the end token.
            record["completion"] = " " + response_text(demo)
        records.append(record)
    return records


def build_tokenizer():
    """A word-level tokenizer over the task vocabulary, as a `PreTrainedTokenizerFast`."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS + WORDS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token=PAD, eos_token=EOS, unk_token=UNK, sep_token=SEP
    )
    # Right padding for training; sampling switches to left padding itself.
    tokenizer.padding_side = "right"
    return tokenizer


def check_task(task: dict) -> None:
    """Checks of a task with toy data that the schema cannot express; raises
    ValueError("<key below the task>: message")."""
    toy = task["data"]["toy"]
    if not math.isclose(sum(toy["demo_distractor_probs"]), 1.0, abs_tol=1e-6):
        raise ValueError(f"data.toy.demo_distractor_probs = {toy['demo_distractor_probs']}: must sum to 1")
    if max(toy["n_keys"]) * min(toy["key_repeats"]) > toy["prompt_length"]:
        raise ValueError(f"data.toy.prompt_length = {toy['prompt_length']}: too short for data.toy.n_keys x "
                         "data.toy.key_repeats")
    build = task["model"].get("build")
    if build and build["tokenizer"] == "toy":
        longest = toy["prompt_length"] + 1 + max(task["preference_data"]["max_new_tokens"],
                                                 task["evaluation"]["max_new_tokens"], toy["max_response_words"] + 1)
        if longest > build["max_positions"]:
            raise ValueError(f"model.build.max_positions = {build['max_positions']}: prompt plus response need "
                             f"{longest} tokens")


def make_records(toy: dict):
    """(SFT demonstrations, train and eval prompts) of the `data.toy` settings."""
    settings = ToySettings.from_config(toy)
    seed = toy["seed"]
    sft = generate_split(seed, "sft", toy["n_sft_demos"], settings, with_demos=True)
    prompts = generate_split(seed, "train", toy["n_train_prompts"], settings, with_demos=False)
    prompts += generate_split(seed, "eval", toy["n_eval_prompts"], settings, with_demos=False)
    return sft, prompts


def disallowed_response_tokens(tokenizer) -> list[int]:
    """Tokens a response may never contain: masked in sampling and in every log-prob,
    so KL estimates never count impossible tokens."""
    return [tokenizer.convert_tokens_to_ids(t) for t in (PAD, SEP, UNK)]
