"""Delivery metrics (DORA) per environment, from the environment repo's history.

Pure: each environment's changes come in (newest first, as the overview reads them), with the
moment the read history starts when it was cut; the clock is the `now` argument. What counts:

- a **deployment** is a commit that changed what the environment runs: at least one app's
  composition changed or the app arrived (an app removed is not a deployment). The oldest
  commit of a history that was not cut is where the environment was created, not a deployment.
- **lead time**: for every version of a component first seen in a source-fed environment (no
  `from:`), the time until the same version first appears in a later environment. A version
  already there when the read history starts, or when either environment was created, has no
  known first sight and is left out; one that never reaches the environment adds nothing.
- a **rollback** is a commit that returns an app to a composition it had before one or more
  of its latest changes (promobot's "Roll back …" PRs, a person's revert, `on_failure:
  rollback` after a failed verification); a commit titled "Roll back …" counts even when the
  composition it returns to is older than the history read, as undoing the app's latest change.
  A commit that re-applies what a rollback undid is a new change, not a rollback.
- the **change-failure rate** is the share of the deployments that are not rollbacks which a
  later rollback undid; a failed verification that was not rolled back is not counted (the
  verification's outcome lives in the queue's store, not in the history).
- **time to restore**: from the oldest change a rollback undid to the rollback.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

WINDOW = timedelta(days=30)
MAX_DAYS = 365
DAY = 86400.0

Versions = Mapping[str, str]  # component -> version


def window(days: str) -> timedelta:
    """`?days=` of the page and the API: whole days, 1 to MAX_DAYS; "" for the default."""
    if not days:
        return WINDOW
    if not days.isdigit() or not 1 <= int(days) <= MAX_DAYS:
        raise ValueError(f"days={days!r}: a whole number of days from 1 to {MAX_DAYS}")
    return timedelta(days=int(days))


@dataclass(frozen=True)
class Change:
    """One commit's change to one environment: per app, its versions before and after."""

    commit: str
    time: datetime
    subject: str
    apps: Mapping[str, tuple[Versions | None, Versions | None]]
    first: bool = False  # the oldest commit of a history that was not cut: the environment's start

    @property
    def deploys(self) -> bool:
        return not self.first and any(after is not None for _, after in self.apps.values())

    @property
    def titled_rollback(self) -> bool:
        return self.subject.startswith("Roll back ")


@dataclass(frozen=True)
class Log:
    """One environment's changes, newest first, and where the read history starts."""

    changes: Sequence[Change]
    since: datetime | None = None  # the oldest commit read, when the log was cut at the limit


@dataclass(frozen=True)
class Durations:
    seconds: tuple[float, ...]

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    @property
    def p90(self) -> float | None:
        """The nearest-rank 90th percentile: a value that occurred."""
        if not self.seconds:
            return None
        ordered = sorted(self.seconds)
        return ordered[math.ceil(0.9 * len(ordered)) - 1]

    def to_json(self) -> dict[str, Any]:
        return {"count": len(self.seconds), "median_seconds": self.median, "p90_seconds": self.p90}


@dataclass(frozen=True)
class Rollback:
    commit: str
    time: datetime
    apps: tuple[str, ...]
    undone: tuple[str, ...]  # the commits whose changes it undid, oldest first
    seconds: float  # from the oldest of them to the rollback

    def to_json(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "time": self.time.isoformat(),
            "apps": list(self.apps),
            "undone": list(self.undone),
            "restore_seconds": self.seconds,
        }


@dataclass(frozen=True)
class Week:
    start: datetime
    deployments: int
    read: bool  # False: the history read starts after this week began, so it may count short


@dataclass(frozen=True)
class EnvMetrics:
    env: str
    upstream: str | None
    since: datetime  # what the counts cover: the window's start, or the history's if later
    days: float  # from `since` to now
    deployments: int
    weeks: tuple[Week, ...]
    changes: int  # deployments that are not rollbacks
    failed: int  # of those, the ones a rollback undid
    rollbacks: tuple[Rollback, ...]
    lead_time: Durations | None  # None: a source-fed environment, where versions start

    @property
    def per_day(self) -> float:
        return self.deployments / self.days if self.days > 0 else 0.0

    @property
    def per_week(self) -> float:
        return self.per_day * 7

    @property
    def change_failure_rate(self) -> float | None:
        return self.failed / self.changes if self.changes else None

    @property
    def restore(self) -> Durations:
        return Durations(tuple(r.seconds for r in self.rollbacks))

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "upstream": self.upstream,
            "since": self.since.isoformat(),
            "days": round(self.days, 3),
            "deployments": self.deployments,
            "deployments_per_day": round(self.per_day, 4),
            "deployments_per_week": round(self.per_week, 4),
            "weeks": [
                {"start": w.start.isoformat(), "deployments": w.deployments, "read": w.read}
                for w in self.weeks
            ],
            "lead_time": self.lead_time.to_json() if self.lead_time is not None else None,
            "changes": self.changes,
            "failed_changes": self.failed,
            "change_failure_rate": self.change_failure_rate,
            "time_to_restore": self.restore.to_json(),
            "rollbacks": [r.to_json() for r in self.rollbacks],
        }


@dataclass(frozen=True)
class Report:
    now: datetime
    window: timedelta
    environments: tuple[EnvMetrics, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "window_days": self.window.total_seconds() / DAY,
            "environments": [e.to_json() for e in self.environments],
        }


def measure(
    order: Sequence[str],
    upstreams: Mapping[str, str | None],
    logs: Mapping[str, Log],
    now: datetime,
    window: timedelta = WINDOW,
) -> Report:
    """Every environment in `order` (promotion order) over the `window` before `now`."""
    start = now - window
    origins = _origins([logs[e] for e in order if upstreams.get(e) is None and e in logs])
    out = []
    for env in order:
        log = logs.get(env, Log(()))
        oldest_first = sorted(log.changes, key=lambda c: c.time)
        since = max(start, log.since) if log.since is not None else start
        inside = [c for c in oldest_first if start <= c.time <= now]
        deployed = [c for c in inside if c.deploys]
        rollbacks, undone_by = _rollbacks(oldest_first)
        counted = [c for c in deployed if c.commit not in rollbacks]
        failed = sum(c.commit in undone_by for c in counted)
        upstream = upstreams.get(env)
        lead = None if upstream is None else _lead_times(oldest_first, origins, start, now)
        out.append(
            EnvMetrics(
                env=env,
                upstream=upstream,
                since=since,
                days=(now - since).total_seconds() / DAY,
                deployments=len(deployed),
                weeks=_weeks([c for c in oldest_first if c.deploys], now, window, log.since),
                changes=len(counted),
                failed=failed,
                rollbacks=tuple(r for c in inside if (r := rollbacks.get(c.commit)) is not None),
                lead_time=lead,
            )
        )
    return Report(now, window, tuple(out))


Key = tuple[str, str, str]  # app, component, version


def _arrivals(oldest_first: Sequence[Change]) -> dict[Key, datetime | None]:
    """When each version first appeared; None for one already there when the history starts
    or when the environment was created (every environment's first commit would otherwise
    give each version it shares with the source a lead time of zero)."""
    seen: dict[Key, datetime | None] = {}
    for change in oldest_first:
        for app, (before, after) in change.apps.items():
            for component, version in (before or {}).items():
                seen.setdefault((app, component, version), None)
            for component, version in (after or {}).items():
                seen.setdefault((app, component, version), None if change.first else change.time)
    return seen


def _origins(sources: Sequence[Log]) -> dict[Key, datetime | None]:
    """When each version was first seen in any source-fed environment (None: before the history)."""
    origins: dict[Key, datetime | None] = {}
    for log in sources:
        for key, time in _arrivals(sorted(log.changes, key=lambda c: c.time)).items():
            if key not in origins:
                origins[key] = time
            else:
                known = origins[key]
                origins[key] = None if time is None or known is None else min(known, time)
    return origins


def _lead_times(
    oldest_first: Sequence[Change],
    origins: Mapping[Key, datetime | None],
    start: datetime,
    now: datetime,
) -> Durations:
    seconds = []
    for key, arrived in _arrivals(oldest_first).items():
        origin = origins.get(key)
        if arrived is None or origin is None or not start <= arrived <= now or arrived < origin:
            continue
        seconds.append((arrived - origin).total_seconds())
    return Durations(tuple(seconds))


def _rollbacks(oldest_first: Sequence[Change]) -> tuple[dict[str, Rollback], set[str]]:
    """The rollbacks by commit, and the commits whose changes one undid."""
    # per app, its changes so far: (commit, time, before, is a rollback)
    past: dict[str, list[tuple[str, datetime, Versions | None, bool]]] = {}
    found: dict[str, Rollback] = {}
    undone: set[str] = set()
    for change in oldest_first:
        apps: list[str] = []
        undid: dict[str, datetime] = {}
        for app, (before, after) in change.apps.items():
            history = past.setdefault(app, [])
            back = _undone(history, after, change.titled_rollback)
            if back:
                apps.append(app)
                for commit, time, _, _ in history[len(history) - back :]:
                    undid[commit] = time
            history.append((change.commit, change.time, before, bool(back)))
        if apps:
            oldest = min(undid.values())
            found[change.commit] = Rollback(
                change.commit,
                change.time,
                tuple(sorted(apps)),
                tuple(sorted(undid, key=lambda c: undid[c])),
                (change.time - oldest).total_seconds(),
            )
            undone.update(undid)
    return found, undone


def _undone(
    history: Sequence[tuple[str, datetime, Versions | None, bool]],
    after: Versions | None,
    titled: bool,
) -> int:
    """How many of an app's latest changes a change to `after` undoes (0: none)."""
    if after is None:  # an app removed is not a rollback
        return 0
    for back, (_, _, before, rollback) in enumerate(reversed(history), start=1):
        if rollback:  # returning to what a rollback undid re-applies it: a new change
            break
        if before is not None and dict(before) == dict(after):
            return back
    return 1 if titled and history and not history[-1][3] else 0


def _weeks(
    deployed: Sequence[Change], now: datetime, window: timedelta, read_since: datetime | None
) -> tuple[Week, ...]:
    """Deployments per 7 days, back from `now`, over the window rounded up to whole weeks."""
    count = max(1, math.ceil(window / timedelta(days=7)))
    weeks = []
    for index in range(count, 0, -1):
        begin, end = now - index * timedelta(days=7), now - (index - 1) * timedelta(days=7)
        inside = sum(begin <= c.time < end or (c.time == now == end) for c in deployed)
        weeks.append(Week(begin, inside, read_since is None or read_since <= begin))
    return tuple(weeks)
