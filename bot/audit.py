"""The audit log: every decision promobot makes, as one structured, append-only record.

"Who promoted what, where, when, on whose approval" must be one query, so each decision is
written once, where it is made — a PR opened, superseded or closed, a gate verdict that changed
(with its inputs), a command (its author and whether they were allowed), a merge (its SHA and
the approvals that counted), a refusal (why), a verification passed or failed, a rollback
opened — as a `Record`: a frozen dataclass whose JSON form is stable and versioned (`v`).

A `Recorder` is handed to the engine, the gatekeeper, the runner and the service, as the
gatekeeper's `on_merge` is; it stamps the record with what the job knows (the delivery id, the
job id, who asked), and hands it to its sinks: a JSON-lines file in the data dir, the queue's
store (SQLite table or Redis stream, so every process and pod sees every record), and the
notifier (`bot.notify`), which queues the messages people asked for. A sink that fails costs a
log line and never the decision: the promotion goes on.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

from bot import metrics
from bot.config import parse_duration

log = logging.getLogger("promobot.audit")

VERSION = 1
FILENAME = "audit.jsonl"
Kind = Literal[
    "opened",  # a promotion PR opened
    "superseded",  # rebuilt with newer versions (or on the current base)
    "closed",  # closed by promobot: it would change nothing
    "rollback-opened",  # a rollback PR opened (after a failed verification, or /rollback)
    "gate",  # a gate verdict that changed, with its inputs
    "command",  # a slash command: its author, and whether they were allowed
    "merged",  # merged: the SHA, the approvals that counted
    "refused",  # a merge promobot refused (the head is not its commit, files it does not write)
    "verified",  # the cluster took the promotion
    "verification-failed",  # it did not
]
KINDS: tuple[str, ...] = get_args(Kind)
GATES_KEPT = 20_000  # PRs whose last gate verdict is remembered in memory


@dataclass(frozen=True)
class Change:
    app: str
    component: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class Record:
    """One decision. Fields that do not apply to a kind are empty, never absent, in JSON."""

    kind: Kind
    repo: str
    at: datetime  # aware, UTC
    id: str = field(default_factory=lambda: new_id())
    env: str | None = None
    apps: tuple[str, ...] = ()
    pr: int | None = None
    url: str | None = None  # the PR
    title: str | None = None  # the PR's title: what it promotes, in words
    head: str | None = None  # the PR's head commit (what was evaluated, approved, merged)
    sha: str | None = None  # merged: the merge commit
    changes: tuple[Change, ...] = ()
    cause: str | None = None  # the promotion's: upstream, artifact, manual, set, rollback
    actor: str | None = None  # who asked: a command's author; None for promobot on its own
    approvers: tuple[str, ...] = ()  # merged and gate: the approvals that counted
    requested_by: tuple[str, ...] = ()
    outcome: str = ""  # gate: pass/pending/fail; command: allowed/refused/failed; …
    reason: str = ""  # one line a person reads
    command: str | None = None  # the command line as written
    inputs: Mapping[str, Any] = field(default_factory=dict)  # what a verdict was made from
    delivery: str | None = None  # the webhook delivery that led to it
    job: str | None = None
    # opened and merged: what the promotion changes in the cluster (impact classes); None:
    # unknown (not rendered), or written before promobot rendered
    impact: tuple[str, ...] | None = None
    v: int = VERSION

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form: every field, always in this order."""
        return {
            "v": self.v,
            "id": self.id,
            "at": self.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "repo": self.repo,
            "kind": self.kind,
            "env": self.env,
            "apps": list(self.apps),
            "pr": self.pr,
            "url": self.url,
            "title": self.title,
            "head": self.head,
            "sha": self.sha,
            "changes": [
                {"app": c.app, "component": c.component, "from": c.before, "to": c.after}
                for c in self.changes
            ],
            "cause": self.cause,
            "actor": self.actor,
            "approvers": list(self.approvers),
            "requested_by": list(self.requested_by),
            "outcome": self.outcome,
            "reason": self.reason,
            "command": self.command,
            "inputs": dict(self.inputs),
            "delivery": self.delivery,
            "job": self.job,
            "impact": None if self.impact is None else list(self.impact),
        }

    def line(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False, default=str)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Record:
        if data.get("v") != VERSION:
            raise ValueError(f"audit record version {data.get('v')!r}, not {VERSION}")
        kind = data["kind"]
        if kind not in KINDS:
            raise ValueError(f"unknown audit record kind {kind!r}")
        return cls(
            kind=kind,
            repo=str(data["repo"]),
            at=datetime.fromisoformat(str(data["at"]).replace("Z", "+00:00")),
            id=str(data["id"]),
            env=data.get("env"),
            apps=tuple(data.get("apps") or ()),
            pr=data.get("pr"),
            url=data.get("url"),
            title=data.get("title"),
            head=data.get("head"),
            sha=data.get("sha"),
            changes=tuple(
                Change(c["app"], c["component"], c.get("from"), c.get("to"))
                for c in data.get("changes") or ()
            ),
            cause=data.get("cause"),
            actor=data.get("actor"),
            approvers=tuple(data.get("approvers") or ()),
            requested_by=tuple(data.get("requested_by") or ()),
            outcome=str(data.get("outcome") or ""),
            reason=str(data.get("reason") or ""),
            command=data.get("command"),
            inputs=dict(data.get("inputs") or {}),
            delivery=data.get("delivery"),
            job=data.get("job"),
            impact=None if data.get("impact") is None else tuple(data["impact"]),
        )

    @classmethod
    def parse(cls, text: str) -> Record:
        return cls.from_json(json.loads(text))

    def versions(self) -> str:
        """`image 1.4.2 → 1.5.0` (with the app when there are several)."""
        several = len(self.apps) > 1
        return ", ".join(
            (f"{c.app} " if several else "") + f"{c.component} {c.before or '—'} → {c.after or '—'}"
            for c in self.changes
        )


def new_id() -> str:
    """Sortable by time (milliseconds, hex) and unique (random): `0192f3a4b5c6-1a2b3c4d5e6f`."""
    millis = int(datetime.now(UTC).timestamp() * 1000)
    return f"{millis:012x}-{secrets.token_hex(6)}"


# --- the job's context: what every record of the job carries -----------------------------------

_CONTEXT: ContextVar[Mapping[str, str | None] | None] = ContextVar("promobot_audit", default=None)


@contextlib.contextmanager
def context(**fields: str | None) -> Iterator[None]:
    """Within: records carry these `delivery`, `job` and `actor` (inner values win)."""
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **{k: v for k, v in fields.items() if v}})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def current(name: str) -> str | None:
    return (_CONTEXT.get() or {}).get(name)


# --- where records go ----------------------------------------------------------------------------


class Store(Protocol):
    """The queue's store, as the audit log uses it (`bot.queue.RepoQueue`)."""

    def audit_append(self, record: Record) -> None: ...

    def recall(self, name: str) -> str | None: ...

    def remember(self, name: str, value: str) -> None: ...


Sink = Callable[[Record], None]


class JsonLines:
    """`audit.jsonl` in the data dir: one record a line, appended (O_APPEND: a line written by
    one call is not interleaved with another process's), never rewritten."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def __call__(self, record: Record) -> None:
        data = (record.line() + "\n").encode()
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)


def read_lines(path: Path) -> Iterator[Record]:
    """The records of a JSON-lines file; a line that does not parse is skipped (and logged)."""
    with path.open(encoding="utf-8") as lines:
        for number, text in enumerate(lines, 1):
            if not text.strip():
                continue
            try:
                yield Record.parse(text)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("audit line skipped", extra={"line": number, "error": str(exc)})


class Recorder:
    """Writes the records of one repo: stamped with the job's context, to every sink."""

    def __init__(
        self,
        repo: str,
        sinks: Sequence[Sink] = (),
        *,
        store: Store | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.repo = repo
        self.store = store
        self.sinks: list[Sink] = list(sinks)
        self.clock = clock
        self._last: OrderedDict[str, str] = OrderedDict()  # "gate.<PR>" → its last verdict's digest
        self._lock = threading.Lock()
        self.unchanged = 0  # gate verdicts not recorded because nothing changed

    def __call__(self, kind: Kind, **fields: Any) -> Record:
        record = Record(
            kind=kind,
            repo=self.repo,
            at=self.clock().astimezone(UTC),
            delivery=current("delivery"),
            job=current("job"),
            actor=fields.pop("actor", None) or current("actor"),
            **fields,
        )
        if self.store is not None:
            self._to(record, self.store.audit_append, "store")
        for sink in self.sinks:
            self._to(record, sink, getattr(sink, "__name__", type(sink).__name__))
        metrics.AUDIT_RECORDS.labels(record.kind).inc()
        return record

    @staticmethod
    def _to(record: Record, sink: Sink, name: str) -> None:
        try:
            sink(record)
        except Exception as exc:  # a full disk or a Redis hiccup never stops the decision
            metrics.AUDIT_FAILED.labels(name).inc()
            log.error(
                "audit record not written",
                extra={"sink": name, "kind": record.kind, "record": record.id, "error": str(exc)},
            )

    def changed(self, key: str, verdict: object) -> bool:
        """Whether the verdict under `key` (`gate.<PR>`) differs from the last one recorded:
        the reconcile evaluates often, and an unchanged verdict is no decision. Asked of memory
        first (no I/O), then of the store (one read, so another process's record counts)."""
        digest = hashlib.sha256(
            json.dumps(verdict, sort_keys=True, default=str).encode()
        ).hexdigest()[:24]
        with self._lock:
            if self._last.get(key) == digest:
                self._last.move_to_end(key)
                self.unchanged += 1
                metrics.AUDIT_GATES_UNCHANGED.inc()
                return False
        key = f"audit.{key}"
        stored = self.store.recall(key) if self.store is not None else None
        with self._lock:
            self._last[key.removeprefix("audit.")] = digest
            while len(self._last) > GATES_KEPT:
                self._last.popitem(last=False)
        if stored == digest:
            self.unchanged += 1
            metrics.AUDIT_GATES_UNCHANGED.inc()
            return False
        if self.store is not None:
            self.store.remember(key, digest)
        return True


def changes_of(promotion: Any) -> tuple[Change, ...]:
    """The rows of a `bot.planner.Promotion` that change something."""
    return tuple(
        Change(plan.app, row.component, row.before, row.after)
        for plan in promotion.apps
        for row in plan.changed
    )


def about(promotion: Any, pr: Any | None = None) -> dict[str, Any]:
    """The fields every record about a promotion (and its PR) carries."""
    found: dict[str, Any] = {
        "env": promotion.env,
        "apps": tuple(plan.app for plan in promotion.apps),
        "changes": changes_of(promotion),
        "requested_by": tuple(promotion.requested_by),
        "cause": promotion.reason,
    }
    if pr is not None:
        found.update(pr=pr.number, url=pr.url or None, title=pr.title, head=pr.head_sha)
    return found


def since(text: str, now: datetime | None = None) -> datetime:
    """`--since`/`?since=`: an ISO date or time (UTC unless it says), or a duration ago (`7d`,
    `24h`). ValueError says what would be right."""
    text = text.strip()
    try:
        ago = parse_duration(text)
    except ValueError:
        pass
    else:
        if ago.total_seconds() > 0:
            return (now or datetime.now(UTC)) - ago
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"since: {text!r} is neither a date or time (2026-01-31, 2026-01-31T12:00Z) nor a "
            "duration ago (7d, 24h)"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def matches(
    record: Record, app: str | None = None, env: str | None = None, after: datetime | None = None
) -> bool:
    return (
        (app is None or app in record.apps)
        and (env is None or record.env == env)
        and (after is None or record.at >= after)
    )
