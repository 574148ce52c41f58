"""The shapes of rendering: how one app × environment (a *cell*) is rendered (`Recipe`), and what
came out of it (`Cell`, with its `Inventory`). Pure data, shared by every module of
`bot.manifests` and by the pages and commands that show it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

# --- how to render a cell ------------------------------------------------------------------


@dataclass(frozen=True)
class ChartRef:
    """Where a Helm chart comes from: a repository and a version, or a folder of the env repo."""

    repo: str | None = None  # https://… (index.yaml) or oci://…; None for a folder of the repo
    name: str | None = None  # the chart's name in `repo`
    version: str | None = None  # the version the composition asks for
    path: str | None = None  # a folder of the env repo holding Chart.yaml

    @property
    def label(self) -> str:
        if self.path is not None:
            return self.path
        return f"{(self.repo or '').rstrip('/')}/{self.name}@{self.version}"


@dataclass(frozen=True)
class Helm:
    """A chart rendered as `helm template` would, with the values the deploying tool passes."""

    chart: ChartRef
    values_files: tuple[str, ...] = ()  # paths in the env repo, merged in order
    values: tuple[Mapping[str, Any], ...] = ()  # inline values, merged after the files, in order
    # `--set` expressions applied last (Argo CD parameters), parsed by Helm's own strvals
    set_values: tuple[str, ...] = ()
    set_strings: tuple[str, ...] = ()  # `--set-string` (Argo CD parameters with forceString)
    release: str = ""
    namespace: str = "default"
    kube_version: str | None = None  # .Capabilities.KubeVersion, e.g. v1.31.0
    api_versions: tuple[
        str, ...
    ] = ()  # .Capabilities.APIVersions added, e.g. monitoring.coreos.com/v1
    include_crds: bool = True  # the chart's crds/ folder (Argo CD and Flux install them)


@dataclass(frozen=True)
class Kustomize:
    """`kustomize build` of a folder of the env repo (load restrictor on, no plugins)."""

    path: str
    enable_helm: bool = False  # helmCharts: inflation, only where the settings allow it


@dataclass(frozen=True)
class Directory:
    """A folder of plain manifests (Argo CD directory sources, Fleet raw bundles)."""

    path: str
    recurse: bool = False


How = Helm | Kustomize | Directory


@dataclass(frozen=True)
class Recipe:
    """How one cell is rendered, and where promobot learned it."""

    app: str
    env: str
    how: How | None  # None: promobot cannot render it; `problem` says why
    origin: str  # e.g. "render: in .promobot.yaml", "Argo CD Application envs/prod/web.yaml"
    problem: str | None = None  # why it cannot be rendered (faithfully), and what would fix it
    # rendered, but not exactly as the cluster gets it (e.g. "lookup returns nothing offline")
    caveat: str | None = None


# --- what came out -------------------------------------------------------------------------

Class = Literal["workload", "exposure", "data", "crd", "rbac", "network", "secret"]


@dataclass(frozen=True)
class Object:
    """One rendered object, as the inventory lists it (never a Secret's data)."""

    api_version: str
    kind: str
    namespace: str | None
    name: str
    images: tuple[str, ...] = ()  # containers' and init containers' images, for workloads

    def to_json(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "images": list(self.images),
        }


@dataclass(frozen=True)
class Highlight:
    """What people look for first: a workload and its images, a host, a volume, a CRD…"""

    what: Class
    kind: str
    name: str
    detail: str = ""  # e.g. "api.example.com/", "LoadBalancer", "20Gi", "ghcr.io/acme/api:1.5.0"

    def to_json(self) -> dict[str, str]:
        return {"class": self.what, "kind": self.kind, "name": self.name, "detail": self.detail}


@dataclass(frozen=True)
class Inventory:
    objects: tuple[Object, ...]
    highlights: tuple[Highlight, ...]
    rendered_id: str  # a hash of the normalised objects: equal ids, equal objects

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for each in self.objects:
            counts[each.kind] = counts.get(each.kind, 0) + 1
        return counts


@dataclass(frozen=True)
class Cell:
    """One app × environment: its inventory, or why there is none."""

    app: str
    env: str
    origin: str  # how it was rendered (Recipe.origin)
    inventory: Inventory | None = None
    error: str | None = None  # not rendered: why, and what would fix it
    caveat: str | None = None  # rendered, but not exactly as the cluster gets it
    warnings: tuple[str, ...] = field(default=())  # e.g. an image that never reached a workload

    def to_json(self) -> dict[str, Any]:
        inventory = self.inventory
        return {
            "app": self.app,
            "env": self.env,
            "origin": self.origin,
            "rendered_id": inventory.rendered_id if inventory else None,
            "error": self.error,
            "caveat": self.caveat,
            "warnings": list(self.warnings),
            "counts": inventory.counts() if inventory else {},
            "highlights": [h.to_json() for h in inventory.highlights] if inventory else [],
            "objects": [o.to_json() for o in inventory.objects] if inventory else [],
        }


@dataclass(frozen=True)
class Sheet:
    """Every cell of a repo at one commit, as far as it is rendered yet."""

    commit: str
    cells: Mapping[tuple[str, str], Cell]  # (app, env) → cell
    pending: int = 0  # cells still being rendered in the background

    def get(self, app: str, env: str) -> Cell | None:
        return self.cells.get((app, env))


# --- what a promotion changes in the cluster -------------------------------------------------

# Impact classes, in the order a PR lists them: what a reviewer weighs first comes first.
Impact = Literal[
    "crd", "rbac", "namespace", "data", "exposure", "secret", "scale", "config", "image", "other"
]
IMPACTS: tuple[Impact, ...] = (
    "crd",  # a CustomResourceDefinition added, removed or changed
    "rbac",  # cluster-wide RBAC (ClusterRole, ClusterRoleBinding)
    "namespace",  # a Namespace removed (everything in it goes)
    "data",  # StatefulSets' volume claims, PVCs, database operators' custom resources
    "exposure",  # Ingress, Gateway API routes and listeners, a Service's type or ports
    "secret",  # a Secret's keys or values (never the values themselves)
    "scale",  # replicas, resources (requests and limits), autoscalers
    "config",  # ConfigMaps, environment variables
    "image",  # a container's image
    "other",  # anything else that changed
)


@dataclass(frozen=True)
class FieldChange:
    """One field of one object, by path: `spec.template.spec.containers[api].image`."""

    path: str
    before: str | None  # the value as short text (a scalar, or compact YAML); None: absent
    after: str | None

    def to_json(self) -> dict[str, str | None]:
        return {"path": self.path, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class ObjectChange:
    """An object the merge adds, removes or changes."""

    api_version: str
    kind: str
    namespace: str | None
    name: str
    change: Literal["added", "removed", "changed"]
    impact: tuple[Impact, ...]  # in IMPACTS order
    fields: tuple[FieldChange, ...] = ()  # what changed (for a Secret: its keys, values hidden)
    summary: str = (
        ""  # what a person reads first: "host api.example.com", "ClusterIP → LoadBalancer"
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "change": self.change,
            "impact": list(self.impact),
            "summary": self.summary,
            "fields": [f.to_json() for f in self.fields],
        }


@dataclass(frozen=True)
class AppDiff:
    """What merging a promotion changes in one app's rendering in one environment."""

    app: str
    env: str
    changes: tuple[ObjectChange, ...] = ()
    impact: tuple[Impact, ...] = ()  # every class of every change, in IMPACTS order
    summary: tuple[str, ...] = ()  # the impact line's phrases: "adds Ingress api.example.com"
    error: str | None = None  # not rendered (now or after the merge): why; impact unknown
    # what soaked is what merges: how the rendering after the merge differs from what the
    # upstream environment renders now, beyond what the environments' own files set apart
    upstream: str | None = None  # the upstream environment compared with, if any
    unsoaked: tuple[ObjectChange, ...] = ()  # differences the upstream never ran

    @property
    def known(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "env": self.env,
            "error": self.error,
            "impact": list(self.impact),
            "summary": list(self.summary),
            "changes": [c.to_json() for c in self.changes],
            "upstream": self.upstream,
            "unsoaked": [c.to_json() for c in self.unsoaked],
        }
