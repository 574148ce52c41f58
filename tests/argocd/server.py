"""An Argo CD API server on 127.0.0.1, for tests and benchmarks: the two application reads.

It answers as Argo CD's grpc-gateway does (`assets/swagger.json`, and for what the swagger does
not say, the source; see tests/fixtures/argocd/README.md), as the release `version` names:

- `GET /api/v1/applications` with `selector` (equality, inequality and existence terms),
  `projects` (or the legacy `project`), `name` and `fields`. How `fields` trims depends on the
  release:
  - "2.4" (before v2.6.0): JSON paths over the whole list (argoproj/pkg's `messageMarshaler`,
    quirks included: a path keeps every key it starts with, and the list's own `metadata` goes
    unless a path names it); `status.operationState.operation.sync` is then the operation
    that was asked for. No multi-source Applications and no health transition time yet.
  - "2.14", "3.4": a fixed allowlist, not JSON paths (`forwarder_overwrite.go`, `appFields`):
    other names are dropped without an error; `status.operationState.operation.sync` is the
    last sync's *result*; a nil pointer on the list is written as `null`.
  - "3.5": the same, with `status.sync.revision` and the `spec.*` parts added.
- `GET /api/v1/applications/{name}`: the whole Application; 403 `permission denied` for one
  that does not exist, as Argo CD answers when no project is named (so a name's existence
  does not leak).
- `Authorization: Bearer <token>`, else 401 with grpc-gateway's error body.
- No ETag, Last-Modified or 304: Argo CD sends none. `metadata.resourceVersion` of the list
  changes with every change to an Application, as the informer's last synced version does.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.sources.servers import serve

# pkg/apiclient/application/forwarder_overwrite.go, `appFields`, as each release has it
RELEASES = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures/argocd/app-fields.json").read_text()
)
APP_FIELDS: tuple[str, ...] = tuple(RELEASES["v3.5.0"]["appFields"])
ALLOWLISTS: dict[str, tuple[str, ...] | None] = {
    "2.4": None,  # before v2.6: JSON paths
    "2.14": tuple(RELEASES["v2.14.0"]["appFields"]),  # as v2.6.0 … v3.1
    "3.4": tuple(RELEASES["v3.4.0"]["appFields"]),  # v3.2 added status.sourceHydrator
    "3.5": APP_FIELDS,  # status.sync.revision and the spec's parts added
}
Version = Literal["2.4", "2.14", "3.4", "3.5"]
VERSIONS: tuple[Version, ...] = ("2.4", "2.14", "3.4", "3.5")
# grpc status codes in grpc-gateway's error body
UNAUTHENTICATED, PERMISSION_DENIED, UNKNOWN, UNAVAILABLE = 16, 7, 2, 14


_MESSAGES = {
    "Succeeded": "successfully synced (all tasks run)",
    "Running": "one or more tasks are running",
    "Terminating": "one or more tasks are running",
    "Failed": "one or more objects failed to apply",
    "Error": "Operation termination had errors",
}


def application(
    name: str,
    *,
    sync: str = "Synced",
    health: str = "Healthy",
    revision: str = "0" * 40,
    revisions: list[str] | None = None,
    ran: str | list[str] | None = None,
    phase: str | None = "Succeeded",
    history: list[str] | list[list[str]] | None = None,
    images: list[str] | None = None,
    finished: str | None = "2026-11-30T11:00:00Z",
    deployed: str = "2026-11-30T10:00:00Z",
    health_since: str | None = "2026-11-30T11:00:30Z",
    resources: list[dict[str, Any]] | None = None,
    project: str = "default",
    labels: dict[str, str] | None = None,
    health_message: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """An Application as Argo CD serves it (the shape of tests/fixtures/argocd/).

    `revision` (or `revisions`, multi-source) is what git asks for (`status.sync`); `ran` what
    the last sync operation was for (default: the same), in `phase`, which began at `finished`
    and, unless it still runs, ended then; `history` the revisions earlier syncs deployed,
    oldest first, the newest of them at `deployed` (a sync that succeeded adds its own).
    `phase=None`, or a finished sync without `finished`, is an Application never synced.
    """
    multi = revisions is not None
    if finished is None and phase == "Succeeded":
        phase = None
    target = ran if ran is not None else (revisions if multi else revision)
    source = {"repoURL": "https://github.com/acme/env.git", "path": f"envs/{name}"}
    sync_status: dict[str, Any] = {"status": sync, "comparedTo": {}}
    if multi:
        sync_status["revisions"] = revisions
    else:
        sync_status["revision"] = revision
    health_status: dict[str, Any] = {"status": health}
    if health_since:
        health_status["lastTransitionTime"] = health_since
    if health_message:
        health_status["message"] = health_message
    status: dict[str, Any] = {
        "sync": sync_status,
        "health": health_status,
        "summary": {"images": images or [f"ghcr.io/acme/{name}:1.0.0"]},
        "reconciledAt": "2026-11-30T11:58:00Z",
        "resources": resources
        if resources is not None
        else [
            {
                "group": "apps",
                "version": "v1",
                "kind": "Deployment",
                "namespace": name,
                "name": name,
                "status": sync,
                "health": {"status": health},
            }
        ],
        "sourceType": "Helm",
    }
    done = list(history or [])
    if phase is not None:
        assert finished is not None, "an operation needs its start"
        asked = {"revisions": target} if multi else {"revision": target}
        result: dict[str, Any] = {"resources": [], **asked}
        if multi:
            result["sources"] = [source]
        else:
            result["source"] = source
        state: dict[str, Any] = {
            "operation": {"sync": dict(asked), "initiatedBy": {"automated": True}},
            "phase": phase,
            "message": message or _MESSAGES.get(phase, ""),
            "startedAt": finished,
            "syncResult": result,
        }
        if phase not in ("Running", "Terminating"):
            state["finishedAt"] = finished
        status["operationState"] = state
    entries = []
    for i, ran_then in enumerate(done):
        hours = len(done) - 1 - i
        at = datetime.fromisoformat(deployed.replace("Z", "+00:00")) - timedelta(hours=hours)
        entries.append((ran_then, at.strftime("%Y-%m-%dT%H:%M:%SZ")))
    if phase == "Succeeded" and finished is not None:
        entries.append((target, finished))
    if entries:
        status["history"] = [
            {
                "id": i,
                ("revisions" if multi else "revision"): ran_then,
                "deployStartedAt": at,
                "deployedAt": at,
                ("sources" if multi else "source"): [source] if multi else source,
                "initiatedBy": {"automated": True},
            }
            for i, (ran_then, at) in enumerate(entries)
        ]
    spec: dict[str, Any] = {
        "project": project,
        "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
    }
    spec["sources" if multi else "source"] = [source] if multi else source
    return {
        "metadata": {
            "name": name,
            "namespace": "argocd",
            "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
            "labels": labels or {},
            "resourceVersion": "1",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": spec,
        "status": status,
    }


# what Go writes even when empty (a string or a struct, never a nil pointer)
_ALWAYS = {
    "metadata.name": "",
    "metadata.namespace": "",
    "spec": {},
    "spec.destination": {},
    "spec.project": "",
    "status.sourceHydrator": {},
    "status.summary": {},
    "status.sync.status": "",
    "status.sync.revision": "",
    "status.health": {},
}
MISSING = object()


def allowlisted(app: dict[str, Any], name: str) -> Any:
    """What Argo CD's getter in `appFields` gives for `name`: MISSING where it checks for nil
    itself (no operation state, no resources), None (JSON null) for a nil pointer, map or
    slice, which Go writes as null. `status.operationState.operation.sync` is in truth the
    sync result (the Go code maps it to `OperationState.SyncResult`)."""
    status = app.get("status") or {}
    operation_state = status.get("operationState")
    if name == "status.resources":
        return status.get("resources") or MISSING
    if name.startswith("status.operationState."):
        if operation_state is None:
            return MISSING
        if name == "status.operationState.operation.sync":
            return operation_state.get("syncResult")
        return operation_state.get(name.rsplit(".", 1)[1])
    if name == "operation.sync":
        operation = app.get("operation")
        return MISSING if operation is None else operation.get("sync")
    value: Any = app
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return _ALWAYS.get(name) if value is None and name in _ALWAYS else value


def json_paths(data: dict[str, Any], fields: set[str], exclude: bool) -> None:
    """argoproj/pkg `grpc/http` `messageMarshaler.processItem` (Argo CD before v2.6), in
    place: a key stays when its path is asked for or is the start of one asked for (a plain
    string prefix, as in Go), or, with `exclude`, when it is not asked for."""

    def process(path: list[str], item: Any) -> None:
        if isinstance(item, dict):
            for key in list(item):
                where = ".".join([*path, key])
                named = where in fields
                leads = named or any(f.startswith(where) for f in fields)
                if (exclude and not named) or (not exclude and leads):
                    if not named:
                        process([*path, key], item[key])
                else:
                    del item[key]
        elif isinstance(item, list):
            for value in item:
                process(path, value)

    process([], data)


def _matches(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


@dataclass
class ArgoCDServer:
    token: str = "argocd-token"
    version: Version = "3.5"
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)  # "list", "get", "401", "fault"
    queries: list[dict[str, list[str]]] = field(default_factory=list)  # of list calls
    faults: list[int] = field(default_factory=list)  # statuses to answer first, one a request
    sent: int = 0  # body bytes of list answers
    url: str = ""
    _version: int = 1

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/v1/applications", self.list),
                Route("/api/v1/applications/{name}", self.get),
            ]
        )

    def put(self, *apps: dict[str, Any]) -> None:
        for app in apps:
            self._version += 1
            app = copy.deepcopy(app)
            app["metadata"]["resourceVersion"] = str(self._version)
            self.apps[app["metadata"]["name"]] = app

    def served(self, app: dict[str, Any]) -> dict[str, Any]:
        """The Application as this release writes it: before v2.14 the health has no
        transition time, and a revision history entry no initiator. A copy only for 2.4,
        whose JSON paths trim it in place (a list of thousands is not copied for nothing)."""
        if self.version != "2.4":
            return app
        app = copy.deepcopy(app)
        app.get("status", {}).get("health", {}).pop("lastTransitionTime", None)
        for entry in app.get("status", {}).get("history", []):
            entry.pop("initiatedBy", None)
        return app

    def _refused(self, request: Request) -> Response | None:
        if self.faults:
            self.hits["fault"] += 1
            status = self.faults.pop(0)
            return _error(status, UNAVAILABLE, "injected")
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if not header:
            self.hits["401"] += 1
            return _error(401, UNAUTHENTICATED, "no session information")
        if scheme.lower() != "bearer" or given != self.token:
            self.hits["401"] += 1
            return _error(401, UNAUTHENTICATED, "invalid session: token signature is invalid")
        return None

    async def list(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        self.hits["list"] += 1
        query = request.query_params
        self.queries.append({k: query.getlist(k) for k in query})
        projects = query.getlist("projects") or query.getlist("project")
        selector = query.get("selector", "")
        if selector.count("(") or selector.startswith(","):
            return _error(500, UNKNOWN, f"error parsing the selector: {selector}")
        items = [
            a
            for name, a in sorted(self.apps.items())
            if _matches(a["metadata"].get("labels", {}), selector)
            and (not projects or a["spec"]["project"] in projects)
            and query.get("name", name) == name
        ]
        listed = {
            "metadata": {"resourceVersion": str(self._version)},
            "items": [self.served(a) for a in items],
        }
        wanted = query.get("fields", "")
        if wanted:
            exclude = wanted.startswith("-")
            asked = set(wanted.removeprefix("-").split(","))
            allowlist = ALLOWLISTS[self.version]
            if allowlist is None:
                json_paths(listed, asked, exclude)
            else:
                chosen = [f for f in allowlist if (f"items.{f}" in asked) != exclude]
                # an ancestor's value covers its descendants (selectAppFields)
                chosen = [
                    f
                    for f in chosen
                    if not any(f.startswith(other + ".") for other in chosen if other != f)
                ]
                # an empty list is Go's nil slice: `null`
                listed["items"] = [pick(a, chosen) for a in listed["items"]] or None
        body = json.dumps(listed, separators=(",", ":")).encode()
        self.sent += len(body)
        return Response(body, media_type="application/json")

    async def get(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        self.hits["get"] += 1
        app = self.apps.get(request.path_params["name"])
        if app is None:
            return _error(403, PERMISSION_DENIED, "permission denied")
        return JSONResponse(self.served(app))


def pick(app: dict[str, Any], chosen: list[str]) -> dict[str, Any]:
    picked: dict[str, Any] = {}
    for name in chosen:
        value = allowlisted(app, name)
        if value is MISSING:
            continue
        where = picked
        *parents, last = name.split(".")
        for part in parents:
            where = where.setdefault(part, {})
        where[last] = value
    return picked


def _error(status: int, code: int, message: str) -> Response:
    """grpc-gateway's error body (the swagger's `runtimeError`)."""
    return JSONResponse({"error": message, "code": code, "message": message}, status)


@contextmanager
def argocd_server(**kwargs: Any) -> Iterator[ArgoCDServer]:
    server = ArgoCDServer(**kwargs)
    with serve(server.app()) as url:
        server.url = url
        yield server
