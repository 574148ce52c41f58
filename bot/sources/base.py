"""The `Poller` interface: where new versions of an image, a chart or a git repo come from.

Each kind of source lives in its own module (`oci.py`, `helm.py`, `git.py`) and implements this
Protocol; `bot.sources.Sources` picks the poller for a `Source`. Pollers raise `SourceError`
for what retrying will not fix (no such repository, bad credentials, a malformed index) and
`bot.errors.Unavailable` / `RateLimited` for what it may (they retry those themselves first).
"""

from __future__ import annotations

from typing import Protocol

from bot import versions
from bot.config import Source
from bot.errors import SourceError as SourceError  # defined there for bot.download too


class Poller(Protocol):
    def versions(self, source: Source) -> list[str]:
        """Every version the source offers, unfiltered (selection is `versions.select`'s job)."""

    def pin(self, source: Source, version: str) -> str:
        """The content digest (`sha256:…`) that `version` points at, for `digest: true`."""


def latest(source: Source, poller: Poller) -> str | None:
    """The version the source's rules select (`tag@sha256:…` with `digest: true`), or None."""
    chosen = versions.select(poller.versions(source), source.policy)
    if chosen is None or not source.digest:
        return chosen
    return f"{chosen}@{poller.pin(source, chosen)}"
