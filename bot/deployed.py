"""The versions a cluster runs: what git asked for at the env-repo commit the cluster runs.

A live source says which commit of the env repo a cluster runs (Argo CD's sync revision, a
Flux event's revision, Fleet's commit, a status's SHA); the versions are read from the repo
at that commit, with the app's configuration of today (where its versions are read may have
moved since). The healthy gate, verification, the PR body's line and the overview all ask
here: the first three for one app, the overview for every app an environment runs. A commit
never changes, so each answer is kept per commit, app, environment and app configuration, and
the apps asked for together are read from one snapshot.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from bot import composition
from bot.composition import State
from bot.errors import PromobotError
from bot.forges.base import Forge

KEPT = 20_000  # (commit, app, environment) answers kept, oldest dropped first
Pair = tuple[str, str]  # (app, env)


class Deployed:
    def __init__(self, forge: Forge) -> None:
        self.forge = forge
        self._kept: OrderedDict[tuple[str, ...], dict[str, str] | None] = OrderedDict()
        # (head commit, app) → the app's configuration as text: dumped once per head
        self._configured: tuple[str, dict[str, str]] = ("", {})
        self._lock = threading.Lock()  # the web's overview and the workers ask at once

    def versions(self, state: State, app: str, env: str, revision: str) -> dict[str, str] | None:
        """The app's versions in `env` at `revision`; None where the commit cannot be read
        (a force-push took it) or the app has none there."""
        return self.at(state, revision, [(app, env)])[(app, env)]

    def at(
        self, state: State, revision: str, pairs: Iterable[Pair]
    ) -> dict[Pair, dict[str, str] | None]:
        """The versions of each (app, env) of `pairs` at `revision`."""
        wanted = list(dict.fromkeys(pairs))
        if revision == state.snapshot.commit:
            return {pair: _components(state.status, pair) for pair in wanted}
        with self._lock:
            keys = {pair: (revision, *pair, self._configured_as(state, pair[0])) for pair in wanted}
            found = {pair: self._kept[key] for pair, key in keys.items() if key in self._kept}
        missing = [pair for pair in wanted if pair not in found]
        if missing:
            apps = list(dict.fromkeys(app for app, _ in missing))
            envs = list(dict.fromkeys(env for _, env in missing))
            try:
                snapshot = self.forge.snapshot(revision)
                snapshot.prefetch(composition.required_paths(state.config, apps))
                status = composition.status(state.config, snapshot, apps, envs)
            except PromobotError:  # a commit the repo does not have (a force-push): unknown
                return {pair: found.get(pair) for pair in wanted}
            with self._lock:
                for pair in missing:
                    found[pair] = self._kept[keys[pair]] = _components(status, pair)
                while len(self._kept) > KEPT:
                    self._kept.popitem(last=False)
        return {pair: found[pair] for pair in wanted}

    def _configured_as(self, state: State, app: str) -> str:
        head, dumped = self._configured
        if head != state.snapshot.commit:
            head, dumped = state.snapshot.commit, {}
            self._configured = (head, dumped)
        if app not in dumped:
            configured = state.config.apps.get(app)
            dumped[app] = configured.model_dump_json() if configured is not None else ""
        return dumped[app]


def _components(status: composition.Status, pair: Pair) -> dict[str, str] | None:
    found = status.get(*pair)
    return dict(found.components) if found is not None else None
