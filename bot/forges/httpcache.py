"""Conditional requests for every GitHub read: an answer GitHub says is unchanged costs nothing.

GitHub does not charge a `304 Not Modified` against the rate limit, so every GET PyGithub makes
goes through CacheControl (the HTTP cache of the requests ecosystem): the first answer is kept
with its ETag, and the next request for the same URL carries `If-None-Match`. GitHub's
`Cache-Control: max-age=60` would let a cache answer without asking for a minute; a merge gate
must see a moved head at once, so every answer is revalidated. Answers vary by
`Authorization` (GitHub says so in `Vary`), so two installations never share an entry.

The cache is in memory, bounded in bytes, least recently used out first; an answer larger than
`ENTRY_MAX` (a long list) is not kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

import requests
from cachecontrol import CacheControl
from cachecontrol.cache import BaseCache
from cachecontrol.heuristics import BaseHeuristic
from github.Requester import (
    HTTPRequestsConnectionClass,
    HTTPSRequestsConnectionClass,
    Requester,
)
from urllib3 import HTTPResponse

TOTAL_MAX = 64 * 1024 * 1024  # bytes of answers kept, all forges of the process together
ENTRY_MAX = 2 * 1024 * 1024


class Bounded(BaseCache):
    """CacheControl's storage: an LRU dictionary bounded in bytes, safe across threads."""

    def __init__(self, total: int = TOTAL_MAX, entry: int = ENTRY_MAX) -> None:
        self.total, self.entry = total, entry
        self._data: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def set(self, key: str, value: bytes, expires: int | datetime | None = None) -> None:
        with self._lock:
            self._drop(key)
            if len(value) > self.entry:
                return
            self._data[key] = value
            self._size += len(value)
            while self._size > self.total:
                self._drop(next(iter(self._data)))

    def delete(self, key: str) -> None:
        with self._lock:
            self._drop(key)

    def _drop(self, key: str) -> None:
        old = self._data.pop(key, None)
        if old is not None:
            self._size -= len(old)


class Revalidate(BaseHeuristic):
    """Keep every answer, but never use one without asking GitHub whether it changed."""

    def update_headers(self, response: HTTPResponse) -> dict[str, str]:
        return {"cache-control": "no-cache"}

    def warning(self, response: HTTPResponse) -> str | None:
        return None


CACHE = Bounded()


def _cached(session: requests.Session) -> requests.Session:
    wrapped: requests.Session = CacheControl(
        session, cache=CACHE, heuristic=Revalidate(), cacheable_methods=("GET",)
    )
    return wrapped


class _HTTPS(HTTPSRequestsConnectionClass):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session = _cached(self.session)


class _HTTP(HTTPRequestsConnectionClass):  # GitHub Enterprise Server on plain HTTP, tests
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session = _cached(self.session)


def install() -> None:
    """Route PyGithub's requests through the cache (once per process)."""
    Requester.injectConnectionClasses(_HTTP, _HTTPS)
