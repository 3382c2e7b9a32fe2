"""Write small stand-ins of the paper's hub datasets under tests/data/hub/ (deterministic).

Nothing can be downloaded here, so the loaders are tested on files with exactly the
hub's columns and types (shared/reference/hub-data-facts.md) and a hub repository's
layout (data/<split>-00000-of-00001.parquet). Posts are synthetic Reddit-like text from
a fixed word list, short (about 30-90 words) so that a CPU smoke run is cheap, plus one very
long post per file (over the smoke's 256-token prompt limit with SmolLM2's tokenizer).
The instruction sets' prompts (10-60 words) and answers (10-40 words) are synthetic too,
from another word list, with one very long prompt per file.
Each file holds bad rows of every kind that applies to it, at the places listed in
tests/data/hub/README.md; the tests assert those counts.

The *_token columns hold fake integer ids (another model's ids that we never read),
padded as the hub pads them.

    python tests/data/make_hub_data.py          # rewrites tests/data/hub/
"""

from __future__ import annotations

import hashlib
import math
import random
import zlib
from itertools import combinations
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HUB = Path(__file__).resolve().parent / "hub"
TLDR_SFT = "vwxyzjn/summarize_from_feedback_tldr_3_filtered_oai_preprocessing_1706381144"
TLDR_PREFERENCES = "vwxyzjn/summarize_from_feedback_oai_preprocessing_1706381144"
RELABELLED = "DatPySci/Llama-3.1-8B-rm-tldr-pref"
ULTRACHAT = "HuggingFaceH4/ultrachat_200k"
ULTRAFEEDBACK = "HuggingFaceH4/ultrafeedback_binarized"

END_TEXT = "<|endoftext|>"  # Pythia's end text, as the TL;DR sets append it
PAD_ID = 50277  # Pythia's pad id in the TL;DR sets' token columns
QUERY_TOKENS = 512  # query_token is left-padded to this many ids
RESPONSE_TOKENS = 53  # response token columns are right-padded to this many ids

WORDS = (
    "i my me we our you he she they her his them it this that what when where why how "
    "and but so or because if then than about after before since while until also just "
    "really very still even only never always sometimes often now today yesterday week "
    "month year years ago time day night morning weekend job work boss coworker office "
    "money rent apartment house roommate landlord car school college class friend friends "
    "girlfriend boyfriend wife husband mom dad sister brother family dog cat party phone "
    "text message talk talked told said asked want wanted need needed feel felt think "
    "thought know knew like love hate help helped move moved pay paid buy bought lost "
    "found started stopped tried left came went got get make made take took give gave "
    "see saw call called worried upset happy angry tired confused honest weird fine "
    "good bad new old long short first last next other same different whole little "
    "big few many much more most some any every all nothing something everything problem "
    "situation advice question relationship decision plan idea reason mistake chance"
).split()
SUBREDDITS = ["relationships", "AskReddit", "personalfinance", "jobs", "dating_advice", "Advice", "tifu",
              "legaladvice"]
POLICIES = ["sup2", "ref", "sup4_ppo_rm3_kl10", "sup4_bo8_rm3", "pretrain_6b_t.7"]


def fake_ids(text: str | None) -> list[int]:
    """Plausible ids of another model (one per word, stable): never read by the loaders."""
    return [zlib.crc32(word.encode()) % 50000 for word in (text or "").split()]


def sentence(rng: random.Random, n_words: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n_words)]
    return " ".join(words).capitalize() + "."


def sentence_pool(n: int) -> list[str]:
    """Sentences that posts are built from: posts share sentences, so the committed files
    compress well (random words alone barely compress)."""
    rng = random.Random(0)
    return [sentence(rng, rng.randint(6, 14)) for _ in range(n)]


SENTENCES = sentence_pool(120)


def post_text(rng: random.Random, n_words: int) -> str:
    """Sentences from the pool in paragraphs of 2-4 sentences, at least n_words long."""
    paragraphs, sentences, total = [], [], 0
    size = rng.randint(2, 4)
    while total < n_words:
        sentences.append(rng.choice(SENTENCES))
        total += len(sentences[-1].split())
        if len(sentences) == size:
            paragraphs.append(" ".join(sentences))
            sentences, size = [], rng.randint(2, 4)
    if sentences:
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs)


def summary_text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 15)))


class Posts:
    """Distinct synthetic posts (and distinct summaries) from one random stream."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.summaries: set[str] = set()

    def post(self, long: bool = False) -> dict:
        rng = self.rng
        return {"id": "t3_" + "".join(rng.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(6)),
                "subreddit": rng.choice(SUBREDDITS), "title": sentence(rng, rng.randint(5, 10)).rstrip("."),
                # Long: ~330 words, within 512 Pythia tokens (the hub's query limit), over 256 SmolLM2 tokens.
                "post": post_text(rng, 330 if long else rng.randint(30, 80))}

    def summary(self) -> str:
        while True:
            text = summary_text(self.rng)
            if text not in self.summaries:
                self.summaries.add(text)
                return text


def query_of(post: dict) -> str:
    """The TL;DR sets' prompt."""
    return f"SUBREDDIT: r/{post['subreddit']}\n\nTITLE: {post['title']}\n\nPOST: {post['post']}\n\nTL;DR:"


def cnndm_query_of(article: dict) -> str:
    # The CNN/DM rows' prompt shape is not in the facts we hold; this one is a guess.
    return f"Article: {article['article']}\n\nTL;DR:"


def response_of(summary: str | None) -> str | None:
    """A TL;DR set's response text: a leading space and Pythia's end text."""
    return None if summary is None else f" {summary}{END_TEXT}"


def left_padded(ids: list[int], length: int) -> list[int]:
    return [PAD_ID] * max(length - len(ids), 0) + ids[-length:]


def right_padded(ids: list[int], length: int) -> list[int]:
    return ids[:length] + [PAD_ID] * max(length - len(ids), 0)


def write_split(repo: str, split: str, rows: list[dict], schema: pa.Schema) -> None:
    path = HUB / repo / "data" / f"{split}-00000-of-00001.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, path, compression="zstd", compression_level=19,
                   write_statistics=False)


# --- TL;DR SFT -----------------------------------------------------------------------

TOKENS = pa.list_(pa.int64())
SFT_SCHEMA = pa.schema([
    ("id", pa.string()), ("subreddit", pa.string()), ("title", pa.string()), ("post", pa.string()),
    ("summary", pa.string()), ("query_token", TOKENS), ("query", pa.string()),
    ("reference_response", pa.string()), ("reference_response_token", TOKENS),
    ("reference_response_token_len", pa.int64()), ("query_reference_response", pa.string()),
    ("query_reference_response_token", TOKENS), ("query_reference_response_token_response_label", TOKENS),
    ("query_reference_response_token_len", pa.int64()),
])


def sft_row(post: dict, summary: str | None, query_missing: bool = False) -> dict:
    """A row of the TL;DR SFT set (its token columns as if the texts were whole)."""
    query = None if query_missing else query_of(post)
    response = response_of(summary)
    query_ids = left_padded(fake_ids(query_of(post)), QUERY_TOKENS)
    response_ids = fake_ids(summary) + [0]  # 0: Pythia's <|endoftext|>
    return {**post, "summary": summary, "query_token": query_ids, "query": query,
            "reference_response": response, "reference_response_token": right_padded(response_ids, RESPONSE_TOKENS),
            "reference_response_token_len": len(response_ids),
            "query_reference_response": None if query is None or response is None else query + response,
            "query_reference_response_token": query_ids + right_padded(response_ids, RESPONSE_TOKENS),
            "query_reference_response_token_response_label":
                [PAD_ID] * QUERY_TOKENS + right_padded(response_ids, RESPONSE_TOKENS),
            "query_reference_response_token_len": len(fake_ids(query_of(post))) + len(response_ids)}


BAD_SUMMARIES = {"not_text_response": None, "empty": "", "blank": "  \n "}


def sft_split(seed: int, n_generated: int, bad: dict[int, str], duplicates: list[int]) -> list[dict]:
    """`bad`: row index -> kind (not_text_query, not_text_response, empty, blank, long);
    `duplicates`: indices of rows copied again at the end."""
    posts = Posts(seed)
    rows = []
    for i in range(n_generated):
        kind = bad.get(i)
        post = posts.post(long=kind == "long")
        summary = posts.summary()  # drawn for every row, so a bad row leaves the others as they are
        rows.append(sft_row(post, BAD_SUMMARIES.get(kind, summary), query_missing=kind == "not_text_query"))
    return rows + [dict(rows[i]) for i in duplicates]


def write_tldr_sft() -> None:
    write_split(TLDR_SFT, "train", sft_split(
        11, 158, {10: "not_text_query", 20: "not_text_response", 30: "empty", 40: "blank", 50: "long"}, [0, 1]),
        SFT_SCHEMA)
    for split, seed in (("validation", 12), ("test", 13)):
        write_split(TLDR_SFT, split, sft_split(
            seed, 23, {3: "not_text_response", 5: "empty", 7: "long"}, [0]), SFT_SCHEMA)


# --- TL;DR preferences -----------------------------------------------------------------

INFO = pa.struct([("id", pa.string()), ("post", pa.string()), ("title", pa.string()), ("subreddit", pa.string()),
                  ("site", pa.string()), ("article", pa.string())])
SUMMARY = pa.struct([("text", pa.string()), ("policy", pa.string()), ("note", pa.string())])
PREFERENCE_SCHEMA = pa.schema([
    ("info", INFO), ("summaries", pa.list_(SUMMARY)), ("choice", pa.int32()), ("batch", pa.string()),
    ("split", pa.string()), ("extra", pa.struct([("confidence", pa.int32())])),
    ("query_token", TOKENS), ("query", pa.string()),
    ("chosen", pa.string()), ("chosen_token", TOKENS), ("chosen_token_len", pa.int64()),
    ("rejected", pa.string()), ("rejected_token", TOKENS), ("rejected_token_len", pa.int64()),
    ("chosen_policy", pa.string()), ("rejected_policy", pa.string()), ("policies", pa.string()),
    ("chosen_len_minus_rejected_len", pa.int64()),
    ("query_chosen", pa.string()), ("query_chosen_token", TOKENS), ("query_chosen_token_len", pa.int64()),
    ("query_rejected", pa.string()), ("query_rejected_token", TOKENS), ("query_rejected_token_len", pa.int64()),
])


def comparison_row(rng: random.Random, info: dict, query: str | None, texts: list, choice: int,
                   split_name: str) -> dict:
    """A row of the preference set: two summaries, the labeller's choice, the derived columns."""
    policies = rng.sample(POLICIES, 2)
    summaries = [{"text": t, "policy": p, "note": None} for t, p in zip(texts, policies)]
    chosen, rejected = texts[choice], texts[1 - choice]
    query_ids = left_padded(fake_ids(query), QUERY_TOKENS)
    chosen_ids, rejected_ids = fake_ids(chosen) + [0], fake_ids(rejected) + [0]
    chosen_text, rejected_text = response_of(chosen), response_of(rejected)
    return {"info": info, "summaries": summaries, "choice": choice, "batch": f"batch{rng.randint(3, 22)}",
            "split": split_name, "extra": {"confidence": rng.choice([None, 1, 5, 8, 9])},
            "query_token": query_ids, "query": query,
            "chosen": chosen_text, "chosen_token": right_padded(chosen_ids, RESPONSE_TOKENS),
            "chosen_token_len": len(chosen_ids),
            "rejected": rejected_text, "rejected_token": right_padded(rejected_ids, RESPONSE_TOKENS),
            "rejected_token_len": len(rejected_ids),
            "chosen_policy": policies[choice], "rejected_policy": policies[1 - choice],
            "policies": "--".join(sorted(policies)),
            "chosen_len_minus_rejected_len": len(chosen_ids) - len(rejected_ids),
            "query_chosen": None if query is None or chosen_text is None else query + chosen_text,
            "query_chosen_token": query_ids + right_padded(chosen_ids, RESPONSE_TOKENS),
            "query_chosen_token_len": len(fake_ids(query)) + len(chosen_ids),
            "query_rejected": None if query is None or rejected_text is None else query + rejected_text,
            "query_rejected_token": query_ids + right_padded(rejected_ids, RESPONSE_TOKENS),
            "query_rejected_token_len": len(fake_ids(query)) + len(rejected_ids)}


def with_defect(texts: list, choice: int, kind: str | None) -> list:
    """The two summary texts with a bad value on the side `kind` names. It goes into
    `summaries` too, so that every column agrees, as the hub's script derives them."""
    texts = list(texts)
    if kind == "identical":
        texts[1 - choice] = texts[choice]
    elif kind in ("chosen_none", "chosen_empty", "rejected_empty"):
        texts[choice if kind.startswith("chosen") else 1 - choice] = None if kind == "chosen_none" else ""
    return texts


def preference_split(seed: int, n_posts: int, bad: dict[tuple[int, int], str], duplicates: list[tuple[int, int]],
                     split_name: str, cnndm: bool = False) -> list[dict]:
    """Two comparisons per post, then one comparison of a long post, then copies of the
    `duplicates` rows. `bad`: (post, comparison) -> kind (chosen_none, query_none,
    chosen_empty, rejected_empty, identical)."""
    posts = Posts(seed)
    rng = random.Random(seed + 1000)
    rows, at = [], {}
    for p in range(n_posts + 1):
        long = p == n_posts
        post = posts.post(long=long)
        if cnndm:
            info = {"id": post["id"], "post": None, "title": post["title"], "subreddit": None, "site": "cnn",
                    "article": post["post"]}
        else:
            info = {**post, "site": None, "article": None}
        query = cnndm_query_of(info) if cnndm else query_of(post)
        for c in range(1 if long else 2):
            kind = bad.get((p, c))
            choice = rng.randint(0, 1)
            texts = with_defect([posts.summary(), posts.summary()], choice, kind)
            at[(p, c)] = len(rows)
            rows.append(comparison_row(rng, info, None if kind == "query_none" else query, texts, choice,
                                       split_name))
    return rows + [dict(rows[at[key]]) for key in duplicates]


def write_tldr_preferences() -> None:
    write_split(TLDR_PREFERENCES, "train", preference_split(
        21, 58, {(3, 1): "chosen_none", (5, 1): "rejected_empty", (7, 1): "identical", (9, 0): "query_none",
                 (11, 0): "chosen_empty"}, [(0, 0), (1, 1)], "train"), PREFERENCE_SCHEMA)
    write_split(TLDR_PREFERENCES, "validation", preference_split(
        22, 18, {(2, 1): "chosen_none", (4, 1): "rejected_empty", (6, 1): "identical"}, [(0, 0)], "valid1"),
        PREFERENCE_SCHEMA)
    write_split(TLDR_PREFERENCES, "validation_cnndm", preference_split(
        23, 4, {(1, 1): "chosen_none", (2, 1): "rejected_empty", (3, 1): "identical"}, [(0, 0)], "valid2",
        cnndm=True), PREFERENCE_SCHEMA)


# --- Gold-relabelled TL;DR (column layout: our guess) ----------------------------------

RELABELLED_SCHEMA = pa.schema([("prompt", pa.string()), ("chosen", pa.string()), ("rejected", pa.string()),
                               ("chosen_score", pa.float64()), ("rejected_score", pa.float64())])
PAIRS_PER_PROMPT = 4  # the authors' label.py: the first 4 of combinations(4 samples, 2)


def relabelled_split(seed: int, n_prompts: int, long_prompt: int, repeated_sample: int,
                     bad: dict[tuple[int, int], str], duplicates: list[tuple[int, int]]) -> list[dict]:
    """Per prompt 4 sampled responses scored by a gold model, paired as label.py pairs them
    (the higher score is chosen). Prompt `repeated_sample` has its first two samples equal
    (an identical pair, and two pairs that are the same pair). `bad`: (prompt, pair) ->
    kind (chosen_none, rejected_none, chosen_empty, rejected_empty, chosen_nan, rejected_nan)."""
    posts = Posts(seed)
    rng = random.Random(seed + 1000)
    rows, at = [], {}
    for p in range(n_prompts):
        prompt = query_of(posts.post(long=p == long_prompt))
        samples = [" " + posts.summary() for _ in range(4)]
        if p == repeated_sample:
            samples[1] = samples[0]
        scores = {s: round(rng.gauss(0.0, 2.0), 4) for s in samples}  # one score per text: a deterministic model
        for k, (a, b) in enumerate(list(combinations(samples, 2))[:PAIRS_PER_PROMPT]):
            chosen, rejected = (a, b) if scores[a] >= scores[b] else (b, a)
            row = {"prompt": prompt, "chosen": chosen, "rejected": rejected,
                   "chosen_score": scores[chosen], "rejected_score": scores[rejected]}
            kind = bad.get((p, k))
            if kind:
                side, defect = kind.split("_")
                column = side if defect in ("none", "empty") else f"{side}_score"
                row[column] = {"none": None, "empty": "", "nan": math.nan}[defect]
            at[(p, k)] = len(rows)
            rows.append(row)
    return rows + [dict(rows[at[key]]) for key in duplicates]


def write_relabelled() -> None:
    write_split(RELABELLED, "train", relabelled_split(
        31, 10, long_prompt=5, repeated_sample=4,
        bad={(1, 1): "chosen_nan", (2, 0): "chosen_none", (3, 2): "rejected_empty"}, duplicates=[(0, 0)]),
        RELABELLED_SCHEMA)
    write_split(RELABELLED, "test", relabelled_split(
        32, 5, long_prompt=3, repeated_sample=2,
        bad={(0, 3): "rejected_nan", (1, 0): "rejected_none", (1, 2): "chosen_empty"}, duplicates=[]),
        RELABELLED_SCHEMA)


# --- Instruction following: UltraChat and UltraFeedback ----------------------------------

INSTRUCTION_WORDS = (
    "write explain describe summarize list compare suggest plan create give outline review "
    "recipe garden budget travel history science music poem story email letter essay report "
    "schedule exercise lesson program function table guide checklist speech article review "
    "healthy simple short detailed friendly formal clear practical creative useful small local "
    "city river mountain school library market museum company team project customer student "
    "teacher family weekend summer winter morning evening week month year day hour minute "
    "the a an of for about with without to in on at from by into over under between "
    "how why what which who when where and or but so please also then each every some "
    "three five ten main best first last new old good important common different possible "
    "steps ideas tips reasons benefits problems questions examples points words sentences "
    "water food energy money time health sleep work rest travel language code data"
).split()
OPENERS = ("Write", "Explain", "Describe", "Summarize", "List", "Compare", "Suggest", "Plan", "Give", "Outline")
CHAT_MESSAGE = pa.struct([("content", pa.string()), ("role", pa.string())])
MESSAGES = pa.list_(CHAT_MESSAGE)


def instruction_pool(seed: int, n: int) -> list[str]:
    """Sentences that prompts and answers are built from (shared, so the files compress)."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(INSTRUCTION_WORDS) for _ in range(rng.randint(6, 14))).capitalize() + "."
            for _ in range(n)]


PROMPT_SENTENCES = instruction_pool(100, 120)
ANSWER_SENTENCES = instruction_pool(101, 120)


class Instructions:
    """Distinct synthetic prompts and distinct answers from one random stream."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.seen: set[str] = set()

    def distinct(self, make) -> str:
        while True:
            text = make()
            if text not in self.seen:
                self.seen.add(text)
                return text

    def text(self, pool: list[str], n_words: int, opener: str = "") -> str:
        words = [opener] if opener else []
        while len(" ".join(words).split()) < n_words:
            words.append(self.rng.choice(pool))
        return " ".join(words)

    def prompt(self, long: bool = False) -> str:
        # Long: ~330 words, over 256 SmolLM2 tokens with the chat template.
        n_words = 330 if long else self.rng.randint(10, 60)
        return self.distinct(lambda: self.text(PROMPT_SENTENCES, n_words, self.rng.choice(OPENERS) + ":"))

    def answer(self) -> str:
        return self.distinct(lambda: self.text(ANSWER_SENTENCES, self.rng.randint(10, 40)))


def prompt_id_of(prompt: str) -> str:
    """The hub sets' prompt_id: the SHA-256 of the prompt text."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def message(role: str, content: str | None) -> dict:
    return {"content": content, "role": role}


ULTRACHAT_SCHEMA = pa.schema([("prompt", pa.string()), ("prompt_id", pa.string()), ("messages", MESSAGES)])
MULTI_TURN = (1, 3)  # rows whose index % 5 is one of these have 3-4 exchanges


def conversation(texts: Instructions, prompt: str, exchanges: int) -> list[dict]:
    """The prompt, its answer, then (exchanges - 1) follow-up questions and answers."""
    messages = [message("user", prompt), message("assistant", texts.answer())]
    for _ in range(exchanges - 1):
        messages += [message("user", texts.prompt()), message("assistant", texts.answer())]
    return messages


def with_chat_defect(prompt: str, messages: list[dict], kind: str | None) -> tuple[str | None, list[dict]]:
    """(the prompt column, the messages) with the defect `kind` in the first exchange."""
    first, answer = dict(messages[0]), dict(messages[1])
    if kind == "prompt_none":
        prompt = first["content"] = None
    elif kind == "prompt_blank":
        prompt = first["content"] = "  \n "
    elif kind in ("answer_none", "answer_empty"):
        answer["content"] = None if kind == "answer_none" else ""
    elif kind == "assistant_first":
        return prompt, messages[1:]
    elif kind == "user_only":
        return prompt, messages[:1]
    return prompt, [first, answer] + messages[2:]


def ultrachat_split(seed: int, n_generated: int, bad: dict[int, str], duplicates: list[int],
                    follow_up_variants: list[int] = ()) -> list[dict]:
    """`bad`: row index -> kind (prompt_none, answer_none, prompt_blank, answer_empty,
    assistant_first, user_only, long); then copies of the `duplicates` rows, then rows
    that repeat the first exchange of `follow_up_variants` rows with other later turns."""
    texts = Instructions(seed)
    rows = []
    for i in range(n_generated):
        kind = bad.get(i)
        prompt = texts.prompt(long=kind == "long")
        # Drawn for every row, so a bad row leaves the others as they are.
        messages = conversation(texts, prompt, texts.rng.randint(3, 4) if i % 5 in MULTI_TURN else 1)
        column, messages = with_chat_defect(prompt, messages, kind)
        rows.append({"prompt": column, "prompt_id": prompt_id_of(prompt), "messages": messages})
    copies = [dict(rows[i]) for i in duplicates]
    variants = [{**rows[i], "messages": rows[i]["messages"][:2] + conversation(texts, texts.prompt(), 2)[2:]}
                for i in follow_up_variants]
    return rows + copies + variants


def write_ultrachat() -> None:
    write_split(ULTRACHAT, "train_sft", ultrachat_split(
        41, 118, {5: "answer_none", 12: "prompt_none", 19: "answer_empty", 26: "prompt_blank", 33: "assistant_first",
                  40: "user_only", 47: "long"}, [0], [1]), ULTRACHAT_SCHEMA)
    write_split(ULTRACHAT, "test_sft", ultrachat_split(
        42, 28, {3: "answer_none", 7: "assistant_first", 11: "prompt_blank", 15: "long"}, [0], [1]), ULTRACHAT_SCHEMA)
    for split, seed in (("train_gen", 43), ("test_gen", 44)):
        write_split(ULTRACHAT, split, ultrachat_split(
            seed, 9, {2: "assistant_first", 4: "answer_empty", 6: "long"}, [0]), ULTRACHAT_SCHEMA)


ULTRAFEEDBACK_SCHEMA = pa.schema([
    ("prompt", pa.string()), ("prompt_id", pa.string()), ("chosen", MESSAGES), ("rejected", MESSAGES),
    ("messages", MESSAGES), ("score_chosen", pa.float64()), ("score_rejected", pa.float64()),
])
RATINGS = [r / 2 for r in range(2, 21)]  # GPT-4 ratings, 1 to 10 in halves


def feedback_row(texts: Instructions, kind: str | None) -> dict:
    """A row of UltraFeedback: the prompt, the better-rated answer (chosen) and another
    (rejected), with the defect `kind`; `messages` is the chosen conversation, as on the hub."""
    prompt = texts.prompt(long=kind == "long")
    answers = [texts.answer(), texts.answer()]  # drawn for every row, so a bad row leaves the others as they are
    rating = texts.rng.choice(RATINGS[1:])
    ratings = [rating, texts.rng.choice([r for r in RATINGS if r < rating])]
    user = None if kind == "prompt_none" else prompt
    if kind in ("identical", "tied"):
        ratings[1] = ratings[0]  # the same answer twice gets the same rating
        if kind == "identical":
            answers[1] = answers[0]
    if kind in ("chosen_none", "chosen_blank"):
        answers[0] = None if kind == "chosen_none" else "  \n"
    elif kind == "rejected_empty":
        answers[1] = ""
    elif kind == "rating_none":
        ratings[1] = None
    chosen, rejected = ([message("user", user), message("assistant", a)] for a in answers)
    if kind == "assistant_first":
        chosen = chosen[::-1]
    return {"prompt": user, "prompt_id": prompt_id_of(prompt), "chosen": chosen, "rejected": rejected,
            "messages": [dict(m) for m in chosen], "score_chosen": ratings[0], "score_rejected": ratings[1]}


def ultrafeedback_split(seed: int, n_generated: int, bad: dict[int, str], duplicates: list[int]) -> list[dict]:
    """`bad`: row index -> kind (prompt_none, chosen_none, assistant_first, chosen_blank,
    rejected_empty, identical, tied, rating_none, long); then copies of the `duplicates` rows."""
    texts = Instructions(seed)
    rows = [feedback_row(texts, bad.get(i)) for i in range(n_generated)]
    return rows + [dict(rows[i]) for i in duplicates]


def write_ultrafeedback() -> None:
    write_split(ULTRAFEEDBACK, "train_prefs", ultrafeedback_split(
        51, 118, {4: "prompt_none", 9: "chosen_none", 14: "assistant_first", 19: "chosen_blank", 24: "rejected_empty",
                  29: "identical", 34: "tied", 39: "tied", 44: "tied", 49: "tied", 54: "rating_none", 59: "long"},
        [0, 1]), ULTRAFEEDBACK_SCHEMA)
    write_split(ULTRAFEEDBACK, "test_prefs", ultrafeedback_split(
        52, 28, {2: "chosen_none", 5: "assistant_first", 8: "chosen_blank", 11: "rejected_empty", 14: "identical",
                 17: "tied", 20: "tied", 23: "rating_none", 26: "long"}, [0, 1]), ULTRAFEEDBACK_SCHEMA)
    for split, seed in (("train_sft", 53), ("test_sft", 54), ("train_gen", 55), ("test_gen", 56)):
        write_split(ULTRAFEEDBACK, split, ultrafeedback_split(
            seed, 9, {1: "chosen_none", 2: "rejected_empty", 3: "identical", 4: "tied", 5: "rating_none", 6: "long"},
            [0]), ULTRAFEEDBACK_SCHEMA)


def main() -> None:
    write_tldr_sft()
    write_tldr_preferences()
    write_relabelled()
    write_ultrachat()
    write_ultrafeedback()
    total = sum(f.stat().st_size for f in HUB.rglob("*.parquet"))
    print(f"wrote {HUB} ({total / 1024:.0f} KiB of parquet)")


if __name__ == "__main__":
    main()
