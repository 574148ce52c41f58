"""Rendered YAML turned into what people look for: the objects of a cell, its highlights
(workloads and their images, hosts, volumes, CRDs, cluster-wide RBAC, network policies,
Secrets by name), a rendered id that is equal for equal renderings, and warnings for an image
version that never reached a workload.

Pure: text and parsed documents in, values out. A Secret's data never leaves this module: every
output is made from `redact`ed documents, or names only the Secret's keys.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, NamedTuple

import yaml

from bot.errors import RenderError
from bot.manifests.model import Class, Highlight, Inventory, Object
from bot.versions import split_digest

MAX_OBJECTS = 20_000
# Real objects nest a few dozen levels (a CRD's schema the most); deeper is not a manifest, and
# the recursive walks below stay far from Python's recursion limit.
MAX_DEPTH = 200
# Values a rendering may hold once YAML aliases are expanded, beyond one per character of its
# text: without aliases a value takes at least a character, so only an alias bomb gets near.
ALIAS_ALLOWANCE = 100_000
REDACTED = "<redacted>"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Labels and annotations that change with every chart version or config change without changing
# what runs: left out of the comparison, so that a chart bump alone keeps the rendered id.
NOISY_LABELS = frozenset({"helm.sh/chart", "app.kubernetes.io/managed-by"})
NOISY_ANNOTATION_PREFIX = "checksum/"

# The C parser when PyYAML was built with libyaml: the same safe constructors, 5-10x faster.
_Base: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _Loader(_Base):  # type: ignore[valid-type,misc]
    """Safe YAML, with dates left as text: Kubernetes reads `2024-01-01` as a string (and an
    impossible date like `2024-13-45` too, where PyYAML would raise)."""

    yaml_implicit_resolvers: ClassVar[dict[Any, Any]] = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in _Base.yaml_implicit_resolvers.items()
    }


GroupKind = tuple[str, str]

# Kinds that live outside namespaces: Kubernetes' own (as `kubectl api-resources
# --namespaced=false` lists them), then a few well-known custom resources whose CRD is usually
# installed apart from the app. A CRD in the same rendering decides for its own kind.
CLUSTER_SCOPED: frozenset[GroupKind] = frozenset(
    {
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("", "ComponentStatus"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("apiregistration.k8s.io", "APIService"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("storage.k8s.io", "VolumeAttributesClass"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("networking.k8s.io", "IngressClass"),
        ("networking.k8s.io", "IPAddress"),
        ("networking.k8s.io", "ServiceCIDR"),
        ("node.k8s.io", "RuntimeClass"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("certificates.k8s.io", "ClusterTrustBundle"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
        ("resource.k8s.io", "DeviceClass"),
        # well-known custom resources
        ("gateway.networking.k8s.io", "GatewayClass"),
        ("policy.networking.k8s.io", "AdminNetworkPolicy"),
        ("policy.networking.k8s.io", "BaselineAdminNetworkPolicy"),
        ("cert-manager.io", "ClusterIssuer"),
        ("external-secrets.io", "ClusterSecretStore"),
        ("external-secrets.io", "ClusterExternalSecret"),
        ("cilium.io", "CiliumClusterwideNetworkPolicy"),
        ("crd.projectcalico.org", "GlobalNetworkPolicy"),
        ("projectcalico.org", "GlobalNetworkPolicy"),
        ("kyverno.io", "ClusterPolicy"),
    }
)

# Workloads, and where their pod spec is.
_TEMPLATE = ("spec", "template", "spec")
WORKLOADS: Mapping[GroupKind, tuple[str, ...]] = {
    ("apps", "Deployment"): _TEMPLATE,
    ("apps", "StatefulSet"): _TEMPLATE,
    ("apps", "DaemonSet"): _TEMPLATE,
    ("apps", "ReplicaSet"): _TEMPLATE,
    ("batch", "Job"): _TEMPLATE,
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
    ("", "Pod"): ("spec",),
    ("argoproj.io", "Rollout"): _TEMPLATE,  # none with spec.workloadRef: no images of its own
}
_CONTAINERS = ("initContainers", "containers", "ephemeralContainers")

# Database operators, by the API group of their custom resources: every kind of these groups is
# a `data` highlight (a cluster, a backup, a user…). `_DATABASE_DETAILS` below says the size
# and instances of the kinds that are databases themselves.
DATABASE_OPERATORS: Mapping[str, str] = {
    "postgresql.cnpg.io": "CloudNativePG",
    "acid.zalan.do": "Zalando Postgres Operator",
    "postgres-operator.crunchydata.com": "Crunchy Postgres for Kubernetes",
    "pgv2.percona.com": "Percona Operator for PostgreSQL",
    "kubedb.com": "KubeDB",
    "mysql.oracle.com": "MySQL Operator (InnoDBCluster)",
    "pxc.percona.com": "Percona Operator for MySQL (XtraDB Cluster)",
    "ps.percona.com": "Percona Operator for MySQL (Server)",
    "moco.cybozu.com": "MOCO (MySQL)",
    "k8s.mariadb.com": "MariaDB Operator",
    "mongodbcommunity.mongodb.com": "MongoDB Community Operator",
    "mongodb.com": "MongoDB Enterprise Operator",
    "psmdb.percona.com": "Percona Operator for MongoDB",
    "redis.redis.opstreelabs.in": "Redis Operator (Opstree)",
    "databases.spotahome.com": "Redis Operator (Spotahome)",
    "clickhouse.altinity.com": "Altinity ClickHouse Operator",
    "cassandra.datastax.com": "cass-operator (Cassandra)",
    "scylla.scylladb.com": "Scylla Operator",
    "crdb.cockroachlabs.com": "CockroachDB Operator",
    "elasticsearch.k8s.elastic.co": "ECK (Elasticsearch)",
}

_EXPOSURE_ROUTES = frozenset({"HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute"})
NETWORK_POLICIES: frozenset[GroupKind] = frozenset(
    {
        ("networking.k8s.io", "NetworkPolicy"),
        ("policy.networking.k8s.io", "AdminNetworkPolicy"),
        ("policy.networking.k8s.io", "BaselineAdminNetworkPolicy"),
        ("cilium.io", "CiliumNetworkPolicy"),
        ("cilium.io", "CiliumClusterwideNetworkPolicy"),
        ("crd.projectcalico.org", "NetworkPolicy"),
        ("crd.projectcalico.org", "GlobalNetworkPolicy"),
        ("projectcalico.org", "NetworkPolicy"),
        ("projectcalico.org", "GlobalNetworkPolicy"),
    }
)
CLASS_ORDER: tuple[Class, ...] = (
    "workload",
    "exposure",
    "data",
    "crd",
    "rbac",
    "network",
    "secret",
)


# --- parsing -------------------------------------------------------------------------------


def documents(text: str) -> list[dict[str, Any]]:
    """The Kubernetes objects of a multi-document YAML text: empty documents dropped, `List`s
    flattened. A document that is not an object, YAML that does not parse, or more than
    `MAX_OBJECTS` objects: `RenderError`, naming the document (counting from 1) and its line."""
    loader = _Loader(text)
    found: list[dict[str, Any]] = []
    budget = _Budget(len(text) + ALIAS_ALLOWANCE)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                break
            index += 1
            where = f"document {index} (line {node.start_mark.line + 1})"
            try:
                value = loader.construct_document(node)
            except ValueError as error:  # a number or explicit !!timestamp out of range
                raise RenderError(f"{where} does not parse: {error}") from None
            if value is None:
                continue
            budget.check(value, where)
            items = _items(value)
            if items is None:
                found.append(_checked(value, where))
            else:
                found.extend(
                    _checked(item, f"{where}, item {n}") for n, item in enumerate(items, 1)
                )
            if len(found) > MAX_OBJECTS:
                raise RenderError(
                    f"the rendering has more than {MAX_OBJECTS:,} objects (at {where}); "
                    "promobot reads no more: split the app, or render less of it"
                )
    except yaml.MarkedYAMLError as error:
        raise RenderError(_yaml_problem(error, index)) from None
    except (yaml.YAMLError, RecursionError) as error:
        # Error text from the parser can quote the input; only the kind of error is kept.
        raise RenderError(
            f"the rendered YAML does not parse after document {index}: {type(error).__name__}"
        ) from None
    finally:
        loader.dispose()
    return found


def _yaml_problem(error: yaml.MarkedYAMLError, index: int) -> str:
    """The parser's message without its snippet of the input (which may be a Secret's line)."""
    mark = error.problem_mark or error.context_mark
    at = f"line {mark.line + 1}, column {mark.column + 1}" if mark else f"document {index + 1}"
    what = " ".join(part for part in (error.context, error.problem) if part)
    return f"the rendered YAML does not parse at {at}: {what or 'invalid YAML'}"


def _items(value: Any) -> list[Any] | None:
    """The items of a `kind: List` (or `ConfigMapList`, …), None for any other document."""
    if not isinstance(value, dict):
        return None
    kind = value.get("kind")
    items = value.get("items")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
        return items
    return None


def _checked(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RenderError(
            f"{where} is a {_kind_of(value)}, not a Kubernetes object "
            "(a mapping with apiVersion, kind and metadata.name)"
        )
    metadata = value.get("metadata")
    name = (
        metadata.get("name") or metadata.get("generateName") if isinstance(metadata, dict) else None
    )
    missing = [
        field
        for field, given in (
            ("apiVersion", value.get("apiVersion")),
            ("kind", value.get("kind")),
            ("metadata.name", name),
        )
        if not isinstance(given, str) or not given
    ]
    if missing:
        kind = value.get("kind")
        what = f"{where}, a {kind}," if isinstance(kind, str) and kind else where
        named = ", ".join(missing[:-1]) + " or " + missing[-1] if len(missing) > 1 else missing[0]
        raise RenderError(
            f"{what} has no {named}: every object needs apiVersion, kind and metadata.name, "
            "each a non-empty string"
        )
    return value


def _kind_of(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    return "scalar"


class _Budget:
    """Refuses YAML whose aliases expand to more than `limit` values in all, or that nests
    deeper than `MAX_DEPTH` or into itself: each shared value is measured once."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    def check(self, root: Any, where: str) -> None:
        # By id, within one document (aliases never cross documents, and a value dropped with
        # a List's wrapper may lend its id to a later one): (values, depth), expanded.
        sizes: dict[int, tuple[int, int]] = {}
        open_: set[int] = set()
        stack: list[tuple[Any, bool]] = [(root, False)]
        while stack:
            value, closing = stack.pop()
            key = id(value)
            children = list(value.values()) if isinstance(value, dict) else value
            if closing:
                open_.discard(key)
                inner = [sizes[id(c)] for c in children if isinstance(c, dict | list)]
                size = 1 + len(children) - len(inner) + sum(s for s, _ in inner)
                depth = 1 + max((d for _, d in inner), default=0)
                if depth > MAX_DEPTH:
                    raise RenderError(f"{where} nests deeper than {MAX_DEPTH} levels")
                sizes[key] = (size, depth)
                continue
            if key in sizes:
                continue
            if key in open_:
                raise RenderError(f"{where} contains itself (a YAML alias to its own parent)")
            open_.add(key)
            stack.append((value, True))
            stack.extend((c, False) for c in children if isinstance(c, dict | list))
        if isinstance(root, dict | list):
            self.left -= sizes[id(root)][0]
        if self.left < 0:
            raise RenderError(
                f"{where}: its YAML aliases expand to far more values than the text holds; "
                "promobot does not expand them"
            )


# --- redaction and comparison --------------------------------------------------------------


def redact(doc: Mapping[str, Any], key: bytes | None = None) -> dict[str, Any]:
    """A copy with a Secret's `data`/`stringData` values replaced by `<redacted>` (key names
    kept) and the last-applied-configuration annotation (which may hold them) dropped. Parts
    that change are copied; the rest is shared with `doc`.

    With a `key`, each value becomes `<redacted:` and 16 hex digits of its HMAC-SHA256 `>`:
    equal values give equal tokens, so a diff can tell that a value changed, and a reader of
    the kept manifests cannot test guesses of a weak password without the key."""
    out = dict(doc)
    if out.get("kind") == "Secret":
        for field in ("data", "stringData"):
            values = out.get(field)
            if isinstance(values, Mapping):
                out[field] = {name: _token(value, key) for name, value in values.items()}
            elif field in out:
                out[field] = _token(values, key)
    metadata = out.get("metadata")
    if isinstance(metadata, Mapping):
        annotations = metadata.get("annotations")
        if isinstance(annotations, Mapping) and LAST_APPLIED in annotations:
            kept = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
            out["metadata"] = {**metadata, "annotations": kept}
    return out


def _token(value: Any, key: bytes | None) -> str:
    if key is None:
        return REDACTED
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    digest = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:16]
    return f"<redacted:{digest}>"


def _order(doc: Mapping[str, Any]) -> tuple[str, str, str, str]:
    metadata = _map(doc.get("metadata"))
    return (
        _text(doc.get("apiVersion")),
        _text(doc.get("kind")),
        _text(metadata.get("namespace")),
        _text(metadata.get("name")),
    )


def normalised(docs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The documents as compared: sorted by (apiVersion, kind, namespace, name), keys sorted,
    chart-version labels and `checksum/*` annotations dropped from every metadata (pod templates
    too), and None values and empty maps and lists dropped."""
    return [_clean(doc) for doc in sorted(docs, key=_order)]


def _clean(value: Any) -> Any:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in sorted(value, key=str):
            item = value[key]
            if key == "metadata" and isinstance(item, Mapping):
                item = _quiet(item)
            item = _clean(item)
            if item is None or (isinstance(item, dict | list) and not item):
                continue
            out[str(key)] = item
        return out
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def _quiet(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata without the labels and annotations that change with no change to what runs."""
    out = dict(metadata)
    labels = metadata.get("labels")
    if isinstance(labels, Mapping):
        out["labels"] = {k: v for k, v in labels.items() if k not in NOISY_LABELS}
    annotations = metadata.get("annotations")
    if isinstance(annotations, Mapping):
        out["annotations"] = {
            k: v
            for k, v in annotations.items()
            if not (isinstance(k, str) and k.startswith(NOISY_ANNOTATION_PREFIX))
        }
    return out


def rendered_id(docs: Iterable[Mapping[str, Any]]) -> str:
    """First 12 hex digits of sha256 over the canonical JSON of the normalised, redacted
    documents: equal for renderings that differ only in chart labels and checksums."""
    canonical = json.dumps(
        normalised(redact(doc) for doc in docs),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,  # YAML timestamps and binaries: their text
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


# --- reading -------------------------------------------------------------------------------


def read(docs: Sequence[Mapping[str, Any]], namespace: str | None) -> Inventory:
    """The inventory of a rendering: its objects (in a namespace: their own, else `namespace`
    for namespaced kinds), their images, and the highlights, by class, kind and name."""
    scoped = cluster_scoped(docs)
    objects: list[Object] = []
    highlights: list[Highlight] = []
    for doc in sorted(docs, key=_order):
        kind = _text(doc.get("kind"))
        api_version = _text(doc.get("apiVersion"))
        group = _group(api_version)
        metadata = _map(doc.get("metadata"))
        name = _text(metadata.get("name")) or _text(metadata.get("generateName"))
        own = _text(metadata.get("namespace")) or namespace
        images = _images(doc, (group, kind))
        objects.append(
            Object(api_version, kind, None if (group, kind) in scoped else own, name, images)
        )
        highlights.extend(
            Highlight(what, kind, name, detail) for what, detail in _highlights(doc, group, kind)
        )
    rank = {what: n for n, what in enumerate(CLASS_ORDER)}
    highlights.sort(key=lambda h: (rank[h.what], h.kind, h.name))
    return Inventory(tuple(objects), tuple(highlights), rendered_id(docs))


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def cluster_scoped(docs: Iterable[Mapping[str, Any]]) -> set[GroupKind]:
    scoped = set(CLUSTER_SCOPED)
    for doc in docs:
        if doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = _map(doc.get("spec"))
        defined = (_text(spec.get("group")), _text(_at(spec, "names", "kind")))
        if spec.get("scope") == "Cluster":
            scoped.add(defined)
        else:
            scoped.discard(defined)
    return scoped


def _images(doc: Mapping[str, Any], group_kind: GroupKind) -> tuple[str, ...]:
    path = WORKLOADS.get(group_kind)
    if path is None:
        return ()
    pod = _map(_at(doc, *path))
    found = (
        _text(container.get("image"))
        for field in _CONTAINERS
        for container in _maps(pod.get(field))
    )
    return tuple(dict.fromkeys(image for image in found if image))


Found = Iterable[tuple[Class, str]]  # (class, detail) of one object's highlights


def _highlights(doc: Mapping[str, Any], group: str, kind: str) -> Found:
    spec = _map(doc.get("spec"))
    if (group, kind) in WORKLOADS:
        yield "workload", _workload(doc, spec, (group, kind))
    exposure = _EXPOSURES.get((group, kind)) or (
        _route if group == "gateway.networking.k8s.io" and kind in _EXPOSURE_ROUTES else None
    )
    if exposure is not None:
        yield from (("exposure", detail) for detail in exposure(spec))
    if kind == "StatefulSet" and group == "apps":
        claims = [
            f"{_text(_at(claim, 'metadata', 'name'))} {_storage(_map(claim.get('spec')))}".strip()
            for claim in _maps(spec.get("volumeClaimTemplates"))
        ]
        if claims:
            yield "data", ", ".join(claims)
    elif (group, kind) == ("", "PersistentVolumeClaim"):
        yield "data", _storage(spec)
    elif group in DATABASE_OPERATORS:
        detail = _DATABASE_DETAILS.get((group, kind))
        yield "data", detail(spec) if detail else ""
    elif (group, kind) == ("apiextensions.k8s.io", "CustomResourceDefinition"):
        yield "crd", f"{_text(spec.get('group'))}, {_text(spec.get('scope')) or 'Namespaced'}"
    elif group == "rbac.authorization.k8s.io" and kind == "ClusterRole":
        yield "rbac", _cluster_role(doc)
    elif group == "rbac.authorization.k8s.io" and kind == "ClusterRoleBinding":
        yield "rbac", _binding(doc)
    elif (group, kind) in NETWORK_POLICIES:
        yield "network", ", ".join(_texts(spec.get("policyTypes")))
    elif (group, kind) == ("", "Secret"):
        keys = sorted({*_map(doc.get("data")), *_map(doc.get("stringData"))}, key=str)
        kind_of = _text(doc.get("type")) or "Opaque"
        yield "secret", f"{kind_of}: {', '.join(map(str, keys))}" if keys else kind_of
    elif (group, kind) == ("bitnami.com", "SealedSecret"):
        yield "secret", ", ".join(sorted(map(str, _map(spec.get("encryptedData")))))
    elif (group, kind) == ("external-secrets.io", "ExternalSecret"):
        store = _map(spec.get("secretStoreRef"))
        named = _text(store.get("name"))
        yield "secret", f"from {_text(store.get('kind')) or 'SecretStore'} {named}" if named else ""


def _workload(doc: Mapping[str, Any], spec: Mapping[str, Any], group_kind: GroupKind) -> str:
    images = ", ".join(_images(doc, group_kind)) or "no image"
    replicas = spec.get("replicas")
    if replicas is None or isinstance(replicas, bool) or not isinstance(replicas, int | str):
        return images
    return f"{images}; {replicas} replica{'' if replicas in (1, '1') else 's'}"


def _storage(spec: Mapping[str, Any]) -> str:
    return _text(_at(spec, "resources", "requests", "storage"))


# --- exposure


def _ingress(spec: Mapping[str, Any]) -> list[str]:
    tls = _maps(spec.get("tls"))
    tls_hosts = {host for entry in tls for host in _texts(entry.get("hosts"))}
    tls_any = any(not entry.get("hosts") for entry in tls)
    found: list[str] = []
    for rule in _maps(spec.get("rules")):
        host = _text(rule.get("host"))
        secure = " (TLS)" if host in tls_hosts or tls_any else ""
        paths = [_text(p.get("path")) or "/" for p in _maps(_at(rule, "http", "paths"))]
        found.extend(f"{host or '*'}{path}{secure}" for path in paths or [""])
    if not found and spec.get("defaultBackend"):
        found.append("* (default backend)")
    return list(dict.fromkeys(found))


def _route(spec: Mapping[str, Any]) -> list[str]:
    return _texts(spec.get("hostnames")) or ["*"]


def _gateway(spec: Mapping[str, Any]) -> list[str]:
    return [
        f"{_text(each.get('hostname')) or '*'}:{_text(each.get('port'))} "
        f"{_text(each.get('protocol'))}".rstrip()
        for each in _maps(spec.get("listeners"))
    ]


def _service(spec: Mapping[str, Any]) -> list[str]:
    kind = spec.get("type")
    if kind not in ("LoadBalancer", "NodePort"):
        return []
    ports = [
        f"{_text(p.get('port'))}{':' + _text(p['nodePort']) if p.get('nodePort') else ''}"
        f"/{_text(p.get('protocol')) or 'TCP'}"
        for p in _maps(spec.get("ports"))
    ]
    return [" ".join([kind, ", ".join(ports)]).strip()]


def _openshift_route(spec: Mapping[str, Any]) -> list[str]:
    secure = " (TLS)" if spec.get("tls") else ""
    return [f"{_text(spec.get('host')) or '*'}{_text(spec.get('path'))}{secure}"]


def _virtual_service(spec: Mapping[str, Any]) -> list[str]:
    return _texts(spec.get("hosts")) or ["*"]


_EXPOSURES: Mapping[GroupKind, Callable[[Mapping[str, Any]], list[str]]] = {
    ("networking.k8s.io", "Ingress"): _ingress,
    ("extensions", "Ingress"): _ingress,
    ("gateway.networking.k8s.io", "Gateway"): _gateway,
    ("", "Service"): _service,
    ("route.openshift.io", "Route"): _openshift_route,
    ("networking.istio.io", "VirtualService"): _virtual_service,
}


# --- data: what the database operators' resources say of their size

_Detail = Callable[[Mapping[str, Any]], str]


def _size_and_count(size: tuple[str, ...], count: tuple[str, ...], unit: str) -> _Detail:
    def detail(spec: Mapping[str, Any]) -> str:
        n = _text(_at(spec, *count)) if count else ""
        return ", ".join(
            part for part in (_text(_at(spec, *size)) if size else "", f"{n} {unit}" if n else "")
        ).strip(", ")

    return detail


def _crunchy(spec: Mapping[str, Any]) -> str:
    sets = _maps(spec.get("instances"))
    sizes = [_storage(_map(each.get("dataVolumeClaimSpec"))) for each in sets]
    count = sum(r if isinstance(r := each.get("replicas", 1), int) else 1 for each in sets)
    return ", ".join([*dict.fromkeys(s for s in sizes if s), f"{count} instances"])


_VOLUME = ("resources", "requests", "storage")
# (group, kind) → the detail of a database: its storage size and how many instances it runs.
_DATABASE_DETAILS: Mapping[GroupKind, _Detail] = {
    ("postgresql.cnpg.io", "Cluster"): _size_and_count(
        ("storage", "size"), ("instances",), "instances"
    ),
    ("acid.zalan.do", "postgresql"): _size_and_count(
        ("volume", "size"), ("numberOfInstances",), "instances"
    ),
    ("postgres-operator.crunchydata.com", "PostgresCluster"): _crunchy,
    ("mongodbcommunity.mongodb.com", "MongoDBCommunity"): _size_and_count(
        (), ("members",), "members"
    ),
    ("mysql.oracle.com", "InnoDBCluster"): _size_and_count(
        ("datadirVolumeClaimTemplate", *_VOLUME), ("instances",), "instances"
    ),
    ("pxc.percona.com", "PerconaXtraDBCluster"): _size_and_count(
        ("pxc", "volumeSpec", "persistentVolumeClaim", *_VOLUME), ("pxc", "size"), "instances"
    ),
    ("redis.redis.opstreelabs.in", "Redis"): _size_and_count(
        ("storage", "volumeClaimTemplate", "spec", *_VOLUME), (), ""
    ),
    ("redis.redis.opstreelabs.in", "RedisCluster"): _size_and_count(
        ("storage", "volumeClaimTemplate", "spec", *_VOLUME), ("clusterSize",), "leaders"
    ),
    ("databases.spotahome.com", "RedisFailover"): _size_and_count(
        ("redis", "storage", "persistentVolumeClaim", "spec", *_VOLUME),
        ("redis", "replicas"),
        "instances",
    ),
}


# --- rbac


def _cluster_role(doc: Mapping[str, Any]) -> str:
    for rule in _maps(doc.get("rules")):
        if "*" in _texts(rule.get("verbs")) and "*" in _texts(rule.get("resources")):
            return "grants every verb (*) on every resource (*)"
    if doc.get("aggregationRule"):
        return "aggregated from other ClusterRoles"
    return ""


def _binding(doc: Mapping[str, Any]) -> str:
    role = _map(doc.get("roleRef"))
    subjects = [
        f"{_text(s.get('kind'))} "
        f"{_text(s['namespace']) + '/' if s.get('namespace') else ''}{_text(s.get('name'))}"
        for s in _maps(doc.get("subjects"))
    ]
    granted = f"{_text(role.get('kind'))} {_text(role.get('name'))}".strip()
    return f"{granted} → {', '.join(subjects) or 'no subject'}"


# --- images the composition asks for


class _Ref(NamedTuple):
    repository: str  # as Docker normalises it: docker.io/library/nginx
    tag: str | None
    digest: str | None

    def shown(self) -> str:
        digest = f"{self.digest[:19]}…" if self.digest and len(self.digest) > 19 else self.digest
        if self.tag and digest:
            return f"{self.tag}@{digest}"
        return self.tag or digest or "latest"


_HUB = "docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


def _repository(name: str) -> str:
    """A repository as Docker names it in full: `nginx` is `docker.io/library/nginx`."""
    first, _, rest = name.partition("/")
    # Docker's rule: a first component with a dot, a port or upper case, or localhost, is a host.
    if rest and (any(c in first for c in ".:") or first == "localhost" or first.lower() != first):
        host, path = first.lower(), rest
    else:
        host, path = _HUB, name
    if host in _HUB_ALIASES:
        host = _HUB
        if "/" not in path:
            path = f"library/{path}"
    return f"{host}/{path}"


def _parse(image: str) -> _Ref:
    name, _, digest = image.strip().partition("@")
    tag = None
    if name.rfind(":") > name.rfind("/"):
        name, _, tag = name.rpartition(":")
    return _Ref(_repository(name), tag or None, digest or None)


def _is_repository(text: str) -> bool:
    """Whether `text` names an image repository, rather than a chart, a git repo or a URL."""
    return (
        bool(text)
        and "://" not in text
        and not any(c in text for c in "@ \t")
        and (text.rfind(":") < text.rfind("/") or ":" not in text)
    )


def image_warnings(inventory: Inventory, expected: Mapping[str, str]) -> tuple[str, ...]:
    """For each image repository the composition asks a version of (`expected`: repository →
    tag, or `tag@sha256:…`) that no workload runs, a sentence saying what runs instead. A
    workload that names only a digest where the composition names only a tag (or the reverse)
    cannot be told apart, so it never draws a warning."""
    running = [(each, _parse(image)) for each in inventory.objects for image in each.images]
    warnings: list[str] = []
    for source, version in expected.items():
        if not _is_repository(source):
            continue
        repository = _repository(source)
        tag, digest = split_digest(version)
        if tag.startswith("sha256:") and digest is None:
            tag, digest = "", tag
        others = [(each, ref) for each, ref in running if ref.repository == repository]
        verdicts = [_runs(ref, tag or None, digest) for _, ref in others]
        if any(verdict is not False for verdict in verdicts):
            continue
        if not others:
            warnings.append(
                f"{source}: the composition asks for {version}, but no workload runs {source}"
            )
            continue
        runs = [f"{each.kind} {each.name} runs {ref.shown()}" for each, ref in others]
        more = f" and {len(runs) - 3} more" if len(runs) > 3 else ""
        warnings.append(
            f"{source}: the composition asks for {version}, but {', '.join(runs[:3])}{more} "
            "— the value never reached the workload"
        )
    return tuple(warnings)


def _runs(ref: _Ref, tag: str | None, digest: str | None) -> bool | None:
    """Whether an image is the version asked for; None when one names only a digest and the
    other only a tag."""
    if digest and ref.digest:
        return ref.digest == digest
    if tag and (ref.tag or not ref.digest):
        return (ref.tag or "latest") == tag
    return None


# --- reading parsed YAML of any shape without an exception


def _at(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _maps(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _text(value: Any) -> str:
    """A scalar as text ("" for None, maps and lists), so odd YAML never raises here."""
    if value is None or isinstance(value, Mapping | list):
        return ""
    return str(value)


def _texts(value: Any) -> list[str]:
    return [t for t in (_text(item) for item in value) if t] if isinstance(value, list) else []
