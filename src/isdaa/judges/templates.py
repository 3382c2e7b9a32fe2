"""Filling a judge prompt template: each `{name}` placeholder replaced in one pass, so an
answer that itself contains `{answer_2}` or `{question}` (code, templates) is never filled
in turn; placeholders the values do not name are left as they are."""

from __future__ import annotations

import re

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fill(template: str, **values: str) -> str:
    return PLACEHOLDER.sub(lambda m: values[m.group(1)] if m.group(1) in values else m.group(0), template)
