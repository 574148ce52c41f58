"""Is a webhook delivery from who it says? Pure functions, compared in constant time.

An empty configured secret accepts nothing: a forgotten setting must not open the door.
Nothing here logs, and no result says which part of a header was wrong.
"""

from __future__ import annotations

import hashlib
import hmac


def _same(given: str, expected: str) -> bool:
    # compare_digest refuses non-ASCII str; bytes let any header be compared without raising.
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def github_signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`."""
    if not secret or not header:
        return False
    scheme, sep, signature = header.strip().partition("=")
    if not sep or scheme.lower() != "sha256":
        return False
    expected = hmac.new(secret.encode("utf-8", "surrogatepass"), body, hashlib.sha256)
    return _same(signature.lower(), expected.hexdigest())


def gitlab_token_ok(secret: str, header: str | None) -> bool:
    """`X-Gitlab-Token`: the secret itself."""
    if not secret or header is None:
        return False
    return _same(header, secret)


def bearer_ok(token: str, header: str | None) -> bool:
    """`Authorization: Bearer <token>` (the scheme in any case)."""
    if not token or not header:
        return False
    scheme, sep, given = header.strip().partition(" ")
    if not sep or scheme.lower() != "bearer":
        return False
    return _same(given.strip(), token)
