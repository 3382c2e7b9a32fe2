"""From a dataset source to one role's records: bad rows out (counted), token ids in.

`prepare_role` runs: load the source -> the format's fields -> cut the end text ->
content checks -> tokenise -> token limits -> duplicates -> the role's table, and a
report of every row that was dropped or truncated, by reason (never silent).

A row counts under the first reason that applies, in the order of REASONS. Duplicates
are judged last, on the texts that are kept (after truncation), against the rows kept
before them: so a row is a duplicate only of a row that is really in the table.

Ties: a pair whose two ratings (`chosen_rating`, `rejected_rating`) are equal carries no
preference. Such pairs are counted (`ties`) and kept, as the authors keep them, or
dropped as `tied` with the source's `drop_ties`.

Texts: a response's reader text (`response`, `chosen`, `rejected`, `reference`) is
stripped; the raw prompt format's `completion` is the exact text that follows the
prompt (a TL;DR summary's leading space kept; one space added when neither the prompt
nor the response has whitespace at the boundary), without the end token.
"""

from __future__ import annotations

import hashlib
import math
import numbers
from dataclasses import dataclass, field

import pandas as pd

from isdaa.tasks.preference_set import RATING_FIELDS
from isdaa.tasks.sources import check_columns, load_source, source_format
from isdaa.tokenization import encode_completions, encode_prompts

REASONS = ("not_text", "empty", "identical_pair", "tied", "not_number", "prompt_too_long", "too_long", "duplicate")
RESPONSES = {"sft": ("response",), "preferences": ("chosen", "rejected"), "eval": ("reference",)}
# The config section whose max_prompt_length / max_length bound each role.
LIMIT_SECTIONS = {"sft": "sft", "preferences": "preference_data", "eval": "preference_data"}
OVER_LENGTH = ("drop", "truncate")
BATCH_SIZE = 1024  # texts per tokeniser call
MAX_EXAMPLES = 5


def prompt_id(prompt: str) -> str:
    """Stable across row order and files: a hash of the prompt text."""
    return "p" + hashlib.blake2b(prompt.encode("utf-8"), digest_size=8).hexdigest()


@dataclass
class Row:
    """A row that passed the content checks. `raw`: response field -> text with the end
    text cut (leading whitespace kept); `ids`: response field -> token ids."""

    index: int
    prompt: str
    raw: dict[str, str]
    numbers: dict[str, float]
    prompt_ids: list[int] = field(default_factory=list)
    ids: dict[str, list[int]] = field(default_factory=dict)
    truncated: bool = False

    def text(self, name: str) -> str:
        return self.raw[name].strip()


class Tally:
    """Dropped rows by reason, truncated rows, tied pairs (kept or dropped), and the first
    row indices of each."""

    def __init__(self):
        self.dropped = {reason: 0 for reason in REASONS}
        self.truncated = 0
        self.ties = 0
        self.examples: dict[str, list[int]] = {}

    def note(self, what: str, index: int) -> None:
        examples = self.examples.setdefault(what, [])
        if len(examples) < MAX_EXAMPLES:
            examples.append(index)

    def drop(self, reason: str, index: int) -> None:
        self.dropped[reason] += 1
        self.note(reason, index)

    def truncate(self, index: int) -> None:
        self.truncated += 1
        self.note("truncated", index)

    def tie(self, index: int, drop: bool) -> None:
        self.ties += 1
        self.note("ties", index)
        if drop:
            self.drop("tied", index)


# ------------------------------------------------------------------ content checks


def cut_end_text(text: str, end_text) -> str:
    """The text without its trailing end text(s) and trailing whitespace."""
    text = text.rstrip()
    cut = True
    while cut:
        cut = False
        for end in end_text:
            if end and text.endswith(end):
                text, cut = text[: -len(end)].rstrip(), True
    return text


def is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def is_tie(scores: dict) -> bool:
    """Both ratings given, as numbers, and equal (no ratings: never a tie)."""
    ratings = [scores.get(f) for f in RATING_FIELDS]
    return all(is_number(r) for r in ratings) and ratings[0] == ratings[1]


def content_rows(role: str, values: dict[str, list], end_text, drop_ties: bool, tally: Tally) -> list[Row]:
    """The rows whose texts and numbers can be used (not_text, empty, identical_pair, tied
    with drop_ties, not_number); ties counted either way."""
    responses = RESPONSES[role]
    number_fields = [f for f in values if f != "prompt" and f not in responses]
    rows = []
    for i, prompt in enumerate(values["prompt"]):
        if not all(isinstance(v, str) for v in [prompt] + [values[f][i] for f in responses]):
            tally.drop("not_text", i)
            continue
        raw = {f: cut_end_text(values[f][i], end_text) for f in responses}
        if not prompt.strip() or not all(r.strip() for r in raw.values()):
            tally.drop("empty", i)
            continue
        if role == "preferences" and raw["chosen"].strip() == raw["rejected"].strip():
            tally.drop("identical_pair", i)
            continue
        scores = {f: values[f][i] for f in number_fields}
        if is_tie(scores):
            tally.tie(i, drop_ties)
            if drop_ties:
                continue
        if not all(is_number(v) for v in scores.values()):
            tally.drop("not_number", i)
            continue
        rows.append(Row(i, prompt, raw, {f: float(v) for f, v in scores.items()}))
    return rows


# ------------------------------------------------------------------ tokens


def completion_text(prompt: str, raw: str, prompt_format: str) -> str:
    """The text that follows the prompt: in the chat format the assistant message (the
    template separates it); raw, exactly what follows, with a space where the words
    would otherwise run together."""
    if prompt_format == "chat":
        return raw.strip()
    if raw[:1].isspace() or prompt[-1:].isspace():
        return raw
    return " " + raw


def batches(items: list, size: int = BATCH_SIZE):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def tokenise(rows: list[Row], role: str, tokenizer, model_settings: dict) -> None:
    """Prompt ids (each distinct prompt once) and response ids (text + end token), batched."""
    from tqdm.auto import tqdm

    prompt_format, system_prompt = model_settings["prompt_format"], model_settings.get("system_prompt")
    prompts = list(dict.fromkeys(row.prompt for row in rows))
    responses = [(row, f) for row in rows for f in RESPONSES[role]] if role != "eval" else []
    with tqdm(total=len(prompts) + len(responses), desc=f"tokenising {role}", unit="text", mininterval=5) as progress:
        prompt_ids = {}
        for batch in batches(prompts):
            prompt_ids.update(zip(batch, encode_prompts(tokenizer, batch, prompt_format, system_prompt)))
            progress.update(len(batch))
        for batch in batches(responses):
            texts = [completion_text(row.prompt, row.raw[f], prompt_format) for row, f in batch]
            for (row, f), ids in zip(batch, encode_completions(tokenizer, texts)):
                row.ids[f] = ids
            progress.update(len(batch))
    for row in rows:
        row.prompt_ids = prompt_ids[row.prompt]


def template_length(tokenizer, model_settings: dict) -> int:
    """Tokens of an empty prompt: the chat template (and system prompt), or the
    tokenizer's own special tokens for plain text."""
    return len(encode_prompts(tokenizer, [""], model_settings["prompt_format"], model_settings.get("system_prompt"))[0])


def check_limits(tokenizer, model_settings: dict, limits: dict, key: str) -> None:
    """Raise ValueError "config key <key>.<limit> = N: ..." for limits that leave no room."""
    max_prompt, max_length = limits.get("max_prompt_length"), limits.get("max_length")
    template = template_length(tokenizer, model_settings)
    what = ("the chat template" + (" with the system prompt" if model_settings.get("system_prompt") else "")
            if model_settings["prompt_format"] == "chat" else "the tokenizer's special tokens")
    for name, value in (("max_prompt_length", max_prompt), ("max_length", max_length)):
        if value is not None and value <= template:
            raise ValueError(f"config key {key}.{name} = {value}: not above the prompt template's own length "
                             f"({template} tokens: an empty prompt through {what}); no text would fit")
    if max_prompt is not None and max_length is not None and max_length <= max_prompt:
        raise ValueError(f"config key {key}.max_length = {max_length}: must be above {key}.max_prompt_length = "
                         f"{max_prompt}, to leave room for a response")


def decode(tokenizer, ids: list[int]) -> str:
    return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def truncated_prompt(tokenizer, model_settings: dict, prompt: str, limit: int, template: int):
    """(text, ids) of the prompt's last tokens that fit `limit` with the template's own
    tokens: the TL;DR query's end ("TL;DR:") survives, the template is never cut. The
    kept text is encoded again, so text and ids agree."""
    content = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    keep = limit - template
    while True:
        # A cut can fall inside a character (bytes of a BPE token) or before a space.
        text = decode(tokenizer, content[-keep:]).lstrip("\ufffd").lstrip() if keep > 0 else ""
        ids = encode_prompts(tokenizer, [text], model_settings["prompt_format"], model_settings.get("system_prompt"))[0]
        if len(ids) <= limit:
            return text, ids
        keep -= len(ids) - limit


def fit_limits(rows: list[Row], role: str, tokenizer, model_settings: dict, limits: dict, over_length: str,
               tally: Tally) -> list[Row]:
    """Rows within the token limits: over them, dropped (prompt_too_long, too_long) or
    truncated (the prompt's last tokens, a response's first tokens, without the end
    token: unfinished). A prompt that leaves no room for a response is too_long either way,
    and so is an SFT demonstration over max_length: TRL's SFTTrainer appends the end token
    to every completion, so a cut one would teach the policy to stop mid-sentence."""
    max_prompt, max_length = limits.get("max_prompt_length"), limits.get("max_length")
    template = template_length(tokenizer, model_settings)
    kept = []
    for row in rows:
        if max_prompt is not None and len(row.prompt_ids) > max_prompt:
            if over_length == "drop":
                tally.drop("prompt_too_long", row.index)
                continue
            row.prompt, row.prompt_ids = truncated_prompt(tokenizer, model_settings, row.prompt, max_prompt, template)
            row.truncated = True
        if max_length is not None and role != "eval":  # eval: the prompt only (the policy writes the response)
            room = max_length - len(row.prompt_ids)
            if max(len(ids) for ids in row.ids.values()) > room:
                if over_length == "drop" or room < 1 or role == "sft":
                    tally.drop("too_long", row.index)
                    continue
                for name, ids in row.ids.items():
                    if len(ids) > room:
                        row.ids[name] = ids[:room]
                        row.raw[name] = decode(tokenizer, ids[:room])
                row.truncated = True
        if row.truncated:
            tally.truncate(row.index)
        kept.append(row)
    return kept


def drop_duplicates(rows: list[Row], role: str, tally: Tally) -> list[Row]:
    """Rows unlike every row kept before them: sft (prompt, response), pairs (prompt,
    chosen, rejected), eval: the prompt (one row per prompt, the first kept)."""
    seen, kept = set(), []
    for row in rows:
        key = row.prompt if role == "eval" else (row.prompt,) + tuple(row.text(f) for f in RESPONSES[role])
        if key in seen:
            tally.drop("duplicate", row.index)
            continue
        seen.add(key)
        kept.append(row)
    return kept


# ------------------------------------------------------------------ tables


def sft_table(rows: list[Row], model_settings: dict) -> pd.DataFrame:
    # The completion carries no end token: TRL's SFTTrainer appends the tokenizer's eos.
    return pd.DataFrame({"prompt": [r.prompt for r in rows], "response": [r.text("response") for r in rows],
                         "completion": [completion_text(r.prompt, r.raw["response"], model_settings["prompt_format"])
                                        for r in rows]})


def pairs_table(rows: list[Row], model_settings: dict) -> pd.DataFrame:
    table = pd.DataFrame({
        "pair_id": range(len(rows)), "prompt_id": [prompt_id(r.prompt) for r in rows],
        "prompt": [r.prompt for r in rows], "chosen": [r.text("chosen") for r in rows],
        "rejected": [r.text("rejected") for r in rows], "prompt_ids": [r.prompt_ids for r in rows],
        "chosen_ids": [r.ids["chosen"] for r in rows], "rejected_ids": [r.ids["rejected"] for r in rows]})
    for name in (rows[0].numbers if rows else {}):
        table[name] = [r.numbers[name] for r in rows]
    return table


def eval_table(rows: list[Row], model_settings: dict) -> pd.DataFrame:
    return pd.DataFrame({"prompt_id": [prompt_id(r.prompt) for r in rows], "prompt": [r.prompt for r in rows],
                         "prompt_ids": [r.prompt_ids for r in rows], "reference": [r.text("reference") for r in rows]})


TABLES = {"sft": sft_table, "preferences": pairs_table, "eval": eval_table}


def prepare_role(role: str, spec: dict, tokenizer, model_settings: dict, limits: dict, over_length: str):
    """(the role's table, its report) from a source spec. Raises ValueError when no row is usable."""
    if over_length not in OVER_LENGTH:
        raise ValueError(f"config key data.over_length = {over_length!r}: one of {list(OVER_LENGTH)}")
    if role not in RESPONSES:
        raise ValueError(f"unknown data role {role!r}; roles: {list(RESPONSES)}")
    key = f"data.{role}"
    fmt = source_format(spec, role, key)
    check_limits(tokenizer, model_settings, limits, LIMIT_SECTIONS[role])
    dataset, source = load_source(spec, key)
    check_columns(fmt, spec, dataset.column_names, source["split"], key)
    end_text = fmt.end_text if spec.get("end_text") is None else tuple(spec["end_text"])
    tally = Tally()
    rows = content_rows(role, fmt.read(role, spec, dataset), end_text, bool(spec.get("drop_ties")), tally)
    tokenise(rows, role, tokenizer, model_settings)
    rows = fit_limits(rows, role, tokenizer, model_settings, limits, over_length, tally)
    rows = drop_duplicates(rows, role, tally)
    report = {"role": role, "format": fmt.name, "source": source, "rows_read": len(dataset), "rows_kept": len(rows),
              "dropped": tally.dropped, "truncated": tally.truncated, "ties": tally.ties,
              "examples": tally.examples}
    if not rows:
        dropped = {reason: n for reason, n in tally.dropped.items() if n}
        raise ValueError(f"data role {role}: no usable row in {source['path']} (split {source['split']}): "
                         f"{len(dataset)} read, dropped {dropped}")
    return TABLES[role](rows, model_settings), report
