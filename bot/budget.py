"""The forge's rate limit as a budget: known from its answers, spent by priority, writes paced.

Every answer from GitHub (`x-ratelimit-*`) and GitLab (`ratelimit-*`) says how many calls are
left until when; `Budget` keeps the last word per forge. Before a job runs, `Budget.wait`
says whether its kind may spend now: commands and deliveries always may, the rest keep a
reserve back — what can merge keeps 5 % of the limit for commands, new promotions 10 %, the
reconcile 25 % — so a tight hour is spent on what people asked for, and the job is put back
until the window resets. GitHub's secondary limits count content-creating requests (about 80 a
minute); `Pacer` spaces writes so promobot stays under them rather than being told to stop.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

RESERVE = {"delivery": 0.0, "command": 0.0, "gates": 0.05, "sync": 0.10, "reconcile": 0.25}
WRITES_PER_MINUTE = 60  # under GitHub's ~80 content-creating requests a minute
WRITES_PER_HOUR = 450  # under its ~500 an hour


@dataclass
class Budget:
    """What one forge (one installation or token) has left of its rate limit."""

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None  # epoch seconds when the window starts again

    def update(self, headers: Mapping[str, str]) -> None:
        lowered = {k.lower(): v for k, v in headers.items()}
        for prefix in ("x-ratelimit-", "ratelimit-"):
            limit, remaining = lowered.get(prefix + "limit"), lowered.get(prefix + "remaining")
            if limit and remaining and limit.isdigit() and remaining.isdigit():
                self.limit, self.remaining = int(limit), int(remaining)
                reset = lowered.get(prefix + "reset", "")
                self.reset = float(reset) if reset.isdigit() else self.reset
                return

    def wait(self, kind: str, now: float) -> float:
        """Seconds a job of `kind` should wait before spending; 0 when it may go now."""
        if self.limit is None or self.remaining is None:
            return 0.0
        if self.reset is not None and now >= self.reset:
            return 0.0  # a new window has begun since the last answer
        if self.remaining > self.limit * RESERVE.get(kind, 0.10):
            return 0.0
        return max((self.reset or now + 60) - now, 1.0)


# By the rate limit they count: the forge kind ("github", "gitlab") for the one token of a
# deployment, "github:installation:<id>" for each GitHub App installation of a fleet.
BUDGETS: dict[str, Budget] = {}
_spender: ContextVar[str | None] = ContextVar("promobot_budget", default=None)


def of(key: str) -> Budget:
    return BUDGETS.setdefault(key, Budget())


@contextmanager
def spending(key: str) -> Iterator[None]:
    """Forge calls made inside (in this thread or task) spend budget `key`: a job or a page
    of one repo spends its installation's. The client libraries report each answer to
    `bot.forges.observe` in the thread that made the call, which reads the key back here."""
    token = _spender.set(key)
    try:
        yield
    finally:
        _spender.reset(token)


def spender(forge: str) -> str:
    """The budget a call to `forge` spends now: the one `spending` named, else the forge's."""
    key = _spender.get()
    return key if key is not None and key.startswith(forge) else forge


class Pacer:
    """Spaces requests so that at most `per_minute` fall in any minute and `per_hour` in any
    hour; `take` sleeps as long as it must (thread-safe)."""

    def __init__(
        self,
        per_minute: int = WRITES_PER_MINUTE,
        per_hour: int = WRITES_PER_HOUR,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = ((60.0, per_minute), (3600.0, per_hour))
        self.clock, self.sleep = clock, sleep
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Wait for room for one more request; the seconds waited."""
        waited = 0.0
        with self._lock:
            while True:
                now = self.clock()
                while self._times and now - self._times[0] >= 3600.0:
                    self._times.popleft()
                delay = max(
                    (self._times[-count] + window - now for window, count in self.limits
                     if len(self._within(now, window)) >= count),
                    default=0.0,
                )  # fmt: skip
                if delay <= 0:
                    self._times.append(now)
                    return waited
                self.sleep(delay)
                waited += delay

    def _within(self, now: float, window: float) -> list[float]:
        return [t for t in self._times if now - t < window]
