"""Small charts written by the tests, and the real ones in tests/fixtures/charts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import httpx

from bot.manifests.charts import HELM_CHART_LAYER
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
