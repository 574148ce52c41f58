"""Webhook acknowledgement latency and throughput of `promobot serve`, on loopback.

`promobot serve` runs as its own process against the GitHub simulator. What the answer costs:
read the body, check the signature or token, append the delivery to the queue, answer 202
(parsing, relevance and deduplication happen in the workers).

Two scenarios per queue backend (SQLite file, then Redis on 127.0.0.1:6379 db 15):
  idle  no in-process workers (PROMOBOT_WORKERS=0): signed GitHub `pull_request` deliveries,
        each a different body; the webhook path alone
  busy  two worker threads, and deliveries that matter: registry notifications (CNCF
        Distribution envelopes) of a new tag of a promoted image each, so the workers parse,
        promote and supersede against the simulator while the answers go on
and in each:
  paced     deliveries sent at a fixed rate (--rate, default 200/s) for --seconds: latency p50/p99
  flat-out  as fast as --concurrency connections allow: the throughput ceiling (this client is
            Python and shares the two cores, so it is the limit before promobot is)
  wrk       idle only, when Debian's `wrk` is installed: the same signed delivery over 16
            connections for 8 s from a load generator written in C — promobot's own ceiling

    .venv/bin/python benchmarks/webhook_load.py [--rate 200] [--seconds 10]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.service import Promobot
from tests.forgesim import Server

SECRET = "bench-webhook-secret"
REPO = "Codertocat/Hello-World"
FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
REDIS = "redis://127.0.0.1:6379/15"
NOTIFY = "bench-registry-token"
IMAGE = "127.0.0.1:5055/team/api"  # the repository the recorded Distribution envelope names
CONFIG = f"""\
version: 1
environments:
  dev: {{}}
  staging: {{from: dev}}
apps:
  api:
    components:
      image:
        source: {{image: "{IMAGE}"}}
        target: {{file: "envs/{{env}}/values.yaml", field: image.tag}}
"""

Request = tuple[str, bytes, dict[str, str]]  # path, body, headers
Deliveries = Callable[[int], Request]


def pull_request(i: int) -> Request:
    """A signed pull_request delivery; each one a different body (GitHub dedupes by body)."""
    data = json.loads((FIXTURES / "github/pull_request.synchronize.json").read_text())
    data["pull_request"]["updated_at"] = f"2026-01-01T00:00:{i % 60:02d}Z#{i}"
    body = json.dumps(data).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return (
        "/webhooks/github",
        body,
        {
            "Content-Type": "application/json",
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": f"d-{i}",
            "X-Hub-Signature-256": f"sha256={signature}",
        },
    )


def registry_push(i: int) -> Request:
    """A Distribution notification of tag 1.5.i of the promoted image."""
    data = json.loads((FIXTURES / "registry/distribution.push.manifest.json").read_text())
    data["events"][0]["id"] = f"bench-{i}"
    data["events"][0]["target"]["tag"] = f"1.5.{i}"
    return (
        "/webhooks/registry",
        json.dumps(data).encode(),
        {
            "Content-Type": "application/vnd.docker.distribution.events.v1+json",
            "Authorization": f"Bearer {NOTIFY}",
        },
    )


async def paced(
    base: str, make: Deliveries, rate: float, seconds: float, offset: int
) -> dict[str, float]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    total = int(rate * seconds)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=64)) as client:

        async def one(i: int) -> None:
            path, body, headers = make(offset + i)
            start = time.perf_counter()
            response = await client.post(base + path, content=body, headers=headers)
            latencies.append(time.perf_counter() - start)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        began = time.perf_counter()
        tasks = []
        for i in range(total):
            delay = began + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "sent": total,
        "accepted": statuses.get(202, 0),
        "rate_per_s": round(total / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
    }


async def flat_out(
    base: str, make: Deliveries, total: int, concurrency: int, offset: int
) -> dict[str, float]:
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(make(offset + i))  # made before the clock starts
    accepted = 0
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as client:

        async def worker() -> None:
            nonlocal accepted
            while not queue.empty():
                path, body, headers = queue.get_nowait()
                response = await client.post(base + path, content=body, headers=headers)
                accepted += response.status_code == 202

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return {"sent": total, "accepted": accepted, "deliveries_per_s": round(total / elapsed, 1)}


def wrk(url: str, seconds: int = 8) -> dict[str, float]:
    """`wrk` posting one signed delivery (the intake keeps every one; the worker would dedupe)."""
    path, body, headers = pull_request(0)
    script = (
        "wrk.method = 'POST'\nwrk.body = "
        + json.dumps(body.decode())
        + "\n"
        + "".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in headers.items())
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    done = subprocess.run(
        ["wrk", "-t1", "-c16", f"-d{seconds}s", "-s", lua.name, url + path],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    Path(lua.name).unlink()
    rate = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    return {
        "deliveries_per_s": float(rate.group(1)) if rate else 0.0,
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    result: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    scenarios: dict[str, tuple[str, Deliveries]] = {
        "idle": ("0", pull_request),
        "busy": ("2", registry_push),
    }
    with Server() as server, tempfile.TemporaryDirectory(prefix="promobot-bench-") as tmp:
        world = server.world
        world.add_user("promobot[bot]", bot=True, token="bench-token")
        for backend, queue_url in (("sqlite", ""), ("redis", REDIS)):
            for name, (workers, make) in scenarios.items():
                world.add_repo(REPO, {
                    ".promobot.yaml": CONFIG,
                    "envs/dev/values.yaml": "image:\n  tag: 1.4.2\n",
                    "envs/staging/values.yaml": "image:\n  tag: 1.4.2\n",
                })  # fmt: skip
                world.repos[REPO].permissions["promobot[bot]"] = "admin"
                if backend == "redis":
                    redis.Redis.from_url(REDIS).flushdb()
                settings = {
                    "PROMOBOT_FORGE": "github",
                    "PROMOBOT_SIGNING_KEY": "b" * 64,
                    "PROMOBOT_REPO": REPO,
                    "PROMOBOT_GITHUB_URL": server.github_url,
                    "PROMOBOT_GITHUB_TOKEN": "bench-token",
                    "PROMOBOT_WEBHOOK_SECRET": SECRET,
                    "PROMOBOT_REGISTRY_TOKEN": NOTIFY,
                    "PROMOBOT_DATA_DIR": f"{tmp}/{backend}-{name}",
                    "PROMOBOT_WORKERS": workers,
                    "PROMOBOT_RECONCILE_INTERVAL": "24h",
                    "PROMOBOT_LOG_LEVEL": "warning",
                    **({"PROMOBOT_QUEUE_URL": queue_url} if queue_url else {}),
                }
                with Promobot(settings, data=Path(tmp)) as promobot:
                    asyncio.run(paced(promobot.url, make, 20, 1, 100_000))  # warm up
                    runs = {
                        "paced": asyncio.run(
                            paced(promobot.url, make, args.rate, args.seconds, 200_000)
                        ),
                        "flat_out": asyncio.run(
                            flat_out(
                                promobot.url, make, int(args.rate * 5), args.concurrency, 300_000
                            )
                        ),
                    }
                    if name == "idle" and shutil.which("wrk"):
                        runs["wrk"] = wrk(promobot.url)
                result.setdefault(backend, {})[name] = runs
                print(f"{backend:6} {name:4} paced {runs['paced']}  flat-out {runs['flat_out']}",
                      file=sys.stderr)  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
