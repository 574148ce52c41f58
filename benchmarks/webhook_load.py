"""Webhook acknowledgement latency and throughput of `promobot serve`, on loopback.

`promobot serve` runs as its own process against the GitHub simulator, with no in-process
workers (PROMOBOT_WORKERS=0), so what is measured is the webhook path itself: read the body,
check the HMAC signature, parse, deduplicate in the queue store, enqueue, answer 202. Each
delivery is a signed `pull_request` event with its own delivery id.

Two runs per queue backend (SQLite file, then Redis on 127.0.0.1:6379 db 15):
  paced     deliveries sent at a fixed rate (--rate, default 200/s) for --seconds: latency p50/p99
  flat-out  as fast as --concurrency connections allow: the throughput ceiling

    .venv/bin/python benchmarks/webhook_load.py [--rate 200] [--seconds 10]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.service import Promobot
from tests.forgesim import Server

SECRET = "bench-webhook-secret"
REPO = "Codertocat/Hello-World"
FIXTURE = (
    Path(__file__).resolve().parents[2] / "shared/fixtures/github/pull_request.synchronize.json"
)
REDIS = "redis://127.0.0.1:6379/15"


def signed(body: bytes, delivery: str) -> dict[str, str]:
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": f"sha256={signature}",
    }


async def paced(url: str, body: bytes, rate: float, seconds: float, tag: str) -> dict[str, float]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    total = int(rate * seconds)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=64)) as client:

        async def one(i: int) -> None:
            start = time.perf_counter()
            response = await client.post(url, content=body, headers=signed(body, f"{tag}-{i}"))
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
    url: str, body: bytes, total: int, concurrency: int, tag: str
) -> dict[str, float]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    accepted = 0
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as client:

        async def worker() -> None:
            nonlocal accepted
            while not queue.empty():
                i = queue.get_nowait()
                response = await client.post(url, content=body, headers=signed(body, f"{tag}-{i}"))
                accepted += response.status_code == 202

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return {"sent": total, "accepted": accepted, "deliveries_per_s": round(total / elapsed, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    body = FIXTURE.read_bytes()
    result: dict[str, dict[str, dict[str, float]]] = {}
    with Server() as server, tempfile.TemporaryDirectory(prefix="promobot-bench-") as tmp:
        world = server.world
        world.add_user("promobot[bot]", bot=True, token="bench-token")
        world.add_repo(REPO, {".promobot.yaml": "version: 1\nenvironments:\n  dev: {}\n"})
        for backend, queue_url in (("sqlite", ""), ("redis", REDIS)):
            if backend == "redis":
                redis.Redis.from_url(REDIS).flushdb()
            settings = {
                "PROMOBOT_FORGE": "github",
                "PROMOBOT_SIGNING_KEY": "b" * 64,
                "PROMOBOT_REPO": REPO,
                "PROMOBOT_GITHUB_URL": server.github_url,
                "PROMOBOT_GITHUB_TOKEN": "bench-token",
                "PROMOBOT_WEBHOOK_SECRET": SECRET,
                "PROMOBOT_DATA_DIR": f"{tmp}/{backend}",
                "PROMOBOT_WORKERS": "0",
                "PROMOBOT_RECONCILE_INTERVAL": "24h",
                "PROMOBOT_LOG_LEVEL": "warning",
                **({"PROMOBOT_QUEUE_URL": queue_url} if queue_url else {}),
            }
            with Promobot(settings, data=Path(tmp)) as promobot:
                url = f"{promobot.url}/webhooks/github"
                asyncio.run(paced(url, body, 20, 1, f"{backend}-warm"))
                result[backend] = {
                    "paced": asyncio.run(paced(url, body, args.rate, args.seconds, backend)),
                    "flat_out": asyncio.run(
                        flat_out(url, body, int(args.rate * 5), args.concurrency, f"{backend}-max")
                    ),
                }
            runs = result[backend]
            print(f"{backend:6} paced {runs['paced']}  flat-out {runs['flat_out']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
