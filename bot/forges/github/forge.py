"""`GitHubForge`: the rooms of the GitHub forge joined into one `bot.forges.base.Forge`."""

from __future__ import annotations

from github.Consts import DEFAULT_BASE_URL

from bot.errors import ForgeError
from bot.forges.archive import Archives
from bot.forges.github.api import authentication
from bot.forges.github.branches import Branches
from bot.forges.github.checks import Checks
from bot.forges.github.conversation import Conversation
from bot.forges.github.graphql import Edits
from bot.forges.github.people import People
from bot.forges.github.pulls import Pulls
from bot.forges.retry import DEFAULT, Policy
from bot.pacing import Pacer


class GitHubForge(Branches, Pulls, Conversation, Edits, Checks, People):
    """A repository on github.com or GitHub Enterprise Server, as a token or an App sees it."""

    name = "github"

    def __init__(
        self,
        repo: str,
        *,
        token: str | None = None,
        app_id: int | None = None,
        private_key: str | None = None,
        installation_id: int | None = None,
        base_url: str = DEFAULT_BASE_URL,
        policy: Policy = DEFAULT,
        timeout: float = 15,
        pacer: Pacer | None = None,
        public: bool = False,
    ) -> None:
        """`public`: no credentials at all, for reading public repositories on github.com
        (changelogs): promobot's token is never sent to a host it was not configured for."""
        owner, _, name = repo.partition("/")
        if not owner or not name or "/" in name:
            raise ForgeError(f"{repo!r} is not a GitHub repository; write it as owner/name")
        self.repo = repo
        self.owner = owner
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self.timeout = timeout
        self.pacer = pacer
        self._auth = None if public else authentication(token, app_id, private_key)
        self._installation_id = installation_id
        self._client = None
        self._repository = None
        self._default = None
        self._heads = {}
        self._trees = {}
        self._archives = Archives()
        self._identity = None
        self._identities = {}
