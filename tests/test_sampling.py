"""The `hf` sampling backend: token-exact log-probs on a real BPE tokenizer, per-request
seeds, and the sampling distribution itself."""

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from isdaa import runtime
from isdaa.checkpoints import build_causal_lm
from isdaa.logprobs import sequence_logps
from isdaa.sampling import SamplingSettings, make_sampler, model_spec, request_seed
from isdaa.tasks import toy
from isdaa.tokenization import decode_responses, encode_prompts

PROMPTS = ["Summarise: the river ran past the old mill.", "Name three colours.", "Hi", "What is 2 + 2?",
           "Write a haiku about the sea.", "Translate 'bonjour' to English."]
SETTINGS = SamplingSettings(n=2, temperature=1.0, top_p=1.0, max_new_tokens=12, seed=3)


@pytest.fixture(scope="module")
def chat(tiny_chat_policy_dir):
    runtime.setup(1)
    spec = model_spec(tiny_chat_policy_dir, {"dtype": "float32", "attn_implementation": None}, "cpu")
    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_policy_dir)
    prompt_ids = encode_prompts(tokenizer, PROMPTS, "chat")
    seeds = [request_seed(SETTINGS.seed, i) for i in range(len(PROMPTS))]
    return spec, tokenizer, prompt_ids, seeds


def test_sampled_log_probs_are_those_of_the_sampled_tokens(chat):
    spec, tokenizer, prompt_ids, seeds = chat
    sampler = make_sampler("hf", spec, batch_size=4)
    samples = sampler.sample(prompt_ids, seeds, SETTINGS)
    assert list(samples.columns) == ["prompt_idx", "sample_idx", "response_ids", "finished", "policy_logp"]
    prompts = [prompt_ids[i] for i in samples["prompt_idx"]]
    rescored = sequence_logps(sampler.model, prompts, list(samples["response_ids"]), pad_token_id=spec.pad_token_id)
    np.testing.assert_allclose(samples["policy_logp"], rescored, atol=1e-4, rtol=0)
    # Decoding and encoding again gives other tokens for some responses (a random model
    # samples any BPE pieces): their log-probs would describe other sequences.
    texts, _ = decode_responses(tokenizer, samples["response_ids"], spec.end_token_ids)
    reencoded = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    content = [list(ids)[: len(ids) - int(done)] for ids, done in zip(samples["response_ids"], samples["finished"])]
    broken = [i for i, (a, b) in enumerate(zip(content, reencoded)) if a != b]
    assert broken, "no response that fails to round-trip: the test would prove nothing"
    wrong = sequence_logps(sampler.model, [prompts[i] for i in broken], [reencoded[i] for i in broken],
                           pad_token_id=spec.pad_token_id)
    assert np.abs(wrong - samples["policy_logp"].to_numpy()[broken]).max() > 1e-2


def test_a_sample_depends_on_its_prompt_and_seed_only(chat):
    spec, _, prompt_ids, seeds = chat
    sampler = make_sampler("hf", spec, batch_size=4)
    whole = sampler.sample(prompt_ids, seeds, SETTINGS)
    # Another batch size, the prompts reversed, and a subset: the same samples.
    sampler.batch_size = 1
    order = list(reversed(range(len(PROMPTS))))
    reversed_run = sampler.sample([prompt_ids[i] for i in order], [seeds[i] for i in order], SETTINGS)
    for row in reversed_run.itertuples():
        original = whole[(whole["prompt_idx"] == order[row.prompt_idx]) & (whole["sample_idx"] == row.sample_idx)]
        assert list(original["response_ids"].iloc[0]) == list(row.response_ids)
        assert original["policy_logp"].iloc[0] == pytest.approx(row.policy_logp, abs=1e-4)
    # Sample j of a request is drawn with seed + j: two samples of one prompt differ.
    assert any(list(a) != list(b) for a, b in zip(whole["response_ids"][::2], whole["response_ids"][1::2]))
    other = sampler.sample(prompt_ids, [s + 100 for s in seeds], SETTINGS)
    assert list(other["response_ids"]) != list(whole["response_ids"])


def test_a_tiny_top_p_is_greedy_decoding(chat):
    spec, _, prompt_ids, seeds = chat
    sampler = make_sampler("hf", spec, batch_size=8)
    greedy = SamplingSettings(n=1, temperature=0.7, top_p=1e-9, max_new_tokens=6, seed=0)
    samples = sampler.sample(prompt_ids[:3], seeds[:3], greedy)
    for i, ids in enumerate(samples["response_ids"]):
        expected = sampler.model.generate(input_ids=torch.tensor([prompt_ids[i]]), do_sample=False, max_new_tokens=6,
                                          eos_token_id=list(spec.end_token_ids), pad_token_id=spec.pad_token_id)
        assert list(ids) == expected[0, len(prompt_ids[i]):].tolist()[: len(ids)]


def test_first_tokens_follow_the_tempered_distribution():
    """4000 one-token samples of one prompt against softmax(logits / T), on the toy model
    (44 tokens, some masked): the sampler draws from the distribution it claims to."""
    runtime.setup(1)
    tokenizer = toy.build_tokenizer()
    disallowed = toy.disallowed_response_tokens(tokenizer)
    model = build_causal_lm(tokenizer, {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64,
                                        "max_positions": 64}, seed=0, disallowed_token_ids=disallowed)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3)  # a peaked (max ~0.7), not uniform, distribution
    prompt = encode_prompts(tokenizer, ["apple apple river river stone <sep>"], "raw")[0]
    from isdaa.sampling import ModelSpec
    from isdaa.sampling.hf import HFSampler

    spec = ModelSpec(path="-", end_token_ids=(tokenizer.eos_token_id,), disallowed_token_ids=tuple(disallowed),
                     pad_token_id=tokenizer.pad_token_id)
    sampler = HFSampler(spec, batch_size=1, model_object=model.eval())
    settings = SamplingSettings(n=4000, temperature=0.7, top_p=1.0, max_new_tokens=1, seed=0)
    samples = sampler.sample([prompt], [11], settings)
    counts = np.bincount([ids[0] for ids in samples["response_ids"]], minlength=len(tokenizer))
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt])).logits[0, -1]
    logits[disallowed] = float("-inf")
    probs = (logits / 0.7).softmax(-1).numpy()
    assert counts[disallowed].sum() == 0
    expected = probs * 4000
    big = expected > 20
    assert big.sum() >= 3 and probs.max() < 0.9
    z = (counts[big] - expected[big]) / np.sqrt(expected[big] * (1 - probs[big]))
    assert np.abs(z).max() < 4.5, z
    # And each sample's recorded log-prob is the raw (temperature 1) one.
    raw = logits.log_softmax(-1).numpy()
    np.testing.assert_allclose(samples["policy_logp"], raw[[ids[0] for ids in samples["response_ids"]]], atol=1e-5)


def test_batch_scope_keeps_the_toy_streams_and_the_schema(chat):
    spec, _, prompt_ids, seeds = chat
    sampler = make_sampler("hf", spec, batch_size=4, seed_scope="batch")
    a = sampler.sample(prompt_ids, seeds, SETTINGS)
    b = sampler.sample(prompt_ids, [0] * len(seeds), SETTINGS)  # request seeds play no part
    assert list(a.columns) == ["prompt_idx", "sample_idx", "response_ids", "finished", "policy_logp"]
    assert list(a["response_ids"]) == list(b["response_ids"])
    rescored = sequence_logps(sampler.model, [prompt_ids[i] for i in a["prompt_idx"]], list(a["response_ids"]),
                              pad_token_id=spec.pad_token_id)
    np.testing.assert_allclose(a["policy_logp"], rescored, atol=1e-6)


class _ByIndex:
    """A gold scorer that orders responses by their position: every pair has a winner."""

    def score(self, prompts, responses, finished):
        return np.arange(len(responses), dtype=np.float64)


def test_off_policy_pairs_carry_behaviour_log_probs_at_their_sampling_temperature(chat):
    """Pairs sampled at T != 1 (an off-policy regime) record log mu(y|x) of the tempered
    policy that sampled them, not the reference's log-prob: the IS weight's denominator."""
    import pandas as pd

    from isdaa.preferences import make_preferences

    spec, tokenizer, prompt_ids, _ = chat
    sampler = make_sampler("hf", spec, batch_size=4)
    prompts = pd.DataFrame({"prompt_id": [f"p{i}" for i in range(len(PROMPTS))], "prompt": PROMPTS,
                            "split": ["train"] * (len(PROMPTS) - 1) + ["eval"], "prompt_ids": prompt_ids})
    settings = {"seed": 5, "samples_per_prompt": 2, "temperature": 0.25, "max_new_tokens": 8, "labeling": "argmax",
                "batch_size": 4}
    pairs, _ = make_preferences(sampler, prompts, _ByIndex(), settings,
                                decode=lambda ids: decode_responses(tokenizer, ids, spec.end_token_ids),
                                behavior_model=sampler.model)
    assert len(pairs)
    with torch.no_grad():
        for row in pairs.itertuples():
            ids = torch.tensor([list(row.prompt_ids) + list(row.chosen_ids)])
            logits = sampler.model(ids).logits[0, len(row.prompt_ids) - 1 : -1].float()
            tempered = torch.log_softmax(logits / 0.25, -1).gather(1, ids[0, len(row.prompt_ids):, None]).sum()
            plain = torch.log_softmax(logits, -1).gather(1, ids[0, len(row.prompt_ids):, None]).sum()
            assert row.behavior_chosen_logp == pytest.approx(tempered.item(), abs=1e-4)
            assert abs(row.behavior_chosen_logp - plain.item()) > 1e-3
