"""A scripted, OpenAI-compatible LLM judge on 127.0.0.1, for tests.

The project calls its judges (AlpacaEval 2's weighted annotator, Arena-Hard pairwise
verdicts, MT-Bench 1-10 ratings) through the official `openai` SDK. Its tests must drive
that real client over real HTTP without any network, so this module serves
`POST /v1/chat/completions` from a `ThreadingHTTPServer` in a daemon thread, using the
standard library only:

    with ScriptedJudge(faults=[status(429, retry_after=0), None]) as judge:
        client = openai.OpenAI(base_url=judge.base_url, api_key="test-key", max_retries=2)
        client.chat.completions.create(model="judge", messages=[...])
        assert len(judge.requests) == 2

Replies are deterministic in the request's messages (`default_respond`), so the same
request always gets the same answer, and faults (error statuses, delays, malformed or
empty bodies, dropped connections) can be scripted per request.

Fault specs (each a small frozen dataclass; a dict such as `{"kind": "status", "code": 429,
"retry_after": 0}` is accepted too, its "kind" naming one of the functions below):

- `status(code, retry_after=None, body=None)`: reply HTTP `code` with an OpenAI-style error
  body (or `body`: a dict sent as JSON, a str sent as is) and, if `retry_after` is given,
  a `Retry-After: <seconds>` header.
- `delay(seconds)`: sleep, then answer normally (to run past the client's timeout).
- `malformed(text='{"id": "chatcmpl-', content_type="application/json")`: 200 whose body
  is not JSON.
- `empty()`: 200 with a valid completion whose content is "" and no log-probs.
- `no_choices()`: 200 with a valid completion object whose `choices` is [].
- `garbled(text)`: 200 with a valid completion whose content is `text` (e.g. a verdict
  without `[[...]]`); a log-prob request gets top log-probs without `m` or `M`.
- `drop()`: close the connection without replying.

`faults` is a list consumed in order (entry i for the i-th request received; `None`, or
running past the end, means "answer normally"), or a callable
`faults(index, body) -> spec | None` with the 0-based request number. A faulted request
is still recorded in `requests` and `call_counts`. Authentication is checked first: a
request with a wrong key is recorded and numbered, gets 401, and its fault is unused.
"""

from __future__ import annotations

import collections
import hashlib
import json
import math
import re
import select
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

COMPLETIONS_PATH = "/v1/chat/completions"
# How strongly the AlpacaEval answer prefers the longer second output (0: not at all).
DEFAULT_LENGTH_BIAS = 1.0
ARENA_VERDICTS = ("[[A>>B]]", "[[A>B]]", "[[A=B]]", "[[B>A]]", "[[B>>A]]")


# ----------------------------------------------------------------------------- faults
@dataclass(frozen=True)
class Status:
    code: int
    retry_after: float | None = None
    body: dict | str | None = None


@dataclass(frozen=True)
class Delay:
    seconds: float


@dataclass(frozen=True)
class Malformed:
    text: str = '{"id": "chatcmpl-'
    content_type: str = "application/json"


@dataclass(frozen=True)
class Empty:
    pass


@dataclass(frozen=True)
class NoChoices:
    pass


@dataclass(frozen=True)
class Garbled:
    text: str = "I cannot decide."


@dataclass(frozen=True)
class Drop:
    pass


def status(code: int, retry_after: float | None = None, body: dict | str | None = None) -> Status:
    return Status(code, retry_after, body)


def delay(seconds: float) -> Delay:
    return Delay(seconds)


def malformed(text: str = '{"id": "chatcmpl-', content_type: str = "application/json") -> Malformed:
    return Malformed(text, content_type)


def empty() -> Empty:
    return Empty()


def no_choices() -> NoChoices:
    return NoChoices()


def garbled(text: str = "I cannot decide.") -> Garbled:
    return Garbled(text)


def drop() -> Drop:
    return Drop()


_FAULT_KINDS = {"status": Status, "delay": Delay, "malformed": Malformed, "empty": Empty,
                "no_choices": NoChoices, "garbled": Garbled, "drop": Drop}


def _as_fault(spec: Any):
    """A fault dataclass from a dataclass, a dict with "kind", or None."""
    if spec is None or isinstance(spec, tuple(_FAULT_KINDS.values())):
        return spec
    if isinstance(spec, dict):
        fields = dict(spec)
        return _FAULT_KINDS[fields.pop("kind")](**fields)
    raise TypeError(f"not a fault spec: {spec!r}")


# ------------------------------------------------------------------------ the judge
def request_key(body: dict) -> str:
    """A stable key of a request body: sha256 of its canonical JSON."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _text(content: Any) -> str:
    """The text of a message's content (a string, or a list of typed parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _messages(body: dict) -> list[dict]:
    return [m for m in body.get("messages") or [] if isinstance(m, dict)]


def _unit(body: dict, salt: str) -> float:
    """A number in [0, 1) fixed by the request's messages and `salt`."""
    text = json.dumps(_messages(body), sort_keys=True, ensure_ascii=False) + "|" + salt
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:13], 16) / 16**13


_AE_OUTPUT = re.compile(r'"output":\s*"""(.*?)"""\s*\n\s*}', re.DOTALL)


def alpaca_outputs(body: dict) -> tuple[str, str] | None:
    """The two outputs of an AlpacaEval prompt (the text between each `"output": \"\"\"`
    and its closing `\"\"\"`), from the last user message; None if there are not two."""
    users = [_text(m.get("content")) for m in _messages(body) if m.get("role") == "user"]
    found = _AE_OUTPUT.findall(users[-1] if users else "")
    return (found[0], found[1]) if len(found) >= 2 else None


def alpaca_p_m2(body: dict, length_bias: float = DEFAULT_LENGTH_BIAS) -> float:
    """P(M) / (P(m) + P(M)): the preference for the second output `M`. Its logit is a
    hash of the messages in [-1.5, 1.5] plus `length_bias * 2 * tanh((len2 - len1) / 1000)`
    (lengths in characters), so it grows with the length of the second output."""
    outputs = alpaca_outputs(body) or ("", "")
    logit = 3.0 * _unit(body, "alpaca") - 1.5
    logit += length_bias * 2.0 * math.tanh((len(outputs[1]) - len(outputs[0])) / 1000.0)
    return 1.0 / (1.0 + math.exp(-logit))


def is_alpaca(body: dict) -> bool:
    return bool(body.get("logprobs")) and 1 in (body.get("max_tokens"), body.get("max_completion_tokens"))


def _has(body: dict, roles: tuple[str, ...], needle: str) -> bool:
    return any(m.get("role") in roles and needle in _text(m.get("content")) for m in _messages(body))


def default_respond(body: dict, length_bias: float = DEFAULT_LENGTH_BIAS) -> dict:
    """The deterministic judge: recognises the protocol from the request and answers it.

    - AlpacaEval 2 (`max_tokens == 1` and `logprobs`): content `m` or `M` (the likelier),
      top log-probs over `m`, `M` (together 0.85-0.97 of the mass; `M`'s share from
      `alpaca_p_m2`) and three other tokens.
    - Arena-Hard (a system message with `[[A>>B]]`): a short judgment ending with one of
      `ARENA_VERDICTS`, chosen by hash.
    - MT-Bench (a system or user message with `[[rating]]`): a short explanation ending
      with `Rating: [[N]]`, N in 1..10 by hash.
    - Anything else: a short deterministic text.
    """
    if is_alpaca(body):
        mass = 0.85 + 0.12 * _unit(body, "mass")
        p_m2 = alpaca_p_m2(body, length_bias)
        rest = 1.0 - mass
        probs = {"M": mass * p_m2, "m": mass * (1 - p_m2), "Model": rest * 0.5, " M": rest * 0.3, "**": rest * 0.2}
        top = sorted(((t, math.log(max(p, 1e-300))) for t, p in probs.items()), key=lambda x: -x[1])
        return {"content": "M" if p_m2 >= 0.5 else "m", "top_logprobs": top, "finish_reason": "length"}
    if _has(body, ("system",), "[[A>>B]]"):
        verdict = ARENA_VERDICTS[int(_unit(body, "arena") * len(ARENA_VERDICTS))]
        return {"content": f"Both assistants answer the prompt; weighing accuracy and helpfulness, "
                           f"my final verdict is {verdict}", "top_logprobs": None, "finish_reason": "stop"}
    if _has(body, ("system", "user"), "[[rating]]"):
        rating = 1 + int(_unit(body, "mtbench") * 10)
        return {"content": f"The response is relevant and mostly accurate. Rating: [[{rating}]]",
                "top_logprobs": None, "finish_reason": "stop"}
    return {"content": f"Scripted judge reply {int(_unit(body, 'other') * 10**6):06d}.",
            "top_logprobs": None, "finish_reason": "stop"}


# ------------------------------------------------------------------------- replies
def _n_words(text: str) -> int:
    return max(1, len(text.split()))


def _token_entry(token: str, top: list[tuple[str, float]], k: int) -> dict:
    """One entry of `logprobs.content`, OpenAI's shape: the token, its log-prob (from
    `top` if it is there, else below all of them) and the k likeliest alternatives."""
    top = sorted(top, key=lambda x: -x[1])
    own = dict(top).get(token, min((lp for _, lp in top), default=0.0) - 1.0)
    return {"token": token, "logprob": own, "bytes": list(token.encode("utf-8")),
            "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(t.encode("utf-8"))} for t, lp in top[:k]]}


def _logprobs(content: str, first_top: list[tuple[str, float]] | None, k: int) -> dict:
    """Log-probs for every whitespace token of `content`: the first token's alternatives
    are `first_top` when given; the others are the token itself and fillers."""
    tokens = [w if i == 0 else " " + w for i, w in enumerate(content.split())]
    entries = []
    for i, tok in enumerate(tokens):
        top = first_top if (i == 0 and first_top) else [(tok, -0.05), ("the", -3.5), ("a", -4.0), (".", -4.5)]
        entries.append(_token_entry(tok, list(top), k))
    return {"content": entries}


def completion(body: dict, key: str, content: str, top_logprobs=None, finish_reason: str = "stop",
               with_logprobs: bool = True) -> dict:
    """A full Chat Completions object for `content`; cut to `max_tokens` words (then
    `finish_reason` is "length"); `logprobs` filled only if the request asked for them."""
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    words = content.split()
    if isinstance(limit, int) and limit > 0 and len(words) > limit:
        content, finish_reason = " ".join(words[:limit]), "length"
    logprobs = None
    if body.get("logprobs") and with_logprobs:
        logprobs = _logprobs(content, top_logprobs, int(body.get("top_logprobs") or 0))
    prompt_tokens = _n_words(" ".join(_text(m.get("content")) for m in _messages(body)))
    completion_tokens = _n_words(content)
    return {
        "id": "chatcmpl-" + key[:24],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", ""),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": finish_reason, "logprobs": logprobs}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def error_body(message: str, type_: str, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


# -------------------------------------------------------------------------- server
class ScriptedJudge:
    """An OpenAI-compatible judge on 127.0.0.1 (see the module docstring).

    `respond(body) -> {"content", "top_logprobs", "finish_reason"}` decides valid replies
    (default: `default_respond`); `faults` scripts failures; `latency` is slept before
    every reply. `requests`, `call_counts` and `responses` record what happened."""

    def __init__(self, api_key: str = "test-key", respond: Callable[[dict], dict] | None = None,
                 faults: list | Callable[[int, dict], Any] | None = None, latency: float = 0.0):
        self.api_key = api_key
        self.respond = respond or default_respond
        self.faults = faults
        self.latency = latency
        self.base_url = ""
        self.requests: list[dict] = []
        self.call_counts: collections.Counter = collections.Counter()
        self.responses = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # lifecycle
    def start(self) -> str:
        self._stopping.clear()
        self._server = _QuietServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="ScriptedJudge", daemon=True)
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        return self.base_url

    def stop(self) -> None:
        """Stop serving, wake sleeping handlers and close kept-alive connections."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> "ScriptedJudge":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # bookkeeping
    def _receive(self, body: dict):
        """Record a request; return its index and its fault spec."""
        with self._lock:
            index = len(self.requests)
            self.requests.append(body)
            self.call_counts[request_key(body)] += 1
            faults = self.faults
            if callable(faults):
                spec = None  # called outside the lock, below
            else:
                spec = faults[index] if faults is not None and index < len(faults) else None
        if callable(faults):
            spec = faults(index, body)
        return index, _as_fault(spec)

    def _count_response(self, n: int) -> None:
        with self._lock:
            self.responses += n

    def _sleep(self, seconds: float) -> bool:
        """Sleep; False if the server was stopped meanwhile."""
        return not (seconds > 0 and self._stopping.wait(seconds))


class _QuietServer(ThreadingHTTPServer):
    """A client that goes away mid-request (a killed run, a timed-out retry) is expected
    here, not an error worth a traceback on stderr."""

    def handle_error(self, request, client_address):
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def _make_handler(judge: ScriptedJudge):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
        # Headers and body go out as separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every reply.
        disable_nagle_algorithm = True

        def setup(self):
            super().setup()
            with judge._lock:
                judge._connections.add(self.connection)

        def finish(self):
            with judge._lock:
                judge._connections.discard(self.connection)
            super().finish()

        def log_message(self, *args):  # quiet
            pass

        def _send(self, code: int, payload: dict | str | bytes, content_type="application/json",
                  headers: dict | None = None, counted: bool = False) -> bool:
            """Send a reply unless the client has gone (e.g. it timed out); True if sent.
            A `counted` completion is counted in `responses` before it is written, so that the
            count is up to date by the time the client has read it."""
            if not judge._sleep(judge.latency) or self._peer_gone():
                self.close_connection = True
                return False
            if counted:
                judge._count_response(+1)
            if isinstance(payload, dict):
                payload = json.dumps(payload)
            data = payload.encode("utf-8") if isinstance(payload, str) else payload
            try:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
                return True
            except OSError:
                if counted:
                    judge._count_response(-1)
                self.close_connection = True
                return False

        def _peer_gone(self) -> bool:
            try:
                readable, _, _ = select.select([self.connection], [], [], 0)
                return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                return True

        def _not_found(self):
            self._read_body()
            self._send(404, error_body(f"Unknown request URL: {self.command} {self.path}",
                                       "invalid_request_error", "unknown_url"))

        do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _not_found

        def _read_body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def do_POST(self):
            if self.path.split("?")[0] != COMPLETIONS_PATH:
                return self._not_found()
            raw = self._read_body()
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return self._send(400, error_body("We could not parse the JSON body of your request.",
                                                  "invalid_request_error"))
            _, fault = judge._receive(body)
            if self.headers.get("Authorization", "") != f"Bearer {judge.api_key}":
                return self._send(401, error_body("Incorrect API key provided.", "invalid_request_error",
                                                  "invalid_api_key"))
            if body.get("stream"):
                return self._send(400, error_body("ScriptedJudge does not stream.", "invalid_request_error"))
            self._answer(body, request_key(body), fault)

        def _answer(self, body: dict, key: str, fault):
            if isinstance(fault, Status):
                headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
                kind = ("rate_limit_error" if fault.code == 429 else
                        "invalid_request_error" if fault.code < 500 else "server_error")
                payload = fault.body if fault.body is not None else error_body(f"Scripted error {fault.code}.", kind)
                self._send(fault.code, payload, "application/json" if not isinstance(payload, str)
                           else "text/plain", headers)
            elif isinstance(fault, Drop):
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            elif isinstance(fault, Malformed):
                self._send(200, fault.text, fault.content_type)
            elif isinstance(fault, NoChoices):
                reply = completion(body, key, "")
                reply["choices"] = []
                self._send(200, reply)
            elif isinstance(fault, (Empty, Garbled)):
                content = "" if isinstance(fault, Empty) else fault.text
                top = [("I", -0.3), ("The", -1.6), ("**", -2.5)]  # no m / M
                reply = completion(body, key, content, top, "stop", with_logprobs=isinstance(fault, Garbled))
                self._send(200, reply, counted=True)
            else:
                if isinstance(fault, Delay) and not judge._sleep(fault.seconds):
                    self.close_connection = True
                    return
                answer = judge.respond(body)
                reply = completion(body, key, answer.get("content", ""), answer.get("top_logprobs"),
                                   answer.get("finish_reason") or "stop")
                self._send(200, reply, counted=True)

    return Handler
