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
- `?watch=true&resourceVersion=N` on any list: a stream of JSON lines, one watch event each
  (`ADDED`, `MODIFIED`, `DELETED` with the object; `BOOKMARK` with only `metadata.
  resourceVersion` when `allowWatchBookmarks` is asked, sent as the watch ends), every change
  after N, then the changes as they come, until `timeoutSeconds` (or `watch_seconds`, the
  shorter). A version older than the last `compact()` answers an `ERROR` event with the
  `410 Expired` Status and ends, as kube-apiserver does once etcd compacted it away. A
  namespace in `forbidden` or a plural in `unwatchable` is refused 403 for the watch verb.
- Argo Rollouts' `rollouts` (argoproj.io/v1alpha1) and Flagger's `canaries`
  (flagger.app/v1beta1), listed in one namespace (`/apis/G/V/namespaces/{ns}/{plural}`) or in
  every namespace (`/apis/G/V/{plural}`, each item keeping its own `metadata.namespace`); a
  cluster-wide list is refused (403, "at the cluster scope") when `forbidden` holds `*`.
  `rollout(...)` and `canary(...)` build them as their controllers write them.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
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
    faults: list[int] = field(default_factory=list)  # statuses to answer lists first, one each
    hits: Counter[str] = field(default_factory=Counter)  # "list bundles fleet-default", "401"…
    url: str = ""
    watch_seconds: float = 300.0  # the longest a watch request stays open
    unwatchable: set[str] = field(default_factory=set)  # plurals whose watch RBAC refuses
    # every change: (resourceVersion, plural, namespace, event type, the object as it became)
    events: list[tuple[int, str, str, str, dict[str, Any]]] = field(default_factory=list)
    compacted: int = 0  # watches from a version before this get 410 Expired
    closing: bool = False  # the server is stopping: open watches end
    holding: bool = False  # partitioned: watches deliver nothing (see `partitioned`)
    cut: int = 0  # each partition's end: the watches open during it lose their connection
    _version: int = 100

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/version", self.version),
                Route(f"/apis/{GROUP_VERSION}", self.discovery),
                Route(f"/apis/{GROUP_VERSION}/namespaces/{{ns}}/{{plural}}", self.list),
                *self.rollout_routes(),
            ]
        )

    def put(self, *items: dict[str, Any]) -> None:
        for item in items:
            self._version += 1
            item = copy.deepcopy(item)
            meta = item["metadata"]
            meta["resourceVersion"] = str(self._version)
            plural = next(p for p, k in (KINDS | ROLLOUT_KINDS).items() if k == item["kind"])
            stored = self.objects.setdefault((plural, meta["namespace"]), {})
            kind = "MODIFIED" if meta["name"] in stored else "ADDED"
            stored[meta["name"]] = item
            self.events.append((self._version, plural, meta["namespace"], kind, item))

    def delete(self, plural: str, namespace: str, name: str) -> None:
        item = self.objects.get((plural, namespace), {}).pop(name)
        self._version += 1
        item = copy.deepcopy(item)
        item["metadata"]["resourceVersion"] = str(self._version)
        self.events.append((self._version, plural, namespace, "DELETED", item))

    @contextmanager
    def partitioned(self) -> Iterator[None]:
        """A network partition between the server and its watchers: what changes meanwhile
        reaches no open watch, and when it ends those watches are cut off without a word, so
        the watcher must go on from the last version it heard."""
        self.holding = True
        try:
            yield
        finally:
            self.cut += 1
            self.holding = False

    def compact(self) -> None:
        """etcd compacted its history: a watch from an older version must list again."""
        self.compacted = self._version

    def watch(self, request: Request, plural: str, namespace: str | None) -> Response:
        """A watch from `resourceVersion`: every later change of `plural` (in `namespace`)."""
        params = request.query_params
        self.hits[f"watch {plural} {namespace or '*'}"] += 1
        since = int(params.get("resourceVersion") or 0)
        length = min(float(params.get("timeoutSeconds") or 1800), self.watch_seconds)
        bookmarks = params.get("allowWatchBookmarks") in ("true", "True", "1")

        def line(kind: str, obj: dict[str, Any]) -> bytes:
            return json.dumps({"type": kind, "object": obj}).encode() + b"\n"

        async def events() -> AsyncIterator[bytes]:
            if since < self.compacted:
                self.hits["410"] += 1
                gone = {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": f"too old resource version: {since} ({self.compacted})",
                    "reason": "Expired",
                    "code": 410,
                }
                yield line("ERROR", gone)
                return
            seen, deadline, cut = since, time.monotonic() + length, self.cut
            while not self.closing:
                if self.cut != cut:
                    return  # the connection was lost in a partition: no bookmark either
                if self.holding:
                    await asyncio.sleep(0.02)
                    continue
                for version, kind_of, ns, kind, obj in list(self.events):
                    if version > seen and kind_of == plural and namespace in (None, ns):
                        yield line(kind, obj)
                seen = max(seen, self._version)
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.02)
            if bookmarks:
                mark = {"kind": ROLLOUT_KINDS.get(plural) or KINDS[plural]}
                yield line("BOOKMARK", {**mark, "metadata": {"resourceVersion": str(seen)}})

        return StreamingResponse(events(), media_type="application/json")

    def watching(self, request: Request) -> bool:
        return request.query_params.get("watch") in ("true", "True", "1")

    @property
    def lists(self) -> int:
        return sum(n for key, n in self.hits.items() if key.startswith("list "))

    def _refused(self, request: Request) -> Response | None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or given != self.token:
            self.hits["401"] += 1
            return status_error(401, "Unauthorized", "Unauthorized")
        if self.faults and not self.watching(request):  # lists only: a watch is in the
            self.hits["fault"] += 1  # background, and would take them at random
            code = self.faults.pop(0)
            return status_error(code, "InternalError", "injected")
        return None

    def _no_watch(self, plural: str, group: str, namespace: str | None) -> Response:
        self.hits["403"] += 1
        scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        return status_error(
            403,
            "Forbidden",
            f'{plural}.{group} is forbidden: User "{self.user}" cannot watch resource '
            f'"{plural}" in API group "{group}" {scope}',
            group=group,
            kind=plural,
        )

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
        if self.watching(request):
            if plural in self.unwatchable:
                return self._no_watch(plural, "fleet.cattle.io", namespace)
            return self.watch(request, plural, namespace)
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

    # --- Argo Rollouts and Flagger ------------------------------------------------------------

    def rollout_routes(self) -> list[Route]:
        routes = []
        for group_version in ROLLOUT_GROUPS.values():
            routes += [
                Route(f"/apis/{group_version}/namespaces/{{ns}}/{{plural}}", self.list_rollouts),
                Route(f"/apis/{group_version}/{{plural}}", self.list_rollouts),
            ]
        return routes

    async def list_rollouts(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        plural, namespace = request.path_params["plural"], request.path_params.get("ns")
        group_version = request.url.path.split("/")[2] + "/" + request.url.path.split("/")[3]
        if ROLLOUT_GROUPS.get(plural) != group_version:
            return status_error(404, "NotFound", "the server could not find the requested resource")
        group = group_version.split("/")[0]
        if (namespace or "*") in self.forbidden:
            self.hits["403"] += 1
            scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            return status_error(
                403,
                "Forbidden",
                f'{plural}.{group} is forbidden: User "{self.user}" cannot list resource '
                f'"{plural}" in API group "{group}" {scope}',
                group=group,
                kind=plural,
            )
        if self.watching(request):
            if plural in self.unwatchable:
                return self._no_watch(plural, group, namespace)
            return self.watch(request, plural, namespace)
        self.hits[f"list {plural} {namespace or '*'}"] += 1
        items = [
            stored[name]
            for (kind, ns), stored in sorted(self.objects.items())
            if kind == plural and (namespace is None or ns == namespace)
            for name in sorted(stored)
        ]
        return JSONResponse(
            {
                "apiVersion": group_version,
                "kind": f"{ROLLOUT_KINDS[plural]}List",
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
        try:
            yield server
        finally:
            server.closing = True  # open watches end, so the server can stop at once


# --- Argo Rollouts' Rollout and Flagger's Canary -------------------------------------------------

ROLLOUT_GROUPS = {"rollouts": "argoproj.io/v1alpha1", "canaries": "flagger.app/v1beta1"}
ROLLOUT_KINDS = {"rollouts": "Rollout", "canaries": "Canary"}
STEPS: list[dict[str, Any]] = [
    {"setWeight": 10},
    {"setWeight": 20},
    {"pause": {}},
    {"setWeight": 50},
    {"pause": {"duration": "10m"}},
]


def _meta(name: str, namespace: str, generation: int) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "generation": generation,
        "resourceVersion": "1",
        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{name}")),
        "creationTimestamp": "2026-01-01T00:00:00Z",
    }


def rollout(
    name: str,
    *,
    namespace: str | None = None,
    strategy: str = "canary",
    steps: list[dict[str, Any]] | None = None,
    step: int | None = None,
    done: bool = False,
    abort: bool = False,
    traffic_weight: int | None = None,
    since: str = "2026-11-30T11:00:00Z",
    image: str = "ghcr.io/acme/api:1.5.0",
) -> dict[str, Any]:
    """An Argo Rollouts Rollout as its controller (v1.x) writes it (types.go RolloutStatus;
    rollout/sync.go calculateRolloutConditions; utils/rollout/rolloututil.go for the phase).

    `step` is `status.currentStepIndex` (0-based) of a canary; `done`: fully promoted
    (`stableRS == currentPodHash`, the Completed condition true since `since`); `abort`: the
    rollout was aborted (by an analysis or by hand); `traffic_weight`: what a traffic router
    reports in `status.canary.weights`. Blue-green (`strategy="blue-green"`) waits in preview
    (BlueGreenPause) until `done`."""
    namespace = namespace or name
    steps = STEPS if steps is None else steps
    new, old = "6b566f47b7", "df986d68" if not done else "6b566f47b7"
    paused = False
    status: dict[str, Any] = {
        "observedGeneration": "3",
        "currentPodHash": new,
        "stableRS": old,
        "replicas": 5,
        "updatedReplicas": 5 if done else 2,
        "readyReplicas": 5,
        "availableReplicas": 5,
        "HPAReplicas": 5,
        "selector": f"app={name}",
        "canary": {},
        "blueGreen": {},
    }
    conditions: list[dict[str, Any]] = [
        _rollout_condition("Available", "True", "AvailableReason", "Rollout has minimum availability", since),
        _rollout_condition("Completed", "True" if done else "False", "RolloutCompleted", "RolloutCompleted", since),
    ]  # fmt: skip
    spec_strategy: dict[str, Any]
    if strategy == "blue-green":
        spec_strategy = {
            "blueGreen": {
                "activeService": name,
                "previewService": f"{name}-preview",
                "autoPromotionEnabled": False,
            }
        }
        status["blueGreen"] = {"activeSelector": new if done else old}
        if not done:
            status["blueGreen"]["previewSelector"] = new
            paused = not abort
            reason = "BlueGreenPause"
    else:
        spec_strategy = {"canary": {"canaryService": f"{name}-canary", "steps": steps}}
        index = len(steps) if done else (step or 0)
        status["currentStepIndex"] = index
        status["currentStepHash"] = "5f8fbdf7bb"
        if traffic_weight is not None:
            spec_strategy["canary"]["trafficRouting"] = {"smi": {}}
            status["canary"]["weights"] = {
                "canary": {"weight": traffic_weight, "podTemplateHash": new},
                "stable": {"weight": 100 - traffic_weight, "podTemplateHash": old},
            }
        if not done and index < len(steps) and "pause" in steps[index] and not abort:
            paused, reason = True, "CanaryPauseStep"
    if abort:
        status["abort"] = True
        status["abortedAt"] = since
        message = 'Rollout aborted update to revision 2: metric "web" assessed Failed due to failed (1) > failureLimit (0)'
        conditions.append(
            _rollout_condition("Progressing", "False", "RolloutAborted", message, since)
        )
        status["phase"], status["message"] = "Degraded", f"RolloutAborted: {message}"
    elif paused:
        status["pauseConditions"] = [{"reason": reason, "startTime": since}]
        status["controllerPause"] = True
        conditions.append(
            _rollout_condition(
                "Progressing", "Unknown", "RolloutPaused", "Rollout is paused", since
            )
        )
        status["phase"], status["message"] = "Paused", reason
    elif done:
        conditions.append(
            _rollout_condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{name}-{new}" has successfully progressed.',
                since,
            )
        )
        conditions.append(
            _rollout_condition("Healthy", "True", "RolloutHealthy", "Rollout is healthy", since)
        )
        status["phase"], status["message"] = "Healthy", ""
    else:
        conditions.append(
            _rollout_condition(
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                f'ReplicaSet "{name}-{new}" is progressing.',
                since,
            )
        )
        status["phase"], status["message"] = "Progressing", "more replicas need to be updated"
    status["conditions"] = conditions
    return {
        "apiVersion": ROLLOUT_GROUPS["rollouts"],
        "kind": "Rollout",
        "metadata": _meta(name, namespace, 3),
        "spec": {
            "replicas": 5,
            "selector": {"matchLabels": {"app": name}},
            "strategy": spec_strategy,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
        },
        "status": status,
    }


def _rollout_condition(kind: str, state: str, reason: str, message: str, at: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": state,
        "reason": reason,
        "message": message,
        "lastTransitionTime": at,
        "lastUpdateTime": at,
    }


# pkg/canary/status.go MakeStatusConditions: the Promoted condition per phase
_PROMOTED = {
    "Initializing": ("Unknown", "New Deployment detected, starting initialization."),
    "Initialized": ("True", "Deployment initialization completed."),
    "Waiting": ("Unknown", "Waiting for approval."),
    "WaitingPromotion": ("Unknown", "Waiting for approval."),
    "Progressing": ("Unknown", "New revision detected, progressing canary analysis."),
    "Promoting": ("Unknown", "Canary analysis completed, starting primary rolling update."),
    "Finalising": ("Unknown", "Canary analysis completed, routing all traffic to primary."),
    "Succeeded": ("True", "Canary analysis completed successfully, promotion finished."),
    "Failed": ("False", "Canary analysis failed, Deployment scaled to zero."),
}


def canary(
    name: str,
    *,
    namespace: str | None = None,
    phase: str = "Progressing",
    weight: int = 0,
    iterations: int = 0,
    failed_checks: int = 0,
    analysis: dict[str, Any] | None = None,
    since: str = "2026-11-30T11:00:00Z",
) -> dict[str, Any]:
    """A Flagger Canary as Flagger writes it (canary.go, status.go): `phase`, `canaryWeight`,
    `iterations`, `failedChecks`, `lastTransitionTime` and the Promoted condition. The
    default analysis is a canary of five 10% steps up to 50% (stepWeight, maxWeight). As
    Flagger does, the weight and iterations are reset outside Progressing, Waiting and
    Promoting."""
    namespace = namespace or name
    analysis = (
        {"interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10}
        if analysis is None
        else analysis
    )
    if phase not in ("Progressing", "Waiting", "Promoting"):
        weight = 0
        iterations = analysis.get("iterations", 1) - 1 if phase == "WaitingPromotion" else 0
    state, message = _PROMOTED.get(phase, ("Unknown", ""))
    status: dict[str, Any] = {
        "phase": phase,
        "canaryWeight": weight,
        "iterations": iterations,
        "failedChecks": failed_checks,
        "lastAppliedSpec": "5d8f7b9c6",
        "lastPromotedSpec": "5d8f7b9c6" if phase in ("Succeeded", "Initialized") else "7c4b8d9f1",
        "lastTransitionTime": since,
        "conditions": [
            {
                "type": "Promoted",
                "status": state,
                "reason": phase,
                "message": message,
                "lastTransitionTime": since,
                "lastUpdateTime": since,
            }
        ],
    }
    return {
        "apiVersion": ROLLOUT_GROUPS["canaries"],
        "kind": "Canary",
        "metadata": _meta(name, namespace, 1),
        "spec": {
            "provider": "istio",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "service": {"port": 9898},
            "analysis": analysis,
        },
        "status": status,
    }
