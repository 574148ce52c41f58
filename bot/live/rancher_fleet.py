"""Rancher Fleet as a live-state source: its Bundles, read from the Kubernetes API.

Fleet turns each path of a GitRepo into a Bundle (fleet.cattle.io/v1alpha1) in the GitRepo's
workspace namespace, and each Bundle into one BundleDeployment per target cluster. The Bundle's
status aggregates its BundleDeployments, so one Bundle answers for one app in one environment
(`live: {fleet: {bundle: "{app}-{env}", namespace: fleet-default}}`), and one list call per
workspace namespace a poll answers for every app, whatever their number. BundleDeployments are
not read: they live in one namespace per cluster, so reading them would take a list across
all namespaces, and the Bundle already counts them. tests/fixtures/fleet/README.md cites the
Fleet sources for every rule below.

Each Bundle becomes a `Live`, keyed `namespace/name`:

- revision: the Bundle's label `fleet.cattle.io/commit`, which `fleet apply` (run by the
  GitRepo's job) writes on every Bundle and Fleet copies onto its BundleDeployments and the Helm
  release it installs. `GitRepo.status.commit` is only the commit the job last ran on; a Bundle
  can lag behind it, so the Bundle is the authority for what its clusters were given. The label
  names what the clusters *run* only once every BundleDeployment applied it (states Ready,
  NotReady, Modified); while some still wait or failed to apply, the revision is unknown (None).
- sync and health, from `status.summary`: ready == desiredReady → synced, healthy; otherwise
  the worst state counted (Fleet's `StateRank`): ErrApplied → out-of-sync, degraded;
  WaitApplied, OutOfSync, Pending → out-of-sync, progressing; Modified (someone changed the
  resources in the cluster) → out-of-sync, healthy; NotReady → synced, degraded when a
  resource reports an error, else progressing. desiredReady 0 (no cluster targeted) → missing,
  although Fleet calls that ready. A status whose `observedGeneration` is behind
  `metadata.generation` speaks of an older spec → out-of-sync, progressing.
- since: the Ready condition's `lastTransitionTime`, else its `lastUpdateTime` (Fleet's
  conditions come from wrangler, which sets only `lastUpdateTime`, when the status or message
  changes; a ready condition has no message, so that is when it became ready). Before Fleet
  v0.16 (rancher/fleet#4780) the reconcile that moves the BundleDeployments to a new spec
  computed the summary against their old one, so one status write can say Ready at the new
  commit with the old `since`; `observedGeneration` cannot tell. A reader should not count
  from earlier than the commit itself was made.
- message: the worst non-ready BundleDeployment's cluster, message and first resources, else
  the Ready condition's message. Images and rollouts are not in a Bundle.

Kubernetes lists are not conditional (no ETag, no 304): the first poll lists, and a watch
from that list's `metadata.resourceVersion` keeps it current (bot/live/kube.py), so later polls
read no list at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.config import Config
from bot.forges.retry import DEFAULT, Policy
from bot.live import kube, objects
from bot.live.kube import Kube, KubeError, Resource, integer, mapping, timestamp
from bot.live.state import Health, Live, Sync

GROUP, VERSION, BUNDLES = "fleet.cattle.io", "v1alpha1", "bundles"
COMMIT_LABEL = "fleet.cattle.io/commit"
# pkg/apis/fleet.cattle.io/v1alpha1/bundle_types.go, StateRank, and what each means here
_STATES: dict[str, tuple[int, str, Sync, Health]] = {
    # state: (rank, summary count, sync, health)
    "ErrApplied": (7, "errApplied", "out-of-sync", "degraded"),
    "WaitApplied": (6, "waitApplied", "out-of-sync", "progressing"),
    "Modified": (5, "modified", "out-of-sync", "healthy"),
    "OutOfSync": (4, "outOfSync", "out-of-sync", "progressing"),
    "Pending": (3, "pending", "out-of-sync", "progressing"),
    "NotReady": (2, "notReady", "synced", "progressing"),
}
# states in which every BundleDeployment applied the Bundle's current spec (and so its commit)
_APPLIED = {"NotReady", "Modified"}


class FleetError(KubeError):
    """Fleet's Kubernetes API cannot be read: no kubeconfig, unreachable, failing, refusing."""


class Unauthorized(FleetError, kube.Unauthorized):
    """401: the kubeconfig's credentials are not accepted."""


class Forbidden(FleetError, kube.Forbidden):
    """403: the credentials may not list bundles in a namespace (RBAC)."""


BUNDLE = Resource(GROUP, VERSION, BUNDLES, "Fleet")


def _grant(resource: Resource, namespace: str | None) -> str:
    where = "in that namespace (docs/live.md, Fleet)"
    return f"grant get, list and watch on {resource.name} {where}"


def _fleet_error(exc: KubeError) -> FleetError:
    """kube's error as Fleet's (callers and tests catch Fleet's classes)."""
    if isinstance(exc, kube.Unauthorized):
        return Unauthorized(str(exc))
    if isinstance(exc, kube.Forbidden):
        return Forbidden(str(exc))
    return FleetError(str(exc))


@dataclass(frozen=True)
class Poll:
    """One poll of Fleet's Bundles."""

    lives: dict[str, Live]  # by `namespace/bundle`: every name asked for
    calls: int  # list requests it took, retries included
    resource_versions: dict[str, str]  # namespace → its list's metadata.resourceVersion


def wanted(config: Config) -> dict[str, list[tuple[str, str]]]:
    """The Bundles (`namespace/name`) the configuration reads from Fleet → the (app, env)
    pairs each speaks for."""
    return objects.speakers(config, "fleet")


class Fleet:
    """The Fleet management cluster's API, reached through a kubeconfig (its server, its
    credentials, optionally one of its contexts)."""

    def __init__(
        self,
        kubeconfig: str,
        context: str = "",
        *,
        policy: Policy = DEFAULT,
        timeout: float = 30.0,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self._kube = Kube(
            kubeconfig,
            context,
            label="fleet",
            setting="PROMOBOT_FLEET_KUBECONFIG",
            forbidden=_grant,
            policy=policy,
            timeout=timeout,
            # a Bundle the watch heard change, as `namespace/name`
            on_change=(lambda _, key: on_change(key)) if on_change is not None else None,
        )
        self.source = "fleet"
        self.resource_versions: dict[str, str] = {}  # the last list's, per namespace

    def close(self) -> None:
        self._kube.close()

    def poll(self, names: Iterable[str], now: datetime | None = None) -> Poll:
        """`Live` for every `namespace/bundle` in `names`, from one list call per namespace.

        A Bundle that is not listed is reported unknown with a message saying so. An error in
        any namespace fails the whole poll (`FleetError`): the callers treat every app of the
        source as unknown, which is what it is.
        """
        observed = now or datetime.now(UTC)
        try:
            self._kube.connect()
        except KubeError as exc:
            raise _fleet_error(exc) from None
        self.source = self._kube.source
        wanted_names = list(dict.fromkeys(names))
        namespaces = sorted({n.partition("/")[0] for n in wanted_names if "/" in n})
        calls = 0
        listed: dict[str, Live] = {}
        versions: dict[str, str] = {}
        for namespace in namespaces:
            try:
                body, took = self._kube.watched(BUNDLE, namespace)
                calls += took
                found = kube.items(body, f"{self.source}: the bundle list of {namespace}")
            except KubeError as exc:
                raise _fleet_error(exc) from None
            for item in found:
                name = mapping(item, "metadata").get("name")
                if isinstance(name, str):
                    listed[f"{namespace}/{name}"] = to_live(item, self.source, observed)
            versions[namespace] = str(mapping(body, "metadata").get("resourceVersion") or "")
        self.resource_versions.update(versions)
        lives = {name: listed.get(name) or self._absent(name, observed) for name in wanted_names}
        return Poll(lives, calls, versions)

    def _absent(self, name: str, observed: datetime) -> Live:
        return Live.unknown(self.source, observed, f"Fleet has no Bundle {name!r} (namespace/name)")


def to_live(bundle: Mapping[str, Any], source: str, observed: datetime) -> Live:
    """One Bundle → `Live` (the rules are in the module's docstring)."""
    meta = mapping(bundle, "metadata")
    status = mapping(bundle, "status")
    summary = mapping(status, "summary")
    ready_condition = _condition(status, "Ready")
    since = _since(ready_condition)
    commit = mapping(meta, "labels").get(COMMIT_LABEL)
    commit = commit if isinstance(commit, str) and commit else None

    def live(sync: Sync, health: Health, revision: str | None, message: str = "") -> Live:
        return Live(source, sync, health, revision, since, observed, message=message[:500])

    generation, seen = integer(meta.get("generation")), integer(status.get("observedGeneration"))
    if not status or (generation and seen < generation):
        return live(
            "out-of-sync",
            "progressing",
            None,
            f"Fleet has not yet processed generation {generation or '?'} of this Bundle",
        )
    desired, ready = integer(summary.get("desiredReady")), integer(summary.get("ready"))
    if desired == 0:
        return live("unknown", "missing", None, "the Bundle targets no cluster")
    counted = [s for s, (_, key, _, _) in _STATES.items() if integer(summary.get(key)) > 0]
    if not counted and ready >= desired:
        if commit is None:
            return live("synced", "healthy", None, f"the Bundle has no {COMMIT_LABEL} label")
        return live("synced", "healthy", commit)
    clusters = f"{ready}/{desired} clusters ready"
    if not counted:  # BundleDeployments not created yet: nothing counted, not all ready
        return live("out-of-sync", "progressing", None, clusters)
    worst = max(counted, key=lambda s: _STATES[s][0])
    _, _, sync, health = _STATES[worst]
    resources = [r for r in summary.get("nonReadyResources") or [] if isinstance(r, dict)]
    if worst == "NotReady" and _errors(resources):
        health = "degraded"
    said = _message(worst, resources) or str(ready_condition.get("message") or "")
    return live(
        sync,
        health,
        commit if worst in _APPLIED else None,
        f"{worst}: {clusters}" + (f"; {said}" if said else ""),
    )


def _message(state: str, resources: list[dict[str, Any]]) -> str:
    """The first BundleDeployment in `state`: its cluster, its message, and the first of its
    resources that are not ready or were modified (as Fleet's ReadyMessage words them)."""
    for resource in resources:
        if resource.get("bundleState") != state:
            continue
        parts = [f"cluster {resource.get('name') or '?'}"]
        if resource.get("message"):
            parts[0] += f": {resource['message']}"
        for status in (resource.get("nonReadyStatus") or [])[:3]:
            if isinstance(status, dict):
                parts.append(_non_ready(status))
        for modified in (resource.get("modifiedStatus") or [])[:3]:
            if isinstance(modified, dict):
                parts.append(_modified(modified))
        return "; ".join(parts)
    return ""


def _errors(resources: list[dict[str, Any]]) -> bool:
    return any(
        isinstance(s, dict) and mapping(s, "summary").get("error") is True
        for r in resources
        for s in r.get("nonReadyStatus") or []
    )


def _kind(item: Mapping[str, Any]) -> str:
    """`deployment.apps ns/name`, as Fleet's NonReadyStatus.String() names a resource."""
    api_version = str(item.get("apiVersion") or "")
    group = api_version.partition("/")[0] if "/" in api_version else ""
    kind = str(item.get("kind") or "").lower() + (f".{group}" if group else "")
    namespace, name = item.get("namespace"), item.get("name") or "?"
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def _non_ready(status: Mapping[str, Any]) -> str:
    summary = mapping(status, "summary")
    state = str(summary.get("state") or "not ready")
    messages = [m for m in summary.get("message") or [] if isinstance(m, str)]
    return f"{_kind(status)} {state}" + (f" ({', '.join(messages)})" if messages else "")


def _modified(modified: Mapping[str, Any]) -> str:
    if modified.get("missing"):
        return f"{_kind(modified)} missing"
    if modified.get("delete"):
        return f"{_kind(modified)} extra"
    return f"{_kind(modified)} modified"


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    conditions = status.get("conditions")
    if isinstance(conditions, dict):  # as Fleet's own docs once wrote one: cope
        conditions = [conditions]
    for condition in conditions if isinstance(conditions, list) else []:
        if isinstance(condition, dict) and condition.get("type") == kind:
            return condition
    return {}


def _since(condition: Mapping[str, Any]) -> datetime | None:
    for key in ("lastTransitionTime", "lastUpdateTime"):
        found = timestamp(condition.get(key))
        if found is not None:
            return found
    return None
