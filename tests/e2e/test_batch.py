"""`propose: commit` and `batch:` on the GitHub and GitLab simulators, through the real client
libraries: new versions go to dev and qa as commits on main, and staging gets one PR for every
app, rewritten at most once per window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.service import Service
from tests.e2e.scene import REPO, Clock, bot_service
from tests.forgesim import Server
from tests.forgesim.world import Pull, World

WINDOW = 2.0  # seconds: dev's and staging's batch window
WRITES = ("POST", "PATCH", "PUT", "DELETE")
CONFIG = f"""\
version: 1
environments:
  dev: {{propose: commit, batch: {WINDOW:.0f}s}}
  qa: {{from: dev, propose: commit}}
  staging: {{from: qa, batch: {WINDOW:.0f}s}}
apps:
""" + "".join(
    f"""\
  {app}:
    components:
      image:
        source: {{image: ghcr.io/acme/{app}}}
        target: {{file: "envs/{{env}}/{app}.yaml", field: image.tag}}
"""
    for app in ("api", "web")
)


@pytest.fixture(params=["github", "gitlab"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[World, Service, Clock]]:
    kind: str = request.param
    with Server() as server:
        world = server.world
        world.add_user("promobot[bot]", bot=True, token="bot-token")
        files = {
            f"envs/{env}/{app}.yaml": "image:\n  tag: 1.0.0\n"
            for env in ("dev", "qa", "staging")
            for app in ("api", "web")
        }
        world.add_repo(REPO, {".promobot.yaml": CONFIG, **files})
        world.repos[REPO].permissions["promobot[bot]"] = "admin"
        clock = Clock(datetime.now(UTC).replace(microsecond=0))
        yield world, bot_service(kind, server, tmp_path, clock), clock


def on_main(world: World, env: str, app: str) -> str:
    return world.repos[REPO].git.text("show", f"refs/heads/main:envs/{env}/{app}.yaml")


def open_pulls(world: World) -> list[Pull]:
    return [p for p in world.repos[REPO].pulls.values() if p.state == "open"]


def writes(world: World) -> int:
    return sum(n for endpoint, n in world.calls.items() if endpoint.split(" ")[1] in WRITES)


def test_new_versions_reach_dev_and_qa_by_commits_and_staging_by_one_batched_pr(
    rig: tuple[World, Service, Clock],
) -> None:
    world, service, clock = rig
    git = world.repos[REPO].git
    start = git.text("rev-parse", "refs/heads/main")

    service.sync([("image:ghcr.io/acme/api", "1.1.0", None)])
    assert on_main(world, "dev", "api") == on_main(world, "qa", "api") == "image:\n  tag: 1.1.0"
    subjects = git.text("log", "--format=%s", f"{start}..refs/heads/main").splitlines()
    assert subjects == [
        "Promote api to qa: image 1.0.0 → 1.1.0",
        "Promote 1 app to dev: api image 1.0.0 → 1.1.0",  # dev is batched
    ]
    body = git.text("log", "-1", "--format=%B", "refs/heads/main")
    assert (
        "| image | [ghcr.io/acme/api](https://ghcr.io/acme/api) | 1.0.0 | **1.1.0** | 1.1.0 |"
        in body
    )
    (batch,) = open_pulls(world)
    assert batch.branch == "promobot/staging/_batch"
    assert batch.title == "Promote 1 app to staging: api image 1.0.0 → 1.1.0"
    first_head = git.text("rev-parse", f"refs/heads/{batch.branch}")

    # web moments later: dev and staging wait for their windows, and nothing is written
    world.reset_calls()
    service.sync([("image:ghcr.io/acme/web", "1.1.0", None)])
    assert on_main(world, "dev", "web") == "image:\n  tag: 1.0.0"
    assert open_pulls(world) == [batch]
    assert git.text("rev-parse", f"refs/heads/{batch.branch}") == first_head
    assert writes(world) == 0
    assert service.queue.depth() == 1  # the sync that comes when they may be written

    # the service's clock, not the machine's, says when the window ends: however long the
    # lines above took on a loaded machine, web came within dev's and staging's windows
    clock.now += timedelta(seconds=WINDOW + 1.5)  # a second after the window (never early)
    assert service.queue.run_scheduled() == 1  # that sync, with web's new version
    assert on_main(world, "dev", "web") == on_main(world, "qa", "web") == "image:\n  tag: 1.1.0"
    (pull,) = open_pulls(world)
    assert pull.number == batch.number
    assert pull.title.startswith("Promote 2 apps to staging: api image 1.0.0 → 1.1.0, web image")
    assert "### api" in pull.body and "### web" in pull.body
    head = git.text("rev-parse", f"refs/heads/{batch.branch}")
    for app in ("api", "web"):
        assert git.text("show", f"{head}:envs/staging/{app}.yaml") == "image:\n  tag: 1.1.0"
