from __future__ import annotations

from email.utils import formatdate

import pytest

from bot.forges.retry import retry_after

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("value", "wait"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (formatdate(NOW + 90, usegmt=True), 90.0),  # the HTTP-date form
        (formatdate(NOW - 90, usegmt=True), 0.0),  # a date gone by: at once
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_reads_seconds_and_dates(value: str | None, wait: float | None) -> None:
    assert retry_after(value, NOW) == wait
