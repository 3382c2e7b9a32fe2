"""A policy's answers to a benchmark's questions, through the task's sampling backend.

Each question goes through the policy's chat template (the task's system prompt included);
MT-Bench's second question follows the policy's OWN first answer in the conversation. A
request's seed is `request_seed(run seed, "<benchmark>/<question>/turn<t>")`, so an answer
does not depend on batch size or batch mates, and a temperature of 0 decodes greedily. A
prompt over the length limit (`max_prompt_length`, else the policy's context less
`max_new_tokens`) is not answered: its row says `prompt_too_long` and the judge rule counts
it as a failure (MT-Bench's second turn then has no answer either).

answers.parquet: question_id, turn, answer (None when not answered), finished (the answer
ended with an end token), length (answer tokens), prompt_length, status (ok or
prompt_too_long).
"""

from __future__ import annotations

import logging

import pandas as pd

from isdaa import modeling
from isdaa.judges import files
from isdaa.judges.run import ANSWER_COLUMNS
from isdaa.sampling import SamplingSettings, request_seed, sampler_for
from isdaa.tokenization import decode_responses, encode_conversation

log = logging.getLogger(__name__)


def context_length(model_dir) -> int | None:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir).get_text_config()
    return getattr(config, "max_position_embeddings", None)


def prompt_limit(settings: dict, model_dir) -> int | None:
    """The longest prompt a question may have, in tokens."""
    if settings["max_prompt_length"]:
        return settings["max_prompt_length"]
    context = context_length(model_dir)
    return None if context is None else context - settings["decoding"]["max_new_tokens"]


def longest_sequence(tokenizer, questions: pd.DataFrame, system_prompt, max_new_tokens: int, limit) -> int:
    """An upper bound of prompt + answer over every turn (vLLM plans its memory for it):
    each conversation with every earlier answer at its longest."""
    longest = 0
    for turns in questions["turns"]:
        ids = encode_conversation(tokenizer, [t for q in turns for t in (q, "")][:-1], system_prompt)
        longest = max(longest, len(ids) + max_new_tokens * len(turns))
    return longest if limit is None else min(longest, limit + max_new_tokens)


def temperature_of(decoding: dict, category) -> float:
    return float((decoding.get("category_temperature") or {}).get(category, decoding["temperature"]))


def answer_questions(model_dir, data_folder, settings: dict, evaluation: dict, seed: int, device: str,
                     batch_size: int) -> pd.DataFrame:
    """Every (question, turn) of a benchmark answered by the policy in `model_dir`
    (`settings`: `isdaa.judges.settings.answer_settings`; `evaluation`:
    `isdaa.config.evaluation_settings`, whose model and sampling sections apply)."""
    questions, _ = files.load(data_folder)
    questions = files.first_questions(questions, settings["max_questions"])
    decoding, model = settings["decoding"], evaluation["model"]
    tokenizer = modeling.load_tokenizer(model_dir)
    limit = prompt_limit(settings, model_dir)
    sampling = dict(evaluation["sampling"])
    turns = max(len(t) for t in questions["turns"])
    # Every prompt within the limit must fit (a later turn holds the earlier answers as text,
    # whose tokens may outnumber the sampled ones); the KV cache is sized for what the
    # questions can need, not for full-context sequences.
    longest = longest_sequence(tokenizer, questions, model.get("system_prompt"), decoding["max_new_tokens"], limit)
    if not sampling.get("vllm_max_model_len"):
        sampling["vllm_max_model_len"] = limit + decoding["max_new_tokens"] if limit is not None else 2 * longest
    sampler = None
    texts: dict[tuple[str, int], str | None] = {}
    rows = []
    for turn in range(1, turns + 1):
        pending = []  # (question row, prompt ids)
        for q in questions.itertuples():
            if turn > len(q.turns):
                continue
            history = [q.turns[0]]
            for t in range(2, turn + 1):
                previous = texts.get((q.question_id, t - 1))
                if previous is None:
                    history = None
                    break
                history += [previous, q.turns[t - 1]]
            if history is None:  # the earlier turn has no answer: neither has this one
                rows.append(_row(q.question_id, turn, None, False, 0, 0, "prompt_too_long"))
                texts[(q.question_id, turn)] = None
                continue
            ids = encode_conversation(tokenizer, history, model.get("system_prompt"))
            if limit is not None and len(ids) > limit:
                rows.append(_row(q.question_id, turn, None, False, 0, len(ids), "prompt_too_long"))
                texts[(q.question_id, turn)] = None
                continue
            pending.append((q, ids))
        if not pending:
            continue
        if sampler is None:
            sampler = sampler_for(model_dir, model, sampling, batch_size, [ids for _, ids in pending],
                                  decoding["max_new_tokens"], device, tokenizer,
                                  kv_cache_tokens=batch_size * min(longest, sampling["vllm_max_model_len"]))
        by_temperature: dict[float, list] = {}
        for q, ids in pending:
            by_temperature.setdefault(temperature_of(decoding, q.category), []).append((q, ids))
        for temperature, group in sorted(by_temperature.items()):
            samples = sampler.sample(
                [ids for _, ids in group],
                [request_seed(seed, f"{settings['name']}/{q.question_id}/turn{turn}") for q, _ in group],
                SamplingSettings(n=1, temperature=temperature, top_p=decoding["top_p"] if temperature > 0 else 1.0,
                                 max_new_tokens=decoding["max_new_tokens"], seed=seed))
            answers, finished = decode_responses(tokenizer, samples["response_ids"], sampler.spec.end_token_ids)
            for (q, ids), text, done, response in zip(group, answers, finished, samples["response_ids"]):
                texts[(q.question_id, turn)] = text
                rows.append(_row(q.question_id, turn, text, done, len(response) - int(done), len(ids), "ok"))
    order = {qid: i for i, qid in enumerate(questions["question_id"])}
    table = pd.DataFrame(rows, columns=ANSWER_COLUMNS)
    table = table.sort_values(["question_id", "turn"], key=lambda c: c.map(order) if c.name == "question_id" else c)
    skipped = int((table["status"] != "ok").sum())
    if skipped:
        log.warning("%d of %d prompts over the limit of %s tokens were not answered", skipped, len(table), limit)
    return table.reset_index(drop=True)


def _row(question_id, turn, answer, finished, length, prompt_length, status) -> dict:
    return {"question_id": question_id, "turn": turn, "answer": answer, "finished": bool(finished),
            "length": int(length), "prompt_length": int(prompt_length), "status": status}
