"""The service: one environment repo, its forge, the engine, the queue and the source pollers.

`promobot serve` and `promobot worker` build a `Service` for a repo served alone, and a
`bot.fleet.Fleet` of them — one per repo, sharing one queue — for several; a job (an event, or
a reconcile) runs here inside the repo's lock. Events are hints: every job recomputes from the
environment repo and the forge, so a lost, repeated or reordered event changes nothing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import audit, budget, events, intake, metrics, notify, wiring
from bot.changelog import online
from bot.config import Config, parse_duration
from bot.engine import LABEL, Action, Engine, Published, isolated
from bot.errors import Paced, PromobotError, RateLimited
from bot.forges.base import Forge, PullRequest
from bot.forges.local import LocalForge
from bot.gatekeeper import STATUS, Gatekeeper
from bot.impacts import Impacts
from bot.intake import Intake, Relevance
from bot.live import objects
from bot.live.reader import LiveReader
from bot.manifests.background import Background
from bot.manifests.store import SharedSheets
from bot.pacing import Pacer
from bot.planner import Promotion
from bot.queue import PRIORITY, Queue, RepoQueue
from bot.runner import Runner
from bot.settings import Settings
from bot.sources import Sources, distinct_sources
from bot.sources.spread import Spread
from bot.verify import Verifier

log = logging.getLogger("promobot.service")


HEARD = "heard."  # + a source key: when a notification last brought its version (Unix time)
BUDGET = "promobot:budget:"  # + a budget key: the freshest word on it, in the queue's store
SPENDS = {
    "event": "gates",
    "evaluate": "gates",
    "verify": "gates",
    "sync": "sync",
    "reconcile": "reconcile",
}


def _wants_sync(event: events.Event) -> bool:
    if isinstance(event, events.Artifact):
        return True
    if isinstance(event, events.Push):
        return not event.deleted and event.branch is not None  # intake kept default-branch ones
    return isinstance(event, events.PullRequestEvent) and event.merged


class Service:
    def __init__(
        self,
        settings: Settings,
        forge: Forge | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        queue: RepoQueue | None = None,
        budget_key: str | None = None,
        among_others: bool = False,
        pacer: Pacer | None = None,
    ) -> None:
        """`queue`: this repo's view of a queue shared with other repos (a `Fleet`'s); by
        default the repo has a queue of its own. `budget_key` names the rate limit the repo
        spends (its installation's or token's; by default the forge kind's). `pacer`: the
        one `forge` writes through, if any; without a forge, one is built on the queue's
        store, so every process serving the installation paces against one count."""
        self.settings = settings
        self.clock = clock
        self.queue = queue or Queue(settings, settings.repo, self.run).scope(settings.repo)
        if forge is None:
            pacer = pacer or wiring.pacer(settings, self.queue.queue, budget_key or settings.forge)
            forge = wiring.forge(settings, pacer)
        self.forge = forge
        self.pacer = pacer
        self.budget_key = budget_key or self.forge.name
        signer = wiring.signer(settings, self.forge, among_others=among_others)
        self.engine = Engine(self.forge, signer)
        self.live = LiveReader(self.forge, settings, clock)  # its store: the queue, below
        self.gatekeeper = Gatekeeper(
            self.engine, clock, wake=self.submit_evaluation, live=self.live
        )
        self.engine.preview = self.gatekeeper.preview
        self.engine.window = lambda key, seconds: self.queue.window(
            key, seconds, self.clock().timestamp()
        )
        # one registry client for the pollers, the changelogs and the charts: tokens and what
        # cannot change are asked once for all three
        self.registry = wiring.registry()
        self.engine.changelogs = online.for_service(
            settings, self.forge, self.queue, wiring.forge, self.registry
        )
        self.live.store = self.queue
        self.live.on_change = self._watched_change
        # the audit log: the data dir's file, the queue's store, and the notifications it drives
        self.record = audit.Recorder(
            settings.repo,
            [
                audit.JsonLines(settings.data_dir / audit.FILENAME),
                notify.Sink(self._config, self._submit_notification),
            ],
            store=self.queue,
            clock=clock,
        )
        self.verifier = Verifier(
            self.engine, self.gatekeeper, self.live, self.queue, self.record, clock, self._wake
        )
        self.engine.holds = self.verifier.holds
        self.engine.refused = self.verifier.refused
        self.gatekeeper.on_merge = self.verifier.watch_merge
        self.notifier = notify.Notifier(
            {n: url.get_secret_value() for n, url in settings.notify_target_urls.items()},
            claim=self.queue.claim,
            timeout=settings.notify_seconds,
        )
        self.engine.on_action = self._recorded_action
        self.gatekeeper.record = self.record
        self.intake = Intake(
            Relevance(settings.repo, self.forge, self.engine),
            self.queue.seen,
            lambda event, key: self.submit_event(event, delivery=key),
        )
        self.runner = Runner(
            self.engine, self.gatekeeper, cascade=self.sync, claim=self.queue.claim
        )
        self.runner.record = self.record
        self._sources: Sources | None = None  # built on the first reconcile
        every = settings.interval.total_seconds()
        self.spread = Spread(every, parse_duration(settings.poll_slowest).total_seconds())
        self._other_forges: dict[str, Forge] = {}
        self._timer: threading.Thread | None = None
        self._stopping = threading.Event()
        self.after_job: list[Callable[[], None]] = []  # e.g. the overview's cache
        # what each environment is made of, rendered in a thread of its own once started
        self.rendering: Background | None = None
        self.impacts: Impacts | None = None
        if settings.render:
            self.rendering = Background(
                wiring.renderer(settings, self._forge_for, shared=self.registry),
                settings.repo,
                sheets=SharedSheets(self.queue),  # web processes read what workers rendered
            )
            self.runner.contents = self.rendering.sheet
            # what each promotion changes in the cluster: its body, its labels, its gates
            impacts = Impacts(self.rendering.renderer, self.forge, lambda: self.engine.latest)
            self.impacts = impacts
            self.engine.impact = impacts.of_changes
            self.engine.impact_known = impacts.known
            if settings.overview_url and not among_others:  # one repo: its pages at the root
                self.engine.diff_link = settings.overview_url.rstrip("/")
            self.gatekeeper.impact = lambda _state, promotion: impacts.classes(promotion)
            self.runner.diffs = impacts.of
        # what metrics call the repo: a local checkout by its folder's name, never its path
        self.label = (
            Path(settings.repo).resolve().name
            if isinstance(self.forge, LocalForge)
            else settings.repo
        )

    # --- jobs ---------------------------------------------------------------------------------

    def submit_delivery(self, source: str, headers: Mapping[str, str], body: bytes) -> None:
        """A verified webhook delivery, as it came: the worker parses and filters it."""
        self.queue.submit(intake.delivery(source, headers, body), priority=PRIORITY["delivery"])

    def submit_event(self, event: events.Event, delivery: str | None = None) -> None:
        """Queue the work an event needs. Whatever asks for a sync (a push to the default
        branch, a merge, a new version) only records the request: one sync serves every
        request made before it begins, so a burst of pushes costs one or two syncs."""
        if isinstance(event, events.PullRequestEvent) and event.merged and self.verifier.wanted():
            with isolated("verification not started", number=event.number):
                pr = self.forge.get_pr(event.number)
                promotion = self.engine.promotion_of(pr)
                if promotion is not None:
                    self.verifier.watch_merge(event.number, promotion)
        if isinstance(event, events.Artifact):  # its version is here: no poll needed for it
            self.queue.remember(f"{HEARD}{event.source_key}", str(time.time()))
        if _wants_sync(event):
            self.submit_sync(
                [(event.source_key, event.version, event.digest)]
                if isinstance(event, events.Artifact)
                else [],
                delivery=delivery,
            )
            return
        kind = "command" if isinstance(event, events.CommentEvent) else "gates"
        job = {"id": str(uuid.uuid4()), "kind": "event", "event": event.model_dump(mode="json")}
        if delivery:
            job["delivery"] = delivery  # the audit records of the job name it
        self.queue.submit(job, priority=PRIORITY[kind])

    def submit_sync(
        self,
        artifacts: Sequence[Published] = (),
        *,
        review: bool = False,
        after: float = 0,
        delivery: str | None = None,
    ) -> None:
        """Ask for a sync (with newly published versions); `review` also re-evaluates the open
        PRs afterwards, as the reconcile does; `after` seconds from now at the earliest."""
        items: list[str | None] = [json.dumps(artifact) for artifact in artifacts]
        ticket = 0
        for item in items or [None]:
            ticket = self.queue.request("sync", item)
        job: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "kind": "sync",
            "ticket": ticket,
            "review": review,
        }
        if delivery:  # a coalesced sync serves others' requests too: it names the one that asked
            job["delivery"] = delivery
        delay = max(self.settings.coalesce_seconds, after)  # pushes moments apart: one sync
        self.queue.submit(job, delay=delay, priority=PRIORITY["sync"])

    def submit_evaluation(self, number: int, at: datetime) -> None:
        """Evaluate PR `number` again at `at` (a soak timer or a freeze window ends then)."""
        delay = max((at - self.clock()).total_seconds(), 0) + 1  # a second late, never early
        job = {"id": str(uuid.uuid4()), "kind": "evaluate", "number": number}
        self.queue.submit(job, delay=delay, priority=PRIORITY["gates"])

    def submit_reconcile(self) -> None:
        job = {"id": str(uuid.uuid4()), "kind": "reconcile"}
        self.queue.submit(job, priority=PRIORITY["reconcile"])

    def run(self, job: dict[str, Any]) -> None:
        kind = job.get("kind", "?")
        started = time.perf_counter()
        outcome = "ok"
        counted = kind != "notify" and not isinstance(self.forge, LocalForge)  # no rate limit
        heard = self._adopt_budget() if counted else None
        try:
            with (
                # the forge calls spend this repo's budget, and its writes pace as `kind`'s
                budget.spending(self.budget_key, self._spends(job)),
                audit.context(job=job.get("id"), delivery=job.get("delivery")),
            ):
                actions = self._run(job)
            for action in actions:
                metrics.ACTIONS.labels(self.label, action.outcome).inc()
                log.info(
                    "promotion",
                    extra={
                        "job": job.get("id"),
                        "outcome": action.outcome,
                        "branch": action.branch,
                        "number": action.number,
                    },
                )
        except Paced:
            outcome = "Paced"  # no failure: the queue says when it goes on
            raise
        except PromobotError as exc:
            outcome = type(exc).__name__
            log.warning("job failed", extra={"job": job.get("id"), "kind": kind, "error": str(exc)})
            raise
        finally:
            if heard is not None:
                self._share_budget(heard)
            metrics.JOB_SECONDS.labels(kind, outcome).observe(time.perf_counter() - started)
            metrics.QUEUE_DEPTH.set(self.queue.depth())
            if kind != "delivery" and self.engine.latest is not None:
                self.intake.relevance.refresh(self.engine.latest)  # no extra forge call
            for listener in self.after_job:
                listener()

    def _run(self, job: dict[str, Any]) -> list[Action]:
        kind = job.get("kind", "?")
        if kind == "sync" and self._coalesced(int(job.get("ticket", 0))):
            return []  # a sync that began after this one was asked for has served it
        self._within_budget(job)
        if kind == "reconcile":
            self.submit_sync(self.poll(), review=True)
            return []
        if kind == "sync":
            actions = self.coalesced_sync(int(job.get("ticket", 0)))
            if job.get("review"):
                self.review_open()
            return actions
        if kind == "evaluate":
            self._evaluate(int(job["number"]))
            return []
        if kind == "verify":
            self.verifier.verify(str(job["env"]))
            return []
        if kind == "delivery":
            self.intake.take(job)
            return []
        if kind == "notify":
            self.notifier.send(audit.Record.from_json(job["record"]), list(job["targets"]))
            return []
        return self.handle(events.load(job["event"]))

    @staticmethod
    def _spends(job: dict[str, Any]) -> str:
        """Which of the rate limit's reserves a job spends from (`bot.budget.RESERVE`)."""
        kind = job.get("kind")
        if kind == "event" and job.get("event", {}).get("kind") == "comment":
            return "command"
        return SPENDS.get(str(kind), "delivery")

    def _within_budget(self, job: dict[str, Any]) -> None:
        """Spend the forge's rate limit by priority: a job that must keep a reserve for more
        urgent ones is put back until the window resets (as the forge itself would say). A
        sync also waits for room for writes (`bot.pacing`) before it reads anything."""
        kind = job.get("kind")
        if kind == "notify":
            return  # it asks the forge nothing
        spends = self._spends(job)
        wait = budget.of(self.budget_key).wait(spends, time.time())
        if wait > 0:
            metrics.BUDGET_DEFERRED.labels(spends).inc()
            raise RateLimited(f"keeping the rate limit's reserve: {spends} waits", wait)
        if self.pacer is not None and kind == "sync":
            wait = self.pacer.wait(spends)
            if wait > 0:
                metrics.WRITES_PACED.labels(spends, "put back").inc()
                raise Paced(f"no room for writes under GitHub's limits for {wait:.0f}s", wait)

    def _adopt_budget(self) -> float:
        """The rate limit as the last word any process heard says it; when this one heard it."""
        left = budget.of(self.budget_key)
        shared = self.queue.queue.get(BUDGET + self.budget_key)
        if shared is not None:
            left.adopt(budget.Budget.from_text(shared))
        return left.observed

    def _share_budget(self, heard: float) -> None:
        """Keep what this job heard of the rate limit since `heard` in the store, for every
        process: the next job of any of them starts from it."""
        left = budget.of(self.budget_key)
        if left.observed <= heard:
            return
        try:
            self.queue.queue.put(BUDGET + self.budget_key, left.to_text())
        except Exception as exc:  # the store is down: the job's own outcome says more
            log.warning("rate limit not shared", extra={"error": str(exc)})

    def _coalesced(self, ticket: int) -> bool:
        if ticket and self.queue.served("sync", ticket):
            log.info("sync coalesced", extra={"ticket": ticket})
            return True
        return False

    def coalesced_sync(self, ticket: int) -> list[Action]:
        """Serve every sync request made so far — unless a sync that began after request
        `ticket` was made has already served it."""
        if self._coalesced(ticket):
            return []
        upto, items = self.queue.serve("sync")
        try:
            actions = self.sync([tuple(json.loads(item)) for item in items])
        except Exception:
            for item in items:  # not served after all: the retry (or the next sync) takes them
                self.queue.request("sync", item)
            raise
        self.queue.done("sync", upto)
        return actions

    def handle(self, event: events.Event) -> list[Action]:
        """What an event means for the environment repo; most of it is "recompute"."""
        if self.echo(event):
            return []  # promobot's own action: it did what follows when it acted
        if isinstance(event, events.Artifact):
            return self.sync([(event.source_key, event.version, event.digest)])
        if isinstance(event, events.Push):
            if event.branch == self.forge.default_branch() and not event.deleted:
                return self.sync()
            return []
        if isinstance(event, events.PullRequestEvent):
            if event.merged:
                return self.sync()  # a promotion merged: cascade downstream
            if event.state == "open":
                self._evaluate(event.number)
            return []
        if isinstance(event, events.ReviewEvent):
            self._evaluate(event.number)
        elif isinstance(event, events.StatusEvent) and event.context != STATUS:
            # a check on a PR's head; or a deploying system's report on a default-branch
            # commit (live: {status: …}), which moves the PRs whose upstream it watches
            watched = self._watching("status", [event.context])
            for env in watched:
                self.verifier.verify(env)
            for pr in self.forge.list_prs(label=LABEL):
                promotion = self.engine.promotion_of(pr) if watched else None
                if pr.head_sha == event.sha or (promotion and promotion.upstream in watched):
                    self._evaluate(pr.number)
        elif isinstance(event, events.LiveReport):
            self.live.heard(event)
            watched = self._watching(event.source, event.names)
            for env in watched:
                self.verifier.verify(env)
            for pr in self.forge.list_prs(label=LABEL) if watched else []:
                promotion = self.engine.promotion_of(pr)
                # its healthy: gate reads the upstream's cluster; its body says what its own runs
                if promotion is not None and {promotion.upstream, promotion.env} & watched:
                    self._evaluate(pr.number)
        elif isinstance(event, events.CommentEvent):
            self.runner.handle(event)
        return []

    # --- the audit log and the notifications it drives ----------------------------------------

    def _recorded_action(
        self, action: Action, promotion: Promotion, pr: PullRequest | None
    ) -> None:
        """A PR promobot opened, superseded or closed, as an audit record."""
        kind: audit.Kind
        if action.outcome == "opened":
            kind = "rollback-opened" if promotion.reason == "rollback" else "opened"
        elif action.outcome in ("superseded", "closed"):
            kind = action.outcome
        else:
            return
        reason = "it would change nothing" if kind == "closed" else ""
        fields: dict[str, Any] = {}
        if self.impacts is not None and kind != "closed":  # what its commit changes, if known
            fields["impact"] = self.impacts.classes(promotion)
        self.record(
            kind, **audit.about(promotion, pr), outcome=action.outcome, reason=reason, **fields
        )

    def _config(self) -> Config | None:
        """The configuration promobot last read, if any (never a read of its own)."""
        return self.engine.latest.config if self.engine.latest is not None else None

    def _submit_notification(self, job: dict[str, Any]) -> None:
        self.queue.submit(job, priority=PRIORITY["notify"])

    def _wake(self, env: str, seconds: float) -> None:
        """Look at `env`'s cluster again in `seconds` (a verification's deadline)."""
        job = {"id": str(uuid.uuid4()), "kind": "verify", "env": env}
        self.queue.submit(job, delay=seconds, priority=PRIORITY["gates"])

    def _watching(self, kind: str, names: Iterable[str]) -> set[str]:
        return objects.environments(self.engine.state().config, kind, names)

    def _watched_change(self, source: str, names: tuple[str, ...]) -> None:
        """promobot's own watch of a cluster heard objects change: as a deploying system's
        report would, it wakes the PRs whose environments read them (as a job, by a worker)."""
        kind = "fleet" if source == "fleet" else "rollout"
        self.submit_event(events.LiveReport(source=kind, names=names))

    def echo(self, event: events.Event) -> bool:
        """Whether promobot's own account did what the event reports (its PR opened, labelled,
        edited, merged; its push; its status)."""
        sender = getattr(event, "sender_id", None)
        return sender is not None and sender == self.engine.me.id

    def sync(self, artifacts: Sequence[Published] = ()) -> list[Action]:
        """Bring PRs in step, evaluate the ones touched, and cascade after auto-merges and
        direct commits; a batched environment that must wait gets a sync when it may go on."""
        # Listed once for the whole cascade, then kept in step with what promobot itself does
        # to the PRs (opens, rebuilds, closes, merges): each step costs no listing of its own.
        listed = self.engine.open_prs()
        actions = self.engine.sync(artifacts, open_prs=listed)
        waits = []
        for _ in range(len(self.engine.state().config.environments)):  # one step per env
            moved = False
            for action in actions:
                if action.outcome == "closed":
                    listed.pop(action.branch, None)
                # Only PRs this sync opened or rebuilt: an unchanged one has changed nothing
                # its gates depend on (events and timers take care of those).
                if action.pr is not None:
                    listed[action.branch] = action.pr
                    verdict = self.gatekeeper.evaluate(action.pr, fresh=True)
                    if verdict is not None and verdict.merged:
                        listed.pop(action.branch, None)
                        moved = True
                moved |= action.outcome in ("committed", "moved")
                if action.outcome == "deferred":
                    waits.append(action.wait)
            if not moved:
                break
            actions = self.engine.sync(open_prs=listed)
        else:
            waits += [a.wait for a in actions if a.outcome == "deferred"]
        if waits:  # with the new versions: a first environment's batch needs them then
            self.submit_sync(artifacts, after=min(waits) + 1)
        return actions

    def _evaluate(self, number: int) -> None:
        verdict = self.gatekeeper.evaluate(self.forge.get_pr(number))
        if verdict is not None and verdict.merged:
            self.sync()

    def poll(self) -> list[Published]:
        """The newest version each source selects. Reads only registries and repos, so it runs
        outside the repo's lock; the sync that follows is queued as a job of its own."""
        state = self.engine.state()
        if self._sources is None:
            self._sources = wiring.sources(self.forge, self._forge_for, self.registry)
        self.spread.forget({s.key for s in distinct_sources(state.config)})
        found = self._sources.poll_sources(  # failures are logged, others go on
            state.config, due=lambda source: self.spread.due(source.key, self._heard(source.key))
        )
        for source, version in found.items():
            self.spread.polled(source.key, version)
        return [(s.key, v, None) for s, v in found.items() if v is not None]

    def _heard(self, key: str) -> float | None:
        """Seconds since a notification named the source, in any process of the deployment."""
        at = self.queue.recall(f"{HEARD}{key}")
        try:
            return time.time() - float(at) if at is not None else None
        except ValueError:
            return None

    def reconcile(self) -> list[Action]:
        """Poll every source, recompute, and bring the forge in step — the safety net."""
        return self.sync(self.poll())

    def review_open(self) -> None:
        """What no event announces: soak timers and freeze windows that ended, and commands
        in comments that were never acknowledged (promobot was down when they came)."""
        merged = False
        for env, settings in self.engine.state().config.environments.items():
            if settings.verify is not None:
                with isolated("verification failed to run", env=env):
                    self.verifier.verify(env)
        for verdict in self.gatekeeper.evaluate_all():
            merged |= bool(verdict.merged)
            # comments are read even when `updated_at` did not move: it has whole seconds,
            # so a comment in the second of the last look would not show (a 304 once read)
            with isolated("commands failed", number=verdict.pr.number):
                self.runner.pick_up(verdict.pr.number)
        if merged:
            self.sync()

    def _forge_for(self, repo: str) -> Forge:
        """A forge for another repo on the same forge (a `git:` source), same credentials."""
        if self.settings.forge == "local" or repo == self.settings.repo:
            return self.forge
        if repo not in self._other_forges:
            settings = self.settings.model_copy(update={"repo": repo})
            self._other_forges[repo] = wiring.forge(settings, self.pacer)
        return self._other_forges[repo]

    # --- running ------------------------------------------------------------------------------

    def start(self) -> None:
        """In-process workers, the reconcile timer (at start, then every interval), and the
        rendering after every change."""
        if self.rendering is not None:
            rendering = self.rendering
            self.after_job.append(lambda: rendering.want(self.engine.latest))
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
        if self.rendering is not None:
            self.rendering.stop()
