"""The reward-model gold scorer (`isdaa.reward_model`) on a tiny random
LlamaForSequenceClassification with SmolLM2's tokenizer (pad = eos = <|im_end|>)."""

import json
import shutil

import numpy as np
import pytest

from isdaa.reward_model import RewardModelScorer, check_reward_model, last_token_index, settings

KEY = "tasks.toy.gold"
IM_END_FORMAT = "<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n{response}<|im_end|>"

# Shortest first on purpose: the scorer sorts longest first, so order matters.
PROMPTS = ["Hi", "What is two plus two?", "Name a colour.", "Write one long sentence about the sea and the sky, please.",
           "Count to five.", "Say yes."]
RESPONSES = ["Hello!", "Four.", "Blue, like the sea on a clear summer afternoon.",
             "The sea rolls on under a sky that never ends, grey and blue and silver in turn.", "1 2 3 4 5", "yes"]
FINISHED = [True, True, False, True, True, False]


@pytest.fixture(scope="module")
def scorer(tiny_reward_model_dir):
    from isdaa.gold import make_scorer

    scorer = make_scorer({"type": "reward_model", "path": str(tiny_reward_model_dir), "dtype": "float32"}, "cpu")
    scorer.progress = False
    return scorer


def with_format(scorer, fmt, **kwargs):
    """A scorer on the same loaded model and tokenizer with another text format."""
    return RewardModelScorer(scorer.model, scorer.tokenizer, format=fmt, progress=False, **kwargs)


def reference_score(model, ids: list[int]) -> float:
    """The score head applied to the backbone's final hidden state at the last index of
    one unpadded sequence: computed without the scorer and without transformers' pooling."""
    import torch

    with torch.no_grad():
        hidden = model.model(torch.tensor([ids])).last_hidden_state
        return float(model.score(hidden[0, -1])[0])


def test_scores_are_float64_in_input_order_and_independent_of_batching(scorer):
    alone = np.array([scorer.score([p], [r], [f])[0] for p, r, f in zip(PROMPTS, RESPONSES, FINISHED)])
    assert len(set(np.round(alone, 6))) == len(alone)  # distinct, so a permutation would show
    for batch_size in (1, 2, 4, 32):
        scorer.batch_size = batch_size
        scores = scorer.score(PROMPTS, RESPONSES, FINISHED)
        assert scores.dtype == np.float64 and scores.shape == (len(PROMPTS),)
        np.testing.assert_allclose(scores, alone, rtol=0, atol=1e-5)
    # Other batch mates (and another input order) leave each score unchanged.
    scorer.batch_size = 3
    perm = [3, 0, 5, 1, 4, 2]
    shuffled = scorer.score([PROMPTS[i] for i in perm], [RESPONSES[i] for i in perm], [FINISHED[i] for i in perm])
    np.testing.assert_allclose(shuffled, alone[perm], rtol=0, atol=1e-5)
    np.testing.assert_allclose(scorer.score(PROMPTS[:2] * 3, RESPONSES[:2] * 3, [True] * 6), np.tile(alone[:2], 3),
                               rtol=0, atol=1e-5)
    scorer.batch_size = 32


def test_unfinished_responses_are_scored_as_they_are(scorer):
    np.testing.assert_array_equal(scorer.score(PROMPTS, RESPONSES, [True] * 6), scorer.score(PROMPTS, RESPONSES, [False] * 6))
    assert scorer.score([], [], []).shape == (0,)


def test_score_is_read_at_the_final_im_end_although_pad_is_eos(scorer):
    tokenizer, model = scorer.tokenizer, scorer.model
    assert tokenizer.pad_token_id == tokenizer.eos_token_id == tokenizer.convert_tokens_to_ids("<|im_end|>")
    im_end = with_format(scorer, IM_END_FORMAT)
    ids = im_end.encode(PROMPTS, RESPONSES)
    expected = np.array([reference_score(model, seq) for seq in ids])
    assert all(seq[-1] == tokenizer.eos_token_id for seq in ids)
    np.testing.assert_allclose(im_end.score(PROMPTS, RESPONSES, FINISHED), expected, rtol=0, atol=1e-5)

    # transformers' pooling skips the final <|im_end|> (= pad) even with no padding at all:
    # the test above would catch a scorer that relied on it.
    import torch

    with torch.no_grad():
        default = np.array([float(model(torch.tensor([seq])).logits[0, 0]) for seq in ids])
    assert np.abs(default - expected).min() > 1e-3


def test_chat_format_reads_the_true_last_token(scorer):
    tokenizer = scorer.tokenizer
    ids = scorer.encode(PROMPTS, RESPONSES)
    # SmolLM2's template closes the turn with "<|im_end|>\n": the score is read at that "\n",
    # exactly where a single unpadded sequence ends.
    assert [tokenizer.convert_ids_to_tokens(seq[-2]) for seq in ids] == ["<|im_end|>"] * len(ids)
    expected = np.array([reference_score(scorer.model, seq) for seq in ids])
    np.testing.assert_allclose(scorer.score(PROMPTS, RESPONSES, FINISHED), expected, rtol=0, atol=1e-5)


def test_last_token_index_for_either_padding_side():
    import torch

    right = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    assert last_token_index(right).tolist() == [2, 3, 0]
    assert last_token_index(right.flip(-1)).tolist() == [3, 3, 3]


def test_chat_texts_and_system_prompt(scorer):
    texts = scorer.texts(["Q?"], ["A."])
    assert texts[0].endswith("<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\nA.<|im_end|>\n")
    assert "SmolLM" in texts[0]  # the template's own default system prompt
    custom = with_format(scorer, "chat", system_prompt="Judge the answer.")
    assert custom.texts(["Q?"], ["A."])[0].startswith("<|im_start|>system\nJudge the answer.<|im_end|>\n")
    assert "SmolLM" not in custom.texts(["Q?"], ["A."])[0]
    assert custom.score(["Q?"], ["A."], [True])[0] != pytest.approx(scorer.score(["Q?"], ["A."], [True])[0], abs=1e-6)


def test_format_string(scorer):
    plain = with_format(scorer, "Question: {prompt}\nAnswer: {response}")
    assert plain.texts(["Q?"], ["A {x}"]) == ["Question: Q?\nAnswer: A {x}"]
    ids = plain.encode(PROMPTS, RESPONSES)
    assert ids[0] == scorer.tokenizer("Question: Hi\nAnswer: Hello!")["input_ids"]
    expected = np.array([reference_score(scorer.model, seq) for seq in ids])
    plain.batch_size = 4
    np.testing.assert_allclose(plain.score(PROMPTS, RESPONSES, FINISHED), expected, rtol=0, atol=1e-5)


def test_truncation_keeps_the_end(scorer):
    short = with_format(scorer, IM_END_FORMAT, max_length=8)
    full = with_format(scorer, IM_END_FORMAT).encode(PROMPTS, RESPONSES)
    cut = short.encode(PROMPTS, RESPONSES)
    assert all(c == f[-8:] for c, f in zip(cut, full))
    expected = np.array([reference_score(scorer.model, seq) for seq in cut])
    np.testing.assert_allclose(short.score(PROMPTS, RESPONSES, FINISHED), expected, rtol=0, atol=1e-5)


def test_spec_defaults_and_dtype():
    from isdaa.reward_model import resolve_dtype
    import torch

    assert settings({"type": "reward_model", "path": "org/rm"}) == {
        "type": "reward_model", "path": "org/rm", "format": "chat", "system_prompt": None, "batch_size": 32,
        "max_length": 1024, "dtype": "auto"}
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("auto", "cuda:0") == torch.bfloat16
    assert resolve_dtype("bfloat16", "cpu") == torch.bfloat16


def test_from_spec_refuses_a_model_without_a_trained_score_head(tiny_chat_policy_dir):
    with pytest.raises(ValueError, match="score head"):
        RewardModelScorer.from_spec({"type": "reward_model", "path": str(tiny_chat_policy_dir)})


# ---------------------------------------------------------------------------------------
# check_reward_model: no torch, config.json and tokenizer files only


def copy_model_files(src, dst):
    """The files check_reward_model reads (not the weights)."""
    dst.mkdir()
    for name in ("config.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(src / name, dst / name)
    return dst


def edit_json(path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def spec(path, **extra):
    return {"type": "reward_model", "path": str(path), **extra}


def check_fails(spec_, *needles):
    with pytest.raises(ValueError) as info:
        check_reward_model(spec_, KEY)
    message = str(info.value)
    for needle in (KEY, *needles):
        assert needle in message, message
    return message


def test_check_accepts_the_tiny_reward_model(tiny_reward_model_dir):
    check_reward_model(spec(tiny_reward_model_dir), KEY)
    check_reward_model(spec(tiny_reward_model_dir, format="{prompt} => {response}", batch_size=4), KEY)


def test_check_missing_folder_or_config(tmp_path):
    missing = tmp_path / "no-such-rm"
    check_fails(spec(missing), str(missing), "no such folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    check_fails(spec(empty), str(empty), "no config.json")


def test_check_head_must_be_one_score(tiny_reward_model_dir, tmp_path):
    two = copy_model_files(tiny_reward_model_dir, tmp_path / "two-labels")
    edit_json(two / "config.json", id2label={"0": "bad", "1": "good"}, label2id={"bad": 0, "good": 1})
    check_fails(spec(two), str(two), "2 outputs")
    causal = copy_model_files(tiny_reward_model_dir, tmp_path / "causal")
    edit_json(causal / "config.json", architectures=["LlamaForCausalLM"])
    check_fails(spec(causal), str(causal), "LlamaForCausalLM")


def test_check_chat_format_needs_a_chat_template(tiny_reward_model_dir, tmp_path):
    plain = copy_model_files(tiny_reward_model_dir, tmp_path / "no-template")
    (plain / "chat_template.jinja").unlink()
    check_fails(spec(plain), str(plain), "no chat template")
    check_reward_model(spec(plain, format="User: {prompt}\nAssistant: {response}"), KEY)
    edit_json(plain / "tokenizer_config.json", chat_template="{{ messages }}")  # the older place
    check_reward_model(spec(plain), KEY)


def test_check_spec_values(tiny_reward_model_dir):
    check_fails(spec(tiny_reward_model_dir, format="{prompt} {answer}"), "format")
    check_fails(spec(tiny_reward_model_dir, format="{response} only"), "format", "{prompt}")
    check_fails(spec(tiny_reward_model_dir, dtype="float16"), "dtype")
    check_fails(spec(tiny_reward_model_dir, batch_size=0), "batch_size")
    check_fails(spec(tiny_reward_model_dir, colour="red"), "colour")


def test_check_hub_id_uses_the_local_cache_when_offline(tiny_reward_model_dir, tmp_path, monkeypatch):
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    snapshot = cache / "models--org--cached-rm" / "snapshots" / ("0" * 40)
    snapshot.parent.mkdir(parents=True)
    copy_model_files(tiny_reward_model_dir, snapshot)
    (cache / "models--org--cached-rm" / "refs").mkdir()
    (cache / "models--org--cached-rm" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    check_reward_model(spec("org/not-cached-rm"), KEY)  # online: resolved when the job loads it
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    check_fails(spec("org/not-cached-rm"), "org/not-cached-rm", "HF_HUB_OFFLINE", "cache")
    check_reward_model(spec("org/cached-rm"), KEY)
    edit_json(snapshot / "config.json", num_labels=3, id2label={"0": "a", "1": "b", "2": "c"})
    check_fails(spec("org/cached-rm"), "org/cached-rm", "3 outputs")
