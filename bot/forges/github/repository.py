"""Reading a GitHub repository: its default branch, the heads of its branches, whole snapshots,
tags and history, and what changelogs read (releases, a file at a tag, commits between tags).

A repository's state is one commit lookup plus one tarball, and the head of a branch is a
conditional request that costs nothing while it has not moved.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from github.Consts import DEFAULT_BASE_URL
from github.GithubObject import NotSet

from bot.composition import Commit, Snapshot, newest_first
from bot.errors import ForgeError, NotFound, Unavailable
from bot.forges.archive import Archives
from bot.forges.base import Head, Release
from bot.forges.github.api import Api

SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
DEFAULT_BRANCH_TTL = 600.0  # seconds before the default branch's name is revalidated (304: free)


@dataclass(frozen=True)
class _Head:
    sha: str
    tree: str
    etag: str | None
    commit: Head  # its message and people: whether promobot made it


class Reads(Api):
    """The repository's branches, snapshots, history and changelog sources."""

    _default: tuple[str, float] | None  # the default branch's name, and when it was read
    _heads: dict[str, _Head]  # by ref: asked again with their ETags
    _trees: dict[str, str]  # commit -> its tree, learnt for free along the way
    _archives: Archives  # the snapshots read last

    def default_branch(self) -> str:
        if self._default and time.monotonic() - self._default[1] < DEFAULT_BRANCH_TTL:
            return self._default[0]

        def fetch() -> str:
            self._repo.update()  # conditional once the repo is known: a 304 costs nothing
            return self._repo.default_branch

        name = self._call(f"read the settings of {self.repo}", fetch)
        self._default = (name, time.monotonic())
        return name

    def head(self, branch: str | None = None) -> str | None:
        found = self._head(branch or "HEAD")
        return found.sha if found else None

    def _head(self, ref: str) -> _Head | None:
        """The commit `ref` names, and its tree; asked with If-None-Match after the first time."""
        name = "the default branch" if ref == "HEAD" else ref

        def fetch() -> _Head | None:
            cached = self._heads.get(ref)
            headers = {"If-None-Match": cached.etag} if cached and cached.etag else {}
            requester = self._gh.requester
            url = f"{self._repo.url}/commits/{quote(ref, safe='')}"
            status, response_headers, output = requester.requestJson("GET", url, headers=headers)
            if status == 304 and cached:
                return cached
            data: Any = json.loads(output) if output else {}
            if status in (409, 422):  # "No commit found for SHA", "Git Repository is empty"
                self._heads.pop(ref, None)
                return None
            if status >= 400:
                raise requester.createException(status, response_headers, data)
            found = _Head(
                sha=str(data["sha"]),
                tree=str(data["commit"]["tree"]["sha"]),
                etag=response_headers.get("etag"),
                commit=_commit_head(data),
            )
            self._heads[ref] = found
            self._trees[found.sha] = found.tree
            return found

        return self._call(f"read the head of {name} in {self.repo}", fetch)

    def branch_head(self, branch: str) -> Head | None:
        found = self._head(branch)
        return found.commit if found else None

    def _resolve(self, ref: str) -> str:
        if SHA.fullmatch(ref):
            return ref
        sha = self.head(ref)
        if sha is None:
            raise NotFound(f"{ref} is not a branch, tag or commit of {self.repo}")
        return sha

    def snapshot(self, ref: str) -> Snapshot:
        sha = self._resolve(ref)
        what = f"download {self.repo} at {sha[:12]}"
        return self._archives.get(
            sha, lambda: self._call(what, lambda: self._tarball(sha))
        ).snapshot

    def _tarball(self, sha: str) -> bytes:
        """One API call gets a short-lived codeload link; downloading it is not an API call."""
        link = self._repo.get_archive_link("tarball", sha)
        what = f"the archive of {self.repo} at {sha[:12]}"
        try:  # the link carries its own token: send no credentials, and never show the link
            response = httpx.get(link, timeout=self.timeout, follow_redirects=True)
        except httpx.TimeoutException:
            raise Unavailable(f"{what} did not arrive within {self.timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise Unavailable(f"{what} could not be downloaded ({type(exc).__name__})") from None
        if response.status_code >= 500:
            raise Unavailable(f"{what} could not be downloaded (HTTP {response.status_code})")
        if response.status_code != 200:
            raise ForgeError(f"{what} could not be downloaded (HTTP {response.status_code})")
        return response.content

    def tags(self) -> list[str]:
        found = self._call(f"list the tags of {self.repo}", lambda: list(self._repo.get_tags()))
        return [tag.name for tag in found]

    def log(self, ref: str, paths: Sequence[str], limit: int = 50) -> list[Commit]:
        commits: dict[str, Commit] = {}
        for path in paths or [""]:  # one path at a time; none: the whole branch

            def fetch(path: str = path) -> list[Any]:
                pages = self._repo.get_commits(sha=ref, path=path or NotSet)
                return list(itertools.islice(pages, limit))

            for item in self._call(f"list the commits of {path} in {self.repo}", fetch):
                info = item.commit
                commits[item.sha] = Commit(
                    item.sha,
                    info.committer.date.astimezone(UTC),
                    info.author.name,
                    info.message.splitlines()[0] if info.message else "",
                )
        return newest_first(commits.values(), limit)

    # --- changelogs (bot.changelog): releases, a file at a tag, commits between tags --------

    def releases(self, limit: int = 100) -> list[Release]:
        """Published releases, newest first (drafts, which only writers see, are left out)."""

        def fetch() -> list[Any]:
            return list(itertools.islice(self._repo.get_releases(), limit))

        found = self._call(f"list the releases of {self.repo}", fetch)
        return [
            Release(r.tag_name or "", r.name or "", r.body or "", r.html_url or None)
            for r in found
            if not r.draft
        ]

    def read_file(self, ref: str, path: str) -> bytes | None:
        """A file's content at `ref`; None when the file (or the ref) is not there."""

        def fetch() -> bytes | None:
            found = self._repo.get_contents(path, ref=ref)
            return None if isinstance(found, list) else found.decoded_content

        try:
            return self._call(f"read {path} at {ref} in {self.repo}", fetch)
        except NotFound:
            return None

    def subjects(self, base: str, head: str, limit: int = 100) -> list[str]:
        """The subjects of the commits in `head` and not in `base` (GitHub's compare lists
        them oldest first, one page of `limit`), newest first."""

        def fetch() -> list[Any]:
            pages = self._repo.compare(base, head).get_commits(comparison_commits_per_page=limit)
            return list(itertools.islice(pages, limit))

        found = self._call(f"compare {base}...{head} in {self.repo}", fetch)
        return [(c.commit.message or "").partition("\n")[0] for c in reversed(found)]

    @property
    def web_url(self) -> str:
        """The repository's page (GitHub Enterprise Server: the API host without /api/v3)."""
        root = self.base_url.removesuffix("/api/v3")
        if root == DEFAULT_BASE_URL:
            root = "https://github.com"
        return f"{root}/{self.repo}"

    def compare_url(self, base: str, head: str) -> str | None:
        return f"{self.web_url}/compare/{quote(base, safe='')}...{quote(head, safe='')}"

    def tag_url(self, tag: str) -> str | None:
        return f"{self.web_url}/releases/tag/{quote(tag, safe='')}"


def _commit_head(data: Any) -> Head:
    """A commit as `GET /commits/{ref}` shows it (`commit.author`, `commit.committer`)."""
    commit = data["commit"]

    def person(who: str) -> tuple[str, datetime]:
        found = commit.get(who) or {}
        when = datetime.fromisoformat(str(found.get("date") or "1970-01-01T00:00:00Z"))
        return f"{found.get('name', '')} <{found.get('email', '')}>", when

    author, authored = person("author")
    committer, committed = person("committer")
    parents = tuple(str(p["sha"]) for p in data.get("parents") or ())
    message = str(commit.get("message") or "")
    return Head(str(data["sha"]), parents, message, author, authored, committer, committed)
