"""A GitLab merge request's notes (promobot's comments; system notes left out) and award emoji
(its reactions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.errors import NotFound
from bot.forges.base import Comment, quote_first_line
from bot.forges.gitlab.api import Api, id_of, time_of

# GitHub's reaction names (what promobot speaks) → GitLab's emoji names.
EMOJI = {"+1": "thumbsup", "-1": "thumbsdown", "laugh": "laughing", "hooray": "tada"}


class Notes(Api):
    """Comments and reactions on an MR."""

    def comments(self, number: int) -> list[Comment]:
        notes = self._call(
            f"reading the comments on !{number}",
            lambda: self._mr(number).notes.list(
                get_all=True, per_page=100, sort="asc", order_by="created_at"
            ),
        )
        return [
            _note(n)
            for n in (note.attributes for note in notes)
            if not n.get("system")  # "approved this merge request", "added 1 commit", …
        ]

    def get_comment(self, number: int, comment_id: int) -> Comment:
        note = self._call(
            f"reading comment {comment_id} on !{number}",
            lambda: self._mr(number).notes.get(comment_id).attributes,
        )
        if note.get("system"):
            raise NotFound(f"comment {comment_id} on !{number} is a system note")
        return _note(note)

    def unedited(self, number: int, comments: Sequence[Comment]) -> set[int]:
        return {c.id for c in comments if c.edited is False}  # the timestamps tell: no call

    def comment(self, number: int, body: str, *, reply_to: int | None = None) -> int:
        if reply_to is not None:
            # A quote works on every note; a discussion reply would need the discussion's id,
            # which the notes API does not give (one more listing to find it).
            original = self._call(
                f"reading comment {reply_to} on !{number}",
                lambda: self._mr(number).notes.get(reply_to).attributes,
            )
            body = quote_first_line(str(original["body"]), body)
        note = self._call(
            f"commenting on !{number}", lambda: self._mr(number).notes.create({"body": body})
        )
        return int(note.attributes["id"])

    def react(self, number: int, comment_id: int, reaction: str) -> None:
        name = EMOJI.get(reaction, reaction)
        try:
            self._call(
                f"reacting to comment {comment_id} on !{number}",
                lambda: (
                    self._mr(number)
                    .notes.get(comment_id, lazy=True)
                    .awardemojis.create({"name": name})
                ),
            )
        except NotFound as exc:
            if "already been taken" not in str(exc):  # GitLab's 404 for an emoji already there
                raise


def _note(n: Mapping[str, Any]) -> Comment:
    created = time_of(n["created_at"])
    updated = time_of(n["updated_at"]) if n.get("updated_at") else created
    return Comment(
        id=int(n["id"]),
        user=str(n["author"]["username"]),
        body=str(n["body"]),
        created_at=created,
        user_id=id_of(n["author"].get("id")),
        # GitLab's times have milliseconds and a new note's two are the same. They part for
        # an edit and for other changes too (a thread resolved): the notes API does not say
        # which, so any difference counts as an edit (its commands do not run).
        edited=updated != created,
    )
