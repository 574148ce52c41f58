"""The durable job queue: huey on an SQLite file by default, on Redis for several processes.

Jobs are JSON (a normalized event, or a reconcile), so any promobot version can read them.
The same store keeps delivery ids for deduplication and the ledger of comments whose commands
ran (each key set once, atomically, on both backends), and one lock per environment repo, so
work on a repo is serialized while other repos (other queues sharing a Redis) proceed in
parallel. A job whose repo is locked, or whose forge is briefly unavailable, is scheduled again
with exponential backoff.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import Any

from huey import Huey, PriorityRedisHuey, SqliteHuey
from huey.consumer import Consumer
from huey.exceptions import TaskLockedException
from redis.exceptions import LockError

from bot.errors import RateLimited, Unavailable
from bot.settings import Settings

log = logging.getLogger("promobot.queue")

DEDUPE_TTL = 7 * 24 * 3600  # forges redeliver within hours; a week is plenty
LEDGER_TTL = 400 * 24 * 3600  # a comment's commands run once; a replay a year on still finds it
MAX_ATTEMPTS = 8
LOCK_WAIT = 5.0  # seconds a job waits for its repo's lock before it is put back
UNLOCKED = frozenset({"reconcile", "delivery"})  # they read no repo (polling, parsing)
# Higher runs first: a delivery decides what comes next, a command never waits behind a
# backlog of syncs, then what can merge, then new promotions, then the reconcile.
PRIORITY = {"delivery": 50, "command": 40, "gates": 30, "sync": 20, "reconcile": 10}
Runner = Callable[[dict[str, Any]], None]


def make_huey(settings: Settings, name: str) -> Huey:
    url = settings.queue_url
    if url and url.startswith(("redis://", "rediss://")):
        return PriorityRedisHuey(name, url=url, utc=True)  # Redis ≥ 5: jobs by priority
    path = Path(url.removeprefix("sqlite:")) if url else settings.data_dir / "queue.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(name, filename=str(path), utc=True)


def backoff(attempt: int) -> float:
    """Seconds before attempt `attempt + 1`: 1, 2, 4, … capped at 5 minutes, with jitter."""
    return float(min(300.0, 2.0**attempt) * random.uniform(0.5, 1.0))


class Queue:
    """Submit jobs; run them in worker threads or processes, one repo at a time."""

    def __init__(self, settings: Settings, repo: str, run: Runner) -> None:
        self.settings = settings
        self.repo = repo
        self.huey = make_huey(settings, name=f"promobot:{repo}")
        self._run = run
        self._consumer: Consumer | None = None
        self._task = self.huey.task(name="promobot.job")(self._execute)
        self._lock = f"repo:{repo}"
        self.huey.lock_task(self._lock)  # registered, so a starting consumer can flush it

    @property
    def _redis(self) -> bool:
        return isinstance(self.huey, PriorityRedisHuey)

    def seen(self, delivery: str) -> bool:
        """Record a delivery id; True if it was recorded before (a duplicate)."""
        return not self._first(f"{self.huey.name}.delivery.{delivery}", DEDUPE_TTL)

    def claim(self, key: str) -> bool:
        """True the first time `key` is claimed (a comment's commands may run), then False."""
        return self._first(f"{self.huey.name}.ledger.{key}", LEDGER_TTL)

    def window(self, key: str, seconds: float) -> float:
        """Seconds left in `key`'s window, or 0 after starting a new one of `seconds` (a
        batched environment is written at most once per window; losing the store costs one
        early write, never a lost one)."""
        name = f"{self.huey.name}.window.{key}"
        if self._redis:
            conn = self.huey.storage.conn
            if conn.set(name, "1", nx=True, px=max(int(seconds * 1000), 1)):
                return 0.0
            return max(float(conn.pttl(name)) / 1000, 0.0)
        now = time.time()
        with closing(self._sqlite()) as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM promobot_keys WHERE key = ? AND until < ?", (name, now))
            row = db.execute("SELECT until FROM promobot_keys WHERE key = ?", (name,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO promobot_keys (key, until) VALUES (?, ?)", (name, now + seconds)
                )
            db.execute("COMMIT")
            return 0.0 if row is None else max(float(row[0]) - now, 0.0)

    def _first(self, key: str, ttl: int) -> bool:
        """Set `key` unless it is set; whether this call set it. Keys expire after `ttl`."""
        if self._redis:  # SET NX EX: atomic, and expires on its own
            return bool(self.huey.storage.conn.set(key, "1", nx=True, ex=ttl))
        now = time.time()
        with closing(self._sqlite()) as db:  # huey's SQLite key/value store has no expiry
            db.execute("DELETE FROM promobot_keys WHERE until < ?", (now,))
            cursor = db.execute(
                "INSERT OR IGNORE INTO promobot_keys (key, until) VALUES (?, ?)", (key, now + ttl)
            )
            return cursor.rowcount == 1

    def _sqlite(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.huey.storage.filename, timeout=30, isolation_level=None)
        db.execute("CREATE TABLE IF NOT EXISTS promobot_keys (key TEXT PRIMARY KEY, until REAL)")
        db.execute("CREATE INDEX IF NOT EXISTS promobot_keys_until ON promobot_keys (until)")
        db.execute("CREATE TABLE IF NOT EXISTS promobot_counters (name TEXT PRIMARY KEY, value)")
        db.execute(
            "CREATE TABLE IF NOT EXISTS promobot_items "
            "(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, item TEXT)"
        )
        return db

    def submit(self, job: dict[str, Any], delay: float = 0, priority: int = 0) -> None:
        if delay:
            self._task.schedule(args=(json.dumps(job), 0), delay=delay, priority=priority)
        else:
            self._task(json.dumps(job), 0, priority=priority)

    # --- coalescing: many requests for a sync, few syncs ----------------------------------------

    def request(self, name: str, item: str | None = None) -> int:
        """Count a request for `name` (keeping `item` with it); the request's ticket."""
        counter, items = f"{self.huey.name}.requested.{name}", f"{self.huey.name}.items.{name}"
        if self._redis:
            conn = self.huey.storage.conn
            if item is not None:
                conn.rpush(items, item)
            return int(conn.incr(counter))
        with closing(self._sqlite()) as db:
            db.execute("BEGIN IMMEDIATE")
            if item is not None:
                db.execute("INSERT INTO promobot_items (name, item) VALUES (?, ?)", (items, item))
            db.execute(
                "INSERT INTO promobot_counters (name, value) VALUES (?, 1) "
                "ON CONFLICT (name) DO UPDATE SET value = value + 1",
                (counter,),
            )
            (ticket,) = db.execute(
                "SELECT value FROM promobot_counters WHERE name = ?", (counter,)
            ).fetchone()
            db.execute("COMMIT")
            return int(ticket)

    def served(self, name: str, ticket: int) -> bool:
        """Whether work that began after request `ticket` was made has already finished."""
        return self._counter(f"{self.huey.name}.served.{name}") >= ticket

    def serve(self, name: str) -> tuple[int, list[str]]:
        """Begin serving `name`: every request so far (the ticket to pass to `done`) and the
        items they kept, taken out so that nothing is served twice."""
        counter, items = f"{self.huey.name}.requested.{name}", f"{self.huey.name}.items.{name}"
        if self._redis:
            pipe = self.huey.storage.conn.pipeline(transaction=True)
            pipe.get(counter).lrange(items, 0, -1).delete(items)
            ticket, taken, _ = pipe.execute()
            return int(ticket or 0), [i.decode() for i in taken]
        with closing(self._sqlite()) as db:
            db.execute("BEGIN IMMEDIATE")
            found = db.execute("SELECT value FROM promobot_counters WHERE name = ?", (counter,))
            row = found.fetchone()
            rows = db.execute(
                "DELETE FROM promobot_items WHERE name = ? RETURNING item", (items,)
            ).fetchall()
            db.execute("COMMIT")
            return int(row[0]) if row else 0, [r[0] for r in rows]

    def done(self, name: str, ticket: int) -> None:
        """Every request up to `ticket` is served (the counter only ever rises)."""
        served = f"{self.huey.name}.served.{name}"
        if self._redis:
            # one round trip, atomic: raise the counter, never lower it
            self.huey.storage.conn.eval(
                "if tonumber(redis.call('get', KEYS[1]) or '0') < tonumber(ARGV[1]) then "
                "redis.call('set', KEYS[1], ARGV[1]) end",
                1,
                served,
                ticket,
            )
            return
        with closing(self._sqlite()) as db:
            db.execute(
                "INSERT INTO promobot_counters (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)",
                (served, ticket),
            )

    def _counter(self, key: str) -> int:
        if self._redis:
            return int(self.huey.storage.conn.get(key) or 0)
        with closing(self._sqlite()) as db:
            row = db.execute("SELECT value FROM promobot_counters WHERE name = ?", (key,))
            found = row.fetchone()
            return int(found[0]) if found else 0

    def run_pending(self) -> int:
        """Run the jobs waiting now, here, in order (tests, and a process without workers)."""
        ran = 0
        while (task := self.huey.dequeue()) is not None:
            self.huey.execute(task)
            ran += 1
        return ran

    def depth(self) -> int:
        return int(self.huey.pending_count()) + int(self.huey.scheduled_count())

    def _execute(self, payload: str, attempt: int) -> None:
        job = json.loads(payload)
        try:
            if job.get("kind") in UNLOCKED:
                self._run(job)
                return
            with self._locked():
                self._run(job)
        except (TaskLockedException, Unavailable, RateLimited) as exc:
            if attempt + 1 >= MAX_ATTEMPTS:
                log.error("job gave up", extra={"job": job.get("id"), "error": str(exc)})
                return
            delay = exc.retry_after if isinstance(exc, RateLimited) else backoff(attempt)
            log.info(
                "job retried",
                extra={
                    "job": job.get("id"),
                    "attempt": attempt + 1,
                    "delay": round(delay, 2),
                    "error": str(exc),
                },
            )
            self._task.schedule(args=(payload, attempt + 1), delay=delay)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The repo's lock. On Redis it expires (redis-py's lock: SET NX PX, checked release),
        so a killed worker cannot block the repo for long; SQLite has no expiry, so its locks
        are cleared when a process starts (SQLite is for one host and one process).

        A job that finds the repo busy waits up to `LOCK_WAIT` for it (jobs on one repo are
        seconds long) before it is put back: rescheduling at once made jobs retry against
        each other for seconds while the repo stood idle in between."""
        if not self._redis:
            lock = self.huey.lock_task(self._lock)
            self._wait_for(lock.acquire)
            try:
                yield
            finally:
                lock.release()
            return
        key = f"{self.huey.name}.lock.{self._lock}"
        held = self.huey.storage.conn.lock(key, timeout=self.settings.lock_seconds)
        if not held.acquire(blocking=True, blocking_timeout=LOCK_WAIT):
            raise TaskLockedException(f"{self._lock} is locked")
        try:
            yield
        finally:
            with suppress(LockError):  # it expired while we worked: someone may hold it now
                held.release()

    @staticmethod
    def _wait_for(take: Callable[[], object]) -> None:
        """Call `take` until it stops raising TaskLockedException, for at most `LOCK_WAIT`."""
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                take()
                return
            except TaskLockedException:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)

    def start(self, workers: int) -> None:
        """Worker threads in this process (the embedded default)."""
        if workers <= 0:
            return
        self._consumer = self.huey.create_consumer(
            flush_locks=not self._redis,
            workers=workers,
            worker_type="thread",
            periodic=False,
            check_worker_health=True,
            initial_delay=0.05,
            max_delay=0.1,  # an idle worker looks ten times a second: a delivery is two hops
        )
        self._consumer.start()

    def stop(self) -> None:
        if self._consumer is not None:
            self._consumer.stop(graceful=True)
            self._consumer = None

    def run_forever(self, workers: int) -> None:
        """`promobot worker`: a process that only runs jobs."""
        consumer = self.huey.create_consumer(
            workers=max(1, workers),
            worker_type="thread",
            periodic=False,
            initial_delay=0.05,
            max_delay=0.1,  # an idle worker looks ten times a second: a delivery is two hops
        )
        consumer.run()
