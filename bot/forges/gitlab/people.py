"""Who is who on GitLab: the token's user, the ids an account posts statuses under, a person's
access to the project, and group membership."""

from __future__ import annotations

from bot.errors import ForgeError, NotFound
from bot.forges.base import Account, Permission
from bot.forges.gitlab.api import Api


class People(Api):
    """Users, identities and access levels, each looked up once where it cannot change."""

    _user_ids: dict[str, int | None]  # username → id (None: no such user), asked once
    _identity: Account | None

    def identity(self) -> Account:
        if self._identity is None:
            data = self._call("reading the token's user", lambda: self._gl.http_get("/user"))
            if not isinstance(data, dict):
                raise ForgeError("GitLab gave an unreadable answer to reading the token's user")
            self._identity = Account(int(data["id"]), str(data["username"]))
        return self._identity

    def _user_id(self, user: str) -> int | None:
        username = user.removeprefix("@")
        if username not in self._user_ids:
            found = self._call(
                f"looking up user {username}",
                lambda: self._gl.users.list(username=username, get_all=False),
            )
            self._user_ids[username] = int(found[0].attributes["id"]) if found else None
        return self._user_ids[username]

    def identities(self, account: str) -> frozenset[str]:
        user_id = self._user_id(account)  # project and group bots are users too
        return frozenset() if user_id is None else frozenset({f"user:{user_id}"})

    def permission(self, user: str) -> Permission:
        user_id = self._user_id(user)
        if user_id is None:
            return "none"
        try:
            member = self._call(
                f"reading {user}'s access to {self.project}",
                lambda: self._project.members_all.get(user_id).attributes,
            )
        except NotFound:
            return "none"
        level = int(member.get("access_level") or 0)
        if level >= 40:  # Maintainer, Owner
            return "admin"
        if level >= 30:  # Developer
            return "write"
        if level >= 10:  # Guest, Planner, Reporter
            return "read"
        return "none"  # Minimal access

    def is_member(self, user: str, team: str) -> bool:
        user_id = self._user_id(user)
        if user_id is None:
            return False
        group = team.removeprefix("@")
        try:
            self._call(
                f"checking {user}'s membership of {group}",
                lambda: self._gl.groups.get(group, lazy=True).members_all.get(user_id),
            )
        except NotFound:
            return False
        return True
