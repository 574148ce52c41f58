"""The forge's rate limit as a budget: known from its answers, spent by priority.

Every answer from GitHub (`x-ratelimit-*`) and GitLab (`ratelimit-*`) says how many calls are
left until when; `Budget` keeps the last word per forge. Before a job runs, `Budget.wait`
says whether its kind may spend now: commands and deliveries always may, the rest keep a
reserve back — what can merge keeps 5 % of the limit for commands, new promotions 10 %, the
reconcile 25 % — so a tight hour is spent on what people asked for, and the job is put back
until the window resets. The count is the installation's (or the token's), whichever process
read it: the service keeps the freshest word in the queue's store (`to_text`, `adopt`), so a
process that was idle starts from what another one heard last. Writes are paced on top of
this, in `bot.pacing`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass

RESERVE = {"delivery": 0.0, "command": 0.0, "gates": 0.05, "sync": 0.10, "reconcile": 0.25}


@dataclass
class Budget:
    """What one forge (one installation or token) has left of its rate limit."""

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None  # epoch seconds when the window starts again
    observed: float = 0.0  # epoch seconds of the answer this was read from; 0: none yet

    def update(self, headers: Mapping[str, str], now: float) -> None:
        lowered = {k.lower(): v for k, v in headers.items()}
        for prefix in ("x-ratelimit-", "ratelimit-"):
            limit, remaining = lowered.get(prefix + "limit"), lowered.get(prefix + "remaining")
            if limit and remaining and limit.isdigit() and remaining.isdigit():
                self.limit, self.remaining = int(limit), int(remaining)
                reset = lowered.get(prefix + "reset", "")
                self.reset = float(reset) if reset.isdigit() else self.reset
                self.observed = now
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

    def adopt(self, other: Budget) -> None:
        """Take `other`'s word if it was heard later than this one's."""
        if other.observed > self.observed:
            self.limit, self.remaining = other.limit, other.remaining
            self.reset, self.observed = other.reset, other.observed

    def to_text(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_text(cls, text: str) -> Budget:
        """A budget as `to_text` wrote it; anything else (a store's garbage) is no news."""
        try:
            data = json.loads(text)
            return cls(
                limit=int(data["limit"]) if data["limit"] is not None else None,
                remaining=int(data["remaining"]) if data["remaining"] is not None else None,
                reset=float(data["reset"]) if data["reset"] is not None else None,
                observed=float(data["observed"]),
            )
        except (ValueError, TypeError, KeyError):
            return cls()


# By the rate limit they count: the forge kind ("github", "gitlab") for the one token of a
# deployment, "github:installation:<id>" for each GitHub App installation of a fleet.
BUDGETS: dict[str, Budget] = {}
# the budget the forge calls made now spend, and the kind of job that makes them
_spender: ContextVar[tuple[str, str | None] | None] = ContextVar("promobot_budget", default=None)


def of(key: str) -> Budget:
    return BUDGETS.setdefault(key, Budget())


@contextmanager
def spending(key: str, kind: str | None = None) -> Iterator[None]:
    """Forge calls made inside (in this thread or task) spend budget `key`, for a job of
    `kind` (`RESERVE`'s kinds): a job or a page of one repo spends its installation's. The
    client libraries report each answer to `bot.forges.observe` in the thread that made the
    call, which reads the key back here; the pacer of writes reads the kind."""
    token = _spender.set((key, kind))
    try:
        yield
    finally:
        _spender.reset(token)


@contextmanager
def acting_as(kind: str) -> Iterator[None]:
    """Forge calls made inside spend the budget `spending` named, as a job of `kind` would:
    a command found by a reconcile's sync is still what a person asked for."""
    found = _spender.get()
    token = _spender.set((found[0] if found is not None else "", kind))
    try:
        yield
    finally:
        _spender.reset(token)


def spender(forge: str) -> str:
    """The budget a call to `forge` spends now: the one `spending` named, else the forge's."""
    found = _spender.get()
    return found[0] if found is not None and found[0].startswith(forge) else forge


def spends() -> str | None:
    """The kind of job whose forge calls are made now; None outside a job (what a person ran
    from the command line, or a page)."""
    found = _spender.get()
    return found[1] if found is not None else None
