"""The `Forge` interface: everything promobot needs from GitHub, GitLab or a local repo.

Each forge lives in its own package (`github`, `gitlab`, `local`), implements this Protocol,
translates its client library's errors into `bot.errors` at its boundary, and is listed in
`bot.forges.registry.FORGES`. One contract test suite runs against all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from bot.composition import Commit, Snapshot

PRState = Literal["open", "closed", "merged"]
ReviewState = Literal["approved", "changes_requested", "commented", "dismissed"]
CheckState = Literal["success", "pending", "failure"]
StatusState = Literal["success", "pending", "failure", "error"]
Permission = Literal["admin", "write", "read", "none"]


@dataclass(frozen=True)
class PullRequest:
    """A pull request (GitHub) or merge request (GitLab); `number` is the iid on GitLab."""

    number: int
    branch: str
    base: str
    title: str
    body: str
    labels: tuple[str, ...]
    head_sha: str
    state: PRState
    author: str
    url: str
    from_fork: bool = False
    author_id: int | None = None  # the forge's id of the author: what identity checks compare
    # when anything on the PR last changed (a review, a comment, a label, a push): what tells a
    # reconcile which PRs to look at again; None where the forge does not say
    updated_at: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Review:
    """One person's verdict on a PR, bound to the head SHA it was given on."""

    user: str
    state: ReviewState
    sha: str | None
    submitted_at: datetime


@dataclass(frozen=True)
class Check:
    """A commit status or check run on a commit, reduced to what gates need."""

    name: str
    state: CheckState
    url: str | None = None
    # when it took this state, as the forge says (a status's update, a check run's end)
    at: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Comment:
    id: int
    user: str
    body: str
    created_at: datetime
    user_id: int | None = None  # the forge's id of the author (a login can be renamed)
    # changed after it was posted, which its commands never run: True when the forge says so
    # or cannot rule it out (its timestamps moved), False when it says not, None when this
    # answer cannot tell (GitHub's whole seconds: an edit in the second it was posted), which
    # `Forge.unedited` asks
    edited: bool | None = False
    node_id: str | None = field(default=None, compare=False)  # its id in GitHub's GraphQL API


@dataclass(frozen=True)
class Release:
    """A release on the forge (GitHub Releases, GitLab Releases): its tag and its notes, as
    whoever published it wrote them (`bot.changelog` reads them, `bot.render` neutralises)."""

    tag: str
    name: str
    body: str
    url: str | None = None


@dataclass(frozen=True)
class Account:
    """Who promobot is on the forge: what it compares an author's id with."""

    id: int
    login: str


@dataclass(frozen=True)
class Head:
    """The commit at a branch's head, as one call reads it: enough to tell who made it."""

    sha: str
    parents: tuple[str, ...]
    message: str
    author: str  # `Name <email>`
    authored_at: datetime
    committer: str
    committed_at: datetime

    @property
    def parent(self) -> str | None:
        return self.parents[0] if self.parents else None

    @property
    def recommitted(self) -> bool:
        """Whether it was committed again after it was written: an amend, a rebase or a
        cherry-pick keeps the author and the message but takes a new committer or time. A
        commit made in one go (promobot's, through git or a forge's API) has one of each."""
        return (self.author, self.authored_at) != (self.committer, self.committed_at)

    @property
    def maker(self) -> str:
        """Who made the commit as it stands: whoever committed it again, else its author."""
        return self.committer if self.recommitted else self.author


Mine = Callable[[Head], bool]  # whether promobot made a branch's head (`commit_files`)


@dataclass
class CallCounter:
    """API calls a forge made, by endpoint — the real cost, since rate limits bound us."""

    calls: dict[str, int] = field(default_factory=dict)

    def add(self, endpoint: str) -> None:
        self.calls[endpoint] = self.calls.get(endpoint, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())


class Forge(Protocol):
    name: str

    def identity(self) -> Account:
        """The account promobot acts as, as the forge reports it (asked once, then kept)."""

    def default_branch(self) -> str: ...

    def head(self, branch: str | None = None) -> str | None:
        """The commit a branch points at (the default branch when None); None if missing."""

    def snapshot(self, ref: str) -> Snapshot:
        """The whole repository at a commit, in as few calls as the API allows."""

    def tags(self) -> list[str]: ...

    def log(self, ref: str, paths: Sequence[str], limit: int = 50) -> list[Commit]:
        """Commits reachable from `ref` that touched any of `paths`, newest first."""

    def branch_head(self, branch: str) -> Head | None:
        """The commit at `branch`'s head, with its parents, message and people (one call);
        None when there is no such branch."""

    def commit_files(
        self,
        branch: str,
        base: str,
        changes: Mapping[str, bytes | None],
        message: str,
        *,
        over: str | None = None,
        mine: Mine | None = None,
    ) -> str:
        """Make `branch` exactly one new commit on `base` (None deletes a file).

        A branch that exists already is replaced only if its head is `over` (a commit the
        caller knows promobot made there: trusted without asking, and where the forge can
        compare-and-swap, only while the branch is still there) or a head `mine` accepts,
        read only when creating the branch finds it there. Any other head raises Taken and
        the branch stays as it was."""

    def commit_on_default(
        self, base: str, changes: Mapping[str, bytes | None], message: str
    ) -> str:
        """One new commit on `base`, made the default branch's head only if that is still
        `base` (else Conflict): a promotion without a PR (`propose: commit`)."""

    def find_pr(self, branch: str, state: Literal["open", "closed"] = "open") -> PullRequest | None:
        """The newest PR from `branch` in that state (closed includes merged), if any."""

    def list_prs(self, label: str | None = None) -> list[PullRequest]:
        """Open PRs into the default branch, with `label` when given."""

    def open_pr(self, branch: str, title: str, body: str, labels: tuple[str, ...]) -> PullRequest:
        """Open a PR into the default branch; adopt the existing one if there is one."""

    def update_pr(
        self,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        labels: tuple[str, ...] | None = None,
    ) -> None: ...

    def close_pr(self, number: int) -> None: ...

    def get_pr(self, number: int) -> PullRequest: ...

    def comments(self, number: int) -> list[Comment]: ...

    def get_comment(self, number: int, comment_id: int) -> Comment:
        """One comment on PR or issue `number`, as the forge has it now."""

    def unedited(self, number: int, comments: Sequence[Comment]) -> set[int]:
        """The ids of those of `comments` (just read from PR `number`) that the forge says
        were never changed after they were posted, asked in one go where it needs asking; a
        comment it cannot vouch for is left out."""

    def comment(self, number: int, body: str, *, reply_to: int | None = None) -> int:
        """Post a comment (quoting `reply_to` where the forge has no threads); its id."""

    def react(self, number: int, comment_id: int, reaction: str) -> None:
        """Add a reaction (`eyes`, `+1`, …) to a comment on PR or issue `number`."""

    def reviews(self, number: int) -> list[Review]: ...

    def checks(self, sha: str, by: frozenset[str] | None = None) -> list[Check]:
        """Commit statuses and check runs on a commit, the latest per name; with `by`, only
        those posted by one of these identities (`identities`)."""

    def identities(self, account: str) -> frozenset[str]:
        """The forge's ids under which `account` (a login, or a GitHub App as `slug[bot]`)
        posts statuses and check runs — `user:<id>`, `app:<id>`; empty for no such account.
        Compared by id, a status cannot claim an author by a name it shows."""

    def set_status(
        self, sha: str, context: str, state: StatusState, description: str, url: str | None = None
    ) -> None: ...

    def pr_files(self, number: int) -> list[str]:
        """The paths the PR changes (added, modified, deleted; both sides of a rename)."""

    def merge(self, number: int, sha: str) -> str:
        """Merge if the head is still `sha` (else ForgeError); the merge commit."""

    def permission(self, user: str) -> Permission: ...

    def is_member(self, user: str, team: str) -> bool:
        """Whether `user` is in `team` (`org/team` on GitHub, a group path on GitLab)."""


def quote_first_line(original: str, body: str) -> str:
    """`body` under a quote of the first line of the comment it answers (forges without
    threads). The quote is inert: promobot's own comments carry its signed records, so text
    from someone else's comment must not smuggle one into them."""
    first = next((line.strip() for line in original.splitlines() if line.strip()), "")
    if not first:
        return body
    if len(first) > 200:
        first = first[:199] + "…"
    inert = first.replace("<", "&lt;")
    return f"> {inert}\n\n{body}"
