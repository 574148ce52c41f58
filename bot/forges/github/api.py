"""The connection to GitHub and the boundary every call to it crosses.

The client is made on first use (a GitHub App without an installation id looks its
installation up) and has no retries of its own: `_call` runs each API interaction under
`retrying`'s one policy, `_write` paces what creates content, and every PyGithub or requests
error is translated into `bot.errors` here, with a message that names what promobot was
doing and never a secret.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import requests
from github import Auth, Github
from github.GithubException import BadAttributeException, GithubException
from github.GithubIntegration import GithubIntegration
from github.Repository import Repository

from bot.errors import Conflict, ForgeError, NotFound, RateLimited, Unavailable
from bot.forges import httpcache, observe
from bot.forges.retry import Policy, retry_after, retrying
from bot.pacing import Pacer

T = TypeVar("T")

USER_AGENT = "promobot"
SECONDARY_LIMIT_WAIT = 60.0  # GitHub asks for at least a minute when it says no more


class Api:
    """The client and the boundary, which every room of `GitHubForge` is built on. Each room
    declares the state it keeps; `GitHubForge.__init__` sets it all."""

    repo: str
    owner: str
    base_url: str
    policy: Policy
    timeout: float
    pacer: Pacer | None  # spaces writes (the service gives one; tests and tools go unpaced)
    _auth: Auth.Auth | None  # None: a public forge, no credentials at all
    _installation_id: int | None
    _client: Github | None
    _repository: Repository | None

    # --- the client ----------------------------------------------------------------------------

    @property
    def _gh(self) -> Github:
        return self._connect()

    def _connect(self) -> Github:
        """The client, made on first use (an app without installation id looks it up)."""
        if self._client is None:
            observe.watch_github()
            httpcache.install()  # every GET conditional: a 304 costs no rate limit
            auth: Auth.Auth | None = self._auth
            if isinstance(auth, Auth.AppAuth):
                installation = self._installation_id or self._find_installation(auth)
                # PyGithub fetches an installation token on first use and a new one shortly
                # before it expires (AppInstallationAuth.token).
                auth = auth.get_installation_auth(installation)
            self._client = Github(
                auth=auth,
                base_url=self.base_url,
                timeout=_whole_seconds(self.timeout),
                user_agent=USER_AGENT,
                per_page=100,
                retry=None,  # ours: bot.forges.retry
                # PyGithub's own pacing would sleep a second before every write; we rely on
                # Retry-After instead, which GitHub sends with its secondary rate limits.
                seconds_between_requests=None,
                seconds_between_writes=None,
                lazy=True,
            )
        return self._client

    @property
    def _repo(self) -> Repository:
        if self._repository is None:
            self._repository = self._gh.get_repo(self.repo)  # lazy: no call
        return self._repository

    def _integration(self, app: Auth.AppAuth) -> GithubIntegration:
        """The App itself, authenticated with its JWT (not an installation token)."""
        return GithubIntegration(
            auth=app,
            base_url=self.base_url,
            timeout=_whole_seconds(self.timeout),
            user_agent=USER_AGENT,
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )

    def _find_installation(self, app: Auth.AppAuth) -> int:
        integration = self._integration(app)
        name = self.repo.partition("/")[2]
        return self._retry(
            f"find the GitHub App's installation on {self.repo}",
            lambda: int(integration.get_repo_installation(self.owner, name).id),
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    # --- errors --------------------------------------------------------------------------------

    def _write(self, what: str, call: Callable[[], T]) -> T:
        """A content-creating request: paced under GitHub's secondary limits, each attempt
        (a write retried after a timeout may well have been made)."""
        pacer = self.pacer
        if pacer is None:
            return self._call(what, call)

        def paced() -> T:
            pacer.take()
            return call()

        return self._call(what, paced)

    def _call(self, what: str, call: Callable[[], T]) -> T:
        """Run one API interaction under the retry policy, translating library errors."""
        self._connect()  # before retrying: connecting retries on its own
        return self._retry(what, call)

    def _retry(self, what: str, call: Callable[[], T]) -> T:
        def attempt() -> T:
            try:
                return call()
            except GithubException as exc:
                raise self._translate(exc, what) from exc
            except requests.Timeout:
                raise Unavailable(
                    f"GitHub did not answer within {self.timeout:g}s when promobot tried to {what}"
                ) from None
            except requests.RequestException as exc:
                # The request's URL stays out of the message: a codeload link carries a token.
                raise Unavailable(
                    f"GitHub is unreachable ({type(exc).__name__}); promobot could not {what}"
                ) from None
            except (BadAttributeException, json.JSONDecodeError):
                raise ForgeError(
                    f"GitHub sent an answer promobot cannot read when it tried to {what}"
                ) from None

        return retrying(attempt, self.policy)

    def _translate(self, exc: GithubException, what: str) -> ForgeError:
        status = exc.status
        headers = {str(k).lower(): str(v) for k, v in (exc.headers or {}).items()}
        reason = reason_of(exc.data) or f"HTTP {status}"
        if status in (403, 429):
            wait = _rate_limit_wait(status, headers, reason, time.time())
            if wait is not None:
                return RateLimited(
                    f"GitHub's rate limit stopped promobot from trying to {what} "
                    f"(it allows more in {math.ceil(wait)}s)",
                    wait,
                )
        if status >= 500:
            return Unavailable(f"GitHub failed (HTTP {status}) when promobot tried to {what}")
        if status == 401:
            return ForgeError(
                f"GitHub rejected promobot's credentials ({reason}) when it tried to {what}; "
                "check the token or the GitHub App's id, key and installation"
            )
        if status == 403:
            return ForgeError(f"GitHub does not allow promobot to {what}: {reason}")
        if status == 404:
            return NotFound(
                f"GitHub found nothing when promobot tried to {what} "
                f"(missing, or promobot has no access to {self.repo})"
            )
        if status in (409, 422):
            if _invalid_fields(exc.data) & {"body", "title", "description"}:
                return ForgeError(f"GitHub refused to {what}: {reason}")  # retrying won't help
            return Conflict(f"GitHub refused to {what}: {reason}")
        return ForgeError(f"GitHub refused to {what}: {reason} (HTTP {status})")


def authentication(token: str | None, app_id: int | None, private_key: str | None) -> Auth.Auth:
    if token and (app_id is not None or private_key):
        raise ForgeError("give GitHub either a token or a GitHub App id and key, not both")
    if token:
        return Auth.Token(token)
    if app_id is not None and private_key:
        app = Auth.AppAuth(app_id, private_key)
        try:
            app.create_jwt()  # fail now, not at the first request, on a key that cannot sign
        except Exception:
            raise ForgeError(
                "the GitHub App private key cannot sign a token; give the app's RSA key in PEM"
            ) from None
        return app
    raise ForgeError("GitHub needs a token, or a GitHub App id and private key")


def _whole_seconds(timeout: float) -> int:
    return max(1, math.ceil(timeout))  # PyGithub insists on an int


def reason_of(data: Any) -> str:
    """GitHub's error message and its validation errors, on one line."""
    if not isinstance(data, dict):
        return ""
    parts = [str(data.get("message") or "")]
    for item in data.get("errors") or []:
        if isinstance(item, dict):
            field = item.get("field")
            parts.append(str(item.get("message") or f"{field} is {item.get('code', 'invalid')}"))
        else:
            parts.append(str(item))
    return " ".join("; ".join(p for p in parts if p).split())


def _invalid_fields(data: Any) -> set[str]:
    if not isinstance(data, dict):
        return set()
    return {str(e.get("field")) for e in data.get("errors") or [] if isinstance(e, dict)}


def _rate_limit_wait(
    status: int, headers: Mapping[str, str], reason: str, now: float
) -> float | None:
    """Seconds to wait when a 403/429 is a rate limit, None when it is a plain refusal."""
    asked = retry_after(headers.get("retry-after"), now)
    if asked is not None:
        return asked
    if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
        try:
            reset = float(headers["x-ratelimit-reset"])
        except ValueError:
            reset = now + SECONDARY_LIMIT_WAIT
        # GitHub's reset is in whole seconds by its clock: half a second spares an early retry.
        return reset - now + 0.5 if reset > now else 0.0
    if status == 429 or "rate limit" in reason.lower():
        return SECONDARY_LIMIT_WAIT
    return None
