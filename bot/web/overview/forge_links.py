"""Links into the forge's web pages: commits, pull requests, components' sources."""

from __future__ import annotations

from dataclasses import dataclass

from bot import source_pages
from bot.config import Source


@dataclass(frozen=True)
class Links:
    """Web links into the forge, where they can be known without asking it."""

    repo: str | None  # https://github.com/acme/env-repo; None for the local forge
    kind: str
    web: str | None = None  # the forge's web root, https://github.com; None for the local forge

    def source(self, source: Source) -> source_pages.Shown:
        """A component's source as written, with its page (a `git:` repo on this forge)."""
        return source_pages.shown(source, self.web)

    def commit(self, sha: str) -> str | None:
        if self.repo is None:
            return None
        return (
            f"{self.repo}/-/commit/{sha}" if self.kind == "gitlab" else f"{self.repo}/commit/{sha}"
        )

    def pull(self, number: int) -> str | None:
        if self.repo is None:
            return None
        if self.kind == "gitlab":
            return f"{self.repo}/-/merge_requests/{number}"
        return f"{self.repo}/pull/{number}"


def links(kind: str, repo: str, github_url: str, gitlab_url: str) -> Links:
    if kind == "github":
        api = github_url.rstrip("/")
        web = (
            "https://github.com" if api == "https://api.github.com" else api.removesuffix("/api/v3")
        )
        return Links(f"{web}/{repo}", kind, web)
    if kind == "gitlab":
        web = gitlab_url.rstrip("/")
        return Links(f"{web}/{repo}", kind, web)
    return Links(None, kind)
