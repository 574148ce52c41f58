"""The durable job queue: huey on an SQLite file by default, on Redis for several processes.

Jobs are JSON (a normalized event, or a reconcile), so any promobot version can read them.
The same store keeps delivery ids for deduplication and the ledger of comments whose commands
ran (each key set once, atomically, on both backends), one lock per environment repo, so
work on a repo is serialized while other repos proceed in parallel, and the recent writes of
each installation (`admit`, for `bot.pacing`), so every process paces against one count. A
job whose forge is briefly unavailable is scheduled again with exponential backoff; one whose
writes must wait for room (`Paced`) is put back for that long, which is no failed attempt.

One repo (`Queue(settings, repo, run)`) or many (`Queue(settings, None, run)`, shared): the
shared queue's jobs carry their repo, and `scope(repo)` gives the view a repo's context uses.
Every key of a repo — deliveries, ledger, sync tickets, lock — is named after the repo, the
same names whether it is served alone or with others, so a deployment can grow from one repo
to many without forgetting what ran.

Locked repos: alone, a job waits up to `LOCK_WAIT` for its repo (jobs on one repo are seconds
long) and is then put back. Shared, a worker that waits for a busy repo is a worker the other
repos do not get, so the job is *parked* at once beside the repo's lock and put back on the
queue, at its priority, by whoever releases that lock: a busy repo holds one worker, never all.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from huey import Huey, PriorityRedisHuey, SqliteHuey
from huey.consumer import Consumer
from huey.exceptions import TaskLockedException
from redis.exceptions import LockError

from bot.audit import Record
from bot.audit import matches as audit_matches
from bot.errors import Paced, RateLimited, Unavailable
from bot.pacing import Limits
from bot.settings import Settings

log = logging.getLogger("promobot.queue")

DEDUPE_TTL = 7 * 24 * 3600  # forges redeliver within hours; a week is plenty
LEDGER_TTL = 400 * 24 * 3600  # a comment's commands run once; a replay a year on still finds it
MAX_ATTEMPTS = 8
VALUE_TTL = 30 * 24 * 3600  # a cluster's last report is kept a month after it was made
LOCK_WAIT = 5.0  # seconds a job waits for its repo's lock before it is put back
# they read no repo (polling, parsing, sending a message): a slow chat service holds no lock
UNLOCKED = frozenset({"reconcile", "delivery", "notify"})
AUDIT_PAGE_MAX = 1000  # records one read returns at most
SHARED = "promobot:repos"  # the huey name of the queue that serves many repos
PACED = "promobot:paced:"  # + an installation's budget key: the times of its recent writes
# One write more under KEYS[1] at ARGV[1] if each (window, count, "(" + its start) of ARGV[4..]
# has room: the count-th newest write within a window must have left it first. ARGV[2] is the
# start of the longest window, ARGV[3] the member to add ('' to only ask). Times are passed as
# text: Lua would print them to fewer digits. Atomic: a script runs alone.
ADMIT = """
local key, now = KEYS[1], tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[2])
local wait, longest = 0, 0
for i = 4, #ARGV, 3 do
  local window, count = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  longest = math.max(longest, window)
  local found = redis.call('ZREVRANGEBYSCORE', key, '+inf', ARGV[i + 2],
                           'WITHSCORES', 'LIMIT', count - 1, 1)
  if #found > 0 then
    wait = math.max(wait, tonumber(found[2]) + window - now)
  end
end
if wait <= 0 and ARGV[3] ~= '' then
  redis.call('ZADD', key, ARGV[1], ARGV[3])
  redis.call('PEXPIRE', key, math.ceil(longest * 1000))
end
return tostring(wait)
"""
# Higher runs first: a delivery decides what comes next, a command never waits behind a
# backlog of syncs, then what can merge, then new promotions, then the reconcile.
PRIORITY = {
    "delivery": 50,
    "command": 40,
    "gates": 30,
    "notify": 25,  # people wait for them, but they never hold up what can merge
    "sync": 20,
    "reconcile": 10,
}
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


def prefix(repo: str) -> str:
    """The start of every key of `repo` in the store (its queue's name when served alone)."""
    return f"promobot:{repo}"


# Seconds left in a window: its end (the key's value) when the caller's now is before it, else
# a new window from now (nil). One script, so two processes never both start one.
_FAR = timedelta(days=3650)
_WINDOW_SCRIPT = """
local ends = redis.call('GET', KEYS[1])
if ends and tonumber(ends) > tonumber(ARGV[1]) then return ends end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return false
"""


class Queue:
    """Submit jobs; run them in worker threads or processes, one job per repo at a time.

    `repo` names the one repo served; None makes the queue shared by many, whose jobs carry
    their repo (`scope(repo).submit`)."""

    def __init__(self, settings: Settings, repo: str | None, run: Runner) -> None:
        self.settings = settings
        self.repo = repo
        self.shared = repo is None
        self.huey = make_huey(settings, name=SHARED if repo is None else prefix(repo))
        self._run = run
        self._consumer: Consumer | None = None
        self._task = self.huey.task(name="promobot.job", context=True)(self._execute)
        if repo is not None:
            self.watch(repo)

    @property
    def _redis(self) -> bool:
        return isinstance(self.huey, PriorityRedisHuey)

    def watch(self, repo: str) -> None:
        """Register `repo`'s lock, so that a starting consumer can flush a stale one (SQLite)."""
        self.huey.lock_task(f"repo:{repo}")

    def scope(self, repo: str) -> RepoQueue:
        if self.repo is not None and repo != self.repo:
            raise ValueError(f"this queue serves {self.repo}, not {repo}")
        self.watch(repo)
        return RepoQueue(self, repo)

    # --- the single-repo face (what a `Service` of its own calls) -----------------------------

    def _only(self) -> RepoQueue:
        if self.repo is None:
            raise ValueError("a shared queue needs a repo: use scope(repo)")
        return RepoQueue(self, self.repo)

    def seen(self, delivery: str) -> bool:
        return self._only().seen(delivery)

    def claim(self, key: str) -> bool:
        return self._only().claim(key)

    def request(self, name: str, item: str | None = None) -> int:
        return self._only().request(name, item)

    def served(self, name: str, ticket: int) -> bool:
        return self._only().served(name, ticket)

    def serve(self, name: str) -> tuple[int, list[str]]:
        return self._only().serve(name)

    def done(self, name: str, ticket: int) -> None:
        self._only().done(name, ticket)

    def window(self, key: str, seconds: float, now: float | None = None) -> float:
        return self._only().window(key, seconds, now)

    # --- the store ------------------------------------------------------------------------------

    def put(self, key: str, value: str) -> None:
        if self._redis:
            self.huey.storage.conn.set(key, value, ex=VALUE_TTL)
            return
        with closing(self._sqlite()) as db:
            db.execute(
                "INSERT INTO promobot_values (key, value, until) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, until = excluded.until",
                (key, value, time.time() + VALUE_TTL),
            )

    def get(self, key: str) -> str | None:
        if self._redis:
            found = self.huey.storage.conn.get(key)
            return found.decode() if isinstance(found, bytes) else found
        with closing(self._sqlite()) as db:
            row = db.execute(
                "SELECT value FROM promobot_values WHERE key = ? AND until >= ?", (key, time.time())
            ).fetchone()
            return str(row[0]) if row else None

    def window_left(self, key: str, seconds: float, now: float | None = None) -> float:
        """Seconds left in the window `key`, or 0 after starting a new one of `seconds`; `now`
        (epoch seconds) is the caller's clock, so a window is as long as the service's time
        says, whatever the machine's speed."""
        now = time.time() if now is None else now
        if self._redis:
            # the end is kept as the value and compared with the caller's now; the key also
            # expires on its own a minute after it, so a forgotten window costs nothing
            until = self.huey.storage.conn.eval(
                _WINDOW_SCRIPT, 1, key, repr(now), repr(now + seconds),
                max(int(seconds * 1000), 1) + 60_000,
            )  # fmt: skip
            return 0.0 if until is None else max(float(until) - now, 0.0)
        with closing(self._sqlite()) as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM promobot_keys WHERE key = ? AND until < ?", (key, now))
            row = db.execute("SELECT until FROM promobot_keys WHERE key = ?", (key,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO promobot_keys (key, until) VALUES (?, ?)", (key, now + seconds)
                )
            db.execute("COMMIT")
            return 0.0 if row is None else max(float(row[0]) - now, 0.0)

    def admit(self, key: str, now: float, limits: Limits, *, take: bool) -> float:
        """0 when one more write of installation `key` at `now` keeps each (window, count) of
        `limits` within its count — recorded if `take` —, else the seconds until it would
        (`bot.pacing.Window`). One sliding window for every process on this store."""
        horizon = max(seconds for seconds, _ in limits)
        name = PACED + key
        if self._redis:
            member = f"{now!r}:{uuid.uuid4().hex}" if take else ""
            flat = [v for seconds, count in limits for v in (seconds, count, f"({now - seconds!r}")]
            found = self.huey.storage.conn.eval(
                ADMIT, 1, name, repr(now), repr(now - horizon), member, *flat
            )
            return max(float(found), 0.0)
        with closing(self._sqlite()) as db:
            db.execute("BEGIN IMMEDIATE")
            old = now - horizon
            db.execute("DELETE FROM promobot_paced WHERE key = ? AND at <= ?", (name, old))
            wait = 0.0
            for seconds, count in limits:
                row = db.execute(
                    "SELECT at FROM promobot_paced WHERE key = ? AND at > ? "
                    "ORDER BY at DESC LIMIT 1 OFFSET ?",
                    (name, now - seconds, count - 1),
                ).fetchone()
                if row is not None:
                    wait = max(wait, float(row[0]) + seconds - now)
            if wait <= 0 and take:
                db.execute("INSERT INTO promobot_paced (key, at) VALUES (?, ?)", (name, now))
            db.execute("COMMIT")
            return wait

    def first(self, key: str, ttl: int) -> bool:
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
        db.execute("CREATE TABLE IF NOT EXISTS promobot_paced (key TEXT NOT NULL, at REAL)")
        db.execute("CREATE INDEX IF NOT EXISTS promobot_paced_key_at ON promobot_paced (key, at)")
        db.execute(
            "CREATE TABLE IF NOT EXISTS promobot_values "
            "(key TEXT PRIMARY KEY, value TEXT, until REAL)"
        )
        db.execute(
            "CREATE TABLE IF NOT EXISTS promobot_items "
            "(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, item TEXT)"
        )
        # The audit log: append-only. There is no update or delete path in promobot, and these
        # triggers refuse one made by hand through SQLite (someone who can write the file can
        # drop them: see SECURITY.md for what this does and does not protect).
        db.execute(
            "CREATE TABLE IF NOT EXISTS promobot_audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
            "repo TEXT NOT NULL, at REAL NOT NULL, env TEXT, apps TEXT NOT NULL, "
            "record TEXT NOT NULL)"
        )
        db.execute("CREATE INDEX IF NOT EXISTS promobot_audit_repo ON promobot_audit (repo, seq)")
        for verb in ("UPDATE", "DELETE"):
            db.execute(
                f"CREATE TRIGGER IF NOT EXISTS promobot_audit_no_{verb.lower()} BEFORE {verb} "
                "ON promobot_audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
            )
        return db

    # --- the audit log --------------------------------------------------------------------------

    def audit_append(self, repo: str, record: Record) -> None:
        """Append one record (SQLite: a row; Redis: a stream entry, kept without a cap)."""
        line = record.line()
        if self._redis:
            self.huey.storage.conn.xadd(f"{prefix(repo)}.audit", {"r": line})
            return
        with closing(self._sqlite()) as db:
            db.execute(
                "INSERT INTO promobot_audit (repo, at, env, apps, record) VALUES (?, ?, ?, ?, ?)",
                (repo, record.at.timestamp(), record.env, "," + ",".join(record.apps) + ",", line),
            )

    def audit_read(
        self,
        repo: str,
        *,
        after: str = "",
        since: datetime | None = None,
        app: str | None = None,
        env: str | None = None,
        limit: int = 100,
    ) -> tuple[list[Record], str | None]:
        """Records of `repo`, oldest first, from the cursor `after` (exclusive) and time
        `since`, of `app` and `env`; at most `limit`, and the cursor of the next page (None:
        there is none). The cursor is opaque: a row number (SQLite), a stream id (Redis)."""
        limit = max(1, min(limit, AUDIT_PAGE_MAX))
        if self._redis:
            return self._audit_redis(repo, after, since, app, env, limit)
        where, args = ["repo = ?"], [repo]
        if after:
            where.append("seq > ?")
            args.append(str(int(after)))
        if since is not None:
            where.append("at >= ?")
            args.append(str(since.timestamp()))
        if env is not None:
            where.append("env = ?")
            args.append(env)
        if app is not None:
            where.append("instr(apps, ?) > 0")
            args.append(f",{app},")
        with closing(self._sqlite()) as db:
            rows = db.execute(
                f"SELECT seq, record FROM promobot_audit WHERE {' AND '.join(where)} "
                "ORDER BY seq LIMIT ?",
                (*args, limit + 1),
            ).fetchall()
        found = [Record.parse(text) for _, text in rows[:limit]]
        return found, str(rows[limit - 1][0]) if len(rows) > limit else None

    def _audit_redis(
        self,
        repo: str,
        after: str,
        since: datetime | None,
        app: str | None,
        env: str | None,
        limit: int,
    ) -> tuple[list[Record], str | None]:
        conn = self.huey.storage.conn
        key = f"{prefix(repo)}.audit"
        # stream ids start with the server's milliseconds: `since` skips what came before
        start = f"({after}" if after else f"{int(since.timestamp() * 1000)}-0" if since else "-"
        found: list[Record] = []
        scanned = 0
        while len(found) < limit and scanned < 10 * AUDIT_PAGE_MAX:  # a sparse filter: paged
            batch = conn.xrange(key, start, "+", count=max(limit, 100))
            if not batch:
                return found, None
            for entry_id, fields in batch:
                scanned += 1
                ident = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                start = f"({ident}"
                record = Record.parse(fields[b"r"].decode())
                if audit_matches(record, app, env, since):
                    found.append(record)
                    if len(found) == limit:
                        more = conn.xrange(key, start, "+", count=1)
                        return found, ident if more else None
        return found, start.removeprefix("(")

    def submit(self, job: dict[str, Any], delay: float = 0, priority: int = 0) -> None:
        if self.shared and job.get("kind") != "delivery" and "repo" not in job:
            raise ValueError("a job on the shared queue names its repo")
        if delay:
            self._task.schedule(args=(json.dumps(job), 0), delay=delay, priority=priority)
        else:
            self._task(json.dumps(job), 0, priority=priority)

    def push(self, name: str, item: str) -> None:
        """Keep `item` in the list `name` (taken out by `take`)."""
        if self._redis:
            self.huey.storage.conn.rpush(name, item)
            return
        with closing(self._sqlite()) as db:
            db.execute("INSERT INTO promobot_items (name, item) VALUES (?, ?)", (name, item))

    def take(self, name: str) -> list[str]:
        """Every item of the list `name`, taken out at once (two takers never share one)."""
        if self._redis:
            pipe = self.huey.storage.conn.pipeline(transaction=True)
            pipe.lrange(name, 0, -1).delete(name)
            taken, _ = pipe.execute()
            return [i.decode() for i in taken]
        with closing(self._sqlite()) as db:
            rows = db.execute(
                "DELETE FROM promobot_items WHERE name = ? RETURNING item", (name,)
            ).fetchall()
            return [r[0] for r in rows]

    # --- coalescing: many requests for a sync, few syncs ----------------------------------------

    def count(self, counter: str, items: str, item: str | None) -> int:
        """Count a request on `counter` (keeping `item` in `items`); the request's ticket."""
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

    def begin(self, counter: str, items: str) -> tuple[int, list[str]]:
        """The count so far and the items kept with it, taken out."""
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

    def raise_to(self, counter: str, ticket: int) -> None:
        """Raise `counter` to `ticket`, never lower it."""
        if self._redis:
            # one round trip, atomic: raise the counter, never lower it
            self.huey.storage.conn.eval(
                "if tonumber(redis.call('get', KEYS[1]) or '0') < tonumber(ARGV[1]) then "
                "redis.call('set', KEYS[1], ARGV[1]) end",
                1,
                counter,
                ticket,
            )
            return
        with closing(self._sqlite()) as db:
            db.execute(
                "INSERT INTO promobot_counters (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)",
                (counter, ticket),
            )

    def counter(self, key: str) -> int:
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

    def run_scheduled(self) -> int:
        """Run every job there is now, those due later too, as if their time had come (tests
        that keep a clock of their own: the queue's times are the machine's). Jobs these
        submit wait for the next call."""
        tasks = []
        while (task := self.huey.dequeue()) is not None:  # a delayed job waits in the queue
            tasks.append(task)
        tasks += self.huey.read_schedule(datetime.now(UTC).replace(tzinfo=None) + _FAR)
        for task in tasks:
            task.eta = None  # due now: huey puts a task whose time has not come back
            self.huey.execute(task)
        return len(tasks)

    def depth(self) -> int:
        return int(self.huey.pending_count()) + int(self.huey.scheduled_count())

    def _execute(self, payload: str, attempt: int, task: Any = None) -> None:
        job = json.loads(payload)
        repo = str(job.get("repo") or self.repo)
        priority = int(getattr(task, "priority", None) or 0)
        try:
            if job.get("kind") in UNLOCKED:
                self._run(job)
                return
            if self.shared:
                token = self._try_lock(repo, payload, attempt, priority)
                if token is None:
                    return  # parked: the lock's holder puts it back
                try:
                    self._run(job)
                finally:
                    self._unlock(repo, token)
                return
            with self._locked(repo):
                self._run(job)
        except Paced as exc:  # no failure: the job waits for room under the forge's limits
            log.info(
                "job paced",
                extra={"job": job.get("id"), "delay": round(exc.retry_after, 2)},
            )
            self._task.schedule(args=(payload, attempt), delay=exc.retry_after, priority=priority)
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
            self._task.schedule(args=(payload, attempt + 1), delay=delay, priority=priority)

    # --- locks ----------------------------------------------------------------------------------

    def _lock_key(self, repo: str) -> str:
        return f"{self.huey.name}.lock.repo:{repo}"

    @contextmanager
    def _locked(self, repo: str) -> Iterator[None]:
        """The repo's lock. On Redis it expires (redis-py's lock: SET NX PX, checked release),
        so a killed worker cannot block the repo for long; SQLite has no expiry, so its locks
        are cleared when a process starts (SQLite is for one host and one process).

        A job that finds the repo busy waits up to `LOCK_WAIT` for it (jobs on one repo are
        seconds long) before it is put back: rescheduling at once made jobs retry against
        each other for seconds while the repo stood idle in between."""
        if not self._redis:
            lock = self.huey.lock_task(f"repo:{repo}")
            self._wait_for(lock.acquire)
            try:
                yield
            finally:
                lock.release()
            return
        held = self.huey.storage.conn.lock(self._lock_key(repo), timeout=self.settings.lock_seconds)
        if not held.acquire(blocking=True, blocking_timeout=LOCK_WAIT):
            raise TaskLockedException(f"repo:{repo} is locked")
        try:
            yield
        finally:
            with suppress(LockError):  # it expired while we worked: someone may hold it now
                held.release()

    def _try_lock(self, repo: str, payload: str, attempt: int, priority: int) -> str | None:
        """Take `repo`'s lock at once, or park the job beside it (shared queue). A lock on Redis
        expires after `lock_ttl`, so a killed worker parks a repo's jobs for that long at most
        (the next job that runs on the repo puts them back); the SQLite lock is cleared when a
        process starts."""
        token = uuid.uuid4().hex  # the holder's own: its release never frees a later holder's
        if self._redis:
            taken = self.huey.storage.conn.set(
                self._lock_key(repo), token, nx=True, ex=self.settings.lock_seconds
            )
        else:
            taken = self.huey.put_if_empty(self._lock_key(repo), token)
        if taken:
            return token
        self.push(self._parked(repo), json.dumps([payload, attempt, priority]))
        log.info("job parked", extra={"job": json.loads(payload).get("id"), "repo": repo})
        # The holder may have released between our try and our push: it then found nothing
        # to put back, so look again ourselves — one of the two always sees the parked job.
        if not self._is_locked(repo):
            self._unpark(repo)
        return None

    def _unlock(self, repo: str, token: str) -> None:
        if self._redis:  # only if still ours: past `lock_ttl` another worker may hold it
            self.huey.storage.conn.eval(
                "if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('del', KEYS[1]) end",
                1,
                self._lock_key(repo),
                token,
            )
        else:  # one process: nobody else can have taken it
            self.huey.delete(self._lock_key(repo))
        self._unpark(repo)

    def _is_locked(self, repo: str) -> bool:
        if self._redis:
            return bool(self.huey.storage.conn.exists(self._lock_key(repo)))
        return bool(self.huey.storage.has_data_for_key(self._lock_key(repo)))

    def _parked(self, repo: str) -> str:
        return f"{prefix(repo)}.parked"

    def _unpark(self, repo: str) -> None:
        for item in self.take(self._parked(repo)):
            payload, attempt, priority = json.loads(item)
            self._task(payload, attempt, priority=priority)

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


class RepoQueue:
    """One repo's view of a queue: its jobs, its delivery ids, its ledger, its sync tickets."""

    def __init__(self, queue: Queue, repo: str) -> None:
        self.queue = queue
        self.repo = repo
        self.prefix = prefix(repo)

    @property
    def huey(self) -> Huey:
        return self.queue.huey

    def seen(self, delivery: str) -> bool:
        """Record a delivery id; True if it was recorded before (a duplicate)."""
        return not self.queue.first(f"{self.prefix}.delivery.{delivery}", DEDUPE_TTL)

    def claim(self, key: str) -> bool:
        """True the first time `key` is claimed (a comment's commands may run), then False."""
        return self.queue.first(f"{self.prefix}.ledger.{key}", LEDGER_TTL)

    def remember(self, name: str, value: str) -> None:
        """Keep `value` under `name` for this repo, for every process (a cluster's report)."""
        self.queue.put(f"{self.prefix}.value.{name}", value)

    def recall(self, name: str) -> str | None:
        return self.queue.get(f"{self.prefix}.value.{name}")

    def audit_append(self, record: Record) -> None:
        self.queue.audit_append(self.repo, record)

    def audit_read(
        self,
        *,
        after: str = "",
        since: datetime | None = None,
        app: str | None = None,
        env: str | None = None,
        limit: int = 100,
    ) -> tuple[list[Record], str | None]:
        return self.queue.audit_read(
            self.repo, after=after, since=since, app=app, env=env, limit=limit
        )

    def window(self, key: str, seconds: float, now: float | None = None) -> float:
        """Seconds left in `key`'s window, or 0 after starting a new one of `seconds` (a
        batched environment is written at most once per window; losing the store costs one
        early write, never a lost one)."""
        return self.queue.window_left(f"{self.prefix}.window.{key}", seconds, now)

    def submit(self, job: dict[str, Any], delay: float = 0, priority: int = 0) -> None:
        if self.queue.shared:
            job = {**job, "repo": self.repo}
        self.queue.submit(job, delay=delay, priority=priority)

    def request(self, name: str, item: str | None = None) -> int:
        """Count a request for `name` (keeping `item` with it); the request's ticket."""
        return self.queue.count(
            f"{self.prefix}.requested.{name}", f"{self.prefix}.items.{name}", item
        )

    def served(self, name: str, ticket: int) -> bool:
        """Whether work that began after request `ticket` was made has already finished."""
        return self.queue.counter(f"{self.prefix}.served.{name}") >= ticket

    def serve(self, name: str) -> tuple[int, list[str]]:
        """Begin serving `name`: every request so far (the ticket to pass to `done`) and the
        items they kept, taken out so that nothing is served twice."""
        return self.queue.begin(f"{self.prefix}.requested.{name}", f"{self.prefix}.items.{name}")

    def done(self, name: str, ticket: int) -> None:
        """Every request up to `ticket` is served (the counter only ever rises)."""
        self.queue.raise_to(f"{self.prefix}.served.{name}", ticket)

    def depth(self) -> int:
        return self.queue.depth()

    def run_pending(self) -> int:
        return self.queue.run_pending()

    def run_scheduled(self) -> int:
        return self.queue.run_scheduled()

    def start(self, workers: int) -> None:
        self.queue.start(workers)

    def stop(self) -> None:
        self.queue.stop()

    def run_forever(self, workers: int) -> None:
        self.queue.run_forever(workers)
