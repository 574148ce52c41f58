"""GitHubForge through PyGithub over real HTTP, against the forge simulator on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot import budget
from bot.errors import (
    Conflict,
    ForgeError,
    MergeRefused,
    NotFound,
    Paced,
    RateLimited,
    Taken,
    Unavailable,
)
from bot.forges.github import GitHubForge, repository
from bot.forges.retry import Policy
from bot.pacing import Pacer
from bot.queue import Queue
from bot.settings import Settings
from tests.forgesim import Server, World
from tests.forgesim import github as github_sim
from tests.forgesim.github import add_check_run, installation_tokens
from tests.forgesim.world import Fault

REPO = "acme/env"
TOKEN = "ghp_bot-token-not-for-messages"
ALICE = "alice-token"
BRANCH = "promobot/staging/api"
LABELS = ("promotion", "env:staging", "app:api")
FILES = {
    ".promobot.yaml": "version: 1\n",
    "envs/dev/api/values.yaml": "image:\n  tag: 1.4.2\n",
    "envs/staging/api/values.yaml": "image:\n  tag: 1.3.0\n",
    "envs/staging/api/app.yaml": "targetRevision: 2.3.0\n",
    "envs/staging/settings.yml": "replicas: 2\n",
}
FAST = Policy(attempts=4, backoff_base=0.01, backoff_max=0.05, rate_limit_max_wait=5)


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as server:
        world = server.world
        world.add_user("promobot[bot]", bot=True, token=TOKEN)
        world.add_user("alice", token=ALICE)
        world.add_repo(REPO, FILES)
        yield server


def make(server: Server, **options: Any) -> GitHubForge:
    options = {"token": TOKEN, "policy": FAST, **options}
    return GitHubForge(REPO, base_url=server.github_url, **options)


@pytest.fixture
def forge(server: Server) -> Iterator[GitHubForge]:
    forge = make(server)
    yield forge
    forge.close()


def calls(world: World) -> int:
    return sum(world.calls.values())


def promotion(tag: str) -> dict[str, bytes | None]:
    return {
        "envs/staging/api/values.yaml": f"image:\n  tag: {tag}\n".encode(),
        "envs/staging/api/app.yaml": b"targetRevision: 2.4.0\n",
        "envs/staging/settings.yml": None,
    }


def git(world: World, *args: str) -> str:
    return world.repos[REPO].git.text(*args)


# --- cost --------------------------------------------------------------------------------------


def test_reading_a_repos_state_costs_two_calls_and_rereading_costs_no_rate_limit(
    server: Server, forge: GitHubForge
) -> None:
    world = server.world
    world.reset_calls()
    head = forge.head()
    assert head == git(world, "rev-parse", "main")
    snapshot = forge.snapshot(head)
    assert calls(world) == 2
    assert snapshot.files["envs/staging/api/values.yaml"] == b"image:\n  tag: 1.3.0\n"
    assert snapshot.objects["envs/staging"] == git(world, "rev-parse", "main:envs/staging")

    world.reset_calls()
    remaining = world.rate_remaining
    assert forge.head() == head  # If-None-Match: 304
    assert forge.snapshot(head) is snapshot  # cached by commit
    assert calls(world) == 1
    assert world.rate_remaining == remaining  # a 304 is not charged


def test_every_read_is_conditional_free_when_unchanged_and_fresh_at_once(
    server: Server, forge: GitHubForge
) -> None:
    """Lists, PRs, reviews, comments and statuses are asked with If-None-Match: unchanged
    answers cost nothing, and a change is seen at the next read (never up to max-age late)."""
    world = server.world
    base = forge.head()
    assert base is not None
    forge.commit_files(BRANCH, base, promotion("1.4.2"), "m")
    pr = forge.open_pr(BRANCH, "t", "b", LABELS)

    def reads() -> tuple[object, ...]:
        return (
            forge.list_prs(label="promotion"), forge.get_pr(pr.number), forge.reviews(pr.number),
            forge.comments(pr.number), forge.checks(pr.head_sha),
        )  # fmt: skip

    first = reads()
    remaining = world.rate_remaining
    assert reads() == first
    assert world.rate_remaining == remaining  # every one a 304
    other = make(server, token=ALICE)  # another token never gets promobot's cached answers
    assert other.get_pr(pr.number).title == "t"
    assert world.rate_remaining == remaining - 1
    forge.update_pr(pr.number, title="retitled")
    forge.comment(pr.number, "hello")
    assert forge.get_pr(pr.number).title == "retitled"
    assert [c.body for c in forge.comments(pr.number)] == ["hello"]
    assert forge.list_prs(label="promotion")[0].title == "retitled"


def paced(server: Server, tmp_path: Path, per_minute: int) -> tuple[GitHubForge, list[float]]:
    """A forge whose writes are paced in an SQLite store, on a clock that moves as it sleeps."""
    now, slept = [0.0], []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    store = Queue(Settings(data_dir=tmp_path), REPO, lambda job: None)
    pacer = Pacer(store, "github", per_minute, clock=lambda: now[0], sleep=sleep)
    return make(server, pacer=pacer), slept


def test_writes_are_paced_under_the_secondary_limit(server: Server, tmp_path: Path) -> None:
    """GitHub stops a client that creates content too fast; promobot spaces its writes."""
    forge, slept = paced(server, tmp_path, per_minute=2)
    base = forge.head()
    assert base is not None
    forge.commit_files(BRANCH, base, promotion("1.4.2"), "m")  # tree, commit, ref: 3 writes
    pr = forge.open_pr(BRANCH, "t", "b", LABELS)  # 2 more
    forge.get_pr(pr.number)  # reads are never paced
    assert slept == [60.0, 60.0]  # writes 3 and 5 waited for the minute to clear
    with budget.spending("github", "sync"), pytest.raises(Paced):
        forge.comment(pr.number, "a sync's write does not sleep a minute: its job goes back")
    assert forge.comments(pr.number) == [] and slept == [60.0, 60.0]


def test_a_write_tried_again_counts_again(server: Server, tmp_path: Path) -> None:
    """A write that timed out may have been made: each attempt takes room in the window."""
    forge, slept = paced(server, tmp_path, per_minute=1)
    unpaced = make(server)
    base = unpaced.head()
    assert base is not None
    unpaced.commit_files(BRANCH, base, promotion("1.4.2"), "m")
    pr = unpaced.open_pr(BRANCH, "t", "b", LABELS)
    server.world.faults.append(Fault("POST", "/comments", status=502))
    forge.comment(pr.number, "hello")
    assert slept == [60.0]
    assert [c.body for c in forge.comments(pr.number)] == ["hello"]


def test_opening_then_superseding_a_promotion_stays_within_the_call_targets(
    server: Server, forge: GitHubForge
) -> None:
    world = server.world
    base = forge.head()
    assert base is not None
    forge.snapshot(base)

    world.reset_calls()
    assert forge.find_pr(BRANCH) is None
    first = forge.commit_files(BRANCH, base, promotion("1.4.2"), "Promote api to staging")
    pr = forge.open_pr(BRANCH, "Promote api to staging", "table v1", LABELS)
    opened = calls(world)
    assert opened <= 8, world.calls
    assert (pr.branch, pr.base, pr.head_sha, pr.labels) == (BRANCH, "main", first, LABELS)

    world.reset_calls()
    found = forge.find_pr(BRANCH)
    assert found is not None and found.number == pr.number
    message = "Promote api to staging"
    second = forge.commit_files(BRANCH, base, promotion("1.5.0"), message, over=found.head_sha)
    forge.update_pr(pr.number, body="table v2")
    superseded = calls(world)
    assert superseded <= 6, world.calls
    assert (opened, superseded) == (7, 5)  # today's numbers: a regression shows here first

    pull = world.repos[REPO].pulls[pr.number]
    assert (pull.body, pull.labels) == ("table v2", list(LABELS))
    assert git(world, "rev-parse", f"{BRANCH}^") == base  # exactly one commit on the base
    assert git(world, "rev-parse", BRANCH) == second
    assert git(world, "show", f"{BRANCH}:envs/staging/api/values.yaml") == "image:\n  tag: 1.5.0"
    assert "settings.yml" not in git(world, "ls-tree", "-r", "--name-only", BRANCH)


def test_a_cold_forge_still_supersedes_within_six_calls(server: Server, forge: GitHubForge) -> None:
    base = forge.head()
    assert base is not None
    forge.commit_files(BRANCH, base, promotion("1.4.2"), "Promote")
    forge.open_pr(BRANCH, "Promote", "v1", LABELS)
    world = server.world
    cold = make(server)  # a fresh process: nothing cached
    world.reset_calls()
    found = cold.find_pr(BRANCH)
    assert found is not None
    cold.commit_files(BRANCH, base, promotion("1.5.0"), "Promote", over=found.head_sha)
    cold.update_pr(found.number, body="v2")
    assert calls(world) <= 6, world.calls


# --- branches, PRs -----------------------------------------------------------------------------


def test_commit_files_resets_a_branch_someone_moved_only_if_told_it_is_promobots(
    server: Server, forge: GitHubForge
) -> None:
    world = server.world
    base = forge.head()
    assert base is not None
    forge.commit_files(BRANCH, base, promotion("1.4.2"), "Promote")
    pushed = world.push(REPO, BRANCH, {"extra.txt": "pushed by a human"}, "Hotfix", "alice")
    other = make(server)  # does not know the branch exists: create, refused, the head read
    with pytest.raises(Taken, match=r"by alice <alice@example\.com>"):
        other.commit_files(BRANCH, base, promotion("1.5.0"), "Promote")
    assert git(world, "rev-parse", BRANCH) == pushed
    sha = other.commit_files(BRANCH, base, promotion("1.5.0"), "Promote", mine=lambda h: True)
    assert git(world, "rev-parse", BRANCH) == sha
    assert git(world, "rev-parse", f"{BRANCH}^") == base
    assert "extra.txt" not in git(world, "ls-tree", "-r", "--name-only", BRANCH)


def test_commit_files_keeps_modes_and_uploads_binary_files(
    server: Server, forge: GitHubForge
) -> None:
    world = server.world
    repo = world.repos[REPO]
    main = repo.git.resolve("refs/heads/main")
    assert main is not None
    script = repo.git.write_blob(b"#!/bin/sh\necho 1\n")
    tree = repo.git.build_tree(repo.git.commit_info(main)["tree"], {"run.sh": ("100755", script)})
    repo.git.set_ref("refs/heads/main", repo.git.write_commit(tree, [main], "add a script"))
    base = forge.head()
    assert base is not None
    forge.snapshot(base)
    changes: dict[str, bytes | None] = {
        "run.sh": b"#!/bin/sh\necho 2\n",
        "logo.png": b"\x89PNG\xff\x00",
        "never-was.yaml": None,  # GitHub refuses to delete what is not there: left out
    }
    forge.commit_files(BRANCH, base, changes, "Promote")
    assert git(world, "ls-tree", BRANCH, "run.sh").split()[0] == "100755"
    blob = git(world, "rev-parse", f"{BRANCH}:logo.png")
    assert repo.git.read_blob(blob) == b"\x89PNG\xff\x00"


def test_open_pr_adopts_the_pr_that_exists(server: Server, forge: GitHubForge) -> None:
    base = forge.head()
    assert base is not None
    forge.commit_files(BRANCH, base, promotion("1.4.2"), "Promote")
    first = forge.open_pr(BRANCH, "Promote api", "v1", ("promotion",))
    again = make(server).open_pr(BRANCH, "Promote api to staging", "v2", LABELS)
    assert again.number == first.number
    assert (again.title, again.body, again.labels) == ("Promote api to staging", "v2", LABELS)
    pulls = server.world.repos[REPO].pulls
    assert len(pulls) == 1
    assert (pulls[first.number].title, pulls[first.number].labels) == (again.title, list(LABELS))


def test_a_body_over_65536_characters_is_a_clear_error_not_a_retry(
    server: Server, forge: GitHubForge
) -> None:
    base = forge.head()
    assert base is not None
    forge.commit_files(BRANCH, base, promotion("1.4.2"), "Promote")
    server.world.reset_calls()
    with pytest.raises(ForgeError) as raised:
        forge.open_pr(BRANCH, "Promote", "x" * 65537, LABELS)
    assert not isinstance(raised.value, Conflict | Unavailable)
    assert "body is too long (maximum is 65536 characters)" in str(raised.value)
    assert server.world.calls["github POST /repos/{owner}/{repo}/pulls"] == 1


def test_get_close_and_find(server: Server, forge: GitHubForge) -> None:
    base = forge.head()
    assert base is not None
    sha = forge.commit_files(BRANCH, base, promotion("1.4.2"), "Promote")
    pr = forge.open_pr(BRANCH, "Promote", "v1", LABELS)
    got = forge.get_pr(pr.number)
    assert (got.head_sha, got.state, got.author, got.from_fork) == (
        sha,
        "open",
        "promobot[bot]",
        False,
    )
    assert got.url.endswith(f"/acme/env/pull/{pr.number}")
    forge.close_pr(pr.number)
    assert forge.get_pr(pr.number).state == "closed"
    assert forge.find_pr(BRANCH) is None
    assert forge.find_pr(BRANCH, state="closed") == forge.get_pr(pr.number)
    newer = forge.open_pr(BRANCH, "Promote again", "v2", LABELS)
    forge.merge(newer.number, sha)
    closed = forge.find_pr(BRANCH, state="closed")  # the newest, merged counts as closed
    assert closed is not None and (closed.number, closed.state) == (newer.number, "merged")
    with pytest.raises(NotFound):
        forge.get_pr(99)


def test_list_prs_by_label(server: Server, forge: GitHubForge) -> None:
    base = forge.head()
    assert base is not None
    for env in ("dev", "staging", "prod"):
        branch = f"promobot/{env}/api"
        forge.commit_files(branch, base, promotion(env), "Promote")
        forge.open_pr(branch, f"Promote api to {env}", "b", ("promotion",) if env != "dev" else ())
    assert {pr.branch for pr in forge.list_prs()} == {
        f"promobot/{e}/api" for e in ("dev", "staging", "prod")
    }
    assert {pr.branch for pr in forge.list_prs(label="promotion")} == {
        "promobot/staging/api",
        "promobot/prod/api",
    }


def test_merge_passes_the_head_sha(server: Server, forge: GitHubForge) -> None:
    world = server.world
    base = forge.head()
    assert base is not None
    sha = forge.commit_files(BRANCH, base, promotion("1.4.2"), "Promote")
    pr = forge.open_pr(BRANCH, "Promote", "v1", LABELS)
    with pytest.raises(MergeRefused, match="Head branch was modified"):
        forge.merge(pr.number, base)
    merged = forge.merge(pr.number, sha)
    assert git(world, "rev-parse", "main") == merged
    assert git(world, "rev-parse", "main^2") == sha  # a merge commit, the PR's head its 2nd parent
    assert forge.get_pr(pr.number).state == "merged"
    assert forge.head() == merged  # the conditional request noticed the move
    with pytest.raises(MergeRefused, match="not mergeable"):
        forge.merge(pr.number, sha)


def test_tags_and_default_branch(server: Server, forge: GitHubForge) -> None:
    repo = server.world.repos[REPO]
    main = repo.git.resolve("refs/heads/main")
    assert main is not None
    for i in range(120):  # more than one page of 100
        repo.git.set_ref(f"refs/tags/v1.{i}.0", main)
    server.world.reset_calls()
    assert sorted(forge.tags()) == sorted(f"v1.{i}.0" for i in range(120))
    assert calls(server.world) == 2
    assert forge.default_branch() == "main"
    assert forge.head("no-such-branch") is None
    with pytest.raises(NotFound):
        forge.snapshot("no-such-branch")


def test_the_default_branch_is_revalidated_for_free(
    server: Server, forge: GitHubForge, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repository, "DEFAULT_BRANCH_TTL", 0.0)
    world = server.world
    assert forge.default_branch() == "main"
    remaining = world.rate_remaining
    assert forge.default_branch() == "main"  # asked again: 304
    assert world.rate_remaining == remaining
    world.push(REPO, "trunk", {"a.txt": "a"}, "trunk")
    world.repos[REPO].default_branch = "trunk"
    assert forge.default_branch() == "trunk"


# --- conversation, reviews, checks, people -------------------------------------------------------


def test_comments_replies_and_reactions(server: Server, forge: GitHubForge) -> None:
    base = forge.head()
    assert base is not None
    forge.commit_files(BRANCH, base, promotion("1.4.2"), "Promote")
    pr = forge.open_pr(BRANCH, "Promote", "v1", LABELS)
    with httpx.Client(
        base_url=server.github_url, headers={"Authorization": f"token {ALICE}"}
    ) as alice:
        asked = alice.post(
            f"/repos/{REPO}/issues/{pr.number}/comments",
            json={"body": "/promote --to prod\nplease"},
        ).json()["id"]
    forge.react(pr.number, asked, "eyes")
    reply = forge.comment(pr.number, "Promoting.", reply_to=asked)
    comments = forge.comments(pr.number)
    assert [(c.user, c.body) for c in comments] == [
        ("alice", "/promote --to prod\nplease"),
        ("promobot[bot]", "> /promote --to prod\n\nPromoting."),
    ]
    assert comments[1].id == reply
    assert server.world.repos[REPO].comments[asked].reactions == [("promobot[bot]", "eyes")]


def test_comments_are_read_across_pages(server: Server, forge: GitHubForge) -> None:
    base = forge.head()
    assert base is not None
    forge.commit_files(BRANCH, base, promotion("1.4.2"), "Promote")
    pr = forge.open_pr(BRANCH, "Promote", "v1", LABELS)
    for i in range(105):
        forge.comment(pr.number, f"note {i}")
    server.world.reset_calls()
    assert [c.body for c in forge.comments(pr.number)] == [f"note {i}" for i in range(105)]
    assert calls(server.world) == 2


def test_reviews_carry_the_sha_they_were_given_on(server: Server, forge: GitHubForge) -> None:
    base = forge.head()
    assert base is not None
    first = forge.commit_files(BRANCH, base, promotion("1.4.2"), "Promote")
    pr = forge.open_pr(BRANCH, "Promote", "v1", LABELS)
    headers = {"Authorization": f"token {ALICE}"}
    with httpx.Client(base_url=server.github_url, headers=headers) as alice:
        alice.post(f"/repos/{REPO}/pulls/{pr.number}/reviews", json={"event": "APPROVE"})
        second = forge.commit_files(BRANCH, base, promotion("1.5.0"), "Promote", over=first)
        alice.post(
            f"/repos/{REPO}/pulls/{pr.number}/reviews",
            json={"event": "REQUEST_CHANGES", "body": "not yet"},
        )
        alice.post(f"/repos/{REPO}/pulls/{pr.number}/reviews", json={"body": "draft"})  # pending
    reviews = forge.reviews(pr.number)
    assert [(r.user, r.state, r.sha) for r in reviews] == [
        ("alice", "approved", first),
        ("alice", "changes_requested", second),
    ]


def test_checks_combine_statuses_and_check_runs_latest_per_name(
    server: Server, forge: GitHubForge
) -> None:
    sha = forge.head()
    assert sha is not None
    forge.set_status(sha, "promobot/gates", "pending", "waiting for approvals " * 10)
    forge.set_status(sha, "promobot/gates", "success", "all gates pass")
    forge.set_status(sha, "lint", "error", "crashed", url="https://ci.example/1")
    add_check_run(server.world, REPO, sha, "validate", "completed", "failure")
    add_check_run(server.world, REPO, sha, "validate", "completed", "success")
    add_check_run(server.world, REPO, sha, "e2e", "in_progress", None)
    add_check_run(server.world, REPO, sha, "docs", "completed", "skipped")
    checks = {c.name: (c.state, c.url) for c in forge.checks(sha)}
    assert {name: state for name, (state, _) in checks.items()} == {
        "promobot/gates": "success",
        "lint": "failure",
        "validate": "success",
        "e2e": "pending",
        "docs": "success",
    }
    assert checks["lint"][1] == "https://ci.example/1"
    statuses = server.world.repos[REPO].statuses
    assert len(statuses[0].description) == 140  # shortened to what GitHub accepts


def test_checks_by_an_account_count_only_what_it_posted_known_by_id(
    server: Server, forge: GitHubForge
) -> None:
    """A writer can post any context; told apart by the creator's and the app's id, only the
    named account's statuses and its App's check runs count."""
    sha = forge.head()
    assert sha is not None
    world = server.world
    world.add_user("argocd-notifications[bot]", bot=True, token="argo-token")
    world.add_user("mallory", token="mallory-token")

    def post(token: str, state: str) -> None:
        response = httpx.post(
            f"{server.github_url}/repos/{REPO}/statuses/{sha}",
            json={"state": state, "context": "deploy/api-prod"},
            headers={"Authorization": f"token {token}"},
        )
        assert response.status_code == 201, response.text

    post("argo-token", "success")
    post("mallory-token", "failure")  # newer, same context, someone else
    add_check_run(world, REPO, sha, "deploy/api-prod", "completed", "failure", app="mallory-ci")
    add_check_run(world, REPO, sha, "smoke", "completed", "success", app="argocd-notifications")
    ids = forge.identities("argocd-notifications[bot]")
    assert ids == {
        f"user:{world.users['argocd-notifications[bot]'].id}",
        f"app:{github_sim.app_id(world, 'argocd-notifications')}",
    }
    everyone = {c.name: c.state for c in forge.checks(sha)}
    assert everyone == {"deploy/api-prod": "failure", "smoke": "success"}
    theirs = {c.name: c.state for c in forge.checks(sha, by=ids)}
    assert theirs == {"deploy/api-prod": "success", "smoke": "success"}
    assert forge.identities("mallory") == {f"user:{world.users['mallory'].id}"}
    assert forge.identities("nobody-at-all") == frozenset()
    before = calls(world)
    forge.identities("argocd-notifications[bot]")
    assert calls(world) == before  # asked once per process


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("admin", "admin"),
        ("maintain", "admin"),
        ("write", "write"),
        ("triage", "read"),
        ("read", "read"),
        (None, "none"),
    ],
)
def test_permission(server: Server, forge: GitHubForge, role: str | None, expected: str) -> None:
    if role:
        server.world.repos[REPO].permissions["alice"] = role
    assert forge.permission("alice") == expected


def test_permission_of_someone_who_is_not_a_user_is_none(forge: GitHubForge) -> None:
    assert forge.permission("nobody-at-all") == "none"


def test_team_membership(server: Server, forge: GitHubForge) -> None:
    server.world.add_team("acme/sre", ["alice"])
    assert forge.is_member("alice", "acme/sre")
    assert forge.is_member("alice", "@acme/sre")
    assert not forge.is_member("bob", "acme/sre")
    assert not forge.is_member("alice", "acme/devs")
    with pytest.raises(ForgeError, match="org/team"):
        forge.is_member("alice", "sre")


# --- faults ------------------------------------------------------------------------------------


def test_a_502_is_retried(server: Server, forge: GitHubForge) -> None:
    server.world.faults.append(Fault("GET", "/commits/", status=502))
    server.world.reset_calls()
    assert forge.head() is not None
    assert calls(server.world) == 2


def test_a_5xx_that_persists_is_unavailable(server: Server) -> None:
    server.world.faults.append(Fault("GET", "/commits/", status=503, times=10))
    with pytest.raises(Unavailable, match="HTTP 503"):
        make(server, policy=Policy(attempts=2, backoff_base=0.01, backoff_max=0.01)).head()


def test_a_429_waits_for_retry_after(server: Server, forge: GitHubForge) -> None:
    server.world.faults.append(
        Fault(
            "GET",
            "/commits/",
            status=429,
            headers={"Retry-After": "1"},
            body={"message": "slow down"},
        )
    )
    started = time.monotonic()
    assert forge.head() is not None
    assert 0.9 <= time.monotonic() - started < 3


@pytest.mark.parametrize(("reset_in", "least", "most"), [(-30, 0.0, 0.8), (2, 1.0, 3.5)])
def test_a_403_rate_limit_waits_for_the_reset(
    server: Server, forge: GitHubForge, reset_in: int, least: float, most: float
) -> None:
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + reset_in)}
    body = {"message": "API rate limit exceeded for installation ID 5."}
    server.world.faults.append(Fault("GET", "/commits/", status=403, headers=headers, body=body))
    started = time.monotonic()
    assert forge.head() is not None
    assert least <= time.monotonic() - started < most


def test_the_simulators_own_rate_limit_is_waited_out(server: Server, forge: GitHubForge) -> None:
    world = server.world
    world.rate_remaining, world.rate_reset = 0, int(time.time()) + 1
    assert forge.head() is not None
    assert world.rate_remaining == world.rate_limit - 1  # a new window began


def test_a_rate_limit_longer_than_the_policy_allows_is_raised(server: Server) -> None:
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 3000)}
    body = {"message": "API rate limit exceeded"}
    server.world.faults.append(Fault("GET", "/commits/", status=403, headers=headers, body=body))
    with pytest.raises(RateLimited) as raised:
        make(server).head()
    assert raised.value.retry_after > 2900


def test_a_plain_403_is_not_a_rate_limit(server: Server, forge: GitHubForge) -> None:
    body = {"message": "Resource not accessible by integration"}
    server.world.faults.append(Fault("GET", "/commits/", status=403, body=body, times=5))
    server.world.reset_calls()
    with pytest.raises(ForgeError, match="not accessible") as raised:
        forge.head()
    assert not isinstance(raised.value, RateLimited)
    assert calls(server.world) == 1


def test_a_slow_answer_times_out_and_is_retried(server: Server) -> None:
    server.world.faults.append(Fault("GET", "/commits/", status=0, delay=2.5))
    forge = make(server, timeout=1)
    started = time.monotonic()
    assert forge.head() is not None
    assert 1 <= time.monotonic() - started < 2.5
    server.world.faults.append(Fault("GET", "/commits/", status=0, delay=2.5))
    with pytest.raises(Unavailable, match="did not answer within 1s"):
        make(server, timeout=1, policy=Policy(attempts=1)).head()


def test_no_secret_in_errors(server: Server) -> None:
    with pytest.raises(ForgeError) as raised:
        make(server, token=TOKEN + "-wrong").head()
    assert "credentials" in str(raised.value)
    assert TOKEN not in str(raised.value) and TOKEN not in repr(raised.value.__cause__)


# --- GitHub App --------------------------------------------------------------------------------


def app_key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


KEY, PUBLIC = app_key()


def install_app(world: World, ttl: int = 3600) -> None:
    world.apps[42] = {"public_key": PUBLIC, "installation": 7, "slug": "promobot", "token_ttl": ttl}


def test_app_authentication_finds_its_installation(server: Server) -> None:
    install_app(server.world)
    forge = make(server, token=None, app_id=42, private_key=KEY)
    assert forge.head() is not None
    assert server.world.calls["github GET /repos/{owner}/{repo}/installation"] == 1
    assert len(installation_tokens(server.world)) == 1


def test_app_installation_token_is_refreshed_before_it_expires(server: Server) -> None:
    world = server.world
    install_app(world, ttl=22)  # PyGithub renews 20 s before expiry
    forge = make(server, token=None, app_id=42, private_key=KEY, installation_id=7)
    assert forge.head() is not None
    assert forge.tags() == []  # the same token, still fresh
    [first] = installation_tokens(world)
    time.sleep(2.2)
    assert forge.head() is not None
    tokens = installation_tokens(world)
    assert len(tokens) == 2 and tokens[0] == first
    assert world.token_expiry[first] > time.time()  # renewed before the old one ran out
    assert world.calls["github POST /app/installations/{installation}/access_tokens"] == 2


def test_a_wrong_app_key_is_refused_without_showing_it(server: Server) -> None:
    install_app(server.world)
    other, _ = app_key()
    with pytest.raises(ForgeError, match="credentials") as raised:
        make(server, token=None, app_id=42, private_key=other, installation_id=7).head()
    assert "PRIVATE KEY" not in str(raised.value)
    with pytest.raises(ForgeError, match="PEM") as bad:
        make(server, token=None, app_id=42, private_key="not a key")
    assert "not a key" not in str(bad.value)


def test_credentials_are_required_and_unambiguous(server: Server) -> None:
    with pytest.raises(ForgeError, match="needs a token"):
        make(server, token=None)
    with pytest.raises(ForgeError, match="not both"):
        make(server, app_id=42, private_key=KEY)
    with pytest.raises(ForgeError, match="owner/name"):
        GitHubForge("just-a-name", token=TOKEN)


# --- webhooks ----------------------------------------------------------------------------------


class Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Hook)
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/webhooks/github"

    def wait_for(self, count: int, timeout: float = 10) -> None:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout)


class _Hook(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.arrived:
            self.server.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.server.arrived.notify_all()
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.shutdown()
    receiver.server_close()


def test_webhooks_are_delivered_signed(
    server: Server, forge: GitHubForge, receiver: Receiver
) -> None:
    world = server.world
    world.webhook_url, world.webhook_secret = receiver.url, "hook-secret"
    base = forge.head()
    assert base is not None
    forge.commit_files(BRANCH, base, promotion("1.4.2"), "Promote")  # push (new branch)
    pr = forge.open_pr(BRANCH, "Promote", "v1", LABELS)  # opened, 3 × labeled
    forge.comment(pr.number, "hello")  # issue_comment
    receiver.wait_for(6)
    events = []
    for headers, body in receiver.received:
        expected = hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-hub-signature-256"], f"sha256={expected}")
        assert headers["x-github-delivery"]
        payload = json.loads(body)
        events.append((headers["x-github-event"], payload.get("action")))
        assert payload["repository"]["full_name"] == REPO
        assert payload["sender"]["login"] == "promobot[bot]"
    assert sorted(events, key=str) == sorted(
        [("push", None), ("pull_request", "opened"), ("issue_comment", "created")]
        + [("pull_request", "labeled")] * 3,
        key=str,
    )
    opened = next(
        json.loads(body) for h, body in receiver.received if b'"action": "opened"' in body
    )
    assert opened["pull_request"]["head"] == {
        **opened["pull_request"]["head"],
        "ref": BRANCH,
        "sha": pr.head_sha,
    }
    assert opened["number"] == pr.number


def test_graphql_is_asked_about_edits_only_when_rest_cannot_tell(
    server: Server, forge: GitHubForge
) -> None:
    """A comment deleted before GraphQL answers, a failing GraphQL, one GitHub refuses."""
    base = forge.head()
    assert base is not None
    forge.commit_files(BRANCH, base, promotion("1.4.2"), "Promote")
    pr = forge.open_pr(BRANCH, "t", "b", LABELS)
    first, second = forge.comment(pr.number, "/hold"), forge.comment(pr.number, "/unhold")
    comments = forge.comments(pr.number)
    world = server.world
    later = replace(comments[0], edited=True)  # its times already tell: nothing to ask
    world.reset_calls()
    assert forge.unedited(pr.number, [later]) == set()
    assert world.calls == {}
    del world.repos[REPO].comments[second]  # deleted since it was listed: a NOT_FOUND null
    assert forge.unedited(pr.number, comments) == {first}
    world.faults.append(Fault("POST", "/api/graphql", status=502))  # retried
    assert forge.unedited(pr.number, comments) == {first}
    assert world.calls["github POST /api/graphql"] == 3
    world.faults.append(Fault("POST", "/api/graphql", status=200, body={"errors": [
        {"type": "RATE_LIMITED", "message": "API rate limit exceeded for installation."}]}))  # fmt: skip
    with pytest.raises(RateLimited, match="GraphQL rate limit"):
        make(server, policy=Policy(attempts=1)).unedited(pr.number, comments)
    world.faults.append(Fault("POST", "/api/graphql", status=200, body={"errors": [
        {"message": "Something went wrong while executing your query."}]}))  # fmt: skip
    with pytest.raises(ForgeError, match=r"^GitHub's GraphQL API refused to ask whether comments"):
        forge.unedited(pr.number, comments)
