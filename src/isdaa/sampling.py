"""Sampling responses from a policy. Backend `hf` (transformers `generate`, CPU or GPU);
a `vllm` backend for paper scale is on the roadmap and will share this interface."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from isdaa.logprobs import score_responses


@torch.no_grad()
def sample_responses(
    model,
    tokenizer,
    prompts: list[str],
    n: int,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    seed: int,
    batch_size: int = 256,
) -> pd.DataFrame:
    """`n` samples per prompt: columns prompt_idx, sample_idx, response, policy_logp.

    `response` is the exact generated token text, ending in the EOS token only when
    the model stopped; `policy_logp` is its log-prob under the policy at
    temperature 1 (what KL estimates need), not under the sampling distribution.
    """
    device = next(model.parameters()).device
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    eos = tokenizer.eos_token_id
    rows = []
    try:
        for start in tqdm(range(0, len(prompts), batch_size), desc="sampling", unit="batch"):
            batch = prompts[start : start + batch_size]
            ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in batch]
            width = max(map(len, ids))
            # Left padding: generation continues every prompt from its last token.
            input_ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(x)) + x for x in ids], device=device)
            attention = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids], device=device)
            out = model.generate(
                input_ids=input_ids,
                attention_mask=attention,
                do_sample=True,
                temperature=temperature,
                top_p=top_p,
                top_k=0,
                max_new_tokens=max_new_tokens,
                num_return_sequences=n,
            )
            generated = out[:, width:].tolist()
            for j, seq in enumerate(generated):
                if eos in seq:
                    seq = seq[: seq.index(eos) + 1]
                text = tokenizer.decode(seq, skip_special_tokens=False, clean_up_tokenization_spaces=False)
                rows.append({"prompt_idx": start + j // n, "sample_idx": j % n, "response": text.strip()})
    finally:
        torch.random.set_rng_state(generator_state)
    samples = pd.DataFrame(rows)
    samples["policy_logp"] = score_responses(
        model, tokenizer, [prompts[i] for i in samples["prompt_idx"]], list(samples["response"]), batch_size,
        desc="policy log-probs",
    )
    return samples


