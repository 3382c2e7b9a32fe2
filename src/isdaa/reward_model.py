"""A Hugging Face reward model as the gold scorer (`gold: {type: reward_model, ...}`).

The model is an `AutoModelForSequenceClassification` with a single score, loaded once
(`RewardModelScorer.from_spec`) and applied in length-sorted batches.

Where the score is read. A decoder reward model reads its score at the last token of
the text. transformers' own pooling looks for "the last token that is not the pad
token", which is wrong whenever pad == eos (SmolLM2, many Llama/Qwen checkpoints) and
the text ends with that token: it silently reads the token before. This module never
relies on token ids to find the end: it reads the per-token scores of the model's
`score` head (captured with a forward hook) at the last position whose attention mask
is 1, which is correct for either padding side and any pad token. Models without a
`score` head (encoder classifiers such as DeBERTa, which pool the first token) keep
their own pooling.

Truncation keeps the END of a text (`truncation_side = "left"`): the end is where the
score is read and where the response and its end-of-turn marker are; dropping the start
(system prompt, the beginning of a long prompt) costs less than scoring a text whose
end was cut off. Truncated texts are counted in a warning.

`check_reward_model` is the cheap check that config validation runs before any job
starts: it reads config.json and tokenizer files only and never imports torch.
"""

from __future__ import annotations

import inspect
import logging
import os

import numpy as np

log = logging.getLogger(__name__)

# The `gold` section's keys for `type: reward_model`, with their defaults.
DEFAULTS = {
    "format": "chat",
    "system_prompt": None,
    "batch_size": 32,
    "max_length": 1024,
    "dtype": "auto",
}
DTYPES = ("auto", "float32", "bfloat16")
KEYS = ("type", "path", *DEFAULTS)



def settings(spec: dict, key: str = "gold") -> dict:
    """The spec with defaults filled in, its values checked (ValueError naming `key`)."""
    unknown = sorted(set(spec) - set(KEYS))
    if unknown:
        raise ValueError(f"{key}: unknown key(s) {unknown} for a reward_model gold; known: {list(KEYS)}")
    if not spec.get("path"):
        raise ValueError(f"{key}.path: required for a reward_model gold (a hub id or a local folder)")
    out = {**DEFAULTS, **{k: v for k, v in spec.items() if v is not None or k == "system_prompt"}}
    for name in ("batch_size", "max_length"):
        value = out[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key}.{name}: must be a positive integer, got {value!r}")
    if out["dtype"] not in DTYPES:
        raise ValueError(f"{key}.dtype: must be one of {list(DTYPES)}, got {out['dtype']!r}")
    fmt = out["format"]
    if not isinstance(fmt, str):
        raise ValueError(f"{key}.format: must be 'chat' or a format string, got {fmt!r}")
    if fmt != "chat":
        try:
            fmt.format(prompt="", response="", eos_token="")
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"{key}.format: {fmt!r} is not a format string with only {{prompt}}, {{response}} "
                             f"and {{eos_token}} fields (write literal braces as {{{{ and }}}}): {e!r}") from None
        if "{prompt}" not in fmt or "{response}" not in fmt:
            raise ValueError(f"{key}.format: {fmt!r} must contain both {{prompt}} and {{response}}")
        if out["system_prompt"] is not None:
            raise ValueError(f"{key}.system_prompt: only used with format: chat (write it into the format string)")
    return out


# ---------------------------------------------------------------------------------------
# The cheap check (no torch)


def _check_files(config: dict, has_template: bool | None, spec: dict, where: str) -> None:
    architectures = config.get("architectures") or []
    if not any(str(a).endswith("ForSequenceClassification") for a in architectures):
        raise ValueError(f"{where}: not a sequence-classification reward model (architectures "
                         f"{architectures or 'missing'} in config.json; expected *ForSequenceClassification)")
    id2label = config.get("id2label")
    num_labels = len(id2label) if isinstance(id2label, dict) else config.get("num_labels", 2)
    if num_labels != 1:
        raise ValueError(f"{where}: the head has {num_labels} outputs (id2label/num_labels in config.json); "
                         f"a reward model must have a single score (num_labels 1)")
    if spec.get("format", DEFAULTS["format"]) == "chat" and not has_template:
        raise ValueError(f"{where}: format: chat, but the tokenizer has no chat template (no chat_template.jinja, "
                         f"no chat_template in tokenizer_config.json); give a format string with "
                         f"{{prompt}} and {{response}} instead")


def check_reward_model(spec: dict, key: str) -> None:
    """Check a `gold: {type: reward_model}` section before any job starts (ValueError
    naming `key`, e.g. "tasks.toy.gold", and the path). Reads config.json and tokenizer
    files only. A local folder must exist and hold config.json; the model must be
    `*ForSequenceClassification` with a single score; `format: chat` needs a chat
    template. A hub id is checked in the local Hugging Face cache when HF_HUB_OFFLINE
    is set (and must be cached); otherwise it is accepted as is."""
    from isdaa.modeling import check_checkpoint, checkpoint_file, has_chat_template, is_local, read_json

    spec = settings(spec, key)
    path = str(spec["path"])
    where = f"{key}.path ({path!r})"
    try:
        check_checkpoint(path)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    config = read_json(checkpoint_file(path, "config.json"))
    if config is None and not is_local(path):
        return  # a hub id, not cached, hub reachable: checked when the job loads it
    _check_files(config, has_chat_template(path), spec, where)


# ---------------------------------------------------------------------------------------
# The scorer


def resolve_dtype(name: str, device: str):
    from isdaa.modeling import torch_dtype

    return torch_dtype(name, str(device))


def last_token_index(attention_mask):
    """(B,) index of the last position whose mask is 1, for left or right padding."""
    import torch

    positions = torch.arange(attention_mask.shape[-1], device=attention_mask.device)
    return (positions * (attention_mask != 0)).argmax(-1)


class RewardModelScorer:
    """Gold rewards from a sequence-classification model with a single score.

    `score(prompts, responses, finished)` renders each (prompt, response) as text
    (the RM tokenizer's chat template, or a format string), tokenizes it (keeping the
    last `max_length` tokens), runs the texts in batches sorted longest first, and
    returns the scores as float64 in input order. The score is read at the true last
    token of each text, whatever the pad token and padding side, and does not depend
    on which other texts share the batch.

    Unfinished responses (`finished` False: the response hit the sampling length limit)
    are scored as they are, with the same template as finished ones (the chat template
    closes the assistant turn either way); `finished` is accepted for the GoldScorer
    interface and does not change the score.
    """

    def __init__(self, model, tokenizer, *, format: str = DEFAULTS["format"],
                 system_prompt: str | None = DEFAULTS["system_prompt"],
                 batch_size: int = DEFAULTS["batch_size"], max_length: int = DEFAULTS["max_length"],
                 progress: bool = True):
        if getattr(model.config, "num_labels", None) != 1:
            raise ValueError(f"reward model has {model.config.num_labels} outputs; a single score is needed")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.format = format
        self.system_prompt = system_prompt
        self.batch_size = batch_size
        limit = getattr(model.config, "max_position_embeddings", None)
        if limit and max_length > limit:
            log.warning("reward model: max_length %d > the model's max_position_embeddings %d; using %d",
                        max_length, limit, limit)
            max_length = limit
        self.max_length = max_length
        self.progress = progress
        if format == "chat" and not getattr(tokenizer, "chat_template", None):
            raise ValueError("format: chat, but the reward model's tokenizer has no chat template")
        tokenizer.truncation_side = "left"  # keep the end, where the score is read
        tokenizer.padding_side = "right"  # real tokens never see pads in a causal model
        if tokenizer.pad_token is None:  # padding needs some id; pooling never looks at it
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        # transformers' pooling refuses batches when the config has no pad id, although
        # this scorer reads the score itself.
        text_config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
        if text_config.pad_token_id is None:
            text_config.pad_token_id = tokenizer.pad_token_id
        head = getattr(model, "score", None)
        self._head = head if hasattr(head, "register_forward_hook") else None
        self._extra = {"use_cache": False} if "use_cache" in inspect.signature(model.forward).parameters else {}

    @classmethod
    def from_spec(cls, spec: dict, device: str = "cpu", progress: bool = True) -> "RewardModelScorer":
        """Load the model of a `gold: {type: reward_model}` section once, in eval mode on
        `device`, with the spec's dtype ("auto": bfloat16 on CUDA, else float32)."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        spec = settings(spec)
        path = os.path.expanduser(str(spec["path"]))
        model, info = AutoModelForSequenceClassification.from_pretrained(
            path, dtype=resolve_dtype(spec["dtype"], device), output_loading_info=True)
        missing = list(info.get("missing_keys") or [])
        if missing:
            raise ValueError(f"{path}: weights missing from the checkpoint ({missing[:5]}...): a reward model "
                             f"needs its trained score head, not a freshly initialised one")
        tokenizer = AutoTokenizer.from_pretrained(path)
        return cls(model.to(device), tokenizer, format=spec["format"], system_prompt=spec["system_prompt"],
                   batch_size=spec["batch_size"], max_length=spec["max_length"], progress=progress)

    def texts(self, prompts: list[str], responses: list[str]) -> list[str]:
        """The texts the model scores."""
        if self.format != "chat":
            eos = self.tokenizer.eos_token or ""
            return [self.format.format(prompt=p, response=r, eos_token=eos) for p, r in zip(prompts, responses)]
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt is not None else []
        return [self.tokenizer.apply_chat_template(
                    system + [{"role": "user", "content": p}, {"role": "assistant", "content": r}], tokenize=False)
                for p, r in zip(prompts, responses)]

    def encode(self, prompts: list[str], responses: list[str]) -> list[list[int]]:
        """Token ids of each text, the last `max_length` kept. A chat template writes its
        own special tokens; a format string gets the tokenizer's usual ones (e.g. BOS)."""
        texts = self.texts(prompts, responses)
        full = self.tokenizer(texts, add_special_tokens=self.format != "chat")["input_ids"]
        empty = [i for i, ids in enumerate(full) if not ids]
        if empty:
            raise ValueError(f"reward model: texts {empty[:5]} are empty after tokenization; nothing to score")
        truncated = sum(len(ids) > self.max_length for ids in full)
        if truncated:
            log.warning("reward model: %d of %d texts longer than max_length %d; their start is cut off",
                        truncated, len(texts), self.max_length)
        return [ids[-self.max_length:] for ids in full]

    def score_ids(self, input_ids: list[list[int]]) -> np.ndarray:
        """(N,) scores of tokenized texts, in input order."""
        import torch
        from tqdm import tqdm

        order = sorted(range(len(input_ids)), key=lambda i: -len(input_ids[i]))  # stable: ties keep order
        scores = np.empty(len(input_ids), dtype=np.float64)
        device = next(self.model.parameters()).device
        captured = {}
        hook = self._head.register_forward_hook(lambda m, i, o: captured.update(out=o)) if self._head is not None else None
        try:
            with torch.inference_mode(), tqdm(total=len(order), desc="gold reward model", unit="text",
                                              disable=not self.progress) as bar:
                for start in range(0, len(order), self.batch_size):
                    chunk = order[start:start + self.batch_size]
                    ids = torch.full((len(chunk), len(input_ids[chunk[0]])), self.tokenizer.pad_token_id)
                    mask = torch.zeros_like(ids)
                    for row, i in enumerate(chunk):  # right padding; the longest comes first
                        ids[row, :len(input_ids[i])] = torch.tensor(input_ids[i])
                        mask[row, :len(input_ids[i])] = 1
                    out = self.model(input_ids=ids.to(device), attention_mask=mask.to(device), **self._extra)
                    per_token = captured.pop("out", None)
                    if per_token is not None and per_token.dim() == 3:  # (B, T, 1): read at the last real token
                        last = last_token_index(mask).to(per_token.device)
                        values = per_token[torch.arange(len(chunk), device=per_token.device), last, 0]
                    else:  # the model's own pooling (e.g. an encoder's first token)
                        values = out.logits[:, 0]
                    scores[chunk] = values.float().cpu().numpy()
                    bar.update(len(chunk))
        finally:
            if hook is not None:
                hook.remove()
        return scores

    def score(self, prompts: list[str], responses: list[str], finished: list[bool]) -> np.ndarray:
        """(N,) gold rewards, float64, in input order. Unfinished responses are scored
        as they are (see the class docstring)."""
        if not (len(prompts) == len(responses) == len(finished)):
            raise ValueError(f"lengths differ: {len(prompts)} prompts, {len(responses)} responses, "
                             f"{len(finished)} finished flags")
        if not prompts:
            return np.zeros(0, dtype=np.float64)
        return self.score_ids(self.encode(list(prompts), list(responses)))
