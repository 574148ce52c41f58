"""What the audit log and notifications cost over one promotion's life, counted.

On the GitHub simulator (promobot in-process, the steering tests' repo: dev → staging (30m
soak, auto-merge) → prod-eu and prod-us (one approval from @acme/sre)), a version is published,
merged into dev by a person, soaks into staging, gets prod PRs that the reconcile looks at ten
times, is approved by alice and merged by her `/merge`. The same story runs twice: with the
audit log (and notifications to a local receiver) and without it; the forge calls of each
are counted by the simulator.

    .venv/bin/python benchmarks/audit_cost.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import audit, events
from tests.e2e.scene import steering
from tests.e2e.test_notify import Receiver

NOTIFY = '\nnotify:\n  "*":\n    chat: ["*"]\n'


def story(audited: bool, data: Path, receiver_port: int) -> dict[str, Any]:
    chat = {"chat": f"json://127.0.0.1:{receiver_port}/chat"}
    with steering("github", data, NOTIFY, notify_target_urls=chat) as scene:
        world, service, clock = scene.world, scene.service, scene.clock
        if not audited:  # promobot as it was: nothing told of its decisions
            service.engine.on_action = None
            service.gatekeeper.record = None
            service.runner.record = None
        world.reset_calls()
        service.handle(events.Artifact(source_key="image:ghcr.io/acme/api", version="1.5.0"))
        dev = scene.open_pr("dev")
        scene.say("bob", dev.number, "/merge")
        clock.now += timedelta(minutes=31)
        service.review_open()
        eu = scene.open_pr("prod-eu")
        for _ in range(10):  # the reconcile, with nothing new
            clock.now += timedelta(minutes=5)
            service.review_open()
        scene.approve("alice", eu.number)
        scene.say("alice", eu.number, "/merge")
        calls = sum(world.calls.values())
        service.queue.run_pending()  # the notify jobs
        after_jobs = sum(world.calls.values())
        return {"forge_calls": calls, "forge_calls_by_notify_jobs": after_jobs - calls}


def main() -> None:
    receiver = Receiver()  # the chat service of the notification tests
    with tempfile.TemporaryDirectory() as tmp:
        with_log = story(True, Path(tmp) / "audited", receiver.port)
        path = Path(tmp) / "audited" / audit.FILENAME
        records = list(audit.read_lines(path))
        size = path.stat().st_size
        without = story(False, Path(tmp) / "plain", receiver.port)
    receiver.close()
    kinds = Counter(r.kind for r in records)
    result = {
        "records": len(records),
        "bytes": size,
        "bytes_per_record": round(size / max(len(records), 1)),
        "by_kind": dict(sorted(kinds.items())),
        "gate_records": kinds["gate"],
        "notifications_sent": len(receiver.got),
        "forge_calls": {"with_audit": with_log["forge_calls"], "without": without["forge_calls"]},
        "forge_calls_by_notify_jobs": with_log["forge_calls_by_notify_jobs"],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
