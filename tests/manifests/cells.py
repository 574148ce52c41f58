"""Real cells for the tests of what people read: the `helm create` chart rendered by Helm's own
SDK, its objects and highlights read by hand here (the inventory reader is another module's),
and a few objects added by hand where a chart of its own would only add noise (a database's
StatefulSet, a CRD, a ClusterRole)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

from bot.manifests.model import Cell, Highlight, Inventory, Object, Sheet

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}


def render(chart_dir: Path, values: Mapping[str, Any], namespace: str) -> list[dict[str, Any]]:
    """The `helm create` chart (made once per folder) rendered with `values`: its documents."""
    if not (chart_dir / "web" / "Chart.yaml").exists():
        helm.Chart.create("web", str(chart_dir))
    chart = helm.Chart.load(str(chart_dir / "web"))
    rendered = chart.render(dict(values), name="web", namespace=namespace)
    docs = []
    for path, text in sorted(rendered.items()):
        if "/tests/" in path or not path.endswith((".yaml", ".yml")):
            continue
        docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


def _images(doc: Mapping[str, Any]) -> tuple[str, ...]:
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    return tuple(c["image"] for key in ("initContainers", "containers") for c in spec.get(key, []))


def highlights_of(docs: Sequence[Mapping[str, Any]]) -> list[Highlight]:
    found: list[Highlight] = []
    for doc in docs:
        kind, name = doc["kind"], doc["metadata"]["name"]
        spec = doc.get("spec", {})
        if kind in WORKLOADS:
            found.append(Highlight("workload", kind, name, ", ".join(_images(doc))))
            for claim in spec.get("volumeClaimTemplates", []):
                size = claim["spec"]["resources"]["requests"]["storage"]
                found.append(Highlight("data", kind, name, size))
        elif kind == "Ingress":
            for rule in spec.get("rules", []):
                for path in rule.get("http", {}).get("paths", []):
                    found.append(Highlight("exposure", kind, name, rule["host"] + path["path"]))
        elif kind == "Service" and spec.get("type") in ("LoadBalancer", "NodePort"):
            found.append(Highlight("exposure", kind, name, spec["type"]))
        elif kind == "CustomResourceDefinition":
            found.append(Highlight("crd", kind, name))
        elif kind in ("ClusterRole", "ClusterRoleBinding"):
            found.append(Highlight("rbac", kind, name))
        elif kind == "NetworkPolicy":
            found.append(Highlight("network", kind, name))
        elif kind == "Secret":
            found.append(Highlight("secret", kind, name))
    return found


def inventory(docs: Sequence[Mapping[str, Any]]) -> Inventory:
    objects = tuple(
        Object(
            d["apiVersion"],
            d["kind"],
            d["metadata"].get("namespace"),
            d["metadata"]["name"],
            _images(d),
        )
        for d in docs
    )
    canonical = yaml.safe_dump_all(sorted(docs, key=lambda d: (d["kind"], d["metadata"]["name"])))
    rendered_id = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    return Inventory(objects, tuple(highlights_of(docs)), rendered_id)


def database(size: str = "20Gi") -> dict[str, Any]:
    """A StatefulSet with a volume claim, as a database chart renders one."""
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web-db", "namespace": "prod"},
        "spec": {
            "template": {"spec": {"containers": [{"name": "pg", "image": "postgres:16.4"}]}},
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"resources": {"requests": {"storage": size}}},
                }
            ],
        },
    }


def crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
    }


def cluster_role() -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "web-reader"},
    }


def secret(name: str = "web-credentials") -> dict[str, Any]:
    """A Secret as the inventory would see it: its data never leaves the renderer."""
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "prod"}}


def cell(
    chart_dir: Path,
    env: str,
    values: Mapping[str, Any] | None = None,
    extra: Sequence[dict[str, Any]] = (),
    *,
    app: str = "web",
    caveat: str | None = None,
    warnings: Sequence[str] = (),
) -> Cell:
    docs = render(chart_dir, values or {}, env) + list(extra)
    origin = f"Argo CD Application envs/{env}/{app}.yaml"
    return Cell(app, env, origin, inventory(docs), caveat=caveat, warnings=tuple(warnings))


def failed(env: str, error: str, app: str = "web") -> Cell:
    return Cell(app, env, f"render: in .promobot.yaml ({env})", error=error)


def sheet(cells: Sequence[Cell], commit: str = "c0ffee" * 6 + "c0ff", pending: int = 0) -> Sheet:
    return Sheet(commit, {(c.app, c.env): c for c in cells}, pending)


def ingress(host: str) -> dict[str, Any]:
    """The chart's values for an Ingress on `host`."""
    return {
        "ingress": {
            "enabled": True,
            "hosts": [{"host": host, "paths": [{"path": "/", "pathType": "Prefix"}]}],
        }
    }
