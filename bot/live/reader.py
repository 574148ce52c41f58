"""The one door through which promobot learns what an environment's cluster runs.

An environment's `live:` names its source; `LiveReader.read` asks that source about some of
its apps and answers `Live` per app (an app the source says nothing of is left out: unknown).
Argo CD (one list call) and Fleet (one list call per namespace) are read for every
Application or Bundle the configuration names, and that answer serves every question for
`ARGOCD_FRESH` seconds, so evaluating a batch of hundreds of apps, or many PRs in one
reconcile, costs one call.

An environment whose `live:` also names a `rollout:` gets, after its source answered, each
app's Argo Rollouts Rollout or Flagger Canary laid over that answer (`bot.live.rollouts`), read
and shared the same way (one list per context, kind and namespace, or one cluster-wide list).
A rollout that cannot be read leaves the source's answer with "rollout unknown: …" in its
message, and the app not settled: a gate never passes on missing rollout information.

A report that names its commit by an abbreviation (Flux of 2020: `master/a1afe267b`) is
resolved against the env repo: the one commit among the default branch's newest `HISTORY`
whose SHA starts with it (one `log` call per head, kept until the head moves). None or several
leave it unresolved, shown as such: an abbreviation is never guessed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol, TypeVar

from bot.composition import State
from bot.errors import PromobotError
from bot.events import LiveReport
from bot.forges.base import Forge
from bot.live import flux, objects, rollouts, statuses
from bot.live.argocd import ArgoCD, wanted
from bot.live.rancher_fleet import Fleet
from bot.live.rancher_fleet import wanted as fleet_wanted
from bot.live.rollouts import Ask, Found, Rollouts
from bot.live.state import Live
from bot.settings import Settings

log = logging.getLogger(__name__)

ARGOCD_FRESH = 10.0  # seconds one poll of Argo CD answers for
TELL_AFTER = 2.0  # seconds a watched change waits for others to be told with it
HISTORY = 100  # the default branch's newest commits an abbreviated SHA is looked for among

K = TypeVar("K", str, Ask)
V = TypeVar("V", Live, Found)


class Store(Protocol):
    """The queue's store, as a repo sees it (`bot.queue.RepoQueue`)."""

    def remember(self, name: str, value: str) -> None: ...

    def recall(self, name: str) -> str | None: ...


def _flux_key(obj: str) -> str:
    return f"live.flux.{obj}"


def resolve(abbreviation: str, commits: Iterable[str]) -> str | None:
    """The one commit of `commits` whose SHA starts with `abbreviation`; None when none does
    or several do (git calls that ambiguous, and so does promobot: it does not guess)."""
    found = {sha for sha in commits if sha.startswith(abbreviation)}
    return found.pop() if len(found) == 1 else None


class LiveReader:
    def __init__(
        self,
        forge: Forge,
        settings: Settings,
        clock: Callable[[], datetime],
        store: Store | None = None,
    ) -> None:
        self.forge = forge
        self.clock = clock
        self.store = store  # where pushed reports (Flux's) are kept, for every process
        self.argocd: ArgoCD | None = None
        if settings.argocd_url and settings.argocd_token:
            self.argocd = ArgoCD(
                settings.argocd_url,
                settings.argocd_token.get_secret_value(),
                selector=settings.argocd_selector,
                projects=settings.argocd_project_names,
            )
        self.fleet: Fleet | None = None
        if settings.fleet_kubeconfig:
            self.fleet = Fleet(
                str(settings.fleet_kubeconfig),
                settings.fleet_context or "",
                on_change=lambda key: self._changed("fleet", key),
            )
        # the clusters of PROMOBOT_KUBECONFIG, for `live: {rollout: …}` (unset: unknown, why)
        self.rollouts = Rollouts(
            settings.kubeconfig, on_change=lambda key: self._changed("rollout", key)
        )
        # by source ("argocd", "fleet", "rollouts"): when polled, for which names, what it said
        self._polled: dict[str, tuple[float, frozenset[Any], Mapping[Any, Any]]] = {}
        self._lock = threading.Lock()  # guards `_polled` and `_polling`
        # one lock per polled source: a cluster slow to answer holds up only its own readers
        self._polling: dict[str, threading.Lock] = {}
        # told, a moment after a watch heard them, of the objects that changed: the source
        # ("fleet", "rollout") and their `namespace/name`s (the service wakes their PRs)
        self.on_change: Callable[[str, tuple[str, ...]], None] | None = None
        self._changes: dict[str, set[str]] = {}
        self._telling: threading.Timer | None = None
        self._changes_lock = threading.Lock()
        # the default branch's head, and its newest commits (abbreviations are resolved in them)
        self._history: tuple[str, tuple[str, ...]] | None = None

    def read(self, state: State, env: str, apps: Iterable[str]) -> dict[str, Live]:
        source = state.config.environments[env].live
        if source is None:
            return {}
        lives = self._read_source(state, env, list(apps))
        if source.rollout is None or not lives:
            return lives
        asks = {app: rollouts.ask(source.rollout, app, env) for app in lives}
        found = self._poll("rollouts", rollouts.wanted(state.config), self._poll_rollouts)
        return {
            app: rollouts.overlay(live, found.get(asks[app]) or Found.unknown("not read"))
            for app, live in lives.items()
        }

    def _read_source(self, state: State, env: str, apps: list[str]) -> dict[str, Live]:
        """What the environment's one source says of `apps` (an app it says nothing of is
        left out)."""
        source = state.config.environments[env].live
        assert source is not None
        if source.status is not None:
            return statuses.read(self.forge, state, env, apps, self.clock)
        if source.flux is not None:
            found: dict[str, Live] = {}
            store = self.store
            if store is None:  # no store to keep Flux's reports in: nothing heard
                return found
            for app in apps:
                kept = store.recall(_flux_key(objects.name(source, app, env)))
                if kept is not None:
                    found[app] = self._resolved(state, Live.from_json(json.loads(kept)))
            return found
        if source.argocd is not None and self.argocd is not None:
            argocd = self.argocd
            lives = self._poll(
                "argocd", wanted(state.config), lambda names, now: argocd.poll(names, now).lives
            )
        elif source.fleet is not None and self.fleet is not None:
            fleet = self.fleet
            lives = self._poll(
                "fleet", fleet_wanted(state.config), lambda names, now: fleet.poll(names, now).lives
            )
        else:
            return {}  # no instance configured: every app unknown (the gate says so)
        named = {app: objects.name(source, app, env) for app in apps}
        return {app: lives[name] for app, name in named.items() if name in lives}

    def _resolved(self, state: State, live: Live) -> Live:
        """`live` with its abbreviated commit resolved, when the env repo has exactly one."""
        if not live.unresolved or live.revision is not None:
            return live
        sha = resolve(live.unresolved, self._newest(state.snapshot.commit))
        return replace(live, revision=sha, unresolved="") if sha is not None else live

    def _newest(self, head: str) -> tuple[str, ...]:
        with self._lock:
            kept = self._history
        if kept is None or kept[0] != head:
            try:
                kept = (head, tuple(c.sha for c in self.forge.log(head, [], HISTORY)))
            except PromobotError as exc:  # the forge away: unresolved until it answers
                log.warning("history unavailable", extra={"error": str(exc)})
                return ()
            with self._lock:
                self._history = kept
        return kept[1]

    def _poll_rollouts(self, asks: list[Ask], now: datetime) -> dict[Ask, Found]:
        return self.rollouts.poll(asks, now).found

    def heard(self, report: LiveReport) -> None:
        """A notification: Flux's state is kept (its first `since` while it repeats itself);
        Argo CD's, and a watch's, only a hint to read again."""
        if report.source != "flux":
            self.refresh()
            return
        if self.store is None or report.body is None:
            return
        event = flux.parse(report.body.encode())
        key = _flux_key(str(event.involved))
        kept = self.store.recall(key)
        previous = Live.from_json(json.loads(kept)) if kept is not None else None
        current = flux.carry_since(previous, flux.live(event, self.clock()))
        self.store.remember(key, json.dumps(current.to_json()))

    def _changed(self, source: str, key: str) -> None:
        """A watch heard an object change (in its own thread). Changes are told together
        `TELL_AFTER` seconds after the first: a rollout rewrites its status many times as it
        goes, and each telling costs the PRs it wakes an evaluation."""
        with self._changes_lock:
            self._changes.setdefault(source, set()).add(key)
            if self._telling is not None:
                return
            self._telling = threading.Timer(TELL_AFTER, self._tell)
            self._telling.daemon = True
            self._telling.start()

    def _tell(self) -> None:
        with self._changes_lock:
            changes, self._changes, self._telling = self._changes, {}, None
        if self.on_change is None:
            return
        for source, keys in sorted(changes.items()):
            try:
                self.on_change(source, tuple(sorted(keys)))
            except Exception:  # the queue away: the reconcile still reads what the watch keeps
                log.exception("a watched change could not be told", extra={"source": source})

    def refresh(self) -> None:
        """Forget the last polls: the next question asks the sources again (a notification
        said something changed)."""
        with self._lock:
            self._polled.clear()

    def _poll(
        self,
        kind: str,
        wanted: Iterable[K],
        poll: Callable[[list[K], datetime], Mapping[K, V]],
    ) -> Mapping[K, V]:
        """Every object the configuration names in a polled source (one list call, or one per
        namespace), the answer shared for `ARGOCD_FRESH` seconds."""
        names = frozenset(wanted)
        with self._lock:
            polling = self._polling.setdefault(kind, threading.Lock())
        with polling:  # one poll of a source at a time; the others' readers go on
            with self._lock:
                polled = self._polled.get(kind)
            if polled is None or polled[1] != names or time.monotonic() - polled[0] > ARGOCD_FRESH:
                polled = (time.monotonic(), names, poll(sorted(names), self.clock()))
                with self._lock:
                    self._polled[kind] = polled
            return polled[2]
