"""Verification after a merge: did the environment's cluster take the promotion?

When a promotion merges into an environment with `verify:`, promobot watches its cluster (the
environment's `live:`) until it runs the promoted versions synced and healthy — verified — or
turns degraded on them, or the time runs out — failed. A failed environment holds automatic
promotions *from* it until the next merge into it (a fix, a rollback), and says why on the PR
and the overview. `Watch` is what is watched (kept in the queue's store, so every process sees
it); `judge` is the decision, pure: the time is passed in; `Verifier` looks at the cluster
when it is told to (a job after a merge, the reconcile, a deploying system's report), says on
the PR what became of it, and proposes the rollback where the environment says so.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Literal

from bot import audit, planner
from bot.composition import State as RepoState
from bot.engine import Engine, history, isolated
from bot.errors import PromobotError
from bot.gatekeeper import Gatekeeper
from bot.live.reader import LiveReader, Store
from bot.live.state import Live
from bot.planner import Promotion

log = logging.getLogger("promobot.verify")

REFUSED_KEPT = 20  # sets of versions remembered per environment as failed there

State = Literal["watching", "verified", "failed"]


@dataclass(frozen=True)
class Watch:
    env: str
    number: int  # the promotion PR that merged
    merged_at: datetime
    deadline: datetime
    wanted: Mapping[str, Mapping[str, str]]  # app → component → the version it brought
    state: State = "watching"
    reason: str = ""

    def to_text(self) -> str:
        data: dict[str, Any] = asdict(self)
        data["merged_at"] = self.merged_at.isoformat()
        data["deadline"] = self.deadline.isoformat()
        return json.dumps(data)

    @classmethod
    def from_text(cls, text: str) -> Watch:
        data = json.loads(text)
        data["merged_at"] = datetime.fromisoformat(data["merged_at"])
        data["deadline"] = datetime.fromisoformat(data["deadline"])
        return cls(**data)

    @property
    def holds(self) -> bool:
        """Whether automatic promotions from this environment wait."""
        return self.state == "failed"


def judge(
    watch: Watch,
    lives: Mapping[str, Live],
    running: Mapping[str, Mapping[str, str]],
    now: datetime,
) -> Watch:
    """The watch after a look at the cluster: `lives` per app and `running`, the versions at
    the commit each app's cluster runs. Verified once every app runs what the promotion
    brought, synced and healthy; failed when one is degraded on it (or its rollout aborted),
    or when the deadline passes first."""
    if watch.state != "watching":
        return watch
    waiting = []
    for app, versions in watch.wanted.items():
        live, ran = lives.get(app), running.get(app) or {}
        took = all(ran.get(c) == v for c, v in versions.items())
        if live is not None and took and live.failed:
            said = f": {live.message}" if live.message else ""
            if live.rollout is not None and live.rollout.failed:  # say what the rollout did
                return replace(
                    watch, state="failed", reason=f"{app}'s {live.rollout.describe()}{said}"
                )
            return replace(watch, state="failed", reason=f"{app} is {live.health}{said}")
        if live is None or not took or not live.settled:
            state = "no report" if live is None else live.health if took else "an older commit"
            waiting.append(f"{app} ({state})")
    if not waiting:
        return replace(watch, state="verified", reason="every app runs it synced and healthy")
    if now >= watch.deadline:
        late = ", ".join(waiting)
        return replace(watch, state="failed", reason=f"not healthy in time: {late}")
    return watch


class Verifier:
    """Verification after a merge, for one repo: its watches are kept in `store` (the queue's,
    so every process sees them); `wake(env, seconds)` asks for one more look at `env` then."""

    def __init__(
        self,
        engine: Engine,
        gatekeeper: Gatekeeper,
        live: LiveReader,
        store: Store,
        record: audit.Recorder,
        clock: Callable[[], datetime],
        wake: Callable[[str, float], None],
    ) -> None:
        self.engine = engine
        self.forge = engine.forge
        self.gatekeeper = gatekeeper
        self.live = live
        self.store = store
        self.record = record
        self.clock = clock
        self.wake = wake

    def wanted(self) -> bool:
        """Whether any environment verifies its merges (else a merge costs no PR read)."""
        latest = self.engine.latest
        config = latest.config if latest is not None else self.engine.state().config
        return any(env.verify is not None for env in config.environments.values())

    def watch_merge(self, number: int, promotion: Promotion) -> None:
        """A promotion merged: watch its environment's cluster, if it says to, until it runs
        what the promotion brought (a job looks once more when the time is up)."""
        settings = self.engine.state().config.environments.get(promotion.env)
        if settings is None or settings.verify is None:
            return
        now = self.clock()
        wanted = {
            plan.app: {r.component: r.after for r in plan.changed if r.after is not None}
            for plan in promotion.apps
        }
        watch = Watch(promotion.env, number, now, now + settings.verify.within_time, wanted)
        self.store.remember(f"verify.{promotion.env}", watch.to_text())
        self.wake(promotion.env, settings.verify.within_time.total_seconds() + 1)

    def watched(self, env: str) -> Watch | None:
        kept = self.store.recall(f"verify.{env}")
        return Watch.from_text(kept) if kept is not None else None

    def holds(self, env: str) -> str | None:
        """Why automatic promotions from `env` wait, if they do."""
        watch = self.watched(env)
        if watch is None or not watch.holds:
            return None
        return f"verification of #{watch.number} failed: {watch.reason}"

    def refused(self, env: str) -> list[dict[str, dict[str, str]]]:
        """The versions whose verification failed in `env`, newest first (at most 20)."""
        kept = self.store.recall(f"verify.refused.{env}")
        return list(json.loads(kept)) if kept is not None else []

    def verify(self, env: str) -> None:
        """Look at the cluster of a watched environment; say on the PR what became of it."""
        watch = self.watched(env)
        if watch is None or watch.state != "watching":
            return
        state = self.engine.state()
        settings = state.config.environments[env].verify
        try:
            lives = self.live.read(state, env, list(watch.wanted))
        except PromobotError as exc:  # an unknown cluster takes no promotion: time tells
            log.warning("live state unavailable", extra={"env": env, "error": str(exc)})
            lives = {}
        running = {
            app: self.gatekeeper.deployed.versions(state, app, env, live.revision) or {}
            for app, live in lives.items()
            if live.revision is not None
        }
        judged = judge(watch, lives, running, self.clock())
        if judged == watch:
            return
        self.store.remember(f"verify.{env}", judged.to_text())
        self._record_verification(state, judged)
        if judged.state == "verified":
            self.engine.say_once(
                watch.number,
                "verified",
                f"✅ Verified: {env}'s cluster runs this promotion synced and healthy.",
            )
            return
        failed = [{a: dict(v) for a, v in watch.wanted.items()}, *self.refused(env)][:REFUSED_KEPT]
        self.store.remember(f"verify.refused.{env}", json.dumps(failed))
        rollback = settings is not None and settings.on_failure == "rollback"
        self.engine.say_once(
            watch.number,
            "verify-failed",
            f"✗ Verification failed in {env}: {judged.reason}. These versions are not proposed "
            f"to {env} again on their own (`/promote` still can), and automatic promotions from "
            f"{env} wait until the next merge into it"
            + (", and promobot proposes rolling back." if rollback else "."),
        )
        if rollback:
            self._roll_back(state, env, judged)

    def _record_verification(self, state: RepoState, watch: Watch) -> None:
        apps = tuple(watch.wanted)
        changes = tuple(
            audit.Change(app, component, None, version)
            for app, versions in watch.wanted.items()
            for component, version in versions.items()
        )
        self.record(
            "verified" if watch.state == "verified" else "verification-failed",
            env=watch.env,
            apps=apps,
            pr=watch.number,
            changes=changes,
            outcome=watch.state,
            reason=watch.reason,
            sha=state.snapshot.commit,
        )

    def _roll_back(self, state: RepoState, env: str, watch: Watch) -> None:
        """Propose each app of a failed promotion back to what ran before it (merged at once
        where the environment auto-merges and its gates pass)."""
        for app in watch.wanted:
            with isolated("rollback not proposed", env=env, app=app):
                entries = history(self.forge, state.config, app, env, state.snapshot.commit, 30)
                target = planner.pick_rollback(entries, "previous", app, env)
                promotion = planner.plan_rollback(state.config, state.status, app, env, target)
                if promotion is None:
                    continue
                older = {target.commit.sha: self.forge.snapshot(target.commit.sha)}
                action = self.engine.ensure(state, promotion, rebuild=True, older=older)
                if action.pr is not None:
                    self.gatekeeper.evaluate(action.pr, fresh=True)
