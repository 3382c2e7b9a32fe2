"""The sets of the paper's instruction-following study (layouts: hub-data-facts.md).

- `ultrachat`: HuggingFaceH4/ultrachat_200k (SFT, and held-out prompts); `messages` is
  a conversation, user first, often of several turns.
- `ultrafeedback`: HuggingFaceH4/ultrafeedback_binarized (pairs, and held-out prompts from
  `test_prefs`); `prompt`, `chosen` and `rejected` (each the user prompt then the
  assistant answer), and the two GPT-4 ratings `score_chosen`, `score_rejected`, kept as
  `chosen_rating` / `rejected_rating`: a judge's ratings, not gold scores.

Both read a conversation's first exchange, as the authors do (`messages[1].content`,
`chosen[1].content`): the response is the assistant message right after the first user
message, never a later turn's answer, which replies to a question the policy is not
shown (the generic format `preference` takes the last answer). UltraChat's prompt is that
first user message; UltraFeedback's is its `prompt` column (the same text). A
conversation that does not open with a user message answered by the assistant gives no
text: cleaning drops it as not_text. Neither set carries an end text.
"""

from __future__ import annotations

from isdaa.tasks.preference_set import Format, is_message_list


def first_exchange_text(value, field: str):
    """The text of a field: a string as it is; from a conversation that opens with a user
    message answered by an assistant message, that user message (prompt) or that answer
    (response); None for any other conversation (cleaning counts it as not text).
    Contents are passed on as they are, for cleaning to judge."""
    if not is_message_list(value):
        return value
    if len(value) < 2 or [m["role"] for m in value[:2]] != ["user", "assistant"]:
        return None
    return value[0 if field == "prompt" else 1].get("content")


ULTRACHAT = Format(name="ultrachat", roles=("sft", "eval"),
                   columns={"prompt": "messages", "response": "messages"}, reference="response",
                   text=first_exchange_text)

ULTRAFEEDBACK = Format(name="ultrafeedback", roles=("preferences", "eval"),
                       columns={"prompt": "prompt", "chosen": "chosen", "rejected": "rejected",
                                "chosen_rating": "score_chosen", "rejected_rating": "score_rejected"},
                       reference="chosen", text=first_exchange_text)
