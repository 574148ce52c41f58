from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import httpx
import pytest

from bot.config import Source
from bot.errors import Unavailable
from bot.forges.retry import Policy
from bot.sources import SourceError, latest
from bot.sources.oci import DOCKER_HUB, ImageRef, OciRegistry, load_docker_config
from tests.registry import Registry, needs_registry
from tests.sources.servers import free_port, token_registry

FAST = Policy(attempts=3, backoff_base=0.01, backoff_max=0.02, rate_limit_max_wait=1)
TAGS = ["1.4.2", "1.5.0", "1.5.0-rc.1", "2.0.0", "latest"]
USER, PASSWORD = "alice", "correct-horse-battery"


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    with Registry() as registry:
        for tag in TAGS:
            registry.push("team/api", tag)
        yield registry


@pytest.fixture(scope="module")
def locked() -> Iterator[Registry]:
    with Registry(auth=(USER, PASSWORD)) as registry:
        registry.push("team/api", "1.0.0")
        yield registry


# --- image references ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "host", "name"),
    [
        ("nginx", DOCKER_HUB, "library/nginx"),
        ("docker.io/library/nginx", DOCKER_HUB, "library/nginx"),
        ("docker.io/nginx", DOCKER_HUB, "library/nginx"),
        ("index.docker.io/bitnami/redis", DOCKER_HUB, "bitnami/redis"),
        ("acme/api", DOCKER_HUB, "acme/api"),
        ("ghcr.io/acme/api", "ghcr.io", "acme/api"),
        ("GHCR.io/acme/api", "ghcr.io", "acme/api"),
        ("127.0.0.1:5000/team/api", "127.0.0.1:5000", "team/api"),
        ("localhost/team/api", "localhost", "team/api"),
        ("oci://ghcr.io/acme/charts/api", "ghcr.io", "acme/charts/api"),
    ],
)
def test_image_references_name_a_registry_host_and_a_repository(
    text: str, host: str, name: str
) -> None:
    assert ImageRef.parse(text) == ImageRef(host, name)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "ghcr.io/acme/api:1.0",
            "names a tag or digest; name only the repository, like 'ghcr.io/acme/api'",
        ),
        ("nginx@sha256:abc", "names a tag or digest"),
        ("ghcr.io/Acme/API", "is not a repository name"),
    ],
)
def test_bad_image_references_say_what_to_write(text: str, message: str) -> None:
    with pytest.raises(SourceError, match=message.replace("(", r"\(")):
        ImageRef.parse(text)


def test_loopback_and_insecure_hosts_use_plain_http() -> None:
    oci = OciRegistry(insecure=["registry.lan:5000"])
    assert oci.base_url("127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert oci.base_url("localhost:5000") == "http://localhost:5000"
    assert oci.base_url("[::1]:5000") == "http://[::1]:5000"
    assert oci.base_url("registry.lan:5000") == "http://registry.lan:5000"
    assert oci.base_url("ghcr.io") == "https://ghcr.io"


def test_docker_config_credentials_are_keyed_by_registry_host(tmp_path: Path) -> None:
    def auth(user: str, password: str) -> str:
        return base64.b64encode(f"{user}:{password}".encode()).decode()

    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {
                "auths": {
                    "https://index.docker.io/v1/": {"auth": auth("hub", "p:w")},
                    "ghcr.io": {"auth": auth("octo", "ghp_x")},
                    "http://127.0.0.1:5000": {"username": "u", "password": "p"},
                    "quay.io": {},  # a credential helper's entry: nothing stored here
                },
                "credsStore": "desktop",
            }
        )
    )
    assert load_docker_config(path) == {
        DOCKER_HUB: ("hub", "p:w"),
        "ghcr.io": ("octo", "ghp_x"),
        "127.0.0.1:5000": ("u", "p"),
    }


def test_a_broken_docker_config_entry_is_named_without_its_content(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {"ghcr.io": {"auth": "c2VjcmV0LXRva2Vu"}}}))  # no ":"
    with pytest.raises(SourceError) as info:
        load_docker_config(path)
    assert str(info.value) == f"{path}: auths['ghcr.io'].auth is not base64 of 'user:password'"
    path.write_text("{")
    with pytest.raises(SourceError, match="is not valid JSON"):
        load_docker_config(path)


# --- a real docker-registry ----------------------------------------------------------------


@needs_registry
def test_versions_are_every_tag_in_the_registry(registry: Registry) -> None:
    with OciRegistry() as oci:
        assert sorted(oci.versions(Source(image=f"{registry.host}/team/api"))) == sorted(TAGS)


@needs_registry
@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ({}, "2.0.0"),
        ({"semver": ">=1.0.0 <2"}, "1.5.0"),
        ({"semver": "~1.4"}, "1.4.2"),
        ({"semver": "<1.5.0", "prerelease": True}, "1.5.0-rc.1"),
        ({"semver": "^3"}, None),
        ({"ignore": ["^2\\."]}, "1.5.0"),
        ({"allow": "^1\\.4"}, "1.4.2"),
        ({"sort": "lexical"}, "latest"),
    ],
)
def test_latest_applies_the_source_rules(
    registry: Registry, rules: dict[str, object], expected: str | None
) -> None:
    with OciRegistry() as oci:
        assert latest(Source(image=f"{registry.host}/team/api", **rules), oci) == expected


@needs_registry
def test_digest_pinning_matches_what_skopeo_reports(registry: Registry) -> None:
    source = Source(image=f"{registry.host}/team/api", semver="^1", digest=True)
    with OciRegistry() as oci:
        pinned = latest(source, oci)
        assert pinned == f"1.5.0@{registry.inspect_digest('team/api', '1.5.0')}"
        assert oci.digest(f"{registry.host}/team/api", "1.4.2") == registry.inspect_digest(
            "team/api", "1.4.2"
        )
        assert oci.digest(f"{registry.host}/team/api", "2.0.0") != oci.digest(
            f"{registry.host}/team/api", "1.4.2"
        )


@needs_registry
def test_a_missing_repository_or_tag_is_a_clear_source_error(registry: Registry) -> None:
    with OciRegistry() as oci:
        with pytest.raises(SourceError) as info:
            oci.tags(f"{registry.host}/team/nope")
        assert str(info.value) == (
            f"no repository {registry.host}/team/nope on {registry.host} "
            "(repository name not known to registry)"
        )
        with pytest.raises(SourceError, match=f"no tag '9.9.9' in {registry.host}/team/api"):
            oci.digest(f"{registry.host}/team/api", "9.9.9")


@needs_registry
def test_the_real_registry_sends_no_validators_on_tag_lists(registry: Registry) -> None:
    # What the README says of Distribution 2.8: no ETag / Last-Modified on a tag list (its
    # manifests have an ETag), so a poll cannot be answered 304. If this fails, say so there.
    response = httpx.get(f"{registry.url}/v2/team/api/tags/list?n=1000")
    assert response.status_code == 200
    assert "etag" not in response.headers and "last-modified" not in response.headers
    with OciRegistry() as oci:
        oci.expect([ImageRef(registry.host, "team/api")])
        assert sorted(oci.tags(f"{registry.host}/team/api")) == sorted(TAGS)
        assert sorted(oci.tags(f"{registry.host}/team/api")) == sorted(TAGS)


@needs_registry
def test_basic_auth_with_the_right_credentials(locked: Registry) -> None:
    with OciRegistry({locked.host: (USER, PASSWORD)}) as oci:
        source = Source(image=f"{locked.host}/team/api", digest=True)
        assert latest(source, oci) == f"1.0.0@{locked.inspect_digest('team/api', '1.0.0')}"


@needs_registry
def test_basic_auth_from_a_docker_config(locked: Registry, tmp_path: Path) -> None:
    encoded = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {locked.host: {"auth": encoded}}}))
    with OciRegistry(load_docker_config(tmp_path / "config.json")) as oci:
        assert oci.tags(f"{locked.host}/team/api") == ["1.0.0"]


@needs_registry
def test_wrong_or_missing_credentials_are_a_clear_error_without_the_secret(
    locked: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with (
        OciRegistry({locked.host: (USER, "wrong-password")}) as oci,
        pytest.raises(SourceError) as info,
    ):
        oci.tags(f"{locked.host}/team/api")
    assert str(info.value) == (
        f"{locked.host} refused the credentials of 'alice' for {locked.host}/team/api "
        "(wrong user or password, no pull access, or no such repository)"
    )
    assert "wrong-password" not in str(info.value) + caplog.text
    with OciRegistry() as oci, pytest.raises(SourceError) as info:
        oci.tags(f"{locked.host}/team/api")
    assert str(info.value) == (
        f"{locked.host} wants credentials for {locked.host}/team/api and none are configured "
        "for that host (or the repository does not exist)"
    )


# --- the token flow, against a stand-in ----------------------------------------------------


def test_a_token_is_fetched_once_and_reused_across_calls_and_pages() -> None:
    with token_registry(repos={"acme/api": ["1.0.0", "1.1.0", "1.2.0", "2.0.0", "latest"]}) as reg:
        host = reg.url.removeprefix("http://")
        with OciRegistry() as oci:
            assert oci.tags(f"{host}/acme/api") == ["1.0.0", "1.1.0", "1.2.0", "2.0.0", "latest"]
            assert oci.tags(f"{host}/acme/api") == ["1.0.0", "1.1.0", "1.2.0", "2.0.0", "latest"]
            assert oci.digest(f"{host}/acme/api", "1.2.0") == reg.digest_of("acme/api", "1.2.0")
    assert reg.hits == {"token": 1, "401": 1, "tags": 6, "manifest HEAD": 1}  # 3 pages, twice
    assert reg.token_auth == [None]  # anonymous: no credentials configured


def test_each_repository_gets_a_token_for_its_own_pull_scope() -> None:
    with token_registry(repos={"acme/api": ["1.0.0"], "acme/web": ["2.0.0"]}) as reg:
        host = reg.url.removeprefix("http://")
        with OciRegistry() as oci:
            assert oci.tags(f"{host}/acme/api") == ["1.0.0"]
            assert oci.tags(f"{host}/acme/web") == ["2.0.0"]
            assert oci.tags(f"{host}/acme/web") == ["2.0.0"]
    assert reg.hits["token"] == 2
    assert reg.hits["401"] == 1  # the second repository's token is asked for up front


def test_an_expired_token_is_renewed() -> None:
    now = [1000.0]
    with token_registry(repos={"acme/api": ["1.0.0"]}, expires_in=300) as reg:
        host = reg.url.removeprefix("http://")
        with OciRegistry(clock=lambda: now[0]) as oci:
            oci.tags(f"{host}/acme/api")
            now[0] += 200
            oci.tags(f"{host}/acme/api")
            assert reg.hits["token"] == 1
            now[0] += 200
            oci.tags(f"{host}/acme/api")
            assert reg.hits["token"] == 2
            reg.issued.clear()  # the registry forgets its tokens: one 401, one new token
            assert oci.tags(f"{host}/acme/api") == ["1.0.0"]
            assert reg.hits["token"] == 3


def test_the_token_service_gets_basic_credentials_when_configured() -> None:
    with token_registry(repos={"acme/api": ["1.0.0"]}, credentials=(USER, PASSWORD)) as reg:
        host = reg.url.removeprefix("http://")
        with OciRegistry({host: (USER, PASSWORD)}) as oci:
            assert oci.tags(f"{host}/acme/api") == ["1.0.0"]
        with OciRegistry({host: (USER, "nope-nope")}) as oci, pytest.raises(SourceError) as info:
            oci.tags(f"{host}/acme/api")
        assert str(info.value) == (
            f"the token service of {host} ({host}) refused the credentials of 'alice' "
            f"to {host}/acme/api"
        )
        with OciRegistry() as oci, pytest.raises(SourceError, match="refused anonymous access"):
            oci.tags(f"{host}/acme/api")
    assert reg.token_auth[0] == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def refs(host: str, *names: str) -> list[ImageRef]:
    return [ImageRef(host, name) for name in names]


NAMES = [f"acme/app{i}" for i in range(5)]


def test_expected_repositories_share_one_token() -> None:
    with token_registry(repos={n: ["1.0.0"] for n in NAMES}) as reg:
        host = reg.url.removeprefix("http://")
        with OciRegistry() as oci:
            oci.expect(refs(host, *NAMES))
            for name in NAMES:
                assert oci.tags(f"{host}/{name}") == ["1.0.0"]
    assert reg.hits == {"401": 1, "token": 1, "tags": 5}
    assert reg.token_scopes == [[f"repository:{n}:pull" for n in NAMES]]


def test_a_token_service_that_grants_one_scope_per_token_still_serves_every_repository() -> None:
    # Its JWT says what it granted: the others are asked alone, without a 401 each.
    with token_registry(repos={n: ["1.0.0"] for n in NAMES}, max_scopes=1) as reg:
        host = reg.url.removeprefix("http://")
        with OciRegistry() as oci:
            oci.expect(refs(host, *NAMES))
            for name in NAMES:
                assert oci.tags(f"{host}/{name}") == ["1.0.0"]
            assert reg.hits == {"401": 1, "token": 5, "tags": 5}
            for name in NAMES:  # next poll: the tokens are alive, nothing more is asked
                oci.tags(f"{host}/{name}")
    assert reg.hits == {"401": 1, "token": 5, "tags": 10}
    assert [len(scopes) for scopes in reg.token_scopes] == [5, 1, 1, 1, 1]


def test_an_opaque_token_refused_for_one_repository_falls_back_to_one_scope_per_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with token_registry(repos={n: ["1.0.0"] for n in NAMES}, max_scopes=1, opaque=True) as reg:
        host = reg.url.removeprefix("http://")
        with OciRegistry() as oci:
            oci.expect(refs(host, *NAMES))
            for name in NAMES:
                assert oci.tags(f"{host}/{name}") == ["1.0.0"]
    # one 401 shows the batch token was not good for app1; from then on, one scope per token
    assert reg.hits == {"401": 2, "token": 5, "tags": 5}
    assert [len(scopes) for scopes in reg.token_scopes] == [5, 1, 1, 1, 1]
    assert "registry refused a multi-scope token; asking one scope per token" in caplog.messages
    assert not any(token in caplog.text for token in reg.issued)  # tokens are never logged


def test_a_private_repository_in_a_batch_fails_alone() -> None:
    with token_registry(repos={n: ["1.0.0"] for n in NAMES}, private={"acme/app2"}) as reg:
        host = reg.url.removeprefix("http://")
        with OciRegistry() as oci:
            oci.expect(refs(host, *NAMES))
            for name in NAMES:
                if name == "acme/app2":
                    with pytest.raises(SourceError, match="wants credentials"):
                        oci.tags(f"{host}/{name}")
                else:
                    assert oci.tags(f"{host}/{name}") == ["1.0.0"]
    assert reg.token_scopes[0] == [f"repository:{n}:pull" for n in NAMES]
    assert all(scopes == ["repository:acme/app2:pull"] for scopes in reg.token_scopes[1:])


@pytest.mark.parametrize("validator", ["etag", "last-modified"])
def test_an_unchanged_tag_list_is_answered_304_and_a_changed_one_is_read(
    validator: Literal["etag", "last-modified"],
) -> None:
    tags = ["1.0.0", "1.1.0", "1.2.0", "2.0.0", "latest"]
    with token_registry(repos={"acme/api": list(tags)}, validator=validator) as reg:
        host = reg.url.removeprefix("http://")
        with OciRegistry() as oci:
            assert oci.tags(f"{host}/acme/api") == tags  # three pages of two
            assert oci.tags(f"{host}/acme/api") == tags
            assert (reg.hits["tags"], reg.hits["tags unchanged"]) == (3, 3)
            reg.repos["acme/api"].append("2.1.0")  # the last page changes
            assert oci.tags(f"{host}/acme/api") == [*tags[:4], "2.1.0", "latest"]
            assert (reg.hits["tags"], reg.hits["tags unchanged"]) == (4, 5)


def test_only_tag_lists_of_expected_repositories_are_kept() -> None:
    repos = {"acme/api": ["1.0.0"], "acme/web": ["2.0.0"]}
    with token_registry(repos=repos, validator="etag") as reg:
        host = reg.url.removeprefix("http://")
        with OciRegistry() as oci:
            oci.expect(refs(host, "acme/api", "acme/web"))
            oci.tags(f"{host}/acme/api")
            oci.tags(f"{host}/acme/web")
            oci.expect(refs(host, "acme/web"))  # the configuration no longer names acme/api
            oci.tags(f"{host}/acme/api")
            oci.tags(f"{host}/acme/web")
    assert (reg.hits["tags"], reg.hits["tags unchanged"]) == (3, 1)


# --- failures ------------------------------------------------------------------------------


def test_5xx_and_429_are_retried() -> None:
    with token_registry(repos={"acme/api": ["1.0.0"]}, faults=[503, 429]) as reg:
        host = reg.url.removeprefix("http://")
        with OciRegistry(retry=FAST) as oci:
            assert oci.tags(f"{host}/acme/api") == ["1.0.0"]


def test_a_registry_that_keeps_failing_is_unavailable() -> None:
    with token_registry(repos={"acme/api": ["1.0.0"]}, faults=[502] * 5) as reg:
        host = reg.url.removeprefix("http://")
        with OciRegistry(retry=FAST) as oci, pytest.raises(Unavailable) as info:
            oci.tags(f"{host}/acme/api")
    assert str(info.value) == f"registry {host} answered 502 (injected)"
    assert reg.faults == [502, 502]  # three attempts


def test_connection_refused_is_unavailable_and_names_the_host() -> None:
    host = f"127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    with OciRegistry(retry=FAST) as oci, pytest.raises(Unavailable) as info:
        oci.versions(Source(image=f"{host}/team/api"))
    assert str(info.value).startswith(f"registry {host} is unreachable: ")
    assert "Connection refused" in str(info.value)
    assert time.monotonic() - started < 5
