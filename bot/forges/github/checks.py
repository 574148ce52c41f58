"""Commit statuses and check runs on GitHub: the latest per name (by whom, when asked), and
promobot's own statuses."""

from __future__ import annotations

from datetime import UTC, datetime

from github.GithubObject import NotSet

from bot.forges.base import Check, CheckState, StatusState
from bot.forges.github.api import Api

STATUS_DESCRIPTION_LIMIT = 140  # GitHub refuses longer commit status descriptions
STATUS_STATES: dict[str, CheckState] = {
    "success": "success",
    "pending": "pending",
    "failure": "failure",
    "error": "failure",
}
CONCLUSIONS: dict[str, CheckState] = {  # what GitHub's own required checks accept as passing
    "success": "success",
    "neutral": "success",
    "skipped": "success",
    "failure": "failure",
    "cancelled": "failure",
    "timed_out": "failure",
    "action_required": "failure",
    "startup_failure": "failure",
    "stale": "pending",
}


class Checks(Api):
    """What gates read of a commit, and what promobot posts on one."""

    def checks(self, sha: str, by: frozenset[str] | None = None) -> list[Check]:
        commit = self._repo.get_commit(sha)  # lazy: no call
        where = f"{sha[:12]} in {self.repo}"
        # The list of statuses, not the combined status: only the list says who posted each
        # (`creator`), as one page of 100 does for the usual few contexts per commit.
        statuses = self._call(f"read the statuses of {where}", lambda: list(commit.get_statuses()))
        runs = self._call(f"read the check runs of {where}", lambda: list(commit.get_check_runs()))
        latest: dict[str, tuple[datetime, Check]] = {}

        def keep(when: datetime | None, check: Check) -> None:
            when = when or datetime.min.replace(tzinfo=UTC)
            if check.name not in latest or when >= latest[check.name][0]:
                latest[check.name] = (when, check)

        for status in reversed(statuses):  # newest first: oldest first, so the newest wins a tie
            if by is not None and f"user:{status.creator.id if status.creator else ''}" not in by:
                continue
            state = STATUS_STATES.get(status.state, "pending")
            at = status.updated_at
            keep(at, Check(status.context, state, status.target_url, at))
        for run in runs:
            if by is not None and f"app:{run.app.id if run.app else ''}" not in by:
                continue  # a check run's app is the one whose token created it
            conclusion = CONCLUSIONS.get(run.conclusion or "", "pending")
            state = conclusion if run.status == "completed" else "pending"
            at = run.completed_at or run.started_at
            keep(at, Check(run.name, state, run.html_url, at))
        return [check for _, check in latest.values()]

    def set_status(
        self, sha: str, context: str, state: StatusState, description: str, url: str | None = None
    ) -> None:
        if len(description) > STATUS_DESCRIPTION_LIMIT:
            description = description[: STATUS_DESCRIPTION_LIMIT - 1] + "…"
        commit = self._repo.get_commit(sha)  # lazy: no call
        self._write(
            f"set the {context} status on {sha[:12]} in {self.repo}",
            lambda: commit.create_status(
                state,
                target_url=NotSet if url is None else url,
                description=description,
                context=context,
            ),
        )
