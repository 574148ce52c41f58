"""`GitLabForge`: the rooms of the GitLab forge joined into one `bot.forges.base.Forge`."""

from __future__ import annotations

from bot.forges.archive import Archives
from bot.forges.gitlab.api import client
from bot.forges.gitlab.approvals import Approvals
from bot.forges.gitlab.branches import Branches
from bot.forges.gitlab.checks import Checks
from bot.forges.gitlab.notes import Notes
from bot.forges.gitlab.people import People
from bot.forges.retry import DEFAULT, Policy


class GitLabForge(Branches, Approvals, Notes, Checks, People):
    """A project on gitlab.com or a self-managed GitLab, as a token (or no one) sees it."""

    name = "gitlab"

    def __init__(
        self,
        project: str,
        *,
        token: str | None,  # None: anonymous, for public projects on gitlab.com (changelogs)
        url: str = "https://gitlab.com",
        policy: Policy = DEFAULT,
        timeout: float = 15,
    ) -> None:
        self.project = project
        self.url = url.rstrip("/")
        self.policy = policy
        self.timeout = timeout
        self._gl = client(self.url, token, timeout)
        self._project = self._gl.projects.get(project, lazy=True)
        self._default = None
        self._resets_approvals = None
        self._user_ids = {}
        self._identity = None
        self._archives = Archives()

    def __repr__(self) -> str:
        return f"GitLabForge({self.project!r}, url={self.url!r})"
