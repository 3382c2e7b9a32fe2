"""Evaluation of a policy on held-out prompts: sample, then score against the gold
reward and the reference policy.

Both steps run in one job: on the toy study a job's start-up (importing torch and
transformers, ~7 s) costs more than sampling and scoring together."""

from __future__ import annotations

import pandas as pd

from isdaa import modeling
from isdaa.io import require_columns
from isdaa.logprobs import score_responses
from isdaa.runtime import device
from isdaa.sampling import sample_responses
from isdaa.tasks import get_task


def generate(model_dir, eval_prompts_path, settings: dict, seed: int) -> pd.DataFrame:
    """Samples of the policy in `model_dir`: prompt_id, sample_idx, response, policy_logp."""
    prompts = pd.read_parquet(eval_prompts_path)
    require_columns(prompts, ["prompt_id", "prompt"], eval_prompts_path)
    if settings.get("max_prompts"):
        prompts = prompts.iloc[: settings["max_prompts"]]
    model = modeling.load_model(model_dir, device())
    tokenizer = modeling.load_tokenizer(model_dir)
    samples = sample_responses(
        model, tokenizer, list(prompts["prompt"]), n=settings["samples_per_prompt"],
        temperature=settings["temperature"], top_p=settings["top_p"],
        max_new_tokens=settings["max_new_tokens"], seed=seed, batch_size=settings["batch_size"],
    )
    samples.insert(0, "prompt_id", prompts["prompt_id"].to_numpy()[samples.pop("prompt_idx")])
    return samples


def score(generations: pd.DataFrame, eval_prompts_path, reference_model_dir, task_name: str, batch_size: int):
    """Add reference_logp, gold, reference_gold, length and finished to the samples."""
    task = get_task(task_name)
    prompts = pd.read_parquet(eval_prompts_path)
    require_columns(prompts, ["prompt_id", "prompt", "reference_gold"], eval_prompts_path)
    samples = generations.merge(prompts[["prompt_id", "prompt", "reference_gold"]], on="prompt_id", how="left")
    if samples["prompt"].isna().any():
        bad = samples.loc[samples["prompt"].isna(), "prompt_id"].iloc[0]
        raise ValueError(f"samples refer to prompt_id {bad!r}, which {eval_prompts_path} does not hold")
    reference = modeling.load_model(reference_model_dir, device())
    tokenizer = modeling.load_tokenizer(reference_model_dir)
    samples["reference_logp"] = score_responses(
        reference, tokenizer, list(samples["prompt"]), list(samples["response"]), batch_size,
        desc="reference log-probs",
    )
    samples["gold"] = [task.gold_reward(p, r) for p, r in zip(samples["prompt"], samples["response"])]
    lengths = [task.response_length(r) for r in samples["response"]]
    samples["length"] = [n for n, _ in lengths]
    samples["finished"] = [f for _, f in lengths]
    return samples.drop(columns=["prompt"])


def evaluate_policy(model_dir, eval_prompts_path, reference_model_dir, task_name: str, settings: dict,
                    seed: int) -> pd.DataFrame:
    """Sample the policy in `model_dir` on the held-out prompts and score the samples."""
    generations = generate(model_dir, eval_prompts_path, settings, seed)
    return score(generations, eval_prompts_path, reference_model_dir, task_name, settings["batch_size"])
