"""Webhook deliveries → normalized events.

Each parser takes the raw body (and the headers it needs) and returns the key promobot dedupes
deliveries on, with one event (a registry notification may carry several). Events are hints:
the engine recomputes from the environment repo, so an event only says what to look at.

Anything malformed raises `EventError`, whose message is one line fit for an HTTP 400; no other
exception escapes a parser. Only the fields that route an event (the repo, the PR number, the
ref, the command's author…) are required: forges drop and add the others between versions
(GitHub Enterprise without `review.commit_id`, GitLab without `user_username`), so a missing
one reads as None or empty and nothing downstream depends on it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

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


class Artifact(_Event):
    """A version was published; `source_key` is what `config.Source.key` builds."""

    kind: Literal["artifact"] = "artifact"
    source_key: str = Field(min_length=1)
    version: str = Field(min_length=1)
    digest: str | None = None
    repository: str | None = None  # the forge repo the event came from, when there is one


class Push(_Event):
    kind: Literal["push"] = "push"
    sender_id: int | None = None  # who did it, by the forge's id: promobot's own echoes are dropped
    repo: str
    ref: str
    branch: str | None
    tag: str | None
    before: str | None
    after: str | None
    created: bool
    deleted: bool
    pusher: str | None


class PullRequestEvent(_Event):
    kind: Literal["pull_request"] = "pull_request"
    sender_id: int | None = None
    repo: str
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


class ReviewEvent(_Event):
    """A hint to evaluate the PR's gates again; they read the reviews from the forge."""

    kind: Literal["review"] = "review"
    sender_id: int | None = None
    repo: str
    number: int
    action: str | None
    reviewer: str | None
    state: ReviewState | None
    sha: str | None  # the head the review was given on (GitHub Enterprise may not say)


class CommentEvent(_Event):
    kind: Literal["comment"] = "comment"
    sender_id: int | None = None
    repo: str
    number: int
    comment_id: int
    body: str
    author: str
    author_is_bot: bool
    action: CommentAction
    on_pull_request: bool
    from_fork: bool  # GitHub issue_comment payloads do not say: False, the engine asks the forge


class StatusEvent(_Event):
    kind: Literal["status"] = "status"
    sender_id: int | None = None
    repo: str
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
    with _checked():
        return _EVENT.validate_python(data)


# --- reading JSON with errors that name the field ----------------------------------------------

_ZERO_SHA = re.compile(r"0+\Z")
_SURROGATE = re.compile("[\ud800-\udfff]")
_DIGEST = re.compile(r"(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})\Z")


def _clean(text: str) -> str:
    """JSON may escape lone surrogates ("\\ud800"); they are not text and cannot be encoded."""
    return _SURROGATE.sub("\ufffd", text)


def _show(text: str, limit: int = 60) -> str:
    """A payload value safe to put in a one-line message."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


class _Obj:
    """A JSON object and its path; each getter names the field that is missing or mistyped."""

    def __init__(self, data: Mapping[str, Any], path: str = "") -> None:
        self.data = data
        self.path = path

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def _get(self, key: str, kind: type | tuple[type, ...], what: str, required: bool) -> Any:
        value = self.data.get(key)
        if value is None:
            if required:
                raise EventError(f"missing field {self.where(key)}")
            return None
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise EventError(f"field {self.where(key)} must be {what}")
        return _clean(value) if isinstance(value, str) else value

    def obj(self, key: str) -> _Obj:
        return _Obj(self._get(key, dict, "an object", True), self.where(key))

    def opt_obj(self, key: str) -> _Obj | None:
        value = self._get(key, dict, "an object", False)
        return None if value is None else _Obj(value, self.where(key))

    def objects(self, key: str) -> list[_Obj]:
        """A list of objects; missing means none."""
        items = self._get(key, list, "a list", False) or []
        where = self.where(key)
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise EventError(f"field {where}[{i}] must be an object")
        return [_Obj(item, f"{where}[{i}]") for i, item in enumerate(items)]

    def strings(self, key: str) -> list[str]:
        items = self._get(key, list, "a list", False) or []
        if not all(isinstance(item, str) for item in items):
            raise EventError(f"field {self.where(key)} must be a list of strings")
        return [_clean(item) for item in items]

    def string(self, key: str) -> str:
        """A required, non-empty string."""
        value: str = self._get(key, str, "a string", True)
        if not value:
            raise EventError(f"field {self.where(key)} is empty")
        return value

    def opt_string(self, key: str) -> str | None:
        """A string, None when missing, null or empty."""
        value: str | None = self._get(key, str, "a string", False)
        return value or None

    def text(self, key: str) -> str:
        """Free text: null reads as empty."""
        value: str | None = self._get(key, str, "a string", False)
        return value or ""

    def integer(self, key: str) -> int:
        value: int = self._get(key, int, "an integer", True)
        return value

    def opt_integer(self, key: str) -> int | None:
        value: int | None = self._get(key, int, "an integer", False)
        return value

    def boolean(self, key: str) -> bool:
        """A flag: missing or null reads as False."""
        value: bool | None = self._get(key, bool, "true or false", False)
        return bool(value)


def _load(body: bytes) -> _Obj:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # bad UTF-8 is a ValueError too
        raise EventError("body is not JSON") from None
    if not isinstance(data, dict):
        raise EventError("body is not a JSON object")
    return _Obj(data)


def _hash(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _body_key(body: bytes) -> str:
    return "sha256-" + hashlib.sha256(body).hexdigest()


def _digest(value: str | None) -> str | None:
    """A manifest digest fit to pin `tag@digest`, or None (GitHub sends some that are not)."""
    return value if value is not None and _DIGEST.match(value) else None


@contextmanager
def _checked() -> Iterator[None]:
    """Models are built from checked values; one the model still refuses is a bad payload."""
    try:
        yield
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "body"
        message = " ".join(str(error["msg"]).split())
        raise EventError(f"field {where}: {message}") from None


# --- GitHub ------------------------------------------------------------------------------------

_CONTAINER_TYPES = {"container", "docker"}
_CHECK_STATES: dict[str, StatusState] = {
    "success": "success",
    "neutral": "success",
    "skipped": "success",
    "failure": "failure",
    "timed_out": "failure",
    "action_required": "failure",
    "startup_failure": "failure",
    "stale": "failure",
    "cancelled": "error",
}
_STATUS_STATES: dict[str, StatusState] = {s: s for s in ("pending", "success", "failure", "error")}
_REVIEW_STATES: dict[str, ReviewState] = {
    s: s for s in ("approved", "changes_requested", "commented", "dismissed")
}
_COMMENT_ACTIONS: dict[str, CommentAction] = {s: s for s in ("created", "edited", "deleted")}


def parse_github(
    event: str | None, delivery: str | None, body: bytes, hook_id: str | None = None
) -> tuple[str, Event]:
    """`X-GitHub-Event`, `X-GitHub-Delivery`, the body and `X-GitHub-Hook-ID`."""
    if not event:
        raise EventError("missing X-GitHub-Event header")
    doc = _load(body)
    key = _github_key(body)
    handler = _GITHUB.get(event)
    if handler is None:
        return key, Ignored(reason=f"GitHub {_show(event)} events are not used")
    with _checked():
        return key, handler(doc)


def _github_key(body: bytes) -> str:
    # Only the body is signed: a key from the delivery or hook id headers would let a captured
    # delivery run again under another id. GitHub redelivers the same bytes, so the hash of the
    # body dedupes redeliveries and replays alike (and one event sent to two hooks runs once).
    return f"github:{_body_key(body)}"


def _repo(doc: _Obj) -> str:
    return doc.obj("repository").string("full_name")


def _github_sender(doc: _Obj) -> int | None:
    sender = doc.opt_obj("sender")
    return sender.opt_integer("id") if sender else None


def _github_push(doc: _Obj) -> Event:
    repo, ref = _repo(doc), doc.string("ref")
    deleted = doc.boolean("deleted")
    if ref.startswith("refs/tags/"):
        tag = ref.removeprefix("refs/tags/")
        if not tag:
            raise EventError("field ref names no tag")
        if deleted:
            return Ignored(reason=f"tag {_show(tag)} was deleted")
        return Artifact(source_key=f"git:{repo}", version=tag, repository=repo)
    pusher = doc.opt_obj("pusher")
    return Push(
        sender_id=_github_sender(doc),
        repo=repo,
        ref=ref,
        branch=ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None,
        tag=None,
        before=doc.opt_string("before"),
        after=doc.opt_string("after"),
        created=doc.boolean("created"),
        deleted=deleted,
        pusher=pusher.opt_string("name") if pusher else None,
    )


def _github_create(doc: _Obj) -> Event:
    repo, ref_type = _repo(doc), doc.string("ref_type")
    if ref_type != "tag":
        return Ignored(reason=f"a {_show(ref_type)} was created")
    return Artifact(source_key=f"git:{repo}", version=doc.string("ref"), repository=repo)


def _github_package(field: str) -> Callable[[_Obj], Event]:
    def parse(doc: _Obj) -> Event:
        action = doc.string("action")
        if action not in ("published", "updated"):
            return Ignored(reason=f"package {_show(action)}")
        package = doc.obj(field)
        version = package.obj("package_version")
        kind = _package_kind(package, version)
        if kind not in _CONTAINER_TYPES:
            return Ignored(reason=f"{_show(kind)} packages are not used")
        tag, exact = _container_tag(version)
        if tag is None:
            return Ignored(reason="the container version has no tag")
        repository = doc.opt_obj("repository")
        return Artifact(
            source_key=f"image:{_ghcr_image(package, version)}",
            version=tag,
            # A tag read from a label may not point at this very manifest: do not pin it.
            digest=_container_digest(version) if exact else None,
            repository=repository.opt_string("full_name") if repository else None,
        )

    return parse


def _package_kind(package: _Obj, version: _Obj) -> str:
    # `package_type` and `ecosystem` contradict each other in real deliveries (a container that
    # says npm, an npm package that says docker); the registry a package lives in does not lie.
    registry = package.opt_obj("registry")
    registry_type = registry.opt_string("type") if registry else None
    if registry_type:
        return registry_type.lower()
    if version.opt_obj("container_metadata") is not None:
        return "container"
    return (package.opt_string("package_type") or "unknown").lower()


def _container_tag(version: _Obj) -> tuple[str | None, bool]:
    """The tag this version was pushed as, and whether the payload says so plainly."""
    metadata = version.opt_obj("container_metadata")
    tag = metadata.opt_obj("tag") if metadata else None
    if tag and tag.opt_string("name"):
        return tag.opt_string("name"), True
    url = version.opt_string("package_url") or ""
    if "@" not in url and ":" in url.rsplit("/", 1)[-1] and url.rsplit(":", 1)[1]:
        return url.rsplit(":", 1)[1], True  # ghcr.io/acme/api:1.4.2
    for tags in (version.strings("tags"), metadata.strings("tags") if metadata else []):
        if tags and tags[0]:
            return tags[0], True
    name = version.opt_string("version")
    if name and not name.startswith("sha256:"):  # for containers GitHub's version is a digest
        return name, True
    labels = metadata.opt_obj("labels") if metadata else None
    all_labels = labels.opt_obj("all_labels") if labels else None
    label = all_labels.opt_string("org.opencontainers.image.version") if all_labels else None
    return label, False


def _container_digest(version: _Obj) -> str | None:
    metadata = version.opt_obj("container_metadata")
    tag = metadata.opt_obj("tag") if metadata else None
    manifest = metadata.opt_obj("manifest") if metadata else None
    candidates = [
        tag.opt_string("digest") if tag else None,
        manifest.opt_string("digest") if manifest else None,
        version.opt_string("version"),
        version.opt_string("name"),
    ]
    return next((d for d in map(_digest, candidates) if d), None)


def _ghcr_image(package: _Obj, version: _Obj) -> str:
    # package_url is the reference to pull (host and all, GHES included); `name` can disagree.
    url = version.opt_string("package_url")
    if url:
        split = _split_reference(url)
        if split is not None:
            return f"{split[0]}/{split[1]}"
    owner = package.obj("owner").string("login")
    return f"ghcr.io/{owner}/{package.string('name')}".lower()


def _github_pull_request(doc: _Obj) -> Event:
    repo, pr = _repo(doc), doc.obj("pull_request")
    head, base, user = pr.opt_obj("head"), pr.opt_obj("base"), pr.opt_obj("user")
    state = pr.string("state")
    head_repo = head.opt_obj("repo") if head else None  # null when the fork was deleted
    if state not in ("open", "closed"):
        raise EventError(f"field pull_request.state must be open or closed, not {_show(state)}")
    return PullRequestEvent(
        sender_id=_github_sender(doc),
        repo=repo,
        number=pr.integer("number"),
        action=doc.opt_string("action"),
        branch=head.opt_string("ref") if head else None,
        base=base.opt_string("ref") if base else None,
        head_sha=head.opt_string("sha") if head else None,
        merged=pr.boolean("merged"),
        state=state,
        author=user.opt_string("login") if user else None,
        from_fork=head_repo is None or head_repo.opt_string("full_name") != repo,
        labels=_names(pr.objects("labels"), "name"),
    )


def _names(items: list[_Obj], key: str) -> tuple[str, ...]:
    """The names of labels; one without a name is no label."""
    return tuple(name for item in items if (name := item.opt_string(key)) is not None)


def _github_review(doc: _Obj) -> Event:
    review = doc.opt_obj("review") or _Obj({}, "review")
    state = (review.opt_string("state") or "").lower()  # the REST API says APPROVED
    if state and state not in _REVIEW_STATES:
        return Ignored(reason=f"review state {_show(state)}")
    user = review.opt_obj("user")
    return ReviewEvent(
        sender_id=_github_sender(doc),
        repo=_repo(doc),
        number=doc.obj("pull_request").integer("number"),
        action=doc.opt_string("action"),
        reviewer=user.opt_string("login") if user else None,
        state=_REVIEW_STATES.get(state),
        sha=review.opt_string("commit_id"),  # GitHub Enterprise before 3.x: not sent
    )


def _github_comment(doc: _Obj) -> Event:
    action = doc.string("action")
    if action not in _COMMENT_ACTIONS:
        return Ignored(reason=f"comment {_show(action)}")
    issue, comment = doc.obj("issue"), doc.obj("comment")
    user = comment.obj("user")
    login = user.string("login")
    return CommentEvent(
        sender_id=_github_sender(doc),
        repo=_repo(doc),
        number=issue.integer("number"),
        comment_id=comment.integer("id"),
        body=comment.text("body"),
        author=login,
        author_is_bot=user.opt_string("type") == "Bot" or login.endswith("[bot]"),
        action=_COMMENT_ACTIONS[action],
        on_pull_request=issue.opt_obj("pull_request") is not None,
        from_fork=False,
    )


def _github_status(doc: _Obj) -> Event:
    state = doc.string("state")
    if state not in _STATUS_STATES:
        raise EventError(f"field state must be pending, success, failure or error, not {state!r}")
    return StatusEvent(
        sender_id=_github_sender(doc),
        repo=_repo(doc),
        sha=doc.string("sha"),
        context=doc.string("context"),
        state=_STATUS_STATES[state],
    )


def _github_check(field: str) -> Callable[[_Obj], Event]:
    def parse(doc: _Obj) -> Event:
        action = doc.string("action")
        if action != "completed":
            return Ignored(reason=f"{field} {_show(action)}")
        check = doc.obj(field)
        app = check.opt_obj("app")
        context = check.opt_string("name") or (
            (app.opt_string("slug") or app.opt_string("name") or field) if app else field
        )
        conclusion = check.opt_string("conclusion")
        return StatusEvent(
            sender_id=_github_sender(doc),
            repo=_repo(doc),
            sha=check.string("head_sha"),
            context=context,
            state=_CHECK_STATES.get(conclusion, "failure") if conclusion else "pending",
        )

    return parse


def _github_installation(doc: _Obj) -> Event:
    """`installation` (created, deleted, suspend, …) and `installation_repositories` (added,
    removed): which installation, and the repos the payload names."""
    named = [
        r.string("full_name")
        for key in ("repositories", "repositories_added", "repositories_removed")
        for r in doc.objects(key)
    ]
    return Installation(
        installation_id=doc.obj("installation").integer("id"),
        action=doc.string("action"),
        repos=tuple(dict.fromkeys(named)),
    )


_GITHUB: dict[str, Callable[[_Obj], Event]] = {
    "push": _github_push,
    "create": _github_create,
    "package": _github_package("package"),
    "registry_package": _github_package("registry_package"),
    "pull_request": _github_pull_request,
    "pull_request_review": _github_review,
    "issue_comment": _github_comment,
    "status": _github_status,
    "check_suite": _github_check("check_suite"),
    "check_run": _github_check("check_run"),
    "ping": lambda doc: Ping(),
    "installation": _github_installation,
    "installation_repositories": _github_installation,
}

# --- GitLab ------------------------------------------------------------------------------------

_GITLAB_HOOKS = {
    "Push Hook": "push",
    "Tag Push Hook": "tag_push",
    "Merge Request Hook": "merge_request",
    "Note Hook": "note",
    "Pipeline Hook": "pipeline",
}
_PIPELINE_STATES: dict[str, StatusState] = {
    "success": "success",
    "skipped": "success",
    "failed": "failure",
    "canceled": "error",
    "canceling": "error",
}
_MR_ACTIONS = {"open": "opened", "close": "closed", "reopen": "reopened", "merge": "closed"}
_GITLAB_BOT = re.compile(r"(?:project|group)_\d+_bot(?:_[0-9a-f]+)?\Z|service_account_")


def parse_gitlab(
    event: str | None, idempotency_key: str | None, event_uuid: str | None, body: bytes
) -> tuple[str, Event]:
    """`X-Gitlab-Event`, `Idempotency-Key` (kept across retries), `X-Gitlab-Event-UUID`, body."""
    doc = _load(body)
    key = f"gitlab:{idempotency_key or event_uuid or _body_key(body)}"
    kind = _GITLAB_HOOKS.get(event or "")
    if kind is None and event in (None, "", "System Hook"):  # the body names its own kind
        kind = doc.opt_string("object_kind")
        if kind is None and not event:
            raise EventError("missing X-Gitlab-Event header")
    handler = _GITLAB.get(kind or "")
    if handler is None:
        return key, Ignored(reason=f"GitLab {_show(event or kind or '')} events are not used")
    with _checked():
        return key, handler(doc)


def _project(doc: _Obj) -> str:
    return doc.obj("project").string("path_with_namespace")


def _gitlab_sender(doc: _Obj) -> int | None:
    user = doc.opt_obj("user")
    return user.opt_integer("id") if user else None


def _is_zero(sha: str) -> bool:
    return _ZERO_SHA.match(sha) is not None


def _gitlab_push(doc: _Obj) -> Event:
    ref, before, after = doc.string("ref"), doc.opt_string("before"), doc.opt_string("after")
    return Push(
        sender_id=doc.opt_integer("user_id"),
        repo=_project(doc),
        ref=ref,
        branch=ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None,
        tag=None,
        before=before,
        after=after,
        created=before is not None and _is_zero(before),
        deleted=after is not None and _is_zero(after),
        pusher=doc.opt_string("user_username"),  # older GitLab does not send it
    )


def _gitlab_tag_push(doc: _Obj) -> Event:
    repo, ref = _project(doc), doc.string("ref")
    tag = ref.removeprefix("refs/tags/")
    if not tag:
        raise EventError("field ref names no tag")
    if _is_zero(doc.string("after")):
        return Ignored(reason=f"tag {_show(tag)} was deleted")
    return Artifact(source_key=f"git:{repo}", version=tag, repository=repo)


def _gitlab_merge_request(doc: _Obj) -> Event:
    attrs = doc.obj("object_attributes")
    action, state = attrs.opt_string("action") or "update", attrs.string("state")
    if action == "update":  # a new head arrives as an update with the old revision
        action = "synchronize" if attrs.opt_string("oldrev") else "edited"
    labels = attrs.objects("labels") if attrs.has("labels") else doc.objects("labels")
    last_commit, user = attrs.opt_obj("last_commit"), doc.opt_obj("user")
    return PullRequestEvent(
        sender_id=_gitlab_sender(doc),
        repo=_project(doc),
        number=attrs.integer("iid"),
        action=_MR_ACTIONS.get(action, action),
        branch=attrs.opt_string("source_branch"),
        base=attrs.opt_string("target_branch"),
        head_sha=last_commit.opt_string("id") if last_commit else None,
        merged=state == "merged" or action == "merge",
        state="closed" if state in ("closed", "merged") else "open",
        author=user.opt_string("username") if user and action == "open" else None,
        from_fork=_from_fork(attrs),
        labels=_names(labels, "title"),
    )


def _from_fork(mr: _Obj) -> bool:
    """Whether the MR comes from another project; unknown reads as no, as on GitHub's comments,
    and commands are checked against the forge's own answer anyway."""
    source, target = mr.opt_integer("source_project_id"), mr.opt_integer("target_project_id")
    return source is not None and target is not None and source != target


def _gitlab_note(doc: _Obj) -> Event:
    attrs = doc.obj("object_attributes")
    noteable = attrs.string("noteable_type")
    if noteable == "MergeRequest":
        target = doc.obj("merge_request")
        from_fork = _from_fork(target)
    elif noteable == "Issue":
        target, from_fork = doc.obj("issue"), False
    else:
        return Ignored(reason=f"notes on {_show(noteable)} are not used")
    author = doc.obj("user").string("username")
    action = {"create": "created", "update": "edited"}.get(attrs.opt_string("action") or "create")
    if action is None:
        return Ignored(reason=f"note {_show(attrs.string('action'))}")
    return CommentEvent(
        sender_id=_gitlab_sender(doc),
        repo=_project(doc),
        number=target.integer("iid"),
        comment_id=attrs.integer("id"),
        body=attrs.text("note"),
        author=author,
        author_is_bot=attrs.boolean("system") or _GITLAB_BOT.match(author) is not None,
        action=_COMMENT_ACTIONS[action],
        on_pull_request=noteable == "MergeRequest",
        from_fork=from_fork,
    )


def _gitlab_pipeline(doc: _Obj) -> Event:
    attrs = doc.obj("object_attributes")
    return StatusEvent(
        sender_id=_gitlab_sender(doc),
        repo=_project(doc),
        sha=attrs.string("sha"),
        context=attrs.opt_string("name") or "pipeline",
        state=_PIPELINE_STATES.get(attrs.string("status"), "pending"),
    )


_GITLAB: dict[str, Callable[[_Obj], Event]] = {
    "push": _gitlab_push,
    "tag_push": _gitlab_tag_push,
    "merge_request": _gitlab_merge_request,
    "note": _gitlab_note,
    "pipeline": _gitlab_pipeline,
}

# --- container registries ----------------------------------------------------------------------

_ENVELOPE_TYPES = (
    "application/vnd.docker.distribution.events.v1+json",
    "application/vnd.docker.distribution.events.v2+json",
)
_MANIFEST_TYPES = {
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
}
_HARBOR_PUSH = {"PUSH_ARTIFACT", "pushImage"}  # Harbor 2, Harbor 1


def parse_registry(content_type: str | None, body: bytes) -> list[tuple[str, Event]]:
    """A registry notification: CNCF Distribution envelope, Docker Hub, Harbor or Quay.

    Only pushes of a tagged manifest count; an empty list means nothing to do.
    """
    doc = _load(body)
    with _checked():
        if doc.has("events"):
            return _distribution(doc)
        if doc.has("push_data"):
            return [_dockerhub(doc, body)]
        if doc.has("event_data"):
            return _harbor(doc)
        if doc.has("docker_url") or doc.has("updated_tags"):
            return _quay(doc, body)
    if (content_type or "").split(";")[0].strip().lower() in _ENVELOPE_TYPES:
        raise EventError("missing field events")
    raise EventError("body is not a Distribution, Docker Hub, Harbor or Quay notification")


def _split_reference(reference: str) -> tuple[str, str] | None:
    """`host[:port]/path[:tag][@digest]` → (host, path), lower case; None without a host."""
    name = reference.split("@", 1)[0]
    host, _, path = name.partition("/")
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path = path[: len(path) - len(last)] + last.split(":", 1)[0]
    path = path.strip("/")
    if not path or not ("." in host or ":" in host or host == "localhost"):
        return None
    return host.lower(), path.lower()


def _image_reference(obj: _Obj, key: str) -> tuple[str, str]:
    split = _split_reference(obj.string(key))
    if split is None:
        raise EventError(f"field {obj.where(key)} names no registry host and repository")
    return split


def _distribution(doc: _Obj) -> list[tuple[str, Event]]:
    found: list[tuple[str, Event]] = []
    for item in doc.objects("events"):
        if item.opt_string("action") != "push":
            continue
        target = item.obj("target")
        media_type = (target.opt_string("mediaType") or "").split(";")[0].strip()
        tag = target.opt_string("tag")
        if media_type not in _MANIFEST_TYPES or tag is None:  # blobs, and manifests by digest
            continue
        request = item.opt_obj("request")
        host = (request.opt_string("host") if request else None) or urlsplit(
            target.opt_string("url") or ""
        ).netloc
        if not host:
            raise EventError(f"missing field {item.where('request.host')}")
        repository = target.string("repository").strip("/").lower()
        artifact = Artifact(
            source_key=f"image:{host.lower()}/{repository}",
            version=tag,
            digest=_digest(target.opt_string("digest")),
        )
        found.append((f"registry:{item.string('id')}", artifact))
    return found


def _dockerhub(doc: _Obj, body: bytes) -> tuple[str, Event]:
    push, repository = doc.obj("push_data"), doc.obj("repository")
    name = repository.opt_string("repo_name") or (
        f"{repository.string('namespace')}/{repository.string('name')}"
    )
    tag = push.string("tag")
    pushed_at = push.data.get("pushed_at")
    # Every push of the tag is its own delivery; a retry of one push has the same pushed_at.
    if isinstance(pushed_at, int | float) and not isinstance(pushed_at, bool):
        key = f"dockerhub:{_hash(name, tag, repr(pushed_at))}"
    else:
        key = f"dockerhub:{_hash(doc.opt_string('callback_url') or _body_key(body))}"
    return key, Artifact(source_key=f"image:docker.io/{name.lower()}", version=tag)


def _harbor(doc: _Obj) -> list[tuple[str, Event]]:
    if doc.string("type") not in _HARBOR_PUSH:
        return []
    data = doc.obj("event_data")
    occurred = doc.data.get("occur_at")
    found: list[tuple[str, Event]] = []
    for resource in data.objects("resources"):
        tag = resource.opt_string("tag")
        if tag is None:  # pushed by digest
            continue
        host, path = _image_reference(resource, "resource_url")
        digest = _digest(resource.opt_string("digest"))
        key = f"harbor:{_hash(repr(occurred), host, path, tag, digest or '')}"
        artifact = Artifact(source_key=f"image:{host}/{path}", version=tag, digest=digest)
        found.append((key, artifact))
    return found


def _quay(doc: _Obj, body: bytes) -> list[tuple[str, Event]]:
    # Quay sends no id and no time: the body is all there is to tell deliveries apart.
    host, path = _image_reference(doc, "docker_url")
    delivery = _body_key(body)
    return [
        (f"quay:{_hash(delivery, tag)}", Artifact(source_key=f"image:{host}/{path}", version=tag))
        for tag in doc.strings("updated_tags")
        if tag
    ]


# --- the generic endpoint for CI ---------------------------------------------------------------


def parse_artifact(body: bytes) -> tuple[str, Artifact]:
    """`{"image"|"chart"+"repo"|"git": …, "version": …, "digest"?: …, "id"?: …}`."""
    doc = _load(body)
    kinds = [k for k in ("image", "chart", "git") if doc.has(k)]
    if len(kinds) > 1:
        raise EventError(f"name one of image, chart or git, not {' and '.join(kinds)}")
    missing = [
        k for k in ("repo", "version") if not doc.has(k) and (k == "version" or kinds == ["chart"])
    ]
    missing += [] if kinds else ["image, chart or git"]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise EventError(f"missing field{plural} {' and '.join(missing)}")
    version = doc.data["version"]
    if isinstance(version, int) and not isinstance(version, bool):
        version = str(version)  # a CI template may drop the quotes: 2004 means "2004"
    elif not isinstance(version, str) or not version:
        raise EventError("field version must be a non-empty string")
    if kinds == ["image"]:
        image = doc.string("image")
        if "@" in image or ":" in image.rsplit("/", 1)[-1]:
            raise EventError("field image must name a repository without tag or digest")
        source_key = f"image:{image}"
    elif kinds == ["chart"]:
        source_key = f"chart:{doc.string('repo').rstrip('/')}/{doc.string('chart')}"
    else:
        source_key = f"git:{doc.string('git')}"
    digest = doc.opt_string("digest")
    if digest is not None and _digest(digest) is None:
        raise EventError("field digest must be sha256: and 64 hex digits")
    key = f"artifact:{doc.opt_string('id') or _body_key(body)}"
    with _checked():
        return key, Artifact(source_key=source_key, version=version, digest=digest)
