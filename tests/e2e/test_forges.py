"""End to end on the forge simulators: `promobot serve` (and `promobot worker`) as real
processes, a real registry, GitHub and GitLab spoken through their client libraries."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests import redis_server
from tests.conftest import SIGNING_KEY
from tests.e2e.service import Promobot, wait_for
from tests.forgesim import Server
from tests.forgesim.world import Pull, World
from tests.registry import Registry

REPO = "acme/env-repo"
TOKEN = "bot-api-token"
SECRET = "webhook-secret-value"
NOTIFY = "registry-notify-token"
REDIS = redis_server.url(14)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def config(image: str, extra: str = "") -> str:
    return f"""\
version: 1
environments:
  dev: {{}}
  prod: {{from: dev}}
apps:
  api:
    components:
      image:
        source: {{image: "{image}"{extra}}}
        target: {{file: "envs/{{env}}/values.yaml", field: image.tag}}
"""


FILES = {
    "envs/dev/values.yaml": "image:\n  tag: 1.4.2\n",
    "envs/prod/values.yaml": "image:\n  tag: 1.4.2\n",
}


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as server:
        server.world.add_user("promobot[bot]", bot=True, token=TOKEN)
        yield server


def settings(kind: str, server: Server, data: Path, **extra: str) -> dict[str, str]:
    base = {
        "PROMOBOT_FORGE": kind,
        "PROMOBOT_SIGNING_KEY": SIGNING_KEY,
        "PROMOBOT_REPO": REPO,
        "PROMOBOT_WEBHOOK_SECRET": SECRET,
        "PROMOBOT_REGISTRY_TOKEN": NOTIFY,
        "PROMOBOT_DATA_DIR": str(data),
        "PROMOBOT_RECONCILE_INTERVAL": "1h",
    }
    if kind == "github":
        base |= {"PROMOBOT_GITHUB_URL": server.github_url, "PROMOBOT_GITHUB_TOKEN": TOKEN}
    else:
        base |= {"PROMOBOT_GITLAB_URL": server.gitlab_url, "PROMOBOT_GITLAB_TOKEN": TOKEN}
    return base | extra


def open_pulls(world: World) -> list[Pull]:
    return [p for p in world.repos[REPO].pulls.values() if p.state == "open"]


def branch_file(world: World, branch: str, path: str) -> str:
    return world.repos[REPO].git.text("show", f"refs/heads/{branch}:{path}")


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_a_registry_push_opens_a_promotion(kind: str, server: Server, tmp_path: Path) -> None:
    registry = Registry(notify_token=NOTIFY)
    world = server.world
    world.add_repo(REPO, {**FILES, ".promobot.yaml": config(f"{registry.host}/team/api")})
    with Promobot(settings(kind, server, tmp_path)) as promobot:
        registry.notify_url = f"{promobot.url}/webhooks/registry"
        with registry:
            registry.push("team/api", "1.5.0")
            wait_for("the promotion PR", lambda: open_pulls(world))
    (pull,) = open_pulls(world)
    assert pull.branch == "promobot/dev/api"
    assert pull.title == "Promote api to dev: image 1.4.2 → 1.5.0"
    assert set(pull.labels) == {"promotion", "env:dev", "app:api"}
    assert "| image |" in pull.body and "**1.5.0**" in pull.body
    assert branch_file(world, pull.branch, "envs/dev/values.yaml") == "image:\n  tag: 1.5.0"


def test_the_github_package_event_opens_a_promotion(server: Server, tmp_path: Path) -> None:
    world = server.world
    # the fixture publishes ghcr.io/Codertocat/hello-world:nightly; the current tag is "latest"
    files = {"envs/dev/values.yaml": "image:\n  tag: latest\n",
             "envs/prod/values.yaml": "image:\n  tag: latest\n",
             ".promobot.yaml": config("ghcr.io/codertocat/hello-world", ", sort: lexical")}  # fmt: skip
    world.add_repo(REPO, files)
    body = (FIXTURES / "github" / "package.published.container.json").read_bytes()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    with Promobot(settings("github", server, tmp_path)) as promobot:
        response = httpx.post(f"{promobot.url}/webhooks/github", content=body, headers={
            "X-GitHub-Event": "package", "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": signature, "Content-Type": "application/json",
        })  # fmt: skip
        assert response.status_code == 202, response.text
        wait_for("the promotion PR", lambda: open_pulls(world))
    (pull,) = open_pulls(world)
    assert pull.title == "Promote api to dev: image latest → nightly"


def test_a_worker_killed_mid_promotion_leaves_exactly_one_complete_pr(
    server: Server, tmp_path: Path
) -> None:
    redis.Redis.from_url(REDIS).flushdb()
    registry = Registry(notify_token=NOTIFY)
    world = server.world
    world.add_repo(REPO, {**FILES, ".promobot.yaml": config(f"{registry.host}/team/api")})
    common = settings("github", server, tmp_path, PROMOBOT_QUEUE_URL=REDIS, PROMOBOT_WORKERS="0",
                      PROMOBOT_LOCK_TTL="2s", PROMOBOT_RECONCILE_INTERVAL="2s")  # fmt: skip
    with Promobot({**common, "PROMOBOT_RECONCILE_INTERVAL": "1h"}) as promobot:
        registry.notify_url = f"{promobot.url}/webhooks/registry"
        with registry:
            world.latency = 0.4  # every API call is slow: there is time to die half-way
            worker = Promobot(common, command="worker", data=tmp_path).start()
            registry.push("team/api", "1.5.0")
            wait_for("the promotion branch", lambda: world.repos[REPO].git.resolve(
                "refs/heads/promobot/dev/api"))  # fmt: skip
            worker.kill()  # kill -9 after the commit, before the PR
            assert open_pulls(world) == []
            world.latency = 0
            # a restarted process reconciles at start: it polls the registry and finishes the job
            with Promobot({**common, "PROMOBOT_WORKERS": "2"}, data=tmp_path):
                wait_for("the promotion PR", lambda: open_pulls(world))
                pulls = wait_for("a settled state", lambda: _settled(world))
    assert len(pulls) == 1
    assert "**1.5.0**" in pulls[0].body
    assert branch_file(world, "promobot/dev/api", "envs/dev/values.yaml") == "image:\n  tag: 1.5.0"


def queue_empty(url: str) -> bool:
    """No job waiting or scheduled in the Redis queue (huey's keys for our queues)."""
    conn = redis.Redis.from_url(url)
    return not any(
        conn.zcard(key) if conn.type(key) == b"zset" else conn.llen(key)
        for key in conn.keys("huey.*")
        if conn.type(key) in (b"zset", b"list")
    )


def _settled(world: World) -> list[Pull] | None:
    pulls = [p for p in world.repos[REPO].pulls.values() if p.branch == "promobot/dev/api"]
    return pulls if len(pulls) == 1 else None


def test_the_same_delivery_twice_and_two_workers_give_one_pr(
    server: Server, tmp_path: Path
) -> None:
    redis.Redis.from_url(REDIS).flushdb()
    world = server.world
    world.add_repo(REPO, {**FILES, ".promobot.yaml": config("ghcr.io/acme/api")})
    common = settings("github", server, tmp_path, PROMOBOT_QUEUE_URL=REDIS, PROMOBOT_WORKERS="0")
    auth = {"Authorization": f"Bearer {NOTIFY}"}
    with Promobot(common) as promobot:
        workers = [Promobot(common, command="worker", data=tmp_path).start() for _ in range(2)]
        try:
            url = f"{promobot.url}/webhooks/artifact"
            same = json.dumps({"image": "ghcr.io/acme/api", "version": "1.5.0", "id": "build-7"})
            answers = [httpx.post(url, content=same, headers=auth).status_code for _ in range(2)]
            assert answers == [202, 202]  # both kept; the worker drops the second
            for build in range(6):  # different deliveries of one version, for two workers
                body = json.dumps(
                    {"image": "ghcr.io/acme/api", "version": "1.5.0", "id": f"b{build}"}
                )
                assert httpx.post(url, content=body, headers=auth).status_code == 202
            wait_for("the promotion PR", lambda: open_pulls(world))

            def taken() -> bool:  # 8 deliveries: 7 queued a sync, 1 was the same again
                return sum(w.log().count('"message": "delivery"') for w in workers) >= 8

            wait_for("every delivery to be taken", taken, timeout=60)
            wait_for("the queue to empty", lambda: queue_empty(REDIS), timeout=60)
            logs = "".join(w.log() for w in workers)
            assert logs.count('"outcome": "queued"') == 7
            assert logs.count('"outcome": "duplicate"') == 1
            assert logs.count('"outcome": "opened"') == 1  # the syncs served all 7 requests
        finally:
            for worker in workers:
                worker.stop()
    assert len([p for p in world.repos[REPO].pulls.values() if p.branch == "promobot/dev/api"]) == 1
