"""The connection to GitLab and the boundary every call to it crosses.

python-gitlab's own retries and rate-limit sleeps are off; `retrying` owns the policy. Its
exceptions drop response headers, so 429s (and 403s with no rate limit left) are turned into
`RateLimited` by a response hook that can still read `Retry-After` / `RateLimit-Reset`;
everything else is translated where each call is made (`_call`). No message carries the token.
Also here: how GitLab's answers write times and ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import gitlab
import requests
from gitlab.v4.objects import Project, ProjectMergeRequest

from bot.errors import Conflict, ForgeError, MergeRefused, NotFound, RateLimited, Unavailable
from bot.forges import observe
from bot.forges.retry import Policy, retry_after, retrying

T = TypeVar("T")


class _Client(gitlab.Gitlab):
    """python-gitlab with its retries and rate-limit sleeps off on every request, paginated
    ones included: `retrying` applies promobot's one policy instead."""

    def http_request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["obey_rate_limit"] = False
        kwargs["retry_transient_errors"] = False
        return super().http_request(*args, **kwargs)


def client(url: str, token: str | None, timeout: float) -> gitlab.Gitlab:
    """python-gitlab on a session whose hooks see every answer (rate limits, metrics)."""
    session = requests.Session()
    session.hooks["response"].append(_raise_rate_limited)
    session.hooks["response"].append(observe.gitlab_hook)
    return _Client(
        url,
        private_token=token,
        timeout=timeout,
        retry_transient_errors=False,
        user_agent="promobot",
        session=session,
    )


def _wait(headers: Mapping[str, str], now: float) -> float:
    """Seconds a rate limit asks to wait: its `Retry-After`, else until `RateLimit-Reset`."""
    asked = retry_after(headers.get("Retry-After"), now)
    if asked is not None:
        return asked
    reset = headers.get("RateLimit-Reset")
    if reset and reset.strip().isdigit():
        return max(float(reset) - now, 0.0)
    return 60.0  # GitLab's rate-limit windows are a minute long


def _raise_rate_limited(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    status = response.status_code
    if status == 429 or (status == 403 and response.headers.get("RateLimit-Remaining") == "0"):
        wait = _wait(response.headers, time.time())
        response.close()
        raise RateLimited(f"GitLab's rate limit was reached; it asks to wait {wait:.0f} s", wait)


def _detail(message: object) -> str:
    """GitLab's error message (a string, a list, or field → errors) as one short line."""
    if isinstance(message, bytes):
        message = message.decode(errors="replace")
    if isinstance(message, list):
        message = "; ".join(str(m) for m in message)
    elif isinstance(message, dict):
        message = "; ".join(f"{k} {v}" for k, v in message.items())
    line = " ".join(str(message).split())
    return line if len(line) <= 300 else line[:297] + "..."


def time_of(value: str) -> datetime:
    """A time as GitLab's answers write it (ISO 8601; one without a zone is UTC)."""
    when = datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def time_or_none(value: object) -> datetime | None:
    """A time GitLab may leave out (or send in a form this does not read): None then."""
    try:
        return time_of(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def id_of(value: Any) -> int | None:
    """An id as GitLab's answers write it: an int, else (a bool included) None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Api:
    """The client and the boundary, which every room of `GitLabForge` is built on. Each room
    declares the state it keeps; `GitLabForge.__init__` sets it all."""

    project: str  # its path, group/name
    url: str
    policy: Policy
    timeout: float
    _gl: gitlab.Gitlab
    _project: Project  # lazy: its sub-resources cost one request each

    def _call(self, what: str, call: Callable[[], T], *, refused: Collection[int] = ()) -> T:
        """One API request (or one paginated listing), translated and retried."""

        def attempt() -> T:
            try:
                return call()
            except gitlab.GitlabError as exc:
                raise self._translate(what, exc, refused) from None
            except requests.Timeout:
                raise Unavailable(
                    f"GitLab did not answer {what} within {self.timeout:g} s"
                ) from None
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                raise Unavailable(f"cannot reach GitLab at {self.url} for {what}") from None
            except requests.RequestException as exc:
                raise ForgeError(f"{what} failed: {type(exc).__name__}") from None

        return retrying(attempt, self.policy)

    def _translate(
        self, what: str, exc: gitlab.GitlabError, refused: Collection[int]
    ) -> ForgeError:
        code = exc.response_code
        detail = _detail(exc.error_message)
        if code in refused:
            return MergeRefused(f"GitLab refused {what}: {detail}")
        if code is None:
            return ForgeError(f"GitLab gave an unreadable answer to {what}: {detail}")
        if code >= 500:
            return Unavailable(f"GitLab failed {what} ({code}); try again later")
        if code == 429:  # only if the hook did not see it first
            return RateLimited(f"GitLab's rate limit was reached during {what}", 60.0)
        if code == 401:
            return ForgeError(
                f"GitLab rejected the token during {what} (401): check that it is valid, "
                "not expired, and has the api scope"
            )
        if code == 403:
            return ForgeError(
                f"GitLab forbade {what} (403): the token's user lacks permission on {self.project}"
            )
        if code == 404:
            return NotFound(f"{what}: not found on GitLab, or not visible to the token ({detail})")
        if code in (409, 422):
            return Conflict(f"GitLab refused {what}: {detail}")
        return ForgeError(f"GitLab refused {what} ({code}): {detail}")

    def _mr(self, number: int) -> ProjectMergeRequest:
        return self._project.mergerequests.get(number, lazy=True)
