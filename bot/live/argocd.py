"""Argo CD as a live-state source: every Application promobot needs, in one list call a poll.

One `GET /api/v1/applications` per Argo CD instance and poll, whatever the number of apps and
environments, with `fields=` so the answer carries only what `Live` needs. Argo CD has trimmed
the list in two ways (tests/fixtures/argocd/README.md has the sources):

- before v2.6, `fields` are JSON paths: any part of the Application can be asked for, and
  `status.operationState.operation.sync` is the operation that was *asked* for;
- since v2.6, a fixed allowlist (`forwarder_overwrite.go`, `appFields`); other names are dropped
  without an error. `status.sync.revision` is on it only since v3.5; `status.sync.revisions`
  and `status.history` never are; `status.operationState.operation.sync` is filled with the
  last sync's *result* despite its name.

So `FIELDS` names both (each release answers the names it knows), and an Application whose
answer the list cannot give — a sync under way or failed, whose revision is in the history,
and one never synced on v2.6–v3.4 — is read whole (`GET /api/v1/applications/{name}`),
once per operation. Argo CD sends no ETag and answers no conditional request, so every poll
reads the whole (filtered) list.

**What runs** is what the last sync that succeeded applied, as Argo CD's own `on-deployed`
trigger counts a deployment (`operationState.phase` Succeeded, once per
`syncResult.revision`). `status.sync.revision` is what git asks for — what Argo CD *compared
against* — which runs only when it is Synced and that sync is done:

    the last operation     runs (Live.revision)                  sync          since
    Succeeded              its result: syncResult.revision(s)    Argo CD's     its end
    Running, Terminating   the newest status.history entry       out-of-sync*  its deployedAt
    Failed, Error          the newest status.history entry       out-of-sync*  its deployedAt
    none (never synced)    status.sync.revision(s) when Synced,  Argo CD's     -
                           else nothing

    * unless that entry is the revision the operation is for; then Argo CD's word.

An OutOfSync Application whose last sync succeeded runs that sync's revision, not the one git
asks for: the versions there are what runs, and the drift shows. A multi-source Application
(`revisions`, one per source) runs the first of them that is a git commit (a Helm chart's
revision is its version, an OCI one a digest). The health is always Argo CD's; `since` is
the later of the time above and `status.health.lastTransitionTime` (since v2.14: before, only
the sync's end). `status.reconciledAt` is when Argo CD last compared, which it does every few
minutes whether or not anything changed, so it says nothing about since.

Each Application becomes a `Live`, keyed by Application name:

- sync: `status.sync.status` (Synced, OutOfSync, Unknown), but see the table
- health: `status.health.status` (Healthy, Progressing, Degraded, Suspended, Missing, Unknown)
- revision, since: the table
- images: `status.summary.images`
- message: a sync under way or failed (`sync to 1a2b3c4d5e failed: …`), then the first
  Degraded resource's health message (resource health is in the Application only with
  `controller.resource.health.persist`, the default before v3.0), else the Application's
  own health message
- rollout: an Argo Rollouts `Rollout` among the resources whose health names a pause
  (CanaryPauseStep, BlueGreenPause): Argo CD does not carry the step or the weight.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from bot.config import Config
from bot.download import MAX_BYTES, fetch, shown
from bot.errors import RateLimited, SourceError, Unavailable
from bot.forges.retry import DEFAULT, Policy, retrying
from bot.live import objects
from bot.live.state import Health, Live, Rollout, Sync

# What the list asks for. On Argo CD's allowlist (v2.6 and later; JSON paths before):
ALLOWLISTED = (
    "items.metadata.name",
    "items.metadata.namespace",
    "items.status.sync.status",
    "items.status.sync.revision",  # v3.5 and later, and before v2.6
    "items.status.health",
    "items.status.summary",
    "items.status.resources",
    "items.status.operationState.phase",
    "items.status.operationState.startedAt",
    "items.status.operationState.finishedAt",
    "items.status.operationState.operation.sync",  # v2.6 and later: the sync *result*
)
# JSON paths only Argo CD before v2.6 answers (later ones drop them without an error)
BEFORE_2_6 = (
    "items.status.sync.revisions",
    "items.status.operationState.message",
    "items.status.operationState.syncResult.revision",
    "items.status.operationState.syncResult.revisions",
    "items.status.history.id",
    "items.status.history.revision",
    "items.status.history.revisions",
    "items.status.history.deployedAt",
    "metadata.resourceVersion",  # before v2.6 the list's own metadata is trimmed too
)
FIELDS = ALLOWLISTED + BEFORE_2_6
RUNNING = ("Running", "Terminating")
FAILED = ("Failed", "Error")
WHOLE_KEPT = 1000  # Applications' history kept, by operation: a sync under way or failed
# A Kubernetes object name (DNS-1123 subdomain): it goes into an API path, so nothing else.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_SYNC: dict[str, Sync] = {"Synced": "synced", "OutOfSync": "out-of-sync"}
_HEALTH: dict[str, Health] = {
    "Healthy": "healthy",
    "Progressing": "progressing",
    "Degraded": "degraded",
    "Suspended": "suspended",
    "Missing": "missing",
}


class ArgoCDError(SourceError):
    """Argo CD cannot be read: unreachable, failing, or refusing the token."""


class Forbidden(ArgoCDError):
    """403: Argo CD's answer both for an Application that does not exist and for one the
    token may not read (it does not say which, so that names do not leak)."""


@dataclass(frozen=True)
class Poll:
    """One poll of one Argo CD instance."""

    lives: dict[str, Live]  # by Application name: every name asked for
    calls: int  # HTTP requests it took, retries included
    resource_version: str  # the list's metadata.resourceVersion


def wanted(config: Config) -> dict[str, list[tuple[str, str]]]:
    """The Applications the configuration reads from Argo CD → the (app, env) pairs each
    speaks for."""
    return objects.speakers(config, "argocd")


class ArgoCD:
    """One Argo CD instance's API, read with a bearer token (an account's or a project's)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        client: httpx.Client | None = None,
        policy: Policy = DEFAULT,
        timeout: float = 30.0,
        limit: int = MAX_BYTES,
        selector: str = "",
        projects: Iterable[str] = (),
    ) -> None:
        self.url = url.rstrip("/")
        self.source = f"argocd {self.url}"
        self._token = token
        self._client = client or httpx.Client(timeout=timeout)
        self._policy = policy
        self._limit = limit
        self._selector = selector
        self._projects = tuple(projects)
        # (name, operation started, phase) → what only the whole Application says of it:
        # a history entry changes only when an operation ends, so once per operation
        self._whole: OrderedDict[tuple[str, str, str], dict[str, Any]] = OrderedDict()
        self._whole_lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    def poll(self, names: Iterable[str], now: datetime | None = None) -> Poll:
        """`Live` for every name in `names`, from one list call (plus retries).

        A name Argo CD does not list (no such Application, or the token may not read it: the
        list leaves those out silently) is reported unknown, with a message saying so.
        """
        observed = now or datetime.now(UTC)
        params: list[tuple[str, str]] = [("fields", ",".join(FIELDS))]
        if self._selector:
            params.append(("selector", self._selector))
        params += [("projects", p) for p in self._projects]
        calls = 0

        def call() -> Any:
            nonlocal calls
            calls += 1
            return self._get("/api/v1/applications", params)

        body = self._retrying(call)
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list) and items is not None:
            raise ArgoCDError(f"{self.source}: the application list has no items list")
        listed: dict[str, Live] = {}
        for item in items or []:
            if not isinstance(item, dict):
                continue
            meta = _obj(item, "metadata")
            name = meta.get("name")
            if not isinstance(name, str):
                continue
            namespace = meta.get("namespace")
            qualified = f"{namespace}/{name}" if isinstance(namespace, str) and namespace else name
            if lacks(item):
                item, asked = self._completed(qualified, item)
                calls += asked
            live = to_live(listed_app(item), self.source, observed)
            listed[name] = live
            listed[qualified] = live  # apps in any namespace: ns/name
        lives = {
            name: listed.get(name) or self._absent(name, observed) for name in dict.fromkeys(names)
        }
        version = _obj(body, "metadata").get("resourceVersion") if isinstance(body, dict) else ""
        return Poll(lives, calls, str(version or ""))

    def application(self, name: str, now: datetime | None = None) -> Live:
        """One Application, read whole: what a notification names, refreshed at once."""
        try:
            body, _ = self._read_whole(name)
        except Forbidden:
            return self._absent(name, now or datetime.now(UTC))
        return to_live(body, self.source, now or datetime.now(UTC))

    def _read_whole(self, name: str) -> tuple[dict[str, Any], int]:
        """The whole Application `name` (`namespace/name` in any namespace), and the requests
        that took."""
        namespace, _, short = name.rpartition("/")
        if not valid_name(short) or (namespace and not valid_name(namespace)):
            raise ArgoCDError(f"{self.source}: {name!r} is not an Application name")
        params = [("appNamespace", namespace)] if namespace else []
        calls = 0

        def call() -> Any:
            nonlocal calls
            calls += 1
            return self._get(f"/api/v1/applications/{short}", params)

        body = self._retrying(call)
        if not isinstance(body, dict):
            raise ArgoCDError(f"{self.source}: application {name} is not a JSON object")
        return body, calls

    def _completed(self, name: str, app: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """`app` as listed, with what only the whole Application says (see `lacks`) read
        from it, and the requests that took. The history is kept per operation; a revision
        git asks for is read each time (it moves without an operation)."""
        operation = _obj(_obj(app, "status"), "operationState")
        key = (name, str(operation.get("startedAt")), str(operation.get("phase")))
        with self._whole_lock:
            kept = self._whole.get(key)
        asked = 0
        if kept is None:
            try:
                body, asked = self._read_whole(name)
            except ArgoCDError:  # gone since the list, or unreadable: what the list said
                return app, 1
            whole = _obj(body, "status")
            kept = {
                "history": whole.get("history"),
                "message": _obj(whole, "operationState").get("message"),
                "sync": _obj(whole, "sync"),
            }
            if operation:  # the sync status moves on its own: only an operation's parts kept
                with self._whole_lock:
                    self._whole[key] = kept
                    while len(self._whole) > WHOLE_KEPT:
                        self._whole.popitem(last=False)
        status = dict(_obj(app, "status"))
        status["history"] = kept["history"]
        if operation:
            status["operationState"] = {**operation, "message": kept["message"]}
        else:
            status["sync"] = {**_obj(status, "sync"), **kept["sync"]}
        return {**app, "status": status}, asked

    def _absent(self, name: str, observed: datetime) -> Live:
        return Live.unknown(
            self.source, observed, f"Argo CD has no Application {name!r} that this token may read"
        )

    def _retrying(self, call: Callable[[], Any]) -> Any:
        try:
            return retrying(call, self._policy)
        except (Unavailable, RateLimited) as exc:
            raise ArgoCDError(str(exc)) from None

    def _get(self, path: str, params: list[tuple[str, str]]) -> Any:
        url = httpx.URL(self.url + path, params=params)
        where = f"{self.source} ({shown(url)})"
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        try:
            response = fetch(self._client, "GET", str(url), headers=headers, limit=self._limit)
        except httpx.TimeoutException:
            raise Unavailable(f"{where}: timed out") from None
        except httpx.HTTPError as exc:
            raise Unavailable(f"{where}: cannot connect ({type(exc).__name__}: {exc})") from None
        status = response.status_code
        if status == 200:
            try:
                return json.loads(response.content)
            except ValueError:
                raise ArgoCDError(f"{where}: the answer is not JSON") from None
        said = _said(response)
        if status == 429:
            retry_after = response.headers.get("Retry-After", "")
            wait = float(retry_after) if retry_after.isdigit() else 10.0
            raise RateLimited(f"{where}: 429 {said}", wait)
        if status >= 500:
            raise Unavailable(f"{where}: {status} {said}")
        if status == 401:
            raise ArgoCDError(
                f"{where}: 401 {said}; check PROMOBOT_ARGOCD_TOKEN (an Argo CD account or "
                "project token that may get the applications)"
            )
        if status == 403:
            raise Forbidden(f"{where}: 403 {said}")
        raise ArgoCDError(f"{where}: {status} {said}")


def valid_name(name: str) -> bool:
    """Whether `name` can be an Application's name (and so a safe URL path segment)."""
    return bool(_NAME.fullmatch(name))


def listed_app(item: dict[str, Any]) -> dict[str, Any]:
    """A list item in the whole Application's shape: since v2.6 the allowlist writes the sync
    result as `operationState.operation.sync`; before, a JSON path asks for `syncResult`."""
    operation = _obj(_obj(item, "status"), "operationState")
    if not operation or "syncResult" in operation:
        return item
    moved = {k: v for k, v in operation.items() if k != "operation"}
    moved["syncResult"] = _obj(operation, "operation").get("sync")
    return {**item, "status": {**_obj(item, "status"), "operationState": moved}}


def lacks(item: Mapping[str, Any]) -> bool:
    """Whether a list item leaves out what the table needs: the history of an Application
    whose sync runs or failed (the allowlist has none; JSON paths, which carry `syncResult`,
    have it when there is one), or the revision of a Synced one never synced (v2.6 to v3.4)."""
    status = _obj(item, "status")
    operation = _obj(status, "operationState")
    phase = operation.get("phase")
    if phase in RUNNING or phase in FAILED:
        return "history" not in status and "syncResult" not in operation
    sync = _obj(status, "sync")
    return phase is None and sync.get("status") == "Synced" and _revision(sync) is None


def to_live(app: Mapping[str, Any], source: str, observed: datetime) -> Live:
    """One Application (whole, or as `fields` trimmed it: `listed_app`) → `Live`."""
    status = _obj(app, "status")
    sync_status = _obj(status, "sync")
    health_status = _obj(status, "health")
    operation = _obj(status, "operationState")
    # the last operation's result; until it has one, what it was asked for
    result = _obj(operation, "syncResult") or _obj(_obj(operation, "operation"), "sync")
    resources = [r for r in status.get("resources") or [] if isinstance(r, dict)]
    health = _HEALTH.get(str(health_status.get("status")), "unknown")
    sync = _SYNC.get(str(sync_status.get("status")), "unknown")
    phase = operation.get("phase")
    target = _revision(result)
    said = ""
    if phase == "Succeeded":
        revision, ended = target, operation.get("finishedAt")
    elif phase in RUNNING or phase in FAILED:
        last = _newest(status.get("history"))
        revision, ended = _revision(last), last.get("deployedAt")
        if target is not None and revision != target:
            sync = "out-of-sync"  # the cluster has not (all) taken what the operation is for
        what = f"sync to {target[:10]}" if target else "sync"
        if phase in RUNNING:
            said = f"{what} running"
        else:
            why = operation.get("message")
            said = f"{what} failed" + (f": {why}" if isinstance(why, str) and why else "")
    else:  # never synced: the cluster matches what git asks, if Argo CD says so
        revision = _revision(sync_status) if sync == "synced" else None
        ended = None
    message = _message(health, health_status, resources)
    return Live(
        source=source,
        sync=sync,
        health=health,
        revision=revision,
        since=_latest(ended, health_status.get("lastTransitionTime")),
        observed=observed,
        images=tuple(i for i in _obj(status, "summary").get("images") or [] if isinstance(i, str)),
        message="; ".join(m for m in (said, message) if m),
        rollout=_rollout(resources),
    )


def _obj(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


_COMMIT = re.compile(r"[0-9a-f]{40}")


def _revision(data: Mapping[str, Any]) -> str | None:
    """`revision`, or of a multi-source one's `revisions` the first git commit (a Helm
    chart's revision is its version, an OCI one a digest), else the first."""
    revision = data.get("revision")
    if isinstance(revision, str) and revision:
        return revision
    revisions = [r for r in data.get("revisions") or [] if isinstance(r, str) and r]
    commits = [r for r in revisions if _COMMIT.fullmatch(r)]
    return next(iter(commits or revisions), None)


def _newest(history: Any) -> Mapping[str, Any]:
    """The newest entry of `status.history` (Argo CD appends; the id says the order)."""
    entries = [e for e in history or [] if isinstance(e, dict)] if isinstance(history, list) else []
    if not entries:
        return {}
    return max(enumerate(entries), key=lambda pair: (_id(pair[1]), pair[0]))[1]


def _id(entry: Mapping[str, Any]) -> int:
    found = entry.get("id")
    return found if isinstance(found, int) and not isinstance(found, bool) else -1


def _latest(*stamps: Any) -> datetime | None:
    times = []
    for stamp in stamps:
        if isinstance(stamp, str) and stamp:
            try:
                times.append(datetime.fromisoformat(stamp.replace("Z", "+00:00")))
            except ValueError:
                continue
    return max(times, default=None)


def _message(health: Health, app_health: Mapping[str, Any], resources: list[dict[str, Any]]) -> str:
    if health == "healthy":
        return ""
    for resource in resources:
        resource_health = _obj(resource, "health")
        if resource_health.get("status") == "Degraded" and resource_health.get("message"):
            return f"{resource.get('kind')}/{resource.get('name')}: {resource_health['message']}"
    message = app_health.get("message")
    return message if isinstance(message, str) else ""


def _rollout(resources: list[dict[str, Any]]) -> Rollout | None:
    """An Argo Rollouts Rollout that is paused at a step Argo CD's health check names.

    Argo CD's health check for Rollouts passes the Rollout's phase and message through
    (Paused → Suspended); the message of a pause is its reason. Other phases do not say which
    strategy runs, so they are left to `health` rather than guessed."""
    for resource in resources:
        if resource.get("group") != "argoproj.io" or resource.get("kind") != "Rollout":
            continue
        resource_health = _obj(resource, "health")
        message = str(resource_health.get("message") or "")
        if resource_health.get("status") != "Suspended":
            continue
        if "CanaryPauseStep" in message:
            return Rollout("canary", "paused")
        if "BlueGreenPause" in message:
            return Rollout("blue-green", "paused")
    return None


def _said(response: httpx.Response) -> str:
    """grpc-gateway's error message (`{"error", "code", "message"}`), or the start of the body."""
    try:
        data = json.loads(response.content)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])[:200]
    return response.content[:200].decode("utf-8", "replace").strip() or response.reason_phrase
