"""Which sources a reconcile polls: registries asked only what they cannot tell otherwise.

A source that changed is polled at every tick. One polled and found unchanged waits twice as
long before its next poll as it did before, up to `slowest` (an hour by default): at 2,000
images of which a few move, a tick asks a few dozen tag lists instead of 2,000. A source a
notification named within the last tick (a registry's webhook, a CI artifact event) needs no
poll at all: the notification brought its version. The cost is bounded delay, never a miss: a
lost notification of an image that had not moved for a long time is found at most `slowest`
later.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Seen:
    version: str | None
    wait: float  # seconds between the last poll and the next
    next_at: float  # monotonic time of the next poll


class Spread:
    def __init__(
        self, every: float, slowest: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """`every`: the reconcile's interval; `slowest`: the longest a source goes unpolled
        (at most `every`: every source at every tick, as before)."""
        self.every = every
        self.slowest = max(slowest, every)
        self.clock = clock
        self._seen: dict[str, _Seen] = {}
        self._lock = threading.Lock()

    def due(self, key: str, heard_ago: float | None = None) -> bool:
        """Whether this tick polls the source; `heard_ago`: seconds since a notification
        named it (None: none known)."""
        if heard_ago is not None and 0 <= heard_ago < self.every:
            return False
        with self._lock:
            seen = self._seen.get(key)
        # half a tick early still counts: timers drift, and a poll must not slip a whole tick
        return seen is None or self.clock() >= seen.next_at - self.every / 2

    def polled(self, key: str, version: str | None) -> None:
        """What a poll found: a change is polled again at the next tick, no change waits
        twice as long as last time."""
        now = self.clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is None or seen.version != version:
                wait = self.every
            else:
                wait = min(seen.wait * 2, self.slowest)
            self._seen[key] = _Seen(version, wait, now + wait)

    def forget(self, keep: set[str]) -> None:
        """Drop what is known of sources the configuration no longer names."""
        with self._lock:
            for key in [k for k in self._seen if k not in keep]:
                del self._seen[key]
