"""`promobot init`: a commented starter `.promobot.yaml` from what a repository's files show.

`spots` finds where versions are written (one reader per format), `stages` guesses the order
of environments from their names, `draft` decides what becomes an environment, an app and a
component and what only a note, `emit` writes the YAML. Pure: the files (path → text) in, the
text out; the command line reads the checkout and writes the file.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.starter.draft import Draft, build
from bot.starter.emit import render

__all__ = ["Draft", "build", "render", "starter"]


def starter(files: Mapping[str, str]) -> str:
    """The starter configuration for a repository whose YAML and JSON files are `files`."""
    return render(build(files))
