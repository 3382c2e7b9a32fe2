"""Evaluation of a policy on held-out prompts, in two stages that may run as separate
jobs (separate GPU jobs at scale) or in one (`evaluation.one_job`, small models):

- `generate`: sample the policy; each sample keeps its token ids and the policy's raw
  log-prob of them (`generations.parquet`);
- `score`: the reference policy's log-prob of exactly those ids and the gold reward of
  the text (`samples.parquet`), from which `metrics.json` is computed.
"""

from __future__ import annotations

import pandas as pd

from isdaa import modeling
from isdaa.gold import make_scorer
from isdaa.io import require_columns, write_json, write_parquet
from isdaa.logprobs import sequence_logps
from isdaa.metrics import cell_metrics
from isdaa.sampling import SamplingSettings, request_seed, sampler_for
from isdaa.tokenization import decode_responses

GENERATION_COLUMNS = ["prompt_id", "sample_idx", "response", "response_ids", "finished", "policy_logp"]
SAMPLE_COLUMNS = ["prompt_id", "sample_idx", "response", "response_ids", "policy_logp", "reference_logp", "gold",
                  "reference_gold", "length", "finished"]


def read_eval_prompts(path, max_prompts=None) -> pd.DataFrame:
    prompts = pd.read_parquet(path)
    require_columns(prompts, ["prompt_id", "prompt", "prompt_ids", "reference_gold"], path)
    return prompts.iloc[:max_prompts] if max_prompts else prompts


def generate(model_dir, eval_prompts_path, settings: dict, seed: int, device: str) -> pd.DataFrame:
    """Samples of the policy in `model_dir` (`settings`: `isdaa.config.evaluation_settings`)."""
    evaluation, sampling = settings["evaluation"], settings["sampling"]
    prompts = read_eval_prompts(eval_prompts_path, evaluation["max_prompts"])
    tokenizer = modeling.load_tokenizer(model_dir)
    sampler = sampler_for(model_dir, settings["model"], sampling, evaluation["batch_size"], list(prompts["prompt_ids"]),
                          evaluation["max_new_tokens"], device, tokenizer)
    samples = sampler.sample(
        list(prompts["prompt_ids"]), [request_seed(seed, p) for p in prompts["prompt_id"]],
        SamplingSettings(n=evaluation["samples_per_prompt"], temperature=evaluation["temperature"],
                         top_p=evaluation["top_p"], max_new_tokens=evaluation["max_new_tokens"], seed=seed),
    )
    samples.insert(0, "prompt_id", prompts["prompt_id"].to_numpy()[samples.pop("prompt_idx")])
    samples["response"], _ = decode_responses(tokenizer, samples["response_ids"], sampler.spec.end_token_ids)
    return samples[GENERATION_COLUMNS]


def score(generations: pd.DataFrame, eval_prompts_path, reference_model_dir, settings: dict, device: str):
    """Add reference_logp, gold, reference_gold and length (`settings`: `isdaa.config.scoring_settings`)."""
    require_columns(generations, GENERATION_COLUMNS, "generations")
    prompts = read_eval_prompts(eval_prompts_path)
    samples = generations.merge(prompts[["prompt_id", "prompt", "prompt_ids", "reference_gold"]], on="prompt_id",
                                how="left")
    if samples["prompt"].isna().any():
        bad = samples.loc[samples["prompt"].isna(), "prompt_id"].iloc[0]
        raise ValueError(f"samples refer to prompt_id {bad!r}, which {eval_prompts_path} does not hold")
    reference = modeling.load_policy(reference_model_dir, settings["model"], device)
    tokenizer = modeling.load_tokenizer(reference_model_dir)
    samples["reference_logp"] = sequence_logps(
        reference, list(samples["prompt_ids"]), list(samples["response_ids"]), settings["batch_size"],
        pad_token_id=tokenizer.pad_token_id, desc="reference log-probs")
    del reference
    scorer = make_scorer(settings["gold"], device)
    samples["gold"] = scorer.score(list(samples["prompt"]), list(samples["response"]), list(samples["finished"]))
    samples["length"] = [len(ids) - int(done) for ids, done in zip(samples["response_ids"], samples["finished"])]
    return samples[SAMPLE_COLUMNS]


def write_evaluation(samples: pd.DataFrame, task: str, identity: dict, samples_path, metrics_path) -> dict:
    """Write scored samples and their `metrics.json` (`identity`: method, beta, seed, epoch)."""
    metrics = cell_metrics(samples, task=task, **identity)
    write_parquet(samples, samples_path)
    write_json(metrics, metrics_path)
    return metrics
