"""A GitHub pull request's conversation: its comments (issue comments, which have no threads:
a reply quotes what it answers), reactions to them, and its reviews."""

from __future__ import annotations

from github.IssueComment import IssueComment

from bot.errors import NotFound
from bot.forges.base import Comment, Review, ReviewState, quote_first_line
from bot.forges.github.api import Api

REVIEW_STATES: dict[str, ReviewState] = {
    "APPROVED": "approved",
    "CHANGES_REQUESTED": "changes_requested",
    "COMMENTED": "commented",
    "DISMISSED": "dismissed",
}


class Conversation(Api):
    """Comments, reactions and reviews on a PR."""

    def comments(self, number: int) -> list[Comment]:
        issue = self._repo.get_issue(number)  # lazy: no call
        found = self._call(
            f"read the comments on #{number} in {self.repo}",
            lambda: list(issue.get_comments()),
        )
        return [_comment(c) for c in found]

    def get_comment(self, number: int, comment_id: int) -> Comment:
        found = self._call(
            f"read comment {comment_id} in {self.repo}",
            lambda: self._issue_comment(comment_id).complete(),
        )
        if not found.issue_url.endswith(f"/issues/{number}"):
            raise NotFound(f"comment {comment_id} is not on #{number} in {self.repo}")
        return _comment(found)

    def comment(self, number: int, body: str, *, reply_to: int | None = None) -> int:
        if reply_to is not None:  # issue comments have no threads: quote what we answer
            original = self._call(
                f"read comment {reply_to} in {self.repo}",
                lambda: self._issue_comment(reply_to).complete(),
            )
            body = quote_first_line(original.body or "", body)
        issue = self._repo.get_issue(number)  # lazy: no call
        created = self._write(
            f"comment on #{number} in {self.repo}", lambda: issue.create_comment(body)
        )
        return created.id

    def react(self, number: int, comment_id: int, reaction: str) -> None:
        # Comment ids are unique in a repository: the issue number is not needed on GitHub.
        comment = self._issue_comment(comment_id)
        self._write(
            f"react to comment {comment_id} in {self.repo}",
            lambda: comment.create_reaction(reaction),
        )

    def _issue_comment(self, comment_id: int) -> IssueComment:
        return IssueComment(
            self._gh.requester, url=f"{self._repo.url}/issues/comments/{comment_id}"
        )

    def reviews(self, number: int) -> list[Review]:
        pull = self._repo.get_pull(number)  # lazy: no call
        found = self._call(
            f"read the reviews of #{number} in {self.repo}", lambda: list(pull.get_reviews())
        )
        reviews = []
        for review in found:
            state = REVIEW_STATES.get(review.state)
            if state is None or review.user is None:
                continue  # PENDING: not submitted yet (and has no submitted_at to read)
            reviews.append(Review(review.user.login, state, review.commit_id, review.submitted_at))
        return reviews


def _comment(found: IssueComment) -> Comment:
    created, updated = found.created_at, found.updated_at
    return Comment(
        found.id,
        found.user.login if found.user else "ghost",
        found.body or "",
        created,
        user_id=found.user.id if found.user else None,
        # Whole seconds: a later second is an edit (or another change: either way it does not
        # run); the same second may hide one, which only GraphQL can tell (`unedited`).
        edited=None if updated is None or updated == created else True,
        node_id=found.node_id,
    )
