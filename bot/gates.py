"""Gates: the conditions a promotion must meet before it merges.

`evaluate` takes everything it needs as values (the reviews, the checks, the labels, and the
clock as `now`) and returns one `GateResult` per configured gate, plus hold, which is always
there. `overall` folds them into the one line of the `promobot/gates` commit status, and
`next_change` says when a time-based gate will flip by itself, so the reconcile loop knows
when to look again. Nothing here reads the network, the disk or the time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from bot import config
from bot.config import DAYS, IMPACT_CLASSES, AutoMerge, FreezeWindow, ImpactRule
from bot.config import ImpactClass as Impact  # bot.manifests.model.Impact, the same classes
from bot.config.environments import merges_itself
from bot.forges.base import Check, Review

State = Literal["pass", "pending", "fail"]

HOLD_LABEL = "promobot:hold"
IMPACT_LABEL = "promobot/impact:"  # + a class of IMPACT_CLASSES, or "unknown"
STATUS_LIMIT = 140  # GitHub's limit on a commit status description
_WEEK = timedelta(days=7)


@dataclass(frozen=True)
class GateResult:
    name: str  # approvals, soak, checks, freeze, hold
    state: State
    reason: str  # one line a person understands: "soak: qa has run 1.4.2 for 12m of 30m"

    @property
    def passed(self) -> bool:
        return self.state == "pass"


@dataclass(frozen=True)
class Inputs:
    env: str
    gates: config.Gates
    head_sha: str
    now: datetime  # aware
    # forge reviews and `/approve` comments (as Review(state="approved", sha=<head then>))
    reviews: Sequence[Review] = ()
    # reviewers found to be in `approvers` (or with write access when `approvers` is empty)
    eligible: frozenset[str] = frozenset()
    requesters: frozenset[str] = frozenset()  # who asked for the promotion: never approvers
    bots: frozenset[str] = frozenset()  # never count
    upstream: str | None = None
    upstream_since: datetime | None = None  # since when upstream runs exactly these versions
    # since when upstream's cluster has run them synced and healthy (its live: source), and,
    # when it has not, what the source says instead
    upstream_healthy_since: datetime | None = None
    upstream_live: str = ""
    versions: str = ""  # "1.4.2" or "image 1.4.2, chart 2.3.0", for reasons
    checks: Sequence[Check] = ()  # on the head, without promobot's own status
    labels: frozenset[str] = frozenset()
    hold_reason: str | None = None
    # what the promotion changes in the cluster (IMPACT_CLASSES order); None: not rendered, unknown
    impact: tuple[Impact, ...] | None = None
    # per class with an approvals rule: the reviewers found in that rule's approvers
    impact_eligible: Mapping[Impact, frozenset[str]] = field(default_factory=dict)
    # per class, what a person reads of it: "Ingress added" (else a phrase for the class)
    impact_why: Mapping[Impact, str] = field(default_factory=dict)
    unknown: str = ""  # why the impact is unknown: "api in prod could not be rendered"
    auto_merge: bool | AutoMerge = False  # the environment's auto_merge:, for its unless/only


def evaluate(inputs: Inputs) -> list[GateResult]:
    """One result per configured gate, in order: approvals, the impact rules whose class is in
    the diff (every rule when the impact is unknown), soak, checks, freeze; then hold."""
    inputs = _in_utc(inputs)
    gates = inputs.gates
    results = []
    if gates.approvals:
        results.append(_approvals(inputs))
    results.extend(_impact(inputs))
    if gates.soak is not None:
        results.append(_soak(inputs))
    if gates.healthy is not None:
        results.append(_healthy(inputs))
    if gates.checks:
        results.append(_checks(gates.checks, inputs.checks))
    if gates.freeze:
        results.append(_freeze(inputs))
    results.append(_hold(inputs))
    return results


def overall(results: Sequence[GateResult]) -> GateResult:
    """The commit status: the worst state, with the first reason of that state."""
    for state in ("fail", "pending"):
        first = next((r for r in results if r.state == state), None)
        if first is not None:
            return GateResult("gates", first.state, _limit(first.reason))
    return GateResult("gates", "pass", "all gates pass")


def in_freeze(windows: Sequence[FreezeWindow], now: datetime) -> FreezeWindow | None:
    """The first window `now` falls in, if any."""
    now = _utc(now, "now")
    return next((w for w in windows if _inside(w, now)), None)


def next_change(inputs: Inputs) -> datetime | None:
    """When soak or freeze will flip without any event (UTC), or None if neither will."""
    inputs = _in_utc(inputs)
    now = inputs.now
    times = []
    gates = inputs.gates
    if gates.soak is not None and inputs.upstream and inputs.upstream_since is not None:
        times.append(inputs.upstream_since + gates.soak_time)
    if gates.healthy is not None and inputs.upstream and inputs.upstream_healthy_since:
        times.append(inputs.upstream_healthy_since + gates.healthy_time)
    for window in map(config.parse_freeze, gates.freeze):
        if not _whole_week(window):
            times.extend(t for start, end in _occurrences(window, now) for t in (start, end))
    future = [t for t in times if t > now]
    return min(future) if future else None


# --- approvals ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tally:
    approved: list[str]  # "@alice": eligible approvals on the head, in order
    objected: list[str]
    not_counted: list[str]
    stale: int
    unbound: int


def approved_by(inputs: Inputs) -> tuple[str, ...]:
    """Who gave the approvals the approvals gate counts (logins, in order), for the audit log:
    exactly those the gate's reason names as approved."""
    return tuple(name.removeprefix("@") for name in _tally(inputs).approved)


def _tally(inputs: Inputs) -> _Tally:
    eligible = {_key(u) for u in inputs.eligible}
    requesters = {_key(r) for r in inputs.requesters}
    bots = {_key(b) for b in inputs.bots}

    latest: dict[str, Review] = {}  # per person, their last verdict; comments change nothing
    for review in sorted(inputs.reviews, key=lambda r: r.submitted_at):
        if review.state != "commented":
            latest.pop(_key(review.user), None)  # keep the order of the latest verdicts
            latest[_key(review.user)] = review

    approved, objected, not_counted = [], [], []
    stale = unbound = 0
    for key, review in latest.items():
        name = f"@{review.user}"
        if key in bots or key.endswith("[bot]"):  # GitHub Apps review as `name[bot]`
            continue
        on_head = review.sha == inputs.head_sha
        if key in requesters:
            if review.state == "approved" and on_head:
                not_counted.append(f"{name} (requester)")
        elif key not in eligible:
            if review.state == "approved" and on_head:
                not_counted.append(f"{name} (not an approver)")
        elif review.state == "changes_requested" and on_head:
            objected.append(name)
        elif review.state == "approved" and on_head:
            approved.append(name)
        elif review.state == "approved" and review.sha is None:
            unbound += 1
        elif review.state == "approved":
            stale += 1

    return _Tally(approved, objected, not_counted, stale, unbound)


def _approvals(inputs: Inputs) -> GateResult:
    return _approval_result(
        "approvals", "approvals", inputs.gates.approvals, inputs.gates.approvers, _tally(inputs)
    )


def _approval_result(
    name: str,
    label: str,
    needed: int,
    approvers: Sequence[str],
    tally: _Tally,
    why: str = "",
    noun: str = "",
) -> GateResult:
    """`approvals: 1 of 2 from @acme/sre (approved: @alice)`, or who requested changes."""
    approved, objected, not_counted = tally.approved, tally.objected, tally.not_counted
    stale, unbound = tally.stale, tally.unbound
    if objected:
        reason = f"{label}: {', '.join(objected)} requested changes"
        return GateResult(name, "fail", reason)
    who = ", ".join(approvers) or "people with write access"
    notes = [why] if why else []
    if approved:
        notes.append(f"approved: {', '.join(approved)}")
    if stale:
        on = "on an older commit" if stale == 1 else "on older commits"
        notes.append(f"{_count(stale, 'stale approval')} {on}")
    if unbound:
        notes.append(f"{_count(unbound, 'approval')} not tied to a commit")
    if not_counted:
        notes.append(f"not counted: {', '.join(not_counted)}")
    reason = f"{label}: {min(len(approved), needed)} of {needed}{noun} from {who}"
    if notes:
        reason += f" ({'; '.join(notes)})"
    return GateResult(name, "pass" if len(approved) >= needed else "pending", reason)


def _key(user: str) -> str:
    return user.removeprefix("@").casefold()  # GitHub and GitLab names ignore case


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# --- impact: what the promotion changes in the cluster ----------------------------------------

# what a reviewer reads of a class when nothing more precise is known
_IMPACT_PHRASES: Mapping[Impact, str] = {
    "crd": "a CRD changes",
    "rbac": "cluster-wide RBAC changes",
    "namespace": "a Namespace is removed",
    "data": "stored data changes",
    "exposure": "what is exposed changes",
    "secret": "a Secret changes",
    "scale": "replicas or resources change",
    "config": "configuration changes",
    "image": "an image changes",
    "other": "something else changes",
}


def _impact(inputs: Inputs) -> list[GateResult]:
    """One result per rule whose class is in the diff: its approvals, or that a person merges;
    with the impact unknown, every approvals rule (fail safe) and one line saying why no
    auto-merge. Then, if `auto_merge: {unless|only}` keeps this PR from merging itself, why."""
    rules = inputs.gates.impact
    results = []
    unknown = inputs.impact is None
    why_unknown = f"impact unknown: {inputs.unknown or 'the promotion could not be rendered'}"
    for cls, rule in _rules(rules):
        if not unknown and cls not in (inputs.impact or ()):
            continue
        why = why_unknown if unknown else inputs.impact_why.get(cls) or _IMPACT_PHRASES[cls]
        if rule.manual:
            if not unknown:
                results.append(
                    GateResult(f"impact:{cls}", "pass", f"{cls}: a person merges this PR ({why})")
                )
            continue
        eligible = inputs.impact_eligible.get(cls, frozenset())
        tally = _tally(replace(inputs, eligible=eligible))
        results.append(
            _approval_result(
                f"impact:{cls}", cls, rule.approvals, rule.approvers, tally, why, " approvals"
            )
        )
    merges, why = merges_itself(inputs.auto_merge, inputs.gates, inputs.impact, inputs.unknown)
    manual_said = not unknown and manual(inputs)
    if inputs.auto_merge is not False and not merges and not manual_said:
        results.append(
            GateResult("auto-merge", "pass", f"auto-merge: a person merges this PR — {why}")
        )
    elif unknown and any(rule.manual for rule in rules.values()):
        reason = f"impact: a person merges this PR — {why_unknown}"
        results.append(GateResult("impact", "pass", reason))
    return results


def _rules(rules: Mapping[Impact, ImpactRule]) -> list[tuple[Impact, ImpactRule]]:
    return [(cls, rules[cls]) for cls in IMPACT_CLASSES if cls in rules]


def manual(inputs: Inputs) -> tuple[Impact, ...]:
    """The classes whose rule says a person merges and that are in the diff (with the impact
    unknown, every such class): while there is one, promobot does not auto-merge."""
    present = inputs.impact
    return tuple(
        cls
        for cls, rule in _rules(inputs.gates.impact)
        if rule.manual and (present is None or cls in present)
    )


def impact_labels(impact: Sequence[Impact] | None) -> tuple[str, ...]:
    """The PR labels of what it changes in the cluster: `promobot/impact:crd`, …, in IMPACT_CLASSES
    order; `promobot/impact:unknown` when it could not be rendered."""
    if impact is None:
        return (f"{IMPACT_LABEL}unknown",)
    return tuple(f"{IMPACT_LABEL}{cls}" for cls in IMPACT_CLASSES if cls in impact)


# --- soak --------------------------------------------------------------------------------------


def _soak(inputs: Inputs) -> GateResult:
    upstream, needed = inputs.upstream, inputs.gates.soak_time
    what = _oneline(inputs.versions) or "these versions"
    if not upstream:
        return GateResult("soak", "pass", "soak: no upstream to soak in")
    if inputs.upstream_since is None:
        return GateResult("soak", "pending", f"soak: waiting to learn when {upstream} got {what}")
    # The text names instants, never "for 12m": it changes when the facts do, not with the
    # clock, so the checklist is not rewritten (and echoed back as an event) on every look.
    since = inputs.upstream_since
    running = f"soak: {upstream} has run {what} since {_instant_text(since)}"
    if inputs.now - since >= needed:
        return GateResult("soak", "pass", f"{running} (needs {duration(needed)})")
    ready = _instant_text(since + needed, round_up=True)
    return GateResult("soak", "pending", f"{running}; needs {duration(needed)}, until {ready}")


def _healthy(inputs: Inputs) -> GateResult:
    upstream, needed = inputs.upstream, inputs.gates.healthy_time
    what = _oneline(inputs.versions) or "these versions"
    if not upstream:
        return GateResult("healthy", "pass", "healthy: no upstream to watch")
    since = inputs.upstream_healthy_since
    if since is None:
        said = f" ({_oneline(inputs.upstream_live)})" if inputs.upstream_live else ""
        return GateResult(
            "healthy",
            "pending",
            f"healthy: waiting for {upstream} to run {what} synced and healthy{said}",
        )
    running = f"healthy: {upstream} has run {what} synced and healthy since {_instant_text(since)}"
    if inputs.now - since >= needed:
        return GateResult("healthy", "pass", f"{running} (needs {duration(needed)})")
    ready = _instant_text(since + needed, round_up=True)
    return GateResult("healthy", "pending", f"{running}; needs {duration(needed)}, until {ready}")


def _instant_text(when: datetime, round_up: bool = False) -> str:
    """`2026-01-07 11:47 UTC`, to the minute (rounded up for a deadline)."""
    when = when.astimezone(UTC)
    if round_up and (when.second or when.microsecond):
        when = when.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return f"{when:%Y-%m-%d %H:%M} UTC"


def duration(span: timedelta) -> str:
    """A human duration in at most two units, rounded down: 45s, 12m, 2h 10m, 1d 3h."""
    seconds = max(int(span.total_seconds()), 0)
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if not minutes:
        return f"{seconds}s"
    if not hours:
        return f"{minutes}m"
    if not days:
        return f"{hours}h {minutes % 60}m" if minutes % 60 else f"{hours}h"
    return f"{days}d {hours % 24}h" if hours % 24 else f"{days}d"


# --- checks ------------------------------------------------------------------------------------

_SEVERITY = {"success": 0, "pending": 1, "failure": 2}


def _checks(wanted: Sequence[str], checks: Sequence[Check]) -> GateResult:
    # A status and a check run may share a name; the worse of the two decides.
    state: dict[str, str] = {}
    for check in checks:
        if _SEVERITY[check.state] >= _SEVERITY.get(state.get(check.name, ""), -1):
            state[check.name] = check.state
    failed = [n for n in wanted if state.get(n) == "failure"]
    running = [n for n in wanted if state.get(n) == "pending"]
    missing = [n for n in wanted if n not in state]
    if not (failed or running or missing):
        return GateResult("checks", "pass", "checks: " + ", ".join(f"{n} ✅" for n in wanted))
    parts = []
    if failed:
        parts.append(f"{', '.join(failed)} failed")
    if running:
        parts.append(f"{', '.join(running)} {'is' if len(running) == 1 else 'are'} running")
    if missing:
        verb = "has" if len(missing) == 1 else "have"
        parts.append(f"{', '.join(missing)} {verb} not reported")
    return GateResult("checks", "fail" if failed else "pending", "checks: " + "; ".join(parts))


# --- freeze ------------------------------------------------------------------------------------
#
# A window's times are wall-clock times in its zone. A boundary is the first instant the clock
# reads that time: in the hour skipped in spring, 02:30 is reached at 03:00; in the hour repeated
# in autumn, 02:30 is its first occurrence (the window does not reopen when the clock goes back).


def _freeze(inputs: Inputs) -> GateResult:
    windows = [config.parse_freeze(text) for text in inputs.gates.freeze]
    window = in_freeze(windows, inputs.now)
    if window is None:
        return GateResult("freeze", "pass", "not in a freeze window")
    if _whole_week(window):
        reason = f"freeze: in the window {_describe(window)}, which spans the whole week"
    else:
        end = f"{DAYS[window.end_day]} {_clock(window.end_minute)}"
        reason = f"freeze: in the window {_describe(window)} until {end}"
    return GateResult("freeze", "pending", reason)


def _inside(window: FreezeWindow, now: datetime) -> bool:
    return _whole_week(window) or any(s <= now < e for s, e in _occurrences(window, now))


def _occurrences(window: FreezeWindow, now: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The window's start and end instants in the weeks before, of, and after `now`."""
    zone = ZoneInfo(window.zone)
    today = now.astimezone(zone).date()
    last_start = today - timedelta(days=(today.weekday() - window.start_day) % 7)
    length = (window.end_day - window.start_day) % 7
    if length == 0 and window.end_minute <= window.start_minute:
        length = 7  # ends before it starts on the same day: it wraps the whole week
    for weeks in (-1, 0, 1):
        start = last_start + weeks * _WEEK
        end = start + timedelta(days=length)
        yield _instant(start, window.start_minute, zone), _instant(end, window.end_minute, zone)


def _instant(day: date, minute: int, zone: ZoneInfo) -> datetime:
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)  # 24:00 is the next day
    first = wall.replace(tzinfo=zone, fold=0)
    if _round_trips(first, wall):  # exists (the first one, if the hour repeats)
        return first.astimezone(UTC)
    # Skipped by a spring change: the first instant the clock reads later than `wall`. fold=1
    # reads the wall time with the offset after the change, which lands before the jump.
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    high = int(first.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _round_trips(local: datetime, wall: datetime) -> bool:
    return local.astimezone(UTC).astimezone(local.tzinfo).replace(tzinfo=None) == wall


def _whole_week(window: FreezeWindow) -> bool:
    return (window.start_day, window.start_minute) == (window.end_day, window.end_minute)


def _describe(window: FreezeWindow) -> str:
    start = f"{DAYS[window.start_day]} {_clock(window.start_minute)}"
    return f"{start} - {DAYS[window.end_day]} {_clock(window.end_minute)} {window.zone}"


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


# --- hold --------------------------------------------------------------------------------------


def _hold(inputs: Inputs) -> GateResult:
    if HOLD_LABEL not in {label.casefold() for label in inputs.labels}:
        return GateResult("hold", "pass", "not on hold")
    why = _oneline(inputs.hold_reason or "")
    return GateResult("hold", "fail", f"hold: on hold ({why})" if why else "hold: on hold")


# --- text --------------------------------------------------------------------------------------


def _oneline(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _limit(text: str) -> str:
    text = _oneline(text)
    return text if len(text) <= STATUS_LIMIT else text[: STATUS_LIMIT - 1].rstrip() + "…"


def _in_utc(inputs: Inputs) -> Inputs:
    # Python compares and subtracts two times in one zone by their wall clocks, ignoring the
    # hour that repeats in autumn; in UTC they are instants.
    since, healthy = inputs.upstream_since, inputs.upstream_healthy_since
    return replace(
        inputs,
        now=_utc(inputs.now, "now"),
        upstream_since=None if since is None else _utc(since, "upstream_since"),
        upstream_healthy_since=None if healthy is None else _utc(healthy, "upstream_healthy_since"),
    )


def _utc(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must carry a time zone, got {moment.isoformat()}")
    return moment.astimezone(UTC)
