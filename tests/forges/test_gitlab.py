"""The GitLab forge through python-gitlab over real HTTP, against the forge simulator — and the
simulator's GitLab face checked against recorded real responses and webhook payloads."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import gitlab
import httpx
import pytest

from bot.errors import ForgeError, MergeRefused, NotFound, RateLimited, Unavailable
from bot.forges.gitlab import GitLabForge
from bot.forges.retry import Policy
from tests.forgesim import Server, World
from tests.forgesim.gitlab import state
from tests.forgesim.world import Fault, clock_at

REPO = "acme/env-repo"
TOKEN = "glpat-promobot-secret"
FAST = Policy(attempts=3, backoff_base=0.01, backoff_max=0.05, rate_limit_max_wait=5)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FILES = {
    ".promobot.yaml": "version: 1\n",
    "envs/dev/api/values.yaml": "image:\n  tag: 1.0.0\n",
    "envs/prod/api/values.yaml": "image:\n  tag: 0.9.0\n",
    "envs/prod/api/old.yaml": "old: true\n",
}
BRANCH = "promobot/prod/api"
LABELS = ("promotion", "env:prod", "app:api")


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as server:
        world = server.world
        world.add_user("promobot[bot]", bot=True, token=TOKEN)
        for person in ("alice", "bob"):
            world.add_user(person, token=f"{person}-token")
        world.add_repo(REPO, FILES).permissions["promobot[bot]"] = "admin"
        yield server


@pytest.fixture
def forge(server: Server) -> GitLabForge:
    # no test here waits for a slow answer through it: the timeout only outlasts a loaded machine
    return GitLabForge(REPO, token=TOKEN, url=server.gitlab_url, policy=FAST, timeout=10)


def calls(world: World) -> int:
    return sum(n for name, n in world.calls.items() if name.startswith("gitlab "))


def as_user(server: Server, login: str) -> Any:
    """The project as another person sees it, through python-gitlab."""
    client = gitlab.Gitlab(server.gitlab_url, private_token=f"{login}-token")
    return client.projects.get(REPO, lazy=True)


def api(server: Server, method: str, path: str, **kwargs: Any) -> httpx.Response:
    url = f"{server.gitlab_url}/api/v4{path}"
    return httpx.request(method, url, headers={"PRIVATE-TOKEN": TOKEN}, timeout=10, **kwargs)


def promote(forge: GitLabForge, tag: str = "1.0.0", over: str | None = None) -> tuple[str, str]:
    """Promote api to prod on BRANCH: a new branch, or over `over`, promobot's commit there."""
    base = forge.head()
    assert base is not None
    changes: dict[str, bytes | None] = {
        "envs/prod/api/values.yaml": f"image:\n  tag: {tag}\n".encode(),
        "envs/prod/api/new.yaml": b"new: true\n",
        "envs/prod/api/old.yaml": None,
    }
    message = f"Promote api to prod: {tag}"
    return base, forge.commit_files(BRANCH, base, changes, message, over=over)


# --- call counts (the rate limit is the budget) --------------------------------------------


def test_read_open_and_supersede_stay_within_their_call_budgets(
    server: Server, forge: GitLabForge
) -> None:
    world = server.world
    world.reset_calls()
    base = forge.head()
    assert base is not None
    snapshot = forge.snapshot(base)
    assert snapshot.files["envs/prod/api/values.yaml"] == b"image:\n  tag: 0.9.0\n"
    assert calls(world) == 2  # one commit listing, one archive

    world.reset_calls()
    assert forge.find_pr(BRANCH) is None
    first = forge.commit_files(BRANCH, base, {"envs/prod/api/values.yaml": b"image:\n  tag: 1.0.0\n",
                                              "envs/prod/api/new.yaml": b"new: true\n",
                                              "envs/prod/api/old.yaml": None}, "Promote")  # fmt: skip
    pr = forge.open_pr(BRANCH, "Promote api to prod", "table v1", LABELS)
    assert calls(world) == 4  # project (default branch, once), MR list, commit, MR
    assert set(pr.labels) == set(LABELS)

    world.reset_calls()
    assert forge.find_pr(BRANCH) is not None
    forge.commit_files(BRANCH, base, {"envs/prod/api/values.yaml": b"image:\n  tag: 1.1.0\n"}, "2",
                       over=first)  # fmt: skip
    forge.update_pr(pr.number, title="Promote api to prod: 1.1.0", body="table v2")
    assert calls(world) == 3  # MR list, commit, MR update

    world.reset_calls()
    assert forge.snapshot(base) is snapshot  # cached by commit
    assert calls(world) == 0


def test_commit_files_is_one_commit_on_base_with_create_update_and_delete(
    server: Server, forge: GitLabForge
) -> None:
    base, first = promote(forge)
    git = server.world.repos[REPO].git
    assert git.text("rev-parse", f"{first}^") == base
    assert git.read_path(first, "envs/prod/api/values.yaml") == b"image:\n  tag: 1.0.0\n"
    assert git.read_path(first, "envs/prod/api/new.yaml") == b"new: true\n"
    assert git.read_path(first, "envs/prod/api/old.yaml") is None
    _, second = promote(forge, "1.1.0", over=first)  # `new.yaml` is `create` again: not on base
    assert git.text("rev-parse", f"{second}^") == base
    assert forge.head(BRANCH) == second


def test_the_commits_api_refuses_create_on_existing_and_update_on_missing(
    server: Server, forge: GitLabForge
) -> None:
    base = forge.head()
    for action, path, message in (
        ("create", "envs/dev/api/values.yaml", "A file with this name already exists"),
        ("update", "envs/nope.yaml", "A file with this name doesn't exist"),
        ("delete", "envs/nope.yaml", "A file with this name doesn't exist"),
    ):
        answer = api(server, "POST", "/projects/acme%2Fenv-repo/repository/commits", json={
            "branch": "x", "start_sha": base, "commit_message": "m",
            "actions": [{"action": action, "file_path": path, "content": "c"}],
        })  # fmt: skip
        assert (answer.status_code, answer.json()) == (400, {"message": message})
    taken = as_user(server, "alice").commits.create
    with pytest.raises(gitlab.GitlabCreateError, match="already exists"):
        taken({"branch": "main", "start_sha": base, "commit_message": "m",
               "actions": [{"action": "create", "file_path": ".promobot.yaml", "content": "c"}]})  # fmt: skip


# --- merge requests ------------------------------------------------------------------------


def test_opening_an_existing_mr_adopts_it_and_brings_it_up_to_date(
    server: Server, forge: GitLabForge
) -> None:
    promote(forge)
    first = forge.open_pr(BRANCH, "Promote api", "v1", LABELS)
    answer = api(server, "POST", "/projects/acme%2Fenv-repo/merge_requests", json={
        "source_branch": BRANCH, "target_branch": "main", "title": "again"})  # fmt: skip
    assert answer.status_code == 409
    assert answer.json() == {
        "message": [
            f"Another open merge request already exists for this source branch: !{first.number}"
        ]
    }
    again = forge.open_pr(BRANCH, "Promote api: 1.1.0", "v2", ("promotion",))
    assert again.number == first.number
    assert forge.get_pr(first.number) == again
    assert len(server.world.repos[REPO].pulls) == 1


def test_find_pr_by_state_and_list_prs_by_label(server: Server, forge: GitLabForge) -> None:
    _, made = promote(forge)
    first = forge.open_pr(BRANCH, "Promote api", "v1", LABELS)
    forge.close_pr(first.number)  # a human closed it
    promote(forge, "1.1.0", over=made)
    second = forge.open_pr(BRANCH, "Promote api", "v2", LABELS)
    forge.commit_files("promobot/dev/web", forge.head() or "", {"w.yaml": b"w\n"}, "web")
    other = forge.open_pr("promobot/dev/web", "Promote web", "b", ("promotion", "app:web"))
    open_now = forge.find_pr(BRANCH)
    closed = forge.find_pr(BRANCH, "closed")
    assert open_now is not None and open_now.number == second.number
    assert closed is not None and (closed.number, closed.state) == (first.number, "closed")
    assert forge.find_pr("promobot/dev/web", "closed") is None
    assert {pr.number for pr in forge.list_prs()} == {second.number, other.number}
    assert [pr.number for pr in forge.list_prs("app:web")] == [other.number]
    forge.merge(second.number, second.head_sha)
    merged = forge.find_pr(BRANCH, "closed")  # the newest closed one, merged or not
    assert merged is not None and (merged.number, merged.state) == (second.number, "merged")


def test_merge_passes_the_head_sha_and_refuses_otherwise(
    server: Server, forge: GitLabForge
) -> None:
    base, sha = promote(forge)
    pr = forge.open_pr(BRANCH, "Promote api", "body", LABELS)
    answer = api(server, "PUT", f"/projects/acme%2Fenv-repo/merge_requests/{pr.number}/merge",
                 json={"sha": base})  # fmt: skip
    assert (answer.status_code, answer.json()) == (
        409,
        {"message": f"SHA does not match HEAD of source branch: {sha}"},
    )
    with pytest.raises(MergeRefused, match="SHA does not match"):
        forge.merge(pr.number, base)
    merged = forge.merge(pr.number, sha)
    git = server.world.repos[REPO].git
    assert git.commit_info(merged)["parents"].split() == [base, sha]  # a real merge commit
    assert forge.head() == merged
    assert forge.get_pr(pr.number).state == "merged"
    assert forge.merge(pr.number, sha) == merged  # a lost answer, retried: the same merge
    with pytest.raises(MergeRefused, match="405"):
        forge.merge(pr.number, base)


def test_a_conflicting_or_closed_mr_is_refused(server: Server, forge: GitLabForge) -> None:
    _, sha = promote(forge)
    pr = forge.open_pr(BRANCH, "Promote api", "body", LABELS)
    server.world.push(
        REPO, "main", {"envs/prod/api/values.yaml": "image:\n  tag: 6.6.6\n"}, "hotfix"
    )
    with pytest.raises(MergeRefused, match="cannot be merged"):
        forge.merge(pr.number, sha)  # 406
    forge.close_pr(pr.number)
    assert forge.find_pr(BRANCH) is None
    with pytest.raises(MergeRefused, match="405"):
        forge.merge(pr.number, sha)


def test_reviews_are_bound_to_the_head_at_approval_time(server: Server, forge: GitLabForge) -> None:
    _, first = promote(forge)
    pr = forge.open_pr(BRANCH, "Promote api", "body", LABELS)
    as_user(server, "alice").mergerequests.get(pr.number, lazy=True).approve(sha=first)
    _, second = promote(forge, "1.1.0", over=first)  # superseded: alice approved the old head
    stale = as_user(server, "bob").mergerequests.get(pr.number, lazy=True)
    with pytest.raises(gitlab.GitlabMRApprovalError, match="SHA does not match"):
        stale.approve(sha=first)
    stale.approve()
    reviews = {r.user: r for r in forge.reviews(pr.number)}
    assert {user: (r.state, r.sha) for user, r in reviews.items()} == {
        "alice": ("approved", first),
        "bob": ("approved", second),
    }
    assert reviews["alice"].submitted_at <= reviews["bob"].submitted_at
    with pytest.raises(gitlab.GitlabAuthenticationError):  # authors cannot approve their own MR
        as_user(server, "promobot[bot]").mergerequests.get(pr.number, lazy=True).approve()


@pytest.mark.parametrize("shape", ["without approved_at", "GitLab CE"])
def test_reviews_on_a_gitlab_that_does_not_say_when_are_timed_by_its_system_notes(
    server: Server, forge: GitLabForge, shape: str
) -> None:
    _, first = promote(forge)
    pr = forge.open_pr(BRANCH, "Promote api", "body", LABELS)
    as_user(server, "alice").mergerequests.get(pr.number, lazy=True).approve()
    _, second = promote(forge, "1.1.0", over=first)  # superseded: alice approved the old head
    as_user(server, "bob").mergerequests.get(pr.number, lazy=True).approve()
    state(server.world).approved_at = False
    state(server.world).ce_approvals = shape == "GitLab CE"
    answer = api(server, "GET", f"/projects/acme%2Fenv-repo/merge_requests/{pr.number}/approvals")
    if shape == "GitLab CE":  # what GitLab CE answered before approved_at: no times at all
        assert set(answer.json()) == {
            "user_has_approved",
            "user_can_approve",
            "approved",
            "approved_by",
        }
    assert [set(entry) for entry in answer.json()["approved_by"]] == [{"user"}, {"user"}]
    reviews = {r.user: r for r in forge.reviews(pr.number)}
    assert {user: (r.state, r.sha) for user, r in reviews.items()} == {
        "alice": ("approved", first),
        "bob": ("approved", second),
    }
    assert reviews["alice"].submitted_at < reviews["bob"].submitted_at


@pytest.mark.parametrize("shape", ["without approved_at", "GitLab CE"])
def test_an_approval_whose_time_cannot_be_found_is_stale_unless_pushes_reset_approvals(
    server: Server, forge: GitLabForge, shape: str
) -> None:
    _, sha = promote(forge)
    pr = forge.open_pr(BRANCH, "Promote api", "body", LABELS)
    as_user(server, "alice").mergerequests.get(pr.number, lazy=True).approve()
    state(server.world).approved_at = False
    state(server.world).ce_approvals = shape == "GitLab CE"
    state(server.world).system_notes.clear()  # e.g. notes pruned, or in another language
    assert [(r.user, r.sha) for r in forge.reviews(pr.number)] == [("alice", None)]
    state(server.world).reset_approvals_on_push = True  # then every approval is on the head
    fresh = GitLabForge(REPO, token=TOKEN, url=server.gitlab_url, policy=FAST)
    assert [(r.user, r.sha) for r in fresh.reviews(pr.number)] == [("alice", sha)]
    promote(forge, "1.1.0", over=sha)
    assert fresh.reviews(pr.number) == []  # the push reset it


def test_a_comment_that_says_approved_is_not_an_approval_time(
    server: Server, forge: GitLabForge
) -> None:
    promote(forge)
    pr = forge.open_pr(BRANCH, "Promote api", "body", LABELS)
    alice = as_user(server, "alice").mergerequests.get(pr.number, lazy=True)
    alice.approve()
    state(server.world).system_notes.clear()
    alice.notes.create({"body": "approved this merge request"})  # a person can write that
    state(server.world).ce_approvals = True
    assert [(r.user, r.sha) for r in forge.reviews(pr.number)] == [("alice", None)]


# --- notes, statuses, people ---------------------------------------------------------------


def test_comments_skip_system_notes_and_replies_quote(server: Server, forge: GitLabForge) -> None:
    promote(forge)
    pr = forge.open_pr(BRANCH, "Promote api", "body", LABELS)
    alice = as_user(server, "alice").mergerequests.get(pr.number, lazy=True)
    asked = int(alice.notes.create({"body": "\n/status prod\nthanks"}).id)
    alice.approve()
    answer = forge.comment(pr.number, "prod runs 0.9.0", reply_to=asked)
    notes = api(server, "GET", f"/projects/acme%2Fenv-repo/merge_requests/{pr.number}/notes").json()
    assert any(n["system"] and n["body"] == "approved this merge request" for n in notes)
    comments = forge.comments(pr.number)
    assert [(c.user, c.id) for c in comments] == [("alice", asked), ("promobot[bot]", answer)]
    assert comments[1].body == "> /status prod\n\nprod runs 0.9.0"
    forge.react(pr.number, asked, "eyes")
    forge.react(pr.number, asked, "eyes")  # GitLab answers 404 to a repeat: nothing to do
    forge.react(pr.number, asked, "+1")
    reactions = server.world.repos[REPO].comments[asked].reactions
    assert reactions == [("promobot[bot]", "eyes"), ("promobot[bot]", "thumbsup")]
    with pytest.raises(NotFound):
        forge.react(pr.number, 999999, "eyes")


def test_notes_keep_milliseconds_so_an_edit_in_the_same_second_shows(
    server: Server, forge: GitLabForge
) -> None:
    """A maintainer (bob) edits alice's note 300 ms after she posted it."""
    promote(forge)
    pr = forge.open_pr(BRANCH, "Promote api", "body", LABELS)
    server.world.repos[REPO].permissions["bob"] = "maintain"
    alice = as_user(server, "alice").mergerequests.get(pr.number, lazy=True)
    posted = datetime.now(UTC).replace(microsecond=100_000)
    with clock_at(posted):
        kept = int(alice.notes.create({"body": "/hold"}).id)
        changed = int(alice.notes.create({"body": "Looks good"}).id)
    with clock_at(posted + timedelta(milliseconds=300)):
        bob = as_user(server, "bob").mergerequests.get(pr.number, lazy=True)
        bob.notes.update(changed, {"body": "/approve"})
    notes = api(server, "GET", f"/projects/acme%2Fenv-repo/merge_requests/{pr.number}/notes")
    times = {n["id"]: (n["created_at"], n["updated_at"]) for n in notes.json()}
    stamp = f"{posted:%Y-%m-%dT%H:%M:%S}"
    assert times[kept] == (f"{stamp}.100Z", f"{stamp}.100Z")
    assert times[changed] == (f"{stamp}.100Z", f"{stamp}.400Z")
    comments = forge.comments(pr.number)
    assert [(c.id, c.edited) for c in comments] == [(kept, False), (changed, True)]
    assert forge.unedited(pr.number, comments) == {kept}


def test_checks_are_the_latest_status_per_name(server: Server, forge: GitLabForge) -> None:
    _, sha = promote(forge)
    ci = as_user(server, "alice").commits.get(sha, lazy=True).statuses
    for name, states in {
        "build": ["pending", "running", "success"],
        "lint": ["running", "failed"],
        "deploy": ["canceled"],
        "docs": ["skipped"],
        "e2e": ["running"],
    }.items():
        for value in states:
            ci.create({"state": value, "name": name, "target_url": f"https://ci/{name}"})
    forge.set_status(sha, "promobot/gates", "pending", "waiting for soak")
    forge.set_status(sha, "promobot/gates", "pending", "still waiting")  # GitLab says 400: fine
    assert {(c.name, c.state) for c in forge.checks(sha)} == {
        ("build", "success"),
        ("lint", "failure"),
        ("deploy", "failure"),
        ("docs", "success"),
        ("e2e", "pending"),
        ("promobot/gates", "pending"),
    }
    forge.set_status(sha, "promobot/gates", "failure", "needs 2 approvals", "https://promobot/x")
    gates = next(c for c in forge.checks(sha) if c.name == "promobot/gates")
    assert (gates.state, gates.url) == ("failure", "https://promobot/x")


def test_checks_by_an_account_count_only_what_it_posted_known_by_id(
    server: Server, forge: GitLabForge
) -> None:
    """GitLab keeps one running status per name *and user*: another user's status of the same
    name is a status of its own, and only the named account's count."""
    _, sha = promote(forge)
    server.world.add_user("mallory", token="mallory-token")
    argo = as_user(server, "alice").commits.get(sha, lazy=True).statuses
    mallory = as_user(server, "mallory").commits.get(sha, lazy=True).statuses
    argo.create({"state": "running", "name": "deploy/api-prod"})
    mallory.create({"state": "failed", "name": "deploy/api-prod"})  # newer, someone else
    argo.create({"state": "success", "name": "deploy/api-prod"})
    mallory.create({"state": "failed", "name": "deploy/api-prod"})
    ids = forge.identities("alice")
    assert ids == {f"user:{server.world.users['alice'].id}"}
    assert {(c.name, c.state) for c in forge.checks(sha)} == {("deploy/api-prod", "failure")}
    assert {(c.name, c.state) for c in forge.checks(sha, by=ids)} == {
        ("deploy/api-prod", "success")
    }
    assert forge.identities("nobody-at-all") == frozenset()


def test_permission_and_group_membership(server: Server, forge: GitLabForge) -> None:
    world = server.world
    levels = {"owner": "50", "maint": "admin", "dev": "write", "reporter": "read", "guest": "10",
              "minimal": "5"}  # fmt: skip
    for user, level in levels.items():
        world.add_user(user)
        world.repos[REPO].permissions[user] = level
    world.add_user("stranger")
    world.add_team("acme/sre", ["maint"])
    assert {user: forge.permission(user) for user in [*levels, "stranger", "nobody"]} == {
        "owner": "admin",
        "maint": "admin",
        "dev": "write",
        "reporter": "read",
        "guest": "read",
        "minimal": "none",
        "stranger": "none",
        "nobody": "none",
    }
    assert forge.is_member("maint", "@acme/sre") is True
    assert forge.is_member("dev", "acme/sre") is False
    assert forge.is_member("maint", "acme/nope") is False
    assert forge.is_member("nobody", "acme/sre") is False


def test_tags_follow_pagination(server: Server, forge: GitLabForge) -> None:
    git = server.world.repos[REPO].git
    main = git.resolve("refs/heads/main")
    assert main is not None
    for i in range(25):
        git.set_ref(f"refs/tags/v1.{i}.0", main)
    assert len(forge.tags()) == 25
    answer = api(server, "GET", "/projects/acme%2Fenv-repo/repository/tags",
                 params={"per_page": 10, "page": 2})  # fmt: skip
    headers = answer.headers
    assert (headers["X-Total"], headers["X-Total-Pages"], headers["X-Page"]) == ("25", "3", "2")
    assert (headers["X-Next-Page"], headers["X-Prev-Page"], headers["X-Per-Page"]) == (
        "3",
        "1",
        "10",
    )
    assert 'rel="next"' in headers["Link"] and "page=3" in headers["Link"]
    server.world.reset_calls()
    tags = as_user(server, "alice").tags.list(get_all=True, per_page=10)
    assert len(tags) == 25 and calls(server.world) == 3  # python-gitlab followed `Link`


# --- faults, through the real client --------------------------------------------------------


def test_a_server_error_is_retried(server: Server, forge: GitLabForge) -> None:
    server.world.faults.append(Fault("GET", "/repository/branches/main", status=502))
    assert forge.head("main") == server.world.repos[REPO].git.resolve("refs/heads/main")
    assert (
        server.world.calls["gitlab GET /projects/{project:path}/repository/branches/{branch:path}"]
        == 2
    )


def test_a_rate_limit_waits_for_retry_after(server: Server, forge: GitLabForge) -> None:
    server.world.faults.append(
        Fault("GET", "/repository/commits", 429, headers={"Retry-After": "1"})
    )
    start = time.monotonic()
    assert forge.head() is not None
    assert 0.9 <= time.monotonic() - start < 3


def test_a_rate_limit_without_retry_after_waits_for_the_reset(
    server: Server, forge: GitLabForge
) -> None:
    reset = {"RateLimit-Reset": str(int(time.time()) + 1)}
    server.world.faults.append(Fault("GET", "/repository/commits", 429, headers=reset))
    assert forge.head() is not None


def test_a_rate_limit_longer_than_we_wait_is_reported_at_once(
    server: Server, forge: GitLabForge
) -> None:
    server.world.rate_remaining = 0  # GitLab then answers 403 with RateLimit-Remaining: 0
    start = time.monotonic()
    with pytest.raises(RateLimited) as info:
        forge.head()
    assert info.value.retry_after > 3000 and time.monotonic() - start < 1
    assert calls(server.world) == 1


def test_a_slow_answer_times_out_and_is_retried(server: Server) -> None:
    forge = GitLabForge(REPO, token=TOKEN, url=server.gitlab_url, policy=FAST, timeout=0.5)
    server.world.faults.append(Fault("GET", "/repository/commits", status=0, delay=1.5))
    start = time.monotonic()
    assert forge.head() is not None
    assert time.monotonic() - start >= 0.5
    impatient = GitLabForge(REPO, token=TOKEN, url=server.gitlab_url,
                            policy=Policy(attempts=1), timeout=0.5)  # fmt: skip
    server.world.faults.append(Fault("GET", "/repository/commits", status=0, delay=1.5))
    with pytest.raises(Unavailable, match=r"did not answer .* within 0.5 s") as info:
        impatient.head()
    assert TOKEN not in str(info.value)


def test_errors_are_one_line_without_the_token(server: Server, forge: GitLabForge) -> None:
    with pytest.raises(NotFound, match="merge request !42"):
        forge.get_pr(42)
    assert forge.head("no/such/branch") is None
    elsewhere = GitLabForge("acme/missing", token=TOKEN, url=server.gitlab_url, policy=FAST)
    with pytest.raises(NotFound, match="Project Not Found"):
        elsewhere.head("main")
    wrong = GitLabForge(REPO, token="glpat-wrong-secret", url=server.gitlab_url, policy=FAST)
    with pytest.raises(ForgeError, match="rejected the token") as info:
        wrong.default_branch()
    assert "glpat-wrong-secret" not in str(info.value) and "\n" not in str(info.value)
    down = GitLabForge(REPO, token=TOKEN, url="http://127.0.0.1:9", policy=FAST)
    with pytest.raises(Unavailable, match="cannot reach GitLab"):
        down.head()


# --- the simulator against recorded reality ------------------------------------------------


def shape_problems(
    expected: Any, actual: Any, where: str = "$", skip: frozenset[str] = frozenset()
) -> list[str]:
    """Where `actual` lacks a key of `expected` or has another JSON type (null matches any)."""
    if where in skip or expected is None or actual is None:
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: {type(actual).__name__}, not an object"]
        problems = [
            f"{where}.{key}: missing"
            for key in expected
            if key not in actual and f"{where}.{key}" not in skip
        ]
        for key in expected.keys() & actual.keys():
            problems += shape_problems(expected[key], actual[key], f"{where}.{key}", skip)
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where}: {type(actual).__name__}, not an array"]
        if expected and actual:
            return shape_problems(expected[0], actual[0], f"{where}[]", skip)
        return []

    def kind(value: Any) -> str:
        return {bool: "boolean", int: "number", float: "number", str: "string"}[type(value)]

    if kind(expected) != kind(actual):
        return [f"{where}: {kind(actual)} {actual!r}, expected a {kind(expected)}"]
    return []


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_responses_have_the_shape_of_the_real_api(server: Server, forge: GitLabForge) -> None:
    _, sha = promote(forge)
    pr = forge.open_pr(BRANCH, "Promote api", "body", LABELS)
    user_id = server.world.users["alice"].id
    project = "/projects/acme%2Fenv-repo"
    for name, path in {
        "get_merge_request.json": f"{project}/merge_requests/{pr.number}",
        "get_commit.json": f"{project}/repository/commits/{sha}",
        "get_branch.json": f"{project}/repository/branches/{BRANCH.replace('/', '%2F')}",
        "list_branches.json": f"{project}/repository/branches",
        "get_user.json": f"/users/{user_id}",
    }.items():
        answer = api(server, "GET", path)
        assert answer.status_code == 200, (name, answer.text)
        assert shape_problems(fixture(f"gitlab-api/{name}"), answer.json()) == [], name
    server.world.tag(REPO, "v0.1", {"a.txt": "1"}, "Release 0.1", "## CHANGELOG\n\n- One")
    releases = api(server, "GET", f"{project}/releases")
    assert shape_problems(fixture("gitlab-api/list_releases.json"), releases.json()) == []
    numeric = api(
        server, "GET", f"/projects/{server.world.repos[REPO].id}/merge_requests/{pr.number}"
    )
    assert numeric.json()["sha"] == sha  # a project by id, as well as by path


class Receiver:
    """A webhook endpoint on loopback that keeps what it was sent."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], Any]] = []
        got = self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                got.append((dict(self.headers.items()), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/webhooks/gitlab"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def wait(self, count: int) -> list[tuple[dict[str, str], Any]]:
        deadline = time.monotonic() + 10
        while len(self.got) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.got)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.http.shutdown()


def test_webhooks_are_sent_with_the_token_and_the_real_shapes(
    server: Server, forge: GitLabForge, receiver: Receiver
) -> None:
    world = server.world
    world.webhook_url, world.webhook_format, world.webhook_secret = (
        receiver.url,
        "gitlab",
        "hook-secret",
    )
    _, sha = promote(forge)  # Push Hook
    pr = forge.open_pr(BRANCH, "Promote api", "body", LABELS)  # Merge Request Hook: open
    receiver.wait(2)
    forge.comment(pr.number, "/status")  # Note Hook
    receiver.wait(3)
    forge.set_status(sha, "promobot/gates", "pending", "soak")  # Pipeline Hook
    receiver.wait(4)
    world.push(
        REPO, BRANCH, {"x.yaml": "x: 1\n"}, "a human was here", author="carol"
    )  # MR update + push
    got = receiver.wait(6)
    assert len(got) == 6
    events = [
        (headers["X-Gitlab-Event"], body.get("object_attributes", {}).get("action"))
        for headers, body in got
    ]
    assert events[:4] == [("Push Hook", None), ("Merge Request Hook", "open"), ("Note Hook", "create"),
                          ("Pipeline Hook", None)]  # fmt: skip
    assert sorted(events[4:], key=str) == [("Merge Request Hook", "update"), ("Push Hook", None)]
    assert {headers["X-Gitlab-Token"] for headers, _ in got} == {"hook-secret"}
    assert len({headers["Idempotency-Key"] for headers, _ in got}) == 6
    assert all(headers["X-Gitlab-Event-UUID"] == headers["Idempotency-Key"] for headers, _ in got)

    payloads = {
        (h["X-Gitlab-Event"], b.get("object_attributes", {}).get("action")): b for h, b in got
    }
    opened = payloads[("Merge Request Hook", "open")]
    assert opened["object_attributes"]["last_commit"]["id"] == sha
    assert opened["project"]["path_with_namespace"] == REPO
    assert {label["title"] for label in opened["labels"]} == set(LABELS)
    assert payloads[("Merge Request Hook", "update")]["object_attributes"]["oldrev"] == sha
    for (event, action), name, skip in (
        (("Merge Request Hook", "open"), "merge_request.json", {"$.changes"}),
        (("Note Hook", "create"), "note_merge_request.json", set()),
        (("Push Hook", None), "push.json", set()),
        (("Pipeline Hook", None), "pipeline.json", {"$.source_pipeline"}),
    ):
        problems = shape_problems(
            fixture(f"gitlab/{name}"), payloads[(event, action)], skip=frozenset(skip)
        )
        assert problems == [], name
