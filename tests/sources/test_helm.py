from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.config import Source
from bot.errors import Unavailable
from bot.forges.retry import Policy
from bot.sources import SourceError, latest
from bot.sources.helm import HelmRepository
from bot.sources.oci import OciRegistry
from tests.registry import Registry, needs_registry
from tests.sources.servers import free_port, helm_server

FAST = Policy(attempts=2, backoff_base=0.01, backoff_max=0.02)
INDEX = """\
apiVersion: v1
entries:
  api:
  - name: api
    version: 2.3.0
    digest: 0123
    urls: [api-2.3.0.tgz]
  - name: api
    version: 2.4.0-rc.1
  - name: api
    version: 1.10
  - name: api
    version: 2.4.0
  web:
  - {name: web, version: 0.1.0}
generated: "2026-11-20T10:00:00Z"
"""


@pytest.fixture
def helm() -> Iterator[HelmRepository]:
    with HelmRepository(retry=FAST) as helm:
        yield helm


@pytest.mark.parametrize("etag", [True, False], ids=["etag", "last-modified"])
def test_an_unchanged_index_is_not_downloaded_again(
    helm: HelmRepository, etag: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.sources.helm.FRESH", 0.0)  # every look asks (a later poll)
    with helm_server(INDEX, etag=etag) as server:
        repo = f"{server.url}/charts"
        assert helm.versions(Source(chart="api", repo=repo)) == [
            "2.3.0",
            "2.4.0-rc.1",
            "1.10",  # text, not the float 1.1
            "2.4.0",
        ]
        assert latest(Source(chart="api", repo=f"{repo}/", semver="^2"), helm) == "2.4.0"
        assert latest(Source(chart="web", repo=repo), helm) == "0.1.0"
    assert server.full == 1  # the other two requests were answered 304
    assert len(server.requests) == 3
    wanted = "if-none-match" if etag else "if-modified-since"
    assert [wanted in r for r in server.requests] == [False, True, True]


def test_a_changed_index_is_read_again(
    helm: HelmRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.sources.helm.FRESH", 0.0)
    with helm_server(INDEX) as server:
        source = Source(chart="api", repo=f"{server.url}/charts")
        assert latest(source, helm) == "2.4.0"
        server.index = INDEX.replace("version: 2.4.0\n", "version: 2.5.0\n")
        assert latest(source, helm) == "2.5.0"
        assert latest(source, helm) == "2.5.0"
    assert server.full == 2


def test_one_poll_asks_a_repository_once_for_all_its_charts(helm: HelmRepository) -> None:
    """Hundreds of apps with charts from one repository: one request per poll, not one each."""
    with helm_server(INDEX) as server:
        repo = f"{server.url}/charts"
        for _ in range(50):
            assert latest(Source(chart="api", repo=repo, semver="^2"), helm) == "2.4.0"
            assert latest(Source(chart="web", repo=repo), helm) == "0.1.0"
    assert len(server.requests) == 1


def test_a_chart_missing_from_the_index_names_the_chart_and_the_repo(helm: HelmRepository) -> None:
    with helm_server(INDEX) as server, pytest.raises(SourceError) as info:
        helm.versions(Source(chart="apii", repo=f"{server.url}/charts"))
    assert str(info.value) == (
        f"chart 'apii' is not in the Helm repository {server.url}/charts; did you mean 'api'?"
    )


@pytest.mark.parametrize(
    ("index", "message"),
    [
        ("entries:\n  api: [\n", r"index.yaml is not valid YAML at line 3, column 1: "),
        ("apiVersion: v1\n", r"index.yaml is not a Helm repository index \(it has no 'entries'"),
        ("- just\n- a list\n", r"is not a Helm repository index"),
    ],
)
def test_a_malformed_index_is_a_source_error(
    helm: HelmRepository, index: str, message: str
) -> None:
    with helm_server(index) as server, pytest.raises(SourceError, match=message):
        helm.versions(Source(chart="api", repo=f"{server.url}/charts"))


def test_a_repository_without_an_index_is_a_source_error(helm: HelmRepository) -> None:
    with helm_server(INDEX) as server, pytest.raises(SourceError) as info:
        helm.versions(Source(chart="api", repo=f"{server.url}/elsewhere"))
    assert str(info.value) == (
        f"no Helm repository at {server.url}/elsewhere: "
        f"{server.url}/elsewhere/index.yaml was not found"
    )


def test_an_unreachable_repository_is_unavailable(helm: HelmRepository) -> None:
    port = free_port()
    with pytest.raises(Unavailable, match=f"Helm repository 127.0.0.1:{port} is unreachable"):
        helm.versions(Source(chart="api", repo=f"http://127.0.0.1:{port}/charts"))


def test_digest_pinning_needs_an_oci_repository(helm: HelmRepository) -> None:
    with helm_server(INDEX) as server, pytest.raises(SourceError) as info:
        latest(Source(chart="api", repo=f"{server.url}/charts", digest=True), helm)
    assert str(info.value) == (
        f"digest: true needs an oci:// chart repository; {server.url}/charts serves 'api' over HTTP"
    )


@needs_registry
def test_oci_chart_repositories_list_the_charts_tags() -> None:
    with Registry() as registry, OciRegistry() as oci:
        for tag in ("2.3.0", "2.4.0", "2.5.0_build.7", "3.0.0"):
            registry.push("charts/api", tag)
        helm = HelmRepository(oci)
        source = Source(chart="api", repo=f"oci://{registry.host}/charts", semver="^2")
        assert sorted(helm.versions(source)) == ["2.3.0", "2.4.0", "2.5.0+build.7", "3.0.0"]
        assert latest(source, helm) == "2.5.0+build.7"
        pinned = latest(source.model_copy(update={"digest": True}), helm)
        assert pinned == f"2.5.0+build.7@{registry.inspect_digest('charts/api', '2.5.0_build.7')}"
        with pytest.raises(SourceError, match=f"no repository {registry.host}/charts/nope"):
            helm.versions(Source(chart="nope", repo=f"oci://{registry.host}/charts"))
