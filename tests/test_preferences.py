"""How samples become preference pairs: the two pairings, the labels, what is dropped and
counted, and a set's own pairs taken as they are."""

import numpy as np
import pandas as pd
import pytest

from isdaa.preferences import import_pairs, relabel, sample_pairs


def test_pairings_follow_the_authors_itertools_order_and_the_toys_consecutive_pairs():
    # The authors' label.py: the first K = 4 of itertools.combinations of 4 samples.
    assert sample_pairs(4, "combinations", 4) == [(0, 1), (0, 2), (0, 3), (1, 2)]
    assert sample_pairs(4, "combinations") == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    assert sample_pairs(4, "consecutive") == [(0, 1), (2, 3)]
    assert sample_pairs(5, "consecutive") == [(0, 1), (2, 3)]  # an odd sample is left out
    with pytest.raises(ValueError, match="unknown pairing 'random'"):
        sample_pairs(4, "random")


class _Spec:
    pad_token_id = 0


class ScriptedSampler:
    """Returns fixed responses per prompt (token ids), with log-probs -len."""

    spec = _Spec()

    def __init__(self, responses: dict[int, list[list[int]]]):
        self.responses = responses

    def sample(self, prompt_ids, request_seeds, settings):
        rows = []
        for i in range(len(prompt_ids)):
            for j, ids in enumerate(self.responses[i][: settings.n]):
                rows.append({"prompt_idx": i, "sample_idx": j, "response_ids": ids + [9], "finished": True,
                             "policy_logp": -float(len(ids))})
        return pd.DataFrame(rows)


class LengthGold:
    """Gold = number of tokens in the response text (a word per token below)."""

    def score(self, prompts, responses, finished):
        return np.array([len(r.split()) for r in responses], dtype=np.float64)


def decode(ids_list):
    return [" ".join(f"w{t}" for t in ids[:-1]) for ids in ids_list], [True] * len(ids_list)


def test_relabel_pairs_argmax_labels_and_counts_what_it_drops():
    prompts = pd.DataFrame({"prompt_id": ["a", "b"], "prompt": ["A", "B"], "prompt_ids": [[1], [2]]})
    sampler = ScriptedSampler({
        0: [[1], [1, 2], [1, 2, 3], [1]],        # (0,3) identical; golds 1,2,3,1
        1: [[4, 5], [6, 7], [8], [8, 9, 9]],     # (0,1) tie at gold 2
    })
    settings = {"seed": 0, "samples_per_prompt": 4, "temperature": 1.0, "max_new_tokens": 8, "labeling": "argmax",
                "pairing": "combinations", "pairs_per_prompt": 4, "batch_size": 4}
    pairs, counts = relabel(sampler, prompts, LengthGold(), settings, decode)
    # Prompt a: (0,1) (0,2) (0,3: identical, dropped) (1,2); prompt b: (0,1: tie, dropped) (0,2) (0,3) (1,2).
    assert counts["pairs_formed"] == 8 and counts["identical_responses"] == 1 and counts["tied_gold"] == 1
    assert counts["pairs"] == len(pairs) == 6 and counts["prompts"] == 2 and counts["samples"] == 8
    assert (pairs["chosen_gold"] > pairs["rejected_gold"]).all() and counts["labels_against_gold"] == 0
    assert list(pairs["pair_id"]) == list(range(6))
    # Behaviour log-probs at temperature 1 are the sampler's own, carried with each response.
    first = pairs.iloc[0]
    assert first["chosen_ids"] == [1, 2, 9] and first["behavior_chosen_logp"] == -2.0
    assert first["rejected_ids"] == [1, 9] and first["behavior_rejected_logp"] == -1.0


def test_relabel_that_makes_no_pair_fails_with_its_counts():
    prompts = pd.DataFrame({"prompt_id": ["a"], "prompt": ["A"], "prompt_ids": [[1]]})
    settings = {"seed": 0, "samples_per_prompt": 2, "temperature": 1.0, "max_new_tokens": 8, "labeling": "argmax",
                "pairing": "consecutive", "pairs_per_prompt": None, "batch_size": 4}
    with pytest.raises(ValueError, match="no pair from 1 prompts.*identical_responses"):
        relabel(ScriptedSampler({0: [[3], [3]]}), prompts, LengthGold(), settings, decode)


def test_a_sets_own_pairs_keep_their_gold_and_behaviour_columns_where_present():
    source = pd.DataFrame({"pair_id": [0, 1], "prompt_id": ["a", "a"], "prompt": ["A", "A"], "chosen": ["x", "y"],
                           "rejected": ["y", "z"], "prompt_ids": [[1], [1]], "chosen_ids": [[2, 9], [3, 9]],
                           "rejected_ids": [[3, 9], [4, 9]], "chosen_gold": [1.0, 0.0], "rejected_gold": [0.5, 2.0]})
    pairs, counts = import_pairs(source, "released")
    assert list(pairs.columns)[-2:] == ["chosen_gold", "rejected_gold"]
    assert counts == {"pairs": 2, "prompts": 1, "with_gold": True, "with_behavior": False, "labels_against_gold": 1}
    human, counts = import_pairs(source.drop(columns=["chosen_gold", "rejected_gold"]), "human")
    assert "chosen_gold" not in human and counts["with_gold"] is False


def test_a_judges_ratings_stay_with_the_pairs_as_ratings_and_ties_are_counted():
    """UltraFeedback's GPT-4 ratings reach preferences.parquet as ratings (never gold), and
    the labelling counts the pairs whose two ratings tie (no preference: kept, counted)."""
    source = pd.DataFrame({"pair_id": [0, 1, 2], "prompt_id": ["a", "b", "c"], "prompt": ["A", "B", "C"],
                           "chosen": ["x", "y", "z"], "rejected": ["y", "z", "x"], "prompt_ids": [[1], [2], [3]],
                           "chosen_ids": [[2, 9], [3, 9], [4, 9]], "rejected_ids": [[3, 9], [4, 9], [2, 9]],
                           "chosen_rating": [8.0, 7.0, 5.0], "rejected_rating": [6.0, 7.0, 5.0]})
    pairs, counts = import_pairs(source, "human")
    assert list(pairs["chosen_rating"]) == [8.0, 7.0, 5.0] and "chosen_gold" not in pairs
    assert counts["tied_ratings"] == 2 and counts["with_gold"] is False
