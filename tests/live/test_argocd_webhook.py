"""What Argo CD Notifications' webhook service posts to /webhooks/argocd, verified and read."""

from __future__ import annotations

import pytest

from bot.events import EventError
from bot.live.argocd_webhook import HEADER, Refused, applications, token_ok

SECRET = "s3cret-shared-with-argocd-notifications"
BODY = b'{"app": "api-prod"}'


def test_the_right_secret_names_the_application_to_read_again() -> None:
    assert HEADER == "X-Promobot-Token"
    assert applications(SECRET, SECRET, BODY) == ("api-prod",)
    # Argo CD's template may leave a newline after a value; the header is trimmed
    assert applications(SECRET, SECRET + " ", BODY) == ("api-prod",)


@pytest.mark.parametrize(
    ("secret", "header"),
    [
        (SECRET, None),
        (SECRET, ""),
        (SECRET, "wrong"),
        (SECRET, SECRET[:-1]),
        (SECRET, "Bearer " + SECRET),
        (SECRET, "sécret-non-ascii"),
        ("", ""),  # no secret configured accepts nothing
        ("", None),
    ],
)
def test_a_missing_or_wrong_secret_is_refused_before_the_body_is_read(
    secret: str, header: str | None
) -> None:
    assert not token_ok(secret, header)
    with pytest.raises(Refused) as caught:
        applications(secret, header, b"not even json")
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{", "not JSON"),
        (b'["api-prod"]', "not a JSON object"),
        (b"{}", '"app" must be'),
        (b'{"app": ""}', '"app" must be'),
        (b'{"app": "{{.app.metadata.name}}"}', '"app" must be'),  # an unrendered template
        (b'{"app": "../../session"}', '"app" must be'),  # it becomes an API path
        (b'{"app": "API-Prod"}', '"app" must be'),
        (b'{"app": 42}', '"app" must be'),
    ],
)
def test_a_body_that_is_not_the_template_is_an_event_error(body: bytes, says: str) -> None:
    with pytest.raises(EventError, match=says):
        applications(SECRET, SECRET, body)


def test_the_payloads_status_is_never_read() -> None:
    body = b'{"app": "api-prod", "status": {"health": {"status": "Healthy"}}}'
    assert applications(SECRET, SECRET, body) == ("api-prod",)
