"""A scene for tests of steering and of trust: the service in this process (its clock injected)
against the forge simulator, through the real client libraries, with people who act through the
simulator's API with their own tokens; each action is handed to the service as the webhook
would be.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from bot import events, intake
from bot.forges.base import Forge
from bot.forges.retry import Policy
from bot.service import Service
from bot.settings import Settings
from tests.conftest import SIGNING_KEY
from tests.forgesim import Server
from tests.forgesim.world import Pull, World

REPO = "acme/env-repo"
FAST = Policy(attempts=3, backoff_base=0.01, backoff_max=0.05, rate_limit_max_wait=2)
PEOPLE = {  # login: repo permission
    "alice": "write",  # in @acme/sre: an approver, may promote to prod
    "dave": "write",  # in @acme/sre too
    "bob": "write",  # a developer: not an approver
    "carol": "read",
    "eve": None,  # no access at all
}


def config(freeze: str) -> str:
    return f"""\
version: 1
environments:
  dev: {{}}
  staging:
    from: dev
    auto_merge: true
    gates: {{soak: 30m}}
  prod-eu: &prod
    from: staging
    gates:
      approvals: 1
      approvers: ["@acme/sre"]
      freeze: ["{freeze}"]
  prod-us: *prod
apps:
  api:
    components:
      image:
        source: {{image: ghcr.io/acme/api}}
        target: {{file: "envs/{{env}}/api.yaml", field: image.tag}}
permissions:
  promote: {{"prod-*": ["@acme/sre"]}}
  rollback: {{"*": ["@acme/sre"]}}
"""


DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Scene:
    kind: str
    world: World
    server: Server
    service: Service
    forge: Forge
    clock: Clock
    freeze_start: datetime  # inside the weekly freeze window

    # --- people act through the forge's API -------------------------------------------------

    def api(self, user: str, method: str, path: str, **body: Any) -> Any:
        base = self.server.github_url if self.kind == "github" else f"{self.server.url}/api/v4"
        headers = (
            {"Authorization": f"token {user}-token"}
            if self.kind == "github"
            else {"PRIVATE-TOKEN": f"{user}-token"}
        )
        response = httpx.request(method, base + path, json=body or None, headers=headers)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    @property
    def mr(self) -> str:
        return f"/projects/{quote(REPO, safe='')}/merge_requests"

    def post(self, user: str, number: int, text: str) -> int:
        """`user` comments on PR `number` (promobot is not told); the comment's id."""
        if self.kind == "github":
            made = self.api(user, "POST", f"/repos/{REPO}/issues/{number}/comments", body=text)
        else:
            made = self.api(user, "POST", f"{self.mr}/{number}/notes", body=text)
        return int(made["id"])

    def comment_event(self, user: str, number: int, comment_id: int, text: str) -> Any:
        return events.CommentEvent(
            repo=REPO,
            number=number,
            comment_id=comment_id,
            body=text,
            author=user,
            author_is_bot=False,
            action="created",
            on_pull_request=True,
            from_fork=False,
        )

    def say(self, user: str, number: int, text: str) -> list[str]:
        """`user` comments on PR `number`; the service handles it; promobot's replies."""
        comment_id = self.post(user, number, text)
        return self.service.runner.handle(self.comment_event(user, number, comment_id, text))

    def edit_comment(self, user: str, number: int, comment_id: int, text: str) -> None:
        """`user` edits a comment (GitHub lets anyone with write access edit others')."""
        if self.kind == "github":
            self.api(user, "PATCH", f"/repos/{REPO}/issues/comments/{comment_id}", body=text)
        else:
            self.api(user, "PUT", f"{self.mr}/{number}/notes/{comment_id}", body=text)

    def send_webhooks(self) -> int:
        """From now on the simulator sends its signed webhooks, to no one: `deliver` hands them
        to the service. How many it had sent before."""
        self.world.webhook_url = "http://127.0.0.1:9/"  # nobody listens
        self.world.webhook_format = self.kind
        return len(self.world.deliveries)

    def deliver(self, since: int) -> None:
        """The webhooks the simulator sent from `since` on, taken as promobot's web handler
        appends them (the body's exact bytes), then the jobs they queued, run."""
        for sent in self.world.deliveries[since:]:
            headers = (
                {"x-github-event": sent["event"], "x-github-delivery": sent["delivery"]}
                if self.kind == "github"
                else {"x-gitlab-event": sent["event"], "idempotency-key": sent["delivery"]}
            )
            body = json.dumps(sent["payload"]).encode()
            self.service.intake.take(intake.delivery(self.kind, headers, body))
        self.service.queue.run_pending()

    def edit_body(self, user: str, number: int, body: str) -> None:
        """`user` rewrites the PR's description (anyone with write access can)."""
        if self.kind == "github":
            self.api(user, "PATCH", f"/repos/{REPO}/pulls/{number}", body=body)
        else:
            self.api(user, "PUT", f"{self.mr}/{number}", description=body)

    def replies(self, number: int) -> list[str]:
        """What promobot's account said on PR `number`, oldest first."""
        me = self.forge.identity()
        return [c.body for c in self.forge.comments(number) if c.user_id == me.id]

    def approve(self, user: str, number: int) -> None:
        sha = self.pr(number).head_sha
        if self.kind == "github":
            self.api(
                user,
                "POST",
                f"/repos/{REPO}/pulls/{number}/reviews",
                event="APPROVE",
                commit_id=sha,
            )
        else:  # GitLab lets each person approve once: revoke an older approval first
            mr = f"/projects/{quote(REPO, safe='')}/merge_requests/{number}"
            if any(who == user for who, _, _ in self.world.repos[REPO].pulls[number].approvals):
                self.api(user, "POST", f"{mr}/unapprove")
            self.api(user, "POST", f"{mr}/approve", sha=sha)
        self.service.handle(
            events.ReviewEvent(
                repo=REPO,
                number=number,
                action="submitted",
                reviewer=user,
                state="approved",
                sha=sha,
            )
        )

    # --- what people see --------------------------------------------------------------------

    def pulls(self, env: str) -> list[Pull]:
        return [
            p for p in self.world.repos[REPO].pulls.values() if p.branch == f"promobot/{env}/api"
        ]

    def open_pr(self, env: str) -> Pull:
        found = [p for p in self.pulls(env) if p.state == "open"]
        assert len(found) == 1, [(p.number, p.state) for p in self.pulls(env)]
        return found[0]

    def rollback_pr(self, env: str) -> Pull:
        """The one open rollback PR of api in `env` (on a branch of its own)."""
        prefix = f"promobot/{env}/_rollback/api-"
        pulls = self.world.repos[REPO].pulls.values()
        found = [p for p in pulls if p.branch.startswith(prefix) and p.state == "open"]
        assert len(found) == 1, [(p.number, p.branch, p.state) for p in pulls]
        return found[0]

    def pr(self, number: int) -> Any:
        return self.forge.get_pr(number)

    def gates_status(self, number: int) -> str:
        checks = {c.name: c.state for c in self.forge.checks(self.pr(number).head_sha)}
        return checks.get("promobot/gates", "none")

    def main_file(self, env: str) -> str:
        return self.world.repos[REPO].git.text("show", f"refs/heads/main:envs/{env}/api.yaml")

    def reacted(self, number: int, text: str) -> bool:
        repo = self.world.repos[REPO]
        return any(
            c.body == text and any(content == "eyes" for _, content in c.reactions)
            for c in repo.comments.values()
            if c.number == number
        )


@pytest.fixture(params=["github", "gitlab"])
def scene(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Scene]:
    with steering(request.param, tmp_path) as made:
        yield made


@contextmanager
def steering(kind: str, data: Path, more_config: str = "", **settings: Any) -> Iterator[Scene]:
    """The steering repo on the `kind` simulator with promobot in-process (`settings` added
    to its service's): dev → staging (30m soak, auto-merge) → prod-eu and prod-us (one approval
    from @acme/sre), a one-hour weekly freeze three days from now (the scene's `in_freeze`)."""
    real_now = datetime.now(UTC).replace(microsecond=0)
    # a one-hour weekly freeze three days from now, in UTC: never "now", easy to step into
    start = real_now + timedelta(days=3)
    freeze = f"{DAYS[start.weekday()]} {start:%H}:00 - {DAYS[start.weekday()]} {start:%H}:59 UTC"
    with Server() as server:
        world = server.world
        world.add_user("promobot[bot]", bot=True, token="bot-token")
        repo = world.add_repo(
            REPO,
            {
                ".promobot.yaml": config(freeze) + more_config,
                **{
                    f"envs/{e}/api.yaml": "image:\n  tag: 1.4.2\n"
                    for e in ("dev", "staging", "prod-eu", "prod-us")
                },
            },
        )
        repo.permissions["promobot[bot]"] = "admin"
        for login, permission in PEOPLE.items():
            world.add_user(login, token=f"{login}-token")
            if permission:
                repo.permissions[login] = permission
        world.add_team("acme/sre", ["alice", "dave"])
        clock = Clock(real_now + timedelta(seconds=5))
        service = bot_service(kind, server, data, clock, **settings)
        in_freeze = start.replace(minute=30, second=0)
        yield Scene(kind, world, server, service, service.forge, clock, in_freeze)


def bot_service(
    kind: str, server: Server, data: Path, clock: Clock | None = None, **extra: Any
) -> Service:
    """promobot's service in this process on the simulator's `REPO`, as its bot account
    (`bot-token`), without worker threads: the test runs the jobs itself."""
    settings = Settings(
        forge=kind,  # type: ignore[arg-type]
        repo=REPO,
        signing_key=SIGNING_KEY,  # type: ignore[arg-type]
        data_dir=data,
        workers=0,
        github_token="bot-token",  # type: ignore[arg-type]
        gitlab_token="bot-token",  # type: ignore[arg-type]
        **extra,
    )
    forge: Forge
    if kind == "github":
        from bot.forges.github import GitHubForge

        forge = GitHubForge(REPO, token="bot-token", base_url=server.github_url, policy=FAST)
    else:
        from bot.forges.gitlab import GitLabForge

        forge = GitLabForge(REPO, token="bot-token", url=server.gitlab_url, policy=FAST)
    if clock is None:
        return Service(settings, forge=forge)
    return Service(settings, forge=forge, clock=clock)
