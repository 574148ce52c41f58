"""The one door through which promobot learns what an environment's cluster runs.

An environment's `live:` names its source; `LiveReader.read` asks that source about some of
its apps and answers `Live` per app (an app the source says nothing of is left out: unknown).
Argo CD is read with one list call per poll for every Application the configuration names,
and that answer serves every question for `ARGOCD_FRESH` seconds, so evaluating a batch of
hundreds of apps, or many PRs in one reconcile, costs one call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime

from bot.engine import State
from bot.forges.base import Forge
from bot.live import statuses
from bot.live.argocd import ArgoCD, wanted
from bot.live.state import Live
from bot.settings import Settings

ARGOCD_FRESH = 10.0  # seconds one poll of Argo CD answers for


class LiveReader:
    def __init__(self, forge: Forge, settings: Settings, clock: Callable[[], datetime]) -> None:
        self.forge = forge
        self.clock = clock
        self.argocd: ArgoCD | None = None
        if settings.argocd_url and settings.argocd_token:
            self.argocd = ArgoCD(
                settings.argocd_url,
                settings.argocd_token.get_secret_value(),
                selector=settings.argocd_selector,
                projects=settings.argocd_project_names,
            )
        self._polled: tuple[float, frozenset[str], dict[str, Live]] | None = None
        self._lock = threading.Lock()

    def read(self, state: State, env: str, apps: Iterable[str]) -> dict[str, Live]:
        source = state.config.environments[env].live
        if source is None:
            return {}
        apps = list(apps)
        if source.status is not None:
            return statuses.read(self.forge, state, env, apps, self.clock)
        if source.argocd is not None:
            lives = self._argocd(state)
            named = {app: source.name(app, env) for app in apps}
            return {app: lives[name] for app, name in named.items() if name in lives}
        return {}  # flux and fleet: validate refuses a healthy: gate on them for now

    def refresh(self) -> None:
        """Forget the last poll: the next question asks the sources again (a notification
        said something changed)."""
        with self._lock:
            self._polled = None

    def _argocd(self, state: State) -> dict[str, Live]:
        """Every Application the configuration names, from one poll shared for a while."""
        if self.argocd is None:
            return {}  # no instance configured: every app unknown (the gate says so)
        names = frozenset(wanted(state.config))
        with self._lock:
            polled = self._polled
            if polled is None or polled[1] != names or time.monotonic() - polled[0] > ARGOCD_FRESH:
                poll = self.argocd.poll(sorted(names), self.clock())
                polled = (time.monotonic(), names, poll.lives)
                self._polled = polled
            return polled[2]
