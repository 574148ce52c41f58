"""The pacing of GitHub writes, counted in the queue's store — an SQLite file, or the Redis on
127.0.0.1 — with the clock passed in: each window's limit, the share each kind of job may
fill, and one count for every process that serves an installation."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot import budget
from bot.errors import Paced
from bot.pacing import Pacer
from bot.queue import PACED, Queue
from bot.settings import Settings
from tests import redis_server

REDIS = redis_server.url(11)  # this suite's; keys are unique to each test and removed
NOW = 1_800_000_000.0


class Clock:
    """A clock that moves only when the pacer sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = NOW
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture(params=["sqlite", "redis"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "redis":
        return Settings(data_dir=tmp_path, queue_url=REDIS)
    return Settings(data_dir=tmp_path)


@pytest.fixture
def key(settings: Settings) -> Iterator[str]:
    """An installation no other test paces."""
    name = f"github:installation:{uuid.uuid4().hex}"
    yield name
    if settings.queue_url:  # its count, and those of the other installations it named
        conn = redis.Redis.from_url(REDIS)
        for found in conn.scan_iter(f"{PACED}{name}*"):
            conn.delete(found)


def store(settings: Settings) -> Queue:
    """The store as one process opens it (a second call: as another process would)."""
    return Queue(settings, f"acme/{uuid.uuid4().hex}", lambda job: None)


def pacer(settings: Settings, key: str, clock: Clock, per_minute: int, per_hour: int) -> Pacer:
    return Pacer(store(settings), key, per_minute, per_hour, clock=clock, sleep=clock.sleep)


def test_writes_are_spaced_under_the_per_minute_and_per_hour_limits(
    settings: Settings, key: str
) -> None:
    clock = Clock()
    paced = pacer(settings, key, clock, per_minute=3, per_hour=5)
    for _ in range(3):
        assert paced.take() == 0
        clock.now += 1
    assert paced.take() == 57  # the first of the three leaves the minute at t=60
    assert paced.take() == 1  # and the second at t=61: now five in the hour
    with pytest.raises(Paced) as held:  # the hour's limit: the first leaves it at t=3600
        paced.take()
    assert held.value.retry_after == 3600 - 61  # far too long to sleep: the job goes back
    assert clock.slept == [57, 1]
    clock.now = NOW + 3600
    assert paced.take() == 0  # nothing was counted for the write that did not go


def test_a_sync_leaves_a_quarter_of_the_minute_to_what_people_ask_for(
    settings: Settings, key: str
) -> None:
    clock = Clock()
    paced = pacer(settings, key, clock, per_minute=8, per_hour=100)
    with budget.spending("github", "sync"):
        for _ in range(6):
            assert paced.take() == 0
        with pytest.raises(Paced) as held:
            paced.take()  # its job goes back for the minute, and frees its worker
        assert held.value.retry_after == 60
        assert paced.wait("sync") == 60
    assert paced.wait("gates") == 0  # what can merge may fill nine tenths
    with budget.spending("github", "command"):
        assert paced.take() == 0  # a /merge in the middle of a flood goes at once
        assert paced.take() == 0
        clock.now += 10
        assert paced.take() == 50  # the whole minute is full: a command waits in place
    assert clock.slept == [50]


def test_a_short_wait_is_slept_and_a_long_one_puts_the_job_back(
    settings: Settings, key: str
) -> None:
    clock = Clock()
    paced = pacer(settings, key, clock, per_minute=4, per_hour=100)  # a sync may write 3
    with budget.spending("github", "sync"):
        for at in (0, 29, 58):
            clock.now = NOW + at
            assert paced.take() == 0
        assert paced.take() == 2  # the first leaves the minute 2 s later: a nap, no requeue
        with pytest.raises(Paced) as held:
            paced.take()
        assert held.value.retry_after == 29  # when the second leaves it


def test_every_process_serving_an_installation_draws_from_one_count(
    settings: Settings, key: str
) -> None:
    clock = Clock()
    one = pacer(settings, key, clock, per_minute=4, per_hour=100)
    other = pacer(settings, key, clock, per_minute=4, per_hour=100)  # another process
    elsewhere = pacer(settings, f"{key}-2", clock, per_minute=4, per_hour=100)
    with budget.spending("github", "sync"):  # three writes a minute for syncs
        assert one.take() == 0 and other.take() == 0 and one.take() == 0
        with pytest.raises(Paced):
            other.take()
        assert elsewhere.take() == 0  # another installation counts its own


def test_writes_taken_at_once_by_many_threads_never_exceed_the_limit(
    settings: Settings, key: str
) -> None:
    clock = Clock()  # it never moves: every write falls in one minute
    pacers = [pacer(settings, key, clock, per_minute=20, per_hour=100) for _ in range(2)]
    went, held = [], []
    guard = threading.Lock()

    def writer(paced: Pacer) -> None:
        with budget.spending("github", "sync"):  # 15 a minute
            for _ in range(5):
                try:
                    paced.take()
                    outcome = went
                except Paced:
                    outcome = held
                with guard:
                    outcome.append(1)

    threads = [threading.Thread(target=writer, args=(pacers[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(went), len(held)) == (15, 25)
