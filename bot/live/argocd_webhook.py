"""Argo CD Notifications' webhook → the Applications to read again. Pure: no I/O, no clock.

Argo CD Notifications' webhook service signs nothing: it sends the headers its service entry
lists (values may name a key of `argocd-notifications-secret` as `$key`) and a body its
template writes. So the proof is a shared secret in one header, `X-Promobot-Token`, compared
in constant time, and the body is promobot's documented template:

    service.webhook.promobot: |
      url: https://promobot.example.com/webhooks/argocd
      headers:
      - name: X-Promobot-Token
        value: $promobot-webhook-secret
      - name: Content-Type
        value: application/json
    template.promobot: |
      webhook:
        promobot:
          method: POST
          body: |
            {"app": "{{.app.metadata.name}}"}

The event is only a hint: promobot reads the named Application from Argo CD's API and never
believes a status the payload carries (anyone who knows the URL could write one).
"""

from __future__ import annotations

import hmac
import json

from bot.errors import PromobotError
from bot.events import EventError
from bot.live.argocd import valid_name

HEADER = "X-Promobot-Token"


class Refused(PromobotError):
    """The delivery does not carry the shared secret (an HTTP 401); says nothing more."""


def token_ok(secret: str, header: str | None) -> bool:
    """The header is the secret itself. An empty secret accepts nothing."""
    if not secret or header is None:
        return False
    # compare_digest refuses non-ASCII str; bytes compare any header without raising
    return hmac.compare_digest(
        header.strip().encode("utf-8", "surrogatepass"), secret.encode("utf-8", "surrogatepass")
    )


def applications(secret: str, header: str | None, body: bytes) -> tuple[str, ...]:
    """The Application names a delivery asks promobot to read again.

    Raises `Refused` for a missing or wrong secret (checked before the body is looked at) and
    `EventError` for a body that is not promobot's template.
    """
    if not token_ok(secret, header):
        raise Refused("argocd webhook: missing or wrong " + HEADER)
    return names(body)


def names(body: bytes) -> tuple[str, ...]:
    """The Application names in a delivery whose secret was checked (the worker's half)."""
    try:
        data = json.loads(body)
    except ValueError:
        raise EventError("argocd webhook: the body is not JSON") from None
    if not isinstance(data, dict):
        raise EventError("argocd webhook: the body is not a JSON object")
    name = data.get("app")
    if not isinstance(name, str) or not valid_name(name):
        raise EventError(
            'argocd webhook: "app" must be an Application name ({{.app.metadata.name}})'
        )
    return (name,)
