"""Webhook senders and readers of the unauthenticated endpoints, against `promobot serve`.

Attackers: whoever can reach the webhook port (with a captured signed delivery, or none), and
whoever can read /readyz and the process's output.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import socket
import time
from pathlib import Path

import httpx

from tests import redis_server
from tests.conftest import MakeRepo
from tests.e2e.service import Promobot, wait_for

SECRET = "webhook-secret-value"
CONFIG = """\
version: 1
environments:
  dev: {}
apps:
  api:
    components:
      image:
        source: {image: ghcr.io/acme/api}
        target: {file: "envs/{env}/values.yaml", field: image.tag}
"""
QUEUE_PASSWORD = "s3cret-queue-pass"


def serve(make_repo: MakeRepo, tmp_path: Path, **extra: str) -> Promobot:
    repo = make_repo(files={".promobot.yaml": CONFIG, "envs/dev/values.yaml": "image:\n  tag: 1\n"})
    return Promobot({
        "PROMOBOT_FORGE": "local", "PROMOBOT_REPO": str(repo), "PROMOBOT_WEBHOOK_SECRET": SECRET,
        "PROMOBOT_DATA_DIR": str(tmp_path / "data"), "PROMOBOT_RECONCILE_INTERVAL": "1h",
        "PROMOBOT_WORKERS": "0", **extra,
    })  # fmt: skip


def signed(body: bytes, delivery: str, hook: str) -> dict[str, str]:
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": "issue_comment",
        "X-GitHub-Delivery": delivery,
        "X-GitHub-Hook-ID": hook,
        "X-Hub-Signature-256": signature,
        "Content-Type": "application/json",
    }


def test_a_captured_delivery_replayed_under_other_ids_is_a_duplicate(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    """Webhook sender: re-sends a captured, validly signed `/unhold` comment with a new
    X-GitHub-Delivery and X-GitHub-Hook-ID (headers the signature does not cover)."""
    with serve(make_repo, tmp_path, PROMOBOT_WORKERS="1") as promobot:
        body = json.dumps({
            "action": "created",
            "issue": {"number": 1, "pull_request": {"url": "x"}},
            "comment": {"id": 77, "body": "/unhold", "user": {"login": "bob", "type": "User"}},
            "repository": {"full_name": promobot.env["PROMOBOT_REPO"]},
            "sender": {"login": "bob", "type": "User"},
        }).encode()  # fmt: skip
        url = f"{promobot.url}/webhooks/github"
        first = httpx.post(url, content=body, headers=signed(body, "guid-1", "1"))
        again = httpx.post(url, content=body, headers=signed(body, "guid-2", "2"))
        assert (first.status_code, again.status_code) == (202, 202)  # both kept, as they came
        wait_for(
            "the worker's verdicts", lambda: promobot.log().count('"message": "delivery"') >= 2
        )
    verdicts = [json.loads(line)["outcome"] for line in promobot.log().splitlines()
                if '"message": "delivery"' in line]  # fmt: skip
    assert verdicts == ["queued", "duplicate"]


def test_a_body_trickled_slower_than_the_timeout_gets_408(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    """Anyone who reaches the port: opens a delivery and sends its body a byte at a time, to
    hold a connection (and, before, the event loop) for as long as they like."""
    with serve(make_repo, tmp_path, PROMOBOT_BODY_TIMEOUT="1s") as promobot:
        with socket.create_connection(("127.0.0.1", promobot.port), timeout=10) as conn:
            conn.sendall(
                b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000\r\n\r\n{"
            )
            started = time.monotonic()
            answer = b""
            while b"\r\n\r\n" not in answer and time.monotonic() - started < 5:
                try:
                    conn.sendall(b" ")
                except OSError:
                    break
                time.sleep(0.2)
                conn.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    answer += conn.recv(4096)
                conn.setblocking(True)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert time.monotonic() - started < 3
        assert httpx.get(f"{promobot.url}/healthz").status_code == 200  # still serving


def test_readyz_and_the_start_banner_give_nothing_away(make_repo: MakeRepo, tmp_path: Path) -> None:
    """Reader of /readyz (unauthenticated) and of the process's output: no repo path, no
    password of the queue's URL."""
    queue = redis_server.url(13, password=QUEUE_PASSWORD)
    with serve(make_repo, tmp_path, PROMOBOT_QUEUE_URL=queue) as promobot:
        ready = httpx.get(f"{promobot.url}/readyz")
        assert ready.json() == {"ready": True}
        output = promobot.log()
    assert queue.replace(QUEUE_PASSWORD, "[redacted]") in output
    assert QUEUE_PASSWORD not in output
    assert str(tmp_path) not in ready.text
