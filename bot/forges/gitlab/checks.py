"""Commit statuses on GitLab: the latest per name (by whom, when asked), and promobot's own."""

from __future__ import annotations

from typing import Any

from bot.errors import ForgeError
from bot.forges.base import Check, CheckState, StatusState
from bot.forges.gitlab.api import Api, time_or_none

CHECK_STATES: dict[str, CheckState] = {
    "success": "success",
    # GitHub counts a skipped check as passing; so do we, so a skipped job cannot block forever.
    "skipped": "success",
    "failed": "failure",
    "canceled": "failure",
}
STATUS_STATES = {"success": "success", "pending": "pending", "failure": "failed", "error": "failed"}


class Checks(Api):
    """What gates read of a commit, and what promobot posts on one."""

    def checks(self, sha: str, by: frozenset[str] | None = None) -> list[Check]:
        # Without `all`, GitLab lists the latest status per name whoever posted it, so another
        # user's newer status of that name would hide the named account's.
        every = {"all": True} if by is not None else {}
        statuses = self._call(
            f"reading the statuses of {sha[:12]}",
            lambda: self._project.commits.get(sha, lazy=True).statuses.list(
                get_all=True, per_page=100, **every
            ),
        )
        latest: dict[str, dict[str, Any]] = {}
        for status in sorted((s.attributes for s in statuses), key=lambda s: int(s["id"])):
            if by is None or f"user:{(status.get('author') or {}).get('id')}" in by:
                latest[str(status["name"])] = status
        return [
            Check(
                name,
                CHECK_STATES.get(str(s["status"]), "pending"),
                s.get("target_url"),
                time_or_none(s.get("finished_at") or s.get("started_at") or s.get("created_at")),
            )
            for name, s in latest.items()
        ]

    def set_status(
        self, sha: str, context: str, state: StatusState, description: str, url: str | None = None
    ) -> None:
        data = {"state": STATUS_STATES[state], "name": context, "description": description[:255]}
        if url:
            data["target_url"] = url
        try:
            self._call(
                f"setting status {context} on {sha[:12]}",
                lambda: self._project.commits.get(sha, lazy=True).statuses.create(data),
            )
        except ForgeError as exc:
            # GitLab refuses pending → pending ("Cannot transition status via :enqueue from
            # :pending"): the status already says so (its description stays as it was).
            if "Cannot transition status" not in str(exc):
                raise
