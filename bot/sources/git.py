"""Git tags as versions: the tags of a repository on the forge, narrowed by a `tags:` glob."""

from __future__ import annotations

from fnmatch import fnmatchcase

from bot.config import Source
from bot.forges.base import Forge
from bot.sources.base import SourceError


class GitTags:
    """Tags of the one repository `forge` serves (the source's `git:` repo)."""

    def __init__(self, forge: Forge) -> None:
        self.forge = forge

    def versions(self, source: Source) -> list[str]:
        if source.git is None:
            raise SourceError(f"{source.label} is not a git source")
        tags = self.forge.tags()
        return tags if source.tags is None else [t for t in tags if fnmatchcase(t, source.tags)]

    def pin(self, source: Source, version: str) -> str:
        raise SourceError(
            f"digest: true pins images and oci:// charts; {source.label} is a git repository "
            "(a tag there is already what you pin)"
        )
