"""Calling an LLM judge: the official `openai` SDK against any OpenAI-compatible endpoint,
a bounded number of requests in flight, every reply cached before anything else happens.

Retries and timeouts are the SDK's own (`max_retries`, `timeout`: 408/409/429/5xx, timeouts
and connection errors, exponential backoff, `Retry-After` obeyed); a request that still
fails is reported as failed, never retried by a loop of ours and never cached, so a rerun
asks it again. The API key is read from the environment variable the config names, only
when a request is not cached (a finished run replays with no key and no network), and is
scrubbed from every error message we keep.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from isdaa.judges.cache import JudgmentCache, request_key

log = logging.getLogger(__name__)
REDACTED = "[redacted]"


class JudgeSetupError(RuntimeError):
    """The judge cannot be called (no API key, no openai package): raised before any call."""


@dataclass(frozen=True)
class JudgeRequest:
    """One judgment to ask: `id` names it within its job (e.g. `q81/turn2`), `body` is the
    whole Chat Completions request (model, messages, parameters)."""

    id: str
    body: dict


@dataclass
class Reply:
    request: JudgeRequest
    key: str
    response: dict | None  # the completion as JSON; None when the call failed
    cached: bool  # read from the cache (no call made by this job)
    error: str | None = None  # why the call failed, key scrubbed

    @property
    def content(self) -> str | None:
        """The reply's text (None: a failed call or a reply without a choice)."""
        choices = (self.response or {}).get("choices") or []
        return ((choices[0].get("message") or {}).get("content")) if choices else None

    @property
    def usage(self) -> dict:
        usage = (self.response or {}).get("usage") or {}
        return {"prompt_tokens": int(usage.get("prompt_tokens") or 0),
                "completion_tokens": int(usage.get("completion_tokens") or 0)}


def redact(text: str, secret: str | None) -> str:
    return text.replace(secret, REDACTED) if secret else text


def api_key(settings: dict) -> str:
    name = settings["api_key_env"]
    key = os.environ.get(name)
    if not key:
        raise JudgeSetupError(f"config key judge.api_key_env = {name!r}: the environment variable {name} is not set; "
                              f"export {name}=<your key> (for a local server that checks none, any value)")
    return key


def make_openai_client(settings: dict, key: str):
    try:
        import openai
    except ImportError:
        raise JudgeSetupError("the judges need the openai package: pip install -e '.[judges]'") from None
    return openai.OpenAI(api_key=key, base_url=settings.get("base_url") or None,
                         max_retries=int(settings["max_retries"]), timeout=float(settings["timeout"]))


def _quiet_http_logs() -> None:
    """The SDK and its HTTP library log each request at INFO (method, URL, status: useful,
    keyless); nothing here may run them at DEBUG, where request options are dumped."""
    for name in ("openai", "httpx", "httpx2", "httpcore"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)


def valid_completion(response: dict) -> str | None:
    """Why a 200 reply cannot be a judgment (None when it can): a reply without a choice
    is a broken reply, not a judge's answer, so it is not cached."""
    if not isinstance(response, dict):  # the SDK returns a non-JSON body as text
        return f"the reply is not a completion: {str(response)[:80]!r}"
    if not response.get("choices"):
        return "the reply has no choices"
    return None


class JudgeClient:
    """Asks a benchmark's judge requests, cached; `settings` is a resolved judge section
    (`isdaa.judges.settings.judge_settings`)."""

    def __init__(self, settings: dict, benchmark: str, cache_root, client=None):
        self.settings = settings
        self.cache = JudgmentCache(cache_root, benchmark)
        self._client = client  # injected by tests; else made on the first uncached request
        self._key: str | None = None
        self.calls_made = 0

    def _openai(self):
        if self._client is None:
            self._key = api_key(self.settings)
            _quiet_http_logs()
            self._client = make_openai_client(self.settings, self._key)
        return self._client

    def _call(self, body: dict) -> dict:
        completion = self._openai().chat.completions.create(**body)
        return completion.model_dump(mode="json") if hasattr(completion, "model_dump") else completion

    def ask(self, requests: list[JudgeRequest], desc: str = "judging") -> list[Reply]:
        """A reply for every request, in order: cached ones read, the others called (at most
        `max_concurrency` at once) and cached as each arrives. Identical requests are asked
        once. Fails before any call when an uncached request needs a key that is not set."""
        from tqdm.auto import tqdm

        keys = [request_key(r.body) for r in requests]
        responses: dict[str, dict] = {}
        for key in dict.fromkeys(keys):
            cached = self.cache.get(key)
            if cached is not None:
                responses[key] = cached
        cached_keys = set(responses)
        missing = {k: r for k, r in zip(keys, requests) if k not in responses}
        errors: dict[str, str] = {}
        log.info("%s: %d requests, %d distinct, %d cached, %d to ask", desc, len(requests), len(set(keys)),
                 len(cached_keys), len(missing))
        if missing:
            self._openai()  # the key and the package, checked before the first call
            workers = min(int(self.settings["max_concurrency"]), len(missing))
            with ThreadPoolExecutor(max_workers=workers) as pool, \
                    tqdm(total=len(missing), desc=desc, unit="call", mininterval=5) as progress:
                futures = {pool.submit(self._call, r.body): (k, r) for k, r in missing.items()}
                for future in as_completed(futures):
                    key, request = futures[future]
                    progress.update(1)
                    self.calls_made += 1
                    try:
                        response = future.result()
                    except Exception as error:  # noqa: BLE001 -- reported per request, never fatal
                        errors[key] = redact(f"{type(error).__name__}: {error}", self._key)
                        continue
                    problem = valid_completion(response)
                    if problem:
                        errors[key] = problem
                        continue
                    self.cache.put(key, request.body, response)
                    responses[key] = response
        for key, message in list(errors.items())[:5]:
            log.warning("judge request %s failed: %s", missing[key].id, message)
        if len(errors) > 5:
            log.warning("... and %d more failed requests", len(errors) - 5)
        return [Reply(request, key, responses.get(key), key in cached_keys, errors.get(key))
                for key, request in zip(keys, requests)]
