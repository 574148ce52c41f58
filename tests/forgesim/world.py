"""The simulator's state: repositories, people, pull requests and everything on them.

One `World` can be served as GitHub and as GitLab at once; a repository is addressed by its
full name (`acme/env-repo`) on both. Tests arrange state through it (users, teams, reviews by
other people) and inspect what promobot did.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import shutil
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx

from tests.forgesim.git import BareRepo

_set_time: list[datetime] = []  # a test's time for every simulator (`clock_at`), innermost last


def real_time() -> datetime:
    """The simulators' clock, to the microsecond: the machine's, or the one a test set."""
    return _set_time[-1] if _set_time else datetime.now(UTC)


def now() -> datetime:
    """GitHub's clock: whole seconds, as its REST and GraphQL timestamps show."""
    return real_time().replace(microsecond=0)


@contextmanager
def clock_at(when: datetime) -> Iterator[None]:
    """What the simulators do inside happens at `when` (GitHub shows its whole second, GitLab
    its millisecond): a test can put two actions in the same second, whatever the machine's
    speed."""
    _set_time.append(when.astimezone(UTC))
    try:
        yield
    finally:
        _set_time.pop()


@dataclass
class User:
    login: str
    id: int
    bot: bool = False
    name: str = ""

    @property
    def email(self) -> str:
        return f"{self.login}@example.com"


@dataclass
class Comment:
    id: int
    number: int
    user: str
    body: str
    created_at: datetime
    reactions: list[tuple[str, str]] = field(default_factory=list)  # (user, content)
    updated_at: datetime | None = None  # set by an edit
    # every edit of the text, oldest first: who made it, when, and the text it replaced
    edits: list[tuple[str, datetime, str]] = field(default_factory=list)

    def edit(self, editor: str, body: str, when: datetime) -> None:
        """`editor` rewrites the text at `when` — any time after the creation, the same second
        (or millisecond) included, as on the real forges."""
        self.edits.append((editor, when, self.body))
        self.body, self.updated_at = body, when


@dataclass
class Review:
    id: int
    number: int
    user: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED
    commit_id: str
    body: str
    submitted_at: datetime


@dataclass
class Status:
    id: int
    sha: str
    context: str
    state: str  # success, pending, failure, error
    description: str
    target_url: str | None
    creator: str
    created_at: datetime


@dataclass
class CheckRun:
    id: int
    sha: str
    name: str
    status: str  # queued, in_progress, completed
    conclusion: str | None
    created_at: datetime
    app: str = "ci"  # the slug of the GitHub App that created it (only apps create check runs)


@dataclass
class Pull:
    number: int
    repo: str
    branch: str
    base: str
    title: str
    body: str
    user: str
    labels: list[str]
    state: str  # open, closed
    merged: bool
    created_at: datetime
    updated_at: datetime
    id: int = 0
    merge_commit_sha: str | None = None
    merged_by: str | None = None
    closed_at: datetime | None = None
    from_fork: bool = False
    approvals: list[tuple[str, str, datetime]] = field(
        default_factory=list
    )  # GitLab: (user, sha, when)


@dataclass
class Release:
    """A GitHub or GitLab release: notes on a tag."""

    id: int
    tag: str
    name: str
    body: str
    author: str
    created_at: datetime
    draft: bool = False
    prerelease: bool = False


@dataclass
class Repo:
    full_name: str
    id: int
    git: BareRepo
    default_branch: str = "main"
    pulls: dict[int, Pull] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    reviews: dict[int, Review] = field(default_factory=dict)
    statuses: list[Status] = field(default_factory=list)
    check_runs: list[CheckRun] = field(default_factory=list)
    permissions: dict[str, str] = field(default_factory=dict)  # login -> admin/write/read
    hook_id: int = 0
    releases: list[Release] = field(default_factory=list)  # in the order they were made

    @property
    def owner(self) -> str:
        return self.full_name.rsplit("/", 1)[0]

    @property
    def name(self) -> str:
        return self.full_name.rsplit("/", 1)[1]


@dataclass
class Fault:
    """Answer the next `times` requests matching `method` and `path_contains` with a failure."""

    method: str
    path_contains: str
    status: int = 502
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a slow answer, or a timeout)
    body: dict[str, Any] | None = None


class World:
    def __init__(self, root: Path, base_url: str = "http://127.0.0.1") -> None:
        self.root = root
        self.base_url = base_url
        self.lock = threading.RLock()
        self.repos: dict[str, Repo] = {}
        self.users: dict[str, User] = {}
        self.tokens: dict[str, str] = {}  # token -> login
        self.token_expiry: dict[str, float] = {}  # installation tokens: token -> epoch
        self.teams: dict[str, set[str]] = {}  # "org/team" or GitLab group path -> members
        self.apps: dict[
            int, dict[str, Any]
        ] = {}  # app id -> {"public_key": pem, "installation": id, "slug"}
        self.calls: dict[str, int] = {}  # every request, by endpoint
        # the requests among `calls` answered 304 Not Modified, by endpoint: GitHub does not
        # charge a conditional request it answers 304, so rate-limit figures leave them out
        self.not_modified: dict[str, int] = {}
        # when a list: every API request as (epoch time, endpoint, the caller's login or None),
        # for benchmarks that ask when and by whom (GitHub paces writes per installation)
        self.requests: list[tuple[float, str, str | None]] | None = None
        self.faults: list[Fault] = []
        self.latency = 0.0  # seconds added to every API call
        self.rate_limit = 5000
        self.rate_remaining = 5000
        self.rate_reset = int(time.time()) + 3600
        self.webhook_url: str | None = None
        self.webhook_secret = "sim-secret"
        self.webhook_format = "github"  # or "gitlab"
        self.deliveries: list[dict[str, Any]] = []  # what was sent, for tests
        self._ids = itertools.count(1000)
        self._delivery_lock = threading.Lock()
        self.add_user("promobot[bot]", bot=True)

    # --- arrangement ---------------------------------------------------------------------------

    def next_id(self) -> int:
        return next(self._ids)

    def add_user(self, login: str, *, bot: bool = False, token: str | None = None) -> User:
        with self.lock:
            user = self.users.get(login) or User(login, self.next_id(), bot=bot, name=login.title())
            self.users[login] = user
            if token:
                self.tokens[token] = login
            return user

    def add_repo(
        self, full_name: str, files: Mapping[str, bytes | str], default_branch: str = "main"
    ) -> Repo:
        data = {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}
        path = self.root / f"{full_name}.git"
        if path.exists():  # a repo added again under the same name starts without the old refs
            shutil.rmtree(path)
        git = BareRepo.create(path, data, default_branch)
        with self.lock:
            repo = Repo(full_name, self.next_id(), git, default_branch, hook_id=self.next_id())
            self.repos[full_name] = repo
            return repo

    def add_team(self, team: str, members: list[str]) -> None:
        with self.lock:
            self.teams[team] = set(members)
            for m in members:
                self.add_user(m)

    def repo(self, full_name: str) -> Repo | None:
        return self.repos.get(full_name)

    def repo_by_id(self, repo_id: int) -> Repo | None:
        return next((r for r in self.repos.values() if r.id == repo_id), None)

    def count(self, endpoint: str) -> None:
        with self.lock:
            if time.time() >= self.rate_reset:  # a new rate-limit window
                self.rate_remaining = self.rate_limit
                self.rate_reset = int(time.time()) + 3600
            self.calls[endpoint] = self.calls.get(endpoint, 0) + 1
            self.rate_remaining = max(0, self.rate_remaining - 1)

    def count_not_modified(self, endpoint: str) -> None:
        with self.lock:
            self.not_modified[endpoint] = self.not_modified.get(endpoint, 0) + 1

    def reset_calls(self) -> None:
        with self.lock:
            self.calls.clear()
            self.not_modified.clear()

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if (
                    fault.method in (method, "*")
                    and fault.path_contains in path
                    and fault.times > 0
                ):
                    fault.times -= 1
                    if fault.times == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def push(
        self,
        full_name: str,
        branch: str,
        files: Mapping[str, bytes | str | None],
        message: str,
        author: str = "ada",
    ) -> str:
        """A person pushes one commit to a branch (emits a push webhook)."""
        repo = self.repos[full_name]
        data = {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}
        old = repo.git.resolve(f"refs/heads/{branch}")
        parent = old or repo.git.resolve(f"refs/heads/{repo.default_branch}")
        user = self.add_user(author)
        sha = repo.git.commit(parent, data, message, author=(user.login, user.email))
        repo.git.set_ref(f"refs/heads/{branch}", sha)
        self.emit("push", repo=repo, ref=f"refs/heads/{branch}", before=old, after=sha, user=author)
        return sha

    def amend(
        self,
        full_name: str,
        branch: str,
        files: Mapping[str, bytes | str | None],
        committer: str = "ada",
    ) -> str:
        """A person amends the commit at a branch's head and force-pushes it (`git commit
        --amend`): its parents, author and message stay, the person becomes its committer."""
        repo = self.repos[full_name]
        old = repo.git.resolve(f"refs/heads/{branch}")
        assert old is not None, f"no branch {branch}"
        info = repo.git.commit_info(old)
        changes: dict[str, tuple[str, str] | None] = {}
        for path, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            changes[path] = None if data is None else ("100644", repo.git.write_blob(data))
        tree = repo.git.build_tree(info["tree"], changes)
        user = self.add_user(committer)
        sha = repo.git.write_commit(
            tree,
            info["parents"].split(),
            info["message"].rstrip("\n") + "\n",  # as git's cleanup leaves it
            (info["author_name"], info["author_email"]),
            (user.login, user.email),
            authored=info["author_date"],
        )
        repo.git.set_ref(f"refs/heads/{branch}", sha)
        self.emit("push", repo=repo, ref=f"refs/heads/{branch}", before=old, after=sha,
                  user=committer)  # fmt: skip
        return sha

    def tag(
        self,
        full_name: str,
        tag: str,
        files: Mapping[str, bytes | str | None] | None = None,
        message: str | None = None,
        notes: str | None = None,
        *,
        name: str = "",
        draft: bool = False,
        author: str = "ada",
    ) -> str:
        """Commit `files` (if any) on the default branch, tag the head `tag`, and publish a
        release with `notes` when given. The commit's SHA."""
        repo = self.repos[full_name]
        head = repo.git.resolve(f"refs/heads/{repo.default_branch}")
        if files is not None:
            data = {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}
            user = self.add_user(author)
            head = repo.git.commit(
                head, data, message or f"Release {tag}", author=(user.login, user.email)
            )
            repo.git.set_ref(f"refs/heads/{repo.default_branch}", head)
        assert head is not None
        repo.git.set_ref(f"refs/tags/{tag}", head)
        if notes is not None:
            self.add_user(author)
            with self.lock:
                repo.releases.append(
                    Release(self.next_id(), tag, name, notes, author, now(), draft=draft)
                )
        return head

    # --- webhooks ------------------------------------------------------------------------------

    emitters: ClassVar[
        dict[str, Any]
    ] = {}  # format -> callable(world, kind, **data) -> (event, body)

    def emit(self, kind: str, **data: Any) -> None:
        """Send a webhook for something that happened, in the configured forge's format."""
        if not self.webhook_url:
            return
        emitter = self.emitters.get(self.webhook_format)
        if emitter is None:
            return
        built = emitter(self, kind, **data)
        if built is None:
            return
        event, payload = built
        self.deliver(event, payload)

    def deliver(self, event: str, payload: dict[str, Any], delivery: str | None = None) -> None:
        body = json.dumps(payload).encode()
        delivery = delivery or str(uuid.uuid4())
        if self.webhook_format == "github":
            signature = hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
            headers = {
                "Content-Type": "application/json",
                "X-GitHub-Event": event,
                "X-GitHub-Delivery": delivery,
                "X-GitHub-Hook-ID": str(
                    next(iter(self.repos.values())).hook_id if self.repos else 1
                ),
                "X-Hub-Signature-256": f"sha256={signature}",
                "User-Agent": "GitHub-Hookshot/sim",
            }
        else:
            headers = {
                "Content-Type": "application/json",
                "X-Gitlab-Event": event,
                "X-Gitlab-Token": self.webhook_secret,
                "X-Gitlab-Event-UUID": delivery,
                "Idempotency-Key": delivery,
                "User-Agent": "GitLab/sim",
            }
        record = {"event": event, "delivery": delivery, "payload": payload, "status": None}
        with self._delivery_lock:
            self.deliveries.append(record)
        url = self.webhook_url
        assert url is not None

        def send() -> None:
            try:
                record["status"] = httpx.post(
                    url, content=body, headers=headers, timeout=10
                ).status_code
            except httpx.HTTPError as exc:
                record["status"] = f"error: {exc}"

        threading.Thread(target=send, daemon=True).start()
