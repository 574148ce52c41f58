"""Sources: where new versions come from, one poller per kind of source, one module each.

`POLLERS` names the implementation of `bot.sources.base.Poller` for each kind of source (a test
fails if a module is missing from it). `Sources` picks the poller for a `Source` and polls every
source of a configuration, asking each registry, chart repository and git repo once per call
(or those `spread.Spread` says are due: unchanged sources are polled less and less often).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

from bot import versions
from bot.config import Config, Source
from bot.errors import PromobotError
from bot.forges.base import Forge
from bot.sources.base import Poller, SourceError, latest
from bot.sources.git import GitTags
from bot.sources.helm import HelmRepository, oci_chart
from bot.sources.oci import ImageRef, OciRegistry

__all__ = ["POLLERS", "Poller", "SourceError", "Sources", "latest"]

log = logging.getLogger(__name__)
T = TypeVar("T")

POLLERS = {
    "image": "bot.sources.oci:OciRegistry",
    "chart": "bot.sources.helm:HelmRepository",  # delegates oci:// repositories to OciRegistry
    "git": "bot.sources.git:GitTags",
}


class Sources:
    """Dispatches a `Source` to its poller: image → OCI, chart → Helm (or OCI), git → tags.

    Git sources name a repository on the same forge: `forge_for(repo)` gives a forge serving
    it, or (for now, with one repository per forge object) `forge` serves every git source.
    """

    def __init__(
        self,
        registry: OciRegistry | None = None,
        helm: HelmRepository | None = None,
        *,
        forge: Forge | None = None,
        forge_for: Callable[[str], Forge] | None = None,
    ) -> None:
        self._owns_registry, self._owns_helm = registry is None, helm is None
        self.registry = registry or OciRegistry()
        self.helm = helm or HelmRepository(self.registry)
        self._forge = forge
        self._forge_for = forge_for

    def poller(self, source: Source) -> Poller:
        if source.image:
            return self.registry
        if source.chart:
            return self.helm
        if source.git is not None and self._forge_for is not None:
            return GitTags(self._forge_for(source.git))
        if source.git is not None and self._forge is not None:
            return GitTags(self._forge)
        raise SourceError(f"git source {source.label}: no forge is configured for git sources")

    def latest(self, source: Source) -> str | None:
        return latest(source, self.poller(source))

    def poll(
        self, config: Config, errors: dict[str, PromobotError] | None = None
    ) -> dict[str, str | None]:
        """Source key → the version its rules select (None: nothing selected), for every source.

        When components read one source with different rules (`^1` here, `^2` there), the key
        maps to the newest of their selections; `poll_sources` keeps them apart.
        """
        found: dict[str, str | None] = {}
        for source, version in self.poll_sources(config, errors).items():
            best = found.get(source.key)
            if source.key not in found or (
                version is not None
                and (best is None or versions.compare(version, best, source.sort) == 1)
            ):
                found[source.key] = version
        return found

    def poll_sources(
        self,
        config: Config,
        errors: dict[str, PromobotError] | None = None,
        due: Callable[[Source], bool] | None = None,
    ) -> dict[Source, str | None]:
        """The selected version of every distinct source in `config` (None: nothing selected),
        or of those `due` picks (`spread.Spread`: the others need no poll this time).

        Each registry repository, chart index and git repo is asked once. A source that fails
        is logged and left out, and its error put in `errors` under its key.
        """
        once = _Once(self)
        found: dict[Source, str | None] = {}
        sources = [s for s in distinct_sources(config) if due is None or due(s)]
        # Told up front, the registry asks one token for many repositories and keeps tag
        # lists only for what this configuration names.
        self.registry.expect(registry_repositories(sources))
        for source in sources:
            try:
                found[source] = latest(source, once)
            except PromobotError as exc:
                log.warning("source poll failed", extra={"source": source.key, "error": str(exc)})
                if errors is not None:
                    errors[source.key] = exc
        return found

    def close(self) -> None:
        """Close the pollers this made (not those it was given)."""
        if self._owns_helm:
            self.helm.close()
        if self._owns_registry:
            self.registry.close()

    def __enter__(self) -> Sources:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def distinct_sources(config: Config) -> list[Source]:
    seen: dict[Source, None] = {}
    for app in config.apps.values():
        for component in app.components.values():
            if component.source is not None:
                seen.setdefault(component.source, None)
    return list(seen)


def registry_repositories(sources: list[Source]) -> list[ImageRef]:
    """The OCI repositories that polling `sources` reads: images and `oci://` charts."""
    refs: list[ImageRef] = []
    for source in sources:
        try:
            if source.image:
                refs.append(ImageRef.parse(source.image))
            elif (ref := oci_chart(source)) is not None:
                refs.append(ref)
        except SourceError:
            continue  # a malformed reference fails again when its source is polled, and is named
    return refs


class _Once:
    """A Poller over `Sources` that remembers answers (and failures) for one poll."""

    def __init__(self, sources: Sources) -> None:
        self._sources = sources
        self._versions: dict[tuple[str, str | None], list[str] | PromobotError] = {}
        self._pins: dict[tuple[str, str], str | PromobotError] = {}

    def versions(self, source: Source) -> list[str]:
        key = (source.key, source.tags)
        if key not in self._versions:
            try:
                self._versions[key] = self._sources.poller(source).versions(source)
            except PromobotError as exc:
                self._versions[key] = exc
        return _answer(self._versions[key])

    def pin(self, source: Source, version: str) -> str:
        key = (source.key, version)
        if key not in self._pins:
            try:
                self._pins[key] = self._sources.poller(source).pin(source, version)
            except PromobotError as exc:
                self._pins[key] = exc
        return _answer(self._pins[key])


def _answer(value: T | PromobotError) -> T:
    if isinstance(value, PromobotError):
        raise value
    return value
