from __future__ import annotations

import inspect
import logging
from pathlib import Path

import pytest

import bot.sources
from bot import config
from bot.config import Source
from bot.errors import PromobotError, Unavailable
from bot.forges.local import LocalForge
from bot.forges.retry import Policy
from bot.sources import POLLERS, SourceError, Sources
from bot.sources.base import Poller
from bot.sources.git import GitTags
from bot.sources.helm import HelmRepository
from bot.sources.oci import OciRegistry
from tests.conftest import MakeRepo, git
from tests.sources.servers import free_port, helm_server, token_registry

FAST = Policy(attempts=2, backoff_base=0.01, backoff_max=0.02)
NOT_POLLERS = {"__init__", "base", "spread"}  # spread: which sources a poll asks
INDEX = """\
entries:
  api: [{version: 2.3.0}, {version: 2.4.0}]
  web: [{version: 0.9.0}]
"""


def test_every_source_module_is_registered_and_implements_the_protocol() -> None:
    modules = {p.stem for p in Path(bot.sources.__file__).parent.glob("*.py")} - NOT_POLLERS
    assert {v.split(":")[0].rsplit(".", 1)[1] for v in POLLERS.values()} == modules
    protocol = {
        n: inspect.signature(f)
        for n, f in inspect.getmembers(Poller, inspect.isfunction)
        if not n.startswith("_")
    }
    assert set(protocol) == {"versions", "pin"}
    for path in POLLERS.values():
        module, _, name = path.partition(":")
        cls = getattr(__import__(module, fromlist=[name]), name)
        for method, signature in protocol.items():
            assert list(inspect.signature(getattr(cls, method)).parameters) == list(
                signature.parameters
            ), (name, method)


def test_each_kind_of_source_goes_to_its_poller(make_repo: MakeRepo) -> None:
    forge = LocalForge(make_repo(files={"README.md": "config\n"}))
    with Sources(forge=forge) as sources:
        assert isinstance(sources.poller(Source(image="ghcr.io/acme/api")), OciRegistry)
        assert isinstance(
            sources.poller(Source(chart="api", repo="https://c.test")), HelmRepository
        )
        assert isinstance(
            sources.poller(Source(chart="api", repo="oci://c.test/x")), HelmRepository
        )
        git_poller = sources.poller(Source(git="acme/cfg"))
        assert isinstance(git_poller, GitTags) and git_poller.forge is forge
    with Sources() as sources, pytest.raises(SourceError, match="no forge is configured"):
        sources.poller(Source(git="acme/cfg"))


def environment_config(registry: str, helm: str, dead: str) -> config.Config:
    apps = {
        "api": [
            f'image: {registry}/acme/api, semver: "^1"',
            f"chart: api, repo: {helm}/charts",
            'git: acme/api-config, tags: "v*"',
        ],
        "web": [
            f'image: {registry}/acme/api, semver: "^2"',  # the same image, other rules
            f'image: {registry}/acme/api, semver: "^1"',  # the very same source as api's
            f"chart: web, repo: {helm}/charts",  # the same index as api's chart
            f'image: {registry}/acme/api, semver: "^2", digest: true',
            f"image: {dead}/acme/api",
        ],
    }
    text = "version: 1\nenvironments:\n  dev: {}\napps:\n"
    for app, sources in apps.items():
        text += f"  {app}:\n    components:\n"
        for i, source in enumerate(sources):
            text += f"      c{i}:\n        source: {{{source}}}\n"
            text += f'        target: {{file: "envs/{{env}}/{app}.yaml", field: "c{i}"}}\n'
    return config.load(text)


def test_poll_asks_each_source_once_and_selects_per_rules(
    make_repo: MakeRepo, caplog: pytest.LogCaptureFixture
) -> None:
    repo = make_repo(files={"README.md": "config\n"})
    for tag in ("v1.0.0", "v1.2.0", "other-9"):
        git(repo, "tag", tag)
    dead = f"127.0.0.1:{free_port()}"
    tags = ["1.0.0", "1.3.0", "2.0.0", "2.1.0", "latest"]
    with (
        token_registry(repos={"acme/api": tags}, page_size=10) as reg,
        helm_server(INDEX) as helm,
        Sources(OciRegistry(retry=FAST), forge=LocalForge(repo)) as sources,
    ):
        host = reg.url.removeprefix("http://")
        cfg = environment_config(host, helm.url, dead)
        errors: dict[str, PromobotError] = {}
        found = sources.poll_sources(cfg, errors)
        pinned = f"2.1.0@{reg.digest_of('acme/api', '2.1.0')}"
        assert {
            s.key + " " + (s.semver or "") + ("@" if s.digest else ""): v for s, v in found.items()
        } == {
            f"image:{host}/acme/api ^1": "1.3.0",
            f"image:{host}/acme/api ^2": "2.1.0",
            f"image:{host}/acme/api ^2@": pinned,
            f"chart:{helm.url}/charts/api ": "2.4.0",
            f"chart:{helm.url}/charts/web ": "0.9.0",
            "git:acme/api-config ": "v1.2.0",
        }
        assert reg.hits == {"401": 1, "token": 1, "tags": 1, "manifest HEAD": 1}
        assert helm.full == 1  # the second chart's request was answered 304
        assert list(errors) == [f"image:{dead}/acme/api"]
        assert isinstance(errors[f"image:{dead}/acme/api"], Unavailable)
        assert "source poll failed" in caplog.messages

        by_key = sources.poll(cfg)
        # One value per key: the newest of the selections (^1, ^2, ^2 pinned), first among equals.
        assert by_key[f"image:{host}/acme/api"] == "2.1.0"
        assert by_key["git:acme/api-config"] == "v1.2.0"
        assert f"image:{dead}/acme/api" not in by_key


def test_a_failure_logs_a_fixed_message_with_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    dead = f"127.0.0.1:{free_port()}"
    cfg = config.load(
        "version: 1\nenvironments: {dev: {}}\napps:\n  api:\n    components:\n      image:\n"
        f"        source: {{image: {dead}/a}}\n        target: {{file: v.yaml, field: tag}}\n"
    )
    with Sources(OciRegistry(retry=FAST)) as sources:
        assert sources.poll(cfg) == {}
    (record,) = caplog.records
    assert record.getMessage() == "source poll failed"
    assert record.__dict__["source"] == f"image:{dead}/a"
    assert "unreachable" in record.__dict__["error"]


def images_config(host: str, count: int) -> config.Config:
    text = "version: 1\nenvironments: {dev: {}}\napps:\n"
    for i in range(count):
        text += (
            f"  app{i}:\n    components:\n      image:\n"
            f"        source: {{image: {host}/acme/app{i}}}\n"
            f'        target: {{file: "envs/{{env}}/app{i}.yaml", field: tag}}\n'
        )
    return config.load(text)


@pytest.mark.parametrize("count", [1, 50, 51, 120])
def test_a_tick_over_n_images_asks_one_token_per_50_repositories(count: int) -> None:
    now = [1000.0]
    repos = {f"acme/app{i}": ["1.0.0", f"1.{i}.0"] for i in range(count)}
    with (
        token_registry(repos=repos, page_size=10, expires_in=300) as reg,
        Sources(OciRegistry(retry=FAST, clock=lambda: now[0])) as sources,
    ):
        host = reg.url.removeprefix("http://")
        cfg = images_config(host, count)
        wanted = {f"image:{host}/acme/app{i}": f"1.{i}.0" for i in range(count)}
        assert sources.poll(cfg) == wanted
        batches = -(-count // 50)
        assert reg.hits == {"401": 1, "token": batches, "tags": count}
        assert all(len(scopes) <= 50 for scopes in reg.token_scopes)
        now[0] += 300  # the next tick, when Docker Hub's tokens have expired
        assert sources.poll(cfg) == wanted
        assert reg.hits == {"401": 1, "token": 2 * batches, "tags": 2 * count}


def test_a_tick_sees_a_new_tag_at_once_when_tag_lists_are_answered_304() -> None:
    repos = {f"acme/app{i}": ["1.0.0", "1.1.0", "1.2.0"] for i in range(3)}
    with (
        token_registry(repos=repos, page_size=2, validator="etag") as reg,
        Sources(OciRegistry(retry=FAST)) as sources,
    ):
        host = reg.url.removeprefix("http://")
        cfg = images_config(host, 3)
        assert set(sources.poll(cfg).values()) == {"1.2.0"}
        assert reg.hits["tags"] == 6  # two pages each
        assert set(sources.poll(cfg).values()) == {"1.2.0"}
        assert (reg.hits["tags"], reg.hits["tags unchanged"]) == (6, 6)
        repos["acme/app1"].append("1.3.0")
        assert sources.poll(cfg)[f"image:{host}/acme/app1"] == "1.3.0"
        assert (reg.hits["tags"], reg.hits["tags unchanged"]) == (7, 11)  # its second page
