"""The normalized events every parser returns, and how the queue reads one back.

Events are hints: the engine recomputes from the environment repo, so an event only says what
to look at. Only the fields that route an event are required; the others may be None or empty.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from bot.errors import PromobotError


class EventError(PromobotError):
    """A delivery promobot cannot read; `str()` is one line that says why."""


# --- the normalized events ---------------------------------------------------------------------

StatusState = Literal["pending", "success", "failure", "error"]
ReviewState = Literal["approved", "changes_requested", "commented", "dismissed"]
CommentAction = Literal["created", "edited", "deleted"]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str  # each event narrows it to its own name, which `Event` is told apart by


class _OnRepo(_Event):
    """Something happened in a forge repo."""

    sender_id: int | None = None  # who did it, by the forge's id: promobot's own echoes are dropped
    repo: str


class Artifact(_Event):
    """A version was published; `source_key` is what `config.Source.key` builds."""

    kind: Literal["artifact"] = "artifact"
    source_key: str = Field(min_length=1)
    version: str = Field(min_length=1)
    digest: str | None = None
    repository: str | None = None  # the forge repo the event came from, when there is one


class Push(_OnRepo):
    kind: Literal["push"] = "push"
    ref: str
    branch: str | None
    tag: str | None
    before: str | None
    after: str | None
    created: bool
    deleted: bool
    pusher: str | None


class PullRequestEvent(_OnRepo):
    kind: Literal["pull_request"] = "pull_request"
    number: int
    action: str | None
    branch: str | None
    base: str | None
    head_sha: str | None
    merged: bool
    state: Literal["open", "closed"]
    author: str | None  # GitLab names only the actor, which is the author when it opens the MR
    from_fork: bool
    labels: tuple[str, ...] = ()


class ReviewEvent(_OnRepo):
    """A hint to evaluate the PR's gates again; they read the reviews from the forge."""

    kind: Literal["review"] = "review"
    number: int
    action: str | None
    reviewer: str | None
    state: ReviewState | None
    sha: str | None  # the head the review was given on (GitHub Enterprise may not say)


class CommentEvent(_OnRepo):
    kind: Literal["comment"] = "comment"
    number: int
    comment_id: int
    body: str
    author: str
    author_is_bot: bool
    action: CommentAction
    on_pull_request: bool
    from_fork: bool  # GitHub issue_comment payloads do not say: False, the engine asks the forge


class StatusEvent(_OnRepo):
    kind: Literal["status"] = "status"
    sha: str
    context: str
    state: StatusState


class LiveReport(_Event):
    """A deploying system says something changed in a cluster. Argo CD Notifications names
    Applications (promobot reads them again from Argo CD's API; a payload is never believed);
    Flux sends the state itself, in its signed event (`body`, parsed again where it is used)."""

    kind: Literal["live"] = "live"
    # fleet, rollout: promobot's own watch of a Bundle, a Rollout or a Canary changed
    source: Literal["argocd", "flux", "fleet", "rollout"]
    # Argo CD: Application names; Flux: "Kind namespace/name"; the watches: "namespace/name"
    names: tuple[str, ...]
    body: str | None = None  # Flux: the event as it came


class Installation(_Event):
    """A GitHub App installation, or the repos it may reach, changed: the hint to ask GitHub
    again which repos that installation has (the payload's lists are only what to look at)."""

    kind: Literal["installation"] = "installation"
    installation_id: int
    action: str
    repos: tuple[str, ...] = ()  # the repos the payload names (added, removed or listed)


class Ping(_Event):
    kind: Literal["ping"] = "ping"


class Ignored(_Event):
    """Understood, and needs nothing."""

    kind: Literal["ignored"] = "ignored"
    reason: str


Event = Annotated[
    Artifact
    | Push
    | PullRequestEvent
    | ReviewEvent
    | CommentEvent
    | StatusEvent
    | LiveReport
    | Installation
    | Ping
    | Ignored,
    Field(discriminator="kind"),
]
_EVENT: TypeAdapter[Event] = TypeAdapter(Event)


def load(data: Mapping[str, Any]) -> Event:
    """An event back from `event.model_dump(mode="json")` (as the queue stores it)."""
    with checked():
        return _EVENT.validate_python(data)


@contextmanager
def checked() -> Iterator[None]:
    """Models are built from checked values; one the model still refuses is a bad payload."""
    try:
        yield
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "body"
        message = " ".join(str(error["msg"]).split())
        raise EventError(f"field {where}: {message}") from None
