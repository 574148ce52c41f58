"""Who is who on GitHub: the account promobot acts as, the ids an account posts statuses and
check runs under, a person's permission on the repository, and team membership."""

from __future__ import annotations

from urllib.parse import quote

from github import Auth
from github.GithubException import GithubException

from bot.errors import ForgeError
from bot.forges.base import Account, Permission
from bot.forges.github.api import Api

ROLES: dict[str, Permission] = {
    "admin": "admin",
    "maintain": "admin",
    "write": "write",
    "triage": "read",  # triage may label and close, not push: no more than read for promobot
    "read": "read",
    "none": "none",
}


class People(Api):
    """Accounts, identities and permissions, each asked once where it cannot change."""

    _identity: Account | None
    _identities: dict[str, frozenset[str]]  # account → ids, asked once

    def identity(self) -> Account:
        """The token's user, or the App's bot user (`slug[bot]`): installation tokens cannot
        read /user, so an App asks /app for its slug (with its JWT), then /users for the id."""
        if self._identity is None:
            requester = self._gh.requester

            def fetch() -> Account:
                if isinstance(self._auth, Auth.AppAuth):
                    slug = self._integration(self._auth).get_app().slug
                    _, user = requester.requestJsonAndCheck(
                        "GET", f"{self.base_url}/users/{quote(f'{slug}[bot]', safe='')}"
                    )
                else:
                    _, user = requester.requestJsonAndCheck("GET", f"{self.base_url}/user")
                return Account(int(user["id"]), str(user["login"]))

            self._identity = self._call("find out which GitHub account promobot is", fetch)
        return self._identity

    def identities(self, account: str) -> frozenset[str]:
        if account not in self._identities:
            requester = self._gh.requester

            def fetch(path: str) -> int | None:
                try:
                    _, found = requester.requestJsonAndCheck("GET", f"{self.base_url}{path}")
                except GithubException as exc:
                    if exc.status == 404:
                        return None
                    raise
                return int(found["id"])

            found = set()
            login = quote(account, safe="")
            user = self._call(f"look up {account}", lambda: fetch(f"/users/{login}"))
            if user is not None:
                found.add(f"user:{user}")  # statuses: an App posts them as its bot user
            if account.endswith("[bot]"):
                slug = quote(account.removesuffix("[bot]"), safe="")
                app = self._call(f"look up the app {slug}", lambda: fetch(f"/apps/{slug}"))
                if app is not None:
                    found.add(f"app:{app}")  # check runs: they name the App that made them
            self._identities[account] = frozenset(found)
        return self._identities[account]

    def permission(self, user: str) -> Permission:
        url = f"{self._repo.url}/collaborators/{quote(user, safe='')}/permission"

        def fetch() -> Permission:
            try:
                _, data = self._gh.requester.requestJsonAndCheck("GET", url)
            except GithubException as exc:
                if exc.status == 404:  # not a GitHub user
                    return "none"
                raise
            # role_name tells maintain and triage apart; `permission` is the legacy fallback
            # (older GHES, custom roles).
            role = ROLES.get(str(data.get("role_name")))
            return role or ROLES.get(str(data.get("permission")), "none")

        return self._call(f"read {user}'s permission on {self.repo}", fetch)

    def is_member(self, user: str, team: str) -> bool:
        org, _, slug = team.removeprefix("@").partition("/")
        if not org or not slug:
            raise ForgeError(f"{team!r} is not a GitHub team; write it as org/team")
        found = self._gh.get_organization(org).get_team_by_slug(slug)  # lazy: no call

        def fetch() -> bool:
            try:
                return found.get_team_membership(user).state == "active"
            except GithubException as exc:
                if exc.status == 404:  # not a member (or no such team)
                    return False
                raise

        return self._call(f"check whether {user} is in {team}", fetch)
