"""A GitLab merge request's approvals, as the reviews gates count.

Approvals are bound to the head they were given on without the Premium approval rules: the
Free-tier approvals API says who approved and, since GitLab 17.x, when (`approved_at`), and the
MR's versions say which head it had at that moment. An older GitLab (CE answers only
`user_has_approved`, `user_can_approve`, `approved` and `approved_by`) gives no time; then the
time is that of the approver's last "approved this merge request" system note. Without one, an
approval is bound to the current head only if the project resets approvals on push (they cannot
be older than the head), and otherwise to no SHA at all, so gates do not count it blindly.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.errors import ForgeError, RateLimited, Unavailable
from bot.forges.base import Review
from bot.forges.gitlab.api import time_of
from bot.forges.gitlab.merge_requests import MergeRequests


class Approvals(MergeRequests):
    """`reviews`: approvals, each with the head it approved (or none)."""

    _resets_approvals: bool | None  # the project's setting, asked once

    def reviews(self, number: int) -> list[Review]:
        approvals = self._call(
            f"reading the approvals of !{number}", lambda: self._mr(number).approvals.get()
        ).attributes
        given = [
            (str(user["username"]), entry.get("approved_at"))
            for entry in approvals.get("approved_by") or []
            if isinstance(entry, dict)
            and isinstance(user := entry.get("user"), dict)
            and user.get("username")
        ]
        if not given:
            return []
        when = {user: time_of(at) for user, at in given if at}
        if len(when) < len(given):  # GitLab CE before `approved_at`: see the module docstring
            noted = self._approval_notes(number)
            when |= {user: noted[user] for user, at in given if not at and user in noted}
        heads = self._heads(number) if when else []
        reviews = []
        for user, _ in given:
            if user in when:
                sha = next((head for at, head in reversed(heads) if at <= when[user]), None)
                reviews.append(Review(user, "approved", sha, when[user]))
                continue
            # When it was given is unknown: it counts only if it cannot be older than the head.
            sha = self.get_pr(number).head_sha if self._approvals_reset_on_push() else None
            updated = approvals.get("updated_at")
            at = time_of(updated) if isinstance(updated, str) else datetime.fromtimestamp(0, UTC)
            reviews.append(Review(user, "approved", sha, at))
        return reviews

    def _heads(self, number: int) -> list[tuple[datetime, str]]:
        """The MR's heads, oldest first, each with the time it became the head (its versions)."""
        versions = self._call(
            f"reading the versions of !{number}",
            lambda: self._mr(number).diffs.list(get_all=True, per_page=100),
        )
        return sorted(
            (time_of(v.attributes["created_at"]), str(v.attributes["head_commit_sha"]))
            for v in versions
        )

    def _approval_notes(self, number: int) -> dict[str, datetime]:
        """Each person's last "approved this merge request" system note: when they approved.

        Only GitLab writes system notes, so a comment saying the same counts for nothing. Notes
        that cannot be read leave the approvals without a time (stale), not the gates broken.
        """
        try:
            notes = self._call(
                f"reading the notes on !{number}",
                lambda: self._mr(number).notes.list(
                    get_all=True, per_page=100, sort="asc", order_by="created_at"
                ),
            )
        except (Unavailable, RateLimited):
            raise
        except ForgeError:
            return {}
        found: dict[str, datetime] = {}
        for note in (n.attributes for n in notes):
            author = note.get("author")
            user = author.get("username") if isinstance(author, dict) else None
            body, at = note.get("body"), note.get("created_at")
            if (
                note.get("system") is True
                and isinstance(body, str)
                and body.strip().startswith("approved this merge request")
                and isinstance(at, str)
                and user
            ):
                found[str(user)] = max(found.get(str(user), time_of(at)), time_of(at))
        return found

    def _approvals_reset_on_push(self) -> bool:
        if self._resets_approvals is None:
            try:
                settings = self._call(
                    f"reading the approval settings of {self.project}",
                    lambda: self._project.approvals.get(),
                ).attributes
                self._resets_approvals = bool(settings.get("reset_approvals_on_push"))
            except (Unavailable, RateLimited):
                raise
            except ForgeError:  # 404 on the Free tier, 403 on an unlicensed Enterprise Edition
                self._resets_approvals = False
        return self._resets_approvals
