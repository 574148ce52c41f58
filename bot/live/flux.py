"""Flux: notification-controller events → `Live`.

**Delivery.** A Provider of type `generic-hmac` POSTs each event to `/webhooks/flux` as JSON
(`Content-Type: application/json`, `Gotk-Component: <controller>`) with `X-Signature:
sha256=<hex HMAC-SHA256 of the body>`, keyed with the `token` of the Provider's `secretRef`
(fluxcd/notification-controller `internal/notifier/forwarder.go`: the body is the same
`json.Marshal(event)` that is signed). Flux's docs say the hash "currently defaults to sha256,
which may change", and their example receiver also takes sha224, sha384 and sha512; so do we,
and nothing else. The signature is checked, in constant time, before the body is parsed.

**Event** (fluxcd/pkg `apis/event/v1beta1.Event`): `involvedObject` {kind, namespace, name,
uid, apiVersion, resourceVersion}, `severity` (trace|info|error), `timestamp` (RFC 3339,
seconds), `message` (≤ 39,000 characters), `reason`, `metadata`, `reportingController`,
`reportingInstance`. notification-controller strips the API group from metadata keys before
forwarding (since v0.23, 2022: `kustomize.toolkit.fluxcd.io/revision` → `revision`); its own
docs still show the prefixed key, so both are read. It also drops an event equal to one sent
in the last 5 minutes, so a steady state is reported once, not on every reconcile. The event
of notification-controller's first spec (2020) differs: `timestamp` in float seconds since the
epoch (`1587195448.071468`), no uid, and the revision only in the message (`Kustomization
applied in 1.4s, revision: master/<sha>`); it is read too.

**Revision**: the first of the metadata keys `commit`, `originRevision`, `revision` (the order
of `Event.GetRevision`), with or without their API group; without any, the word after
`revision` in the message. Its git SHA, in every form Flux has used:

    main@sha1:<sha>, feature/x@sha1:<sha>, sha1:<sha>   Flux ≥ 2.0 (RFC 0005)
    main/<sha>, feature/x/<sha>, HEAD/<sha>, <sha>       before
    master/a1afe267b (7 to 39 hex digits)                an abbreviation: `Live.unresolved`
    latest@sha256:<digest>, sha256:<digest>              OCI and Bucket sources: no git SHA → None
    6.1.0, 0.0.2+eb02f2ecb66c                            HelmRelease: a chart version → None

An abbreviation is never taken for a commit here: the reader resolves it against the env
repo's history (`bot.live.reader.resolve`), and one that abbreviates no commit or several stays
unresolved.

A Kustomization that applies the env repo names the env-repo commit the cluster runs; a
HelmRelease names its chart, so its `Live.revision` stays None.

**State** — sync and health from the reason; a severity that contradicts the reason (a
success reported as an error, a failure as info) is not believed: unknown, unknown.

    reason                                        severity  sync         health
    ReconciliationSucceeded, InstallSucceeded,    info      synced       healthy
      UpgradeSucceeded, TestSucceeded,
      ApplySucceeded (2020)
    Progressing (applied, health checks running)  any       synced       progressing
    HealthCheckCanceled (a newer revision came)   any       synced       progressing
    ProgressingWithRetry (failed, will retry)     any       out-of-sync  progressing
    DependencyNotReady (waits for dependsOn)      any       out-of-sync  progressing
    HealthCheckFailed, TestFailed                 error     synced       degraded
    ReconciliationFailed, BuildFailed,            error     out-of-sync  degraded
      ValidationFailed, PruneFailed,
      ArtifactFailed, InstallFailed,
      UpgradeFailed, RollbackFailed,
      UninstallFailed, InitFailed,
      GetLastReleaseFailed, ApplyFailed (2020)
    RollbackSucceeded (the upgrade failed)        info      out-of-sync  degraded
    UninstallSucceeded (remediated by removal)    info      out-of-sync  missing
    Suspended                                     any       unknown      suspended
    anything else                                 any       unknown      unknown

kustomize-controller v0.0.10 to v0.0.12 (September 2020) said ApplySucceeded and ApplyFailed;
before, it sent the severity as the reason ("info", "error"), which says nothing of the state.

A failure is degraded even when the cluster still runs the previous revision: a merge whose
revision Flux cannot apply is a failed deployment, which is what verification must see.

**Commit statuses.** Flux's `github`, `gitlab`, `gitea`, `bitbucket`… providers post a status
on the revision's commit instead: state success for info, failure for error (Progressing
events are skipped); description the reason split at capitals, lower-cased ("health check
failed"); context `<kind>/<name>/<provider uid up to its first '-'>`, lower-cased, e.g.
`kustomization/apps/0c9c2e41` (internal/server/provider_commit_status.go, since v0.30;
before, `<kind>/<name>`), or whatever the Provider's `spec.commitStatusExpr` (v1.6) builds.
So `live: {status: {context: "kustomization/{app}/0c9c2e41"}}` reads those statuses;
`status_context`, `parse_status_context` and `reason_from_description` are the helpers.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.config import Config
from bot.errors import PromobotError
from bot.events import EventError
from bot.live import objects
from bot.live.state import Health, Live, Sync

SOURCE: Final = "flux"
# A Flux event is at most ~40 KB (message ≤ 39,000 characters); Go's JSON escapes `<`, `>`,
# `&` as six bytes each, so a worst-case message takes ~234 KB. Anything larger is not Flux.
MAX_BODY: Final = 256 * 1024
MESSAGE_MAX: Final = 500  # what the overview and PR tables show of Flux's words
_HASHES: Final = {
    "sha224": hashlib.sha224,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}


class FluxError(PromobotError):
    """A Flux delivery promobot refuses; `status` is the HTTP answer, `str()` one line."""

    status = 400


class Unverified(FluxError):
    """No signature, another key's, or a hash function we do not take."""

    status = 401


class Malformed(FluxError, EventError):
    """The body verified but is not a Flux event."""

    status = 400


class TooLarge(FluxError, EventError):
    status = 413


# --- signature ----------------------------------------------------------------------------------


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """`X-Signature: <hash>=<hex HMAC of the raw body>`. An empty secret accepts nothing."""
    if not secret or not header:
        return False
    scheme, sep, given = header.strip().partition("=")
    new = _HASHES.get(scheme.strip().lower())
    if not sep or new is None:
        return False
    expected = hmac.new(secret.encode("utf-8", "surrogatepass"), body, new).hexdigest()
    # bytes, not str: compare_digest refuses non-ASCII str, and a header may hold anything
    return hmac.compare_digest(
        given.strip().lower().encode("utf-8", "surrogatepass"), expected.encode("ascii")
    )


def verify(secret: str, body: bytes, header: str | None, limit: int = MAX_BODY) -> None:
    """Raise `TooLarge` or `Unverified`; the size first, so a huge body costs no HMAC."""
    if len(body) > limit:
        raise TooLarge(f"body larger than {limit} bytes")
    if not signature_ok(secret, body, header):
        raise Unverified("missing or wrong X-Signature")


# --- the event ----------------------------------------------------------------------------------

# Kubernetes names: RFC 1123 subdomains (namespaces are labels, a subset); kinds are CamelCase.
_NAME = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
_KIND = r"^[A-Za-z][A-Za-z0-9]{0,62}$"


class _Model(BaseModel):
    # extra fields are ignored: Flux adds to the event between versions (uid, resourceVersion…)
    model_config = ConfigDict(frozen=True, extra="ignore", strict=True, populate_by_name=True)


class FluxObject(_Model):
    kind: str = Field(pattern=_KIND)
    namespace: str = Field(pattern=_NAME)
    name: str = Field(pattern=_NAME)

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


class FluxEvent(_Model):
    involved: FluxObject = Field(alias="involvedObject")
    severity: str = Field(max_length=32)
    # not strict: behind a "before" validator, strict mode refuses the RFC 3339 string
    timestamp: AwareDatetime = Field(strict=False)
    message: str
    reason: str = Field(max_length=256)
    metadata: dict[str, str] = {}
    controller: str = Field("", alias="reportingController", max_length=256)
    instance: str = Field("", alias="reportingInstance", max_length=256)

    @field_validator("timestamp", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        """Float seconds since the epoch, as the first spec's event (2020) wrote the time."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value  # a string is RFC 3339: the field's own validation reads it
        try:
            if not math.isfinite(value):
                raise ValueError
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError("seconds out of range") from None

    @property
    def revision(self) -> str | None:
        """The revision string Flux names (see the module docstring), as Flux wrote it."""
        return event_revision(self.metadata) or message_revision(self.message)


def parse(body: bytes) -> FluxEvent:
    """The event in a verified body, or `Malformed` with one line that says why."""
    try:
        return FluxEvent.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        what = first["msg"] if first["type"] != "json_invalid" else "not JSON"
        raise Malformed(f"{where}: {what}" if where else f"body: {what}") from None


def read(secret: str, body: bytes, header: str | None, limit: int = MAX_BODY) -> FluxEvent:
    """Verify, then parse: what `/webhooks/flux` does with a delivery."""
    verify(secret, body, header, limit)
    return parse(body)


# --- revision -----------------------------------------------------------------------------------

# a whole SHA-1, or an abbreviation of at least git's default 7 hex digits
_COMMIT = re.compile(r"[0-9a-f]{7,40}")
_KEYS = ("commit", "originRevision", "revision")


def event_revision(metadata: Mapping[str, str]) -> str | None:
    for key in _KEYS:
        if key in metadata:
            return metadata[key]
        for name in sorted(metadata):  # sorted: the same answer whatever the JSON's key order
            group, _, bare = name.rpartition("/")
            if bare == key and group.endswith("toolkit.fluxcd.io"):
                return metadata[name]
    return None


# "revision: master/<sha>", "Fetched revision: main/<sha>", "revision 'main@sha1:<sha>'"
_SAID = re.compile(r"\brevision:?\s+'?([^\s'\",;]+)", re.IGNORECASE)


def message_revision(message: str) -> str | None:
    """The revision a message names, for events whose metadata names none (Flux of 2020)."""
    found = _SAID.search(message)
    return found[1] if found else None


def revision_sha(revision: str | None) -> str | None:
    """The git commit SHA in a Flux revision string, or None when it names none (or only an
    abbreviation: `revision_abbrev`)."""
    named = _named_commit(revision)
    return named if named is not None and len(named) == 40 else None


def revision_abbrev(revision: str | None) -> str | None:
    """The abbreviated commit SHA a Flux revision string names (`master/a1afe267b`), if so."""
    named = _named_commit(revision)
    return named if named is not None and len(named) < 40 else None


def _named_commit(revision: str | None) -> str | None:
    rev = (revision or "").strip().lower()
    if ":" in rev:  # RFC 0005: [<pointer>@]<algorithm>:<hash>
        head, _, digest = rev.rpartition(":")
        algorithm = head.rpartition("@")[2]
        return digest if algorithm == "sha1" and _COMMIT.fullmatch(digest) else None
    last = rev.rpartition("/")[2]  # legacy: [<branch>/]<sha>
    return last if _COMMIT.fullmatch(last) else None


# --- state --------------------------------------------------------------------------------------

_State = tuple[Sync, Health]
_SUCCESS: Final[dict[str, _State]] = {
    "ReconciliationSucceeded": ("synced", "healthy"),
    "InstallSucceeded": ("synced", "healthy"),
    "UpgradeSucceeded": ("synced", "healthy"),
    "TestSucceeded": ("synced", "healthy"),
    "ApplySucceeded": ("synced", "healthy"),
    "RollbackSucceeded": ("out-of-sync", "degraded"),
    "UninstallSucceeded": ("out-of-sync", "missing"),
}
_FAILURE: Final[dict[str, _State]] = {
    "HealthCheckFailed": ("synced", "degraded"),
    "TestFailed": ("synced", "degraded"),
    **{
        reason: ("out-of-sync", "degraded")
        for reason in (
            "ReconciliationFailed",
            "BuildFailed",
            "ValidationFailed",
            "PruneFailed",
            "ArtifactFailed",
            "InstallFailed",
            "UpgradeFailed",
            "RollbackFailed",
            "UninstallFailed",
            "InitFailed",
            "GetLastReleaseFailed",
            "ApplyFailed",
        )
    },
}
_EITHER: Final[dict[str, _State]] = {
    "Progressing": ("synced", "progressing"),
    "HealthCheckCanceled": ("synced", "progressing"),
    "ProgressingWithRetry": ("out-of-sync", "progressing"),
    "DependencyNotReady": ("out-of-sync", "progressing"),
    "Suspended": ("unknown", "suspended"),
}
UNKNOWN: Final[_State] = ("unknown", "unknown")


def state(reason: str, severity: str) -> _State:
    """Sync and health for a reason and severity: the table in the module docstring."""
    if reason in _EITHER:
        return _EITHER[reason]
    if reason in _SUCCESS:
        return _SUCCESS[reason] if severity in ("info", "trace") else UNKNOWN
    if reason in _FAILURE:
        return _FAILURE[reason] if severity == "error" else UNKNOWN
    return UNKNOWN


def known(reason: str) -> bool:
    return reason in _EITHER or reason in _SUCCESS or reason in _FAILURE


def safe_text(text: str, limit: int = MESSAGE_MAX) -> str:
    """One line, no control or format characters (no bidi overrides), at most `limit`."""
    lines = (" ".join(_printable(line).split()) for line in text.splitlines())
    flat = "; ".join(line for line in lines if line)
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _printable(text: str) -> str:
    # a tab is a space; other controls, bidi overrides, surrogates and private use go
    return "".join(
        " " if c.isspace() else c
        for c in text
        if c.isspace() or unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co")
    )


def live(event: FluxEvent, observed: datetime) -> Live:
    """What the event says about its object; `observed` is when promobot received it."""
    sync, health = state(event.reason, event.severity)
    words = event.message if known(event.reason) else f"{event.reason}: {event.message}"
    return Live(
        source=SOURCE,
        sync=sync,
        health=health,
        revision=revision_sha(event.revision),
        since=event.timestamp.astimezone(UTC),
        observed=observed,
        message=safe_text(words),
        unresolved=revision_abbrev(event.revision) or "",
    )


def carry_since(previous: Live | None, current: Live) -> Live:
    """`current`, keeping `previous.since` when nothing but the time changed: Flux repeats
    a state (after its 5-minute dedupe window, on a restart), which must not reset a soak."""
    if (
        previous is not None
        and previous.since is not None
        and (previous.sync, previous.health, previous.revision, previous.unresolved)
        == (current.sync, current.health, current.revision, current.unresolved)
        and (current.since is None or previous.since <= current.since)
    ):
        return replace(current, since=previous.since)
    return current


# --- which apps ---------------------------------------------------------------------------------


def index(config: Config) -> dict[tuple[str, str], tuple[tuple[str, str], ...]]:
    """(kind, "namespace/name") → the (app, env) pairs whose `live: {flux: …}` names that
    object. Build it once per configuration when many events come in."""
    found = {}
    for named, pairs in objects.speakers(config, "flux").items():
        kind, obj = named.split(" ", 1)  # objects.name: the kind, then namespace/name
        found[(kind, obj)] = tuple(pairs)
    return found


def targets(event: FluxEvent, config: Config) -> tuple[tuple[str, str], ...]:
    """The (app, env) pairs this event speaks for; none for an object no environment names."""
    obj = event.involved
    return index(config).get((obj.kind, f"{obj.namespace}/{obj.name}"), ())


# --- commit statuses ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusContext:
    kind: str  # lower case, as in the context: "kustomization"
    name: str
    provider: str | None  # the Provider UID's first part; None in the pre-v0.30 form


# only Flux's kinds: the pre-v0.30 form `<kind>/<name>` would otherwise match any context
_CONTEXT = re.compile(
    r"(kustomization|helmrelease|gitrepository|ocirepository|helmchart|bucket)"
    r"/([a-z0-9](?:[-a-z0-9.]*[a-z0-9])?)(?:/([0-9a-f]{8}))?"
)


def status_context(kind: str, name: str, provider_uid: str) -> str:
    """The context Flux gives its commit statuses when the Provider has no commitStatusExpr:
    `kubectl -n flux-system get provider NAME -o jsonpath='{.metadata.uid}'` gives the uid."""
    return f"{kind}/{name}/{provider_uid.split('-')[0]}".lower()


def parse_status_context(context: str) -> StatusContext | None:
    """A default Flux context, or None for any other (an expression's, Argo CD's, CI's)."""
    match = _CONTEXT.fullmatch(context)
    if match is None:
        return None
    return StatusContext(kind=match[1], name=match[2], provider=match[3])


def reason_from_description(description: str) -> str:
    """Flux's reason back from a commit status description: "health check failed" →
    "HealthCheckFailed", so a status reads through the same table as an event."""
    return "".join(word[:1].upper() + word[1:] for word in description.split())
