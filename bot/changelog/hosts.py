"""Which forges notes are read from, and how each repository there is opened.

Everything an image, a chart or a `changelog:` setting says of where its notes are was
written by whoever published it, so promobot only ever asks the forges it is configured for,
or github.com and gitlab.com through their APIs (anonymously unless they are the configured
forge): a repository named anywhere else is "not a forge promobot reads", and no URL from an
annotation is ever fetched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bot.changelog.notes import NoChangelog
from bot.errors import PromobotError
from bot.forges.base import Release
from bot.logs import redact_urls
from bot.references import Where, parse_reference, shown


class NotesRepo(Protocol):
    """A repository read for notes: GitHubForge, GitLabForge and LocalForge implement it."""

    def tags(self) -> list[str]: ...

    def releases(self, limit: int = 100) -> list[Release]: ...

    def read_file(self, ref: str, path: str) -> bytes | None: ...

    def subjects(self, base: str, head: str, limit: int = 100) -> list[str]: ...

    def compare_url(self, base: str, head: str) -> str | None: ...

    def tag_url(self, tag: str) -> str | None: ...


Opener = Callable[[str], NotesRepo]


@dataclass
class Hosts:
    """The only places notes are read from: each host with how its repositories are opened.

    A host not in `forges` is never contacted: a repository there is "not a forge promobot
    reads". Openers for promobot's own forge carry its credentials; those for github.com and
    gitlab.com (when they are not the configured forge) carry none.
    """

    forges: Mapping[str, tuple[str, Opener]]  # host → (kind, repository path → reader)
    own: str | None = None  # the host `changelog: owner/name` means
    local: Opener | None = None  # the local forge: paths on this machine
    root: Path | None = None  # relative local paths start here (the environment repo)
    _open: dict[Where, NotesRepo] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def parse(self, text: str) -> Where:
        where = parse_reference(text, self.own)
        if not where.host and self.local is None:
            raise NoChangelog(
                f"{shown(text)} is a path on promobot's machine; only the local forge reads "
                "repositories there"
            )
        return where

    def open(self, where: Where) -> tuple[Where, NotesRepo]:
        """The reader of a repository, and the repository as that forge names it (a local
        one as the setting wrote it: a PR body names no path of promobot's machine that the
        repo did not already hold)."""
        key = where
        if not where.host:
            assert self.local is not None
            path = Path(where.path)
            if not path.is_absolute() and self.root is not None:
                path = self.root / path
            key = Where("", str(path.resolve()))
        else:
            if where.host not in self.forges:
                raise NoChangelog(f"{where.host} is not a forge promobot reads")
            kind = self.forges[where.host][0]
            parts = where.path.split("/")
            if kind == "github":
                where = Where(where.host, "/".join(parts[:2]))  # …/tree/main/x is the repo
            elif "-" in parts:  # GitLab: group/sub/project/-/tree/main
                where = Where(where.host, "/".join(parts[: parts.index("-")]))
            key = where
        with self._lock:
            reader = self._open.get(key)
            if reader is None:
                reader = self._make(key)
                self._open[key] = reader
        return where, reader

    def _make(self, where: Where) -> NotesRepo:
        try:
            if not where.host:
                assert self.local is not None
                return self.local(where.path)
            return self.forges[where.host][1](where.path)
        except PromobotError as exc:
            raise NoChangelog(f"{where} cannot be read: {redact_urls(str(exc))}") from None
