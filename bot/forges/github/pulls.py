"""Pull requests on GitHub: found, listed, opened (or adopted), edited, closed and merged."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Literal

from github.GithubException import GithubException
from github.GithubObject import NotSet
from github.Issue import Issue
from github.PullRequest import PullRequest as GitHubPull

from bot.errors import Conflict, MergeRefused
from bot.forges.base import PRState, PullRequest
from bot.forges.github.api import reason_of
from bot.forges.github.repository import Reads


class Pulls(Reads):
    """Promotion PRs into the default branch (which each listed PR tells for free)."""

    def find_pr(self, branch: str, state: Literal["open", "closed"] = "open") -> PullRequest | None:
        head = f"{self.owner}:{branch}"  # the repo's own branch: never a fork's

        def newest() -> GitHubPull | None:
            # Newest first; pages are fetched only as far as the loop goes.
            pulls = self._repo.get_pulls(state=state, head=head, sort="created", direction="desc")
            for pull in pulls:
                if pull.base.ref == self._learn_default(pull):
                    return pull
            return None

        found = self._call(
            f"look for the {state} pull request from {branch} in {self.repo}", newest
        )
        if found is None:
            return None
        return self._pull(found)

    def list_prs(self, label: str | None = None) -> list[PullRequest]:
        base = self.default_branch()
        # The pulls API cannot filter by label (the issues API can, but without heads): filter here.
        found = self._call(
            f"list the open pull requests into {base} in {self.repo}",
            lambda: list(self._repo.get_pulls(state="open", base=base)),
        )
        prs = (self._pull(pull) for pull in found)
        return [pr for pr in prs if not pr.from_fork and (label is None or label in pr.labels)]

    def _learn_default(self, pull: GitHubPull) -> str:
        """Each PR carries its repository, so the default branch comes free with a list."""
        default = pull.base.repo.default_branch
        self._default = (default, time.monotonic())
        return default

    def open_pr(self, branch: str, title: str, body: str, labels: tuple[str, ...]) -> PullRequest:
        base = self.default_branch()

        def create() -> GitHubPull | None:
            try:
                return self._repo.create_pull(base=base, head=branch, title=title, body=body)
            except GithubException as exc:
                if exc.status == 422 and "already exists" in reason_of(exc.data):
                    return None  # adopted below
                raise

        created = self._write(f"open a pull request from {branch} in {self.repo}", create)
        if created is None:
            existing = self.find_pr(branch)
            if existing is None:
                raise Conflict(
                    f"GitHub says a pull request from {branch} exists in {self.repo}, "
                    f"but none is open into {base}"
                )
            return self._ensure(existing, title, body, labels)
        opened = self._pull(created)
        if labels:
            self._write(
                f"label pull request #{opened.number} in {self.repo}",
                lambda: created.set_labels(*labels),
            )
            opened = replace(opened, labels=labels)
        return opened

    def _ensure(
        self, pr: PullRequest, title: str, body: str, labels: tuple[str, ...]
    ) -> PullRequest:
        """An adopted PR gets the title, body and labels this attempt meant to give it."""
        wanted = replace(pr, title=title, body=body, labels=labels)
        if wanted != pr:
            self.update_pr(
                pr.number,
                title=title if title != pr.title else None,
                body=body if body != pr.body else None,
                labels=labels if set(labels) != set(pr.labels) else None,
            )
        return wanted

    def update_pr(
        self,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        labels: tuple[str, ...] | None = None,
    ) -> None:
        if title is None and body is None and labels is None:
            return
        # The Issues API edits title, body and labels of a PR in a single call.
        issue = Issue(self._gh.requester, url=f"{self._repo.url}/issues/{number}")
        self._write(
            f"update pull request #{number} in {self.repo}",
            lambda: issue.edit(
                title=NotSet if title is None else title,
                body=NotSet if body is None else body,
                labels=NotSet if labels is None else list(labels),
            ),
        )

    def close_pr(self, number: int) -> None:
        pull = self._repo.get_pull(number)  # lazy: no call
        self._write(
            f"close pull request #{number} in {self.repo}", lambda: pull.edit(state="closed")
        )

    def get_pr(self, number: int) -> PullRequest:
        pull = self._call(
            f"read pull request #{number} in {self.repo}",
            lambda: self._repo.get_pull(number).complete(),
        )
        return self._pull(pull)

    def _pull(self, pr: GitHubPull) -> PullRequest:
        # Only fields that list answers carry too: anything else would cost a GET per PR.
        head_repo = pr.head.repo
        state: PRState = "merged" if pr.merged_at else "closed" if pr.state == "closed" else "open"
        return PullRequest(
            number=pr.number,
            branch=pr.head.ref,
            base=pr.base.ref,
            title=pr.title,
            body=pr.body or "",
            labels=tuple(label.name for label in pr.labels),
            head_sha=pr.head.sha,
            state=state,
            author=pr.user.login if pr.user else "ghost",
            url=pr.html_url,
            from_fork=head_repo is None or head_repo.full_name.lower() != self.repo.lower(),
            author_id=pr.user.id if pr.user else None,
            updated_at=pr.updated_at,
        )

    def pr_files(self, number: int) -> list[str]:
        pull = self._repo.get_pull(number)  # lazy: no call
        found = self._call(
            f"list the files of pull request #{number} in {self.repo}",
            lambda: list(pull.get_files()),
        )
        paths = {f.filename for f in found} | {f.previous_filename for f in found}
        return sorted(p for p in paths if p)

    def merge(self, number: int, sha: str) -> str:
        pull = self._repo.get_pull(number)  # lazy: no call

        def attempt() -> str:
            try:
                status = pull.merge(sha=sha, merge_method="merge")
            except GithubException as exc:
                if exc.status in (405, 409):  # not mergeable; the head moved
                    raise MergeRefused(
                        f"GitHub refused to merge #{number} in {self.repo}: {reason_of(exc.data)}"
                    ) from exc
                raise
            if not status.merged:
                raise MergeRefused(f"GitHub did not merge #{number} in {self.repo}")
            return status.sha

        return self._write(f"merge pull request #{number} in {self.repo}", attempt)
