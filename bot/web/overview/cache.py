"""`Overview`: the builders' I/O edge and their cache (see the package's docstring)."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from bot import delivery, metrics
from bot.composition import Commit, HistoryEntry, Snapshot, State
from bot.deployed import Deployed
from bot.engine import LABEL, Engine
from bot.errors import PromobotError
from bot.forges.base import Forge
from bot.live.reader import LiveReader
from bot.live.state import Live
from bot.manifests.model import Sheet
from bot.web.overview.history import (
    EnvEntry,
    app_history,
    covering,
    delivery_change,
    env_history,
    env_paths,
)
from bot.web.overview.matrix import Matrix, build_matrix
from bot.web.overview.promotions import OpenPromotion, open_promotion

log = logging.getLogger("promobot.overview")

HISTORY_LIMIT = 20  # commits read per history: each costs a snapshot (a tarball) once per head
HEAD_TTL = 10.0  # seconds; the default branch's head is re-checked at most this often
PR_TTL = 300.0  # seconds; open PRs are re-read at least this often even without events
LIVE_TTL = 10.0  # seconds; what clusters run is asked again at most this often

T = TypeVar("T")


class Overview:
    """Reads what the pages show, each thing as seldom as it can change."""

    def __init__(
        self,
        engine: Engine,
        *,
        live: LiveReader | None = None,
        deployed: Deployed | None = None,
        repo: str = "",
        head_ttl: float = HEAD_TTL,
        pr_ttl: float = PR_TTL,
        history_limit: int = HISTORY_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        inventory: Callable[[], Sheet | None] | None = None,
    ) -> None:
        self.engine = engine
        # what each cell renders to, as far as rendering got (None: this promobot renders none)
        self.inventory = inventory
        self.forge: Forge = engine.forge
        self.live = live
        # the versions at the commits clusters run: the gatekeeper's, when it has one here
        self.deployed = deployed or Deployed(self.forge)
        self.repo = repo  # what metrics call it (bot.web.pages.label)
        self.head_ttl = head_ttl
        self.pr_ttl = pr_ttl
        self.history_limit = history_limit
        self.clock = clock
        # one reader per kind of thing at a time, so two first views do not download twice
        self._state_lock = threading.Lock()
        self._pr_lock = threading.Lock()
        self._history_lock = threading.Lock()
        self._state: tuple[float, State] | None = None  # when the head was last checked
        self._prs: tuple[float, int, tuple[OpenPromotion, ...]] | None = None
        self._generation = 0
        self._matrix: tuple[tuple[str, int, int], Matrix] | None = None
        self._histories: OrderedDict[tuple[str, str, str], Any] = OrderedDict()

    def invalidate(self) -> None:
        """Something happened that may have moved the head or changed the open promotions."""
        self._state = None
        self._prs = None

    def recheck_head(self) -> None:
        """The next view asks the forge for the head again (its last look is too old)."""
        self._state = None

    def state(self) -> State:
        """The repo at the default branch's head; read once per commit (`Engine.state()`), and
        the head itself looked up at most once per `head_ttl` between events."""
        cached = self._state
        if cached is not None and self.clock() - cached[0] < self.head_ttl:
            return cached[1]
        with self._state_lock:
            cached = self._state
            if cached is not None and self.clock() - cached[0] < self.head_ttl:
                return cached[1]
            checked = self.clock()
            state = self.engine.state()
            self._state = (checked, state)
            return state

    def promotions(self) -> tuple[tuple[OpenPromotion, ...], int]:
        """Open promotion PRs with their gates, and a number that changes when they are re-read."""
        cached = self._prs
        if cached is not None and self.clock() - cached[0] < self.pr_ttl:
            return cached[2], cached[1]
        with self._pr_lock:
            cached = self._prs
            if cached is not None and self.clock() - cached[0] < self.pr_ttl:
                return cached[2], cached[1]
            started = self.clock()
            found = [open_promotion(pr, self.engine) for pr in self.forge.list_prs(label=LABEL)]
            prs = tuple(sorted((p for p in found if p is not None), key=lambda p: p.number))
            self._generation += 1
            self._prs = (started, self._generation, prs)
            return prs, self._generation

    def sheet(self) -> Sheet | None:
        """The rendered cells as they stand (the renderer keeps them: nothing is read here);
        None before anything is rendered, or where nothing renders."""
        return self.inventory() if self.inventory is not None else None

    def matrix(self, state: State) -> Matrix:
        prs, generation = self.promotions()
        watched = [e for e, env in state.config.environments.items() if env.live is not None]
        # a cluster changes without an event here: its state is asked again every LIVE_TTL
        epoch = int(self.clock() // LIVE_TTL) if watched and self.live is not None else 0
        key = (state.snapshot.commit, generation, epoch)
        cached = self._matrix
        if cached is not None and cached[0] == key:
            return cached[1]
        lives, running = self._clusters(state, watched)
        held = {}
        if self.engine.holds is not None:
            for env in watched:
                why = self.engine.holds(env)
                if why is not None:
                    held[env] = why
        built = build_matrix(state.config, state.status, prs, lives, running, held)
        self._matrix = (key, built)
        return built

    def _clusters(
        self, state: State, watched: Sequence[str]
    ) -> tuple[dict[tuple[str, str], Live], dict[tuple[str, str], Mapping[str, str]]]:
        """What each watched environment's cluster reports, and the versions at the commit it
        runs (the apps running one commit read together: clusters mostly run the same few)."""
        lives: dict[tuple[str, str], Live] = {}
        if self.live is None:
            return lives, {}
        at: dict[str, list[tuple[str, str]]] = {}  # commit → the (app, env) pairs running it
        for env in watched:
            apps = [a for a in state.config.apps if env in state.config.app_environments(a)]
            try:
                found = self.live.read(state, env, apps)
            except PromobotError as exc:  # that environment shows unknown; the rest goes on
                log.warning("live state unavailable", extra={"env": env, "error": str(exc)})
                continue
            for app, live in found.items():
                lives[(app, env)] = live
                if live.revision is not None:
                    at.setdefault(live.revision, []).append((app, env))
        running: dict[tuple[str, str], Mapping[str, str]] = {}
        for commit, pairs in at.items():
            for pair, versions in self.deployed.at(state, commit, pairs).items():
                if versions is not None:
                    running[pair] = versions
        return lives, running

    def env_history(self, state: State, env: str) -> list[EnvEntry]:
        return self._env_log(state, env)[0]

    def _env_log(self, state: State, env: str) -> tuple[list[EnvEntry], datetime | None]:
        """The environment's history, and the time of the oldest commit read when the log was
        cut at the limit (what is older is not known)."""
        config = state.config

        def compute() -> tuple[list[EnvEntry], datetime | None]:
            paths = [
                p
                for app in config.apps
                if env in config.app_environments(app)
                for p in env_paths(config, app, env)
            ]
            commits, cut = self._commits(state.snapshot.commit, paths)
            oldest: list[datetime] = []

            def noted() -> Iterator[tuple[Commit, Snapshot]]:
                for commit, snapshot in commits:
                    if not oldest:
                        oldest.append(commit.time)
                    yield commit, snapshot

            entries = env_history(config, env, noted(), baseline=cut)
            return entries, oldest[0] if cut and oldest else None

        return self._cached(state, "env", env, compute)

    def delivery(
        self, state: State, now: datetime, window: timedelta = delivery.WINDOW
    ) -> delivery.Report:
        """Delivery metrics from the histories the environment pages read (and cache): no
        commit more. The gauges follow the default window's figures."""
        config = state.config
        logs = {}
        for env in config.order:
            entries, since = self._env_log(state, env)
            logs[env] = delivery.Log(tuple(map(delivery_change, entries)), since)
        upstreams = {e: config.environments[e].upstream for e in config.order}
        report = delivery.measure(config.order, upstreams, logs, now, window)
        if window == delivery.WINDOW:
            for figures in report.environments:
                lead = figures.lead_time.median if figures.lead_time is not None else None
                for gauge, value in (
                    (metrics.DELIVERY_PER_DAY, figures.per_day),
                    (metrics.DELIVERY_LEAD_TIME, lead),
                    (metrics.DELIVERY_FAILURE_RATE, figures.change_failure_rate),
                    (metrics.DELIVERY_RESTORE, figures.restore.median),
                ):
                    # nothing to measure is no sample, not a zero that reads as instant
                    if value is None:
                        gauge.remove(self.repo, figures.env)
                    else:
                        gauge.labels(self.repo, figures.env).set(value)
        return report

    def app_history(self, state: State, app: str) -> dict[str, list[HistoryEntry]]:
        config = state.config

        def compute() -> dict[str, list[HistoryEntry]]:
            paths = [p for env in config.app_environments(app) for p in env_paths(config, app, env)]
            commits, _ = self._commits(state.snapshot.commit, paths)
            return app_history(config, app, list(commits))

        return self._cached(state, "app", app, compute)

    def _commits(
        self, ref: str, paths: Sequence[str]
    ) -> tuple[Iterator[tuple[Commit, Snapshot]], bool]:
        """The newest commits that touched `paths` (oldest first), each with its snapshot read as
        it is needed; and whether the log was cut at the limit."""
        log = self.forge.log(ref, covering(paths), self.history_limit + 1) if paths else []
        cut = len(log) > self.history_limit

        def snapshots() -> Iterator[tuple[Commit, Snapshot]]:
            for commit in reversed(log):
                yield commit, self.forge.snapshot(commit.sha)

        return snapshots(), cut

    def _cached(self, state: State, kind: str, name: str, compute: Callable[[], T]) -> T:
        key = (state.snapshot.commit, kind, name)
        with self._history_lock:
            if key in self._histories:
                self._histories.move_to_end(key)
                return self._histories[key]  # type: ignore[no-any-return]
            value = compute()
            for old in [k for k in self._histories if k[0] != key[0]]:  # the head moved on
                del self._histories[old]
            self._histories[key] = value
            while len(self._histories) > 64:
                self._histories.popitem(last=False)
            return value
