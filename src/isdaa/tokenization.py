"""Prompts and responses as token ids, the one way every stage builds them.

A prompt is encoded by the task's prompt format: `raw` (its text is the exact token
sequence, as in the toy) or `chat` (a user message through the tokenizer's chat
template, ending in the generation prompt). A response is a list of token ids that
includes its end token when it ended. Sampled responses keep the ids they were sampled
as: nothing is decoded and encoded again, so every log-prob is computed on exactly the
tokens that were sampled.
"""

from __future__ import annotations


def encode_prompts(tokenizer, prompts: list[str], prompt_format: str, system_prompt: str | None = None):
    if prompt_format == "raw":
        # The tokenizer's own special tokens for plain text (Llama-3's <|begin_of_text|>;
        # none for the toy or SmolLM2): what SFT's tokenisation of the same prompt gives.
        return [list(ids) for ids in tokenizer(list(prompts))["input_ids"]]
    if prompt_format != "chat":
        raise ValueError(f"unknown prompt format {prompt_format!r}; known: raw, chat")
    return [encode_conversation(tokenizer, [prompt], system_prompt) for prompt in prompts]


def encode_conversation(tokenizer, turns: list[str], system_prompt: str | None = None) -> list[int]:
    """A conversation through the chat template, ending in the generation prompt: `turns`
    alternate user and assistant messages, starting and ending with a user message (a
    benchmark's second turn follows the policy's own first answer)."""
    messages = ([{"role": "system", "content": system_prompt}] if system_prompt else [])
    messages += [{"role": "user" if i % 2 == 0 else "assistant", "content": text} for i, text in enumerate(turns)]
    encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    return list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)


def split_response(ids: list[int], end_token_ids) -> tuple[list[int], bool]:
    """(content ids, finished): the end token, when the response has one, is its last id."""
    ids = list(ids)
    if ids and ids[-1] in set(end_token_ids):
        return ids[:-1], True
    return ids, False


def decode_responses(tokenizer, response_ids, end_token_ids) -> tuple[list[str], list[bool]]:
    """(texts without the end token, finished flags): what a reader, a gold reward
    model or a judge sees."""
    texts, finished = [], []
    for ids in response_ids:
        content, done = split_response(ids, end_token_ids)
        texts.append(tokenizer.decode(content, skip_special_tokens=False, clean_up_tokenization_spaces=False).strip())
        finished.append(done)
    return texts, finished


def encode_completions(tokenizer, completions: list[str]) -> list[list[int]]:
    """Response ids of texts that follow a prompt: the text's own ids (no special tokens)
    and then the tokenizer's end token, the one the SFT policy learns to stop with (TRL's
    SFTTrainer appends the same eos)."""
    completions = list(completions)
    if not completions:
        return []
    encoded = tokenizer(completions, add_special_tokens=False)["input_ids"]
    return [list(ids) + [tokenizer.eos_token_id] for ids in encoded]
