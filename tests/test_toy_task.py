from collections import Counter

import numpy as np
import pytest

from isdaa.gold import ToyScorer
from isdaa.tasks import make_records, toy


def test_gold_reward_terms():
    prompt = "apple apple apple river river river stone cloud <sep>"
    assert toy.gold_reward(prompt, "apple river", True) == 2.0
    assert toy.gold_reward(prompt, "apple apple", True) == 0.5  # a repeat costs 0.5
    assert toy.gold_reward(prompt, "apple stone", True) == 0.75  # a distractor costs 0.25
    assert toy.gold_reward(prompt, "apple tiger", True) == 0.5  # a word absent from the prompt costs 0.5
    assert toy.gold_reward(prompt, "", True) == 0.0
    assert toy.gold_reward(prompt, "apple river", False) == 2.0 - 3.0  # never ended: malformed
    # The exact token text of a finished response says so itself.
    assert toy.gold_reward(prompt, "apple river </s>", False) == 2.0
    scores = ToyScorer().score([prompt] * 2, ["apple river", "apple"], [True, False])
    assert list(scores) == [2.0, 1.0 - 3.0]


def test_prompts_have_the_designed_shape():
    settings = toy.ToySettings()
    records = toy.generate_split(0, "train", 200, settings, with_demos=False)
    for record in records:
        words = record["prompt"].split()
        assert words[-1] == toy.SEP and len(words) == settings.prompt_length + 1
        counts = Counter(words[:-1])
        keys = [w for w, c in counts.items() if c >= 2]
        assert len(keys) in settings.n_keys
        assert all(counts[k] in settings.key_repeats for k in keys)
        assert all(c == 1 for w, c in counts.items() if w not in keys)


def test_splits_are_deterministic_and_independent():
    settings = toy.ToySettings()
    a = toy.generate_split(3, "eval", 50, settings, with_demos=False)
    b = toy.generate_split(3, "eval", 50, settings, with_demos=False)
    c = toy.generate_split(4, "eval", 50, settings, with_demos=False)
    assert a == b and a != c
    # Growing the SFT split leaves the evaluation prompts unchanged.
    data = {"toy": {"seed": 0, "n_sft_demos": 10, "n_train_prompts": 5, "n_eval_prompts": 5}}
    _, p1 = make_records(data)
    data["toy"]["n_sft_demos"] = 50
    _, p2 = make_records(data)
    assert p1 == p2


def test_demonstrations_leave_room_to_improve():
    settings = toy.ToySettings()
    records = toy.generate_split(0, "sft", 2000, settings, with_demos=True)
    golds = np.array([toy.gold_reward(r["prompt"], r["response"], True) for r in records])
    best = np.array([sum(c >= 2 for c in Counter(r["prompt"].split()[:-1]).values()) for r in records])
    assert 0.5 < golds.mean() < best.mean()  # imperfect, but better than nothing
    assert all(r["completion"].split()[-1] == toy.EOS for r in records)
    assert all(r["completion"] == " " + " ".join(filter(None, [r["response"], toy.EOS])) for r in records)


def test_tokenizer_round_trips_exact_token_text():
    tokenizer = toy.build_tokenizer()
    text = "apple river <sep> apple </s>"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == 5 and tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids, skip_special_tokens=False) == text
    disallowed = toy.disallowed_response_tokens(tokenizer)
    assert tokenizer.eos_token_id not in disallowed and tokenizer.pad_token_id in disallowed


def test_unknown_data_source_is_named():
    with pytest.raises(ValueError, match="unknown data source 'nope'"):
        make_records({"nope": {}})
