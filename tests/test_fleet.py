"""Many repos in one deployment: which repos are served, how a delivery finds its repo, and
that two repos — even on one GitHub App installation, with colliding PR numbers — never see
each other's PRs, commands or signed records. On the forge simulator, through the client
libraries; deliveries are the ones the simulator sends, handed to a worker as it would be."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from bot import budget, intake
from bot.errors import RateLimited
from bot.fleet import Fleet
from bot.settings import Settings
from tests import redis_server
from tests.conftest import SIGNING_KEY, MakeRepo
from tests.forges.test_github import KEY, PUBLIC
from tests.forgesim import Server
from tests.forgesim.world import World

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "github"
CONFIG = """\
version: 1
environments:
  dev: {}
  prod: {from: dev}
apps:
  api:
    components:
      image:
        source: {image: ghcr.io/acme/api}
        target: {file: "envs/{env}/values.yaml", field: image.tag}
"""
FILES = {
    ".promobot.yaml": CONFIG,
    "envs/dev/values.yaml": "image:\n  tag: 1.5.0\n",
    "envs/prod/values.yaml": "image:\n  tag: 1.4.2\n",
}
CLOCK = datetime(2026, 1, 5, 10, 10, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as server:
        world = server.world
        world.webhook_url = "http://127.0.0.1:9/"  # nobody listens: the tests hand them over
        for repo in ("acme/one", "acme/two"):
            world.add_repo(repo, FILES).permissions["promobot[bot]"] = "admin"
        world.add_repo("acme/plain", {"README.md": "not an environment repo\n"})
        for login in ("alice", "bob"):
            world.add_user(login, token=f"{login}-token")
            for repo in world.repos.values():
                repo.permissions[login] = "write"
        world.apps[42] = {
            "public_key": PUBLIC,
            "installation": 7,
            "slug": "promobot",
            "installations": {7: ["acme/one", "acme/two", "acme/plain"]},
        }
        yield server


def app_fleet(server: Server, tmp_path: Path, **more: Any) -> Fleet:
    """A fleet of the App's repos; a second one on the same `tmp_path` shares its queue's
    store, as a second process would."""
    key = tmp_path / "app.pem"
    key.write_text(KEY)
    settings = Settings(
        forge="github",
        github_url=server.github_url,
        github_app_id=42,
        github_private_key_file=key,
        signing_key=SIGNING_KEY,  # type: ignore[arg-type]
        data_dir=tmp_path / "data",
        workers=0,  # type: ignore[arg-type]
        coalesce="0s",
        **more,
    )
    fleet = Fleet(settings, clock=lambda: CLOCK)
    fleet.recheck_seconds = 0  # every push to a skipped repo looks again
    fleet.discover()
    return fleet


def deliveries(world: World, since: int = 0) -> list[dict[str, Any]]:
    """The webhook deliveries the simulator sent, as the web handler appends them."""
    return [
        intake.delivery(
            "github",
            {"x-github-event": d["event"], "x-github-delivery": d["delivery"]},
            json.dumps(d["payload"]).encode(),
        )
        for d in world.deliveries[since:]
    ]


def deliver(fleet: Fleet, jobs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """A worker takes the deliveries, then runs what they queued."""
    outcomes = [outcome for job in jobs for outcome in fleet.take(job)]
    fleet.queue.run_pending()
    return outcomes


def installation_event(name: str, installation: int, repo: str, **payload: Any) -> dict[str, Any]:
    """A recorded `installation_repositories` delivery, about this simulator's installation."""
    body = json.loads((FIXTURES / f"{name}.json").read_text())
    body = copy.deepcopy(body) | payload
    body["installation"]["id"] = installation
    listed = {"id": 1, "node_id": "x", "name": repo.split("/")[1], "full_name": repo}
    key = "repositories_added" if body["action"] == "added" else "repositories_removed"
    body[key] = [listed]
    headers = {"x-github-event": "installation_repositories", "x-github-delivery": name}
    return intake.delivery("github", headers, json.dumps(body).encode())


def api(server: Server, user: str, method: str, path: str, **body: Any) -> Any:
    response = httpx.request(
        method,
        server.github_url + path,
        json=body or None,
        headers={"Authorization": f"token {user}-token"},
    )
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def test_an_app_serves_the_repos_of_its_installations_that_have_a_promobot_yaml(
    server: Server, tmp_path: Path
) -> None:
    fleet = app_fleet(server, tmp_path)
    assert fleet.served() == ["acme/one", "acme/two"]
    assert fleet.skipped() == ["acme/plain"]
    one, two = fleet.context("acme/one"), fleet.context("acme/two")
    assert one is not None and two is not None and fleet.context("acme/plain") is None
    # one installation, one rate limit: both repos spend the same budget
    assert one.budget_key == two.budget_key == "github:installation:7"


def test_two_repos_on_one_installation_never_see_each_others_prs_or_commands(
    server: Server, tmp_path: Path
) -> None:
    world = server.world
    fleet = app_fleet(server, tmp_path)
    one, two = fleet.context("acme/one"), fleet.context("acme/two")
    assert one is not None and two is not None
    one.sync()
    two.sync()
    assert list(world.repos["acme/one"].pulls) == [1] == list(world.repos["acme/two"].pulls)
    assert one.engine.signer.scope != two.engine.signer.scope

    start = len(world.deliveries)
    api(server, "bob", "POST", "/repos/acme/one/issues/1/comments", body="/hold deploy freeze")
    outcomes = deliver(fleet, deliveries(world, start))
    assert ("queued", "comment") in outcomes
    assert "promobot:hold" in world.repos["acme/one"].pulls[1].labels
    assert "promobot:hold" not in world.repos["acme/two"].pulls[1].labels
    me = one.forge.identity().id
    assert any(c.user_id == me for c in one.forge.comments(1))  # promobot answered in one…
    assert not any(c.user_id == me for c in two.forge.comments(1))  # …and said nothing in two

    # A's genuine, signed metadata pasted into B's PR #1 (same number, same branch name)
    genuine = world.repos["acme/one"].pulls[1].body
    assert one.engine.promotion_of(one.forge.get_pr(1)) is not None
    api(server, "bob", "PATCH", "/repos/acme/two/pulls/1", body=genuine)
    assert two.engine.promotion_of(two.forge.get_pr(1)) is None  # signed for acme/one

    start = len(world.deliveries)
    api(server, "bob", "POST", "/repos/acme/two/issues/1/comments", body="/unhold")
    deliver(fleet, deliveries(world, start))
    assert "promobot:hold" in world.repos["acme/one"].pulls[1].labels  # B's command stays in B


def test_installation_events_change_which_repos_are_served(server: Server, tmp_path: Path) -> None:
    world = server.world
    fleet = app_fleet(server, tmp_path)
    world.add_repo("acme/three", FILES).permissions["promobot[bot]"] = "admin"
    world.apps[42]["installations"][7].append("acme/three")
    deliver(fleet, [installation_event("installation_repositories.added", 7, "acme/three")])
    assert fleet.served() == ["acme/one", "acme/three", "acme/two"]

    world.apps[42]["installations"][7].remove("acme/two")
    deliver(fleet, [installation_event("installation_repositories.removed", 7, "acme/two")])
    assert fleet.served() == ["acme/one", "acme/three"]
    start = len(world.deliveries)
    world.push("acme/two", "main", {"envs/dev/values.yaml": "image:\n  tag: 1.6.0\n"}, "Bump")
    assert [o for o, _ in deliver(fleet, deliveries(world, start))] == ["not-served"]

    # a repo that was skipped is served once a push adds its .promobot.yaml
    start = len(world.deliveries)
    world.push("acme/plain", "main", FILES, "Add promobot")
    outcomes = deliver(fleet, deliveries(world, start))
    assert "acme/plain" in fleet.served(), outcomes

    # the installation's repos are asked of GitHub: a forged "removed" changes nothing
    deliver(fleet, [installation_event("installation_repositories.removed", 7, "acme/one")])
    assert "acme/one" in fleet.served()


def test_gitlab_groups_serve_their_projects_and_subgroups_with_a_promobot_yaml(
    tmp_path: Path,
) -> None:
    with Server() as server:
        world = server.world
        world.add_user("promobot[bot]", bot=True, token="bot-token")
        for name in ("acme/one", "acme/sub/two", "other/three"):
            world.add_repo(name, FILES).permissions["promobot[bot]"] = "admin"
        world.add_repo("acme/plain", {"README.md": "hello\n"}).permissions["promobot[bot]"] = (
            "admin"
        )
        settings = Settings(
            forge="gitlab",
            gitlab_url=server.gitlab_url,
            gitlab_token="bot-token",  # type: ignore[arg-type]
            gitlab_groups="acme",
            signing_key=SIGNING_KEY,  # type: ignore[arg-type]
            data_dir=tmp_path,
            workers=0,  # type: ignore[arg-type]
        )
        fleet = Fleet(settings, clock=lambda: CLOCK)
        fleet.discover()
        assert fleet.served() == ["acme/one", "acme/sub/two"]
        assert fleet.skipped() == ["acme/plain"]
        two = fleet.context("acme/sub/two")
        assert two is not None
        two.sync()
        assert [p.branch for p in world.repos["acme/sub/two"].pulls.values()] == [
            "promobot/prod/api"
        ]
        assert not world.repos["acme/one"].pulls


def test_several_local_checkouts_each_with_its_own_context(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    first = make_repo(files=FILES)
    first.rename(tmp_path / "first")
    first = tmp_path / "first"
    second = make_repo(files=FILES)
    settings = Settings(
        forge="local",
        repos=f"{first},{second}",
        signing_key=SIGNING_KEY,  # type: ignore[arg-type]
        data_dir=tmp_path / "data",
        workers=0,  # type: ignore[arg-type]
        coalesce="0s",
    )
    assert settings.many
    fleet = Fleet(settings, clock=lambda: CLOCK)
    assert fleet.served() == sorted([str(first), str(second)], key=str.lower)
    contexts = fleet.contexts()
    assert len(contexts) == 2
    for context in contexts:
        context.submit_sync()
    fleet.queue.run_pending()
    for context in contexts:
        [pr] = context.forge.list_prs()
        assert pr.branch == "promobot/prod/api"
    a, b = contexts
    # one configured key for both: the scope (the checkout's path) keeps their records apart
    assert a.engine.signer.scope != b.engine.signer.scope
    assert b.engine.promotion_of(a.forge.list_prs()[0]) is None


# --- one installation, one budget, in every process -------------------------------------------

REDIS = redis_server.url(10)  # this suite's: flushed by the tests that use it


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Where the fleets' queue lives: the SQLite file of their data dir, or Redis."""
    if request.param == "redis":
        redis.Redis.from_url(REDIS).flushdb()
        return {"queue_url": REDIS}
    return {}


def test_the_repos_of_one_installation_share_one_pace_of_writes_across_processes(
    server: Server, tmp_path: Path, store: dict[str, Any]
) -> None:
    """GitHub counts content-creating requests per installation: a sync of acme/one in one
    process leaves no room for a sync of acme/two in another, but some for a command."""
    world = server.world
    serve = app_fleet(server, tmp_path, github_writes_per_minute=9, **store)
    worker = app_fleet(server, tmp_path, github_writes_per_minute=9, **store)
    one, two = serve.context("acme/one"), worker.context("acme/two")
    assert one is not None and two is not None
    one.run({"id": "one", "kind": "sync"})  # its prod PR: tree, commit, ref, PR, labels, status
    assert list(world.repos["acme/one"].pulls) == [1]
    with pytest.raises(RateLimited):  # 6 of 9 a minute are all a sync may take: put back
        two.run({"id": "two", "kind": "sync"})
    assert not world.repos["acme/two"].pulls

    start = len(world.deliveries)
    api(server, "bob", "POST", "/repos/acme/one/issues/1/comments", body="/merge")
    # a command goes at once, whichever process takes it (👀, the merge, the reply: 3)
    outcomes = [o for job in deliveries(world, start) for o in worker.take(job)]
    assert ("queued", "comment") in outcomes
    worker.queue.run_pending()
    assert world.repos["acme/one"].pulls[1].merged


def test_what_one_process_heard_of_the_rate_limit_holds_back_the_others(
    server: Server, tmp_path: Path, store: dict[str, Any]
) -> None:
    world = server.world
    serve = app_fleet(server, tmp_path, **store)
    worker = app_fleet(server, tmp_path, **store)
    one, two = serve.context("acme/one"), worker.context("acme/two")
    assert one is not None and two is not None
    world.rate_remaining = 600  # under a quarter of 5,000: no reconcile, new PRs may go
    one.run({"id": "one", "kind": "sync"})
    budget.BUDGETS.clear()  # the other process never heard it
    with pytest.raises(RateLimited, match="reserve"):
        two.run({"id": "two", "kind": "reconcile"})
    assert budget.of("github:installation:7").remaining == world.rate_remaining  # A's last word
