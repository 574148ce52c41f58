"""What a registry is asked only once: manifests and config blobs by digest, images' labels
while their tag's digest does not move, and one service's tokens across its parts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bot.manifests.charts import HELM_CHART_LAYER, Charts, build_archive
from bot.manifests.model import ChartRef
from bot.service import Service
from bot.settings import Settings
from bot.sources.helm import HelmRepository
from bot.sources.oci import FRESH, ImageRef, OciRegistry
from tests.conftest import MakeRepo
from tests.registry import Registry, needs_registry
from tests.sources.servers import TokenRegistry, token_registry
from tests.sources.test_oci import FAST

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SOURCE = "org.opencontainers.image.source"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def put_image(reg: TokenRegistry, name: str, tag: str, labels: dict[str, str]) -> str:
    """An image whose config carries `labels`, tagged `tag`; its manifest's digest."""
    config = json.dumps({"os": "linux", "config": {"Labels": labels}}).encode()
    reg.blobs[digest_of(config)] = config
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(config),
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()
    reg.manifests[(name, tag)] = manifest
    return digest_of(manifest)


@pytest.fixture
def reg() -> Iterator[TokenRegistry]:
    with token_registry() as reg:
        put_image(reg, "team/api", "1.0.0", {SOURCE: "https://github.com/acme/api"})
        yield reg


def test_labels_asked_again_cost_one_head_and_no_get(reg: TokenRegistry) -> None:
    clock = Clock()
    with OciRegistry(retry=FAST, clock=clock) as registry:
        image = f"{reg.url.removeprefix('http://')}/team/api"
        first = registry.labels(image, "1.0.0")
        assert first == {SOURCE: "https://github.com/acme/api"}
        assert (reg.hits["manifest"], reg.hits["blob"], reg.hits["manifest HEAD"]) == (1, 1, 0)
        clock.now += FRESH + 1
        assert registry.labels(image, "1.0.0") == first
        assert (reg.hits["manifest"], reg.hits["blob"], reg.hits["manifest HEAD"]) == (1, 1, 1)
        assert reg.hits["token"] == 1


def test_labels_of_a_tag_seen_moments_ago_cost_nothing(reg: TokenRegistry) -> None:
    clock = Clock()
    with OciRegistry(retry=FAST, clock=clock) as registry:
        image = f"{reg.url.removeprefix('http://')}/team/api"
        registry.labels(image, "1.0.0")
        before = dict(reg.hits)
        clock.now += FRESH - 1
        assert registry.labels(image, "1.0.0") == {SOURCE: "https://github.com/acme/api"}
        assert dict(reg.hits) == before


def test_a_tag_that_moved_is_read_again(reg: TokenRegistry) -> None:
    clock = Clock()
    with OciRegistry(retry=FAST, clock=clock) as registry:
        image = f"{reg.url.removeprefix('http://')}/team/api"
        registry.labels(image, "1.0.0")
        put_image(reg, "team/api", "1.0.0", {SOURCE: "https://github.com/acme/moved"})
        clock.now += FRESH + 1
        assert registry.labels(image, "1.0.0") == {SOURCE: "https://github.com/acme/moved"}
        assert (reg.hits["manifest HEAD"], reg.hits["manifest"], reg.hits["blob"]) == (1, 2, 2)


def test_a_manifest_by_digest_is_fetched_once_and_callers_cannot_change_it(
    reg: TokenRegistry,
) -> None:
    digest = put_image(reg, "team/api", "2.0.0", {})
    with OciRegistry(retry=FAST) as registry:
        ref = ImageRef(reg.url.removeprefix("http://"), "team/api")
        first = registry.manifest(ref, digest)
        first["layers"].append("scribbled")
        again = registry.manifest(ref, digest)
        assert again["layers"] == []
        assert reg.hits["manifest"] == 1


def test_a_digest_from_a_pin_spares_the_head_of_the_labels(reg: TokenRegistry) -> None:
    with OciRegistry(retry=FAST, clock=Clock()) as registry:
        image = f"{reg.url.removeprefix('http://')}/team/api"
        registry.digest(image, "1.0.0")
        registry.labels(image, "1.0.0")
        assert (reg.hits["manifest HEAD"], reg.hits["manifest"]) == (1, 1)  # the pin's HEAD


@needs_registry
def test_the_real_registry_is_asked_one_head_for_labels_asked_again() -> None:
    seen: list[tuple[str, str]] = []
    client = httpx.Client(
        event_hooks={"request": [lambda request: seen.append((request.method, request.url.path))]}
    )
    clock = Clock()
    with Registry() as real, client, OciRegistry(client=client, clock=clock) as registry:
        real.push("team/web", "3.1.0", labels={SOURCE: "https://github.com/acme/web"})
        image = f"{real.host}/team/web"
        assert registry.labels(image, "3.1.0")[SOURCE] == "https://github.com/acme/web"
        assert [method for method, _ in seen] == ["GET", "GET"]  # the manifest, its config
        seen.clear()
        clock.now += FRESH + 1
        assert registry.labels(image, "3.1.0")[SOURCE] == "https://github.com/acme/web"
        assert seen == [("HEAD", "/v2/team/web/manifests/3.1.0")]


def test_a_service_asks_one_token_for_its_poller_changelogs_and_charts(
    reg: TokenRegistry, make_repo: MakeRepo, tmp_path: Path
) -> None:
    host = reg.url.removeprefix("http://")
    reg.repos["team/api"] = ["1.0.0", "1.1.0"]
    put_image(reg, "team/api", "1.1.0", {SOURCE: "https://github.com/acme/api"})
    chart = build_archive({"Chart.yaml": b"apiVersion: v2\nname: api\nversion: 1.1.0\n"}, "")
    reg.blobs[chart.digest] = chart.data
    reg.manifests[("team/api", "chart-1.1.0")] = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "layers": [{"mediaType": HELM_CHART_LAYER, "digest": chart.digest}],
        }
    ).encode()
    repo = make_repo(
        files={
            ".promobot.yaml": "version: 1\nenvironments: {dev: {}}\napps:\n  api:\n"
            f"    components: {{image: {{source: {{image: {host}/team/api}}, "
            'target: {file: "{env}/api.yaml", field: tag}}}\n',
            "dev/api.yaml": "tag: 1.0.0\n",
        }
    )
    service = Service(Settings(forge="local", repo=str(repo), data_dir=tmp_path / "d", workers=0))
    assert service.poll() == [(f"image:{host}/team/api", "1.1.0", None)]
    assert service.engine.changelogs is not None
    assert service.engine.changelogs.registry is not None
    labels = service.engine.changelogs.registry.labels(f"{host}/team/api", "1.1.0")
    assert labels[SOURCE] == "https://github.com/acme/api"
    assert service.rendering is not None
    charts = service.rendering.renderer.charts
    got = charts.get(ChartRef(f"oci://{host}/team", "api", "chart-1.1.0"))
    assert got.digest == chart.digest
    assert reg.hits["token"] == 1
    assert reg.hits["tags"] == 1


def test_a_chart_version_is_downloaded_once_across_renderings_and_restarts(
    reg: TokenRegistry, tmp_path: Path
) -> None:
    host = reg.url.removeprefix("http://")
    chart = build_archive({"Chart.yaml": b"apiVersion: v2\nname: web\nversion: 1.0.0\n"}, "")
    reg.blobs[chart.digest] = chart.data
    reg.manifests[("charts/web", "1.0.0")] = json.dumps(
        {"layers": [{"mediaType": HELM_CHART_LAYER, "digest": chart.digest}]}
    ).encode()
    ref = ChartRef(f"oci://{host}/charts", "web", "1.0.0")
    with OciRegistry(retry=FAST) as registry:
        charts = Charts(tmp_path, registry, HelmRepository(registry))
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(lambda _: charts.get(ref), range(4)))
        assert {archive.digest for archive in got} == {chart.digest}
        restarted = Charts(tmp_path, registry, HelmRepository(registry))
        assert restarted.get(ref).data == chart.data
    assert (reg.hits["manifest"], reg.hits["blob"]) == (1, 1)
