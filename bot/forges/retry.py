"""One retry policy for every forge: backoff with jitter for outages, patience for rate limits.

Forges translate their client library's errors into `Unavailable` and `RateLimited` at their
boundary and wrap each API call with `retrying`; the client libraries' own retries are off,
so the policy (and its bounds) is the same everywhere and tests can shorten it. How long a
rate limit asks to wait is read from its `Retry-After` header by `retry_after`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_random_exponential

from bot.errors import Paced, RateLimited, Unavailable

T = TypeVar("T")


@dataclass(frozen=True)
class Policy:
    attempts: int = 5
    backoff_max: float = 30.0  # seconds, for 5xx and timeouts
    backoff_base: float = 0.5
    rate_limit_max_wait: float = 300.0  # never sleep longer than this for a rate limit


DEFAULT = Policy()


def _wait(policy: Policy) -> Callable[[RetryCallState], float]:
    backoff = wait_random_exponential(multiplier=policy.backoff_base, max=policy.backoff_max)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimited):
            return min(max(error.retry_after, 0.0), policy.rate_limit_max_wait)
        return float(backoff(state))

    return wait


def retrying(call: Callable[[], T], policy: Policy = DEFAULT) -> T:
    """Run `call`, retrying `Unavailable` and `RateLimited` within the policy's bounds (never
    `Paced`: promobot's own pacer has decided that the job waits on the queue, not here)."""

    class too_long(stop_base):  # noqa: N801 (tenacity's naming)
        """Give up at once on a rate limit that resets later than we are willing to wait."""

        def __call__(self, state: RetryCallState) -> bool:
            error = state.outcome.exception() if state.outcome else None
            return isinstance(error, RateLimited) and error.retry_after > policy.rate_limit_max_wait

    retryer = Retrying(
        retry=retry_if_exception(
            lambda e: isinstance(e, Unavailable | RateLimited) and not isinstance(e, Paced)
        ),
        stop=stop_after_attempt(policy.attempts) | too_long(),
        wait=_wait(policy),
        reraise=True,
    )
    return retryer(call)


def retry_after(value: str | None, now: float) -> float | None:
    """The seconds a `Retry-After` header asks to wait (a number of seconds or an HTTP date,
    never below zero); None when there is no header or it cannot be read."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - now, 0.0)
    except (TypeError, ValueError):
        return None
