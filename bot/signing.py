"""Signed state: what promobot writes on the forge and later believes when it reads it back.

PR bodies and comments are places people can edit, so promobot's hidden records there — the
promotion metadata, the record of an `/approve`, the acknowledgement of a command — carry an
HMAC-SHA256 made with a key only the server knows (`PROMOBOT_SIGNING_KEY`). The MAC covers the
record's kind, the repository and every field, so a record cannot be forged, edited, or moved
to another kind, PR or repo. A record whose MAC does not verify is treated as absent.

The commits promobot makes on promotion branches end with such a MAC too (`trailer`), over the
branch and the commit's parent: what tells promobot, from a branch's head alone and on any
forge, that the branch is still its own to replace.

Pure: the key is a value, and nothing here touches the disk or the network (`load_key` aside,
which the service and the CLI call once).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

from bot.errors import PromobotError

KEY_MIN = 32  # characters of PROMOBOT_SIGNING_KEY
_FIELD = re.compile(r"^[A-Za-z0-9_.@/\[\]-]*$")  # marker values: ids, logins, SHAs
TRAILER = "Promobot-Commit"  # the trailer of promobot's commits on promotion branches
_MARK = re.compile(r"<!-- promobot:(?P<kind>[a-z-]+) (?P<fields>[^<>]*?) sig=(?P<sig>[\w-]+) -->")


class Signer:
    """Signs and verifies promobot's records for one repository."""

    def __init__(self, key: bytes, scope: str) -> None:
        if len(key) < KEY_MIN:
            raise PromobotError(f"the signing key must have at least {KEY_MIN} characters")
        self._key = key
        self.scope = scope  # the repository: a record signed for one repo is void in another

    def sign(self, kind: str, text: str) -> str:
        message = f"{kind}\0{self.scope}\0{text}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def verify(self, kind: str, text: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(kind, text), signature)

    def mark(self, kind: str, **fields: str | int) -> str:
        """A hidden, signed marker: `<!-- promobot:approve user=alice sha=… sig=… -->`."""
        text = " ".join(f"{name}={value}" for name, value in fields.items())
        for value in fields.values():
            if not _FIELD.match(str(value)):
                raise ValueError(f"{value!r} cannot go into a marker")
        return f"<!-- promobot:{kind} {text} sig={self.sign(kind, text)} -->"

    def marks(self, kind: str, text: str) -> Iterator[dict[str, str]]:
        """The fields of every marker of `kind` in `text` whose signature verifies."""
        for match in _MARK.finditer(text):
            if match["kind"] != kind or not self.verify(kind, match["fields"], match["sig"]):
                continue
            pairs = (item.partition("=") for item in match["fields"].split(" "))
            yield {name: value for name, _, value in pairs}

    def trailer(self, branch: str, parent: str) -> str:
        """The last line of promobot's commit on `branch` made on `parent`: it vouches for a
        commit with that parent on that branch of this repo, and for nothing it is copied to."""
        return f"{TRAILER}: {self.sign('commit', _commit_text(branch, parent))}"

    def made(self, message: str, branch: str, parent: str | None) -> bool:
        """Whether a commit message ends with promobot's trailer for `branch` and `parent`."""
        if parent is None:
            return False
        last = message.rstrip().rpartition("\n")[2]
        name, _, value = last.partition(":")
        return name == TRAILER and self.verify(
            "commit", _commit_text(branch, parent), value.strip()
        )


def _commit_text(branch: str, parent: str) -> str:
    return f"{branch}\0{parent}"


def local(key_path: Path, configured: str | None = None, scope: str = "local") -> Signer:
    """The signer of a local checkout: its key is generated once into `key_path` (so two
    checkouts never share one), unless one is configured — then, when one process serves
    several checkouts, `scope` tells them apart."""
    return Signer(load_key(configured, key_path), scope=scope)


def load_key(configured: str | None, generated_at: Path | None) -> bytes:
    """The configured key; else one generated once into `generated_at` (the local forge).

    Raises PromobotError when neither is available: a forge shared with other people needs a
    key that every promobot process of the deployment shares.
    """
    if configured is not None:
        if len(configured) < KEY_MIN:
            raise PromobotError(
                f"PROMOBOT_SIGNING_KEY must have at least {KEY_MIN} characters; generate one "
                "with `openssl rand -hex 32`"
            )
        return configured.encode()
    if generated_at is None:
        raise PromobotError(
            "PROMOBOT_SIGNING_KEY is required on GitHub and GitLab (promobot signs what it "
            "writes on PRs); generate one with `openssl rand -hex 32` and give every promobot "
            "process of this deployment the same key"
        )
    try:
        return generated_at.read_bytes().strip()
    except FileNotFoundError:
        pass
    generated_at.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    tmp = generated_at.with_name(f".{generated_at.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key + b"\n")
    try:  # a hard link never replaces: two processes starting at once agree on the first key
        os.link(tmp, generated_at)
    except FileExistsError:
        key = generated_at.read_bytes().strip()
    finally:
        tmp.unlink()
    return key
