"""Whether comments were edited, asked of GitHub's GraphQL API where REST's times cannot tell
(its queries draw on a rate limit of their own, not on REST's)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from bot.errors import ForgeError, RateLimited
from bot.forges.base import Comment
from bot.forges.github.api import SECONDARY_LIMIT_WAIT, Api

GRAPHQL_NODES = 100  # ids GitHub takes in one `nodes(ids:)`
# Whether comments were edited, for those whose REST times (whole seconds) cannot tell: the
# text too, so that what GitHub vouches for is the text promobot read.
EDITS = """
query($ids: [ID!]!) {
  nodes(ids: $ids) {
    __typename
    ... on IssueComment {
      body
      lastEditedAt
      includesCreatedEdit
      userContentEdits(first: 1) { totalCount }
    }
  }
}
"""


class Edits(Api):
    """Comments GitHub vouches were never edited."""

    def unedited(self, number: int, comments: Sequence[Comment]) -> set[int]:
        """REST's whole seconds cannot tell a comment edited in the second it was posted from
        one never edited; GraphQL's edit history can: one query for up to 100 comments."""
        vouched = {c.id for c in comments if c.edited is False}
        asked = [c for c in comments if c.edited is None and c.node_id]
        what = f"ask whether comments on #{number} in {self.repo} were edited"
        for start in range(0, len(asked), GRAPHQL_NODES):
            chunk = asked[start : start + GRAPHQL_NODES]
            ask = partial(self._graphql, what, EDITS, ids=[c.node_id for c in chunk])
            nodes = self._call(what, ask).get("nodes")
            if not isinstance(nodes, list) or len(nodes) != len(chunk):
                raise ForgeError(f"GitHub sent an answer promobot cannot read to {what}")
            # `nodes` answers in the order of `ids`
            vouched |= {c.id for c, node in zip(chunk, nodes, strict=True) if _unedited(node, c)}
        return vouched

    def _graphql(self, what: str, query: str, **variables: Any) -> dict[str, Any]:
        """`data` of a GraphQL query; an id that names nothing (deleted since) is a null."""
        requester = self._gh.requester
        _, answer = requester.requestJsonAndCheck(
            "POST", self._graphql_url, input={"query": query, "variables": variables}
        )
        errors = [e for e in answer.get("errors") or [] if not _not_found(e)]
        if errors:
            first = errors[0] if isinstance(errors[0], dict) else {}
            if first.get("type") == "RATE_LIMITED":
                raise RateLimited(
                    f"GitHub's GraphQL rate limit stopped promobot from trying to {what}",
                    SECONDARY_LIMIT_WAIT,
                )
            reason = " ".join(str(first.get("message") or "an error").split())
            raise ForgeError(f"GitHub's GraphQL API refused to {what}: {reason}")
        data = answer.get("data")
        return data if isinstance(data, dict) else {}

    @property
    def _graphql_url(self) -> str:
        # api.github.com/graphql; GitHub Enterprise Server: /api/graphql beside /api/v3
        return self.base_url.removesuffix("/v3") + "/graphql"


def _unedited(node: Any, comment: Comment) -> bool:
    """Whether GraphQL's answer says the comment holds the text it was posted with."""
    if not isinstance(node, dict) or node.get("__typename") != "IssueComment":
        return False
    edits = node.get("userContentEdits")
    return (
        node.get("body") == comment.body
        and node.get("lastEditedAt") is None
        and node.get("includesCreatedEdit") is False
        and (edits is None or (isinstance(edits, dict) and edits.get("totalCount") == 0))
    )


def _not_found(error: Any) -> bool:
    return isinstance(error, dict) and error.get("type") == "NOT_FOUND"
