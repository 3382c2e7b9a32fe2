"""Sequence-level log-probs: the sum of token log-probs over response tokens only.

One function serves training, the shared reference pass, behaviour log-probs and
evaluation, so every log-ratio in the project is computed the same way.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm


def completion_logps(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    completion_mask: torch.Tensor,
    disallowed_token_ids: list[int] | None = None,
    temperature: float = 1.0,
) -> torch.Tensor:
    """(B,) sums of log pi(y_t | x, y_<t) over positions where `completion_mask` is 1.

    Tokens in `disallowed_token_ids` get probability zero (the sampler never emits
    them), so the distribution scored is the one sampled from.
    """
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
    logits = logits[:, :-1].float() / temperature
    if disallowed_token_ids:
        logits[..., disallowed_token_ids] = float("-inf")
    targets = input_ids[:, 1:]
    token_logps = torch.gather(logits.log_softmax(-1), 2, targets.unsqueeze(-1)).squeeze(-1)
    mask = completion_mask[:, 1:].bool()
    # where() rather than multiply: a masked -inf (a pad position) must not give NaN.
    return torch.where(mask, token_logps, torch.zeros_like(token_logps)).sum(-1)


def batch_tensors(pairs, pad_token_id: int, device: str):
    """Right-padded (input_ids, attention_mask, completion_mask) for (prompt_ids, response_ids) pairs."""
    width = max(len(p) + len(r) for p, r in pairs)
    ids = torch.full((len(pairs), width), pad_token_id, dtype=torch.long)
    attn = torch.zeros((len(pairs), width), dtype=torch.long)
    comp = torch.zeros((len(pairs), width), dtype=torch.long)
    for i, (p, r) in enumerate(pairs):
        n = len(p) + len(r)
        ids[i, :n] = torch.tensor(p + r)
        attn[i, :n] = 1
        comp[i, len(p) : n] = 1
    return ids.to(device), attn.to(device), comp.to(device)


@torch.no_grad()
def sequence_logps(model, prompt_ids, response_ids, batch_size: int = 256, temperature: float = 1.0,
                   pad_token_id: int = 0, desc: str = "log-probs") -> np.ndarray:
    """Sequence log-probs of each response (token ids) after its prompt (token ids)
    under `model` (float32, as computed). Batches are formed in input order, so the result of a
    row does not depend on the batch size beyond float rounding of padded matmuls."""
    from isdaa.modeling import disallowed_tokens

    disallowed = disallowed_tokens(model)
    device = next(model.parameters()).device
    pairs = [(list(p), list(r)) for p, r in zip(prompt_ids, response_ids)]
    out = []
    for start in tqdm(range(0, len(pairs), batch_size), desc=desc, unit="batch"):
        ids, attn, comp = batch_tensors(pairs[start : start + batch_size], pad_token_id, device)
        out.append(completion_logps(model, ids, attn, comp, disallowed, temperature).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)
