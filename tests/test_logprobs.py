"""Completion log-probs: the LM head runs only where a completion token is predicted, and
the sums are those of the full per-token computation."""

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from isdaa.logprobs import batch_tensors, completion_logps, sequence_logps


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
    return LlamaForCausalLM(config).eval()


def row_by_row(model, pairs):
    """Each sequence alone, unpadded, every position's logits: the definition."""
    out = []
    for prompt, response in pairs:
        ids = torch.tensor([prompt + response])
        logps = model(input_ids=ids).logits[0, :-1].float().log_softmax(-1)
        out.append(sum(float(logps[len(prompt) - 1 + i, token]) for i, token in enumerate(response)))
    return out


PAIRS = [([5, 6, 7], [8, 9, 10, 11]), ([12] * 9, [13, 14]), ([15, 16, 17, 18, 19], [20]), ([21, 22], [])]


class Recorder(torch.nn.Module):
    """The model, recording how many positions of logits each forward returned."""

    def __init__(self, module):
        super().__init__()
        self.module, self.positions = module, []

    def forward(self, **kwargs):
        out = self.module(**kwargs)
        self.positions.append(out.logits.shape[1])
        return out


@torch.no_grad()
def test_sums_are_the_per_token_definition_with_padding_and_an_empty_response(model):
    ids, attn, comp = batch_tensors(PAIRS, pad_token_id=0, device="cpu")
    torch.testing.assert_close(completion_logps(model, ids, attn, comp),
                               torch.tensor(row_by_row(model, PAIRS)), atol=1e-5, rtol=0)
    assert completion_logps(model, ids, attn, comp)[-1] == 0  # an empty response scores log 1


@torch.no_grad()
def test_logits_start_at_the_first_completion_position_of_the_batch(model):
    ids, attn, comp = batch_tensors(PAIRS[:1] + PAIRS[2:3], pad_token_id=0, device="cpu")
    recorder = Recorder(model)
    completion_logps(recorder, ids, attn, comp)
    # Prompts of 3 and 5 tokens, 7 positions: the logits from position 2 (predicting the
    # first response token of the shorter prompt) on, not the prompts' own positions.
    assert recorder.positions == [ids.shape[1] - 2]


def test_gradients_match_the_full_computation(model):
    ids, attn, comp = batch_tensors(PAIRS, pad_token_id=0, device="cpu")

    def grads(fn):
        model.zero_grad()
        fn().sum().backward()
        return [p.grad.clone() for p in model.parameters()]

    full = grads(lambda: torch.stack([
        torch.where(comp[i, 1:].bool(),
                    model(input_ids=ids[i : i + 1], attention_mask=attn[i : i + 1]).logits[0, :-1].float()
                    .log_softmax(-1).gather(1, ids[i, 1:, None])[:, 0], 0.0).sum()
        for i in range(len(PAIRS))]))
    kept = grads(lambda: completion_logps(model, ids, attn, comp))
    for a, b in zip(full, kept):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_batch_size_changes_nothing_beyond_rounding(model):
    prompts, responses = zip(*PAIRS)
    one = sequence_logps(model, prompts, responses, batch_size=1)
    two = sequence_logps(model, prompts, responses, batch_size=3)
    assert one == pytest.approx(two, abs=1e-5)
