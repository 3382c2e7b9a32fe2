"""Gold-labelled preference pairs, as in the paper's controlled set-up: sample responses
from the SFT policy, score them with the gold reward, pair them, and label each pair by
Bradley-Terry sampling on the gold scores (noisy labels) or by the higher score.

Pairing: `consecutive` pairs samples (0,1), (2,3), ... of a prompt; `combinations` takes
the first `pairs_per_prompt` pairs of all pairs in itertools order ((0,1), (0,2), (0,3),
(1,2), ... for 4 samples), as the authors' inference/label.py does.
"""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pandas as pd

from isdaa.gold import GoldScorer
from isdaa.logprobs import sequence_logps
from isdaa.sampling import SamplingSettings, request_seed


def sample_pairs(n: int, pairing: str = "consecutive", pairs_per_prompt: int | None = None) -> list[tuple[int, int]]:
    """Which samples (by sample_idx) of a prompt form its pairs."""
    if pairing == "consecutive":
        pairs = [(i, i + 1) for i in range(0, n - 1, 2)]
    elif pairing == "combinations":
        pairs = list(itertools.combinations(range(n), 2))
    else:
        raise ValueError(f"unknown pairing {pairing!r}; known: consecutive, combinations")
    return pairs[:pairs_per_prompt] if pairs_per_prompt else pairs


def label_pairs(samples: pd.DataFrame, rng: np.random.Generator, labeling: str, pairing: str = "consecutive",
                pairs_per_prompt: int | None = None, counts: Counter | None = None) -> pd.DataFrame:
    """Pair the samples of each prompt (see `sample_pairs`); return one row per kept pair.

    `samples`: prompt_id, prompt, prompt_ids, sample_idx, response, response_ids, gold,
    behavior_logp. Identical responses (same token ids) carry no preference and are
    dropped; under `argmax` labelling ties are dropped too. `counts`, when given, counts
    the pairs formed and dropped by reason.
    """
    counts = Counter() if counts is None else counts
    rows = []
    for prompt_id, group in samples.groupby("prompt_id", sort=False):
        group = group.sort_values("sample_idx").reset_index(drop=True)
        for i, j in sample_pairs(len(group), pairing, pairs_per_prompt):
            a, b = group.iloc[i], group.iloc[j]
            counts["pairs_formed"] += 1
            if list(a.response_ids) == list(b.response_ids):
                counts["identical_responses"] += 1
                continue
            if labeling == "bradley_terry":
                a_wins = rng.random() < 1.0 / (1.0 + np.exp(-(a.gold - b.gold)))
            elif a.gold == b.gold:
                counts["tied_gold"] += 1
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


def sample_and_score(sampler, prompts: pd.DataFrame, scorer: GoldScorer, settings: dict, decode,
                     behavior_model=None) -> pd.DataFrame:
    """`samples_per_prompt` samples of every prompt (top-p 1, at the behaviour
    temperature), with their text, gold score and behaviour log-prob. `prompts`:
    prompt_id, prompt, prompt_ids (and any other column, carried along)."""
    seed = settings["seed"]
    prompts = prompts.reset_index(drop=True)
    samples = sampler.sample(
        list(prompts["prompt_ids"]), [request_seed(seed, p) for p in prompts["prompt_id"]],
        # top-p 1: the behaviour log-prob is exact only for untruncated sampling.
        SamplingSettings(n=settings["samples_per_prompt"], temperature=settings["temperature"], top_p=1.0,
                         max_new_tokens=settings["max_new_tokens"], seed=seed),
    )
    samples = samples.join(prompts, on="prompt_idx")
    samples["response"], _ = decode(list(samples["response_ids"]))
    if settings["temperature"] == 1.0:
        samples["behavior_logp"] = samples["policy_logp"]
    else:
        samples["behavior_logp"] = sequence_logps(
            behavior_model, list(samples["prompt_ids"]), list(samples["response_ids"]), settings["batch_size"],
            temperature=settings["temperature"], pad_token_id=sampler.spec.pad_token_id, desc="behaviour log-probs")
    samples["gold"] = scorer.score(list(samples["prompt"]), list(samples["response"]), list(samples["finished"]))
    return samples


def relabel(sampler, prompts: pd.DataFrame, scorer: GoldScorer, settings: dict, decode, behavior_model=None):
    """(pairs, counts) of a preference set's prompts relabelled by the gold reward: the
    paper's TL;DR relabelling (n samples per prompt from the SFT policy, gold-scored,
    paired and labelled as `settings` say). `prompts`: prompt_id, prompt, prompt_ids."""
    samples = sample_and_score(sampler, prompts[["prompt_id", "prompt", "prompt_ids"]], scorer, settings, decode,
                               behavior_model)
    counts = Counter(prompts=len(prompts), samples=len(samples), unfinished_samples=int((~samples["finished"]).sum()))
    rng = np.random.default_rng([settings["seed"], 7])
    pairs = label_pairs(samples, rng, settings["labeling"], settings["pairing"], settings["pairs_per_prompt"],
                        counts)
    if pairs.empty:
        raise ValueError(f"relabelling made no pair from {len(prompts)} prompts: {dict(counts)}")
    pairs.insert(0, "pair_id", np.arange(len(pairs)))
    counts["pairs"] = len(pairs)
    counts["labels_against_gold"] = int((pairs["chosen_gold"] < pairs["rejected_gold"]).sum())
    return pairs, dict(counts)


def make_preferences(sampler, prompts: pd.DataFrame, scorer: GoldScorer, settings: dict, decode,
                     behavior_model=None):
    """The toy's (preferences of the train split, evaluation prompts with their chosen
    response as reference). `prompts`: prompt_id, prompt, split, prompt_ids. `decode(ids_list)`
    gives (texts, finished); `behavior_model` recomputes behaviour log-probs at a temperature
    other than 1 (the sampler's log-probs are at temperature 1)."""
    samples = sample_and_score(sampler, prompts[["prompt_id", "prompt", "split", "prompt_ids"]], scorer, settings,
                               decode, behavior_model)
    rng = np.random.default_rng([settings["seed"], 7])
    pairing = (settings.get("pairing", "consecutive"), settings.get("pairs_per_prompt"))
    pairs = label_pairs(samples[samples["split"] == "train"], rng, settings["labeling"], *pairing)
    pairs.insert(0, "pair_id", np.arange(len(pairs)))

    # Evaluation prompts keep every prompt: its reference is the chosen response of its
    # first pair, or the sample itself when both samples were identical.
    eval_samples = samples[samples["split"] == "eval"]
    eval_pairs = label_pairs(eval_samples, rng, settings["labeling"], *pairing).drop_duplicates("prompt_id")
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


def import_pairs(source: pd.DataFrame, mode: str):
    """(pairs, counts) of a preference set's own pairs: `released` (a relabelled set as
    published, e.g. the authors' gold-relabelled TL;DR) or `human` (the original human
    labels). Gold scores, behaviour log-probs and a judge's ratings (UltraFeedback's) are kept
    where the set has them; the counts say how many pairs have tied ratings."""
    columns = ["pair_id", "prompt_id", "prompt", "chosen", "rejected", "prompt_ids", "chosen_ids", "rejected_ids"]
    optional = ["behavior_chosen_logp", "behavior_rejected_logp", "chosen_gold", "rejected_gold", "chosen_rating",
                "rejected_rating"]
    pairs = source[columns + [c for c in optional if c in source.columns]].reset_index(drop=True)
    counts = {"pairs": len(pairs), "prompts": int(pairs["prompt_id"].nunique()),
              "with_gold": "chosen_gold" in pairs, "with_behavior": "behavior_chosen_logp" in pairs}
    if "chosen_rating" in pairs:
        counts["tied_ratings"] = int((pairs["chosen_rating"] == pairs["rejected_rating"]).sum())
    if "chosen_gold" in pairs:
        counts["labels_against_gold"] = int((pairs["chosen_gold"] < pairs["rejected_gold"]).sum())
    return pairs, counts


def behaviour_sampler(model_path, model: dict, sampling: dict, settings: dict, prompt_ids, device: str, tokenizer):
    """(sampler, behaviour model, decode) of the SFT policy at `model_path` as the behaviour
    policy of `settings` (a preference_data section): the behaviour model recomputes
    log-probs at a temperature other than 1 (None at 1), `decode` turns sampled ids into texts."""
    from isdaa import modeling
    from isdaa.sampling import sampler_for
    from isdaa.sampling.hf import HFSampler
    from isdaa.tokenization import decode_responses

    sampler = sampler_for(model_path, model, sampling, settings["batch_size"], list(prompt_ids),
                          settings["max_new_tokens"], device, tokenizer)
    behavior = None
    if settings["temperature"] != 1.0:
        # The hf sampler holds the policy already; vLLM's engine is not a torch module.
        behavior = sampler.model if isinstance(sampler, HFSampler) else modeling.load_policy(model_path, model, device)
    return sampler, behavior, lambda ids: decode_responses(tokenizer, ids, sampler.spec.end_token_ids)
