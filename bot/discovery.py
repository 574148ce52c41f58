"""Which repos a deployment serves: the ones named, the projects of GitLab groups, and the repos
of a GitHub App's installations — each only while it has a `.promobot.yaml` on its default
branch (a repo without one is someone else's business, and is looked at again when a push
may have added it).

The forge's answers decide, never a webhook payload: an `installation_repositories` event
only says "look at these again". Library errors become `ForgeError` here, naming what was
being done and never a secret.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import requests

from bot.errors import ForgeError, NotFound
from bot.settings import Settings

log = logging.getLogger("promobot.discovery")
CONFIG = ".promobot.yaml"
PER_PAGE = 100
T = TypeVar("T")


@dataclass(frozen=True)
class Candidate:
    """A repo promobot's credentials reach; `installation` is the GitHub App installation
    whose rate limit (and token) it shares."""

    repo: str
    installation: int | None = None


def budget_key(settings: Settings, candidate: Candidate) -> str:
    """The rate limit a repo spends: its installation's for a GitHub App, otherwise the one
    token's (every repo on that token shares it, so the forge kind names it)."""
    if candidate.installation is not None:
        return f"{settings.forge}:installation:{candidate.installation}"
    if settings.forge == "github" and settings.github_app_id is not None:
        # an installation is per account: the repos of one owner share one
        return f"github:installation:{candidate.repo.partition('/')[0].lower()}"
    return settings.forge


class Finder:
    """Asks the forge which repos there are and whether each has a `.promobot.yaml`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._integration: Any = None
        self._clients: dict[int | None, Any] = {}  # per installation: its token is reused

    # --- GitHub App installations ---------------------------------------------------------------

    def _app(self) -> Any:
        if self._integration is None:
            self._integration = self._connect()
        return self._integration

    def _client(self, installation: int | None) -> Any:
        """A client as the installation (PyGithub renews its token), or as the token."""
        from github import Auth, Github  # PyGithub: loaded only where GitHub is served

        if installation not in self._clients:
            if installation is not None:
                client = self._app().get_github_for_installation(installation)
            else:
                assert self.settings.github_token is not None
                token = Auth.Token(self.settings.github_token.get_secret_value())
                client = Github(auth=token, base_url=self.settings.github_url, retry=None)
            self._clients[installation] = client
        return self._clients[installation]

    def _connect(self) -> Any:
        from github import Auth, GithubIntegration  # as above: only where GitHub is served

        settings = self.settings
        assert settings.github_app_id is not None and settings.github_private_key_file is not None
        try:
            key = settings.github_private_key_file.read_text()
        except OSError as exc:
            raise ForgeError(
                f"PROMOBOT_GITHUB_PRIVATE_KEY_FILE: cannot read it: {exc.strerror}"
            ) from None
        auth = Auth.AppAuth(settings.github_app_id, key)
        return GithubIntegration(auth=auth, base_url=settings.github_url, retry=None)

    def installations(self) -> list[int]:
        """GET /app/installations with the App's JWT."""
        app = self._app()

        def fetch() -> list[int]:
            return [int(found.id) for found in app.get_installations()]

        return self._github("list the GitHub App's installations", fetch)

    def installation_repos(self, installation: int) -> list[Candidate]:
        """GET /installation/repositories with the installation's token, page by page."""
        client = self._client(installation)

        def fetch() -> list[Candidate]:
            found: list[Candidate] = []
            page = 1
            while True:
                _, data = client.requester.requestJsonAndCheck(
                    "GET", "/installation/repositories", {"per_page": PER_PAGE, "page": page}
                )
                items = data.get("repositories") or []
                found += [Candidate(str(r["full_name"]), installation) for r in items]
                if len(items) < PER_PAGE:
                    return found
                page += 1

        return self._github(f"list the repositories of installation {installation}", fetch)

    def github_has_config(self, candidate: Candidate) -> bool:
        """GET /repos/{repo}/contents/.promobot.yaml (the default branch), as the repo's
        installation (or the token)."""
        client = self._client(candidate.installation)
        path = f"/repos/{candidate.repo}/contents/{CONFIG}"

        def fetch() -> bool:
            try:
                client.requester.requestJsonAndCheck("GET", path)
            except Exception as exc:
                if getattr(exc, "status", None) == 404:
                    return False
                raise
            return True

        return self._github(f"look for {CONFIG} in {candidate.repo}", fetch)

    def _github(self, what: str, call: Callable[[], T]) -> T:
        from github.GithubException import GithubException  # only where GitHub is served

        try:
            return call()
        except GithubException as exc:
            message = exc.data.get("message") if isinstance(exc.data, dict) else None
            if exc.status == 404:
                raise NotFound(f"GitHub found nothing when promobot tried to {what}") from None
            raise ForgeError(
                f"GitHub refused when promobot tried to {what}: {message or f'HTTP {exc.status}'}"
            ) from None
        except requests.RequestException as exc:
            raise ForgeError(
                f"GitHub is unreachable ({type(exc).__name__}); promobot could not {what}"
            ) from None

    # --- GitLab groups ----------------------------------------------------------------------------

    def _gitlab(self) -> Any:
        import gitlab  # python-gitlab: loaded only where GitLab is served

        assert self.settings.gitlab_token is not None
        return gitlab.Gitlab(
            self.settings.gitlab_url,
            private_token=self.settings.gitlab_token.get_secret_value(),
            timeout=15,
        )

    def group_projects(self, group: str) -> list[tuple[str, str | None]]:
        """The projects of a group and its subgroups (not archived): (path, default branch)."""
        client = self._gitlab()

        def fetch() -> list[tuple[str, str | None]]:
            found = client.http_list(
                f"/groups/{quote(group, safe='')}/projects",
                query_data={"include_subgroups": "true", "archived": "false"},
                get_all=True,
                per_page=PER_PAGE,
            )
            return [(str(p["path_with_namespace"]), p.get("default_branch")) for p in found]

        return self._gitlab_call(f"list the projects of group {group}", fetch)

    def gitlab_has_config(self, project: str, branch: str | None) -> bool:
        """HEAD /projects/:id/repository/files/.promobot.yaml?ref=<default branch>."""
        if branch is None:
            return False  # an empty project
        client = self._gitlab()
        path = f"/projects/{quote(project, safe='')}/repository/files/{quote(CONFIG, safe='')}"

        def fetch() -> bool:
            import gitlab  # python-gitlab: loaded only where GitLab is served

            try:
                client.http_request("HEAD", path, query_data={"ref": branch})
            except gitlab.GitlabHttpError as exc:
                if exc.response_code == 404:
                    return False
                raise
            return True

        return self._gitlab_call(f"look for {CONFIG} in {project}", fetch)

    def gitlab_default_branch(self, project: str) -> str | None:
        client = self._gitlab()

        def fetch() -> str | None:
            data = client.http_get(f"/projects/{quote(project, safe='')}")
            branch = data.get("default_branch") if isinstance(data, dict) else None
            return str(branch) if branch else None

        return self._gitlab_call(f"read the settings of {project}", fetch)

    def _gitlab_call(self, what: str, call: Callable[[], T]) -> T:
        import gitlab  # python-gitlab: loaded only where GitLab is served

        try:
            return call()
        except gitlab.GitlabError as exc:
            if exc.response_code == 404:
                raise NotFound(f"GitLab found nothing when promobot tried to {what}") from None
            raise ForgeError(
                f"GitLab refused when promobot tried to {what}: HTTP {exc.response_code}"
            ) from None
        except requests.RequestException as exc:
            raise ForgeError(
                f"GitLab is unreachable ({type(exc).__name__}); promobot could not {what}"
            ) from None

    # --- together --------------------------------------------------------------------------------

    def candidates(self) -> list[Candidate]:
        """Every repo the settings point at, before looking for `.promobot.yaml`: the named
        ones (checked as they are served), group projects and installation repos."""
        settings = self.settings
        found = [Candidate(r) for r in settings.repo_names]
        for group in settings.group_names:
            found += [Candidate(p) for p, _ in self.group_projects(group)]
        if settings.discovers and settings.forge == "github":
            for installation in self.installations():
                found += self.installation_repos(installation)
        return list({c.repo.lower(): c for c in reversed(found)}.values())[::-1]

    def has_config(self, candidate: Candidate) -> bool:
        if self.settings.forge == "github":
            return self.github_has_config(candidate)
        if self.settings.forge == "gitlab":
            branch = self.gitlab_default_branch(candidate.repo)
            return self.gitlab_has_config(candidate.repo, branch)
        return True  # a local checkout says so itself when its context loads the config
