"""Reading a GitLab project's repository: its default branch, the heads of its branches, whole
snapshots (one archive download, kept by commit: which also tells `commit_files` which paths
exist), tags and history, and what changelogs read (releases, a file at a tag, commits between
tags).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from bot.composition import Commit, Snapshot, newest_first
from bot.errors import ForgeError, NotFound
from bot.forges.archive import Archives
from bot.forges.base import Head, Release
from bot.forges.gitlab.api import Api, time_of, time_or_none


class Reads(Api):
    """The repository's branches, snapshots, history and changelog sources."""

    _default: str | None  # the default branch, asked once
    _archives: Archives  # the snapshots read last

    def default_branch(self) -> str:
        if self._default is None:
            data = self._call(
                f"reading project {self.project}", lambda: self._gl.projects.get(self.project)
            ).attributes
            if not data.get("default_branch"):
                raise ForgeError(f"{self.project} has no default branch: is the repository empty?")
            self._default = str(data["default_branch"])
        return self._default

    def head(self, branch: str | None = None) -> str | None:
        if branch is None:
            # Without `ref_name` GitLab lists the default branch: its name costs no extra call.
            commits = self._call(
                f"reading the default branch of {self.project}",
                lambda: self._project.commits.list(per_page=1, get_all=False),
            )
            return str(commits[0].attributes["id"]) if commits else None
        found = self.branch_head(branch)
        return found.sha if found is not None else None

    def branch_head(self, branch: str) -> Head | None:
        try:
            data = self._call(
                f"reading branch {branch} of {self.project}",
                lambda: self._project.branches.get(branch).attributes,
            )
        except NotFound as exc:
            if "Project Not Found" in str(exc):
                raise
            return None
        commit = data["commit"]
        epoch = "1970-01-01T00:00:00+00:00"
        return Head(
            sha=str(commit["id"]),
            parents=tuple(str(p) for p in commit.get("parent_ids") or ()),
            message=str(commit.get("message") or ""),
            author=f"{commit.get('author_name', '')} <{commit.get('author_email', '')}>",
            authored_at=time_or_none(commit.get("authored_date")) or time_of(epoch),
            committer=f"{commit.get('committer_name', '')} <{commit.get('committer_email', '')}>",
            committed_at=time_or_none(commit.get("committed_date")) or time_of(epoch),
        )

    def snapshot(self, ref: str) -> Snapshot:
        commit = ref if _is_sha(ref) else self._resolve(ref)

        def download() -> bytes:
            return self._call(
                f"downloading {self.project} at {commit[:12]}",
                lambda: self._project.repository_archive(sha=commit, format="tar.gz"),
            )

        return self._archives.get(commit, download).snapshot

    def _resolve(self, ref: str) -> str:
        data = self._call(
            f"resolving {ref} in {self.project}", lambda: self._project.commits.get(ref).attributes
        )
        return str(data["id"])

    def tags(self) -> list[str]:
        tags = self._call(
            f"listing tags of {self.project}",
            lambda: self._project.tags.list(get_all=True, per_page=100),
        )
        return [str(tag.attributes["name"]) for tag in tags]

    def log(self, ref: str, paths: Sequence[str], limit: int = 50) -> list[Commit]:
        commits: dict[str, Commit] = {}
        for path in paths or [""]:  # one path at a time; none: the whole branch

            def fetch(path: str = path) -> list[Any]:
                # `path=` is python-gitlab's own keyword (the URL); the filter goes as a query
                query = {"ref_name": ref, **({"path": path} if path else {})}
                return list(
                    self._project.commits.list(
                        query_parameters=query, per_page=min(limit, 100), get_all=False
                    )
                )

            for item in self._call(f"listing the commits of {path} in {self.project}", fetch):
                a = item.attributes
                when = datetime.fromisoformat(str(a["committed_date"]).replace("Z", "+00:00"))
                commits[str(a["id"])] = Commit(
                    str(a["id"]), when.astimezone(UTC), str(a["author_name"]), str(a["title"])
                )
        return newest_first(commits.values(), limit)

    # --- changelogs (bot.changelog): releases, a file at a tag, commits between tags --------

    def releases(self, limit: int = 100) -> list[Release]:
        """Releases, newest first (GitLab sorts them by `released_at`, descending)."""
        found = self._call(
            f"listing the releases of {self.project}",
            lambda: self._project.releases.list(per_page=min(limit, 100), get_all=False),
        )
        releases = []
        for item in found[:limit]:
            a = item.attributes
            tag = str(a.get("tag_name") or "")
            links = a.get("_links")
            page = links.get("self") if isinstance(links, dict) else None
            url = page if isinstance(page, str) else self.tag_url(tag)
            releases.append(
                Release(tag, str(a.get("name") or ""), str(a.get("description") or ""), url)
            )
        return releases

    def read_file(self, ref: str, path: str) -> bytes | None:
        """A file's content at `ref`; None when the file (or the ref) is not there."""
        try:
            raw = self._call(
                f"reading {path} at {ref} in {self.project}",
                lambda: self._project.files.raw(file_path=path, ref=ref),
            )
        except NotFound:
            return None
        return raw if isinstance(raw, bytes) else None

    def subjects(self, base: str, head: str, limit: int = 100) -> list[str]:
        """The subjects of the commits in `head` and not in `base`, newest first."""
        data = self._call(
            f"comparing {base}...{head} in {self.project}",
            lambda: self._project.repository_compare(base, head),
        )
        commits = data.get("commits") if isinstance(data, dict) else None
        titles = [str(c.get("title") or "") for c in commits or [] if isinstance(c, dict)]
        return titles[::-1][:limit]  # GitLab lists them oldest first

    @property
    def web_url(self) -> str:
        return f"{self.url}/{self.project}"

    def compare_url(self, base: str, head: str) -> str | None:
        return f"{self.web_url}/-/compare/{quote(base, safe='')}...{quote(head, safe='')}"

    def tag_url(self, tag: str) -> str | None:
        return f"{self.web_url}/-/releases/{quote(tag, safe='')}"


def _is_sha(ref: str) -> bool:
    return len(ref) == 40 and all(c in "0123456789abcdef" for c in ref)
