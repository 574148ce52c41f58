"""A Kubernetes API server face on 127.0.0.1 that serves Fleet's custom resources, for tests.

It answers as kube-apiserver does for a custom resource (fleet.cattle.io/v1alpha1):

- `GET /apis/fleet.cattle.io/v1alpha1/namespaces/{ns}/{plural}` for `bundles`, `gitrepos`
  and `bundledeployments`: a List (`apiVersion`, `kind: BundleList`, `metadata.
  resourceVersion`, `items`, each item with its own `apiVersion` and `kind`). A namespace
  that holds none, or does not exist, lists empty (200), as the real server does for a
  namespaced resource. Another plural is 404 with a `Status`.
- `GET /version`, `GET /apis/fleet.cattle.io/v1alpha1` (discovery), for a client that asks.
- `Authorization: Bearer <token>`, else 401 with the `Status` object kube-apiserver sends
  (`reason: Unauthorized`); a namespace in `forbidden` answers 403 with RBAC's wording.
- No ETag and no 304: Kubernetes lists are not conditional. `metadata.resourceVersion`
  grows with every change, as etcd's revision does.
"""

from __future__ import annotations

import copy
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.sources.servers import serve

GROUP_VERSION = "fleet.cattle.io/v1alpha1"
KINDS = {"bundles": "Bundle", "gitrepos": "GitRepo", "bundledeployments": "BundleDeployment"}
# pkg/apis/fleet.cattle.io/v1alpha1/bundle_types.go: BundleSummary's count of each state
COUNTS = {
    "NotReady": "notReady",
    "WaitApplied": "waitApplied",
    "ErrApplied": "errApplied",
    "OutOfSync": "outOfSync",
    "Modified": "modified",
    "Pending": "pending",
}


def bundle(
    name: str,
    *,
    namespace: str = "fleet-default",
    commit: str | None = "0" * 40,
    repo: str = "env",
    desired: int = 1,
    ready: int | None = None,
    states: dict[str, int] | None = None,
    non_ready: list[dict[str, Any]] | None = None,
    since: str = "2026-11-30T11:00:00Z",
    generation: int = 1,
    observed_generation: int | None = None,
) -> dict[str, Any]:
    """A Bundle as Fleet's controller writes it (bundle_types.go, summary.go).

    `states` counts BundleDeployments per non-ready state; `ready` defaults to the rest.
    `non_ready` are `summary.nonReadyResources` (one per BundleDeployment, at most 10)."""
    states = states or {}
    if ready is None:
        ready = desired - sum(states.values())
    summary: dict[str, Any] = {"ready": ready, "desiredReady": desired}
    for state, count in states.items():
        summary[COUNTS[state]] = count
    if non_ready:
        summary["nonReadyResources"] = non_ready[:10]
    message = _ready_message(states, non_ready or [])
    condition: dict[str, Any] = {
        "type": "Ready",
        "status": "True" if ready == desired else "False",
        "lastUpdateTime": since,  # wrangler sets only this one
    }
    if message:
        condition["message"] = message
    labels = {"fleet.cattle.io/repo-name": repo}
    if commit is not None:
        labels["fleet.cattle.io/commit"] = commit
    worst = max(states, key=lambda s: _RANK[s]) if states else ""
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "Bundle",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "generation": generation,
            "labels": labels,
            "resourceVersion": "1",
            "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{name}")),
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"defaultNamespace": name, "resources": []},
        "status": {
            "conditions": [condition],
            "summary": summary,
            "display": {"readyClusters": f"{ready}/{desired}", "state": worst},
            "observedGeneration": generation
            if observed_generation is None
            else observed_generation,
            "unavailable": desired - ready,
            "unavailablePartitions": 0,
            "maxUnavailable": desired,
            "maxUnavailablePartitions": 0,
            "partitions": [
                {
                    "name": "All",
                    "count": desired,
                    "maxUnavailable": desired,
                    "unavailable": desired - ready,
                    "summary": summary,
                }
            ],
        },
    }


_RANK = {
    "ErrApplied": 7,
    "WaitApplied": 6,
    "Modified": 5,
    "OutOfSync": 4,
    "Pending": 3,
    "NotReady": 2,
}


def _ready_message(states: dict[str, int], non_ready: list[dict[str, Any]]) -> str:
    """internal/cmd/controller/summary/summary.go, ReadyMessage, referencedKind "Cluster"."""
    messages = []
    for state, count in states.items():
        if count <= 0:
            continue
        for resource in non_ready:
            if resource.get("bundleState") != state:
                continue
            text = resource.get("message")
            inner = f"Cluster {resource['name']}" + (f": {text}" if text else "")
            messages.append(f"{state}({count}) [{inner}]")
            break
    return "; ".join(sorted(messages))


def status_error(code: int, reason: str, message: str, **details: Any) -> Response:
    """kube-apiserver's `Status` object for a failed request."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return JSONResponse(body, code)


@dataclass
class KubeServer:
    token: str = "kube-token"
    user: str = "system:serviceaccount:promobot:promobot"
    objects: dict[tuple[str, str], dict[str, dict[str, Any]]] = field(default_factory=dict)
    forbidden: set[str] = field(default_factory=set)  # namespaces RBAC refuses
    faults: list[int] = field(default_factory=list)  # statuses to answer first, one a request
    hits: Counter[str] = field(default_factory=Counter)  # "list bundles fleet-default", "401"…
    url: str = ""
    _version: int = 100

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/version", self.version),
                Route(f"/apis/{GROUP_VERSION}", self.discovery),
                Route(f"/apis/{GROUP_VERSION}/namespaces/{{ns}}/{{plural}}", self.list),
            ]
        )

    def put(self, *items: dict[str, Any]) -> None:
        for item in items:
            self._version += 1
            item = copy.deepcopy(item)
            meta = item["metadata"]
            meta["resourceVersion"] = str(self._version)
            plural = next(p for p, k in KINDS.items() if k == item["kind"])
            self.objects.setdefault((plural, meta["namespace"]), {})[meta["name"]] = item

    @property
    def lists(self) -> int:
        return sum(n for key, n in self.hits.items() if key.startswith("list "))

    def _refused(self, request: Request) -> Response | None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or given != self.token:
            self.hits["401"] += 1
            return status_error(401, "Unauthorized", "Unauthorized")
        if self.faults:
            self.hits["fault"] += 1
            code = self.faults.pop(0)
            return status_error(code, "InternalError", "injected")
        return None

    async def version(self, request: Request) -> Response:
        refused = self._refused(request)
        return refused or JSONResponse(
            {"major": "1", "minor": "34", "gitVersion": "v1.34.2", "platform": "linux/amd64"}
        )

    async def discovery(self, request: Request) -> Response:
        refused = self._refused(request)
        resources = [
            {"name": plural, "namespaced": True, "kind": kind, "verbs": ["get", "list", "watch"]}
            for plural, kind in KINDS.items()
        ]
        return refused or JSONResponse(
            {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": GROUP_VERSION,
                "resources": resources,
            }
        )

    async def list(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        namespace, plural = request.path_params["ns"], request.path_params["plural"]
        if plural not in KINDS:
            return status_error(404, "NotFound", "the server could not find the requested resource")
        if namespace in self.forbidden:
            self.hits["403"] += 1
            return status_error(
                403,
                "Forbidden",
                f'{plural}.fleet.cattle.io is forbidden: User "{self.user}" cannot list resource '
                f'"{plural}" in API group "fleet.cattle.io" in the namespace "{namespace}"',
                group="fleet.cattle.io",
                kind=plural,
            )
        self.hits[f"list {plural} {namespace}"] += 1
        stored = self.objects.get((plural, namespace), {})
        items = [stored[name] for name in sorted(stored)]
        return JSONResponse(
            {
                "apiVersion": GROUP_VERSION,
                "kind": f"{KINDS[plural]}List",
                "metadata": {"continue": "", "resourceVersion": str(self._version)},
                "items": items,
            }
        )


def write_kubeconfig(path: Path, url: str, token: str, context: str = "fleet") -> Path:
    """A kubeconfig with one cluster, one user (a bearer token) and one context."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "management", "cluster": {"server": url}}],
                "users": [{"name": "promobot", "user": {"token": token}}],
                "contexts": [
                    {"name": context, "context": {"cluster": "management", "user": "promobot"}}
                ],
                "current-context": context,
            }
        )
    )
    return path


@contextmanager
def kube_server(**kwargs: Any) -> Iterator[KubeServer]:
    server = KubeServer(**kwargs)
    with serve(server.app()) as url:
        server.url = url
        yield server
