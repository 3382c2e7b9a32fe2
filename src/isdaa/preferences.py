"""Gold-labelled preference pairs, as in the paper's controlled set-up: sample responses
from the SFT policy, score them with the gold reward, and label each pair by
Bradley-Terry sampling on the gold scores (noisy labels) or by the higher score."""

from __future__ import annotations

import numpy as np
import pandas as pd

from isdaa.gold import GoldScorer
from isdaa.logprobs import sequence_logps
from isdaa.sampling import SamplingSettings, request_seed


def label_pairs(samples: pd.DataFrame, rng: np.random.Generator, labeling: str) -> pd.DataFrame:
    """Pair samples (0,1), (2,3), ... of each prompt; return one row per kept pair.

    `samples`: prompt_id, prompt, prompt_ids, sample_idx, response, response_ids, gold,
    behavior_logp. Identical responses (same token ids) carry no preference and are
    dropped; under `argmax` labelling ties are dropped too.
    """
    rows = []
    for prompt_id, group in samples.groupby("prompt_id", sort=False):
        group = group.sort_values("sample_idx")
        for a, b in zip(group.iloc[0::2].itertuples(), group.iloc[1::2].itertuples()):
            if list(a.response_ids) == list(b.response_ids):
                continue
            if labeling == "bradley_terry":
                a_wins = rng.random() < 1.0 / (1.0 + np.exp(-(a.gold - b.gold)))
            elif a.gold == b.gold:
                continue
            else:
                a_wins = a.gold > b.gold
            chosen, rejected = (a, b) if a_wins else (b, a)
            rows.append({
                "prompt_id": prompt_id, "prompt": a.prompt, "chosen": chosen.response, "rejected": rejected.response,
                "prompt_ids": list(a.prompt_ids), "chosen_ids": list(chosen.response_ids),
                "rejected_ids": list(rejected.response_ids),
                "behavior_chosen_logp": chosen.behavior_logp, "behavior_rejected_logp": rejected.behavior_logp,
                "chosen_gold": chosen.gold, "rejected_gold": rejected.gold,
            })
    return pd.DataFrame(rows)


def make_preferences(sampler, prompts: pd.DataFrame, scorer: GoldScorer, settings: dict, decode,
                     behavior_model=None):
    """(preferences of the train split, evaluation prompts with their chosen response as
    reference). `prompts`: prompt_id, prompt, split, prompt_ids. `decode(ids_list)` gives
    (texts, finished); `behavior_model` recomputes behaviour log-probs at a temperature
    other than 1 (the sampler's log-probs are at temperature 1)."""
    seed = settings["seed"]
    prompts = prompts.reset_index(drop=True)
    samples = sampler.sample(
        list(prompts["prompt_ids"]), [request_seed(seed, p) for p in prompts["prompt_id"]],
        # top-p 1: the behaviour log-prob is exact only for untruncated sampling.
        SamplingSettings(n=settings["samples_per_prompt"], temperature=settings["temperature"], top_p=1.0,
                         max_new_tokens=settings["max_new_tokens"], seed=seed),
    )
    samples = samples.join(prompts[["prompt_id", "prompt", "split", "prompt_ids"]], on="prompt_idx")
    samples["response"], _ = decode(list(samples["response_ids"]))
    if settings["temperature"] == 1.0:
        samples["behavior_logp"] = samples["policy_logp"]
    else:
        samples["behavior_logp"] = sequence_logps(
            behavior_model, list(samples["prompt_ids"]), list(samples["response_ids"]), settings["batch_size"],
            temperature=settings["temperature"], pad_token_id=sampler.spec.pad_token_id, desc="behaviour log-probs")
    samples["gold"] = scorer.score(list(samples["prompt"]), list(samples["response"]), list(samples["finished"]))
    rng = np.random.default_rng([seed, 7])
    pairs = label_pairs(samples[samples["split"] == "train"], rng, settings["labeling"])
    pairs.insert(0, "pair_id", np.arange(len(pairs)))

    # Evaluation prompts keep every prompt: its reference is the chosen response of its
    # first pair, or the sample itself when both samples were identical.
    eval_samples = samples[samples["split"] == "eval"]
    eval_pairs = label_pairs(eval_samples, rng, settings["labeling"]).drop_duplicates("prompt_id")
    first = eval_samples[eval_samples["sample_idx"] == 0].set_index("prompt_id")
    reference = first["response"].copy()
    reference_gold = first["gold"].copy()
    reference.loc[eval_pairs["prompt_id"]] = eval_pairs["chosen"].to_numpy()
    reference_gold.loc[eval_pairs["prompt_id"]] = eval_pairs["chosen_gold"].to_numpy()
    eval_prompts = pd.DataFrame(
        {"prompt_id": first.index, "prompt": first["prompt"].to_numpy(), "prompt_ids": first["prompt_ids"].to_numpy(),
         "reference": reference.to_numpy(), "reference_gold": reference_gold.to_numpy()}
    )
    return pairs, eval_prompts
