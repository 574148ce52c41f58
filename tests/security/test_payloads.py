"""Payloads: real deliveries and API answers that older or other editions of a forge send.

A parser that demands fields nothing routes on turns a real delivery into a 400, and an API
client that demands fields an edition does not send stops the gates; neither may open a way
around them. Each test names who sends the payload: a webhook sender (the forge, or whoever
holds the webhook secret), or a pusher whose push must not ride along on an approval.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gitlab
import pytest
from starlette.testclient import TestClient

from bot import events
from bot.engine import Engine
from bot.forges.gitlab import GitLabForge
from bot.forges.local import LocalForge
from bot.forges.retry import Policy
from bot.gatekeeper import Gatekeeper
from bot.service import Service
from bot.settings import Settings
from bot.signing import Signer
from bot.web.app import create_app
from tests.conftest import SIGNING_KEY, MakeRepo, git, taken
from tests.forgesim import Server
from tests.forgesim.gitlab import state

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SECRET = "webhook-secret-value"
TOKEN = "promobot-token"
SIGNER = Signer(SIGNING_KEY.encode(), "acme/env-repo")
REPO = "acme/env-repo"
FAST = Policy(attempts=3, backoff_base=0.01, backoff_max=0.05, rate_limit_max_wait=5)
CONFIG = """\
version: 1
environments:
  dev: {}
  prod: {from: dev, auto_merge: true, gates: {approvals: 1}}
apps:
  api:
    components:
      image:
        source: {image: ghcr.io/acme/api}
        target: {file: "envs/{env}/values.yaml", field: image.tag}
"""
FILES = {
    ".promobot.yaml": CONFIG,
    "envs/dev/values.yaml": "image:\n  tag: 1.1.0\n",
    "envs/prod/values.yaml": "image:\n  tag: 1.0.0\n",
}


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def service(kind: str, repo: str, checkout: Path, data: Path) -> Service:
    token = {"github_token": "t"} if kind == "github" else {"gitlab_token": "t"}
    settings = Settings(
        forge=kind, repo=repo, webhook_secret=SECRET, registry_token="r",  # type: ignore[arg-type]
        signing_key=SIGNING_KEY,  # type: ignore[arg-type]
        data_dir=data, workers=0, **token,  # type: ignore[arg-type]
    )  # fmt: skip
    return Service(settings, forge=LocalForge(checkout))


def test_a_github_review_without_commit_id_is_queued_and_approves_nothing(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    """Webhook sender (GitHub Enterprise Server before reviews carried `commit_id`): the
    review delivery got a 400, so gates were not evaluated again. It is queued now, and as a
    hint only: the gates read the reviews from the forge, so nothing merges on its say-so."""
    checkout = make_repo(files=FILES)
    svc = service("github", "Codertocat/Hello-World", checkout, tmp_path / "data")
    (opened,) = svc.engine.sync()
    assert opened.outcome == "opened" and opened.number is not None
    body = fixture("github/pull_request_review.submitted.commented.json")
    del body["review"]["commit_id"]
    body["review"]["state"] = "approved"
    body["pull_request"]["number"] = opened.number
    raw = json.dumps(body).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": "pull_request_review", "X-GitHub-Delivery": "d-1",
               "X-Hub-Signature-256": signature}  # fmt: skip
    with TestClient(create_app(svc)) as client:
        response = client.post("/webhooks/github", content=raw, headers=headers)
    assert response.status_code == 202, response.text
    assert taken(svc) == [("queued", "review")]
    _, event = events.parse_github("pull_request_review", "d-1", raw)
    assert isinstance(event, events.ReviewEvent) and event.sha is None
    svc.handle(event)
    pr = svc.forge.get_pr(opened.number)
    assert pr.state == "open"  # the forge holds no approval: the gate still waits
    assert svc.forge.checks(pr.head_sha)[0].state == "pending"


def test_a_gitlab_push_without_user_username_is_queued_and_synced(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    """Webhook sender (an older GitLab, whose push hooks have no `user_username`): the push to
    the default branch got a 400, so the promotions it made due waited for the reconcile."""
    checkout = make_repo(files=FILES)
    git(checkout, "branch", "-m", "master")  # the recorded push is to master
    svc = service("gitlab", "mike/diaspora", checkout, tmp_path / "data")
    body = fixture("gitlab/push.json")
    del body["user_username"]
    raw = json.dumps(body).encode()
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET}
    with TestClient(create_app(svc)) as client:
        response = client.post("/webhooks/gitlab", content=raw, headers=headers)
    assert response.status_code == 202, response.text
    assert taken(svc) == [("queued", "push")]
    _, event = events.parse_gitlab("Push Hook", None, None, raw)
    assert isinstance(event, events.Push) and event.pusher is None
    actions = svc.handle(event)
    assert [(a.outcome, a.branch) for a in actions] == [("opened", "promobot/prod/api")]


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as server:
        world = server.world
        world.add_user("promobot[bot]", bot=True, token=TOKEN)
        for person in ("alice", "bob"):
            world.add_user(person, token=f"{person}-token")
        repo = world.add_repo(REPO, FILES)
        repo.permissions.update({"promobot[bot]": "admin", "alice": "write", "bob": "write"})
        state(world).approved_at = False
        state(world).ce_approvals = True  # GitLab CE before approved_at
        yield server


def approve(server: Server, who: str, number: int) -> None:
    client = gitlab.Gitlab(server.gitlab_url, private_token=f"{who}-token")
    client.projects.get(REPO, lazy=True).mergerequests.get(number, lazy=True).approve()


def test_gitlab_ce_approvals_count_only_on_the_head_they_were_given_on(server: Server) -> None:
    """Pusher, on GitLab CE (approvals answered without any time): reading them died on
    KeyError('updated_at'), so no gate could pass. Now each approval is timed by its system
    note, so one given before a newer version superseded the MR does not merge the new head;
    one given on the new head does."""
    forge = GitLabForge(REPO, token=TOKEN, url=server.gitlab_url, policy=FAST, timeout=5)
    engine = Engine(forge, SIGNER)
    gatekeeper = Gatekeeper(engine)
    (opened,) = engine.sync()
    assert opened.number is not None
    approve(server, "alice", opened.number)
    time.sleep(0.01)  # the new version comes after the approval, as a real push does
    server.world.push(REPO, "main", {"envs/dev/values.yaml": "image:\n  tag: 1.2.0\n"}, "dev")
    assert [a.outcome for a in engine.sync()] == ["superseded"]
    verdict = gatekeeper.evaluate(forge.get_pr(opened.number))
    assert verdict is not None and verdict.merged is None
    assert "1 stale approval on an older commit" in verdict.overall.reason
    assert forge.get_pr(opened.number).state == "open"
    approve(server, "bob", opened.number)
    verdict = gatekeeper.evaluate(forge.get_pr(opened.number))
    assert verdict is not None and verdict.merged is not None
    assert forge.get_pr(opened.number).state == "merged"
