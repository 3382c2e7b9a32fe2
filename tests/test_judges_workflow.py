"""The LLM-judge benchmarks through the Snakemake rules, on config/paper-smoke.yaml's
instruction task (real benchmark files from PyPI packages, tiny policies answering through
vLLM, a scripted judge over real HTTP on 127.0.0.1): each protocol end to end, faults that
the run survives with every judgment present or counted, a run killed half-way that resumes
without asking a cached request again, a finished run that replays with no judge at all,
the API key nowhere, and the cache contract of the judge's settings."""

import copy
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import JUDGE_KEY, judge_env, paper_smoke_config
from judge_server import ScriptedJudge, delay, drop, empty, malformed, request_key, status
from workflow_helpers import planned_jobs, snakemake, snakemake_command, write_config

pytestmark = [pytest.mark.slow, pytest.mark.vllm]
TASK = "instruction"
POLICIES = ["sft", "dpo/beta0.1/seed1", "is_dpo/beta0.1/seed1"]
BENCHMARKS = ["alpaca_eval", "arena_hard", "mt_bench"]
JUDGE_RULES = [f"judge_{name}" for name in BENCHMARKS]
SMOKE = paper_smoke_config()
# Judgments per question: one annotation, two games, two turns.
PER_QUESTION = {"alpaca_eval": 1, "arena_hard": 2, "mt_bench": 2}


def results(workdir):
    return workdir / "results" / TASK


def score(workdir, policy, benchmark) -> dict:
    return json.loads((results(workdir) / policy / "benchmarks" / benchmark / "score.json").read_text())


def judgments(workdir, policy, benchmark) -> pd.DataFrame:
    return pd.read_parquet(results(workdir) / policy / "benchmarks" / benchmark / "judgments.parquet")


@pytest.fixture(scope="module")
def run(paper_smoke_run):
    return paper_smoke_run


def copy_run(run, tmp_path) -> Path:
    """The finished run in a folder of its own (time stamps and Snakemake's records kept, so
    nothing is out of date there), without its judge cache."""
    workdir = tmp_path / "run"
    shutil.copytree(run, workdir, symlinks=True, ignore=shutil.ignore_patterns("judge_cache", "locks"))
    return workdir


def rejudge(workdir, base_url, cache_dir, *, env=None, check=True, extra=()):
    """Every policy judged again (the judge rules forced, answers kept) into `cache_dir`."""
    path = write_config(workdir, paper_smoke_config(base_url, str(cache_dir)), name="judge.yaml")
    return snakemake(workdir, "--cores", "2", *extra, "--forcerun", *JUDGE_RULES, "--",
                     f"results/{TASK}/tables/benchmarks.csv", configfile=path, env=env or judge_env(), check=check)


# --- each protocol end to end ---------------------------------------------------------


def test_every_policy_is_judged_on_every_benchmark_with_its_version_and_failures(run):
    table = pd.read_csv(results(run) / "tables" / "benchmarks.csv")
    benchmarks = SMOKE["tasks"][TASK]["benchmarks"]
    for policy in POLICIES:
        for name in BENCHMARKS:
            record = score(run, policy, name)
            rows = judgments(run, policy, name)
            asked = benchmarks[name]["max_questions"]
            assert record["questions"] == asked and record["version"] == (benchmarks[name].get("version") or
                                                                          record["version"])
            # Every judgment a question can have is a row: judged, or counted as failed.
            assert len(rows) == asked * PER_QUESTION[name]
            counts = rows["status"].value_counts().to_dict()
            assert record["failures"]["no_answer"] == counts.get("no_answer", 0)
            assert record["failures"]["total"] == len(rows) - counts.get("ok", 0)
            assert record["n"] > 0 and record["tokens"]["total"] > 0
            primary = [m for m, v in record["metrics"].items() if v["primary"]]
            assert len(primary) == 1
            shown = table[(table["run"] == policy) & (table["benchmark"] == name) & table["primary"]]
            assert shown["score"].iloc[0] == pytest.approx(record["metrics"][primary[0]]["score"])
            assert shown["version"].astype(str).iloc[0] == str(record["version"])
    # Arena-Hard v2.0's first question is longer than the tiny policy's context allows: it is
    # not answered, and both of its games are counted, not dropped.
    arena = judgments(run, "sft", "arena_hard")
    first = pd.read_parquet(results(run) / "benchmark_sets" / "arena_hard" / "questions.parquet")["question_id"][0]
    assert set(arena.loc[arena["question_id"] == first, "status"]) == {"no_answer"}
    assert (results(run) / "figures" / "benchmarks.png").read_bytes()[:4] == b"\x89PNG"


def test_mt_bench_second_turns_follow_the_policys_own_first_answer(run):
    answers = pd.read_parquet(results(run) / "sft" / "benchmarks" / "mt_bench" / "answers.parquet")
    rows = judgments(run, "sft", "mt_bench")
    second = rows[(rows["turn"] == 2) & (rows["status"] == "ok")].iloc[0]
    first_answer = answers[(answers["question_id"] == second["question_id"]) & (answers["turn"] == 1)]["answer"].iloc[0]
    cache = run / "results" / "judge_cache" / "mt_bench" / second["key"][:2] / f"{second['key']}.json"
    request = json.loads(cache.read_text())["request"]
    assert first_answer in request["messages"][1]["content"]
    assert second["prompt"].endswith("multi-turn")


def test_every_distinct_request_is_asked_once_and_cached(run):
    """The cache is shared by every cell: a request two policies have in common costs one call."""
    keys = [k for policy in POLICIES for name in BENCHMARKS for k in judgments(run, policy, name)["key"].dropna()]
    cached = {path.stem for path in (run / "results" / "judge_cache").rglob("*.json")}
    assert set(keys) == cached
    assert int((run / "requests.txt").read_text()) == len(cached)


def test_the_api_key_is_in_no_result_log_or_record(run):
    leaks = [str(path) for folder in (run / "results", run / ".snakemake") for path in folder.rglob("*")
             if path.is_file() and JUDGE_KEY.encode() in path.read_bytes()]
    assert leaks == []


# --- faults, a kill, a replay ------------------------------------------------------------


def fault_class(body) -> int:
    return int(request_key(body)[:8], 16) % 8


# What each class of request meets: transient faults on its first attempt only (0 a 500, 1 a
# 429 with Retry-After, 4 a dropped connection, 5 a reply after the client's timeout: the SDK
# retries them), and on every attempt 2 a reply that is not JSON (the SDK does not retry it)
# or 3 an empty reply; 6-7 nothing. (Two policies may ask the same request.)
TRANSIENT = {0: lambda: status(500), 1: lambda: status(429, retry_after=0.05), 4: lambda: drop(),
             5: lambda: delay(3.0)}
PERMANENT = {2: lambda: malformed(), 3: lambda: empty()}


def test_faults_leave_every_judgment_present_or_counted_as_failed(run, tmp_path):
    workdir = copy_run(run, tmp_path)
    seen = set()

    def faults(index, body):
        kind = fault_class(body)
        if kind in PERMANENT:
            return PERMANENT[kind]()
        key = request_key(body)
        if key in seen or kind not in TRANSIENT:
            return None
        seen.add(key)
        return TRANSIENT[kind]()

    config = paper_smoke_config()
    config["judge"].update(timeout=1.5, max_retries=2, max_failed_share=0.5)
    with ScriptedJudge(api_key=JUDGE_KEY, faults=faults) as judge:
        config["judge"].update(base_url=judge.base_url, cache_dir=str(tmp_path / "cache"))
        path = write_config(workdir, config, name="faults.yaml")
        snakemake(workdir, "--cores", "2", "--forcerun", *JUDGE_RULES, "--", f"results/{TASK}/tables/benchmarks.csv",
                  configfile=path, env=judge_env())
        classes_of = {request_key(body): fault_class(body) for body in judge.requests}
    assert set(classes_of.values()) == set(range(8))  # every kind of fault was met
    for policy in POLICIES:
        for name in BENCHMARKS:
            rows = judgments(workdir, policy, name)
            record = score(workdir, policy, name)
            asked = rows[rows["status"] != "no_answer"]
            classes = asked["key"].map(classes_of)
            # Not JSON: an API error, never cached; empty: a cached reply without a verdict;
            # every other fault: retried by the SDK, then judged.
            assert (asked.loc[classes == 2, "status"] == "api_error").all()
            assert (asked.loc[classes == 3, "status"] == "unparsable").all()
            assert (asked.loc[~classes.isin([2, 3]), "status"] == "ok").all()
            assert record["failures"]["api_error"] == int((classes == 2).sum())
            assert record["failures"]["unparsable"] == int((classes == 3).sum())
            assert len(rows) == record["questions"] * PER_QUESTION[name]


def cached_keys(cache: Path) -> set[str]:
    return {p.stem for p in cache.rglob("*.json")} if cache.exists() else set()


def test_a_killed_run_resumes_without_asking_a_cached_request_again_and_replays_offline(run, tmp_path):
    workdir = copy_run(run, tmp_path)
    cache = tmp_path / "cache"
    with ScriptedJudge(api_key=JUDGE_KEY, latency=0.25) as slow:
        path = write_config(workdir, paper_smoke_config(slow.base_url, str(cache)), name="judge.yaml")
        command = snakemake_command(workdir, "--cores", "2", "--forcerun", *JUDGE_RULES, "--",
                                    f"results/{TASK}/tables/benchmarks.csv", configfile=path)
        proc = subprocess.Popen(command, env=judge_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        deadline = time.time() + 300
        while len(cached_keys(cache)) < 10 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # the whole run, judge jobs included, mid-flight
        proc.wait()
    before = cached_keys(cache)
    assert len(before) >= 10
    snakemake(workdir, "--unlock", configfile=path)
    with ScriptedJudge(api_key=JUDGE_KEY) as judge:
        rejudge(workdir, judge.base_url, cache, extra=("--rerun-incomplete",))
        repeated = [k for k in judge.call_counts if k in before]
        assert repeated == [], f"{len(repeated)} cached requests asked again after the kill"
    assert len(before) < len(cached_keys(cache))  # the kill came half-way
    finished = {(p, b): score(workdir, p, b)["metrics"] for p in POLICIES for b in BENCHMARKS}
    # The finished run replays from the cache alone: no judge listening, no API key.
    with ScriptedJudge(api_key=JUDGE_KEY) as gone:
        dead = gone.base_url
    env = {k: v for k, v in judge_env().items() if k != "OPENAI_API_KEY"}
    rejudge(workdir, dead, cache, env=env)
    assert {(p, b): score(workdir, p, b)["metrics"] for p in POLICIES for b in BENCHMARKS} == finished
    assert all(score(workdir, p, b)["calls"]["made"] == 0 for p in POLICIES for b in BENCHMARKS)


def test_a_judge_that_rejects_the_key_fails_without_showing_it(run, tmp_path):
    workdir = copy_run(run, tmp_path)
    with ScriptedJudge(api_key="sk-some-other-key") as judge:
        out = rejudge(workdir, judge.base_url, tmp_path / "cache", check=False)
    assert out.returncode != 0
    text = out.stdout + out.stderr + "".join(p.read_text(errors="replace")
                                             for p in (workdir / "results").rglob("*.log"))
    assert "AuthenticationError" in text and "max_failed_share" in text
    assert JUDGE_KEY not in text
    # Without the variable, the job says which variable before any call.
    env = {k: v for k, v in judge_env().items() if k != "OPENAI_API_KEY"}
    with ScriptedJudge(api_key=JUDGE_KEY) as judge:
        out = rejudge(workdir, judge.base_url, tmp_path / "cache2", env=env, check=False)
        assert judge.requests == []
    logs = "".join(p.read_text(errors="replace") for p in (workdir / "results").rglob("judge_*/**/*.log"))
    assert out.returncode != 0 and "OPENAI_API_KEY is not set" in logs


# --- the cache contract of the judge's settings --------------------------------------------


def plan(run, config) -> set:
    path = write_config(run, config, name="edited.yaml")
    return planned_jobs(snakemake(run, "-n", "all", configfile=path).stdout)


def with_judge(**changes):
    config = copy.deepcopy(SMOKE)
    config["judge"].update(changes)
    return config


def with_benchmark(name, **changes):
    config = copy.deepcopy(SMOKE)
    config["tasks"][TASK]["benchmarks"][name].update(changes)
    return config


def test_how_the_judge_is_reached_reruns_nothing(run):
    """Endpoint, key variable, concurrency, retries, timeout, failure threshold and cache folder,
    all changed at once (one dry run: each is a setting of how, never of what)."""
    assert plan(run, with_judge(base_url="http://127.0.0.1:9/v1", api_key_env="OTHER_KEY", max_concurrency=2,
                                max_retries=0, timeout=5, max_failed_share=0.5, cache_dir="elsewhere")) == set()


def test_judge_and_benchmark_settings_rerun_exactly_what_they_change(run):
    after = {"benchmark_table", "plot_benchmarks", "all"}
    # The judge model: the judgments of the benchmarks it judges (MT-Bench has its own).
    jobs = plan(run, with_judge(model="another-judge"))
    assert {r for r, _ in jobs} == {"judge_alpaca_eval", "judge_arena_hard"} | after
    assert len([1 for r, _ in jobs if r.startswith("judge_")]) == 2 * len(POLICIES)
    # MT-Bench's decoding: its answers and judgments, nothing of the other benchmarks.
    decoding = dict(SMOKE["tasks"][TASK]["benchmarks"]["mt_bench"]["decoding"], temperature=0.3)
    jobs = plan(run, with_benchmark("mt_bench", decoding=decoding))
    assert {r for r, _ in jobs} == {"benchmark_answers", "judge_mt_bench"} | after
    assert all("benchmark=mt_bench" in w for r, w in jobs if r == "benchmark_answers")
    # The price: the table and the figure only.
    jobs = plan(run, with_judge(price={"input": 1.0, "output": 2.0}))
    assert {r for r, _ in jobs} == after
