"""The service: one environment repo, its forge, the engine, the queue and the source pollers.

`promobot serve` and `promobot worker` both build a `Service`; a job (an event, or a
reconcile) runs here inside the repo's lock. Events are hints: every job recomputes from the
environment repo and the forge, so a lost, repeated or reordered event changes nothing.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from bot import events, metrics
from bot.engine import Action, Engine, Published
from bot.errors import PromobotError
from bot.forges import forge_class
from bot.forges.base import Forge
from bot.forges.retry import Policy
from bot.queue import Queue
from bot.settings import Settings
from bot.sources import Sources
from bot.sources.helm import HelmRepository
from bot.sources.oci import OciRegistry

log = logging.getLogger("promobot.service")


def build_forge(settings: Settings) -> Forge:
    cls = forge_class(settings.forge)
    if settings.forge == "local":
        forge: Forge = cls(settings.repo)
        return forge
    if settings.forge == "gitlab":
        assert settings.gitlab_token is not None
        forge = cls(
            settings.repo, token=settings.gitlab_token.get_secret_value(), url=settings.gitlab_url
        )
        return forge
    key = None
    if settings.github_private_key_file is not None:
        try:
            key = settings.github_private_key_file.read_text()
        except OSError as exc:
            raise PromobotError(
                f"PROMOBOT_GITHUB_PRIVATE_KEY_FILE: cannot read {settings.github_private_key_file}:"
                f" {exc.strerror}"
            ) from None
    token = settings.github_token.get_secret_value() if settings.github_token else None
    forge = cls(
        settings.repo,
        token=token,
        app_id=settings.github_app_id,
        private_key=key,
        installation_id=settings.github_installation_id,
        base_url=settings.github_url,
    )
    return forge


class Service:
    def __init__(self, settings: Settings, forge: Forge | None = None) -> None:
        self.settings = settings
        self.forge = forge or build_forge(settings)
        self.engine = Engine(self.forge)
        self.queue = Queue(settings, settings.repo, self.run)
        self._sources: Sources | None = None  # built on the first reconcile
        self._other_forges: dict[str, Forge] = {}
        self._timer: threading.Thread | None = None
        self._stopping = threading.Event()
        self.after_job: list[Callable[[], None]] = []  # e.g. the web layer's relevance cache

    # --- jobs ---------------------------------------------------------------------------------

    def submit_event(self, event: events.Event) -> None:
        self.queue.submit(
            {"id": str(uuid.uuid4()), "kind": "event", "event": event.model_dump(mode="json")}
        )

    def submit_reconcile(self) -> None:
        self.queue.submit({"id": str(uuid.uuid4()), "kind": "reconcile"})

    def run(self, job: dict[str, Any]) -> None:
        kind = job.get("kind", "?")
        started = time.perf_counter()
        outcome = "ok"
        try:
            if kind == "reconcile":
                actions = []
                self.queue.submit({"id": job.get("id"), "kind": "sync", "artifacts": self.poll()})
            elif kind == "sync":
                actions = self.engine.sync([tuple(a) for a in job.get("artifacts", [])])
            else:
                actions = self.handle(events.load(job["event"]))
            for action in actions:
                metrics.ACTIONS.labels(action.outcome).inc()
                log.info(
                    "promotion",
                    extra={
                        "job": job.get("id"),
                        "outcome": action.outcome,
                        "branch": action.branch,
                        "number": action.number,
                    },
                )
        except PromobotError as exc:
            outcome = type(exc).__name__
            log.warning("job failed", extra={"job": job.get("id"), "kind": kind, "error": str(exc)})
            raise
        finally:
            metrics.JOB_SECONDS.labels(kind, outcome).observe(time.perf_counter() - started)
            metrics.QUEUE_DEPTH.set(self.queue.depth())
            for listener in self.after_job:
                listener()

    def handle(self, event: events.Event) -> list[Action]:
        """What an event means for the environment repo; most of it is "recompute"."""
        if isinstance(event, events.Artifact):
            return self.engine.sync([(event.source_key, event.version, event.digest)])
        if isinstance(event, events.Push):
            if event.branch == self.forge.default_branch() and not event.deleted:
                return self.engine.sync()
            return []
        if isinstance(event, events.PullRequestEvent) and event.merged:
            return self.engine.sync()  # a promotion merged: cascade downstream
        return []

    def poll(self) -> list[Published]:
        """The newest version each source selects. Reads only registries and repos, so it runs
        outside the repo's lock; the sync that follows is queued as a job of its own."""
        state = self.engine.state()
        if self._sources is None:
            # light retries: an unreachable registry is polled again at the next interval
            policy = Policy(attempts=2, backoff_max=2.0, rate_limit_max_wait=10.0)
            registry = OciRegistry(retry=policy, timeout=10.0)
            self._sources = Sources(
                registry,
                HelmRepository(registry, retry=policy, timeout=10.0),
                forge=self.forge,
                forge_for=self._forge_for,
            )
        found = self._sources.poll_sources(state.config)  # failures are logged, others go on
        return [(s.key, v, None) for s, v in found.items() if v is not None]

    def reconcile(self) -> list[Action]:
        """Poll every source, recompute, and bring the forge in step — the safety net."""
        return self.engine.sync(self.poll())

    def _forge_for(self, repo: str) -> Forge:
        """A forge for another repo on the same forge (a `git:` source), same credentials."""
        if self.settings.forge == "local" or repo == self.settings.repo:
            return self.forge
        if repo not in self._other_forges:
            self._other_forges[repo] = build_forge(self.settings.model_copy(update={"repo": repo}))
        return self._other_forges[repo]

    # --- running ------------------------------------------------------------------------------

    def start(self) -> None:
        """In-process workers and the reconcile timer (at start, then every interval)."""
        self.queue.start(self.settings.workers)
        self._timer = threading.Thread(target=self._tick, name="reconcile-timer", daemon=True)
        self._timer.start()

    def _tick(self) -> None:
        interval = self.settings.interval.total_seconds()
        while not self._stopping.is_set():
            self.submit_reconcile()
            self._stopping.wait(interval)

    def stop(self) -> None:
        self._stopping.set()
        self.queue.stop()
