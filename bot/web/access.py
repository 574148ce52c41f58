"""Optional read protection for the overview pages and the JSON API.

Off unless configured. `PROMOBOT_READ_TOKEN` lets in requests that carry it as
`Authorization: Bearer …` or `?token=…`; a page opened with `?token=` sets an HttpOnly cookie
holding a digest of the token (not the token) and redirects to the same URL without it, so the
token stays out of browser history, the links on the page and the `Referer` sent to the forge.
`PROMOBOT_TRUSTED_USER_HEADER` (e.g. `X-Forwarded-User`) lets in requests on which an
authenticating proxy set that header; the proxy must strip it from what clients send.
Webhooks, health, readiness and metrics are never behind it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request

from bot.settings import Settings
from bot.web import verify

COOKIE = "promobot_read"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    user: str | None = None  # who the proxy says it is
    remember: bool = False  # the token came in the query: set the cookie, drop it from the URL


@dataclass(frozen=True)
class ReadAccess:
    token: str = ""
    user_header: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> ReadAccess:
        token = settings.read_token.get_secret_value() if settings.read_token else ""
        return cls(token, settings.trusted_user_header or "")

    @property
    def enabled(self) -> bool:
        return bool(self.token or self.user_header)

    def cookie_value(self) -> str:
        return hmac.new(self.token.encode(), b"promobot read cookie", hashlib.sha256).hexdigest()

    def check(self, request: Request) -> Verdict:
        if not self.enabled:
            return Verdict(True)
        if self.user_header:
            user = request.headers.get(self.user_header, "").strip()
            if user:
                return Verdict(True, user=user)
        if self.token:
            if verify.bearer_ok(self.token, request.headers.get("authorization")):
                return Verdict(True)
            given = request.query_params.get("token")
            if given is not None and verify.bearer_ok(self.token, f"Bearer {given}"):
                return Verdict(True, remember=True)
            cookie = request.cookies.get(COOKIE)
            if cookie is not None and verify.bearer_ok(self.cookie_value(), f"Bearer {cookie}"):
                return Verdict(True)
        return Verdict(False)


def without_token(request: Request) -> str:
    """The request's path and query, without `token=`."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
    return request.url.path + (f"?{urlencode(query)}" if query else "")
