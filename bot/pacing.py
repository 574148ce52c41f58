"""GitHub's secondary limits as one window per installation, shared by every process.

GitHub counts content-creating requests (POST, PATCH, PUT, DELETE) per installation of an App,
or per user for a token: about 80 a minute and 500 an hour, whatever the repo. So every repo
served through one installation, in every `promobot serve` and `promobot worker` process,
draws from one sliding window kept in the queue's store (`Window`: a Redis sorted set, or a
table of the SQLite file): a write is let through and recorded at once when fewer than the
limits fall in the last minute and the last hour, or told how long until there is room.

What people asked for may fill the whole window; the rest leave a share of it to them — a
sync or the reconcile a quarter, what can merge a tenth — so a `/merge` during a flood of
another repo's syncs goes at once. A write that would wait longer than a moment puts its job
back on the queue (`Paced`) rather than hold a worker asleep: a flood never takes every
worker while a command waits for one. A command's own writes wait in place for up to a
minute (its comment is claimed once, so it cannot be tried again later).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol

from bot import budget, metrics
from bot.errors import Paced

WRITES_PER_MINUTE = 60  # under GitHub's ~80 content-creating requests a minute
WRITES_PER_HOUR = 450  # under its ~500 an hour
# The share of each window a kind of job may fill (`bot.budget.spending` names the kind).
SHARE = {"delivery": 1.0, "command": 1.0, "gates": 0.9, "sync": 0.75, "reconcile": 0.75}
NAP = 2.0  # seconds a write waits in place at most; a longer wait puts its job back
PATIENCE = 60.0  # the same for what people asked for (a command, or outside a job)

Limits = tuple[tuple[float, int], ...]  # (window in seconds, writes it may hold)


class Window(Protocol):
    """Where the writes of each installation are counted (the queue's store)."""

    def admit(self, key: str, now: float, limits: Limits, *, take: bool) -> float:
        """0 when one more write under `key` at `now` keeps each window of `limits` within
        its count — and, if `take`, it is recorded; otherwise the seconds until it would."""
        ...


class Pacer:
    """The writes of one installation (or token), `key`, in `window`: `take` before each.

    `minute` and `hour` are the windows' lengths: a benchmark shortens them to run an hour in
    minutes (how long a write may wait in place shrinks with them); `clock` and `sleep` are
    passed in for tests."""

    def __init__(
        self,
        window: Window,
        key: str,
        per_minute: int = WRITES_PER_MINUTE,
        per_hour: int = WRITES_PER_HOUR,
        *,
        minute: float = 60.0,
        hour: float = 3600.0,
        clock: Callable[[], float] = time.time,  # one clock for every process: wall time
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.window, self.key = window, key
        self.counts = ((minute, per_minute), (hour, per_hour))
        self.clock, self.sleep = clock, sleep
        self.nap, self.patience = NAP * minute / 60, PATIENCE * minute / 60

    def limits(self, kind: str | None) -> Limits:
        share = SHARE.get(kind, 1.0) if kind is not None else 1.0
        return tuple((seconds, max(1, math.floor(count * share))) for seconds, count in self.counts)

    def wait(self, kind: str | None) -> float:
        """Seconds until a write of a job of `kind` would have room (nothing is recorded)."""
        return self.window.admit(self.key, self.clock(), self.limits(kind), take=False)

    def take(self) -> float:
        """Room for one write of the job running now (its kind from `bot.budget.spends`); the
        seconds waited for it. `Paced` when the wait would be longer than the job may wait."""
        kind = budget.spends()
        limits = self.limits(kind)
        patience = self.patience if SHARE.get(kind or "", 1.0) == 1.0 else self.nap
        waited = 0.0
        while True:
            wait = self.window.admit(self.key, self.clock(), limits, take=True)
            if wait <= 0:
                if waited:
                    metrics.WRITES_PACED.labels(kind or "none", "waited").inc()
                return waited
            if waited + wait > patience:
                metrics.WRITES_PACED.labels(kind or "none", "put back").inc()
                raise Paced(
                    f"promobot holds its writes under GitHub's secondary limits: room for this "
                    f"one in {math.ceil(wait)}s",
                    wait,
                )
            self.sleep(wait)
            waited += wait
