"""Small charts written by the tests, and the real ones in tests/fixtures/charts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import httpx

from bot.manifests.charts import HELM_CHART_LAYER, build_archive
from tests.registry import HELM_CONFIG, OCI_MANIFEST, Registry

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "charts"
PODINFO = FIXTURES / "podinfo"
ETCD = FIXTURES / "etcd"


def write_chart(
    where: Path,
    templates: Mapping[str, str],
    values: str = "",
    crds: Mapping[str, str] = {},
    name: str = "probe",
) -> Path:
    """A chart folder `where/name` holding the given templates (and CRDs)."""
    chart = where / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text(values)
    for path, text in templates.items():
        (chart / "templates" / path).write_text(text)
    for path, text in crds.items():
        (chart / "crds").mkdir(exist_ok=True)
        (chart / "crds" / path).write_text(text)
    return chart


def folder_files(chart: Path, under: str) -> dict[str, bytes]:
    """A chart folder as the env repo's files (path → bytes), under `under`."""
    return {
        f"{under}/{p.relative_to(chart).as_posix()}": p.read_bytes()
        for p in sorted(chart.rglob("*"))
        if p.is_file()
    }


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def push_chart(registry: Registry, name: str, tag: str, archive: bytes) -> None:
    """`helm push` by hand: Chart.yaml as the JSON config, the archive as the chart layer."""

    def blob(data: bytes) -> dict[str, object]:
        started = httpx.post(f"{registry.url}/v2/{name}/blobs/uploads/")
        location = httpx.URL(registry.url).join(started.headers["Location"])
        httpx.put(location.copy_merge_params({"digest": sha256(data)}), content=data)
        return {"digest": sha256(data), "size": len(data)}

    config = json.dumps({"name": name.rsplit("/", 1)[-1], "version": tag}).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": HELM_CONFIG, **blob(config)},
        "layers": [{"mediaType": HELM_CHART_LAYER, **blob(archive)}],
    }
    answer = httpx.put(
        f"{registry.url}/v2/{name}/manifests/{tag}",
        content=json.dumps(manifest),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert answer.status_code == 201, answer.text


API_TEMPLATES = {
    "deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    helm.sh/chart: api-{{ .Chart.Version }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
        - name: api
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
""",
    "service.yaml": """\
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector: {app: {{ .Release.Name }}}
  ports: [{port: 80, targetPort: 8080}]
""",
}
API_INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ .Release.Name }}
spec:
  rules:
    - host: {{ .Values.ingress.host }}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend: {service: {name: {{ .Release.Name }}, port: {number: 80}}}
"""
API_VALUES = """\
replicaCount: 1
image: {repository: ghcr.io/acme/api, tag: latest}
ingress: {host: api.example.com}
"""


def api_chart(version: str, ingress: bool = False) -> bytes:
    """The `api` chart of the helm-values example at `version` (.tgz): a Deployment and a
    Service, and from the versions made with `ingress` on, an Ingress on api.example.com."""
    templates = {**API_TEMPLATES, **({"ingress.yaml": API_INGRESS} if ingress else {})}
    files = {
        "api/Chart.yaml": f"apiVersion: v2\nname: api\nversion: {version}\n".encode(),
        "api/values.yaml": API_VALUES.encode(),
        **{f"api/templates/{name}": text.encode() for name, text in templates.items()},
    }
    return build_archive(files, "api").data
