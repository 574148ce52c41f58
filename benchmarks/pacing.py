"""GitHub's secondary limits under a flood: ten repos of one App installation, pacing on.

GitHub lets an installation make about 80 content-creating requests (POST, PATCH, PUT,
DELETE) a minute and 500 an hour, whatever the repo. This floods ten environment repos of one
installation of the GitHub simulator with registry notifications — a new image tag for one of
their apps, --rate a second, round robin — and records every content-creating request the
simulator receives from promobot's installation token, with its time. Meanwhile a person
comments `/merge` on a promotion PR of an eleventh repo of the same installation, which
nothing else touches, every --merge-every seconds from then on (the first when the flood has
filled the window); its latency is from the comment to the merge, as the simulator has it.

promobot runs in this process as two fleets on one queue store (Redis db 9 on 127.0.0.1 or
--redis URL, flushed first; or --queue sqlite: one SQLite file), each with two worker threads
and its own pacers, as `promobot serve` and `promobot worker` would run in two processes: they
share nothing but the store. The simulator's webhooks and the registry's notifications reach
the first fleet's web app (`/webhooks/github`, `/webhooks/registry`), as they reach
`promobot serve`.

Each flooded repo: --apps apps, `dev` (fed by the registry, auto-merges) and `staging` (from
dev): a push opens a dev PR, merges it and opens or rebuilds the app's staging PR. The quiet
repo: a staging PR per app, opened before the flood (unpaced) and merged by the `/merge`s.

Two runs, each on a fresh simulator and store:
  minute  real time, --minutes of flood, the pacer as the product builds it (60 writes a
          minute, or --writes-per-minute, and 450 an hour): the most writes in any 60 s
  hour    the pacer's windows --speed times shorter (its minute 60/speed s, its hour
          3600/speed s), --hours hours of flood in those scaled hours, everything else in
          real time: the most writes in any scaled 60 s and 3600 s, from the recorded times
          stretched --speed times. A write's cost does not change with the clock, so the
          hour's limit binds here, not the minute's (60 writes in 2 s is more than this
          machine makes); the minute run shows the minute's.
--unpaced: the minute run only, with pacing off (PROMOBOT_GITHUB_WRITES_PER_MINUTE=0), for
what the flood asks; --hours 0: the minute run only; --quick: half a minute, then half an
hour at × 120, a /merge every 10 s (a smoke run: too short to say much).

    .venv/bin/python benchmarks/pacing.py [--minutes 3] [--hours 1.5] [--speed 30] [--rate 2]
                                          [--apps 6] [--merge-every 20] [--queue redis|sqlite]
                                          [--redis URL] [--writes-per-minute 60]
                                          [--unpaced] [--quick]

A table goes to stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import metrics
from bot.fleet import Fleet
from bot.pacing import WRITES_PER_HOUR, Pacer
from bot.queue import Queue
from bot.service import Service
from bot.settings import Settings
from bot.web.app import create_app
from tests.forges.test_github import KEY, PUBLIC
from tests.forgesim import Server, World
from tests.sources.servers import TokenRegistry, free_port, serve

OWNER = "acme"
FLOODED = [f"{OWNER}/flood-{i:02d}" for i in range(1, 11)]
QUIET = f"{OWNER}/quiet"
INSTALLATION = 7
PERSON = "alice"
SIGNING_KEY = "pacing-benchmark-signing-key-0123456789abcdef"
REGISTRY_TOKEN = "pacing-bench-registry-token"
REDIS = "redis://127.0.0.1:6379/9"  # this benchmark's (--redis): flushed before each run
WRITES = ("POST", "PATCH", "PUT", "DELETE")
# GraphQL queries are reads sent as POST (promobot sends no mutation): the pacer lets them be
GRAPHQL = "POST /api/graphql"
QUIET_APPS = 12  # staging PRs waiting for a /merge: more than a run asks for
LIMITS = {"max_writes_in_60s": 80, "max_writes_in_3600s": 500}  # GitHub's
MERGE_TARGET = 5.0  # seconds from a /merge to the merge
WINDOWS = {"max_writes_in_60s": 60.0, "max_writes_in_3600s": 3600.0}
BEFORE, CURRENT = "1.0.0", "1.1.0"


def app_name(i: int) -> str:
    return f"app{i:02d}"


def repo_files(namespace: str, registry: str, apps: int, staging: str) -> dict[str, str]:
    config = [
        "version: 1\nenvironments:\n  dev: {auto_merge: true}\n  staging: {from: dev}\napps:\n"
    ]
    files: dict[str, str] = {}
    for i in range(apps):
        app = app_name(i)
        config.append(
            f"  {app}:\n    components:\n      image:\n"
            f"        source: {{image: {registry}/{namespace}/{app}}}\n"
            f'        target: {{file: "envs/{{env}}/{app}/values.yaml", field: image.tag}}\n'
        )
        for env, tag in (("dev", CURRENT), ("staging", staging)):
            files[f"envs/{env}/{app}/values.yaml"] = f'image:\n  tag: "{tag}"\n'
    return {".promobot.yaml": "".join(config), **files}


def notification(registry: TokenRegistry, host: str, repository: str, tag: str) -> bytes:
    """The CNCF Distribution notification a registry sends for a pushed tag."""
    digest = registry.digest_of(repository, tag)
    target = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": digest,
        "size": 528,
        "length": 528,
        "repository": repository,
        "url": f"http://{host}/v2/{repository}/manifests/{digest}",
        "tag": tag,
    }
    event = {
        "id": str(uuid.uuid4()),
        "timestamp": datetime.now(UTC).isoformat(),
        "action": "push",
        "target": target,
        "request": {"id": str(uuid.uuid4()), "host": host, "method": "PUT"},
        "actor": {},
        "source": {"addr": "registry:5000"},
    }
    return json.dumps({"events": [event]}).encode()


def most_within(times: list[float], window: float) -> int:
    """The most of `times` (sorted) in any window of `window` seconds: (t - window, t]."""
    best, first = 0, 0
    for i, t in enumerate(times):
        while t - times[first] >= window:
            first += 1
        best = max(best, i - first + 1)
    return best


def paced_so_far() -> Counter[str]:
    found: Counter[str] = Counter()
    for family in metrics.WRITES_PACED.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                found[f"{sample.labels['spends']} {sample.labels['outcome']}"] += int(sample.value)
    return found


class Problems(logging.Handler):
    """promobot's warnings and errors, counted by message: a benchmark must not hide one."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        error = str(getattr(record, "error", ""))[:90]
        self.seen[f"{record.getMessage()}: {error}".strip(": ")] += 1


@dataclass
class Result:
    name: str
    speed: float
    seconds: float  # of flood, real time
    pushes: int = 0
    writes: list[float] = field(default_factory=list)  # epoch times, as recorded
    merges: list[float] = field(default_factory=list)  # seconds from comment to merge
    unmerged: int = 0  # /merges not merged within a minute
    paced: Counter[str] = field(default_factory=Counter)
    endpoints: Counter[str] = field(default_factory=Counter)

    def scaled(self, started: float) -> list[float]:
        return sorted(started + (t - started) * self.speed for t in self.writes)

    def summary(self, started: float) -> dict[str, Any]:
        times = self.scaled(started)
        merges = sorted(self.merges)
        counted = {window: most_within(times, seconds) for window, seconds in WINDOWS.items()}
        return {
            "speed": self.speed,
            "flood_seconds_real": round(self.seconds, 1),
            "flood_seconds_scaled": round(self.seconds * self.speed, 1),
            "pushes": self.pushes,
            "writes": len(times),
            **counted,
            "within_github_limits": all(counted[k] <= limit for k, limit in LIMITS.items()),
            "merge_seconds": [round(m, 2) for m in merges],
            "merge_p50_s": round(statistics.median(merges), 2) if merges else None,
            "merge_max_s": round(max(merges), 2) if merges else None,
            "merges_not_done": self.unmerged,
            "merges_within_target": not self.unmerged and all(m <= MERGE_TARGET for m in merges),
            "paced": dict(self.paced),
            "top_writes": dict(self.endpoints.most_common(6)),
        }


@dataclass
class Stage:
    """One run's simulator, registry and promobot (two fleets on one store)."""

    server: Server
    registry: TokenRegistry
    registry_host: str
    data: Path
    keyfile: Path
    queue: str | None  # a Redis URL, or None: an SQLite file in `data`
    per_minute: int
    speed: float
    fleets: list[Fleet] = field(default_factory=list)
    web: str = ""

    @property
    def world(self) -> World:
        return self.server.world

    def settings(self, **more: Any) -> Settings:
        values: dict[str, Any] = {
            "forge": "github",
            "github_url": self.server.github_url,
            "github_app_id": 42,
            "github_private_key_file": self.keyfile,
            "signing_key": SIGNING_KEY,
            "data_dir": self.data,
            "queue_url": self.queue,
            "webhook_secret": self.world.webhook_secret,
            "registry_token": REGISTRY_TOKEN,
            "reconcile_interval": "1h",  # the reconcile at start, then none during the run
            "github_writes_per_minute": self.per_minute,
        }
        return Settings(**(values | more))

    def fleet(self) -> Fleet:
        settings = self.settings()
        if self.speed == 1:
            return Fleet(settings)  # the pacer as the product builds it
        store = Queue(settings, None, lambda job: None)  # the same store, for the pacers

        def pacer_for(settings: Settings, key: str) -> Pacer | None:
            minute, hour = 60 / self.speed, 3600 / self.speed
            per_minute = settings.github_writes_per_minute
            return Pacer(store, key, per_minute, minute=minute, hour=hour)

        return Fleet(settings, pacer_for=pacer_for)


def build(stack: ExitStack, queue: str | None, per_minute: int, speed: float, apps: int) -> Stage:
    server = stack.enter_context(Server())
    world = server.world
    world.rate_limit = world.rate_remaining = 10**9  # the writes are measured, not the calls
    world.add_user(PERSON, token=f"{PERSON}-token")
    registry = TokenRegistry(page_size=1000)
    port = free_port()
    registry.url = f"http://127.0.0.1:{port}"
    stack.enter_context(serve(registry.app(), port))
    host = f"127.0.0.1:{port}"
    data = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="promobot-pacing-")))
    keyfile = data / "app.pem"
    keyfile.write_text(KEY)
    for repo in [*FLOODED, QUIET]:
        namespace = repo.rpartition("/")[2]
        count = QUIET_APPS if repo == QUIET else apps
        staging = BEFORE if repo == QUIET else CURRENT  # the quiet repo: a staging PR per app
        world.add_repo(repo, repo_files(namespace, host, count, staging)).permissions.update(
            {"promobot[bot]": "admin", PERSON: "write"}
        )
        for i in range(count):
            registry.repos[f"{namespace}/{app_name(i)}"] = [BEFORE, CURRENT]
    world.apps[42] = {
        "public_key": PUBLIC,
        "installation": INSTALLATION,
        "slug": "promobot",
        "installations": {INSTALLATION: [*FLOODED, QUIET]},
    }
    if queue:
        redis.Redis.from_url(queue).flushdb()
    stage = Stage(server, registry, host, data, keyfile, queue, per_minute, speed)
    # the quiet repo's PRs, opened before the run by a promobot of its own, unpaced
    alone = stage.settings(
        repo=QUIET, data_dir=data / "setup", queue_url=None, workers=0, github_writes_per_minute=0
    )
    setup = Service(alone)
    opened = [a for a in setup.sync() if a.outcome == "opened"]
    if len(opened) != QUIET_APPS:
        raise SystemExit(f"setup: {len(opened)} staging PRs opened in {QUIET}, not {QUIET_APPS}")
    return stage


@contextmanager
def running(stage: Stage) -> Iterator[None]:
    """Two fleets on one store, started as `promobot serve` and `promobot worker` would be."""
    serve_fleet, worker = stage.fleet(), stage.fleet()
    for fleet in (serve_fleet, worker):
        fleet.discover()
        if sorted(fleet.served()) != sorted([*FLOODED, QUIET]):
            raise SystemExit(f"discovery found {fleet.served()}")
    with serve(create_app(serve_fleet)) as url:
        stage.web = url
        stage.world.webhook_url = f"{url}/webhooks/github"
        stage.fleets = [serve_fleet, worker]
        for fleet in stage.fleets:
            fleet.start()
        try:
            yield
        finally:
            for fleet in stage.fleets:
                fleet.stop()


def flood(stage: Stage, rate: float, apps: int, stop: threading.Event, sent: list[int]) -> None:
    """Registry notifications, `rate` a second, round robin over the flooded repos' apps."""
    n = 0
    started = time.monotonic()
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            repo = FLOODED[n % len(FLOODED)]
            app = app_name((n // len(FLOODED)) % apps)
            image = f"{repo.rpartition('/')[2]}/{app}"
            tag = f"2.0.{n // (len(FLOODED) * apps)}"
            stage.registry.repos[image].append(tag)
            body = notification(stage.registry, stage.registry_host, image, tag)
            client.post(
                f"{stage.web}/webhooks/registry",
                content=body,
                headers={
                    "Authorization": f"Bearer {REGISTRY_TOKEN}",
                    "Content-Type": "application/vnd.docker.distribution.events.v2+json",
                },
            )
            n += 1
            sent[0] = n
            stop.wait(max(started + n / rate - time.monotonic(), 0))


def merge_one(stage: Stage, number: int) -> float | None:
    """A person comments `/merge` on the quiet repo's PR `number`: seconds until it is merged
    (None: not within a minute)."""
    posted = time.monotonic()
    response = httpx.post(
        f"{stage.server.github_url}/repos/{QUIET}/issues/{number}/comments",
        json={"body": "/merge"},
        headers={"Authorization": f"token {PERSON}-token"},
        timeout=30,
    )
    response.raise_for_status()
    pull = stage.world.repos[QUIET].pulls[number]
    while time.monotonic() - posted < 60:
        if pull.merged:
            return time.monotonic() - posted
        time.sleep(0.05)
    return None


def run(
    name: str, args: argparse.Namespace, per_minute: int, speed: float, seconds: float
) -> tuple[Result, float]:
    result = Result(name, speed, seconds)
    with ExitStack() as stack:
        queue = args.redis if args.queue == "redis" else None
        stage = build(stack, queue, per_minute, speed, args.apps)
        world = stage.world
        numbers = sorted(world.repos[QUIET].pulls)
        before = paced_so_far()
        with running(stage):
            world.requests = []
            started = time.time()
            stop, sent = threading.Event(), [0]
            flooding = threading.Thread(
                target=flood, args=(stage, args.rate, args.apps, stop, sent), daemon=True
            )
            flooding.start()
            began = time.monotonic()
            ends = began + seconds
            next_merge = began + args.merge_every  # the window is full by then
            # Every /merge due within the flood is made, even when this thread wakes late (on
            # a loaded machine, after the flood's end).
            while (due := bool(numbers) and next_merge < ends) or time.monotonic() < ends:
                if due and time.monotonic() >= next_merge:
                    took = merge_one(stage, numbers.pop(0))
                    if took is None:
                        result.unmerged += 1
                    else:
                        result.merges.append(took)
                    print(f"  {name}: /merge {took if took is None else round(took, 2)} s",
                          file=sys.stderr)  # fmt: skip
                    next_merge += args.merge_every
                time.sleep(0.2)
            stop.set()
            flooding.join()
            result.pushes = sent[0]
            for t, endpoint, login in list(world.requests):
                method = endpoint.split(" ")[1]
                asked = endpoint.removeprefix("github ")
                if login == "promobot[bot]" and method in WRITES and asked != GRAPHQL:
                    result.writes.append(t)
                    result.endpoints[asked] += 1
        result.paced = paced_so_far() - before
    return result, started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="the minute run's flood")
    parser.add_argument("--hours", type=float, default=1.5, help="the hour run's (0: none)")
    parser.add_argument("--speed", type=float, default=30.0, help="the hour run's time scale")
    parser.add_argument("--rate", type=float, default=2.0, help="registry pushes a second")
    parser.add_argument("--apps", type=int, default=6, help="apps in each flooded repo")
    parser.add_argument("--merge-every", type=float, default=20.0, help="seconds between /merges")
    parser.add_argument("--queue", choices=["redis", "sqlite"], default="redis")
    parser.add_argument("--redis", default=REDIS, help="the Redis store, flushed first")
    parser.add_argument(
        "--writes-per-minute", type=int, default=60,
        help="the pacer's limit (the product's 60; fewer: paced however slow the machine)",
    )  # fmt: skip
    parser.add_argument("--unpaced", action="store_true", help="the minute run, pacing off")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.hours, args.speed, args.merge_every = 0.5, 0.5, 120.0, 10.0
    if args.minutes <= 0 or args.hours < 0 or args.speed < 1 or args.rate <= 0:
        parser.error("need --minutes > 0, --hours ≥ 0, --speed ≥ 1 and --rate > 0")
    if args.writes_per_minute < 1:
        parser.error("need --writes-per-minute ≥ 1 (--unpaced: no pacing)")

    problems = Problems()
    promobot_log = logging.getLogger("promobot")
    promobot_log.addHandler(problems)
    promobot_log.propagate = False
    out: dict[str, Any] = {
        "repos_flooded": len(FLOODED),
        "apps_per_repo": args.apps,
        "rate_per_s": args.rate,
        "queue": args.queue,
        "processes": 2,
        "workers_each": 2,
        "writes_per_minute": args.writes_per_minute,
        "writes_per_hour": WRITES_PER_HOUR,
    }
    runs: list[tuple[str, int, float, float]] = [
        ("minute", 0 if args.unpaced else args.writes_per_minute, 1.0, args.minutes * 60)
    ]
    if args.hours and not args.unpaced:
        runs.append(("hour", args.writes_per_minute, args.speed, args.hours * 3600 / args.speed))
    for name, per_minute, speed, seconds in runs:
        print(f"{name}: {seconds:.0f} s of flood (time × {speed:g})", file=sys.stderr)
        result, started = run(name, args, per_minute, speed, seconds)
        out[name] = result.summary(started)
    out["promobot_warnings"] = dict(problems.seen.most_common(8))

    print(
        f"\n{'run':7} {'×':>4} {'pushes':>7} {'writes':>7} {'max/60s':>8} {'max/3600s':>10} "
        f"{'/merge p50':>10} {'max':>6}  paced",
        file=sys.stderr,
    )
    for name, _, _, _ in runs:
        r = out[name]
        print(
            f"{name:7} {r['speed']:>4g} {r['pushes']:>7} {r['writes']:>7} "
            f"{r['max_writes_in_60s']:>8} {r['max_writes_in_3600s']:>10} "
            f"{r['merge_p50_s'] or '-':>10} {r['merge_max_s'] or '-':>6}  {r['paced']}",
            file=sys.stderr,
        )
    for message, count in problems.seen.most_common(8):
        print(f"  promobot said {count}×: {message}", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
