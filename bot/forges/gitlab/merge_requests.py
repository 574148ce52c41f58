"""Merge requests on GitLab: found, listed, opened (or adopted), edited, closed and merged."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal

from bot.errors import Conflict, MergeRefused, NotFound
from bot.forges.base import PRState, PullRequest
from bot.forges.gitlab.api import id_of, time_of
from bot.forges.gitlab.repository import Reads

PR_STATES: dict[str, PRState] = {
    "opened": "open",
    "locked": "open",
    "closed": "closed",
    "merged": "merged",
}
MERGE_REFUSED = frozenset({405, 406, 409, 422})


class MergeRequests(Reads):
    """Promotion MRs into the default branch; a PR's `number` is the MR's iid."""

    def find_pr(self, branch: str, state: Literal["open", "closed"] = "open") -> PullRequest | None:
        target = self.default_branch()
        # GitLab lists newest first; "closed" means closed or merged, two GitLab states, so
        # that asks for all and keeps the newest of those (at most one MR per branch is open).
        wanted = {"open"} if state == "open" else {"closed", "merged"}
        filters: dict[str, Any] = {"source_branch": branch, "target_branch": target}
        if state == "open":
            filters["state"] = "opened"
        found = self._call(
            f"looking for the {state} merge request from {branch}",
            lambda: self._project.mergerequests.list(get_all=False, **filters),
        )
        prs = [_pr(mr.attributes) for mr in found]
        return next((pr for pr in prs if pr.state in wanted and not pr.from_fork), None)

    def list_prs(self, label: str | None = None) -> list[PullRequest]:
        target = self.default_branch()
        filters: dict[str, Any] = {"state": "opened", "target_branch": target}
        if label:
            filters["labels"] = [label]
        found = self._call(
            f"listing open merge requests into {target}",
            lambda: self._project.mergerequests.list(get_all=True, per_page=100, **filters),
        )
        return [pr for pr in (_pr(mr.attributes) for mr in found) if not pr.from_fork]

    def open_pr(self, branch: str, title: str, body: str, labels: tuple[str, ...]) -> PullRequest:
        data = {
            "source_branch": branch,
            "target_branch": self.default_branch(),
            "title": title,
            "description": body,
            "labels": ",".join(labels),
        }
        try:
            created = self._call(
                f"opening a merge request from {branch}",
                lambda: self._project.mergerequests.create(data).attributes,
            )
        except Conflict:
            # "Another open merge request already exists for this source branch": make it ours.
            existing = self.find_pr(branch)
            if existing is None:
                raise
            if (existing.title, existing.body, set(existing.labels)) == (title, body, set(labels)):
                return existing
            self.update_pr(existing.number, title=title, body=body, labels=labels)
            return replace(existing, title=title, body=body, labels=tuple(sorted(labels)))
        return _pr(created)

    def update_pr(
        self,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        labels: tuple[str, ...] | None = None,
    ) -> None:
        data: dict[str, str] = {}
        if title is not None:
            data["title"] = title
        if body is not None:
            data["description"] = body
        if labels is not None:
            data["labels"] = ",".join(labels)  # replaces them all; "" removes them all
        if data:
            self._call(
                f"updating merge request !{number}",
                lambda: self._project.mergerequests.update(number, data),
            )

    def close_pr(self, number: int) -> None:
        self._call(
            f"closing merge request !{number}",
            lambda: self._project.mergerequests.update(number, {"state_event": "close"}),
        )

    def get_pr(self, number: int) -> PullRequest:
        return _pr(self._mr_data(number))

    def pr_files(self, number: int) -> list[str]:
        what = f"listing the files of !{number}"
        path = f"/projects/{self._project.encoded_id}/merge_requests/{number}"
        try:
            diffs = self._call(
                what, lambda: list(self._gl.http_list(f"{path}/diffs", get_all=True, per_page=100))
            )
        except NotFound:  # GitLab before 15.7 has only the older /changes
            answer = self._call(what, lambda: self._gl.http_get(f"{path}/changes"))
            diffs = answer.get("changes", []) if isinstance(answer, dict) else []
        paths = {str(d[k]) for d in diffs for k in ("old_path", "new_path") if d.get(k)}
        return sorted(paths)

    def _mr_data(self, number: int) -> dict[str, Any]:
        return self._call(
            f"reading merge request !{number}",
            lambda: self._project.mergerequests.get(number).attributes,
        )

    def merge(self, number: int, sha: str) -> str:
        try:
            merged = self._call(
                f"merging !{number} at {sha[:12]}",
                lambda: self._mr(number).merge(sha=sha),
                refused=MERGE_REFUSED,
            )
        except MergeRefused:
            # A merge whose answer was lost (a 502 after the fact) is refused on the retry:
            # if the MR is merged at exactly this head, that was us.
            data = self._mr_data(number)
            if (
                data.get("state") == "merged"
                and data.get("sha") == sha
                and data.get("merge_commit_sha")
            ):
                return str(data["merge_commit_sha"])
            raise
        return str(
            merged.get("merge_commit_sha") or merged.get("squash_commit_sha") or merged["sha"]
        )


def _pr(data: Mapping[str, Any]) -> PullRequest:
    return PullRequest(
        number=int(data["iid"]),
        branch=str(data["source_branch"]),
        base=str(data["target_branch"]),
        title=str(data["title"]),
        body=str(data.get("description") or ""),
        labels=tuple(data.get("labels") or ()),
        head_sha=str(data.get("sha") or ""),
        state=PR_STATES.get(str(data["state"]), "closed"),
        author=str((data.get("author") or {}).get("username", "")),
        url=str(data.get("web_url") or ""),
        from_fork=data.get("source_project_id") != data.get("target_project_id"),
        author_id=id_of((data.get("author") or {}).get("id")),
        updated_at=time_of(str(data["updated_at"])) if data.get("updated_at") else None,
    )
