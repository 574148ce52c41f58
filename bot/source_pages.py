"""Where a component's versions come from, as `.promobot.yaml` writes it, and the web page
that shows that source — only where the page's address is known, never made up.

A Helm repository's URL is where its `index.yaml` lives; a path under it (`…/podinfo/podinfo`)
names nothing, so an HTTP chart is shown as its name and its repository, unlinked. Registries
with browsable pages at known addresses (GHCR, Docker Hub, Quay) are linked; any other registry
is not. A `git:` source is a repository on the forge that serves the environment repo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.config import Source

_SEGMENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")  # the OCI name grammar
_REPO = re.compile(r"[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+")  # owner/name, group/sub/project
_DOCKER_HUB = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


@dataclass(frozen=True)
class Shown:
    text: str  # the source as written: `ghcr.io/acme/api`, `podinfo from https://…`, `acme/cfg`
    url: str | None  # its page, when one is known


def shown(source: Source, forge_web: str | None = None) -> Shown:
    """`source` as a person reads it. `forge_web` is the forge's web root (`https://github.com`;
    "" for links relative to the forge's own host, as in a PR description; None: unknown),
    against which a `git:` repository is linked."""
    if source.image:
        return Shown(source.image, image_page(source.image))
    if source.chart:
        repo = (source.repo or "").rstrip("/")
        if repo.startswith("oci://"):  # helm's own way to name an OCI chart
            reference = f"{repo}/{source.chart}"
            return Shown(reference, image_page(reference.removeprefix("oci://")))
        return Shown(f"{source.chart} from {repo}", None)
    name = source.git or ""
    linked = forge_web is not None and _REPO.fullmatch(name) and ".." not in name
    return Shown(name, f"{forge_web}/{name}" if linked else None)


def image_page(reference: str) -> str | None:
    """The web page of an image repository on GHCR, Docker Hub or Quay; None elsewhere."""
    parts = reference.split("/")
    host = "docker.io"
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        host, parts = parts[0], parts[1:]
    if not parts or not all(_SEGMENT.fullmatch(p) for p in parts):
        return None
    if host in _DOCKER_HUB:
        if len(parts) == 1 or (len(parts) == 2 and parts[0] == "library"):
            return f"https://hub.docker.com/_/{parts[-1]}"
        return f"https://hub.docker.com/r/{parts[0]}/{parts[1]}" if len(parts) == 2 else None
    if len(parts) != 2:
        return None
    if host == "ghcr.io":  # GHCR sends a browser on to the package's page on GitHub
        return f"https://ghcr.io/{parts[0]}/{parts[1]}"
    if host == "quay.io":
        return f"https://quay.io/repository/{parts[0]}/{parts[1]}"
    return None
