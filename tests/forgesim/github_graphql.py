"""GitHub's GraphQL API in the forge simulator: the part promobot asks, issue comments by id.

GitHub serves GraphQL at `/graphql` beside the REST API (`/api/graphql` on GitHub Enterprise
Server, where REST is `/api/v3`). The schema here is a subset of GitHub's public one, with
GitHub's names and types (`Query.nodes`, `IssueComment.lastEditedAt`, `includesCreatedEdit`,
`userContentEdits`), so a query GitHub would refuse for an unknown field is refused here too
(graphql-core validates it). What GitHub does and this face does as well:

- every answer is HTTP 200, errors in `errors` beside `data`; an id that names nothing is a
  `null` in `nodes` and an error of `type: NOT_FOUND`;
- times are whole seconds (`2026-11-24T10:42:00Z`), as in REST;
- a comment never edited has `lastEditedAt: null`, `includesCreatedEdit: false` and no
  `userContentEdits`; its first edit records two: the text it was created with, and the edit;
- GraphQL has a rate limit of its own (`X-RateLimit-Resource: graphql`, 5,000 points an hour,
  a query like promobot's costs one), which REST calls do not draw on, nor it on theirs.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import weakref
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError, build_schema, graphql_sync
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.forgesim.github import iso, node_id
from tests.forgesim.world import Comment, Repo, World

SCHEMA = build_schema("""
scalar DateTime

interface Node {
  id: ID!
}

interface Actor {
  login: String!
}

type User implements Node & Actor {
  id: ID!
  login: String!
  databaseId: Int
}

type Bot implements Node & Actor {
  id: ID!
  login: String!
  databaseId: Int
}

type UserContentEdit implements Node {
  id: ID!
  createdAt: DateTime!
  editedAt: DateTime!
  editor: Actor
}

type UserContentEditConnection {
  totalCount: Int!
  nodes: [UserContentEdit]
}

type IssueComment implements Node {
  id: ID!
  databaseId: Int
  body: String!
  author: Actor
  editor: Actor
  createdAt: DateTime!
  updatedAt: DateTime!
  lastEditedAt: DateTime
  includesCreatedEdit: Boolean!
  userContentEdits(after: String, before: String, first: Int, last: Int): UserContentEditConnection
}

type Query {
  node(id: ID!): Node
  nodes(ids: [ID!]!): [Node]!
}
""")
LIMIT = 5000  # points an hour


@dataclass
class _Points:
    remaining: int = LIMIT
    reset: int = 0


_points: weakref.WeakKeyDictionary[World, _Points] = weakref.WeakKeyDictionary()


def _named(text: str) -> tuple[str, str] | None:
    """(kind, id) of a global id as `github.node_id` makes them; None if it is not one."""
    try:
        decoded = base64.b64decode(text, validate=True).decode()
        size, _, rest = decoded.partition(":")
        length = int(size)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return (rest[:length], rest[length:]) if len(rest) > length else None


def _actor(world: World, login: str) -> dict[str, Any]:
    user = world.users.get(login) or world.add_user(login)
    kind = "Bot" if user.bot else "User"
    return {"__typename": kind, "id": node_id("User", user.id), "login": login,
            "databaseId": user.id}  # fmt: skip


def _comment(world: World, comment: Comment) -> dict[str, Any]:
    edits: list[dict[str, Any]] = []
    if comment.edits:  # GitHub keeps the created text as the first entry of the history
        stamps = [(comment.user, comment.created_at)] + [(e[0], e[1]) for e in comment.edits]
        edits = [
            {"__typename": "UserContentEdit", "id": node_id("UserContentEdit", f"{comment.id}-{i}"),
             "createdAt": iso(when), "editedAt": iso(when), "editor": _actor(world, who)}
            for i, (who, when) in enumerate(stamps)
        ]  # fmt: skip
    last = comment.edits[-1] if comment.edits else None
    return {
        "__typename": "IssueComment",
        "id": node_id("IssueComment", comment.id),
        "databaseId": comment.id,
        "body": comment.body,
        "author": _actor(world, comment.user),
        "editor": _actor(world, last[0]) if last else None,
        "createdAt": iso(comment.created_at),
        "updatedAt": iso(comment.updated_at or comment.created_at),
        "lastEditedAt": iso(last[1]) if last else None,
        "includesCreatedEdit": bool(edits),
        "userContentEdits": lambda info, **page: _page(edits, **page),
    }


def _page(items: list[dict[str, Any]], **page: Any) -> dict[str, Any]:
    first, last = page.get("first"), page.get("last")
    shown = items[:first] if first is not None else items[-last:] if last else items
    return {"totalCount": len(items), "nodes": shown}


def _find(world: World, ident: str) -> dict[str, Any]:
    named = _named(ident)
    if named is not None and named[0] == "IssueComment" and named[1].isdigit():
        with world.lock:
            repos: list[Repo] = list(world.repos.values())
            for repo in repos:
                comment = repo.comments.get(int(named[1]))
                if comment is not None:
                    return _comment(world, comment)
    raise GraphQLError(
        f"Could not resolve to a node with the global id of '{ident}'",
        extensions={"type": "NOT_FOUND"},
    )


class _Root:
    def __init__(self, world: World) -> None:
        self.world = world

    def node(self, info: Any, id: str) -> dict[str, Any]:
        return _find(self.world, id)

    def nodes(self, info: Any, ids: list[str]) -> list[Any]:
        found: list[Any] = []
        for ident in ids:
            try:
                found.append(_find(self.world, ident))
            except GraphQLError as exc:
                found.append(exc)  # null at its place, and an error naming it
        return found


def _error(error: GraphQLError) -> dict[str, Any]:
    """An error as GitHub words it: `type` beside `message`, not under `extensions`."""
    out: dict[str, Any] = error.formatted
    extensions = out.pop("extensions", None) or {}
    if "type" in extensions:
        out["type"] = extensions["type"]
    return out


def endpoint(world: World) -> Any:
    """The handler of `POST /api/graphql` (counted and authenticated by `app.endpoint`)."""

    async def answer(request: Request) -> Response:
        points = _points.setdefault(world, _Points())
        with world.lock:
            # app.endpoint charged the REST limit; GraphQL has its own
            world.rate_remaining = min(world.rate_limit, world.rate_remaining + 1)
            if time.time() >= points.reset:
                points.remaining, points.reset = LIMIT, int(time.time()) + 3600
            points.remaining = max(0, points.remaining - 1)
        headers = {
            "X-RateLimit-Limit": str(LIMIT),
            "X-RateLimit-Remaining": str(points.remaining),
            "X-RateLimit-Reset": str(points.reset),
            "X-RateLimit-Used": str(LIMIT - points.remaining),
            "X-RateLimit-Resource": "graphql",
        }
        try:
            payload = json.loads(await request.body())
        except json.JSONDecodeError:
            return JSONResponse({"message": "Problems parsing JSON"}, 400, headers)
        query = payload.get("query") if isinstance(payload, dict) else None
        if not isinstance(query, str):
            return JSONResponse(
                {
                    "errors": [
                        {"message": "A query attribute must be specified and must be a string."}
                    ]
                },
                200,
                headers,
            )
        result = graphql_sync(
            SCHEMA,
            query,
            root_value=_Root(world),
            variable_values=payload.get("variables") or None,
        )
        body: dict[str, Any] = {}
        if result.data is not None:
            body["data"] = result.data
        if result.errors:
            body["errors"] = [_error(e) for e in result.errors]
        return JSONResponse(body, 200, headers)

    return answer
