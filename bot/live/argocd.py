"""Argo CD as a live-state source: every Application promobot needs, in one list call a poll.

One `GET /api/v1/applications` per Argo CD instance and poll, whatever the number of apps and
environments, with `fields=` so the answer carries only what `Live` needs. Argo CD's `fields`
is a fixed allowlist, not JSON paths (names outside it are dropped without an error):
`status.sync.revision` is on it only since v3.5, and `status.sync.revisions` never is, so the
revision falls back to the last sync's result (`status.operationState.operation.sync`, which
Argo CD fills with the *sync result* despite its name). Argo CD sends no ETag and answers no
conditional request, so every poll reads the whole (filtered) list.

Each Application becomes a `Live`, keyed by Application name:

- sync: `status.sync.status` (Synced, OutOfSync, Unknown)
- health: `status.health.status` (Healthy, Progressing, Degraded, Suspended, Missing, Unknown)
- revision: `status.sync.revision`, else the first of `status.sync.revisions` (multi-source),
  else the last sync result's revision (Argo CD before v3.5, through `fields`)
- since: the later of `status.operationState.finishedAt` (when the last sync ended) and
  `status.health.lastTransitionTime` (when the health last changed): from then on the app has
  run this revision in this health. `status.reconciledAt` is when Argo CD last compared, which
  it does every few minutes whether or not anything changed, so it says nothing about since.
- images: `status.summary.images`
- message: the first Degraded resource's health message (resource health is in the
  Application only with `controller.resource.health.persist`, the default before v3.0), else
  the Application's own health message
- rollout: an Argo Rollouts `Rollout` among the resources whose health names a pause
  (CanaryPauseStep, BlueGreenPause): Argo CD does not carry the step or the weight.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from bot.config import Config
from bot.download import MAX_BYTES, fetch, shown
from bot.errors import RateLimited, SourceError, Unavailable
from bot.forges.retry import DEFAULT, Policy, retrying
from bot.live.state import Health, Live, Rollout, Sync

# What the list asks for; every name is on Argo CD's allowlist (forwarder_overwrite.go).
FIELDS = (
    "items.metadata.name",
    "items.metadata.namespace",
    "items.status.sync.status",
    "items.status.sync.revision",  # v3.5 and later
    "items.status.health",
    "items.status.summary",
    "items.status.resources",
    "items.status.operationState.phase",
    "items.status.operationState.finishedAt",
    "items.status.operationState.operation.sync",  # the sync result: the revision before v3.5
)
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
    return config.live_objects("argocd")


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
            live = to_live(item, self.source, observed)
            listed[name] = live
            namespace = meta.get("namespace")
            if isinstance(namespace, str) and namespace:  # apps in any namespace: ns/name
                listed[f"{namespace}/{name}"] = live
        lives = {
            name: listed.get(name) or self._absent(name, observed) for name in dict.fromkeys(names)
        }
        version = _obj(body, "metadata").get("resourceVersion") if isinstance(body, dict) else ""
        return Poll(lives, calls, str(version or ""))

    def application(self, name: str, now: datetime | None = None) -> Live:
        """One Application, read whole: what a notification names, refreshed at once."""
        namespace, _, short = name.rpartition("/")
        if not valid_name(short) or (namespace and not valid_name(namespace)):
            raise ArgoCDError(f"{self.source}: {name!r} is not an Application name")
        params = [("appNamespace", namespace)] if namespace else []
        try:
            body = self._retrying(lambda: self._get(f"/api/v1/applications/{short}", params))
        except Forbidden:
            return self._absent(name, now or datetime.now(UTC))
        if not isinstance(body, dict):
            raise ArgoCDError(f"{self.source}: application {name} is not a JSON object")
        return to_live(body, self.source, now or datetime.now(UTC))

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


def to_live(app: Mapping[str, Any], source: str, observed: datetime) -> Live:
    """One Application (whole, or as `fields` trimmed it) → `Live`."""
    status = _obj(app, "status")
    sync_status = _obj(status, "sync")
    health_status = _obj(status, "health")
    operation = _obj(status, "operationState")
    # the whole Application has syncResult; a list trimmed by `fields` has it under this name
    result = _obj(operation, "syncResult") or _obj(_obj(operation, "operation"), "sync")
    resources = [r for r in status.get("resources") or [] if isinstance(r, dict)]
    health = _HEALTH.get(str(health_status.get("status")), "unknown")
    return Live(
        source=source,
        sync=_SYNC.get(str(sync_status.get("status")), "unknown"),
        health=health,
        revision=_revision(sync_status) or _revision(result),
        since=_latest(operation.get("finishedAt"), health_status.get("lastTransitionTime")),
        observed=observed,
        images=tuple(i for i in _obj(status, "summary").get("images") or [] if isinstance(i, str)),
        message=_message(health, health_status, resources),
        rollout=_rollout(resources),
    )


def _obj(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _revision(data: Mapping[str, Any]) -> str | None:
    revision = data.get("revision")
    if isinstance(revision, str) and revision:
        return revision
    revisions = data.get("revisions")
    if isinstance(revisions, list) and revisions and isinstance(revisions[0], str):
        return revisions[0] or None
    return None


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
