"""The scripted judge server, driven by the real `openai` SDK over real HTTP on 127.0.0.1.

Besides checking the server, these tests pin down what the SDK does on each fault (what
it raises or returns, and how many HTTP requests it makes): the project's judge client
builds its error handling on that behaviour, so an SDK upgrade that changes it fails here.
"""

import json
import math
import re
import threading
import time

import openai
import pytest

from judge_server import (ScriptedJudge, alpaca_p_m2, default_respond, delay, drop, empty, garbled,
                          malformed, no_choices, request_key, status)

# AlpacaEval 2's weighted annotator prompt (alpaca_eval_clf_gpt4_turbo/alpaca_eval_clf.txt),
# as the messages alpaca-eval sends: system, then user with the two outputs.
AE_SYSTEM = ("You are a highly efficient assistant, who evaluates and selects the best large language "
             "model (LLMs) based on the quality of their responses to a given instruction.")
AE_USER = '''I require a leaderboard for various large language models. [...]

## Instruction

{{
    "instruction": """{instruction}""",
}}

## Model Outputs

Here are the unordered outputs from the models. Each output is associated with a specific model, identified by a unique model identifier.

{{
    {{
        "model_identifier": "m",
        "output": """{output_1}"""
    }},
    {{
        "model_identifier": "M",
        "output": """{output_2}"""
    }}
}}

## Task

[...] make sure your output only contains one of the following model identifiers and nothing else (no quotes, no spaces, no new lines, ...): m or M.

## Best Model Identifier
'''
ARENA_SYSTEM = ("Please act as an impartial judge [...] You must output only one of the following choices "
                "as your final verdict with a label:\n\n1. Assistant A is significantly better: [[A>>B]]\n"
                "2. Assistant A is slightly better: [[A>B]]\n3. Tie, relatively the same: [[A=B]]\n"
                "4. Assistant B is slightly better: [[B>A]]\n5. Assistant B is significantly better: [[B>>A]]"
                '\n\nExample output: "My final verdict is tie: [[A=B]]".')
MT_USER = ("[Instruction]\nPlease act as an impartial judge [...] you must rate the response on a scale of "
           '1 to 10 by strictly following this format: "[[rating]]", for example: "Rating: [[5]]".\n\n'
           "[Question]\n{question}\n\n[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]")


def ae_request(instruction="Name a colour.", output_1="Blue.", output_2="Red."):
    user = AE_USER.format(instruction=instruction, output_1=output_1, output_2=output_2)
    return dict(model="gpt-4-1106-preview", max_tokens=1, temperature=1, logprobs=True, top_logprobs=5,
                messages=[{"role": "system", "content": AE_SYSTEM}, {"role": "user", "content": user}])


def arena_request(question="Sort a list in Python."):
    user = f"<|User Prompt|>\n{question}\n\n<|The Start of Assistant A's Answer|>\nsorted(x)\n" \
           "<|The End of Assistant A's Answer|>\n\n<|The Start of Assistant B's Answer|>\nx.sort()\n" \
           "<|The End of Assistant B's Answer|>"
    return dict(model="gpt-4-1106-preview", temperature=0, max_tokens=4096,
                messages=[{"role": "system", "content": ARENA_SYSTEM}, {"role": "user", "content": user}])


def mt_request(question="What is 2+2?", answer="4."):
    return dict(model="gpt-4", temperature=0, max_tokens=2048,
                messages=[{"role": "system", "content": "You are a helpful assistant."},
                          {"role": "user", "content": MT_USER.format(question=question, answer=answer)}])


PLAIN = dict(model="judge", messages=[{"role": "user", "content": "Hello there"}])


def client(judge, max_retries=0, timeout=2.0, api_key="test-key"):
    return openai.OpenAI(base_url=judge.base_url, api_key=api_key, max_retries=max_retries, timeout=timeout)


def top_probs(reply) -> dict:
    return {t.token: math.exp(t.logprob) for t in reply.choices[0].logprobs.content[0].top_logprobs}


# --------------------------------------------------------------------------- protocols
def test_alpaca_eval_weighted_reply_parses_and_is_deterministic():
    """The weighted annotator reads the top log-probs of `m` and `M`: both must be there,
    with a non-trivial share, and the same request must give the same numbers."""
    with ScriptedJudge() as judge:
        c = client(judge)
        first = c.chat.completions.create(**ae_request())
        again = c.chat.completions.create(**ae_request())
    probs = top_probs(first)
    assert {"m", "M"} <= set(probs) and len(probs) == 5
    assert probs["m"] + probs["M"] < 1 and 0 < probs["M"] < 1
    assert first.choices[0].message.content == max(probs, key=probs.get)
    assert first.choices[0].logprobs.content[0].token == first.choices[0].message.content
    assert again.choices[0].logprobs.model_dump() == first.choices[0].logprobs.model_dump()
    assert first.model == "gpt-4-1106-preview"
    assert first.usage.completion_tokens == 1 and first.usage.prompt_tokens > 50
    assert first.usage.total_tokens == first.usage.prompt_tokens + 1


def test_alpaca_eval_preference_grows_with_the_second_output_length():
    """A length bias that tests can control: a longer `M` output raises P(M); without the
    bias the preference is the hash's alone, and it varies between prompts."""
    short, long = ae_request(output_2="Red."), ae_request(output_2="Red. " * 400)
    assert alpaca_p_m2(long) > alpaca_p_m2(short) + 0.3
    assert alpaca_p_m2(long, length_bias=0) == pytest.approx(alpaca_p_m2(ae_request(output_2="Red. " * 400), 0))
    shares = [alpaca_p_m2(ae_request(instruction=f"Task {i}")) for i in range(50)]
    assert 0.1 < min(shares) < 0.5 < max(shares) < 0.9
    with ScriptedJudge() as judge:
        probs = top_probs(client(judge).chat.completions.create(**long))
    assert probs["M"] / (probs["m"] + probs["M"]) == pytest.approx(alpaca_p_m2(long))


@pytest.mark.parametrize("request_, pattern, check", [
    (arena_request(), r"\[\[([AB<>=]+)\]\]", lambda v: v in {"A>>B", "A>B", "A=B", "B>A", "B>>A"}),
    (mt_request(), r"\[\[(\d+\.?\d*)\]\]", lambda v: 1 <= float(v) <= 10),
], ids=["arena-hard", "mt-bench"])
def test_verdict_replies_parse_with_the_benchmarks_regexes(request_, pattern, check):
    """Arena-Hard and MT-Bench read exactly one `[[...]]` verdict with these regexes."""
    with ScriptedJudge() as judge:
        c = client(judge)
        first = c.chat.completions.create(**request_)
        again = c.chat.completions.create(**request_)
    content = first.choices[0].message.content
    found = re.findall(pattern, content)
    assert len(found) == 1 and check(found[0]), content
    assert again.choices[0].message.content == content
    assert first.choices[0].finish_reason == "stop" and first.choices[0].logprobs is None
    assert first.usage.completion_tokens == len(content.split()) and first.usage.prompt_tokens > 20


def test_verdicts_vary_with_the_prompt():
    """Chosen by hash, the verdicts and ratings cover their ranges across prompts."""
    verdicts = {default_respond(arena_request(f"Q{i}"))["content"].split()[-1] for i in range(60)}
    ratings = {re.findall(r"\[\[(\d+)\]\]", default_respond(mt_request(f"Q{i}"))["content"])[0]
               for i in range(200)}
    assert len(verdicts) == 5 and ratings == {str(n) for n in range(1, 11)}


def test_max_tokens_cuts_the_reply_with_finish_reason_length():
    """A judge that runs out of tokens loses its verdict: the reply says so."""
    with ScriptedJudge() as judge:
        reply = client(judge).chat.completions.create(**dict(mt_request(), max_tokens=3))
    assert len(reply.choices[0].message.content.split()) == 3
    assert reply.choices[0].finish_reason == "length" and reply.usage.completion_tokens == 3


# ----------------------------------------------------------------- faults, as the SDK sees them
def test_429_then_success_is_retried_by_the_sdk():
    """The SDK retries a 429 itself. `Retry-After: 0` is not a positive delay, so it falls
    back to its own backoff (0.5 s less up to 25 % jitter) before the second request."""
    with ScriptedJudge(faults=[status(429, retry_after=0)]) as judge:
        start = time.perf_counter()
        reply = client(judge, max_retries=2).chat.completions.create(**PLAIN)
        elapsed = time.perf_counter() - start
    assert reply.choices[0].message.content
    assert len(judge.requests) == 2 and judge.responses == 1
    assert 0.3 < elapsed < 2


def test_429_retry_after_is_obeyed():
    """A positive `Retry-After` (seconds, fractions allowed) replaces the backoff."""
    with ScriptedJudge(faults=[status(429, retry_after=0.05)]) as judge:
        start = time.perf_counter()
        client(judge, max_retries=1).chat.completions.create(**PLAIN)
        assert time.perf_counter() - start < 0.3 and len(judge.requests) == 2


def test_500_past_max_retries_raises_internal_server_error():
    """max_retries=1 means two requests; the second 500 is raised."""
    with ScriptedJudge(faults=[status(500), status(500)]) as judge:
        with pytest.raises(openai.InternalServerError) as err:
            client(judge, max_retries=1).chat.completions.create(**PLAIN)
    assert err.value.status_code == 500 and len(judge.requests) == 2 and judge.responses == 0


def test_delay_past_the_timeout_raises_api_timeout_error():
    """A timeout is an `APITimeoutError` (a subclass of `APIConnectionError`); with
    max_retries=1 the SDK retries it, and the late reply to the first is never counted."""
    with ScriptedJudge(faults=[delay(5)]) as judge:
        with pytest.raises(openai.APITimeoutError) as err:
            client(judge, timeout=0.2).chat.completions.create(**PLAIN)
        assert isinstance(err.value, openai.APIConnectionError) and len(judge.requests) == 1
    with ScriptedJudge(faults=[delay(0.5)]) as judge:
        reply = client(judge, max_retries=1, timeout=0.2).chat.completions.create(**PLAIN)
        time.sleep(0.5)  # let the first, abandoned request finish its delay
        assert reply.choices[0].message.content
        assert len(judge.requests) == 2 and judge.responses == 1


def test_malformed_json_escapes_as_a_json_error_without_retry():
    """A 200 whose body claims JSON but is not raises `json.JSONDecodeError` (a ValueError,
    NOT an `openai.OpenAIError`), and is not retried; a non-JSON content type instead
    makes `create` RETURN the body as a `str`."""
    with ScriptedJudge(faults=[malformed()]) as judge:
        with pytest.raises(json.JSONDecodeError) as err:
            client(judge, max_retries=2).chat.completions.create(**PLAIN)
        assert not isinstance(err.value, openai.OpenAIError) and len(judge.requests) == 1
    with ScriptedJudge(faults=[malformed("<html>502 Bad Gateway</html>", "text/html")]) as judge:
        reply = client(judge, max_retries=2).chat.completions.create(**PLAIN)
    assert reply == "<html>502 Bad Gateway</html>" and len(judge.requests) == 1


def test_a_wrong_key_raises_authentication_error_without_the_key():
    """401 is not retried, and neither the message nor the body echoes the key."""
    with ScriptedJudge(api_key="right-key") as judge:
        with pytest.raises(openai.AuthenticationError) as err:
            client(judge, max_retries=2, api_key="sk-wrong-1234").chat.completions.create(**PLAIN)
    assert "sk-wrong-1234" not in str(err.value) and "sk-wrong-1234" not in json.dumps(err.value.body)
    assert err.value.code == "invalid_api_key" and len(judge.requests) == 1 and judge.responses == 0


def test_empty_no_choices_and_garbled_replies_are_returned_as_they_are():
    """The SDK validates none of these: the caller must check content, choices and verdict."""
    faults = [empty(), no_choices(), garbled("No verdict here."), garbled("m? M?")]
    with ScriptedJudge(faults=faults) as judge:
        c = client(judge)
        e, n, g = (c.chat.completions.create(**mt_request()) for _ in range(3))
        ae = c.chat.completions.create(**ae_request())
    assert e.choices[0].message.content == "" and e.choices[0].logprobs is None
    assert n.choices == [] and n.usage.total_tokens > 0
    assert g.choices[0].message.content == "No verdict here."
    assert not re.findall(r"\[\[(\d+\.?\d*)\]\]", g.choices[0].message.content)
    assert not {"m", "M"} & set(top_probs(ae))
    assert len(judge.requests) == 4 and judge.responses == 3  # no_choices is not a valid completion


def test_a_dropped_connection_raises_api_connection_error_and_is_retried():
    """A connection closed without a reply is an `APIConnectionError` (not a timeout),
    which the SDK retries like a 5xx."""
    with ScriptedJudge(faults=[drop()]) as judge:
        with pytest.raises(openai.APIConnectionError) as err:
            client(judge).chat.completions.create(**PLAIN)
        assert not isinstance(err.value, openai.APITimeoutError)
    with ScriptedJudge(faults=[drop()]) as judge:
        assert client(judge, max_retries=1).chat.completions.create(**PLAIN).choices
    assert len(judge.requests) == 2 and judge.responses == 1


def test_faults_may_be_a_callable_or_dicts():
    """A callable scripts faults by request number; dicts name a fault by "kind"."""
    with ScriptedJudge(faults=lambda i, body: status(503, retry_after=0.01) if i % 2 == 0 else None) as judge:
        for _ in range(2):
            client(judge, max_retries=1).chat.completions.create(**PLAIN)
    assert len(judge.requests) == 4 and judge.responses == 2
    with ScriptedJudge(faults=[{"kind": "status", "code": 429, "retry_after": 0.01}]) as judge:
        with pytest.raises(openai.RateLimitError):
            client(judge).chat.completions.create(**PLAIN)


def test_other_paths_are_not_found():
    with ScriptedJudge() as judge:
        with pytest.raises(openai.NotFoundError):
            client(judge).models.list()
    assert judge.requests == []


# ----------------------------------------------------------------------- bookkeeping, load
def test_concurrent_requests_are_served_in_parallel():
    """Throughput measurements need parallel serving: 8 threads at 0.2 s latency each
    must take about 0.2 s, not 8 x 0.2 s."""
    with ScriptedJudge(latency=0.2) as judge:
        c = client(judge, timeout=5)
        threads = [threading.Thread(target=c.chat.completions.create,
                                    kwargs=dict(model="judge", messages=[{"role": "user", "content": f"q{i}"}]))
                   for i in range(8)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
    assert judge.responses == 8 and elapsed < 0.8


def test_call_counts_count_identical_requests():
    """Caches and retries are checked by how often each exact body reached the judge; the
    SDK sends the keyword arguments as the body, nothing more."""
    other = dict(PLAIN, model="other")
    with ScriptedJudge() as judge:
        c = client(judge)
        for body in (PLAIN, PLAIN, other, PLAIN):
            c.chat.completions.create(**body)
    assert judge.requests[0] == PLAIN
    assert judge.call_counts == {request_key(PLAIN): 3, request_key(other): 1}
