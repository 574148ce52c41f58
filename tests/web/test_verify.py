from __future__ import annotations

import hashlib
import hmac
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest

from bot.web.verify import bearer_ok, github_signature_ok, gitlab_token_ok

SECRET = "It's a Secret to Everybody"
BODY = b"Hello, World!"
# GitHub's own example (docs: "Validating webhook deliveries").
SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def _sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("secret", "body", "header", "ok"),
    [
        (SECRET, BODY, SIGNATURE, True),
        (SECRET, BODY, SIGNATURE.upper().replace("SHA256=", "sha256="), True),
        (SECRET, BODY, f"  {SIGNATURE} ", True),
        (SECRET, BODY + b" ", SIGNATURE, False),  # another body
        ("another secret", BODY, SIGNATURE, False),
        (SECRET, BODY, SIGNATURE[:-1] + "0", False),  # last digit wrong
        (SECRET, BODY, SIGNATURE[:-2], False),  # a prefix of the right one
        (SECRET, BODY, None, False),
        (SECRET, BODY, "", False),
        (SECRET, BODY, SIGNATURE.removeprefix("sha256="), False),  # no scheme
        (SECRET, BODY, SIGNATURE.replace("sha256=", "sha1="), False),
        (SECRET, BODY, "sha256=", False),
        (SECRET, BODY, "sha256=zz", False),
        (SECRET, BODY, "sha256=é€", False),  # non-ASCII must not raise
        ("", BODY, _sign("", BODY), False),  # an empty secret accepts nothing
        ("", b"", _sign("", b""), False),
    ],
)
def test_github_signature(secret: str, body: bytes, header: str | None, ok: bool) -> None:
    assert github_signature_ok(secret, body, header) is ok


def test_github_signature_matches_hmac_of_the_raw_body() -> None:
    body = b'{"zen": "Keep it logically awesome."}\n'
    assert github_signature_ok("s3cr3t", body, _sign("s3cr3t", body))
    assert not github_signature_ok("s3cr3t", body.strip(), _sign("s3cr3t", body))


@pytest.mark.parametrize(
    ("secret", "header", "ok"),
    [
        ("t0ken", "t0ken", True),
        ("t0ken", "t0ken2", False),
        ("t0ken", "t0ke", False),
        ("t0ken", "T0KEN", False),  # the token is compared exactly
        ("t0ken", None, False),
        ("t0ken", "", False),
        ("t0ken", "tök€n", False),
        ("", "", False),  # an empty secret accepts nothing
        ("", None, False),
    ],
)
def test_gitlab_token(secret: str, header: str | None, ok: bool) -> None:
    assert gitlab_token_ok(secret, header) is ok


@pytest.mark.parametrize(
    ("token", "header", "ok"),
    [
        ("abc123", "Bearer abc123", True),
        ("abc123", "bearer abc123", True),
        ("abc123", "BEARER abc123", True),
        ("abc123", " Bearer  abc123 ", True),
        ("abc123", "Bearer abc124", False),
        ("abc123", "Bearer abc12", False),
        ("abc123", "Bearer ABC123", False),
        ("abc123", "Basic abc123", False),
        ("abc123", "abc123", False),  # no scheme
        ("abc123", "Bearer", False),
        ("abc123", "Bearer ", False),
        ("abc123", "Bearerabc123", False),
        ("abc123", None, False),
        ("abc123", "", False),
        ("abc123", "Bearer äbc123", False),
        ("", "Bearer ", False),  # an empty token accepts nothing
        ("", "Bearer", False),
        ("", None, False),
    ],
)
def test_bearer(token: str, header: str | None, ok: bool) -> None:
    assert bearer_ok(token, header) is ok


def _c_calls(check: Callable[[], bool]) -> list[Any]:
    """The C functions `check` calls, seen through the profiler hook (nothing is patched)."""
    seen: list[Any] = []

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_call":
            seen.append(arg)

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        check()
    finally:
        sys.setprofile(previous)
    return seen


@pytest.mark.parametrize(
    "check",
    [
        lambda: github_signature_ok(SECRET, BODY, SIGNATURE),
        lambda: github_signature_ok(SECRET, BODY, SIGNATURE[:-1] + "0"),
        lambda: gitlab_token_ok("t0ken", "t0ken"),
        lambda: gitlab_token_ok("t0ken", "wrong"),
        lambda: bearer_ok("abc123", "Bearer abc123"),
        lambda: bearer_ok("abc123", "Bearer wrong"),
    ],
)
def test_comparisons_are_constant_time(check: Callable[[], bool]) -> None:
    calls = _c_calls(check)
    assert hmac.compare_digest in calls
    assert not any(getattr(c, "__name__", "") in ("__eq__", "startswith") for c in calls)


def test_nothing_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    github_signature_ok(SECRET, BODY, SIGNATURE[:-1] + "0")
    gitlab_token_ok("t0ken", "wrong")
    bearer_ok("abc123", "Bearer wrong")
    assert caplog.records == []
