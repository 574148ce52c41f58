"""Notifications: the audit records people asked to hear about, as one chat message each.

Driven by the audit log (`bot.audit`): the service's notifier sink looks at each record, asks
`.promobot.yaml`'s `notify:` which targets want its event in its environment, and queues one
`notify` job — nothing is sent inside a gate evaluation, so a slow or dead chat service never
holds a promotion, a merge or the repo's lock. The job sends through Apprise (Slack, Microsoft
Teams, Matrix, Mattermost, e-mail, generic webhooks, …), each target with a timeout; a failure
is one log line and a metric, and the promotion goes on.

A target's address is the service setting `PROMOBOT_NOTIFY_<NAME>`; the repo names targets,
never addresses. Each message is claimed in a ledger in the queue's store before it is sent,
keyed by the record (or, for "waiting", "blocked" and "held", by the PR head and the reason),
so a retried job, a second worker or a verdict that flips back and forth never sends it twice:
a message is sent at most once, and a send that failed is not tried again.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from bot import metrics
from bot.audit import Record
from bot.config import NOTIFY_EVENTS, Config

log = logging.getLogger("promobot.notify")


@dataclass(frozen=True)
class Message:
    event: str  # opened, waiting, blocked, merged, failed, rolled-back, held
    key: str  # what makes it the same message (the ledger's key)
    title: str
    body: str


def event_of(record: Record) -> tuple[str, str] | None:
    """The notification event a record is, and its dedupe key; None when it is none."""
    gates = {g.get("gate"): g for g in record.inputs.get("gates", ())}
    if record.kind in ("opened", "rollback-opened"):
        return "opened", record.id
    if record.kind == "merged":
        return ("rolled-back" if record.cause == "rollback" else "merged"), record.id
    if record.kind == "verification-failed":
        return "failed", record.id
    if record.kind == "refused":
        return "blocked", _once(record, "blocked", record.reason)
    if record.kind != "gate":
        return None
    hold = gates.get("hold")
    if hold is not None and hold.get("state") == "fail":
        return "held", _once(record, "held", "")
    failed = [g for g in gates.values() if g.get("state") == "fail"]
    freeze = gates.get("freeze")
    if not failed and record.inputs.get("merge_wanted") and freeze and freeze["state"] != "pass":
        failed = [freeze]  # a freeze that stopped a merge someone (or auto_merge) wanted
    if failed:
        reason = "; ".join(str(g.get("reason")) for g in failed)
        return "blocked", _once(record, "blocked", reason)
    approvals = gates.get("approvals")
    if approvals is not None and approvals.get("state") == "pending":
        return "waiting", _once(record, "waiting", "")
    return None


def _once(record: Record, event: str, reason: str) -> str:
    """Once per PR head (and reason): the reconcile sees a waiting PR at every look."""
    digest = hashlib.sha256(reason.encode()).hexdigest()[:12]
    return f"{record.pr}.{record.head}.{event}.{digest}"


def route(notify: Mapping[str, Mapping[str, Sequence[str]]], record: Record) -> list[str]:
    """The targets that want this record's event in its environment (every glob that
    matches applies; each target once)."""
    found = event_of(record)
    if found is None or record.env is None:
        return []
    event = found[0]
    targets: dict[str, None] = {}
    for glob, wanted in notify.items():
        if fnmatchcase(record.env, glob):
            for target, events in wanted.items():
                if "*" in events or event in events:
                    targets[target.lower()] = None
    return list(targets)


_HEADLINE = {
    "opened": "Promotion opened",
    "waiting": "Waiting for approval",
    "blocked": "Blocked",
    "merged": "Merged",
    "failed": "Verification failed",
    "rolled-back": "Rolled back",
    "held": "On hold",
}
assert set(_HEADLINE) == set(NOTIFY_EVENTS)


def message(record: Record) -> Message | None:
    """What a person reads: the event, the app, the environment, the versions, the reason
    where there is one, and the PR."""
    found = event_of(record)
    if found is None:
        return None
    event, key = found
    apps = ", ".join(record.apps) or "promotion"
    versions = record.versions()
    title = f"{_HEADLINE[event]}: {apps} → {record.env}" + (f" ({versions})" if versions else "")
    lines = [title]
    if event == "waiting":
        approvals: Mapping[str, Any] = next(
            (g for g in record.inputs.get("gates", ()) if g.get("gate") == "approvals"), {}
        )
        lines.append(str(approvals.get("reason") or record.reason))
    elif event in ("blocked", "failed", "held"):
        lines.append(f"Why: {event_of_reason(record)}")
    elif event in ("merged", "rolled-back"):
        on = f" on the approval of {', '.join('@' + a for a in record.approvers)}"
        by = f" by @{record.actor}" if record.actor else " by promobot (auto-merge)"
        lines.append(
            f"Merged as {(record.sha or '')[:12]}{by}" + (on if record.approvers else "") + "."
        )
    elif event == "opened" and record.requested_by:
        lines.append(f"Asked for by {', '.join('@' + r for r in record.requested_by)}.")
    if event in ("opened", "waiting", "merged") and record.impact is not None:
        # what it changes in the cluster, as classes: what a chat reader weighs first
        lines.append(f"Impact: {', '.join(record.impact) or 'no rendered change'}.")
    if record.pr is not None:
        lines.append(f"{record.repo} #{record.pr}: {record.url or ''}".rstrip(": "))
    return Message(event, key, title, "\n".join(lines))


def event_of_reason(record: Record) -> str:
    if record.kind != "gate":
        return record.reason
    failing = [
        str(g.get("reason"))
        for g in record.inputs.get("gates", ())
        if g.get("state") == "fail" or (g.get("gate") == "freeze" and g.get("state") != "pass")
    ]
    return "; ".join(failing) or record.reason


# --- sending -------------------------------------------------------------------------------------

Claim = Callable[[str], bool]  # True the first time a key is claimed


class Sink:
    """The audit log's notifier sink: a job for the targets that want a record, if any (sent
    by a worker, never here: a record is written inside a gate evaluation or a sync)."""

    def __init__(
        self, config: Callable[[], Config | None], submit: Callable[[dict[str, Any]], None]
    ) -> None:
        self.config = config  # the configuration last read: its `notify:` routes
        self.submit = submit

    def __call__(self, record: Record) -> None:
        config = self.config()
        targets = route(config.notify, record) if config is not None and config.notify else []
        if targets:
            job = {
                "id": str(uuid.uuid4()),
                "kind": "notify",
                "record": record.to_json(),
                "targets": targets,
            }
            self.submit(job)


class Notifier:
    """Sends one record's message to its targets (from a `notify` job)."""

    def __init__(self, urls: Mapping[str, str], claim: Claim, timeout: float = 5.0) -> None:
        self.urls = {name.lower(): url for name, url in urls.items()}
        self.claim = claim
        self.timeout = timeout
        self._told: set[str] = set()  # unconfigured targets already logged (once each)
        self._lock = threading.Lock()

    def send(self, record: Record, targets: Sequence[str]) -> dict[str, str]:
        """Each target's outcome: sent, failed, unconfigured or duplicate."""
        found = message(record)
        outcomes: dict[str, str] = {}
        if found is None:
            return outcomes
        for target in targets:
            outcome = self._send_one(target, found, record)
            metrics.NOTIFICATIONS.labels(target, outcome).inc()
            outcomes[target] = outcome
        return outcomes

    def _send_one(self, target: str, found: Message, record: Record) -> str:
        url = self.urls.get(target)
        if url is None:
            with self._lock:
                first = target not in self._told
                self._told.add(target)
            if first:
                log.warning(
                    "notify target not configured",
                    extra={"target": target, "setting": f"PROMOBOT_NOTIFY_{target.upper()}"},
                )
            return "unconfigured"
        # claimed before it is sent: at most once, whatever retries or other workers do
        if not self.claim(f"notify:{target}:{found.key}"):
            return "duplicate"
        started = time.monotonic()
        try:
            sent = deliver(url, found.title, found.body, self.timeout)
        except Exception as exc:  # a plugin's bug is the target's failure, not the job's
            sent, error = False, f"{type(exc).__name__}: {exc}"
        else:
            error = "" if sent else "the service did not accept it (see apprise's reason above)"
        took = round(time.monotonic() - started, 3)
        if sent:
            log.info(
                "notified",
                extra={"target": target, "event": found.event, "record": record.id, "took": took},
            )
            return "sent"
        log.warning(
            "notification failed",
            extra={
                "target": target,
                "event": found.event,
                "record": record.id,
                "number": record.pr,
                "took": took,
                "error": error,
            },
        )
        return "failed"


def deliver(url: str, title: str, body: str, timeout: float) -> bool:
    """One message to one Apprise URL, each connection and read bounded by `timeout`."""
    import apprise  # only where messages are sent: it loads a plugin per service

    target: Any = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if target is None:
        raise ValueError("not an Apprise URL promobot can use")
    # the URL may ask for longer (?rto=, ?cto=); promobot's timeout is the ceiling
    target.socket_connect_timeout = min(float(target.socket_connect_timeout), timeout)
    target.socket_read_timeout = min(float(target.socket_read_timeout), timeout)
    return bool(target.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT))
