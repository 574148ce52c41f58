"""Logs never carry a secret: configured ones, and the credentials inside any URL."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bot import logs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("redis://:hunter2@redis:6379/0", "redis://:[redacted]@redis:6379/0"),
        ("rediss://default:hunter2@r.example.com", "rediss://default:[redacted]@r.example.com"),
        (
            "https://bob:pw@charts.example.com/index.yaml",
            "https://bob:[redacted]@charts.example.com/index.yaml",
        ),
        (
            "GET https://r.io/v2/x?token=abc.def&n=1 failed",
            "GET https://r.io/v2/x?token=[redacted]&n=1 failed",
        ),
        (
            "https://gitlab.example.com/api/v4?private_token=glpat-x",
            "https://gitlab.example.com/api/v4?private_token=[redacted]",
        ),
        ("https://user@example.com/path", "https://user@example.com/path"),  # no password: kept
        ("sqlite:.promobot/queue.db", "sqlite:.promobot/queue.db"),
    ],
)
def test_credentials_in_urls_are_redacted(text: str, expected: str) -> None:
    assert logs.redact_urls(text) == expected


def test_a_url_password_is_redacted_even_when_no_secret_is_configured() -> None:
    stream = io.StringIO()
    logs.setup("info", secrets=(), stream=stream)
    try:
        logging.getLogger("promobot.test").warning(
            "queue unavailable", extra={"url": "redis://:hunter2@10.0.0.5:6379/0"}
        )
    finally:
        logging.getLogger().handlers.clear()
    line = json.loads(stream.getvalue())
    assert line["url"] == "redis://:[redacted]@10.0.0.5:6379/0"
    assert "hunter2" not in stream.getvalue()
