"""Where the finder keeps its answers, so rebuilding or superseding a PR asks nothing again.

A `Store` is the queue's store in the service, a folder beside the checkout on the command
line (`FileStore`), or memory (`MemoryStore`); the finder reads and writes it through a
`Cache` that holds the latest answers in memory and lets some of them expire.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from bot import atomic
from bot.changelog.notes import public_error

log = logging.getLogger("promobot.changelog")

MEMO_MAX = 4096  # answers held in memory in front of the store


class Store(Protocol):
    """Where answers are kept between PR builds: `RepoQueue` (remember/recall) is one."""

    def remember(self, name: str, value: str) -> None: ...

    def recall(self, name: str) -> str | None: ...


class FileStore:
    """A folder of small files, one per answer (the command line's store: no queue there).
    Only ever a shortcut: a file that is missing, torn or foreign is simply not an answer."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def remember(self, name: str, value: str) -> None:
        try:
            atomic.write(self.folder / name, value.encode("utf-8"))
        except OSError:
            return  # a read-only checkout: the next build asks again

    def recall(self, name: str) -> str | None:
        try:
            return (self.folder / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None


class MemoryStore:
    """Answers kept in this process only (tests, benchmarks)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def remember(self, name: str, value: str) -> None:
        self.values[name] = value

    def recall(self, name: str) -> str | None:
        return self.values.get(name)


class Cache:
    """JSON answers by key, in memory in front of a `Store`; some expire (`ttl`)."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._memo: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(*parts: str) -> str:
        digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:40]
        return f"changelog.{digest}"

    def get(self, *parts: str) -> Any:
        name = self.key(*parts)
        with self._lock:
            raw = self._memo.get(name)
        if raw is None:
            try:
                raw = self._store.recall(name)
            except Exception as exc:  # a store that is down costs a lookup, nothing more
                log.warning("changelog store unreadable", extra={"error": public_error(exc)})
                raw = None
            if raw is None:
                return None
            self._keep(name, raw)
        try:
            entry = json.loads(raw)
            until = entry.get("until")
            if until is not None and float(until) < self._clock():
                return None
            return entry["value"]
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def put(self, *parts: str, value: Any, ttl: float | None = None) -> None:
        name = self.key(*parts)
        until = self._clock() + ttl if ttl is not None else None
        raw = json.dumps({"value": value, "until": until}, separators=(",", ":"))
        self._keep(name, raw)
        try:
            self._store.remember(name, raw)
        except Exception as exc:
            log.warning("changelog store unwritable", extra={"error": public_error(exc)})

    def _keep(self, name: str, raw: str) -> None:
        with self._lock:
            self._memo[name] = raw
            self._memo.move_to_end(name)
            while len(self._memo) > MEMO_MAX:
                self._memo.popitem(last=False)
