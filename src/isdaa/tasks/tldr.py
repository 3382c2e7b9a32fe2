"""The TL;DR sets of the paper's summarisation study (layouts: hub-data-facts.md).

- `tldr_sft`: vwxyzjn/summarize_from_feedback_tldr_3_filtered_oai_preprocessing_1706381144;
  `query` is the prompt, `reference_response` the demonstration (and the eval reference).
- `tldr_preferences`: vwxyzjn/summarize_from_feedback_oai_preprocessing_1706381144;
  `query`, `chosen`, `rejected` (the chosen summary is the eval reference).

Their responses are " {summary}<|endoftext|>": a leading space (kept in the raw prompt
format's completion) and Pythia's end text (cut: our policy has its own end token). The
`*_token` columns are Pythia's ids and never read: everything is tokenised again.
"""

from __future__ import annotations

from isdaa.tasks.preference_set import Format

PYTHIA_END_TEXT = ("<|endoftext|>",)

TLDR_SFT = Format(name="tldr_sft", roles=("sft", "eval"),
                  columns={"prompt": "query", "response": "reference_response"}, reference="response",
                  end_text=PYTHIA_END_TEXT)

TLDR_PREFERENCES = Format(name="tldr_preferences", roles=("preferences", "eval"),
                          columns={"prompt": "query", "chosen": "chosen", "rejected": "rejected"},
                          reference="chosen", end_text=PYTHIA_END_TEXT)
