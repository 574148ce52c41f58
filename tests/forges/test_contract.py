"""One contract for every forge: the same tests against GitHub and GitLab (through PyGithub and
python-gitlab over real HTTP, against the forge simulator) and against a local git repo.

A `Rig` arranges what other people do (review, run CI, push, join teams) on each forge, so the
tests themselves read the same for all three.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.errors import ForgeError, MergeRefused, Moved, Taken, Unavailable
from bot.forges.base import Forge, Head, Mine
from bot.forges.local import LocalForge
from bot.forges.retry import Policy
from tests.conftest import MakeRepo, git
from tests.forgesim import Server
from tests.forgesim.world import (
    CheckRun,
    Comment,
    Fault,
    Review,
    Status,
    World,
    clock_at,
    now,
    real_time,
)

REPO = "acme/env-repo"
TOKEN = "promobot-token"
FAST = Policy(attempts=4, backoff_base=0.01, backoff_max=0.05, rate_limit_max_wait=5)
FILES = {
    ".promobot.yaml": "version: 1\nenvironments:\n  dev: {}\n",
    "envs/dev/values.yaml": "image:\n  tag: 1.0.0\n",
    "envs/prod/values.yaml": "image:\n  tag: 0.9.0\n",
    "envs/prod/old.yaml": "old: true\n",
}
KINDS = ["github", "gitlab", "local"]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with Server() as server:
        yield server


@dataclass
class Rig:
    kind: str
    forge: Forge
    world: World | None = None
    path: Path | None = None  # the local checkout

    def git(self, *args: str) -> str:
        if self.world is not None:
            return self.world.repos[REPO].git.text(*args)
        assert self.path is not None
        return git(self.path, *args)

    def approve(self, number: int, user: str, sha: str, state: str = "APPROVED") -> None:
        if self.world is None:
            assert isinstance(self.forge, LocalForge)
            self.forge.add_review(number, user, state.lower(), sha)
            return
        self.world.add_user(user)
        repo = self.world.repos[REPO]
        if self.kind == "gitlab":
            repo.pulls[number].approvals.append((user, sha, now()))
        else:
            review_id = self.world.next_id()
            repo.reviews[review_id] = Review(review_id, number, user, state, sha, "", now())

    def post(self, number: int, user: str, text: str) -> int:
        """`user` comments on PR `number`; the comment's id."""
        if self.world is None:
            assert isinstance(self.forge, LocalForge)
            return self.forge.add_comment(number, user, text)
        self.world.add_user(user)
        comment = Comment(self.world.next_id(), number, user, text, real_time())
        self.world.repos[REPO].comments[comment.id] = comment
        return comment.id

    def edit(self, comment_id: int, user: str, text: str) -> None:
        """`user` rewrites someone's comment (a writer on GitHub, a maintainer on GitLab)."""
        if self.world is None:
            assert isinstance(self.forge, LocalForge)
            self.forge.edit_comment(comment_id, user, text)
            return
        self.world.repos[REPO].comments[comment_id].edit(user, text, real_time())

    def ci_status(self, sha: str, name: str, state: str) -> None:
        if self.world is None:
            self.forge.set_status(sha, name, state, "CI")  # type: ignore[arg-type]
            return
        repo = self.world.repos[REPO]
        if self.kind == "github" and name.startswith("run:"):
            conclusion = {"success": "success", "failure": "failure"}.get(state)
            repo.check_runs.append(
                CheckRun(self.world.next_id(), sha, name[4:], "completed" if conclusion else
                         "in_progress", conclusion, now())
            )  # fmt: skip
        else:
            repo.statuses.append(
                Status(self.world.next_id(), sha, name, state, "CI", None, "ci-bot", now())
            )

    def amend(self, branch: str, files: dict[str, str]) -> str:
        """carol amends the commit at the head of `branch` and force-pushes it."""
        if self.world is not None:
            return self.world.amend(REPO, branch, files, committer="carol")
        assert self.path is not None
        git(self.path, "checkout", "-q", branch)
        for name, text in files.items():
            (self.path / name).write_text(text)
        carol = {"GIT_COMMITTER_NAME": "carol", "GIT_COMMITTER_EMAIL": "carol@example.com"}
        git(self.path, "commit", "-q", "-a", "--amend", "--no-edit", env=carol)
        sha = git(self.path, "rev-parse", "HEAD")
        git(self.path, "checkout", "-q", "main")
        return sha

    def human_push(self, branch: str, files: dict[str, str]) -> str:
        if self.world is not None:
            return self.world.push(REPO, branch, files, "a human was here", author="carol")
        assert self.path is not None
        git(self.path, "checkout", "-q", branch)
        for name, text in files.items():
            (self.path / name).write_text(text)
        carol = {"GIT_AUTHOR_NAME": "carol", "GIT_COMMITTER_NAME": "carol"}
        git(self.path, "commit", "-q", "-am", "a human was here", env=carol)
        sha = git(self.path, "rev-parse", "HEAD")
        git(self.path, "checkout", "-q", "main")
        return sha


@pytest.fixture(params=KINDS)
def rig(request: pytest.FixtureRequest, make_repo: MakeRepo) -> Rig:
    kind: str = request.param
    if kind == "local":
        path = make_repo(files=FILES)
        return Rig(kind, LocalForge(path), path=path)
    return server_rig(kind, request.getfixturevalue("server"))


@pytest.fixture(params=["github", "gitlab"])
def remote(request: pytest.FixtureRequest, server: Server) -> Rig:
    """Forges behind a server, which can fail in ways a local repo cannot."""
    return server_rig(request.param, server)


def server_rig(kind: str, server: Server) -> Rig:
    world = server.world
    world.repos.clear()
    world.faults.clear()
    world.webhook_url = None
    world.add_user("promobot[bot]", bot=True, token=TOKEN)
    repo = world.add_repo(REPO, FILES)
    repo.permissions["promobot[bot]"] = "admin"
    world.reset_calls()
    forge: Forge
    if kind == "github":
        from bot.forges.github import GitHubForge

        forge = GitHubForge(REPO, token=TOKEN, base_url=server.github_url, policy=FAST, timeout=2)
    else:
        from bot.forges.gitlab import GitLabForge

        forge = GitLabForge(REPO, token=TOKEN, url=server.gitlab_url, policy=FAST, timeout=2)
    return Rig(kind, forge, world=world)


def promote(
    rig: Rig,
    branch: str = "promobot/prod/api",
    tag: str = "1.0.0",
    over: str | None = None,
    mine: Mine | None = None,
) -> tuple[str, str]:
    base = rig.forge.head()
    assert base is not None
    changes: dict[str, bytes | None] = {
        "envs/prod/values.yaml": f"image:\n  tag: {tag}\n".encode(),
        "envs/prod/new.yaml": b"new: true\n",
        "envs/prod/old.yaml": None,
    }
    message = f"Promote api to prod: {tag}"
    return base, rig.forge.commit_files(branch, base, changes, message, over=over, mine=mine)


def never(head: Head) -> bool:
    raise AssertionError(f"asked whose {head.sha} is, with no reason to")


# --- reading ---------------------------------------------------------------------------------


def test_default_branch_and_heads(rig: Rig) -> None:
    assert rig.forge.default_branch() == "main"
    assert rig.forge.head() == rig.git("rev-parse", "main")
    assert rig.forge.head("main") == rig.git("rev-parse", "main")
    assert rig.forge.head("no/such/branch") is None


def test_snapshot_has_every_file_and_git_object_id(rig: Rig) -> None:
    sha = rig.git("rev-parse", "main")
    snapshot = rig.forge.snapshot(sha)
    assert snapshot.commit == sha
    listing = rig.git("ls-tree", "-r", "-t", sha)
    expected = {line.split("\t")[1]: line.split()[2] for line in listing.splitlines()}
    assert dict(snapshot.objects) == expected
    assert snapshot.trees == {"envs", "envs/dev", "envs/prod"}
    assert snapshot.files["envs/dev/values.yaml"] == b"image:\n  tag: 1.0.0\n"


def test_tags(rig: Rig) -> None:
    rig.git("tag", "v1.0.0", "main")
    rig.git("tag", "v1.1.0", "main")
    assert {"v1.0.0", "v1.1.0"} <= set(rig.forge.tags())


def test_log_lists_the_commits_that_touched_the_paths_newest_first(rig: Rig) -> None:
    first = rig.human_push("main", {"envs/prod/values.yaml": "image:\n  tag: 0.9.1\n"})
    rig.human_push("main", {"envs/dev/values.yaml": "image:\n  tag: 1.0.1\n"})
    second = rig.human_push("main", {"envs/prod/values.yaml": "image:\n  tag: 0.9.2\n"})
    log = rig.forge.log("main", ["envs/prod/values.yaml"], limit=10)
    assert [c.sha for c in log[:2]] == [second, first]
    assert log[0].author == "carol" and log[0].subject == "a human was here"
    assert log[0].time >= log[1].time
    both = rig.forge.log("main", ["envs/prod/values.yaml", "envs/dev/values.yaml"], limit=3)
    assert len(both) == 3 and both[0].sha == second


def test_log_without_paths_lists_the_branchs_newest_commits(rig: Rig) -> None:
    first = rig.human_push("main", {"envs/dev/values.yaml": "image:\n  tag: 1.0.1\n"})
    second = rig.human_push("main", {"envs/prod/values.yaml": "image:\n  tag: 0.9.1\n"})
    assert [c.sha for c in rig.forge.log("main", [], limit=2)] == [second, first]


def test_a_check_says_when_it_took_its_state(rig: Rig) -> None:
    sha = rig.git("rev-parse", "main")
    rig.ci_status(sha, "deploy/api", "success")
    (check,) = [c for c in rig.forge.checks(sha) if c.name == "deploy/api"]
    assert check.state == "success"
    assert check.at is not None and check.at.tzinfo is not None
    assert abs((datetime.now(UTC) - check.at).total_seconds()) < 120


# --- writing ---------------------------------------------------------------------------------


def test_commit_files_makes_exactly_one_commit_on_base_and_resets_on_repeat(rig: Rig) -> None:
    base, first = promote(rig)
    assert rig.forge.head("promobot/prod/api") == first
    assert rig.git("rev-list", "--count", f"{base}..{first}") == "1"
    assert rig.git("rev-parse", f"{first}^") == base
    assert rig.git("show", f"{first}:envs/prod/values.yaml") == "image:\n  tag: 1.0.0"
    assert rig.git("show", f"{first}:envs/prod/new.yaml") == "new: true"
    assert "envs/prod/old.yaml" not in rig.git("ls-tree", "-r", "--name-only", first)
    assert rig.git("log", "-1", "--format=%s", first) == "Promote api to prod: 1.0.0"
    _, second = promote(rig, tag="1.1.0", over=first)
    assert second != first
    assert rig.forge.head("promobot/prod/api") == second
    assert rig.git("rev-parse", f"{second}^") == base  # superseded, not stacked


def test_a_branch_is_replaced_only_over_a_head_that_is_promobots(rig: Rig) -> None:
    """A branch that exists is replaced over a head `mine` accepts; another head stays, and
    Taken names it and who made it."""
    base, first = promote(rig)
    pushed = rig.human_push("promobot/prod/api", {"envs/prod/values.yaml": "image:\n  tag: 6.6\n"})
    seen: list[Head] = []

    def not_mine(head: Head) -> bool:
        seen.append(head)
        return False

    with pytest.raises(Taken) as taken:
        promote(rig, tag="1.1.0", mine=not_mine)
    assert (taken.value.branch, taken.value.sha) == ("promobot/prod/api", pushed)
    assert "carol" in taken.value.maker and "carol" in str(taken.value)
    assert rig.forge.head("promobot/prod/api") == pushed  # the person's commit stands
    assert [(h.sha, h.parents) for h in seen] == [(pushed, (first,))]
    _, second = promote(rig, tag="1.1.0", mine=lambda head: head.sha == pushed)
    assert rig.forge.head("promobot/prod/api") == second
    assert rig.git("rev-parse", f"{second}^") == base


def test_branch_head_tells_a_commit_made_in_one_go_from_one_made_again(rig: Rig) -> None:
    """The head as one call reads it: its parents, message and people; an amend keeps the
    author and the message, and shows as committed again."""
    base, first = promote(rig)
    if rig.world is not None:
        rig.world.reset_calls()
    head = rig.forge.branch_head("promobot/prod/api")
    if rig.world is not None:
        assert sum(rig.world.calls.values()) == 1
    assert head is not None
    assert (head.sha, head.parents, head.parent) == (first, (base,), base)
    assert head.message.strip() == "Promote api to prod: 1.0.0"
    assert head.author == head.committer and not head.recommitted
    amended = rig.amend("promobot/prod/api", {"envs/prod/values.yaml": "image:\n  tag: 7\n"})
    again = rig.forge.branch_head("promobot/prod/api")
    assert again is not None and again.sha == amended != first
    assert (again.parents, again.author) == (head.parents, head.author)
    assert again.message.strip() == head.message.strip()
    assert "carol" in again.committer and again.recommitted
    assert rig.forge.branch_head("no/such/branch") is None


def test_commit_on_default_lands_only_on_the_base_it_was_computed_on(rig: Rig) -> None:
    """`propose: commit`: one commit on the default branch, never over a commit that came
    in meanwhile (GitHub: a ref update without force; GitLab: the head read just before)."""
    base = rig.forge.head()
    assert base is not None
    change: dict[str, bytes | None] = {"envs/dev/values.yaml": b"image:\n  tag: 1.1.0\n"}
    first = rig.forge.commit_on_default(base, change, "Promote api to dev: 1.1.0")
    assert rig.forge.head() == first == rig.git("rev-parse", "main")
    assert rig.git("rev-parse", f"{first}^") == base
    assert rig.git("show", "main:envs/dev/values.yaml") == "image:\n  tag: 1.1.0"
    assert rig.git("log", "-1", "--format=%s", "main") == "Promote api to dev: 1.1.0"
    person = rig.human_push("main", {"envs/prod/values.yaml": "image:\n  tag: 0.9.9\n"})
    later: dict[str, bytes | None] = {"envs/dev/values.yaml": b"image:\n  tag: 1.2.0\n"}
    with pytest.raises(Moved, match="main moved since"):
        rig.forge.commit_on_default(first, later, "Promote api to dev: 1.2.0")
    assert rig.git("rev-parse", "main") == person  # the person's commit stands
    assert rig.git("show", "main:envs/dev/values.yaml") == "image:\n  tag: 1.1.0"


def test_pull_request_lifecycle(rig: Rig) -> None:
    _, sha = promote(rig)
    assert rig.forge.find_pr("promobot/prod/api") is None
    labels = ("promotion", "env:prod", "app:api")
    pr = rig.forge.open_pr("promobot/prod/api", "Promote api to prod", "body v1", labels)
    assert (pr.branch, pr.base, pr.title, pr.body, pr.state) == (
        "promobot/prod/api",
        "main",
        "Promote api to prod",
        "body v1",
        "open",
    )
    assert set(pr.labels) == set(labels)
    assert pr.head_sha == sha
    found = rig.forge.find_pr("promobot/prod/api")
    assert found is not None and found.number == pr.number
    again = rig.forge.open_pr("promobot/prod/api", "Promote api to prod", "body v1", labels)
    assert again.number == pr.number  # adopted, not duplicated
    rig.forge.update_pr(pr.number, title="Promote api to prod: 1.1.0", body="body v2",
                        labels=("promotion", "env:prod", "app:api", "promobot:hold"))  # fmt: skip
    updated = rig.forge.get_pr(pr.number)
    assert (updated.title, updated.body) == ("Promote api to prod: 1.1.0", "body v2")
    assert "promobot:hold" in updated.labels
    rig.forge.close_pr(pr.number)
    assert rig.forge.find_pr("promobot/prod/api") is None
    assert rig.forge.get_pr(pr.number).state == "closed"


def test_comments_replies_and_reactions(rig: Rig) -> None:
    promote(rig)
    pr = rig.forge.open_pr("promobot/prod/api", "t", "b", ("promotion",))
    first = rig.forge.comment(pr.number, "/status prod\nplease")
    reply = rig.forge.comment(pr.number, "Here is the status.", reply_to=first)
    rig.forge.react(pr.number, first, "eyes")
    rig.forge.react(pr.number, first, "eyes")  # idempotent enough: no error
    comments = {c.id: c for c in rig.forge.comments(pr.number)}
    assert comments[first].body == "/status prod\nplease"
    assert "Here is the status." in comments[reply].body
    assert "/status prod" in comments[reply].body  # the reply says what it answers


def test_a_comment_edited_in_the_second_it_was_posted_is_not_vouched_for(rig: Rig) -> None:
    promote(rig)
    pr = rig.forge.open_pr("promobot/prod/api", "t", "b", ("promotion",))
    posted = datetime.now(UTC).replace(microsecond=100_000)
    with clock_at(posted):
        kept = rig.post(pr.number, "alice", "/hold")
        changed = rig.post(pr.number, "alice", "Looks good")
    with clock_at(posted + timedelta(milliseconds=300)):  # the same second
        rig.edit(changed, "bob", "/approve")
    if rig.world is not None:
        rig.world.reset_calls()
    comments = rig.forge.comments(pr.number)
    assert [c.body for c in comments] == ["/hold", "/approve"]
    assert rig.forge.unedited(pr.number, comments) == {kept}
    assert rig.forge.unedited(pr.number, [rig.forge.get_comment(pr.number, changed)]) == set()
    assert rig.forge.unedited(pr.number, []) == set()
    if rig.world is not None:  # GitHub asks GraphQL: once for both comments, once for one
        asked = rig.world.calls.get("github POST /api/graphql", 0)
        assert asked == (2 if rig.kind == "github" else 0)


def test_reviews_are_bound_to_the_head_they_were_given_on(rig: Rig) -> None:
    _, sha = promote(rig)
    pr = rig.forge.open_pr("promobot/prod/api", "t", "b", ("promotion",))
    rig.approve(pr.number, "alice", sha)
    reviews = rig.forge.reviews(pr.number)
    assert [(r.user, r.state, r.sha) for r in reviews] == [("alice", "approved", sha)]


def test_statuses_and_checks_latest_per_name(rig: Rig) -> None:
    _, sha = promote(rig)
    rig.forge.set_status(sha, "promobot/gates", "pending", "waiting for soak")
    rig.ci_status(sha, "validate", "failure")
    rig.ci_status(sha, "validate", "success")
    checks = {c.name: c.state for c in rig.forge.checks(sha)}
    assert checks["promobot/gates"] == "pending"
    assert checks["validate"] == "success"
    rig.forge.set_status(sha, "promobot/gates", "success", "all gates pass")
    assert {c.name: c.state for c in rig.forge.checks(sha)}["promobot/gates"] == "success"


def test_merge_only_with_the_expected_head(rig: Rig) -> None:
    _, sha = promote(rig)
    pr = rig.forge.open_pr("promobot/prod/api", "t", "b", ("promotion",))
    moved = rig.human_push("promobot/prod/api", {"envs/prod/values.yaml": "image:\n  tag: 6.6.6\n"})
    with pytest.raises(MergeRefused):
        rig.forge.merge(pr.number, sha)  # a push after approval must not ride along
    assert rig.git("show", "main:envs/prod/values.yaml") == "image:\n  tag: 0.9.0"
    merged = rig.forge.merge(pr.number, moved)
    assert rig.forge.head() == merged
    assert rig.git("show", "main:envs/prod/values.yaml") == "image:\n  tag: 6.6.6"
    assert rig.forge.get_pr(pr.number).state == "merged"


def test_permissions_and_team_membership(rig: Rig) -> None:
    if rig.world is None:  # a local checkout belongs to whoever runs promobot
        assert rig.forge.permission("anyone") == "admin"
        assert rig.forge.is_member("anyone", "acme/sre") is False
        return
    repo = rig.world.repos[REPO]
    for user, level in (("root", "admin"), ("dev", "write"), ("viewer", "read")):
        rig.world.add_user(user)
        repo.permissions[user] = level
    rig.world.add_user("stranger")
    rig.world.add_team("acme/sre", ["alice"])
    assert rig.forge.permission("root") == "admin"
    assert rig.forge.permission("dev") == "write"
    assert rig.forge.permission("viewer") == "read"
    assert rig.forge.permission("stranger") == "none"
    assert rig.forge.is_member("alice", "acme/sre") is True
    assert rig.forge.is_member("stranger", "acme/sre") is False


# --- faults (server forges) ------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried(remote: Rig, status: int) -> None:
    world = remote.world
    assert world is not None
    world.faults.append(Fault("*", "/", status=status, times=2))
    assert remote.forge.head() == remote.git("rev-parse", "main")


def test_rate_limit_waits_for_retry_after(remote: Rig) -> None:
    import time

    world = remote.world
    assert world is not None
    world.faults.append(Fault("*", "/", status=429, times=1, headers={"Retry-After": "1"}))
    start = time.monotonic()
    assert remote.forge.head() == remote.git("rev-parse", "main")
    assert 0.9 <= time.monotonic() - start < 4


def test_a_slow_answer_times_out_and_is_retried(remote: Rig) -> None:
    world = remote.world
    assert world is not None
    world.faults.append(Fault("*", "/", status=0, times=1, delay=3.0))  # the forge waits 2 s
    assert remote.forge.head() == remote.git("rev-parse", "main")


def test_an_outage_that_lasts_gives_a_clear_error(remote: Rig) -> None:
    world = remote.world
    assert world is not None
    world.faults.append(Fault("*", "/", status=503, times=50))
    with pytest.raises(Unavailable) as info:
        remote.forge.head()
    assert TOKEN not in str(info.value)
    world.faults.clear()


def test_whose_a_branch_is_costs_a_call_only_when_it_exists_and_no_pr_says(
    remote: Rig,
) -> None:
    """No read of the head to create a branch, nor to replace one over the head the caller
    knows is promobot's (its PR says so); one read when the branch is found there."""
    world = remote.world
    assert world is not None

    def calls() -> dict[str, int]:
        counted = dict(world.calls)
        world.reset_calls()
        return counted

    remote.forge.snapshot(remote.git("rev-parse", "main"))  # what a sync has read already
    calls()
    _, first = promote(remote, mine=never)  # a new branch
    made = sum(calls().values())  # the head; tree, commit and ref (GitLab: one commit)
    _, second = promote(remote, tag="1.1.0", over=first, mine=never)  # over its PR's commit
    assert sum(calls().values()) == made
    promote(remote, tag="1.2.0", mine=lambda head: head.sha == second)  # found there
    found = calls()
    assert sum(found.values()) == made + 2, found  # the refused creation, one read of the head
    read = (
        "github GET /repos/{owner}/{repo}/commits/{ref:path}"  # the default branch's, and this
        if remote.kind == "github"
        else "gitlab GET /projects/{project:path}/repository/branches/{branch:path}"
    )
    assert found[read] == (2 if remote.kind == "github" else 1), found


def test_a_branch_left_without_its_pr_is_adopted_on_the_next_attempt(remote: Rig) -> None:
    world = remote.world
    assert world is not None
    pulls = "/pulls" if remote.kind == "github" else "/merge_requests"
    world.faults.append(Fault("POST", pulls, status=502, times=50))
    _, first = promote(remote)
    with pytest.raises(ForgeError):
        remote.forge.open_pr("promobot/prod/api", "t", "b", ("promotion",))
    world.faults.clear()
    # the next attempt rebuilds the branch (its own commit: promobot's) and opens the PR once
    promote(remote, tag="1.0.1", mine=lambda head: head.sha == first)
    pr = remote.forge.open_pr("promobot/prod/api", "t", "b", ("promotion",))
    assert remote.forge.find_pr("promobot/prod/api") == remote.forge.get_pr(pr.number)
    assert len([p for p in world.repos[REPO].pulls.values() if p.state == "open"]) == 1
