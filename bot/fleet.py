"""Many environment repos in one deployment: one `Service` per repo, one queue for all.

Each repo served gets its own context — a `Service`: forge, engine, config, gatekeeper,
runner, caches, its view of the queue (its lock, delivery ids, ledger) and the signing scope of
its name — built when first needed. Nothing is shared between two repos' contexts but the queue
and, for the repos of one GitHub App installation, the rate-limit budget and the pacing of
writes (GitHub counts both per installation).

A webhook delivery is parsed once, by a worker, and routed by the repository its payload names
to that repo's context; a delivery for a repo not served is counted as "not-served" and does
nothing. A registry or CI notification names no repo: every repo whose sources it concerns takes
it. GitHub's `installation` and `installation_repositories` events make the fleet ask GitHub
again which repos each installation has, and a push to a repo that was skipped for want of a
`.promobot.yaml` makes it look again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot import events, intake, metrics, wiring
from bot.discovery import Candidate, Finder, budget_key
from bot.errors import NotFound, PromobotError
from bot.events import EventError
from bot.forges.base import Forge
from bot.pacing import Pacer
from bot.queue import PRIORITY, Queue
from bot.service import Service
from bot.settings import Settings

log = logging.getLogger("promobot.fleet")
RECHECK_SECONDS = 10.0  # a skipped repo's .promobot.yaml is looked for at most this often


@dataclass
class Entry:
    """What the fleet knows of one repo."""

    candidate: Candidate
    named: bool  # named in the settings: served even while its configuration is broken
    served: bool
    context: Service | None = None
    checked: float = 0.0  # when its .promobot.yaml was last looked for (monotonic)


class Fleet:
    """The repos a deployment serves, their contexts and the queue they share."""

    def __init__(
        self,
        settings: Settings,
        *,
        forge_for: Callable[[Settings, Pacer | None], Forge] = wiring.forge,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        finder: Finder | None = None,
        pacer_for: Callable[[Settings, str], Pacer | None] | None = None,
    ) -> None:
        """`pacer_for(settings, budget_key)`: the pacer of a repo's writes (by default one
        on the queue's store, counting the writes of every repo of the installation)."""
        self.settings = settings
        self.queue = Queue(settings, None, self.run)
        self.finder = finder or Finder(settings)
        self.clock = clock
        self._forge_for = forge_for
        self._pacer_for = pacer_for or (lambda s, key: wiring.pacer(s, self.queue, key))
        self._entries: dict[str, Entry] = {}  # by lower-cased name: forges ignore case
        self._lock = threading.RLock()
        self._timer: threading.Thread | None = None
        self._stopping = threading.Event()
        self.after_job: list[Callable[[], None]] = []
        self.on_context: list[Callable[[Service], None]] = []  # the web's overview, say
        self.problems: list[str] = []  # discovery that failed (the repos found stay served)
        self._discovered = 0.0  # when discovery last ran (monotonic)
        self.recheck_seconds = RECHECK_SECONDS
        for name in settings.repo_names:
            self._entries[name.lower()] = Entry(Candidate(name), named=True, served=True)

    # --- which repos ---------------------------------------------------------------------------

    def discover(self) -> None:
        """Ask the forge which repos there are (GitLab groups, GitHub App installations) and
        serve those with a `.promobot.yaml`; a repo that went away is no longer served."""
        if not self.settings.discovers:
            return
        self._discovered = time.monotonic()
        try:
            found = self.finder.candidates()
        except PromobotError as exc:
            self.problems = [str(exc)]
            log.warning("discovery failed", extra={"error": str(exc)})
            return
        self.problems = []
        names = {c.repo.lower() for c in found}
        with self._lock:
            for key, entry in list(self._entries.items()):
                if not entry.named and key not in names:
                    self._drop(key, "gone from its group or installation")
        for candidate in found:
            self._consider(candidate)

    def _consider(self, candidate: Candidate, *, force: bool = False) -> Entry | None:
        """Serve `candidate` if it has a `.promobot.yaml` (looked for at most every
        `self.recheck_seconds`, unless `force`)."""
        key = candidate.repo.lower()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and (entry.named or entry.served):
                return entry
            recent = entry is not None and time.monotonic() - entry.checked < self.recheck_seconds
            if entry is not None and recent and not force:
                return entry
        try:
            has = self.finder.has_config(candidate)
        except PromobotError as exc:
            log.warning("repo not checked", extra={"repo": candidate.repo, "error": str(exc)})
            has = False
        with self._lock:
            entry = Entry(candidate, named=False, served=has, checked=time.monotonic())
            self._entries[key] = entry
        log.info(
            "repo served" if has else "repo skipped",
            extra={
                "repo": candidate.repo,
                "why": "has .promobot.yaml" if has else "no .promobot.yaml",
            },
        )
        return entry

    def _drop(self, key: str, why: str) -> None:
        with self._lock:
            entry = self._entries.pop(key, None)
        if entry is not None and entry.served:
            log.info("repo no longer served", extra={"repo": entry.candidate.repo, "why": why})

    def installation_changed(self, event: events.Installation) -> None:
        """Ask GitHub again which repos installation `event.installation_id` has; serve the
        new ones with a `.promobot.yaml`, drop the ones it lost (all, when it is gone)."""
        ident = event.installation_id
        repos: list[Candidate] = []
        try:
            if event.action not in ("deleted", "suspend"):
                repos = self.finder.installation_repos(ident)
        except NotFound:
            repos = []  # uninstalled: its token can no longer be had
        except PromobotError as exc:
            log.warning("installation not read", extra={"installation": ident, "error": str(exc)})
            return
        names = {c.repo.lower() for c in repos}
        with self._lock:
            for key, entry in list(self._entries.items()):
                if entry.candidate.installation == ident and key not in names and not entry.named:
                    self._drop(key, f"installation {ident} {event.action}")
        for candidate in repos:
            self._consider(candidate, force=candidate.repo in event.repos)

    def _stale(self) -> bool:
        """Whether discovery last ran over `self.recheck_seconds` ago (then: it runs now)."""
        with self._lock:
            if time.monotonic() - self._discovered < self.recheck_seconds:
                return False
            self._discovered = time.monotonic()
            return True

    def served(self) -> list[str]:
        with self._lock:
            return sorted(
                (e.candidate.repo for e in self._entries.values() if e.served), key=str.lower
            )

    def skipped(self) -> list[str]:
        with self._lock:
            return sorted(
                (e.candidate.repo for e in self._entries.values() if not e.served), key=str.lower
            )

    def context(self, repo: str) -> Service | None:
        """The context of `repo`, built on first use; None when the repo is not served."""
        with self._lock:
            entry = self._entries.get(repo.lower())
            if entry is None or not entry.served:
                return None
            if entry.context is None:
                entry.context = self._build(entry.candidate)
                for listener in self.on_context:
                    listener(entry.context)
            return entry.context

    def contexts(self) -> list[Service]:
        return [c for name in self.served() if (c := self.context(name)) is not None]

    def _build(self, candidate: Candidate) -> Service:
        update: dict[str, Any] = {"repo": candidate.repo, "repos": "", "gitlab_groups": ""}
        if candidate.installation is not None:
            update["github_installation_id"] = candidate.installation
        settings = self.settings.model_copy(update=update)
        key = budget_key(self.settings, candidate)
        pacer = self._pacer_for(settings, key)  # the installation's writes, in one count
        service = Service(
            settings,
            forge=self._forge_for(settings, pacer),
            clock=self.clock,
            queue=self.queue.scope(candidate.repo),
            budget_key=key,
            among_others=True,
            pacer=pacer,
        )
        service.after_job.extend(self.after_job)
        return service

    # --- deliveries ----------------------------------------------------------------------------

    def submit_delivery(self, source: str, headers: Mapping[str, str], body: bytes) -> None:
        """A verified webhook delivery, as it came: a worker parses and routes it."""
        self.queue.submit(intake.delivery(source, headers, body), priority=PRIORITY["delivery"])

    def take(self, job: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Parse one delivery and hand each event to the repos it concerns; what became of
        each, as `Intake.take` says it, plus (`not-served`, the repo)."""
        source = str(job["source"])
        body = str(job["body"]).encode("utf-8", errors="surrogateescape")
        try:
            parsed = intake.parse(source, job.get("headers") or {}, body)
        except EventError as exc:
            return [intake.outcome_of(source, "malformed", str(exc))]
        outcomes: list[tuple[str, str]] = []
        for key, event in parsed:
            if isinstance(event, events.Ping | events.Ignored):
                reason = event.reason if isinstance(event, events.Ignored) else "ping"
                outcomes.append(intake.outcome_of(source, "ignored", reason, key))
                continue
            if isinstance(event, events.Installation):
                self.installation_changed(event)
                outcomes.append(intake.outcome_of(source, "queued", event.kind, key))
                continue
            repo = getattr(event, "repo", None)
            if repo is None:  # a registry or CI notification: every repo it may concern
                for context in self.contexts():
                    outcomes.append(context.intake.accept(source, key, event))
                continue
            served = self.context(repo)
            if served is None and isinstance(event, events.Push) and self.settings.discovers:
                served = self._recheck(repo)
            if served is None:
                outcomes.append(intake.outcome_of(source, "not-served", repo, key))
                continue
            outcomes.append(served.intake.accept(source, key, event))
        return outcomes

    def _recheck(self, repo: str) -> Service | None:
        """A push to a repo skipped for want of a `.promobot.yaml`: it may have added one."""
        with self._lock:
            entry = self._entries.get(repo.lower())
        if entry is None:
            return None  # not in any group or installation promobot reaches
        found = self._consider(entry.candidate)
        return self.context(repo) if found is not None and found.served else None

    # --- jobs ----------------------------------------------------------------------------------

    def run(self, job: dict[str, Any]) -> None:
        if job.get("kind") == "delivery":
            try:
                self.take(job)
            finally:
                metrics.QUEUE_DEPTH.set(self.queue.depth())
                for listener in self.after_job:
                    listener()
            return
        repo = str(job.get("repo", ""))
        context = self.context(repo)
        if context is None and self.settings.discovers and self._stale():
            # another process (the one that took an installation event) may know this repo
            self.discover()
            context = self.context(repo)
        if context is None:
            log.info("job dropped", extra={"job": job.get("id"), "repo": repo, "why": "not served"})
            return
        context.run(job)

    def check(self) -> dict[str, list[str]]:
        """Read every served repo once (its configuration and default branch); the problems
        of each repo that cannot be served, as logged. One broken repo stops none other."""
        problems: dict[str, list[str]] = {}
        for context in self.contexts():
            context.intake.relevance.refresh()
            if context.intake.relevance.problems:
                problems[context.settings.repo] = context.intake.relevance.problems
                log.warning(
                    "repo misconfigured",
                    extra={
                        "repo": context.settings.repo,
                        "error": context.intake.relevance.problems[0],
                    },
                )
        metrics.REPOS.labels("served").set(len(self.served()) - len(problems))
        metrics.REPOS.labels("misconfigured").set(len(problems))
        metrics.REPOS.labels("skipped").set(len(self.skipped()))
        return problems

    # --- running ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Workers in this process and the timer: discovery and every repo's reconcile, at
        start and then every interval."""
        self.queue.start(self.settings.workers)
        self._timer = threading.Thread(target=self._tick, name="reconcile-timer", daemon=True)
        self._timer.start()

    def _tick(self) -> None:
        interval = self.settings.interval.total_seconds()
        first = True
        while not self._stopping.is_set():
            if not first:
                self.discover()  # the first was done before the fleet was started
            first = False
            for context in self.contexts():
                context.submit_reconcile()
            self._stopping.wait(interval)

    def stop(self) -> None:
        self._stopping.set()
        self.queue.stop()
