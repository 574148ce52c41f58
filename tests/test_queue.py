"""The queue on both backends: SQLite (the default) and the Redis running on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.errors import Paced, Unavailable
from bot.queue import MAX_ATTEMPTS, PRIORITY, Queue
from bot.settings import Settings
from tests import redis_server

REDIS = redis_server.url(13)


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


def test_jobs_run_by_priority_a_command_before_a_backlog_of_syncs(settings: Settings) -> None:
    order: list[str] = []
    queue = Queue(settings, f"acme/{time.monotonic_ns()}", lambda job: order.append(job["n"]))
    for n, kind in enumerate(["reconcile", "sync", "sync", "gates", "command", "delivery"]):
        queue.submit({"kind": "event", "n": f"{kind}-{n}"}, priority=PRIORITY[kind])
    queue.run_pending()
    assert order == ["delivery-5", "command-4", "gates-3", "sync-1", "sync-2", "reconcile-0"]


def test_one_sync_serves_every_request_made_before_it_began(settings: Settings) -> None:
    queue = Queue(settings, f"acme/{time.monotonic_ns()}", lambda job: None)
    tickets = [queue.request("sync", f"a{i}") for i in range(3)]
    assert tickets == [1, 2, 3]
    assert not queue.served("sync", 1)
    upto, items = queue.serve("sync")
    assert (upto, items) == (3, ["a0", "a1", "a2"])
    late = queue.request("sync", "late")  # made while the sync runs: not served by it
    queue.done("sync", upto)
    assert [queue.served("sync", t) for t in (*tickets, late)] == [True, True, True, False]
    assert queue.serve("sync") == (4, ["late"])  # nothing is served twice
    queue.done("sync", 2)  # an older sync finishing late never lowers the mark
    assert queue.served("sync", 3)


# --- one queue shared by many repos ------------------------------------------------------------

SHARED_REDIS = redis_server.url(12)  # 13 to 15 belong to the other suites


@pytest.fixture(params=["sqlite", "redis"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "redis":
        redis.Redis.from_url(SHARED_REDIS).flushdb()
        return Settings(data_dir=tmp_path, queue_url=SHARED_REDIS, lock_ttl="5s")
    return Settings(data_dir=tmp_path)


def wait_until(done: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_busy_repo_does_not_starve_the_others(shared: Settings) -> None:
    order: list[tuple[str, int]] = []
    running: dict[str, int] = {}
    overlap: list[str] = []
    guard = threading.Lock()

    def run(job: dict[str, Any]) -> None:
        repo = job["repo"]
        with guard:
            running[repo] = running.get(repo, 0) + 1
            if running[repo] > 1:
                overlap.append(repo)
        time.sleep(0.1)
        with guard:
            running[repo] -= 1
            order.append((repo, job["n"]))

    queue = Queue(shared, None, run)
    busy, quiet = queue.scope("acme/busy"), queue.scope("acme/quiet")
    for n in range(8):
        busy.submit({"kind": "event", "n": n}, priority=PRIORITY["gates"])
    quiet.submit({"kind": "event", "n": 0}, priority=PRIORITY["gates"])  # after the backlog
    queue.start(2)
    try:
        wait_until(lambda: len(order) == 9)
    finally:
        queue.stop()
    assert sorted(n for repo, n in order if repo == "acme/busy") == list(range(8))  # none lost
    # The second worker does not wait on the busy repo: it parks the busy repo's jobs and
    # runs the quiet repo's while the first works through the backlog.
    assert order.index(("acme/quiet", 0)) < 3, order
    assert not overlap  # each repo still one job at a time


def test_a_shared_queue_keeps_each_repos_keys_apart(shared: Settings) -> None:
    queue = Queue(shared, None, lambda job: None)
    one, other = queue.scope("acme/one"), queue.scope("acme/other")
    assert one.claim("comment:1") and other.claim("comment:1")  # the same id, two repos
    assert not one.claim("comment:1")
    assert one.request("sync") == 1 and other.request("sync") == 1
    alone = Queue(shared, "acme/one", lambda job: None)  # the same repo served alone
    assert alone.seen("github:x") is False and one.seen("github:x") is True  # same names
    with pytest.raises(ValueError, match="names its repo"):
        queue.submit({"kind": "event"})


def test_a_job_that_outlives_its_lock_never_frees_the_next_holders(tmp_path: Path) -> None:
    """Redis: a job still running when its lock expires must not, on finishing, release the
    lock a later job took since — or a third job would run beside that one."""
    redis.Redis.from_url(SHARED_REDIS).flushdb()
    settings = Settings(data_dir=tmp_path, queue_url=SHARED_REDIS, lock_ttl="1s")
    spans: dict[str, tuple[float, float]] = {}
    lengths = {"slow": 1.6, "next": 1.2, "third": 0.1}

    def run(job: dict[str, Any]) -> None:
        started = time.monotonic()
        time.sleep(lengths[job["name"]])
        spans[job["name"]] = (started, time.monotonic())

    queue = Queue(settings, None, run)
    repo = queue.scope("acme/env")
    queue.start(3)
    try:
        repo.submit({"kind": "event", "name": "slow"})
        time.sleep(1.3)  # the slow job's lock has expired: the next one takes it
        repo.submit({"kind": "event", "name": "next"})
        time.sleep(0.6)  # the slow job has finished and let go of its (expired) lock
        repo.submit({"kind": "event", "name": "third"})
        wait_until(lambda: len(spans) == 3)
    finally:
        queue.stop()
    assert spans["third"][0] >= spans["next"][1], spans  # it waited for the lock's holder


def test_a_job_waiting_for_room_to_write_goes_back_as_often_as_it_must(shared: Settings) -> None:
    """Pacing puts a job back for as long as GitHub's limits want (a flood can take an hour):
    no failed attempt is counted, so it never gives up, and it keeps its priority."""
    ran: list[int] = []

    def run(job: dict[str, Any]) -> None:
        ran.append(job["n"])
        if len(ran) <= MAX_ATTEMPTS + 2:
            raise Paced("no room for writes", 30)

    queue = Queue(shared, None, run)
    queue.scope("acme/env").submit({"kind": "sync", "n": 1}, priority=PRIORITY["command"])
    while queue.run_pending() and queue.huey.scheduled_count():  # put back: for later
        later = datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=1)  # huey's UTC
        (task,) = queue.huey.read_schedule(later)
        assert (task.args[1], task.priority) == (0, PRIORITY["command"])  # attempt, priority
        queue.huey.execute(task, later)
    assert ran == [1] * (MAX_ATTEMPTS + 3)  # the last one ran to the end


def test_a_command_tried_again_after_an_outage_keeps_its_priority(shared: Settings) -> None:
    def run(job: dict[str, Any]) -> None:
        raise Unavailable("the forge answered 502")

    queue = Queue(shared, None, run)
    queue.scope("acme/env").submit({"kind": "event", "n": 1}, priority=PRIORITY["command"])
    queue.run_pending()  # failed, put back for later
    queue.run_pending()  # (huey files it among the scheduled ones)
    (task,) = queue.huey.scheduled()
    assert (task.args[1], task.priority) == (1, PRIORITY["command"])  # not behind the syncs
