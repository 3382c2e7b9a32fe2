"""Format `preference`: any preference set, read through the config's column mapping.

It is also the shape every dataset format has (`Format`): which of the set's columns
holds each of our fields, the roles the set can serve, and the end text its responses
carry. A fixed-layout format (tldr.py, instruction.py) is the same reader with its
columns built in, and its own way of taking a text from a conversation where it needs one.

Values are passed on as they are (a `None`, a number, an empty text): cleaning.py
decides what is bad, and counts it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# A pair's ratings by a judge (UltraFeedback's GPT-4 scores): not gold scores, which are
# the study's ground truth; two equal ratings are a tie (cleaning.py counts them).
RATING_FIELDS = ("chosen_rating", "rejected_rating")
# Optional number fields of a pair (passed on as they are; texts go through the format's `text`).
NUMBER_FIELDS = ("chosen_gold", "rejected_gold", "behavior_chosen_logp", "behavior_rejected_logp", *RATING_FIELDS)
PAIR_FIELDS = ("prompt", "chosen", "rejected")


def is_message_list(value) -> bool:
    """A chat conversation: [{role, content}, ...] (UltraFeedback's `chosen`, UltraChat's `messages`)."""
    return isinstance(value, (list, tuple)) and bool(value) and all(
        isinstance(m, dict) and "role" in m for m in value)


def message_text(value, field: str):
    """The text of a field: a string as it is; from a conversation, the first user message
    for the prompt and the last assistant message for a response (None when it has
    none). Anything else is passed on as it is, for cleaning to count as not text."""
    if not is_message_list(value):
        return value
    role = "user" if field == "prompt" else "assistant"
    contents = [m.get("content") for m in value if m.get("role") == role]
    if not contents:
        return None
    return contents[0] if field == "prompt" else contents[-1]


@dataclass(frozen=True)
class Format:
    """How a dataset's rows map to our records.

    `columns`: our field -> the set's column (None: the config's `columns` mapping);
    `reference`: the field the eval role's reference response comes from; `text`: a
    field's text from a column's value (value, "prompt" | "response")."""

    name: str
    roles: tuple[str, ...]
    columns: dict[str, str] | None
    reference: str
    end_text: tuple[str, ...] = ()
    text: Callable = message_text

    def field_columns(self, spec: dict) -> dict[str, str]:
        """Our field -> the set's column, for every field this source has."""
        return dict(self.columns if self.columns is not None else spec["columns"])

    def check_mapping(self, spec: dict, key: str) -> None:
        """Raise ValueError when the config's `columns` do not suit this format."""
        given = spec.get("columns")
        if self.columns is not None:
            if given is not None:
                own = sorted(set(self.columns.values()))
                raise ValueError(f"config key {key}.columns = {given!r}: only format `preference` takes a column "
                                 f"mapping; format {self.name} reads its own columns {own}")
            return
        if not isinstance(given, dict):
            raise ValueError(f"config key {key}.columns = {given!r}: format {self.name} needs a mapping of the "
                             f"set's columns: at least {list(PAIR_FIELDS)}, optionally {list(NUMBER_FIELDS)}")
        missing = [f for f in PAIR_FIELDS if f not in given]
        unknown = sorted(set(given) - set(PAIR_FIELDS) - set(NUMBER_FIELDS))
        if missing or unknown:
            what = f"missing {missing}" if missing else f"unknown field(s) {unknown}"
            raise ValueError(f"config key {key}.columns = {given!r}: {what}; fields: {list(PAIR_FIELDS)} "
                             f"(required), {list(NUMBER_FIELDS)} (optional)")
        bad = {f: c for f, c in given.items() if not isinstance(c, str) or not c}
        if bad:
            raise ValueError(f"config key {key}.columns = {given!r}: column names must be non-empty strings: {bad}")

    def role_columns(self, role: str, spec: dict) -> dict[str, str]:
        """The role's record field -> the set's column."""
        columns = self.field_columns(spec)
        if role == "eval":
            return {"prompt": columns["prompt"], "reference": columns[self.reference]}
        if role == "sft":
            return {"prompt": columns["prompt"], "response": columns["response"]}
        fields = list(PAIR_FIELDS) + [f for f in NUMBER_FIELDS if f in columns]
        return {f: columns[f] for f in fields}

    def read(self, role: str, spec: dict, dataset) -> dict[str, list]:
        """The role's fields as columns of raw values (texts unwrapped from conversations)."""
        columns = self.role_columns(role, spec)
        table = dataset.select_columns(sorted(set(columns.values()))).to_dict()
        out = {}
        for field, column in columns.items():
            values = table[column]
            out[field] = values if field in NUMBER_FIELDS else [
                self.text(v, "prompt" if field == "prompt" else "response") for v in values]
        return out


PREFERENCE = Format(name="preference", roles=("preferences", "eval"), columns=None, reference="chosen")
