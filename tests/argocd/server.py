"""An Argo CD API server on 127.0.0.1, for tests and benchmarks: the two application reads.

It answers as Argo CD's grpc-gateway does (`assets/swagger.json`, and for what the swagger does
not say, the source; see tests/fixtures/argocd/README.md):

- `GET /api/v1/applications` with `selector` (equality, inequality and existence terms),
  `projects` (or the legacy `project`), `name` and `fields`. `fields` is Argo CD's fixed
  allowlist, not JSON paths: other names are dropped without an error. `version="3.4"` drops
  `status.sync.revision` from the allowlist, as every release before v3.5.0 did.
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
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.sources.servers import serve

# pkg/apiclient/application/forwarder_overwrite.go, appFields, at v3.5
APP_FIELDS = (
    "metadata.name",
    "metadata.namespace",
    "metadata.annotations",
    "metadata.labels",
    "metadata.creationTimestamp",
    "metadata.deletionTimestamp",
    "spec",
    "spec.destination",
    "spec.project",
    "spec.source",
    "spec.sources",
    "spec.sourceHydrator",
    "spec.syncPolicy",
    "status.sourceHydrator",
    "status.summary",
    "status.sync.status",
    "status.sync.revision",
    "status.health",
    "status.operationState.startedAt",
    "status.operationState.finishedAt",
    "status.resources",
    "operation.sync",
    "status.operationState.phase",
    "status.operationState.operation.sync",
)
# grpc status codes in grpc-gateway's error body
UNAUTHENTICATED, PERMISSION_DENIED, UNKNOWN, UNAVAILABLE = 16, 7, 2, 14


def application(
    name: str,
    *,
    sync: str = "Synced",
    health: str = "Healthy",
    revision: str = "0" * 40,
    revisions: list[str] | None = None,
    images: list[str] | None = None,
    finished: str | None = "2026-11-30T11:00:00Z",
    health_since: str | None = "2026-11-30T11:00:30Z",
    resources: list[dict[str, Any]] | None = None,
    project: str = "default",
    labels: dict[str, str] | None = None,
    health_message: str | None = None,
) -> dict[str, Any]:
    """An Application as Argo CD serves it (the shape of tests/fixtures/argocd/)."""
    multi = revisions is not None
    source = {"repoURL": "https://github.com/acme/env.git", "path": f"envs/{name}"}
    sync_status: dict[str, Any] = {"status": sync, "comparedTo": {}}
    result: dict[str, Any] = {"resources": []}
    if multi:
        sync_status["revisions"] = revisions
        result["revisions"] = revisions
    else:
        sync_status["revision"] = revision
        result["revision"] = revision
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
    if finished:
        status["operationState"] = {
            "operation": {"sync": {"revision": revision}},
            "phase": "Succeeded",
            "message": "successfully synced (all tasks run)",
            "startedAt": finished,
            "finishedAt": finished,
            "syncResult": result,
        }
    spec: dict[str, Any] = {
        "project": project,
        "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
    }
    spec["sources" if multi else "source"] = [source] if multi else source
    return {
        "metadata": {
            "name": name,
            "namespace": "argocd",
            "labels": labels or {},
            "resourceVersion": "1",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": spec,
        "status": status,
    }


def _selected(app: dict[str, Any], name: str) -> Any:
    """Argo CD's value for an allowlisted field; `operationState.operation.sync` is in truth
    the sync result (the Go code maps it to `OperationState.SyncResult`)."""
    if name == "status.operationState.operation.sync":
        return app.get("status", {}).get("operationState", {}).get("syncResult")
    value: Any = app
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


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
    version: Literal["3.4", "3.5"] = "3.5"
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

    @property
    def fields(self) -> tuple[str, ...]:
        if self.version == "3.4":
            return tuple(f for f in APP_FIELDS if f != "status.sync.revision")
        return APP_FIELDS

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
        wanted = query.get("fields", "")
        if wanted:
            exclude = wanted.startswith("-")
            asked = set(wanted.removeprefix("-").split(","))
            chosen = [f for f in self.fields if (f"items.{f}" in asked) != exclude]
            # an ancestor's value covers its descendants (selectAppFields)
            chosen = [
                f
                for f in chosen
                if not any(f.startswith(other + ".") for other in chosen if other != f)
            ]
            items = [pick(a, chosen) for a in items]
        body = json.dumps(
            {"metadata": {"resourceVersion": str(self._version)}, "items": items},
            separators=(",", ":"),
        ).encode()
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
        return JSONResponse(app)


def pick(app: dict[str, Any], chosen: list[str]) -> dict[str, Any]:
    picked: dict[str, Any] = {}
    for name in chosen:
        value = _selected(app, name)
        if value is None:
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
