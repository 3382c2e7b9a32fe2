"""The `hf` sampling backend: transformers `generate`, on CPU or GPU.

Seed scope `request` (the default): each row of a batch (one sample of one prompt)
draws its tokens from its own `torch.Generator`, seeded with `request_seed + j`, in a
logits processor that applies temperature and top-p and picks the token; `generate`
then runs greedily on that choice. The same processor records the raw log-prob of the
chosen token (temperature 1, before top-p), so no second forward pass is needed.

Seed scope `batch`: one global random stream per batch of prompts (`generate` with
`do_sample`), log-probs recomputed on the sampled ids. Kept because the toy study's
published numbers were drawn this way; a sample then depends on its batch.
"""

from __future__ import annotations

import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList

from isdaa.logprobs import sequence_logps
from isdaa.sampling import SAMPLE_COLUMNS, ModelSpec, SamplingSettings
from isdaa.tokenization import split_response


class PerRowSampler(LogitsProcessor):
    """Samples each row's next token with that row's generator and returns scores that
    make greedy decoding pick it; records the raw log-prob of every picked token."""

    def __init__(self, generators: list[torch.Generator], temperature: float, top_p: float):
        self.generators, self.temperature, self.top_p = generators, temperature, top_p
        self.token_logps: list[torch.Tensor] = []  # per step, (rows,)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        # `scores` are the raw logits, disallowed tokens already at -inf (suppress_tokens).
        raw_logps = scores.float().log_softmax(-1)
        if self.temperature == 0:  # greedy: no draw, the generators stay unused
            picked = scores.float().argmax(-1, keepdim=True)
            self.token_logps.append(raw_logps.gather(-1, picked).squeeze(-1))
            return torch.full_like(scores, float("-inf")).scatter(-1, picked, 0.0)
        probs = (scores.float() / self.temperature).softmax(-1)
        if self.top_p < 1.0:
            sorted_probs, order = probs.sort(-1, descending=True)
            # Keep the smallest set whose mass reaches top_p (the first token always stays).
            drop = (sorted_probs.cumsum(-1) - sorted_probs) >= self.top_p
            sorted_probs = sorted_probs.masked_fill(drop, 0.0)
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
        picked = torch.stack([torch.multinomial(row, 1, generator=g) for row, g in zip(probs, self.generators)])
        self.token_logps.append(raw_logps.gather(-1, picked).squeeze(-1))
        out = torch.full_like(scores, float("-inf"))
        return out.scatter(-1, picked, 0.0)


class HFSampler:
    def __init__(self, model: ModelSpec, batch_size: int, seed_scope: str = "request", model_object=None):
        from isdaa import modeling

        if seed_scope not in ("request", "batch"):
            raise ValueError(f"unknown seed scope {seed_scope!r}; known: request, batch")
        self.spec, self.batch_size, self.seed_scope = model, batch_size, seed_scope
        self.model = model_object if model_object is not None else modeling.load_model(
            model.path, model.device, model.dtype, model.attn_implementation)
        self.end_ids = list(model.end_token_ids)
        self.pad_id = model.pad_token_id if model.pad_token_id is not None else self.end_ids[0]

    def _left_padded(self, rows: list[list[int]]):
        width = max(map(len, rows))
        device = next(self.model.parameters()).device
        ids = torch.tensor([[self.pad_id] * (width - len(r)) + r for r in rows], device=device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
        return ids, mask, width

    def _generation_config(self, settings: SamplingSettings, **overrides) -> GenerationConfig:
        return GenerationConfig(
            max_new_tokens=settings.max_new_tokens, eos_token_id=self.end_ids, pad_token_id=self.pad_id,
            suppress_tokens=list(self.spec.disallowed_token_ids) or None, repetition_penalty=1.0, **overrides)

    @torch.no_grad()
    def sample(self, prompt_ids, request_seeds, settings: SamplingSettings) -> pd.DataFrame:
        if self.seed_scope == "batch":
            return self._sample_batch_scope(prompt_ids, settings)
        rows = []
        n = settings.n
        for start in tqdm(range(0, len(prompt_ids), self.batch_size), desc="sampling", unit="batch"):
            prompts = prompt_ids[start : start + self.batch_size]
            seeds = request_seeds[start : start + self.batch_size]
            inputs, mask, width = self._left_padded([list(p) for p in prompts for _ in range(n)])
            device = inputs.device
            generators = [torch.Generator(device=device).manual_seed(int(s) + j) for s in seeds for j in range(n)]
            sampler = PerRowSampler(generators, settings.temperature, settings.top_p)
            out = self.model.generate(input_ids=inputs, attention_mask=mask, logits_processor=LogitsProcessorList([sampler]),
                                      generation_config=self._generation_config(settings, do_sample=False))
            generated = out[:, width:].tolist()
            step_logps = torch.stack(sampler.token_logps, 1).double().cpu()  # (rows, steps)
            for k, seq in enumerate(generated):
                ids = _until_end(seq, self.end_ids)
                _, finished = split_response(ids, self.end_ids)
                rows.append({"prompt_idx": start + k // n, "sample_idx": k % n, "response_ids": ids,
                             "finished": finished, "policy_logp": float(step_logps[k, : len(ids)].sum())})
        return pd.DataFrame(rows, columns=SAMPLE_COLUMNS)

    def _sample_batch_scope(self, prompt_ids, settings: SamplingSettings) -> pd.DataFrame:
        state = torch.random.get_rng_state()
        torch.manual_seed(settings.seed)
        rows = []
        try:
            for start in tqdm(range(0, len(prompt_ids), self.batch_size), desc="sampling", unit="batch"):
                inputs, mask, width = self._left_padded([list(p) for p in prompt_ids[start : start + self.batch_size]])
                out = self.model.generate(
                    input_ids=inputs, attention_mask=mask, num_return_sequences=settings.n,
                    generation_config=self._generation_config(settings, do_sample=True, temperature=settings.temperature,
                                                              top_p=settings.top_p, top_k=0))
                for j, seq in enumerate(out[:, width:].tolist()):
                    rows.append({"prompt_idx": start + j // settings.n, "sample_idx": j % settings.n,
                                 "response_ids": _until_end(seq, self.end_ids)})
        finally:
            torch.random.set_rng_state(state)
        samples = pd.DataFrame(rows)
        samples["finished"] = [split_response(ids, self.end_ids)[1] for ids in samples["response_ids"]]
        samples["policy_logp"] = sequence_logps(
            self.model, [prompt_ids[i] for i in samples["prompt_idx"]], list(samples["response_ids"]),
            self.batch_size, pad_token_id=self.pad_id, desc="policy log-probs")
        return samples[SAMPLE_COLUMNS]


def _until_end(seq: list[int], end_ids) -> list[int]:
    """The generated ids up to and including the first end token (generate pads after it)."""
    ends = set(end_ids)
    for i, token in enumerate(seq):
        if token in ends:
            return seq[: i + 1]
    return seq
