"""One promotion that cannot be made is reported and skipped; the others go on (GitHub, GitLab).

Attacker: anyone who can get one bad input in — a pusher to the default branch who makes one
file unwritable, a chart repository that publishes an odd version. Before, one failing
promotion aborted the whole sync on every reconcile: no other promotion, gate or merge ran.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bot.forges.base import Forge
from bot.forges.retry import Policy
from bot.service import Service
from bot.settings import Settings
from bot.web.app import create_app
from tests.conftest import SIGNING_KEY
from tests.forgesim import Server
from tests.forgesim.world import Fault, World

REPO = "acme/env-repo"
FAST = Policy(attempts=2, backoff_base=0.01, backoff_max=0.05, rate_limit_max_wait=2)
CONFIG = """\
version: 1
environments:
  dev: {}
  staging: {from: dev}
apps:
  api:
    components:
      image:
        source: {image: ghcr.io/acme/api}
        target: {file: "envs/{env}/api.yaml", field: image.tag}
  web:
    components:
      image:
        source: {image: ghcr.io/acme/web}
        target: {file: "envs/{env}/web.yaml", field: image.tag}
"""


@pytest.fixture(params=["github", "gitlab"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[World, Service]]:
    with Server() as server:
        world = server.world
        world.add_user("promobot[bot]", bot=True, token="bot-token")
        repo = world.add_repo(
            REPO,
            {
                ".promobot.yaml": CONFIG,
                "envs/dev/api.yaml": "image:\n  tag: 1.5.0\n",
                "envs/staging/api.yaml": "image:\n  tag: 1.4.2\n",
                "envs/dev/web.yaml": "image:\n  tag: 2.0.0\n",
                "envs/staging/web.yaml": "image:\n  tag: 1.0.0\n",
            },
        )
        repo.permissions["promobot[bot]"] = "admin"
        settings = Settings(
            forge=request.param, repo=REPO, signing_key=SIGNING_KEY, data_dir=tmp_path,
            workers=0, github_token="bot-token", gitlab_token="bot-token",  # type: ignore[arg-type]
        )  # fmt: skip
        forge: Forge
        if request.param == "github":
            from bot.forges.github import GitHubForge

            forge = GitHubForge(REPO, token="bot-token", base_url=server.github_url, policy=FAST)
        else:
            from bot.forges.gitlab import GitLabForge

            forge = GitLabForge(REPO, token="bot-token", url=server.gitlab_url, policy=FAST)
        yield world, Service(settings, forge=forge)


def test_a_promotion_that_cannot_be_written_is_reported_and_the_others_go_on(
    rig: tuple[World, Service],
) -> None:
    world, service = rig
    first = {a.branch: a.outcome for a in service.sync()}
    assert first == {"promobot/staging/api": "opened", "promobot/staging/web": "opened"}
    web = service.forge.find_pr("promobot/staging/web")
    assert web is not None
    # a person makes staging's web version unwritable (shared through a YAML anchor), and both
    # apps get new versions in dev
    world.push(
        REPO,
        "main",
        {
            "envs/staging/web.yaml": "base: &b 1.0.0\nimage:\n  tag: *b\n",
            "envs/dev/web.yaml": "image:\n  tag: 2.1.0\n",
            "envs/dev/api.yaml": "image:\n  tag: 1.6.0\n",
        },
        "bump dev",
    )
    for _ in range(2):  # the next reconcile too: reported once, never a stall
        second = {a.branch: a.outcome for a in service.sync()}
        assert second["promobot/staging/api"] in ("superseded", "unchanged")
        assert second["promobot/staging/web"] == "failed"
    api = service.forge.find_pr("promobot/staging/api")
    assert api is not None and "1.6.0" in api.title
    problem = service.engine.problems["promobot/staging/web"]
    assert "shared through the YAML anchor" in problem.error
    said = [c.body for c in service.forge.comments(web.number) if "could not update" in c.body]
    assert len(said) == 1 and "YAML anchor" in said[0]
    with TestClient(create_app(service)) as client:  # and the overview shows it
        page = client.get("/").text
    assert "Promotions promobot could not make" in page and "promobot/staging/web" in page


def test_a_pr_whose_gates_cannot_be_read_does_not_stop_the_others(
    rig: tuple[World, Service],
) -> None:
    world, service = rig
    world.push(REPO, "main", {".promobot.yaml": CONFIG.replace("{from: dev}", "{from: dev, auto_merge: true}")}, "auto-merge staging")  # fmt: skip
    service.engine.sync()  # open both, evaluate nothing yet
    api, web = (service.forge.find_pr(f"promobot/staging/{app}") for app in ("api", "web"))
    assert api is not None and web is not None
    # the forge cannot answer about api's head (it answers 404 however often asked)
    world.faults.append(Fault("GET", api.head_sha, status=404, times=1000))
    verdicts = service.gatekeeper.evaluate_all()
    world.faults.clear()
    assert [v.pr.number for v in verdicts] == [web.number]
    assert service.forge.get_pr(web.number).state == "merged"  # web's auto-merge still ran
    assert service.forge.get_pr(api.number).state == "open"
