"""Every forge by name: `FORGES` names each implementation of `bot.forges.base.Forge` (a test
fails if a forge is missing from it). Imports are lazy so a command on a local checkout never
loads the GitHub and GitLab client libraries.
"""

from __future__ import annotations

import importlib
from typing import Any

FORGES = {
    "github": "bot.forges.github:GitHubForge",
    "gitlab": "bot.forges.gitlab:GitLabForge",
    "local": "bot.forges.local:LocalForge",
}


def forge_class(name: str) -> Any:
    """The class of a forge by its name in `PROMOBOT_FORGE`."""
    if name not in FORGES:
        raise KeyError(f"unknown forge {name!r}; use one of {', '.join(FORGES)}")
    module, _, attr = FORGES[name].partition(":")
    return getattr(importlib.import_module(module), attr)
