"""Notifications end to end, on GitHub and GitLab: a real HTTP receiver on 127.0.0.1 stands in
for the chat service, reached through Apprise's `json://` and Mattermost's Slack-style incoming
webhook (`mmost://`); dead, failing and slow targets sit beside it. The receiver gets "waiting
for approval" once however often promobot looks, then "merged"; the targets that fail never
stop the merge."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot import events, metrics
from tests.e2e.scene import REPO, Scene, bot_service, config
from tests.forgesim.server import free_port

SLOW = 3.0  # seconds the slow target takes to answer; promobot gives up after 1


class Receiver:
    """A chat service: records what it is sent; `/fail` answers 500, `/slow` takes SLOW."""

    def __init__(self) -> None:
        self.got: list[tuple[str, dict[str, Any]]] = []
        received = self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.path.startswith("/slow"):
                    time.sleep(SLOW)
                received.append((self.path, json.loads(body or b"{}")))
                self.send_response(500 if self.path.startswith("/fail") else 200)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def texts(self, path: str) -> list[str]:
        """What a person reads in each message sent to `path`."""
        found = []
        for where, body in self.got:
            if where.startswith(path):
                found.append(body.get("message") or body.get("text") or "")
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


NOTIFY = """\
notify:
  "prod-*":
    chat: [waiting, merged]
    slack_style: [waiting, merged]
    dead: ["*"]
    failing: ["*"]
    slow: ["*"]
"""


def with_notifications(scene: Scene, receiver: Receiver, tmp_path: Path) -> None:
    """The scene's repo with `notify:`, and a service that has the targets' URLs."""
    scene.world.push(
        REPO,
        "main",
        {".promobot.yaml": config("Mon 00:00 - Mon 00:01 UTC") + NOTIFY},
        "notify the SRE channel",
    )
    base = f"127.0.0.1:{receiver.port}"
    scene.service = bot_service(
        scene.kind,
        scene.server,
        tmp_path / "notifying",
        scene.clock,
        notify_target_urls={
            "chat": f"json://{base}/chat",
            "slack_style": f"mmost://{base}/sre-token",  # Slack-style: POST /hooks/sre-token
            "dead": f"json://127.0.0.1:{free_port()}/nobody-listens",
            "failing": f"json://{base}/fail",
            "slow": f"json://{base}/slow",
        },
        notify_timeout="1s",
    )
    scene.forge = scene.service.forge


def test_waiting_once_then_merged_and_dead_targets_stop_nothing(
    scene: Scene, receiver: Receiver, tmp_path: Path
) -> None:
    with_notifications(scene, receiver, tmp_path)
    failed = metrics.NOTIFICATIONS.labels("dead", "failed")._value.get()
    scene.service.handle(events.Artifact(source_key="image:ghcr.io/acme/api", version="1.5.0"))
    dev = scene.open_pr("dev")
    assert "✅ Merged" in scene.say("bob", dev.number, "/merge")[0]
    scene.clock.now += timedelta(minutes=31)
    scene.service.review_open()  # staging merges: prod-eu and prod-us PRs open, waiting
    eu = scene.open_pr("prod-eu")
    for _ in range(3):  # the reconcile looks again and again: nothing new to say
        scene.clock.now += timedelta(minutes=5)
        scene.service.review_open()
        scene.service.gatekeeper.evaluate(scene.pr(eu.number))
    scene.service.queue.run_pending()

    waiting = [t for t in receiver.texts("/chat") if "prod-eu" in t]
    assert len(waiting) == 1, receiver.texts("/chat")
    assert waiting[0].startswith("Waiting for approval: api → prod-eu (image 1.4.2 → 1.5.0)")
    assert "approvals: 0 of 1 from @acme/sre" in waiting[0]
    assert f"{REPO} #{eu.number}: " in waiting[0] and scene.pr(eu.number).url in waiting[0]
    (slack,) = [t for t in receiver.texts("/hooks/sre-token") if "prod-eu" in t]
    assert "Waiting for approval: api → prod-eu" in slack

    # alice approves and merges while the dead, failing and slow targets still fail
    scene.approve("alice", eu.number)
    heard = len(receiver.got)
    assert "✅ Merged" in scene.say("alice", eu.number, "/merge")[0]
    assert len(receiver.got) == heard  # no message is sent inside the merge: a worker sends it
    assert scene.main_file("prod-eu") == "image:\n  tag: 1.5.0"
    started = time.monotonic()
    scene.service.queue.run_pending()
    merged = [t for t in receiver.texts("/chat") if t.startswith("Merged: api → prod-eu")]
    assert len(merged) == 1, receiver.texts("/chat")
    assert "by @alice on the approval of @alice." in merged[0]
    assert scene.world.repos[REPO].git.text("rev-parse", "refs/heads/main")[:12] in merged[0]
    assert len([t for t in receiver.texts("/chat") if "prod-eu" in t]) == 2  # nothing else
    # the slow target was given up on after 1 s each time, not waited for
    slow_sends = len([p for p, _ in receiver.got if p.startswith("/slow")])
    assert time.monotonic() - started < slow_sends * SLOW
    assert metrics.NOTIFICATIONS.labels("dead", "failed")._value.get() > failed
    assert metrics.NOTIFICATIONS.labels("chat", "sent")._value.get() >= 2

    # a retried job (or another worker) with the same record sends nothing again
    records, _ = scene.service.queue.audit_read(env="prod-eu", limit=1000)
    (record,) = [r for r in records if r.kind == "merged"]
    assert scene.service.notifier.send(record, ["chat"]) == {"chat": "duplicate"}
    assert len([t for t in receiver.texts("/chat") if t.startswith("Merged")]) == 1


def test_a_target_without_an_address_is_said_once_and_the_others_are_sent(
    scene: Scene, receiver: Receiver, tmp_path: Path
) -> None:
    with_notifications(scene, receiver, tmp_path)
    scene.world.push(
        REPO,
        "main",
        {
            ".promobot.yaml": config("Mon 00:00 - Mon 00:01 UTC")
            + 'notify:\n  "*":\n    chat: [opened]\n    nowhere: [opened]\n'
        },
        "notify a target nobody configured",
    )
    scene.service.handle(events.Artifact(source_key="image:ghcr.io/acme/api", version="1.5.0"))
    scene.service.queue.run_pending()
    (opened,) = receiver.texts("/chat")
    assert opened.startswith("Promotion opened: api → dev (image 1.4.2 → 1.5.0)")
    assert metrics.NOTIFICATIONS.labels("nowhere", "unconfigured")._value.get() >= 1
