"""How a service reads notes over the network: its own forge with its own credentials,
github.com and gitlab.com anonymously, image registries and chart repositories, each read
with light retries and asked no longer than a PR body waits.

Kept apart from `bot.changelog.finder` because it loads the forges' and registries' clients:
`promobot promote` on a checkout reads only repositories on this machine, and does not wait
for them to load.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

from bot.changelog.finder import BUDGET, Finder
from bot.changelog.hosts import Hosts, NotesRepo, Opener
from bot.changelog.store import Store
from bot.forges.base import Forge
from bot.forges.github import GitHubForge
from bot.forges.gitlab import GitLabForge
from bot.forges.local import LocalForge
from bot.forges.retry import Policy
from bot.settings import Settings
from bot.sources.helm import HelmRepository
from bot.sources.oci import OciRegistry

# light retries: no answer is worth more than the budget a PR body waits for them all
LIGHT = Policy(attempts=2, backoff_base=0.2, backoff_max=1.0, rate_limit_max_wait=5.0)


def for_service(
    settings: Settings,
    forge: Forge,
    store: Store,
    forge_for: Callable[[Settings], Forge],
    shared: OciRegistry | None = None,
) -> Finder:
    """The finder a service's engine uses: its forge (others of its repositories built by
    `forge_for`) and github.com/gitlab.com, registries (through `shared`, the service's
    client, if given) and chart repositories read with light retries, answers kept in the
    queue's store."""
    registry = (
        OciRegistry(retry=LIGHT, timeout=BUDGET)
        if shared is None
        else shared.sharing(retry=LIGHT, timeout=BUDGET)
    )
    charts = HelmRepository(registry, retry=LIGHT, timeout=BUDGET)
    return Finder(hosts_for(settings, forge, forge_for), store, registry=registry, charts=charts)


def hosts_for(
    settings: Settings, forge: Forge | None, forge_for: Callable[[Settings], Forge]
) -> Hosts:
    """The hosts a service reads notes from: its own forge with its own credentials, and
    github.com and gitlab.com anonymously (and, on the local forge, paths on this machine).
    `forge_for` is how the service builds its forge (`bot.wiring.forge`): on GitHub,
    the only way to its credentials, an App's included."""
    forges: dict[str, tuple[str, Opener]] = {}
    own: str | None = None
    local: Opener | None = None
    root: Path | None = None
    if isinstance(forge, LocalForge):
        local, root = LocalForge, forge.root
    if settings.forge == "github":
        own = github_host(settings.github_url)

        def own_github(repo: str) -> NotesRepo:
            made = cast(GitHubForge, forge_for(settings.model_copy(update={"repo": repo})))
            made.policy, made.timeout, made.pacer = LIGHT, BUDGET, None
            return made

        forges[own] = ("github", own_github)
    elif settings.forge == "gitlab":
        own = (urlsplit(settings.gitlab_url).netloc or "gitlab.com").lower()
        token = settings.gitlab_token.get_secret_value() if settings.gitlab_token else None
        url = settings.gitlab_url

        def own_gitlab(repo: str) -> NotesRepo:
            return GitLabForge(repo, token=token, url=url, policy=LIGHT, timeout=BUDGET)

        forges[own] = ("gitlab", own_gitlab)
    forges.setdefault(
        "github.com",
        ("github", lambda repo: GitHubForge(repo, public=True, policy=LIGHT, timeout=BUDGET)),
    )
    forges.setdefault(
        "gitlab.com",
        ("gitlab", lambda repo: GitLabForge(repo, token=None, policy=LIGHT, timeout=BUDGET)),
    )
    return Hosts(forges, own, local, root)


def github_host(api_url: str) -> str:
    """The host people see for a GitHub API URL: github.com for api.github.com."""
    host = (urlsplit(api_url).netloc or "api.github.com").lower()
    return "github.com" if host == "api.github.com" else host
