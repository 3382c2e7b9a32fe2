"""Judge throughput: the real judge client (the `openai` SDK, bounded concurrency, the
file cache) against a local OpenAI-compatible server, and a killed run's resume.

    python benchmarks/judge_throughput.py --output docs/benchmarks.md

The server is the tests' scripted judge (tests/judge_server.py) on 127.0.0.1, answering
every request after a fixed latency that stands in for a judge model's generation time:
what is measured is what the client adds (HTTP, JSON, the cache's files, threads), and
how well `max_concurrency` overlaps the latency. The requests are real MT-Bench grading
requests (the first question's prompts with synthetic answers), so bodies and replies
have realistic sizes. Then a run is killed (SIGKILL) half-way and resumed: the server
counts how many cached requests it is asked again (none, by design).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from judge_server import ScriptedJudge  # noqa: E402

from isdaa.io import replace_block  # noqa: E402
from isdaa.judges.client import JudgeClient, JudgeRequest  # noqa: E402

KEY = "benchmark-key"


def requests(n: int, tag: str) -> list[JudgeRequest]:
    """MT-Bench-sized grading requests, all distinct."""
    system = "Please act as an impartial judge ... Rating: [[rating]]"
    body = "[Question]\nCompose an engaging travel blog post about a recent trip to Hawaii.\n\n[The Start of " \
           "Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]"
    return [JudgeRequest(f"q{i}", {"model": "judge", "temperature": 0.0, "max_tokens": 2048, "messages": [
        {"role": "system", "content": system},
        {"role": "user", "content": body.format(answer=f"{tag} answer {i} " + "word " * 300)}]}) for i in range(n)]


def settings(base_url: str, concurrency: int) -> dict:
    return {"model": "judge", "base_url": base_url, "api_key_env": "BENCH_JUDGE_KEY", "max_concurrency": concurrency,
            "max_retries": 2, "timeout": 30, "max_failed_share": 0.0}


SERVER = """
import sys
sys.path.insert(0, {tests!r})
from judge_server import ScriptedJudge
with ScriptedJudge(api_key={key!r}, latency={latency!r}) as judge:
    print(judge.base_url, flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
"""


def server_process(latency: float):
    """The scripted judge in a process of its own: in ours it would share the GIL with the
    client and slow both."""
    code = SERVER.format(tests=str(REPO / "tests"), key=KEY, latency=latency)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            stderr=subprocess.DEVNULL)
    return proc, proc.stdout.readline().strip()


def throughput(latency: float, concurrencies, n: int) -> list[dict]:
    rows = []
    os.environ["BENCH_JUDGE_KEY"] = KEY
    proc, base_url = server_process(latency)
    with tempfile.TemporaryDirectory() as cache:
        for concurrency in concurrencies:
            client = JudgeClient(settings(base_url, concurrency), "mt_bench", cache)
            batch = requests(n, f"c{concurrency}")
            start = time.perf_counter()
            replies = client.ask(batch)
            called = time.perf_counter() - start
            assert all(r.response for r in replies)
            start = time.perf_counter()
            replayed = JudgeClient(settings(base_url, concurrency), "mt_bench", cache).ask(batch)
            cached = time.perf_counter() - start
            assert all(r.cached for r in replayed)
            rows.append({"latency": latency, "concurrency": concurrency, "requests": n,
                         "calls_per_s": n / called, "ideal_per_s": concurrency / latency if latency else None,
                         "replay_per_s": n / cached})
    proc.stdin.close()
    proc.wait()
    return rows


KILLED = """
import os, sys
sys.path.insert(0, {tests!r}); sys.path.insert(0, {bench!r})
os.environ["BENCH_JUDGE_KEY"] = {key!r}
from judge_throughput import requests, settings
from isdaa.judges.client import JudgeClient
JudgeClient(settings({url!r}, 8), "mt_bench", {cache!r}).ask(requests({n}, "kill"))
"""


def kill_and_resume(n: int = 200, latency: float = 0.05) -> dict:
    """Kill a judging process after half its replies; resume; count repeated requests."""
    os.environ["BENCH_JUDGE_KEY"] = KEY
    with ScriptedJudge(api_key=KEY, latency=latency) as judge, tempfile.TemporaryDirectory() as cache:
        code = KILLED.format(tests=str(REPO / "tests"), bench=str(REPO / "benchmarks"), key=KEY, url=judge.base_url,
                             cache=cache, n=n)
        proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
        while judge.responses < n // 2 and proc.poll() is None:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        cached_keys = {path.stem for path in Path(cache).rglob("*.json")}
        answered_before = judge.responses
        asked_before = dict(judge.call_counts)
        client = JudgeClient(settings(judge.base_url, 8), "mt_bench", cache)
        replies = client.ask(requests(n, "kill"))
        repeated = sum(1 for key in cached_keys if judge.call_counts[key] > asked_before.get(key, 0))
        return {"requests": n, "answered_before_kill": answered_before, "cached_before_kill": len(cached_keys),
                "asked_again": client.calls_made, "repeated_among_cached": repeated,
                "complete": all(r.response for r in replies)}


def markdown(rows: list[dict], kill: dict) -> str:
    lines = [f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on this 2-core machine with "
             "`python benchmarks/judge_throughput.py --output docs/benchmarks.md`: the real client (openai SDK, "
             "threads, the file cache) against the tests' scripted judge on 127.0.0.1 in a process of its own, "
             "which answers each request after a fixed latency standing in for a judge's generation time; "
             "MT-Bench-sized requests (~2 kB), 200 distinct ones per row, then the same 200 replayed from the cache.",
             "", "| judge latency | max_concurrency | requests | calls/s | ideal (concurrency / latency) | "
             "replay from the cache, calls/s |", "|---|---|---|---|---|---|"]
    for r in rows:
        ideal = f"{r['ideal_per_s']:.0f}" if r["ideal_per_s"] else "-"
        lines.append(f"| {r['latency'] * 1000:.0f} ms | {r['concurrency']} | {r['requests']} | "
                     f"{r['calls_per_s']:.1f} | {ideal} | {r['replay_per_s']:.0f} |")
    lines += ["", f"A run of {kill['requests']} requests (max_concurrency 8, 50 ms latency) killed with SIGKILL "
                  f"after {kill['answered_before_kill']} replies had been sent: {kill['cached_before_kill']} were in "
                  f"the cache; the resumed run asked {kill['asked_again']} requests (the "
                  f"{kill['requests'] - kill['cached_before_kill']} not cached), "
                  f"{kill['repeated_among_cached']} of the cached ones again, and completed."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", help="markdown file whose judge-throughput block is replaced")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    rows = throughput(0.0, [1, 8], args.requests) + throughput(0.1, [1, 8, 32], args.requests)
    kill = kill_and_resume()
    assert kill["repeated_among_cached"] == 0 and kill["complete"], kill
    text = markdown(rows, kill)
    print(text)
    print(json.dumps(kill))
    if args.output:
        replace_block(Path(args.output), "judge-throughput", text)


if __name__ == "__main__":
    main()
