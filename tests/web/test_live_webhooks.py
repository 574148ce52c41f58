"""`/webhooks/flux` and `/webhooks/argocd`: verified before anything is read, then appended."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bot.forges.local import LocalForge
from bot.service import Service
from bot.settings import Settings
from bot.web.app import create_app
from tests.conftest import SIGNING_KEY, MakeRepo, taken

FLUX_SECRET = "flux-hmac-token-value"
ARGOCD_SECRET = "argocd-notifications-token"
EVENT = Path(__file__).resolve().parents[1] / "fixtures/flux/kustomization.progressing.json"
CONFIG = """\
version: 1
environments:
  dev: {live: {flux: {name: my-app-kustomization}}}
  prod: {from: dev}
apps:
  api:
    components:
      image:
        source: {image: ghcr.io/acme/api}
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
        forge="local", repo=str(repo), signing_key=SIGNING_KEY,  # type: ignore[arg-type]
        flux_webhook_secret=FLUX_SECRET, argocd_webhook_secret=ARGOCD_SECRET,  # type: ignore[arg-type]
        data_dir=tmp_path / "data", workers=0,
    )  # fmt: skip
    service = Service(settings, forge=LocalForge(repo))
    with TestClient(create_app(service)) as client:
        yield client, service


def signed(body: bytes, secret: str = FLUX_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Signature": f"sha256={digest}", "Content-Type": "application/json"}


def test_a_flux_event_is_refused_unless_signed_with_the_shared_secret(
    client: tuple[TestClient, Service],
) -> None:
    c, service = client
    body = EVENT.read_bytes()
    for headers in ({}, signed(body, "another-secret"), {"X-Signature": "md5=00"}):
        response = c.post("/webhooks/flux", content=body, headers=headers)
        assert response.status_code == 401, headers
    assert service.queue.depth() == 0  # nothing was appended
    response = c.post("/webhooks/flux", content=body, headers=signed(body))
    assert (response.status_code, response.json()) == (202, {"status": "accepted"})
    assert taken(service) == [("queued", "live")]
    # the same event again is the same report: one piece of work
    c.post("/webhooks/flux", content=body, headers=signed(body))
    assert taken(service) == [("duplicate", taken_key(body))]


def taken_key(body: bytes) -> str:
    return f"flux:{hashlib.sha256(body).hexdigest()[:32]}"


def test_a_signed_body_that_is_no_flux_event_is_dropped_with_a_reason(
    client: tuple[TestClient, Service],
) -> None:
    c, service = client
    body = json.dumps({"hello": "world"}).encode()
    assert c.post("/webhooks/flux", content=body, headers=signed(body)).status_code == 202
    ((outcome, why),) = taken(service)
    assert outcome == "malformed" and "involvedObject" in why


def test_a_flux_event_above_256_kib_is_refused_413_even_when_signed(
    client: tuple[TestClient, Service],
) -> None:
    """The README promises 413 above 256 KiB (no Flux event comes near it), below the 1 MiB
    every other webhook takes."""
    c, service = client
    event = json.loads(EVENT.read_bytes())

    def padded(size: int) -> bytes:
        event["message"] = ""
        bare = len(json.dumps(event).encode())
        event["message"] = "x" * (size - bare)
        body = json.dumps(event).encode()
        assert len(body) == size
        return body

    for size in (256 * 1024 + 1, 300 * 1024, 1024 * 1024 - 1):
        body = padded(size)
        response = c.post("/webhooks/flux", content=body, headers=signed(body))
        assert response.status_code == 413, size
        assert response.json() == {
            "status": "too-large",
            "error": f"body larger than {256 * 1024} bytes",
        }
    assert service.queue.depth() == 0  # nothing was appended
    body = padded(256 * 1024)
    assert c.post("/webhooks/flux", content=body, headers=signed(body)).status_code == 202


def test_argo_cd_notifications_need_the_token_and_name_an_application(
    client: tuple[TestClient, Service],
) -> None:
    c, service = client
    body = b'{"app": "api-dev"}'
    assert c.post("/webhooks/argocd", content=body).status_code == 401
    wrong = {"X-Promobot-Token": "guess"}
    assert c.post("/webhooks/argocd", content=body, headers=wrong).status_code == 401
    right = {"X-Promobot-Token": ARGOCD_SECRET}
    assert c.post("/webhooks/argocd", content=body, headers=right).status_code == 202
    assert taken(service) == [("queued", "live")]
    bad = b'{"app": "../etc"}'
    assert c.post("/webhooks/argocd", content=bad, headers=right).status_code == 202
    ((outcome, why),) = taken(service)
    assert outcome == "malformed" and "Application name" in why
