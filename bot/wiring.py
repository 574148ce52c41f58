"""Where promobot's parts are built from its settings: the one construction root.

The service, the many-repos fleet and the commands ask here for a forge (with its pacer), the
key that signs promobot's records, and the readers of registries and chart repositories; what
is built is handed down, so no lower module reaches up to find its collaborators (the changelog
finder gets the forge it reads from, the engine the forge and the signer).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from urllib.parse import urlsplit

from bot import signing
from bot.composition import Snapshot
from bot.errors import PromobotError, RenderError
from bot.forges.base import Forge
from bot.forges.local import LocalForge
from bot.forges.registry import forge_class
from bot.forges.retry import Policy
from bot.manifests.charts import Charts
from bot.manifests.renderer import Options, Renderer
from bot.manifests.sandbox import Sandbox
from bot.manifests.store import Store
from bot.manifests.trees import Remote
from bot.pacing import Pacer, Window
from bot.settings import Settings
from bot.signing import Signer, load_key
from bot.sources import Sources
from bot.sources.helm import HelmRepository
from bot.sources.oci import OciRegistry


def pacer(settings: Settings, window: Window, key: str) -> Pacer | None:
    """The pacer of GitHub writes for the installation or token `key`, counted in `window`
    (the queue's store, shared by every process); None where nothing is paced (GitLab, whose
    limits count calls, and local repositories)."""
    if settings.forge != "github" or not settings.github_writes_per_minute:
        return None
    return Pacer(window, key, settings.github_writes_per_minute)


def forge(settings: Settings, pacer: Pacer | None = None) -> Forge:
    """The forge of `settings.repo`; on GitHub its writes go through `pacer` (none: unpaced,
    for what only reads)."""
    cls = forge_class(settings.forge)
    if settings.forge == "local":
        forge: Forge = cls(settings.repo)
        return forge
    if settings.forge == "gitlab":
        assert settings.gitlab_token is not None
        forge = cls(
            settings.repo, token=settings.gitlab_token.get_secret_value(), url=settings.gitlab_url
        )
        return forge
    key = None
    if settings.github_private_key_file is not None:
        try:
            key = settings.github_private_key_file.read_text()
        except OSError as exc:
            raise PromobotError(
                f"PROMOBOT_GITHUB_PRIVATE_KEY_FILE: cannot read {settings.github_private_key_file}:"
                f" {exc.strerror}"
            ) from None
    token = settings.github_token.get_secret_value() if settings.github_token else None
    forge = cls(
        settings.repo,
        token=token,
        app_id=settings.github_app_id,
        private_key=key,
        installation_id=settings.github_installation_id,
        base_url=settings.github_url,
        pacer=pacer,
    )
    return forge


def signer(settings: Settings, forge: Forge, *, among_others: bool = False) -> Signer:
    """The key that signs promobot's records: PROMOBOT_SIGNING_KEY, or on the local forge one
    generated once beside the forge's own state in the repository's git directory.

    The scope is the repo; `among_others` (several local checkouts served at once, which may
    share a configured key) scopes a local checkout by its path rather than as "local"."""
    configured = settings.signing_key.get_secret_value() if settings.signing_key else None
    if isinstance(forge, LocalForge):
        scope = f"local:{forge.root}" if among_others else "local"
        return signing.local(forge.key_path, configured, scope=scope)
    return Signer(load_key(configured, None), scope=settings.repo)


# Registries and chart repositories are read with two attempts and at most 2 s between them:
# a poll that fails is polled again at the next interval, so retrying harder only delays the
# other sources; a registry's rate limit is waited out only when it asks for 10 s or less.
LIGHT = Policy(attempts=2, backoff_max=2.0, rate_limit_max_wait=10.0)
POLL_TIMEOUT = 10.0  # seconds: a tag list or a manifest head is small
RENDER_TIMEOUT = 30.0  # seconds: a chart archive may be 20 MiB (`manifests.charts`)


def registry() -> OciRegistry:
    """A service's one registry client: its pollers, changelog finder and chart fetcher each
    read through a `sharing()` view of it with their own retries and timeout, so a token or
    a manifest one of them got is not asked for again by the others. One per service, not per
    process: a repo's settings (and one day its registry credentials) are its own."""
    return OciRegistry(retry=LIGHT, timeout=RENDER_TIMEOUT)


def sources(
    forge: Forge, forge_for: Callable[[str], Forge], shared: OciRegistry | None = None
) -> Sources:
    """The readers a reconcile polls with: registries (through `shared`, the service's
    client, if given) and chart repositories with light retries, `forge` for git sources in
    the env repo and `forge_for` for those in other repos."""
    oci = (shared or registry()).sharing(retry=LIGHT, timeout=POLL_TIMEOUT)
    return Sources(
        oci,
        HelmRepository(oci, retry=LIGHT, timeout=POLL_TIMEOUT),
        forge=forge,
        forge_for=forge_for,
    )


def renderer(
    settings: Settings,
    forge_for: Callable[[str], Forge],
    sandbox: Sandbox | None = None,
    shared: OciRegistry | None = None,
) -> Renderer:
    """The renderer of what each environment is made of: kept renderings and charts in the
    data dir, charts read through `shared` (the service's registry client) if given, worker
    processes with the settings' limits (by default the process's one pool, which every repo
    served shares), remote Kustomize bases read through the forge (`forge_for`: the forge of
    another repo, same credentials)."""
    oci = (shared or registry()).sharing(retry=LIGHT, timeout=RENDER_TIMEOUT)
    root = settings.data_dir / "render"
    options = Options(
        kube_version=settings.render_kube_version,
        kustomize_helm=settings.render_kustomize_helm,
        helm_binary=settings.helm_binary,
        kustomize_binary=settings.kustomize_binary,
    )
    if sandbox is None:
        sandbox = shared_sandbox(
            settings.render_workers, settings.render_timeout, settings.render_memory_mb
        )

    def remote(base: Remote) -> Snapshot:
        served = forge_host(settings)
        if served is None:
            raise RenderError(
                f"remote base {base.url}: the local forge reads no other repositories; vendor "
                "the base into this repository"
            )
        if base.host.lower().split(":")[0] != served:
            raise RenderError(
                f"remote base {base.url} is on {base.host}, and promobot reads other "
                f"repositories only through its forge, {served}; vendor the base into this "
                "repository or keep it on the same forge"
            )
        return forge_for(base.repo).snapshot(base.ref)

    return Renderer(
        Store(root),
        Charts(root, oci, HelmRepository(oci, retry=LIGHT, timeout=RENDER_TIMEOUT)),
        sandbox,
        options,
        remote,
    )


@functools.cache
def shared_sandbox(workers: int, timeout: float, memory_mb: int) -> Sandbox:
    """One pool of rendering processes per service process, whatever the number of repos (its
    workers start at the first rendering)."""
    return Sandbox(workers=workers, timeout=timeout, memory_mb=memory_mb)


def forge_host(settings: Settings) -> str | None:
    """The host whose repositories promobot's forge serves (what a remote base must name)."""
    if settings.forge == "github":
        host = urlsplit(settings.github_url).hostname or ""
        return "github.com" if host == "api.github.com" else host.lower()
    if settings.forge == "gitlab":
        return (urlsplit(settings.gitlab_url).hostname or "").lower()
    return None
