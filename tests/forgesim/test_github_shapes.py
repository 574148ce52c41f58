"""The GitHub simulator answers like api.github.com: compared with recorded real exchanges.

Every key the real response has must be in ours with the same JSON type (a null on either
side matches anything: GitHub fills those in or leaves them out depending on the repository).
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.forgesim import Server, World
from tests.forgesim.github import add_check_run
from tests.forgesim.world import clock_at

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REPO = "acme/env"
TOKEN = "bot-token"
FILES = {"README.md": "# env\n", "envs/dev/values.yaml": "tag: 1.0.0\n"}


def exchanges(name: str) -> list[dict[str, Any]]:
    data = json.loads((FIXTURES / "github-api" / f"{name}.json").read_text())
    return list(data["exchanges"])


def recorded(name: str, method: str, path_part: str = "") -> dict[str, Any]:
    return next(e for e in exchanges(name) if e["method"] == method and path_part in str(e["path"]))


def webhook(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / "github" / f"{name}.json").read_text()))


def kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def differences(real: Any, ours: Any, where: str = "") -> list[str]:
    """Where `ours` lacks a key `real` has, or holds another JSON type there."""
    if real is None or ours is None:
        return []
    if kind(real) != kind(ours):
        return [f"{where or '.'}: {kind(ours)} where GitHub sends {kind(real)}"]
    if isinstance(real, dict):
        found = []
        for key, value in real.items():
            if key not in ours:
                found.append(f"{where}.{key}: missing")
            else:
                found += differences(value, ours[key], f"{where}.{key}")
        return found
    if isinstance(real, list) and real and ours:  # some item of ours is like their first
        return min((differences(real[0], item, f"{where}[]") for item in ours), key=len)
    return []


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as server:
        server.world.add_user("promobot[bot]", bot=True, token=TOKEN)
        server.world.add_user("alice", token="alice-token")
        server.world.add_repo(REPO, FILES)
        yield server


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"token {TOKEN}"}
    with httpx.Client(base_url=server.github_url, headers=headers) as client:
        yield client


def branch_with_commit(world: World, branch: str, content: str = "tag: 2.0.0\n") -> str:
    return world.push(REPO, branch, {"envs/dev/values.yaml": content}, "Bump dev", "promobot[bot]")


def check(response: httpx.Response, exchange: dict[str, Any]) -> None:
    assert response.status_code == exchange["status"], response.text
    if exchange["status"] == 201:
        assert response.headers["location"].startswith("http")
    assert "etag" in response.headers
    assert response.headers["x-ratelimit-limit"] == "5000"
    assert differences(exchange["response_body"], response.json()) == []


def test_create_tree_with_a_base_tree_and_inline_content(
    server: Server, client: httpx.Client
) -> None:
    head = server.world.repos[REPO].git.resolve("refs/heads/main")
    tree = client.get(f"/repos/{REPO}/git/commits/{head}").json()["tree"]["sha"]
    got = client.get(f"/repos/{REPO}/git/trees/{tree}")
    check(got, recorded("create-tree", "GET"))
    body = {
        "base_tree": tree,
        "tree": [
            {"path": "new.txt", "mode": "100644", "type": "blob", "content": "File"},
            {"path": "README.md", "mode": "100644", "type": "blob", "sha": None},
        ],
    }
    made = client.post(f"/repos/{REPO}/git/trees", json=body)
    check(made, recorded("create-tree", "POST"))
    paths = {entry["path"] for entry in made.json()["tree"]}
    assert paths == {"new.txt", "envs"}  # README.md deleted, envs kept from the base tree


def test_create_commit(server: Server, client: httpx.Client) -> None:
    head = server.world.repos[REPO].git.resolve("refs/heads/main")
    got = client.get(f"/repos/{REPO}/git/commits/{head}")
    check(got, recorded("create-commit", "GET", "/git/commits/"))
    body = {"message": "Commit", "tree": got.json()["tree"]["sha"], "parents": [head]}
    made = client.post(f"/repos/{REPO}/git/commits", json=body)
    check(made, recorded("create-commit", "POST"))
    assert made.json()["parents"][0]["sha"] == head


def test_create_ref_and_force_update_it(server: Server, client: httpx.Client) -> None:
    world = server.world
    head = world.repos[REPO].git.resolve("refs/heads/main")
    assert head is not None
    made = client.post(f"/repos/{REPO}/git/refs", json={"ref": "refs/heads/topic", "sha": head})
    check(made, recorded("create-ref", "POST"))
    again = client.post(f"/repos/{REPO}/git/refs", json={"ref": "refs/heads/topic", "sha": head})
    assert (again.status_code, again.json()["message"]) == (422, "Reference already exists")

    ahead = branch_with_commit(world, "other")
    forward = client.patch(f"/repos/{REPO}/git/refs/heads/topic", json={"sha": ahead})
    assert forward.status_code == 200  # a fast-forward needs no force
    sideways = branch_with_commit(world, "third", "tag: 3.0.0\n")
    refused = client.patch(f"/repos/{REPO}/git/refs/heads/topic", json={"sha": sideways})
    assert (refused.status_code, refused.json()["message"]) == (422, "Update is not a fast forward")
    forced = client.patch(
        f"/repos/{REPO}/git/refs/heads/topic", json={"sha": sideways, "force": True}
    )
    check(forced, recorded("update-ref-force", "PATCH"))
    assert world.repos[REPO].git.resolve("refs/heads/topic") == sideways
    # the path older PyGithub used (and the fixture recorded) works too
    legacy = client.patch(f"/repos/{REPO}/git/ref/heads/topic", json={"sha": head, "force": True})
    assert legacy.status_code == 200


def test_create_pull_then_the_errors_github_sends(server: Server, client: httpx.Client) -> None:
    branch_with_commit(server.world, "promobot/dev/api")
    body = {"title": "Promote", "head": "promobot/dev/api", "base": "main", "body": "table"}
    made = client.post(f"/repos/{REPO}/pulls", json=body)
    check(made, recorded("create-pull", "POST"))
    assert made.headers["location"] == made.json()["url"]

    again = client.post(f"/repos/{REPO}/pulls", json=body)
    assert again.status_code == 422
    assert again.json()["errors"][0]["message"] == (
        "A pull request already exists for acme:promobot/dev/api."
    )
    branch_with_commit(server.world, "promobot/dev/web")
    long = {**body, "head": "promobot/dev/web", "body": "x" * 65537}
    refused = client.post(f"/repos/{REPO}/pulls", json=long)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["message"] == (
        "body is too long (maximum is 65536 characters)"
    )
    exactly = client.post(f"/repos/{REPO}/pulls", json={**long, "body": "x" * 65536})
    assert exactly.status_code == 201


def test_merge_pull_with_the_expected_head(server: Server, client: httpx.Client) -> None:
    world = server.world
    head = branch_with_commit(world, "promobot/dev/api")
    number = client.post(
        f"/repos/{REPO}/pulls", json={"title": "T", "head": "promobot/dev/api", "base": "main"}
    ).json()["number"]
    not_yet = client.get(f"/repos/{REPO}/pulls/{number}/merge")
    assert not_yet.status_code == recorded("merge-pull", "GET")["status"] == 404

    stale = client.put(f"/repos/{REPO}/pulls/{number}/merge", json={"sha": "0" * 40})
    assert stale.status_code == 409
    assert stale.json()["message"] == "Head branch was modified. Review and try the merge again."
    merged = client.put(f"/repos/{REPO}/pulls/{number}/merge", json={"sha": head})
    check(merged, recorded("merge-pull", "PUT"))
    commit = world.repos[REPO].git.commit_info(merged.json()["sha"])
    assert commit["parents"].split()[1] == head  # a real merge commit on main
    assert world.repos[REPO].git.resolve("refs/heads/main") == merged.json()["sha"]
    assert client.get(f"/repos/{REPO}/pulls/{number}/merge").status_code == 204
    again = client.put(f"/repos/{REPO}/pulls/{number}/merge", json={"sha": head})
    assert (again.status_code, again.json()["message"]) == (405, "Pull Request is not mergeable")


def test_create_status_and_read_the_combined_status(server: Server, client: httpx.Client) -> None:
    head = server.world.repos[REPO].git.resolve("refs/heads/main")
    body = {"state": "pending", "context": "ci", "description": "d", "target_url": "https://ci/1"}
    made = client.post(f"/repos/{REPO}/statuses/{head}", json=body)
    check(made, recorded("create-status", "POST"))
    client.post(f"/repos/{REPO}/statuses/{head}", json={**body, "state": "success"})
    combined = client.get(f"/repos/{REPO}/commits/{head}/status").json()
    assert combined["state"] == "success"
    assert [s["state"] for s in combined["statuses"]] == ["success"]  # the latest per context
    too_long = client.post(
        f"/repos/{REPO}/statuses/{head}", json={**body, "description": "d" * 141}
    )
    assert too_long.status_code == 422


def test_reviews(server: Server, client: httpx.Client) -> None:
    head = branch_with_commit(server.world, "promobot/dev/api")
    number = client.post(
        f"/repos/{REPO}/pulls", json={"title": "T", "head": "promobot/dev/api", "base": "main"}
    ).json()["number"]
    own = client.post(f"/repos/{REPO}/pulls/{number}/reviews", json={"event": "APPROVE"})
    assert own.status_code == 422  # nobody approves their own pull request
    alice = {"Authorization": "token alice-token"}
    made = client.post(
        f"/repos/{REPO}/pulls/{number}/reviews",
        json={"event": "APPROVE", "body": "ok", "commit_id": head},
        headers=alice,
    )
    check(made, recorded("get-pull-reviews", "POST"))
    one = client.get(f"/repos/{REPO}/pulls/{number}/reviews/{made.json()['id']}")
    check(one, recorded("get-pull-reviews", "GET"))
    listed = client.get(f"/repos/{REPO}/pulls/{number}/reviews").json()
    assert [(r["user"]["login"], r["state"], r["commit_id"]) for r in listed] == [
        ("alice", "APPROVED", head)
    ]


def test_a_comment_edited_in_its_first_second_shows_only_in_graphql(
    server: Server, client: httpx.Client
) -> None:
    """REST's times are whole seconds, so an edit in the second of the creation leaves
    `updated_at` equal to `created_at`; GraphQL's edit history tells it."""
    branch_with_commit(server.world, "promobot/dev/api")
    number = client.post(
        f"/repos/{REPO}/pulls", json={"title": "T", "head": "promobot/dev/api", "base": "main"}
    ).json()["number"]
    posted = datetime.now(UTC).replace(microsecond=100_000)
    with clock_at(posted):
        made = client.post(f"/repos/{REPO}/issues/{number}/comments", json={"body": "Looks good"})
        kept = client.post(f"/repos/{REPO}/issues/{number}/comments", json={"body": "/hold"})
    with clock_at(posted + timedelta(milliseconds=300)):
        edited = client.patch(
            f"/repos/{REPO}/issues/comments/{made.json()['id']}",
            json={"body": "/approve"},
            headers={"Authorization": "token alice-token"},
        ).json()
    assert edited["created_at"] == edited["updated_at"] == f"{posted:%Y-%m-%dT%H:%M:%S}Z"
    query = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on IssueComment {
        body lastEditedAt includesCreatedEdit editor { login }
        userContentEdits(first: 5) { totalCount nodes { editor { login } } } } } }"""
    ids = [edited["node_id"], kept.json()["node_id"], "MDEyOklzc3VlQ29tbWVudDE="]
    answer = httpx.post(
        f"{server.url}/api/graphql",
        json={"query": query, "variables": {"ids": ids}},
        headers={"Authorization": f"token {TOKEN}"},
    )
    assert answer.status_code == 200
    assert answer.headers["x-ratelimit-resource"] == "graphql"
    changed, untouched, missing = answer.json()["data"]["nodes"]
    assert changed == {
        "body": "/approve",
        "lastEditedAt": f"{posted:%Y-%m-%dT%H:%M:%S}Z",
        "includesCreatedEdit": True,
        "editor": {"login": "alice"},
        "userContentEdits": {
            "totalCount": 2,  # the created text, then the edit
            "nodes": [{"editor": {"login": "promobot[bot]"}}, {"editor": {"login": "alice"}}],
        },
    }
    assert untouched == {
        "body": "/hold",
        "lastEditedAt": None,
        "includesCreatedEdit": False,
        "editor": None,
        "userContentEdits": {"totalCount": 0, "nodes": []},
    }
    assert missing is None
    (error,) = answer.json()["errors"]
    assert (error["type"], error["path"]) == ("NOT_FOUND", ["nodes", 2])
    unknown = httpx.post(
        f"{server.url}/api/graphql",
        json={"query": "{ nodes(ids: []) { ... on IssueComment { edited } } }"},
        headers={"Authorization": f"token {TOKEN}"},
    ).json()
    assert "data" not in unknown and "edited" in unknown["errors"][0]["message"]


def test_contents_and_readme(client: httpx.Client) -> None:
    readme = client.get(f"/repos/{REPO}/readme")
    check(readme, recorded("get-contents", "GET", "/readme"))
    file = client.get(f"/repos/{REPO}/contents/envs/dev/values.yaml", params={"ref": "main"})
    check(file, recorded("get-contents", "GET", "/contents/"))
    assert file.json()["encoding"] == "base64"
    assert client.get(f"/repos/{REPO}/contents/missing.yaml").status_code == 404


def test_releases_and_a_comparison(server: Server, client: httpx.Client) -> None:
    server.world.repos[REPO].permissions["promobot[bot]"] = "write"
    server.world.tag(REPO, "v1.0.0", {"a.txt": "1"}, "Release 1.0.0", "Body", name="Test")
    server.world.tag(REPO, "v1.1.0", {"a.txt": "2"}, "Release 1.1.0", "Draft", draft=True)
    listed = client.get(f"/repos/{REPO}/releases")
    exchange = recorded("get-release", "GET", "/releases/")
    assert listed.status_code == 200 and "etag" in listed.headers
    assert differences(exchange["response_body"], listed.json()[-1]) == []
    assert [r["tag_name"] for r in listed.json()] == ["v1.1.0", "v1.0.0"]  # a writer sees drafts
    public = httpx.get(
        f"{server.github_url}/repos/{REPO}/releases",
        headers={"Authorization": "token alice-token"},
    )
    assert [r["tag_name"] for r in public.json()] == ["v1.0.0"]
    compared = client.get(f"/repos/{REPO}/compare/v1.0.0...v1.1.0").json()
    assert compared["total_commits"] == 1 and compared["status"] == "ahead"
    assert compared["commits"][0]["commit"]["message"] == "Release 1.1.0"
    assert client.get(f"/repos/{REPO}/compare/v1.0.0...v9").status_code == 404


def test_lists_are_paginated_with_link_headers(server: Server, client: httpx.Client) -> None:
    repo = server.world.repos[REPO]
    head = repo.git.resolve("refs/heads/main")
    assert head is not None
    for i in range(5):
        repo.git.set_ref(f"refs/tags/v{i}", head)
    first = client.get(f"/repos/{REPO}/tags", params={"per_page": 2})
    assert len(first.json()) == 2
    assert 'rel="next"' in first.headers["link"] and 'rel="last"' in first.headers["link"]
    last = client.get(f"/repos/{REPO}/tags", params={"per_page": 2, "page": 3})
    assert len(last.json()) == 1 and 'rel="next"' not in last.headers["link"]
    names = [t["name"] for p in (1, 2, 3) for t in client.get(f"/repos/{REPO}/tags", params={"per_page": 2, "page": p}).json()]  # fmt: skip
    assert sorted(names) == [f"v{i}" for i in range(5)]


def test_a_304_is_counted_as_a_call_but_not_against_the_rate_limit(
    server: Server, client: httpx.Client
) -> None:
    world = server.world
    first = client.get(f"/repos/{REPO}")
    remaining = world.rate_remaining
    again = client.get(f"/repos/{REPO}", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert world.rate_remaining == remaining
    assert again.headers["x-ratelimit-remaining"] == str(remaining)
    assert world.calls["github GET /repos/{owner}/{repo}"] == 2
    assert world.not_modified == {"github GET /repos/{owner}/{repo}": 1}  # told apart
    changed = client.get(f"/repos/{REPO}", headers={"If-None-Match": '"something else"'})
    assert changed.status_code == 200 and world.rate_remaining == remaining - 1
    assert world.not_modified == {"github GET /repos/{owner}/{repo}": 1}
    # the cheap head check (`application/vnd.github.sha`) answers 304 too
    sha_only = {"Accept": "application/vnd.github.sha"}
    head = client.get(f"/repos/{REPO}/commits/main", headers=sha_only)
    client.get(f"/repos/{REPO}/commits/main", headers={**sha_only, "If-None-Match": head.headers["etag"]})  # fmt: skip
    assert world.not_modified["github GET /repos/{owner}/{repo}/commits/{ref:path}"] == 1
    world.reset_calls()
    assert world.calls == {} and world.not_modified == {}


def test_tarball_redirects_to_codeload_which_is_not_an_api_call(
    server: Server, client: httpx.Client
) -> None:
    world = server.world
    head = world.repos[REPO].git.resolve("refs/heads/main")
    assert head is not None
    world.reset_calls()
    link = client.get(f"/repos/{REPO}/tarball/{head}")
    assert link.status_code == 302
    archive = httpx.get(link.headers["location"])
    assert archive.status_code == 200
    assert world.calls == {"github GET /repos/{owner}/{repo}/tarball/{ref:path}": 1}
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(archive.content))) as tar:
        names = tar.getnames()
    assert f"acme-env-{head[:7]}/envs/dev/values.yaml" in names
    assert httpx.get(link.headers["location"].split("?")[0]).status_code == 404  # no token


def test_check_runs_latest_per_name(server: Server, client: httpx.Client) -> None:
    head = server.world.repos[REPO].git.resolve("refs/heads/main")
    assert head is not None
    add_check_run(server.world, REPO, head, "validate", "completed", "failure")
    add_check_run(server.world, REPO, head, "validate", "in_progress", None)
    runs = client.get(f"/repos/{REPO}/commits/{head}/check-runs").json()
    assert runs["total_count"] == 1
    assert runs["check_runs"][0]["status"] == "in_progress"
    everything = client.get(f"/repos/{REPO}/commits/{head}/check-runs", params={"filter": "all"})
    assert everything.json()["total_count"] == 2


def test_app_installation_token_needs_a_jwt_signed_by_the_app(
    server: Server, client: httpx.Client
) -> None:
    response = httpx.post(
        f"{server.github_url}/app/installations/1/access_tokens",
        headers={"Authorization": "Bearer not-a-jwt"},
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("fixture", "event"),
    [
        ("pull_request.opened", "pull_request"),
        ("pull_request.synchronize", "pull_request"),
        ("pull_request.closed", "pull_request"),
        ("pull_request_review.submitted.commented", "pull_request_review"),
        ("issue_comment.created.on-issue", "issue_comment"),
        ("push.new-branch", "push"),
        ("status", "status"),
    ],
)
def test_webhook_payloads_have_the_real_shape(server: Server, fixture: str, event: str) -> None:
    world = server.world
    world.apps[1] = {"public_key": "", "installation": 5, "slug": "promobot"}
    world.webhook_url = "http://127.0.0.1:9/nowhere"  # recorded in world.deliveries anyway
    headers = {"Authorization": f"token {TOKEN}"}
    alice = {"Authorization": "token alice-token"}
    with httpx.Client(base_url=server.github_url, headers=headers) as client:
        branch_with_commit(world, "promobot/dev/api")
        number = client.post(
            f"/repos/{REPO}/pulls",
            json={"title": "T", "head": "promobot/dev/api", "base": "main", "body": "b"},
        ).json()["number"]
        branch_with_commit(world, "promobot/dev/api", "tag: 2.1.0\n")  # synchronize
        client.post(f"/repos/{REPO}/issues/{number}/comments", json={"body": "/promote"})
        client.post(
            f"/repos/{REPO}/pulls/{number}/reviews",
            json={"event": "COMMENT", "body": "hm"},
            headers=alice,
        )
        head = world.repos[REPO].git.resolve("refs/heads/promobot/dev/api")
        client.post(f"/repos/{REPO}/statuses/{head}", json={"state": "success", "context": "ci"})
        client.put(f"/repos/{REPO}/pulls/{number}/merge", json={"sha": head})
    real = webhook(fixture)
    action = real.get("action")
    sent = [
        d["payload"]
        for d in world.deliveries
        if d["event"] == event and d["payload"].get("action") == action
    ]
    assert sent, f"no {event} {action} webhook was sent"
    assert differences(real, sent[0]) == []
    assert sent[0]["installation"]["id"] == 5
