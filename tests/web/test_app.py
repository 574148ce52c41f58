"""The webhook endpoints, through starlette's ASGI client, with a real queue on SQLite."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bot import logs
from bot.forges.local import LocalForge
from bot.service import Service
from bot.settings import Settings
from bot.web.app import create_app
from tests.conftest import SIGNING_KEY, MakeRepo, taken

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SECRET = "s3cret-webhook-value"
REGISTRY_TOKEN = "registry-bearer-value"
CONFIG = """\
version: 1
environments:
  dev: {}
  prod: {from: dev}
apps:
  api:
    components:
      image:
        source: {image: "127.0.0.1:5055/team/api"}
        target: {file: "envs/{env}/values.yaml", field: image.tag}
"""


@pytest.fixture
def client(make_repo: MakeRepo, tmp_path: Path) -> Iterator[tuple[TestClient, Service]]:
    repo = make_repo(files={
        ".promobot.yaml": CONFIG,
        "envs/dev/values.yaml": "image:\n  tag: 1.0.0\n",
        "envs/prod/values.yaml": "image:\n  tag: 1.0.0\n",
    })  # fmt: skip
    settings = Settings(
        forge="github", repo="Codertocat/Hello-World", github_token="t",  # type: ignore[arg-type]
        signing_key=SIGNING_KEY,  # type: ignore[arg-type]
        webhook_secret=SECRET, registry_token=REGISTRY_TOKEN,  # type: ignore[arg-type]
        data_dir=tmp_path / "data", workers=0, max_body=64 * 1024,
    )  # fmt: skip
    service = Service(settings, forge=LocalForge(repo))  # the forge is injected; no HTTP here
    with TestClient(create_app(service)) as client:
        yield client, service


def fixture(path: str) -> bytes:
    return (FIXTURES / path).read_bytes()


def github(
    client: TestClient, event: str, body: bytes, delivery: str = "d-1", secret: str = SECRET
):  # type: ignore[no-untyped-def]
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post("/webhooks/github", content=body, headers={
        "X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": signature,
        "Content-Type": "application/json",
    })  # fmt: skip


def test_unsigned_and_wrongly_signed_github_deliveries_get_401(
    client: tuple[TestClient, Service],
) -> None:
    c, service = client
    body = fixture("github/ping.json")
    assert c.post("/webhooks/github", content=body).status_code == 401
    response = github(c, "ping", body, secret="wrong")
    assert response.status_code == 401
    assert response.json()["status"] == "unauthorized"
    assert service.queue.depth() == 0


def test_signed_ping_is_understood_and_needs_nothing(client: tuple[TestClient, Service]) -> None:
    c, service = client
    response = github(c, "ping", fixture("github/ping.json"))
    assert (response.status_code, response.json()["status"]) == (202, "accepted")
    assert taken(service) == [("ignored", "ping")]
    assert service.queue.depth() == 0


def test_a_malformed_body_is_dropped_by_the_worker_with_a_one_line_reason(
    client: tuple[TestClient, Service],
) -> None:
    """The answer only says the signed delivery was kept; the worker says why it dropped it."""
    c, service = client
    assert github(c, "pull_request", b"{not json").status_code == 202
    assert github(c, "pull_request", b'{"action": "opened"}').status_code == 202
    (bad_json, _), (missing, why) = taken(service)
    assert bad_json == "malformed" and missing == "malformed"
    assert why.startswith("missing field") and "\n" not in why
    assert service.queue.depth() == 0


def test_oversized_bodies_get_413(client: tuple[TestClient, Service]) -> None:
    c, _ = client
    big = b'{"zen": "' + b"x" * (70 * 1024) + b'"}'
    assert github(c, "ping", big).status_code == 413
    response = c.post("/webhooks/gitlab", content=big, headers={"X-Gitlab-Token": SECRET})
    assert response.status_code == 413


def test_a_pull_request_on_the_repo_is_queued_once(client: tuple[TestClient, Service]) -> None:
    c, service = client
    body = fixture("github/pull_request.opened.json")
    assert github(c, "pull_request", body, delivery="same").status_code == 202
    assert github(c, "pull_request", body, delivery="same").status_code == 202
    assert [outcome for outcome, _ in taken(service)] == ["queued", "duplicate"]
    assert service.queue.depth() == 1  # one event job


def test_an_echo_of_promobots_own_action_starts_no_work(
    client: tuple[TestClient, Service],
) -> None:
    """Opening, labelling, editing and merging its PRs each come back as a webhook; promobot did
    what follows when it acted, so those deliveries queue nothing."""
    c, service = client
    data = json.loads(fixture("github/pull_request.opened.json"))
    data["sender"]["id"] = service.engine.me.id
    assert github(c, "pull_request", json.dumps(data).encode()).status_code == 202
    assert taken(service) == [("ignored", "promobot's own action")]
    assert service.queue.depth() == 0
    data["sender"]["id"] += 1  # the same, done by a person
    assert github(c, "pull_request", json.dumps(data).encode()).status_code == 202
    assert taken(service) == [("queued", "pull_request")]


def test_gitlab_token_is_checked_before_anything_else(client: tuple[TestClient, Service]) -> None:
    c, service = client
    body = fixture("gitlab/merge_request.json")
    headers = {"X-Gitlab-Event": "Merge Request Hook", "Idempotency-Key": "k1"}
    assert c.post("/webhooks/gitlab", content=body, headers=headers).status_code == 401
    wrong = c.post("/webhooks/gitlab", content=body, headers={**headers, "X-Gitlab-Token": "nope"})
    assert wrong.status_code == 401
    right = c.post("/webhooks/gitlab", content=body, headers={**headers, "X-Gitlab-Token": SECRET})
    assert right.status_code == 202
    ((outcome, why),) = taken(service)  # understood: another project, so nothing to do
    assert outcome == "ignored" and "is not the environment repo" in why
    assert service.queue.depth() == 0


def test_registry_manifest_push_with_a_tag_is_queued_and_blob_pushes_are_not(
    client: tuple[TestClient, Service],
) -> None:
    c, service = client
    auth = {"Authorization": f"Bearer {REGISTRY_TOKEN}",
            "Content-Type": "application/vnd.docker.distribution.events.v1+json"}  # fmt: skip
    blob = c.post(
        "/webhooks/registry", content=fixture("registry/distribution.push.blob.json"), headers=auth
    )
    assert blob.status_code == 202
    assert taken(service) == []  # a blob push holds no event at all
    manifest = fixture("registry/distribution.push.manifest.json")
    assert c.post("/webhooks/registry", content=manifest).status_code == 401
    for _ in range(2):
        assert c.post("/webhooks/registry", content=manifest, headers=auth).status_code == 202
    assert [outcome for outcome, _ in taken(service)] == ["queued", "duplicate"]
    assert service.queue.depth() == 1


def test_artifact_endpoint_for_ci(client: tuple[TestClient, Service]) -> None:
    c, service = client
    auth = {"Authorization": f"Bearer {REGISTRY_TOKEN}"}
    ours = json.dumps({"image": "127.0.0.1:5055/team/api", "version": "1.1.0"}).encode()
    assert c.post("/webhooks/artifact", content=ours, headers=auth).status_code == 202
    other = json.dumps({"image": "ghcr.io/someone/else", "version": "9.9.9"}).encode()
    assert c.post("/webhooks/artifact", content=other, headers=auth).status_code == 202
    missing = c.post("/webhooks/artifact", content=b'{"image": "x"}', headers=auth)
    assert missing.status_code == 202
    (queued, _), (ignored, why), (malformed, what) = taken(service)
    assert (queued, ignored, malformed) == ("queued", "ignored", "malformed")
    assert "no app takes versions from" in why and "version" in what
    assert service.queue.depth() == 1


def test_health_readiness_and_metrics(client: tuple[TestClient, Service]) -> None:
    c, _ = client
    assert c.get("/healthz").text == "ok\n"
    ready = c.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    github(c, "ping", fixture("github/ping.json"))
    taken(client[1])
    text = c.get("/metrics").text
    assert 'promobot_webhooks_total{outcome="accepted",source="github"}' in text
    assert 'promobot_deliveries_total{outcome="ignored",source="github"}' in text
    assert "promobot_queue_depth" in text


def test_no_secret_reaches_the_logs(client: tuple[TestClient, Service]) -> None:
    c, _ = client
    stream = io.StringIO()
    logs.setup("debug", [SECRET, REGISTRY_TOKEN], stream)
    try:
        github(c, "pull_request", fixture("github/pull_request.opened.json"), delivery="log-1")
        taken(client[1])
        c.post("/webhooks/gitlab", content=b"{}", headers={"X-Gitlab-Token": SECRET + "x"})
        logging.getLogger("promobot.test").warning("token was %s", SECRET)
        logging.getLogger("promobot.test").info(
            "auth", extra={"header": f"Bearer {REGISTRY_TOKEN}"}
        )
    finally:
        logging.getLogger().handlers.clear()
    output = stream.getvalue()
    assert '"outcome": "queued"' in output and "[redacted]" in output
    assert SECRET not in output and REGISTRY_TOKEN not in output
    for line in output.splitlines():
        json.loads(line)  # every line is one JSON object


def test_a_queue_that_is_down_gets_503_so_the_sender_retries(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(files={".promobot.yaml": CONFIG})
    settings = Settings(
        forge="github", repo="Codertocat/Hello-World", github_token="t",  # type: ignore[arg-type]
        signing_key=SIGNING_KEY,  # type: ignore[arg-type]
        webhook_secret=SECRET, data_dir=tmp_path, workers=0,  # type: ignore[arg-type]
        queue_url="redis://127.0.0.1:1/0",  # nothing listens there
    )  # fmt: skip
    with TestClient(create_app(Service(settings, forge=LocalForge(repo)))) as c:
        down = github(c, "pull_request", fixture("github/pull_request.opened.json"))
    assert (down.status_code, down.json()["status"]) == (503, "unavailable")


def test_registries_that_cannot_send_headers_may_put_the_token_in_the_url(
    client: tuple[TestClient, Service],
) -> None:
    c, _ = client
    body = fixture("registry/dockerhub.push.json")
    assert c.post("/webhooks/registry?token=wrong", content=body).status_code == 401
    assert c.post(f"/webhooks/registry?token={REGISTRY_TOKEN}", content=body).status_code == 202
