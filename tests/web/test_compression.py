"""Responses of 1 KB and more go out gzip-compressed to clients that accept it (the overview of
500 apps is about 1 MB of HTML); the webhook endpoints answer as before."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bot.service import Service
from bot.web.app import create_app
from tests.conftest import MakeRepo, taken
from tests.web.sites import helm_service

SECRET = "s3cret-webhook-value"
TOKEN = "registry-bearer-value"


@pytest.fixture
def service(make_repo: MakeRepo, tmp_path: Path) -> Service:
    return helm_service(
        make_repo("helm-values"),
        tmp_path / "data",
        webhook_secret=SECRET,
        registry_token=TOKEN,
    )


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(service)) as client:
        yield client


def raw(client: TestClient, url: str, encoding: str) -> tuple[dict[str, str], bytes]:
    """The headers and the body as sent, not decoded."""
    with client.stream("GET", url, headers={"Accept-Encoding": encoding}) as response:
        assert response.status_code == 200
        return dict(response.headers), b"".join(response.iter_raw())


def test_the_overview_is_sent_compressed_to_who_accepts_gzip(client: TestClient) -> None:
    headers, body = raw(client, "/", "gzip")
    plain_headers, plain = raw(client, "/", "identity")
    assert headers["content-encoding"] == "gzip"
    assert "accept-encoding" in headers["vary"].lower()
    assert int(headers["content-length"]) == len(body)
    assert gzip.decompress(body) == plain
    assert len(body) * 4 < len(plain), (len(body), len(plain))
    assert "content-encoding" not in plain_headers  # nothing compressed for who did not ask


def test_small_responses_are_not_compressed(client: TestClient) -> None:
    headers, body = raw(client, "/healthz", "gzip")
    assert "content-encoding" not in headers and body == b"ok\n"


def test_the_webhook_endpoints_still_work(client: TestClient, service: Service) -> None:
    ping = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), ping, hashlib.sha256).hexdigest()
    github = client.post(
        "/webhooks/github",
        content=ping,
        headers={
            "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": "d-1",
            "X-Hub-Signature-256": signature,
            "Content-Type": "application/json",
            "Accept-Encoding": "gzip",
        },
    )
    assert (github.status_code, github.json()["status"]) == (202, "accepted")
    assert taken(service) == [("ignored", "ping")]
    unsigned = client.post("/webhooks/github", content=ping, headers={"Accept-Encoding": "gzip"})
    assert unsigned.status_code == 401

    version = json.dumps({"image": "ghcr.io/acme/api", "version": "1.5.0"}).encode()
    waiting = service.queue.depth()  # the timers of the PRs the service opened
    artifact = client.post(
        "/webhooks/artifact",
        content=version,
        headers={"Authorization": f"Bearer {TOKEN}", "Accept-Encoding": "gzip"},
    )
    assert (artifact.status_code, artifact.json()["status"]) == (202, "accepted")
    assert taken(service) == [("queued", "artifact")]
    assert service.queue.depth() == waiting + 1
