"""Webhook deliveries, from the durable append to the events promobot acts on.

The HTTP handler (`bot.web.app`) does only what must happen before its 202: it checks the
sender's credentials, the body's size and the time it took to arrive, and appends the delivery
to the queue as it came. Everything else happens here, in a worker: parsing (`bot.events`),
whether the event concerns this repo at all (`Relevance`), whether it was seen before (its
delivery key, in the queue's store), and only then is the event queued for the engine. So a
burst of deliveries costs the web process a write each, and a slow job never slows the answers.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot import events, metrics
from bot.composition import State
from bot.engine import Engine
from bot.events import EventError
from bot.forges.base import Forge
from bot.live import argocd_webhook, flux

log = logging.getLogger("promobot.intake")

# the headers each source's parser reads (the signature was checked before the append)
HEADERS: dict[str, tuple[str, ...]] = {
    "github": ("x-github-event", "x-github-delivery", "x-github-hook-id"),
    "gitlab": ("x-gitlab-event", "idempotency-key", "x-gitlab-event-uuid"),
    "registry": ("content-type",),
    "artifact": (),
    "argocd": (),
    "flux": (),
}


def delivery(source: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The job a verified delivery becomes: its source, the headers its parser needs, the
    body's exact bytes (JSON text, with any invalid UTF-8 kept as escapes)."""
    return {
        "id": str(uuid.uuid4()),
        "kind": "delivery",
        "source": source,
        "headers": {h: headers[h] for h in HEADERS[source] if h in headers},
        "body": body.decode("utf-8", errors="surrogateescape"),
    }


def parse(source: str, headers: Mapping[str, str], body: bytes) -> list[tuple[str, events.Event]]:
    """(delivery key, event) pairs; EventError for a body promobot cannot read."""
    h = headers.get
    if source == "github":
        key, event = events.parse_github(
            h("x-github-event"), h("x-github-delivery"), body, h("x-github-hook-id")
        )
        return [(key, event)]
    if source == "gitlab":
        key, event = events.parse_gitlab(
            h("x-gitlab-event"), h("idempotency-key"), h("x-gitlab-event-uuid"), body
        )
        return [(key, event)]
    if source == "registry":
        return list(events.parse_registry(h("content-type"), body))
    if source in ("argocd", "flux"):
        return [live_report(source, body)]
    key, artifact = events.parse_artifact(body)
    return [(key, artifact)]


def live_report(source: str, body: bytes) -> tuple[str, events.Event]:
    """A deploying system's notification (its secret or signature was checked): the objects it
    names, keyed by its body's hash (Flux repeats an event; the same body is one report)."""
    key = f"{source}:{hashlib.sha256(body).hexdigest()[:32]}"
    if source == "argocd":
        return key, events.LiveReport(source="argocd", names=argocd_webhook.names(body))
    event = flux.parse(body)
    text = body.decode("utf-8", errors="replace")
    return key, events.LiveReport(source="flux", names=(str(event.involved),), body=text)


@dataclass
class Relevance:
    """What this service cares about: which events need no work at all."""

    repo: str
    forge: Forge
    engine: Engine
    default_branch: str | None = None
    source_keys: set[str] | None = None  # None: not known yet, so everything is relevant
    me: int | None = None  # promobot's own account id
    loaded: bool = False
    problems: list[str] = field(default_factory=list)

    def refresh(self, state: State | None = None) -> None:
        """Read again what decides relevance: the default branch, the apps' sources (from
        `state`, when the caller has it, else the head's), promobot's own account."""
        try:
            self.default_branch = self.forge.default_branch()
            state = state or self.engine.state()
            self.source_keys = {
                c.source.key
                for app in state.config.apps.values()
                for c in app.components.values()
                if c.source is not None
            }
            self.me = self.engine.me.id  # asked once, then kept
            self.problems = []
            self.loaded = True
        except Exception as exc:  # readiness reports it; deliveries keep being taken
            self.problems = [f"{type(exc).__name__}: {exc}"]
            log.warning("not ready", extra={"error": self.problems[0]})

    def why_not(self, event: events.Event) -> str | None:
        """None when the event may need work; otherwise why it needs none."""
        if isinstance(event, events.Ping | events.Ignored):
            return event.reason if isinstance(event, events.Ignored) else "ping"
        if isinstance(event, events.Installation):
            return "installation events change which repos a fleet serves, not a repo"
        sender = getattr(event, "sender_id", None)
        if sender is not None and sender == self.me:
            return "promobot's own action"
        repo = getattr(event, "repo", None)
        if isinstance(event, events.Artifact):
            if self.source_keys is not None and event.source_key not in self.source_keys:
                return f"no app takes versions from {event.source_key}"
            return None
        if repo is not None and repo.lower() != self.repo.lower():
            return f"{repo} is not the environment repo {self.repo}"
        branch = event.branch if isinstance(event, events.Push) else None
        if branch and self.default_branch and branch != self.default_branch:
            return f"a push to {branch}, not to {self.default_branch}"
        return None


class Intake:
    """Turns delivery jobs into event jobs (outside the repo's lock: it reads no repo)."""

    def __init__(
        self,
        relevance: Relevance,
        seen: Callable[[str], bool],
        submit: Callable[[events.Event, str], None],
    ) -> None:
        self.relevance = relevance
        self.seen = seen  # whether a delivery key was taken before (the queue's store)
        self.submit = submit  # queues the event's work, naming the delivery

    def take(self, job: Mapping[str, Any]) -> list[tuple[str, str]]:
        """What became of each event in one delivery — (`queued`, the event's kind),
        (`ignored`, why), (`duplicate`, its key) or (`malformed`, what is wrong) — as logged."""
        source = str(job["source"])
        body = str(job["body"]).encode("utf-8", errors="surrogateescape")
        try:
            parsed = parse(source, job.get("headers") or {}, body)
        except EventError as exc:
            return [outcome_of(source, "malformed", str(exc))]
        return [self.accept(source, key, event) for key, event in parsed]

    def accept(self, source: str, key: str, event: events.Event) -> tuple[str, str]:
        """One parsed event for this repo: ignored, a duplicate, or queued."""
        if not self.relevance.loaded:
            self.relevance.refresh()
        reason = self.relevance.why_not(event)
        if reason is not None:
            return self._outcome(source, "ignored", reason, key)
        if self.seen(key):
            return self._outcome(source, "duplicate", key, key)
        self.submit(event, key)
        return self._outcome(source, "queued", event.kind, key)

    def _outcome(self, source: str, outcome: str, detail: str, key: str = "") -> tuple[str, str]:
        return outcome_of(source, outcome, detail, key, self.relevance.repo)


def outcome_of(
    source: str, outcome: str, detail: str, key: str = "", repo: str | None = None
) -> tuple[str, str]:
    """Count and log what became of one event of a delivery."""
    metrics.DELIVERIES.labels(source, outcome).inc()
    fields = {"source": source, "outcome": outcome, "detail": detail, "delivery": key}
    if repo is not None:
        fields["repo"] = repo
    log.info("delivery", extra=fields)
    return outcome, detail
