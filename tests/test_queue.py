"""The queue on both backends: SQLite (the default) and the Redis running on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.errors import Unavailable
from bot.queue import Queue
from bot.settings import Settings

REDIS = "redis://127.0.0.1:6379/13"


@pytest.fixture(params=["sqlite", "redis"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "redis":
        redis.Redis.from_url(REDIS).flushdb()
        return Settings(data_dir=tmp_path, queue_url=REDIS, lock_ttl="5s")
    return Settings(data_dir=tmp_path)


def run_queue(settings: Settings, run: Any, workers: int = 2) -> Iterator[Queue]:
    queue = Queue(settings, f"acme/{time.monotonic_ns()}", run)
    queue.start(workers)
    try:
        yield queue
    finally:
        queue.stop()


def test_delivery_ids_are_remembered(settings: Settings) -> None:
    queue = Queue(settings, "acme/env", lambda job: None)
    assert queue.seen("github:abc:hook-1") is False
    assert queue.seen("github:abc:hook-1") is True
    assert queue.seen("github:abc:hook-2") is False
    assert (
        Queue(settings, "acme/env", lambda job: None).seen("github:abc:hook-1") is True
    )  # durable


def test_jobs_on_one_repo_never_overlap_and_all_run(settings: Settings) -> None:
    running, peak, done = [0], [0], []
    guard = threading.Lock()

    def run(job: dict[str, Any]) -> None:
        with guard:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with guard:
            running[0] -= 1
            done.append(job["n"])

    for queue in run_queue(settings, run, workers=3):
        for n in range(5):
            queue.submit({"n": n})
        deadline = time.monotonic() + 30
        while len(done) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert sorted(done) == [0, 1, 2, 3, 4]
    assert peak[0] == 1  # the repo lock serialized them


def test_a_job_that_meets_an_outage_is_retried_later(settings: Settings) -> None:
    attempts: list[float] = []

    def run(job: dict[str, Any]) -> None:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise Unavailable("the forge answered 502")

    for queue in run_queue(settings, run):
        queue.submit({"n": 1})
        deadline = time.monotonic() + 30
        while len(attempts) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(attempts) == 3
    assert attempts[2] - attempts[0] >= 0.5  # backoff: 1 s, then 2 s, each with jitter ≥ 0.5
