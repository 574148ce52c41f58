"""What promobot costs in forge API calls at the size real users have — the budget that matters.

A GitHub App installation may make 5,000 calls an hour; GitHub's secondary limits allow about
80 content-creating requests a minute and 500 an hour. This runs the service in this process
(`bot.service.Service`, no worker threads: every job is run here, one after the other) against
the GitHub forge simulator through the real `GitHubForge` (PyGithub over HTTP), a token-protected
OCI registry and a Helm chart repository, all on 127.0.0.1, and counts what each step costs.

The environment repo: --apps apps × 6 environments — dev (fed by the registry, auto-merges),
qa (from dev, auto-merges), staging (from qa), prod-eu, prod-us, prod-asia (from staging, one
approval from @acme/sre) — each app with an image (`values.yaml` `image.tag`) and a chart
(`Chart.yaml` `dependencies[name=appNNN].version`). The first --open-prs apps run an older image
in staging than in qa, so the first sync (which also evaluates the PRs it opens, as every sync
does) opens that many staging PRs. Only then are the scenarios measured:

  push           a registry push of a new tag for one app (a Distribution notification): dev PR,
                 auto-merged, qa PR, auto-merged, staging PR
  merge-staging  a person merges that staging PR: three prod PRs
  merge-prod     a person merges one of them (prod-eu)
  approval       a person approves another (prod-us): the review webhook
  tick           the mean reconcile of an hour with nothing new (after one that settles what
                 the scenarios moved): 12 of them, 5 minutes apart on the polling schedule's
                 clock, each polling the sources due (every source at first, then an unchanged
                 one less and less often: `bot.sources.spread`), then the sync job it queues
                 (with no workers it is taken off the queue and run here), on each of --repos
                 repos; `tick_hour` in the JSON is the whole hour

Every webhook the simulator sends as a consequence — the echoes of promobot's own writes
included, since GitHub sends them and promobot pays to look at them — is handed to the service
as `/webhooks/github` does: appended as a delivery job, which the intake parses, filters
(`bot.intake.Relevance`) and deduplicates, and the event jobs it queues run, until no new one
comes. What the person does through the API is their own budget and is
not counted; everything promobot does from then on is.

Per scenario: `charged` (GitHub API calls that count against the rate limit), `free`
(conditional requests answered 304 Not Modified, which GitHub does not charge), `writes`
(POST/PATCH/PUT/DELETE: what the secondary limits count), `registry` (requests to the registry
and the chart repository) and `jobs` (jobs run: events handled, reconcile and sync). The table
on stderr also shows the webhooks promobot's own writes caused (`echoes`) and the wall time.

Hourly projection, from the measured costs (each scenario's `charged` calls and `writes`),
for one installation with 2,000 apps × 6 environments in 10 repos, 300 image pushes an hour,
200 open promotion PRs and a reconcile every 5 minutes:

  per hour = 300 × push                      every push goes dev → qa → a staging PR
           +  30 × merge-staging             a tenth of pushes is merged into staging (the
                                             rest are superseded by a newer push first)
           +  90 × (approval + merge-prod)    each of those opens 3 prod PRs; each gets one
                                             approval and is merged
           + 120 × tick                      12 reconciles an hour in each of 10 repos, each
                                             costing what the tick cost in one measured repo
                                             (with --repos R: the mean of the R repos)

Measured on one repo that holds --apps apps and all --open-prs open PRs, so a repo's tick is
taken at its busiest and the tick term is an upper bound when the open PRs are spread over
the 10 repos. The number of apps changes what a tick asks the registry, not the forge.
Targets (charged calls): push ≤ 40, merge-staging ≤ 40, approval ≤ 10, tick ≤ 10 per repo;
projection ≤ 2,500 calls/h and ≤ 250 writes/h.

The tick is measured with every registry token expired, as it is at every tick when tokens live
as long as the interval (Docker Hub's 300 s and the default 5 minutes): the registry here gives
one-second tokens and the bench waits that long first. Tokens are asked for 50 repositories at
a time; the registry sends no ETag on tag lists (as `docker-registry`, Harbor and Quay do not),
so every tag list is read.

--batch MINUTES measures the batched layout instead: dev and qa take direct commits
(`propose: commit`), every environment has `batch: MINUTESm` and staging a 30-minute soak
(so each look at the staging batch asks when its apps got to qa); its scenarios add
`push-deferred` (a second push inside the windows: it writes nothing) and `window` (the sync
the windows schedule, writing what came), and the projection counts one `window` per repo and
window an hour (at most one per push) plus a `push-deferred` per push; and since a batch PR
changes at most once a window, its staging merges are at most one per repo and window (each
still bringing three prod batches, each approved and merged).

    .venv/bin/python benchmarks/scale.py [--apps 500] [--open-prs 200] [--repos 1] [--quick]
                                         [--batch MINUTES]

A table goes to stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import intake
from bot.gatekeeper import SETTLE_SECONDS
from bot.service import Service
from bot.settings import Settings
from tests.forgesim import Server, World
from tests.forgesim.world import Pull, Repo
from tests.sources.servers import HelmServer, TokenRegistry, free_port, serve

OWNER = "acme"
TOKEN = "bench-token"
PERSON = "alice"  # in @acme/sre: may approve prod
SIGNING_KEY = "scale-benchmark-signing-key-0123456789abcdef"
ENVS = ["dev", "qa", "staging", "prod-eu", "prod-us", "prod-asia"]
PRODS = ["prod-eu", "prod-us", "prod-asia"]
OLD, CURRENT, NEW = "1.0.0", "1.1.0", "1.2.0"  # image tags: staging's, dev's, the pushed one
CHART = "2.3.0"
WRITES = ("POST", "PATCH", "PUT", "DELETE")
# a registry token's life (promobot renews it 10 s early): one second, so the tick can be
# measured with every token expired without waiting five minutes
TOKEN_SECONDS = 1
TICKS_PER_HOUR = 12  # the reconciles of an hour, one every TICK_SECONDS (the default 5m)
TICK_SECONDS = 300.0
MAX_JOBS = 2000  # a scenario that keeps producing work past this is a loop, not a cost
SCENARIOS = ["push", "merge-staging", "merge-prod", "approval", "tick"]
TARGETS = {"push": 40, "merge-staging": 40, "approval": 10, "tick": 10}
HOURLY_TARGETS = {"calls_per_hour": 2500, "writes_per_hour": 250}

# The projection's installation, and how its work arrives (see the docstring).
MODEL = {
    "apps": 2000,
    "environments": len(ENVS),
    "repos": 10,
    "open_prs": 200,
    "pushes_per_hour": 300,
    "ticks_per_hour_per_repo": 12,
    "staging_merge_share": 0.1,
    "prod_prs_per_staging_merge": len(PRODS),
}

CONFIG_HEAD = """\
version: 1
environments:
  dev: {auto_merge: true}
  qa: {from: dev, auto_merge: true}
  staging: {from: qa}
  prod-eu: &prod {from: staging, gates: {approvals: 1, approvers: ["@acme/sre"]}}
  prod-us: *prod
  prod-asia: *prod
apps:
"""


def batched_head(minutes: int) -> str:
    """The same environments with `batch:` windows, and dev and qa taking direct commits."""
    w = f"batch: {minutes}m"
    return f"""\
version: 1
environments:
  dev: {{propose: commit, {w}}}
  qa: {{from: dev, propose: commit, {w}}}
  staging: {{from: qa, {w}, gates: {{soak: 30m}}}}
  prod-eu: &prod {{from: staging, {w}, gates: {{approvals: 1, approvers: ["@acme/sre"]}}}}
  prod-us: *prod
  prod-asia: *prod
apps:
"""


def app_name(i: int) -> str:
    return f"app{i:03d}"


def config(apps: int, images: str, charts: str, head: str = CONFIG_HEAD) -> str:
    parts = [head]
    for i in range(apps):
        app = app_name(i)
        parts.append(
            f"  {app}:\n"
            "    components:\n"
            "      image:\n"
            f"        source: {{image: {images}/{app}}}\n"
            f'        target: {{file: "envs/{{env}}/{app}/values.yaml", field: image.tag}}\n'
            "      chart:\n"
            f'        source: {{chart: {app}, repo: "{charts}"}}\n'
            f'        target: {{file: "envs/{{env}}/{app}/Chart.yaml", '
            f'field: "dependencies[name={app}].version"}}\n'
        )
    return "".join(parts)


def files(
    apps: int, open_prs: int, images: str, charts: str, head: str = CONFIG_HEAD
) -> dict[str, bytes]:
    """The repo's files; `images` is where its apps' images live (`host/namespace`)."""
    out = {".promobot.yaml": config(apps, images, charts, head).encode()}
    for i in range(apps):
        app = app_name(i)
        for env in ENVS:
            # the first `open_prs` apps run an older image from staging on: one staging PR each
            tag = OLD if i < open_prs and env not in ("dev", "qa") else CURRENT
            out[f"envs/{env}/{app}/values.yaml"] = (
                f'replicaCount: 2\nimage:\n  repository: {images}/{app}\n  tag: "{tag}"\n'
            ).encode()
            out[f"envs/{env}/{app}/Chart.yaml"] = (
                f"apiVersion: v2\nname: {app}\nversion: 0.1.0\ndependencies:\n"
                f"  - name: {app}\n    version: {CHART}\n    repository: {charts}\n"
            ).encode()
    return out


def helm_index(apps: int, charts: str) -> str:
    entries = "".join(
        f"  {app_name(i)}:\n"
        f"    - name: {app_name(i)}\n      version: {CHART}\n"
        f"      urls: [{charts}/{app_name(i)}-{CHART}.tgz]\n"
        for i in range(apps)
    )
    return f"apiVersion: v1\nentries:\n{entries}generated: '2026-01-01T00:00:00Z'\n"


def add_repo(world: World, full_name: str, content: dict[str, bytes]) -> Repo:
    """The simulator's `add_repo` writes one blob per git process; thousands of files go in at
    once through `git fast-import` instead."""
    repo = world.add_repo(full_name, {"README.md": "the environments\n"})
    parent = repo.git.resolve("refs/heads/main")
    stream = bytearray(
        b"commit refs/heads/main\ncommitter Ada Lovelace <ada@example.com> 1767225600 +0000\n"
        b"data 9\ngenerate\n" + f"from {parent}\n".encode()
    )
    for path, data in sorted(content.items()):
        stream += f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n"
    subprocess.run(
        ["git", "--git-dir", str(repo.git.path), "fast-import", "--quiet"],
        input=bytes(stream),
        check=True,
    )
    return repo


# --- counting ----------------------------------------------------------------------------------


@dataclass
class Cost:
    charged: int = 0
    free: int = 0
    writes: int = 0
    registry: int = 0
    jobs: int = 0
    echoes: int = 0  # webhooks the simulator sent while promobot worked
    seconds: float = 0.0
    endpoints: Counter[str] = field(default_factory=Counter)  # charged calls by endpoint
    sources: Counter[str] = field(default_factory=Counter)  # registry requests by kind

    def add(self, other: Cost) -> None:
        for name in ("charged", "free", "writes", "registry", "jobs", "echoes", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.endpoints.update(other.endpoints)
        self.sources.update(other.sources)

    def mean(self, n: int) -> Cost:
        """One of `n` like it (rounded to whole requests)."""
        mean = Cost(endpoints=Counter(), sources=Counter())
        for name in ("charged", "free", "writes", "registry", "jobs", "echoes"):
            setattr(mean, name, round(getattr(self, name) / n))
        mean.seconds = self.seconds / n
        mean.endpoints = Counter({k: round(v / n) for k, v in self.endpoints.items()})
        mean.sources = Counter({k: round(v / n) for k, v in self.sources.items()})
        return mean

    def summary(self) -> dict[str, Any]:
        return {
            "charged": self.charged,
            "free": self.free,
            "writes": self.writes,
            "registry": self.registry,
            "jobs": self.jobs,
            "top": dict(self.endpoints.most_common(5)),
        }


def short(endpoint: str) -> str:
    """`github GET /repos/{owner}/{repo}/pulls` → `GET /pulls`."""
    return endpoint.removeprefix("github ").replace("/repos/{owner}/{repo}", "")


class Problems(logging.Handler):
    """promobot's warnings and errors, shown once each: a benchmark must not hide a failure."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.name}: {record.getMessage()} {getattr(record, 'error', '')}".strip()
        if not self.seen[text]:
            print(f"  promobot said: {text}", file=sys.stderr)
        self.seen[text] += 1


# --- the bench ---------------------------------------------------------------------------------


@dataclass
class Tenant:
    """One environment repo and the promobot service that looks after it."""

    repo: str
    service: Service
    namespace: str  # where its apps' images are in the registry: `namespace/appNNN`


@dataclass
class Bench:
    server: Server
    registry: TokenRegistry
    helm: HelmServer
    data: Path
    apps: int
    open_prs: int
    batch: int = 0  # minutes: the batched layout's window; 0 for one PR per app
    registry_host: str = ""
    charts: str = ""
    tenants: list[Tenant] = field(default_factory=list)
    seen: int = 0  # deliveries handed on so far
    jobs: int = 0
    hours: list[Cost] = field(default_factory=list)  # the hours of ticks measured

    @property
    def world(self) -> World:
        return self.server.world

    def add_tenant(self, repo: str) -> Tenant:
        world = self.world
        # each repo's apps are other apps, with images of their own: a push for one repo is
        # nothing new for the others
        namespace = repo.rpartition("/")[2]
        for i in range(self.apps):
            self.registry.repos[f"{namespace}/{app_name(i)}"] = [OLD, CURRENT]
        images = f"{self.registry_host}/{namespace}"
        head = batched_head(self.batch) if self.batch else CONFIG_HEAD
        content = files(self.apps, self.open_prs, images, self.charts, head)
        add_repo(world, repo, content).permissions.update(
            {"promobot[bot]": "admin", PERSON: "write"}
        )
        settings = Settings(
            forge="github",
            repo=repo,
            signing_key=SIGNING_KEY,
            github_url=self.server.github_url,
            github_token=TOKEN,
            data_dir=self.data / repo.replace("/", "+"),
            workers=0,
            github_writes_per_minute=0,  # calls are measured here, not time: no pacing
        )
        service = Service(settings)
        service.intake.relevance.refresh()  # as `promobot serve` does at start
        tenant = Tenant(repo, service, namespace)
        self.tenants.append(tenant)
        return tenant

    # --- driving the service ---------------------------------------------------------------

    def run(self, tenant: Tenant, job: dict[str, Any]) -> None:
        self.jobs += 1
        if self.jobs > MAX_JOBS:
            raise SystemExit(f"more than {MAX_JOBS} jobs: promobot keeps finding work")
        tenant.service.run({"id": str(uuid.uuid4()), **job})

    def deliver(self, tenant: Tenant) -> None:
        """Every webhook the simulator sent since the last look, oldest first, until quiet:
        appended as `/webhooks/github` does, then taken and run as the workers would. The
        simulator records a delivery before it answers the call that caused it, so when a job
        returns, everything it caused is already here."""
        deliveries = self.world.deliveries
        while self.seen < len(deliveries):
            record = deliveries[self.seen]
            self.seen += 1
            body = json.dumps(record["payload"]).encode()  # the bytes the simulator sent
            headers = {"x-github-event": record["event"], "x-github-delivery": record["delivery"]}
            self.run(tenant, intake.delivery("github", headers, body))
            self.drain_queue(tenant)  # the event jobs the intake queued

    def drain_queue(self, tenant: Tenant) -> None:
        """Jobs the service queued for itself (a reconcile queues its sync), run here as a
        worker would run them. Jobs for minutes from now (a batched environment's next window)
        are not run: the bench says when time has passed (`open_windows`)."""
        huey = tenant.service.queue.huey
        while (task := huey.dequeue()) is not None:
            later = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=10)
            if task.eta is not None and task.eta > later:  # not a coalescing second
                continue
            payload, _attempt = task.args
            self.jobs += 1
            tenant.service.run(json.loads(payload))

    def open_windows(self, tenant: Tenant) -> None:
        """As if the batch windows had passed: forget when each environment was last written."""
        store = tenant.service.queue.huey.storage.filename
        with closing(sqlite3.connect(store)) as db, db:
            db.execute("DELETE FROM promobot_keys WHERE key LIKE '%.window.%'")

    def reconcile(self, tenant: Tenant) -> None:
        self.run(tenant, {"kind": "reconcile"})
        self.drain_queue(tenant)
        self.deliver(tenant)

    # --- people ----------------------------------------------------------------------------

    def as_person(self, method: str, path: str, **body: Any) -> Any:
        response = httpx.request(
            method,
            f"{self.server.github_url}{path}",
            json=body or None,
            headers={"Authorization": f"token {PERSON}-token"},
            timeout=60,
        )
        if response.status_code >= 300:
            raise SystemExit(f"{PERSON} could not {method} {path}: {response.text[:300]}")
        return response.json() if response.content else None

    def open_pull(self, repo: str, env: str, app: str) -> Pull:
        found = [
            p
            for p in self.world.repos[repo].pulls.values()
            if p.branch == f"promobot/{env}/{app}" and p.state == "open"
        ]
        if len(found) != 1:
            raise SystemExit(f"expected one open PR for {app} in {env}, found {len(found)}")
        return found[0]

    def head_of(self, repo: str, number: int) -> str:
        return str(self.as_person("GET", f"/repos/{repo}/pulls/{number}")["head"]["sha"])

    def file_on_main(self, repo: str, path: str) -> str:
        return self.world.repos[repo].git.text("show", f"refs/heads/main:{path}")

    # --- measuring -------------------------------------------------------------------------

    def reset(self) -> None:
        self.world.reset_calls()
        self.registry.hits.clear()
        self.helm.requests.clear()
        self.jobs = 0

    def cost(self, started: float, deliveries_before: int) -> Cost:
        world = self.world
        with world.lock:
            calls, not_modified = dict(world.calls), dict(world.not_modified)
        charged = Counter({k: n - not_modified.get(k, 0) for k, n in calls.items()})
        charged = +charged  # drop endpoints whose every call was free
        sources = Counter(self.registry.hits)
        if self.helm.requests:
            sources["helm index"] = len(self.helm.requests)
        return Cost(
            charged=sum(charged.values()),
            free=sum(not_modified.values()),
            writes=sum(n for k, n in calls.items() if k.split(" ")[1] in WRITES),
            registry=sum(sources.values()),
            jobs=self.jobs,
            echoes=len(world.deliveries) - deliveries_before,
            seconds=time.perf_counter() - started,
            endpoints=Counter({short(k): n for k, n in charged.items()}),
            sources=sources,
        )

    def measure(self, work: Callable[[], None]) -> Cost:
        """The cost of `work`: counters start from zero (what a person did before is theirs)."""
        self.reset()
        before = len(self.world.deliveries)
        started = time.perf_counter()
        work()
        return self.cost(started, before)


@contextmanager
def collector() -> Iterator[str]:
    """Somewhere for the simulator to send webhooks: it records each before it sends it, and
    the bench reads them from that record."""

    async def accept(request: Request) -> Response:
        await request.body()
        return Response(status_code=202)

    with serve(Starlette(routes=[Route("/webhooks/github", accept, methods=["POST"])])) as url:
        yield f"{url}/webhooks/github"


def notification(bench: Bench, repository: str, tag: str) -> bytes:
    """The CNCF Distribution notification a registry sends for a pushed tag."""
    digest = bench.registry.digest_of(repository, tag)
    event = {
        "id": str(uuid.uuid4()),
        "timestamp": datetime.now(UTC).isoformat(),
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest,
            "size": 528,
            "length": 528,
            "repository": repository,
            "url": f"http://{bench.registry_host}/v2/{repository}/manifests/{digest}",
            "tag": tag,
        },
        "request": {"id": str(uuid.uuid4()), "host": bench.registry_host, "method": "PUT"},
        "actor": {},
        "source": {"addr": "registry:5000"},
    }
    return json.dumps({"events": [event]}).encode()


# --- scenarios -----------------------------------------------------------------------------------


def scenarios(bench: Bench) -> dict[str, Cost]:
    tenant = bench.tenants[0]
    repo = tenant.repo
    app = app_name(bench.apps - 1)  # not one of the apps with an open staging PR
    results: dict[str, Cost] = {}

    def push() -> None:
        image = f"{tenant.namespace}/{app}"
        bench.registry.repos[image].append(NEW)
        kind = "application/vnd.docker.distribution.events.v2+json"
        body = notification(bench, image, NEW)
        bench.run(tenant, intake.delivery("registry", {"content-type": kind}, body))
        bench.drain_queue(tenant)
        bench.deliver(tenant)

    results["push"] = bench.measure(push)
    for env in ("dev", "qa"):
        if f'tag: "{NEW}"' not in bench.file_on_main(repo, f"envs/{env}/{app}/values.yaml"):
            raise SystemExit(f"push: {app} {NEW} did not reach {env}")
    staging = bench.open_pull(repo, "staging", app)

    sha = bench.head_of(repo, staging.number)
    bench.as_person("PUT", f"/repos/{repo}/pulls/{staging.number}/merge", sha=sha)
    results["merge-staging"] = bench.measure(lambda: bench.deliver(tenant))
    prods = {env: bench.open_pull(repo, env, app) for env in PRODS}

    sha = bench.head_of(repo, prods["prod-eu"].number)
    bench.as_person("PUT", f"/repos/{repo}/pulls/{prods['prod-eu'].number}/merge", sha=sha)
    results["merge-prod"] = bench.measure(lambda: bench.deliver(tenant))
    if f'tag: "{NEW}"' not in bench.file_on_main(repo, f"envs/prod-eu/{app}/values.yaml"):
        raise SystemExit(f"merge-prod: {app} {NEW} is not in prod-eu")

    number = prods["prod-us"].number
    sha = bench.head_of(repo, number)
    bench.as_person("POST", f"/repos/{repo}/pulls/{number}/reviews", event="APPROVE", commit_id=sha)
    results["approval"] = bench.measure(lambda: bench.deliver(tenant))
    gates = [
        s.state
        for s in bench.world.repos[repo].statuses
        if s.sha == sha and s.context == "promobot/gates"
    ]
    if not gates or gates[-1] != "success":
        raise SystemExit(f"approval: the gates of #{number} did not pass ({gates})")

    # The first reconcile after the scenarios looks again at every PR they moved and at what
    # promobot itself last wrote; the one measured is the steady state: nothing new since.
    results["tick"] = measure_tick(bench)
    return results


def scenarios_batched(bench: Bench) -> dict[str, Cost]:
    """The batched layout: dev and qa take direct commits, every environment has a window, and
    the open promotions into staging are one PR (`promobot/staging/_batch`)."""
    tenant = bench.tenants[0]
    repo = tenant.repo
    results: dict[str, Cost] = {}

    def push(app: str) -> Callable[[], None]:
        def work() -> None:
            image = f"{tenant.namespace}/{app}"
            bench.registry.repos[image].append(NEW)
            kind = "application/vnd.docker.distribution.events.v2+json"
            body = notification(bench, image, NEW)
            bench.run(tenant, intake.delivery("registry", {"content-type": kind}, body))
            bench.drain_queue(tenant)
            bench.deliver(tenant)

        return work

    def on_main(env: str, app: str) -> bool:
        return f'tag: "{NEW}"' in bench.file_on_main(repo, f"envs/{env}/{app}/values.yaml")

    first, second = app_name(bench.apps - 1), app_name(bench.apps - 2)
    bench.open_windows(tenant)  # the setup's writes were a window ago
    results["push"] = bench.measure(push(first))
    if not (on_main("dev", first) and on_main("qa", first)):
        raise SystemExit(f"push: {first} {NEW} did not reach dev and qa")
    results["push-deferred"] = bench.measure(push(second))  # within the window: waits
    if on_main("dev", second):
        raise SystemExit(f"push-deferred: {second} reached dev inside the window")

    def window() -> None:
        bench.open_windows(tenant)
        bench.run(tenant, {"kind": "sync"})
        bench.drain_queue(tenant)
        bench.deliver(tenant)

    results["window"] = bench.measure(window)
    if not (on_main("dev", second) and on_main("qa", second)):
        raise SystemExit(f"window: {second} {NEW} did not reach dev and qa")

    staging = bench.open_pull(repo, "staging", "_batch")
    bench.open_windows(tenant)
    sha = bench.head_of(repo, staging.number)
    bench.as_person("PUT", f"/repos/{repo}/pulls/{staging.number}/merge", sha=sha)
    results["merge-staging"] = bench.measure(lambda: bench.deliver(tenant))
    prods = {env: bench.open_pull(repo, env, "_batch") for env in PRODS}

    sha = bench.head_of(repo, prods["prod-eu"].number)
    bench.as_person("PUT", f"/repos/{repo}/pulls/{prods['prod-eu'].number}/merge", sha=sha)
    results["merge-prod"] = bench.measure(lambda: bench.deliver(tenant))
    if not on_main("prod-eu", first):
        raise SystemExit(f"merge-prod: {first} {NEW} is not in prod-eu")

    number = prods["prod-us"].number
    sha = bench.head_of(repo, number)
    bench.as_person("POST", f"/repos/{repo}/pulls/{number}/reviews", event="APPROVE", commit_id=sha)
    results["approval"] = bench.measure(lambda: bench.deliver(tenant))

    results["tick"] = measure_tick(bench)
    return results


class Minutes:
    """The clock of the services' polling schedule (`bot.sources.spread`), moved on by the
    bench: an hour of ticks without waiting an hour."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


def measure_tick(bench: Bench) -> Cost:
    """The mean reconcile of an hour in which nothing new comes, after one that settles what
    the scenarios moved: 12 of them, the polling schedule's clock 5 minutes further each time
    (sources found unchanged are polled less and less often, `bot.sources.spread`), and the
    registry tokens expired at each, as they are when they live as long as the interval
    (Docker Hub's 300 s and the default 5 minutes; here one second, then a wait). Its
    `hour` is the whole hour's cost."""
    time.sleep(SETTLE_SECONDS)  # minutes pass between reconciles: the last changes settle
    clock = Minutes()
    for each in bench.tenants:
        each.service.spread.clock = clock
        bench.reconcile(each)
    hour = Cost()
    for _ in range(TICKS_PER_HOUR):
        clock.now += TICK_SECONDS
        time.sleep(TOKEN_SECONDS + 0.2)
        for each in bench.tenants:
            hour.add(bench.measure(partial(bench.reconcile, each)))
    bench.hours.append(hour)
    return hour.mean(TICKS_PER_HOUR)


def projection(
    results: dict[str, Cost], repos_measured: int, batch_minutes: int = 0
) -> dict[str, Any]:
    pushes = MODEL["pushes_per_hour"]
    staging_merges = pushes * MODEL["staging_merge_share"]
    if batch_minutes:  # a batch PR is rewritten once a window: it can be merged no oftener
        staging_merges = min(staging_merges, MODEL["repos"] * 60 / batch_minutes)
    prod_merges = staging_merges * MODEL["prod_prs_per_staging_merge"]
    ticks = MODEL["ticks_per_hour_per_repo"] * MODEL["repos"]

    def hourly(metric: str) -> int:
        def per(name: str) -> float:
            value = float(getattr(results[name], metric))
            return value / repos_measured if name == "tick" else value

        if "window" in results:  # batched: each window writes once what its pushes brought
            rounds = min(pushes, MODEL["repos"] * 60 / batch_minutes)
            writing = pushes * per("push-deferred") + rounds * per("window")
        else:
            writing = pushes * per("push")
        total = (
            writing
            + staging_merges * per("merge-staging")
            + prod_merges * (per("approval") + per("merge-prod"))
            + ticks * per("tick")
        )
        return round(total)

    out: dict[str, Any] = {
        **MODEL,
        "staging_merges_per_hour": round(staging_merges),
        "approvals_per_hour": round(prod_merges),
        "prod_merges_per_hour": round(prod_merges),
        "ticks_per_hour": ticks,
        "batch_minutes": batch_minutes or None,
        "calls_per_hour": hourly("charged"),
        "writes_per_hour": hourly("writes"),
        # tag lists, tokens, manifests and chart indexes: what registries are asked an hour
        "registry_per_hour": hourly("registry"),
    }
    out["within_target"] = {k: out[k] <= limit for k, limit in HOURLY_TARGETS.items()}
    return out


# --- main ----------------------------------------------------------------------------------------


def table(results: dict[str, Cost], repos: int) -> None:
    print(
        f"\n{'scenario':14} {'charged':>8} {'free':>6} {'writes':>7} {'registry':>9} "
        f"{'jobs':>5} {'echoes':>7} {'wall s':>7}  target  top endpoints (charged)",
        file=sys.stderr,
    )
    for name, cost in results.items():
        limit = TARGETS.get(name)
        per_repo = cost.charged / repos if name == "tick" else cost.charged
        verdict = "" if limit is None else ("ok" if per_repo <= limit else f">{limit}")
        top = ", ".join(f"{k} {n}" for k, n in cost.endpoints.most_common(4))
        print(
            f"{name:14} {cost.charged:>8} {cost.free:>6} {cost.writes:>7} {cost.registry:>9} "
            f"{cost.jobs:>5} {cost.echoes:>7} {cost.seconds:>7.1f}  {verdict:6}  {top}",
            file=sys.stderr,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--open-prs", type=int, default=200)
    parser.add_argument("--repos", type=int, default=1, help="repos to run the tick on (summed)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--batch",
        type=int,
        default=0,
        metavar="MINUTES",
        help="the batched layout: dev and qa by direct commits, every environment batched "
        "with this window (default: one PR per app)",
    )
    args = parser.parse_args()
    if args.quick:
        args.apps, args.open_prs = min(args.apps, 12), min(args.open_prs, 4)
    if args.apps < 1 or not 0 <= args.open_prs < args.apps or args.repos < 1:
        parser.error("need --apps ≥ 1, 0 ≤ --open-prs < --apps and --repos ≥ 1")

    problems = Problems()
    promobot_log = logging.getLogger("promobot")
    promobot_log.addHandler(problems)
    promobot_log.propagate = False
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = round(now - since, 1)
        print(f"{name}: {now - since:.1f} s", file=sys.stderr)
        return now

    with ExitStack() as stack:
        server = stack.enter_context(Server())
        world = server.world
        world.rate_limit = world.rate_remaining = 10**9  # the budget is what is measured
        world.add_user("promobot[bot]", bot=True, token=TOKEN)
        world.add_user(PERSON, token=f"{PERSON}-token")
        world.add_team(f"{OWNER}/sre", [PERSON])
        registry = TokenRegistry(page_size=1000, expires_in=TOKEN_SECONDS + 10)
        port = free_port()
        registry.url = f"http://127.0.0.1:{port}"
        stack.enter_context(serve(registry.app(), port))
        helm = HelmServer()
        helm.url = stack.enter_context(serve(helm.app()))
        data = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="promobot-scale-")))
        bench = Bench(server, registry, helm, data, args.apps, args.open_prs, args.batch)
        bench.registry_host = f"127.0.0.1:{port}"
        bench.charts = f"{helm.url}/charts"
        helm.index = helm_index(args.apps, bench.charts)

        mark = time.perf_counter()
        for r in range(args.repos):
            tenant = bench.add_tenant(f"{OWNER}/env-repo" + (f"-{r + 1}" if r else ""))
            mark = lap(f"setup {tenant.repo}: generate", mark)
            opened = [a for a in tenant.service.sync() if a.outcome == "opened"]
            expected = min(args.open_prs, 1) if args.batch else args.open_prs
            if len(opened) != expected:
                raise SystemExit(f"setup: {len(opened)} PRs opened, not {expected}")
            mark = lap(f"setup {tenant.repo}: first sync, {len(opened)} PRs", mark)
        world.webhook_url = stack.enter_context(collector())
        bench.seen = len(world.deliveries)

        results = scenarios_batched(bench) if args.batch else scenarios(bench)
        lap("scenarios", mark)
        for tenant in bench.tenants:
            tenant.service.stop()
            tenant.service.forge.close()  # type: ignore[attr-defined]

    table(results, args.repos)
    result = {
        "apps": args.apps,
        "environments": len(ENVS),
        "open_prs": args.open_prs,
        "repos": args.repos,
        "layout": f"batched, {args.batch}m windows" if args.batch else "one PR per app",
        "scenarios": {name: cost.summary() for name, cost in results.items()},
        "tick_hour": bench.hours[-1].summary() if bench.hours else None,
        "targets": TARGETS,
        "within_target": {
            name: (results[name].charged / (args.repos if name == "tick" else 1)) <= limit
            for name, limit in TARGETS.items()
        },
        "projection": projection(results, args.repos, args.batch),
        "registry_by_kind": {name: dict(cost.sources) for name, cost in results.items()},
        "seconds": {**timings, "total": round(time.perf_counter() - started, 1)},
        "promobot_warnings": sum(problems.seen.values()),
    }
    projected = result["projection"]
    print(
        f"\nprojection: {projected['calls_per_hour']} calls/h (target ≤ "
        f"{HOURLY_TARGETS['calls_per_hour']}), {projected['writes_per_hour']} writes/h "
        f"(target ≤ {HOURLY_TARGETS['writes_per_hour']}), {projected['registry_per_hour']} "
        f"registry requests/h; {result['seconds']['total']} s in all",
        file=sys.stderr,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
