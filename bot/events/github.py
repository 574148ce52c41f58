"""GitHub webhooks: `X-GitHub-Event` names the kind, the body says the rest."""

from __future__ import annotations

from collections.abc import Callable

from bot.events.model import (
    COMMENT_ACTIONS,
    Artifact,
    CommentEvent,
    Event,
    EventError,
    Ignored,
    Installation,
    Ping,
    PullRequestEvent,
    Push,
    ReviewEvent,
    ReviewState,
    StatusEvent,
    StatusState,
    checked,
)
from bot.events.payload import (
    Obj,
    body_key,
    label_names,
    manifest_digest,
    read_body,
    show,
    split_reference,
)

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


def parse_github(
    event: str | None, delivery: str | None, body: bytes, hook_id: str | None = None
) -> tuple[str, Event]:
    """`X-GitHub-Event`, `X-GitHub-Delivery`, the body and `X-GitHub-Hook-ID`."""
    if not event:
        raise EventError("missing X-GitHub-Event header")
    doc = read_body(body)
    key = _github_key(body)
    handler = HANDLERS.get(event)
    if handler is None:
        return key, Ignored(reason=f"GitHub {show(event)} events are not used")
    with checked():
        return key, handler(doc)


def _github_key(body: bytes) -> str:
    # Only the body is signed: a key from the delivery or hook id headers would let a captured
    # delivery run again under another id. GitHub redelivers the same bytes, so the hash of the
    # body dedupes redeliveries and replays alike (and one event sent to two hooks runs once).
    return f"github:{body_key(body)}"


def _repo(doc: Obj) -> str:
    return doc.obj("repository").string("full_name")


def _github_sender(doc: Obj) -> int | None:
    return doc.optional("sender").opt_integer("id")


def _github_push(doc: Obj) -> Event:
    repo, ref = _repo(doc), doc.string("ref")
    deleted = doc.boolean("deleted")
    if ref.startswith("refs/tags/"):
        tag = ref.removeprefix("refs/tags/")
        if not tag:
            raise EventError("field ref names no tag")
        if deleted:
            return Ignored(reason=f"tag {show(tag)} was deleted")
        return Artifact(source_key=f"git:{repo}", version=tag, repository=repo)
    pusher = doc.optional("pusher")
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
        pusher=pusher.opt_string("name"),
    )


def _github_create(doc: Obj) -> Event:
    repo, ref_type = _repo(doc), doc.string("ref_type")
    if ref_type != "tag":
        return Ignored(reason=f"a {show(ref_type)} was created")
    return Artifact(source_key=f"git:{repo}", version=doc.string("ref"), repository=repo)


def _github_package(field: str) -> Callable[[Obj], Event]:
    def parse(doc: Obj) -> Event:
        action = doc.string("action")
        if action not in ("published", "updated"):
            return Ignored(reason=f"package {show(action)}")
        package = doc.obj(field)
        version = package.obj("package_version")
        kind = _package_kind(package, version)
        if kind not in _CONTAINER_TYPES:
            return Ignored(reason=f"{show(kind)} packages are not used")
        tag, exact = _container_tag(version)
        if tag is None:
            return Ignored(reason="the container version has no tag")
        return Artifact(
            source_key=f"image:{_ghcr_image(package, version)}",
            version=tag,
            # A tag read from a label may not point at this very manifest: do not pin it.
            digest=_container_digest(version) if exact else None,
            repository=doc.optional("repository").opt_string("full_name"),
        )

    return parse


def _package_kind(package: Obj, version: Obj) -> str:
    # `package_type` and `ecosystem` contradict each other in real deliveries (a container that
    # says npm, an npm package that says docker); the registry a package lives in does not lie.
    registry_type = package.optional("registry").opt_string("type")
    if registry_type:
        return registry_type.lower()
    if version.opt_obj("container_metadata") is not None:
        return "container"
    return (package.opt_string("package_type") or "unknown").lower()


def _container_tag(version: Obj) -> tuple[str | None, bool]:
    """The tag this version was pushed as, and whether the payload says so plainly."""
    metadata = version.optional("container_metadata")
    tag = metadata.optional("tag")
    if tag.opt_string("name"):
        return tag.opt_string("name"), True
    url = version.opt_string("package_url") or ""
    if "@" not in url and ":" in url.rsplit("/", 1)[-1] and url.rsplit(":", 1)[1]:
        return url.rsplit(":", 1)[1], True  # ghcr.io/acme/api:1.4.2
    for tags in (version.strings("tags"), metadata.strings("tags")):
        if tags and tags[0]:
            return tags[0], True
    name = version.opt_string("version")
    if name and not name.startswith("sha256:"):  # for containers GitHub's version is a digest
        return name, True
    labels = metadata.optional("labels").optional("all_labels")
    label = labels.opt_string("org.opencontainers.image.version")
    return label, False


def _container_digest(version: Obj) -> str | None:
    metadata = version.optional("container_metadata")
    tag, manifest = metadata.optional("tag"), metadata.optional("manifest")
    candidates = [
        tag.opt_string("digest"),
        manifest.opt_string("digest"),
        version.opt_string("version"),
        version.opt_string("name"),
    ]
    return next((d for d in map(manifest_digest, candidates) if d), None)


def _ghcr_image(package: Obj, version: Obj) -> str:
    # package_url is the reference to pull (host and all, GHES included); `name` can disagree.
    url = version.opt_string("package_url")
    if url:
        split = split_reference(url)
        if split is not None:
            return f"{split[0]}/{split[1]}"
    owner = package.obj("owner").string("login")
    return f"ghcr.io/{owner}/{package.string('name')}".lower()


def _github_pull_request(doc: Obj) -> Event:
    repo, pr = _repo(doc), doc.obj("pull_request")
    head, base, user = pr.optional("head"), pr.optional("base"), pr.optional("user")
    state = pr.string("state")
    head_repo = head.opt_obj("repo")  # null when the fork was deleted
    if state not in ("open", "closed"):
        raise EventError(f"field pull_request.state must be open or closed, not {show(state)}")
    return PullRequestEvent(
        sender_id=_github_sender(doc),
        repo=repo,
        number=pr.integer("number"),
        action=doc.opt_string("action"),
        branch=head.opt_string("ref"),
        base=base.opt_string("ref"),
        head_sha=head.opt_string("sha"),
        merged=pr.boolean("merged"),
        state=state,
        author=user.opt_string("login"),
        from_fork=head_repo is None or head_repo.opt_string("full_name") != repo,
        labels=label_names(pr.objects("labels"), "name"),
    )


def _github_review(doc: Obj) -> Event:
    review = doc.optional("review")
    state = (review.opt_string("state") or "").lower()  # the REST API says APPROVED
    if state and state not in _REVIEW_STATES:
        return Ignored(reason=f"review state {show(state)}")
    user = review.optional("user")
    return ReviewEvent(
        sender_id=_github_sender(doc),
        repo=_repo(doc),
        number=doc.obj("pull_request").integer("number"),
        action=doc.opt_string("action"),
        reviewer=user.opt_string("login"),
        state=_REVIEW_STATES.get(state),
        sha=review.opt_string("commit_id"),  # GitHub Enterprise before 3.x: not sent
    )


def _github_comment(doc: Obj) -> Event:
    action = doc.string("action")
    if action not in COMMENT_ACTIONS:
        return Ignored(reason=f"comment {show(action)}")
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
        action=COMMENT_ACTIONS[action],
        on_pull_request=issue.opt_obj("pull_request") is not None,
        from_fork=False,
    )


def _github_status(doc: Obj) -> Event:
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


def _github_check(field: str) -> Callable[[Obj], Event]:
    def parse(doc: Obj) -> Event:
        action = doc.string("action")
        if action != "completed":
            return Ignored(reason=f"{field} {show(action)}")
        check = doc.obj(field)
        app = check.optional("app")
        context = (
            check.opt_string("name") or app.opt_string("slug") or app.opt_string("name") or field
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


def _github_installation(doc: Obj) -> Event:
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


# By `X-GitHub-Event`; the App manifest (deploy/github-app.yml) subscribes to these.
HANDLERS: dict[str, Callable[[Obj], Event]] = {
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
