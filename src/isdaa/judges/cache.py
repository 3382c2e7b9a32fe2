"""The judgment cache: every paid judge reply, kept on disk, keyed by the exact request.

A request is the whole Chat Completions body (model, messages and every parameter), so the
key is (judge model, judge parameters, exact request). One file per reply,
`<cache>/<benchmark>/<key[:2]>/<key>.json`, written atomically (temporary file + rename)
the moment the reply arrives: a job killed at any instant loses at most the replies in
flight, and a rerun, another cell or another regime asking the same request reads it
instead of calling. Files rather than a database: many jobs write at once, on a laptop or
on a cluster's shared file system (where SQLite's locks are unreliable), and a rename is
atomic on both.

What is stored: the request body and the reply's JSON (never the API key, which is a
header, not part of the body).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from isdaa.io import write_text


def canonical_json(body: dict) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_key(body: dict) -> str:
    """The cache key of a request body: a hash of its canonical JSON."""
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


class JudgmentCache:
    """Replies of one benchmark's judge requests, by request key."""

    def __init__(self, root, benchmark: str):
        self.folder = Path(root) / benchmark

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The cached reply of a request, or None. A file that does not parse (a disk
        that filled up mid-write on a system without atomic renames) counts as absent."""
        path = self.path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        return entry.get("response") if entry.get("key") == key else None

    def put(self, key: str, request: dict, response: dict) -> None:
        write_text(json.dumps({"key": key, "request": request, "response": response}, ensure_ascii=False),
                   self.path(key))

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()
