"""The inventory of real manifests: what a person sees of a rendering (highlights, namespaces,
images), that a Secret's values never come out, that the rendered id ignores chart labels and
checksums but not images, and that broken YAML gets a clear error."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest

from bot.errors import RenderError
from bot.manifests import inventory
from bot.manifests.model import Cell, Inventory

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "manifests"
SECRET_VALUES = ("t0p-Secret", "dmFsdWUtMg0KDQo=", "value-2")


def fixture(*names: str) -> list[dict[str, Any]]:
    return inventory.documents("\n---\n".join((FIXTURES / n).read_text() for n in names))


def every_fixture() -> list[dict[str, Any]]:
    return fixture(*sorted(p.name for p in FIXTURES.glob("*.yaml")))


def seen(inv: Inventory, what: str) -> list[tuple[str, str, str]]:
    return [(h.kind, h.name, h.detail) for h in inv.highlights if h.what == what]


# --- what a person sees ----------------------------------------------------------------------


def test_the_highlights_of_public_manifests() -> None:
    inv = inventory.read(every_fixture(), "prod")

    assert seen(inv, "workload") == [
        ("Deployment", "metrics-server", "gcr.io/k8s-staging-metrics-server/metrics-server:master"),
        ("Pod", "secret-dotfiles-pod", "registry.k8s.io/busybox"),
        ("StatefulSet", "web", "registry.k8s.io/nginx-slim:0.7; 2 replicas"),
    ]
    assert seen(inv, "exposure") == [
        ("Gateway", "example-gateway", "*.example.com:80 HTTP"),
        ("Gateway", "example-gateway", "*.example.com:443 HTTPS"),
        ("Gateway", "example-gateway", "*.foo.com:8443 HTTPS"),
        ("HTTPRoute", "foo", "foo.example.com"),
        ("Ingress", "minimal-ingress", "*/testpath"),
        ("Ingress", "tls-example-ingress", "https-example.foo.com/ (TLS)"),
    ]
    assert seen(inv, "data") == [
        ("Cluster", "cluster-example", "1Gi, 3 instances"),
        ("StatefulSet", "web", "www 1Gi"),
        ("postgresql", "acid-minimal-cluster", "1Gi, 2 instances"),
    ]
    assert seen(inv, "crd") == [
        ("CustomResourceDefinition", "shirts.stable.example.com", "stable.example.com, Namespaced")
    ]
    assert seen(inv, "rbac") == [
        ("ClusterRole", "system:aggregated-metrics-reader", ""),
        ("ClusterRole", "system:metrics-server", ""),
        (
            "ClusterRoleBinding",
            "metrics-server:system:auth-delegator",
            "ClusterRole system:auth-delegator → ServiceAccount kube-system/metrics-server",
        ),
        (
            "ClusterRoleBinding",
            "system:metrics-server",
            "ClusterRole system:metrics-server → ServiceAccount kube-system/metrics-server",
        ),
    ]  # the namespaced RoleBinding is not cluster-wide: not a highlight
    assert seen(inv, "network") == [("NetworkPolicy", "test-network-policy", "Ingress, Egress")]
    assert seen(inv, "secret") == [
        ("Secret", "dotfile-secret", "Opaque: .secret-file"),
        ("Secret", "secret-basic-auth", "kubernetes.io/basic-auth: password, username"),
    ]
    classes = [h.what for h in inv.highlights]
    assert classes == sorted(classes, key=inventory.CLASS_ORDER.index)


def test_namespaces_own_default_or_none_for_cluster_scoped_kinds() -> None:
    inv = inventory.read(every_fixture(), "prod")
    where = {(o.kind, o.name): o.namespace for o in inv.objects}

    assert where[("Deployment", "metrics-server")] == "kube-system"  # its own
    assert where[("postgresql", "acid-minimal-cluster")] == "default"
    assert where[("StatefulSet", "web")] == "prod"  # none of its own: the cell's
    assert where[("Cluster", "cluster-example")] == "prod"
    assert where[("ClusterRole", "system:metrics-server")] is None
    assert where[("CustomResourceDefinition", "shirts.stable.example.com")] is None
    assert inv.counts()["ClusterRoleBinding"] == 2
    assert len(inv.objects) == 20


def test_a_crd_of_the_rendering_makes_its_kind_cluster_scoped() -> None:
    (crd,) = fixture("shirt-resource-definition.yaml")
    shirt = {
        "apiVersion": "stable.example.com/v1",
        "kind": "Shirt",
        "metadata": {"name": "example1"},
        "spec": {"color": "blue", "size": "S"},
    }
    namespaced = inventory.read([crd, shirt], "prod")
    assert [o.namespace for o in namespaced.objects if o.kind == "Shirt"] == ["prod"]

    cluster = copy.deepcopy(crd)
    cluster["spec"]["scope"] = "Cluster"
    scoped = inventory.read([cluster, shirt], "prod")
    assert [o.namespace for o in scoped.objects if o.kind == "Shirt"] == [None]
    assert seen(scoped, "crd") == [
        ("CustomResourceDefinition", "shirts.stable.example.com", "stable.example.com, Cluster")
    ]


def test_the_helm_starter_chart_shows_its_ingress_host(tmp_path: Path) -> None:
    inv = inventory.read(starter(tmp_path), "shop")

    assert ("Ingress", "web", "web.example.com/") in seen(inv, "exposure")
    assert seen(inv, "workload") == [
        ("Deployment", "web", "nginx:1.16.0; 1 replica"),
        ("Pod", "web-test-connection", "busybox"),  # `helm template` renders test hooks
    ]
    assert {o.namespace for o in inv.objects} == {"shop"}
    # a ClusterIP Service is not exposed outside the cluster
    assert not [h for h in inv.highlights if h.kind == "Service"]


def test_services_exposed_by_load_balancer_or_node_port_and_a_wildcard_cluster_role() -> None:
    docs = inventory.documents(
        """
apiVersion: v1
kind: Service
metadata: {name: edge}
spec:
  type: LoadBalancer
  ports: [{port: 443, name: https}, {port: 53, protocol: UDP}]
---
apiVersion: v1
kind: Service
metadata: {name: debug}
spec:
  type: NodePort
  ports: [{port: 80, nodePort: 30080}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: everything}
rules:
- apiGroups: ["*"]
  resources: ["*"]
  verbs: ["*"]
"""
    )
    inv = inventory.read(docs, None)
    assert seen(inv, "exposure") == [
        ("Service", "debug", "NodePort 80:30080/TCP"),
        ("Service", "edge", "LoadBalancer 443/TCP, 53/UDP"),
    ]
    assert seen(inv, "rbac") == [
        ("ClusterRole", "everything", "grants every verb (*) on every resource (*)")
    ]
    assert [o.namespace for o in inv.objects if o.kind == "Service"] == [None, None]


def test_a_list_is_flattened_and_odd_shapes_never_raise() -> None:
    docs = inventory.documents(
        """
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: odd}
  spec:
    replicas: {not: a number}
    template: {spec: {containers: "nginx", initContainers: [3, {image: [x]}]}}
- apiVersion: networking.k8s.io/v1
  kind: Ingress
  metadata: {name: odd}
  spec: {rules: "everything", tls: [{hosts: 3}]}
- apiVersion: v1
  kind: Secret
  metadata: {name: odd}
  data: "not a map"
"""
    )
    inv = inventory.read(docs, "x")
    assert [(o.kind, o.name) for o in inv.objects] == [
        ("Deployment", "odd"),
        ("Ingress", "odd"),
        ("Secret", "odd"),
    ]
    assert seen(inv, "workload") == [("Deployment", "odd", "no image")]
    assert "not a map" not in json.dumps([inventory.redact(d) for d in docs])


# --- Secrets ---------------------------------------------------------------------------------


def applied(secret: dict[str, Any]) -> dict[str, Any]:
    """The Secret as `kubectl apply` leaves it: its own JSON in an annotation."""
    annotated = copy.deepcopy(secret)
    annotated["metadata"]["annotations"] = {
        inventory.LAST_APPLIED: json.dumps(secret),
        "team": "payments",
    }
    return annotated


def test_redact_keeps_key_names_and_hides_every_value() -> None:
    basic, dotfile, pod = fixture("basicauth-secret.yaml", "dotfile-secret.yaml")
    original = copy.deepcopy(basic)

    assert inventory.redact(basic)["stringData"] == {
        "username": "<redacted>",
        "password": "<redacted>",
    }
    assert inventory.redact(dotfile)["data"] == {".secret-file": "<redacted>"}
    assert basic == original  # a copy: what the caller holds is left as it was
    assert inventory.redact(pod) == pod  # not a Secret: nothing to hide

    redacted = inventory.redact(applied(basic))
    assert redacted["metadata"]["annotations"] == {"team": "payments"}
    assert not any(value in json.dumps(redacted) for value in SECRET_VALUES)


def test_secret_values_never_reach_any_output() -> None:
    basic, dotfile, pod = fixture("basicauth-secret.yaml", "dotfile-secret.yaml")
    docs = [applied(basic), applied(dotfile), pod]
    inv = inventory.read(docs, "prod")
    cell = Cell("api", "prod", "test", inventory=inv)

    outputs = [
        json.dumps([inventory.redact(d) for d in docs]),
        json.dumps(inventory.normalised(inventory.redact(d) for d in docs)),
        json.dumps(cell.to_json()),
        repr(inv),
        " ".join(inventory.image_warnings(inv, {"registry.k8s.io/busybox": "1.0"})),
    ]
    for output in outputs:
        for value in SECRET_VALUES:
            assert value not in output
    assert "password, username" in outputs[2]  # the key names are shown


def test_a_parse_error_does_not_quote_the_secret_it_stops_at() -> None:
    with pytest.raises(RenderError) as caught:
        inventory.documents(
            'apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData:\n  password: "t0p-Secret\n  x: [\n'
        )
    assert "does not parse at line 7" in str(caught.value)
    assert "t0p-Secret" not in str(caught.value)


# --- the rendered id -------------------------------------------------------------------------


def starter(tmp_path: Path, version: str = "0.1.0", **values: Any) -> list[dict[str, Any]]:
    """`helm create web`, rendered by Helm's own code with its ingress on."""
    folder = tmp_path / version
    folder.mkdir()
    helm.Chart.create("web", folder).close()
    chart_yaml = folder / "web" / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("version: 0.1.0", f"version: {version}"))
    ingress = {
        "enabled": True,
        "hosts": [{"host": "web.example.com", "paths": [{"path": "/", "pathType": "Prefix"}]}],
    }
    with helm.Chart.load(folder / "web") as chart:
        rendered = chart.render({"ingress": ingress, **values}, name="web", namespace="shop")
    text = "\n---\n".join(t for path, t in sorted(rendered.items()) if path.endswith(".yaml"))
    return inventory.documents(text)


def test_rendered_id_ignores_chart_labels_and_checksums_but_not_images(tmp_path: Path) -> None:
    first = starter(tmp_path, "0.1.0", podAnnotations={"checksum/config": "aaa"})
    bumped = starter(tmp_path, "0.2.0", podAnnotations={"checksum/config": "bbb"})
    newer = starter(tmp_path, "0.3.0", image={"tag": "1.17.0"})

    assert "helm.sh/chart" in json.dumps(first) and json.dumps(first) != json.dumps(bumped)
    assert inventory.rendered_id(first) == inventory.rendered_id(bumped)
    assert inventory.rendered_id(reversed(first)) == inventory.rendered_id(first)
    assert inventory.rendered_id(newer) != inventory.rendered_id(first)
    assert inventory.read(first, "shop").rendered_id == inventory.rendered_id(first)
    assert len(inventory.rendered_id(first)) == 12


def test_normalised_sorts_and_drops_what_does_not_run() -> None:
    docs = inventory.documents(
        """
apiVersion: v1
kind: ConfigMap
metadata:
  name: b
  labels: {helm.sh/chart: x-1.0, app: b}
data: {z: "1", a: "2", empty: null}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: a
  annotations: {checksum/secret: abc}
spec:
  template:
    metadata:
      labels: {app.kubernetes.io/managed-by: Helm}
      annotations: {checksum/config: def, keep: "yes"}
    spec: {containers: [{name: c, image: nginx, env: []}]}
"""
    )
    assert inventory.normalised(docs) == [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "a"},
            "spec": {
                "template": {
                    "metadata": {"annotations": {"keep": "yes"}},
                    "spec": {"containers": [{"image": "nginx", "name": "c"}]},
                }
            },
        },
        {
            "apiVersion": "v1",
            "data": {"a": "2", "z": "1"},
            "kind": "ConfigMap",
            "metadata": {"labels": {"app": "b"}, "name": "b"},
        },
    ]
    assert list(inventory.normalised(docs)[1]["data"]) == ["a", "z"]


# --- image warnings --------------------------------------------------------------------------


def test_image_warnings_say_what_runs_instead(tmp_path: Path) -> None:
    inv = inventory.read(starter(tmp_path), "shop")  # nginx:1.16.0 and busybox (latest)

    assert inventory.image_warnings(inv, {"nginx": "1.17.0"}) == (
        "nginx: the composition asks for 1.17.0, but Deployment web runs 1.16.0 "
        "— the value never reached the workload",
    )
    assert inventory.image_warnings(inv, {"ghcr.io/acme/api": "1.5.0"}) == (
        "ghcr.io/acme/api: the composition asks for 1.5.0, but no workload runs ghcr.io/acme/api",
    )
    # Docker's names: nginx is docker.io/library/nginx, and no tag is `latest`
    assert (
        inventory.image_warnings(
            inv,
            {
                "nginx": "1.16.0",
                "docker.io/library/nginx": "1.16.0",
                "index.docker.io/library/busybox": "latest",
            },
        )
        == ()
    )
    # not image repositories: a chart and a git repository
    assert (
        inventory.image_warnings(
            inv, {"oci://ghcr.io/acme/charts/web": "2.0.0", "https://github.com/acme/web": "v2"}
        )
        == ()
    )


def test_image_warnings_with_digests() -> None:
    old = "sha256:" + "a" * 64
    new = "sha256:" + "b" * 64
    docs = inventory.documents(
        f"""
apiVersion: batch/v1
kind: CronJob
metadata: {{name: report}}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{{name: r, image: "ghcr.io/acme/report:2.0.0@{old}"}}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: api}}
spec:
  template:
    spec:
      containers: [{{name: api, image: "localhost:5000/api@{old}"}}]
"""
    )
    inv = inventory.read(docs, "prod")
    assert [o.images for o in inv.objects] == [
        (f"localhost:5000/api@{old}",),
        (f"ghcr.io/acme/report:2.0.0@{old}",),
    ]
    assert inventory.image_warnings(inv, {"ghcr.io/acme/report": f"2.0.0@{old}"}) == ()
    assert inventory.image_warnings(inv, {"ghcr.io/acme/report": f"2.0.0@{new}"}) == (
        f"ghcr.io/acme/report: the composition asks for 2.0.0@{new}, but CronJob report runs "
        "2.0.0@sha256:aaaaaaaaaaaa… — the value never reached the workload",
    )
    assert inventory.image_warnings(inv, {"localhost:5000/api": f"@{old}"}) == ()
    # a tag asked for, a digest run: promobot cannot tell them apart, so it does not warn
    assert inventory.image_warnings(inv, {"localhost:5000/api": "3.0.0"}) == ()


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "document 1 (line 1) is a list, not a Kubernetes object"),
        (
            "---\n# only a comment\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {labels: {}}\n",
            "document 2 (line 4), a Deployment, has no metadata.name",
        ),
        ("kind: Service\nmetadata: {name: x}\n", "has no apiVersion"),
        (
            "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, metadata: {name: b}}\n",
            "document 1 (line 1), item 2 has no kind",
        ),
        ("a:\n\tb: 1\n", "does not parse at line 2"),
        ("!!python/object/apply:os.system ['true']\n", "could not determine a constructor"),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: &a {x: [*a]}\n",
            "contains itself",
        ),
        (
            "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
            "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
            "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
            "aliases expand to far more values",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: " + "[" * 300 + "]" * 300,
            "nests deeper than 200 levels",
        ),
    ],
)
def test_broken_documents_get_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(RenderError) as caught:
        inventory.documents(text)
    assert message in str(caught.value)


def test_more_than_twenty_thousand_objects_are_refused() -> None:
    one = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c%d}\n"
    assert len(inventory.documents("---\n".join(one % n for n in range(20_000)))) == 20_000
    with pytest.raises(RenderError, match="more than 20,000 objects"):
        inventory.documents("---\n".join(one % n for n in range(20_001)))


def test_dates_stay_text_as_kubernetes_reads_them() -> None:
    (doc,) = inventory.documents(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {day: 2024-01-01, odd: 2024-13-45}\n"
    )
    assert doc["data"] == {"day": "2024-01-01", "odd": "2024-13-45"}


def test_operators_routes_and_sealed_secrets_named_in_their_own_words() -> None:
    docs = inventory.documents(
        """
apiVersion: postgres-operator.crunchydata.com/v1beta1
kind: PostgresCluster
metadata: {name: hippo}
spec:
  instances:
  - {name: a, replicas: 2, dataVolumeClaimSpec: {resources: {requests: {storage: 5Gi}}}}
  - {name: b, dataVolumeClaimSpec: {resources: {requests: {storage: 5Gi}}}}
---
apiVersion: databases.spotahome.com/v1
kind: RedisFailover
metadata: {name: cache}
spec: {redis: {replicas: 3}}
---
apiVersion: postgresql.cnpg.io/v1
kind: ScheduledBackup
metadata: {name: nightly}
spec: {schedule: "0 0 0 * * *"}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: uploads}
spec: {resources: {requests: {storage: 20Gi}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec: {hosts: [reviews.example.com, reviews]}
---
apiVersion: route.openshift.io/v1
kind: Route
metadata: {name: shop}
spec: {host: shop.example.com, path: /cart, tls: {termination: edge}}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: l7}
spec: {endpointSelector: {}}
---
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata: {name: db}
spec: {encryptedData: {password: AgBy3i4OJSWK+PiTySYZZA==}}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: api}
spec: {secretStoreRef: {kind: ClusterSecretStore, name: vault}}
"""
    )
    inv = inventory.read(docs, "shop")
    assert [(h.what, h.kind, h.name, h.detail) for h in inv.highlights] == [
        ("exposure", "Route", "shop", "shop.example.com/cart (TLS)"),
        ("exposure", "VirtualService", "reviews", "reviews.example.com"),
        ("exposure", "VirtualService", "reviews", "reviews"),
        ("data", "PersistentVolumeClaim", "uploads", "20Gi"),
        ("data", "PostgresCluster", "hippo", "5Gi, 3 instances"),
        ("data", "RedisFailover", "cache", "3 instances"),
        ("data", "ScheduledBackup", "nightly", ""),  # every kind of a database operator
        ("network", "CiliumNetworkPolicy", "l7", ""),
        ("secret", "ExternalSecret", "api", "from ClusterSecretStore vault"),
        ("secret", "SealedSecret", "db", "password"),
    ]
