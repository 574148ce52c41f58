"""The overview page `/` on a generated repo of 500 apps × 5 environments × 3 components, read
from the GitHub simulator through PyGithub: how long a page view takes, and what it costs in
forge API calls (counted by the simulator).

  first view      after `promobot serve` started (which read the repo once): the open PRs
  from cache      nothing changed since: p50/p99 of --views page views, and their calls
  head recheck    the same, once the last look at the head is older than 10 s: one
                  conditional request, answered 304
  after an event  a webhook came: the head is re-checked and the open PRs read again
  after a push    the push webhook came and the default branch moved: a new head, one
                  tarball, the open PRs

A few promotion PRs are open (promobot opens them, and evaluates their gates, before timing).
GitHub does not charge a conditional request answered 304 against the rate limit; the figures
show both the requests made and the calls charged.

    .venv/bin/python benchmarks/overview.py [--apps 500] [--views 50] [--prs 20]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from starlette.testclient import TestClient  # noqa: E402
from status_plan import ENVS, generate  # noqa: E402

from bot.engine import LABEL  # noqa: E402
from bot.service import Service  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.web.app import create_app  # noqa: E402
from tests.forgesim import Server  # noqa: E402

REPO = "acme/env-repo"
TOKEN = "bench-token"


def files(apps: int) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory(prefix="promobot-bench-") as tmp:
        root = Path(tmp)
        generate(root, apps)
        return {
            str(p.relative_to(root)): p.read_bytes()
            for p in root.rglob("*")
            if p.is_file() and ".git" not in p.relative_to(root).parts
        }


class Costs:
    """Requests the simulator answered and calls it charged, around one page view."""

    def __init__(self, server: Server) -> None:
        self.world = server.world

    def view(self, client: TestClient, path: str = "/") -> dict[str, float]:
        world = self.world
        world.reset_calls()
        remaining = world.rate_remaining
        started = time.perf_counter()
        response = client.get(path)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text[:500]
        requests = sum(world.calls.values())
        charged = remaining - world.rate_remaining
        return {
            "ms": round(elapsed * 1000, 1),
            "requests": requests,
            "charged": charged,
            "not_modified": requests - charged,
            "bytes": len(response.content),
            # as sent: the client asks for gzip (httpx's default Accept-Encoding), as browsers do
            "wire_bytes": response.num_bytes_downloaded,
            "encoding": response.headers.get("content-encoding", "identity"),
        }


def open_promotions(service: Service, count: int) -> int:
    """Let promobot open `count` of the promotions that are due, and evaluate their gates."""
    state = service.engine.state()
    due = service.engine.due(state)[:count]
    for promotion in due:
        service.engine.ensure(state, promotion)
    for pr in service.forge.list_prs(label=LABEL):
        service.gatekeeper.evaluate(pr, merge=False)
    return len(due)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--views", type=int, default=50)
    parser.add_argument("--prs", type=int, default=20)
    args = parser.parse_args()
    repo_files = files(args.apps)
    with Server() as server, tempfile.TemporaryDirectory(prefix="promobot-bench-") as data:
        world = server.world
        world.rate_limit = world.rate_remaining = 1_000_000  # this is not what is measured
        world.add_user("promobot[bot]", bot=True, token=TOKEN)
        world.add_repo(REPO, repo_files)
        # a head commit of the usual size: the simulator's commit JSON lists every changed file
        world.push(REPO, "main", {"README.md": "the environments\n"}, "a human edit")
        settings = Settings(
            forge="github",
            repo=REPO,
            signing_key="b" * 64,  # type: ignore[arg-type]
            github_url=server.github_url,
            github_token=TOKEN,  # type: ignore[arg-type]
            data_dir=Path(data),
            workers=0,
        )
        opened = open_promotions(Service(settings), args.prs)
        service = Service(settings)  # the pages start from nothing, as after a restart
        costs = Costs(server)
        with TestClient(create_app(service)) as client:
            overview = client.app.state.overview  # type: ignore[attr-defined]
            first = costs.view(client)
            cached = [costs.view(client) for _ in range(args.views)]
            overview.recheck_head()
            recheck = costs.view(client)
            overview.invalidate()
            after_event = costs.view(client)
            world.push(REPO, "main", {"README.md": "pushed\n"}, "another human edit")
            overview.invalidate()  # what the push webhook does
            after_push = costs.view(client)
            api = costs.view(client, "/api/v1/status")
    times = [v["ms"] for v in cached]
    result = {
        "apps": args.apps,
        "environments": len(ENVS),
        "components": 3,
        "open_prs": opened,
        "page_bytes": first["bytes"],
        "wire_bytes": first["wire_bytes"],
        "encoding": first["encoding"],
        "first_view": {k: first[k] for k in ("ms", "requests", "charged")},
        "from_cache": {
            "p50_ms": round(statistics.median(times), 1),
            "p99_ms": round(percentile(times, 0.99), 1),
            "requests_per_view": max(v["requests"] for v in cached),
            "not_modified_per_view": max(v["not_modified"] for v in cached),
            "charged_per_view": max(v["charged"] for v in cached),
        },
        "head_recheck": {k: recheck[k] for k in ("ms", "requests", "charged")},
        "after_event": {k: after_event[k] for k in ("ms", "requests", "charged")},
        "after_push": {k: after_push[k] for k in ("ms", "requests", "charged")},
        "api_status_ms": api["ms"],
    }
    print(f"/: {first['bytes']} bytes, {first['wire_bytes']} on the wire ({first['encoding']})")
    print(
        f"/ from cache: p50 {result['from_cache']['p50_ms']} ms, "
        f"p99 {result['from_cache']['p99_ms']} ms, "
        f"{result['from_cache']['requests_per_view']} request(s) per view, "
        f"{result['from_cache']['charged_per_view']} charged"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
