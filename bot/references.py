"""Where a repository is: github.com/OWNER/NAME, OWNER/NAME or a local path.

Read from a component's `changelog:` setting (checked when the configuration is loaded) and
from what images and charts say of their sources (when their notes are looked for). The text
is someone else's: anything that is not plainly a repository on some host, or a path on this
machine, is refused here with a message fit for one line of a PR body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.errors import PromobotError


class NotARepository(PromobotError):
    """Text that names no repository promobot can read."""


@dataclass(frozen=True)
class Where:
    """A repository: `host` and `path` (`github.com`, `acme/api`), or a local path (no host)."""

    host: str
    path: str

    def __str__(self) -> str:
        return f"{self.host}/{self.path}" if self.host else self.path


_PATH = re.compile(r"[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+")
_HOST = re.compile(r"[a-z0-9.-]+(?::[0-9]{1,5})?")


def parse_reference(text: str, own: str | None = None) -> Where:
    """A repository named by an annotation or a `changelog:` setting.

    `https://github.com/acme/api(.git)`, `git@github.com:acme/api.git`, `github.com/acme/api`,
    `acme/api` (a repository on promobot's own forge, host `own`), or a path on this machine
    (`../api`, `/srv/api`). Raises NotARepository for anything else.
    """
    text = text.strip()
    if text.startswith(("./", "../", "/")) or text in (".", ".."):
        return Where("", text)
    if text.startswith("git@") and ":" in text and "://" not in text:
        host, _, rest = text[4:].partition(":")
        text = f"ssh://{host}/{rest}"
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in ("https", "http", "ssh", "git", "git+ssh"):
            raise NotARepository(f"{shown(text)} is not a repository promobot can read")
        host = (parts.hostname or "").lower()
        if parts.port and parts.scheme in ("https", "http"):
            host += f":{parts.port}"
        path = parts.path
    else:
        first, _, rest = text.partition("/")
        if "." in first or ":" in first or first == "localhost":
            host, path = first.lower(), rest
        else:
            if own is None:
                raise NotARepository(
                    f"{shown(text)} names no host, and promobot reads no forge here"
                )
            host, path = own, text
    path = path.strip("/").removesuffix(".git")
    if not host or not _HOST.fullmatch(host):
        raise NotARepository(f"{shown(text)} is not a repository promobot can read")
    if not _PATH.fullmatch(path) or ".." in path.split("/"):
        raise NotARepository(f"{shown(text)} does not name a repository (owner/name)")
    return Where(host, path)


def shown(text: str) -> str:
    """Someone else's text, short enough for one line of the body (render escapes it)."""
    text = " ".join(text.split())
    return repr(text if len(text) <= 80 else text[:79] + "…")
