"""GitHub webhooks: `X-GitHub-Event` names the kind, the body says the rest."""

from __future__ import annotations

from bot.events import forge, model
from bot.events.payload import Obj, body_key, manifest_digest, read_body, show, split_reference

_CONTAINER_TYPES = {"container", "docker"}
_CHECK_STATES: dict[str, model.StatusState] = {
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
_STATUS_STATES: dict[str, model.StatusState] = {
    s: s for s in ("pending", "success", "failure", "error")
}
_REVIEW_STATES: dict[str, model.ReviewState] = {
    s: s for s in ("approved", "changes_requested", "commented", "dismissed")
}


def parse_github(
    event: str | None, delivery: str | None, body: bytes, hook_id: str | None = None
) -> tuple[str, model.Event]:
    """`X-GitHub-Event`, `X-GitHub-Delivery`, the body and `X-GitHub-Hook-ID`."""
    if not event:
        raise model.EventError("missing X-GitHub-Event header")
    doc = read_body(body)
    key = _github_key(body)
    return key, forge.handle(HANDLERS, event, doc, f"GitHub {show(event)} events are not used")


def _github_key(body: bytes) -> str:
    # Only the body is signed: a key from the delivery or hook id headers would let a captured
    # delivery run again under another id. GitHub redelivers the same bytes, so the hash of the
    # body dedupes redeliveries and replays alike (and one event sent to two hooks runs once).
    return f"github:{body_key(body)}"


def _repo(doc: Obj) -> str:
    return doc.obj("repository").string("full_name")


def _github_push(doc: Obj) -> model.Event:
    repo, ref = _repo(doc), doc.string("ref")
    deleted = doc.boolean("deleted")
    if ref.startswith("refs/tags/"):
        return forge.tag_pushed(repo, forge.tag_name(ref), deleted)
    pusher = doc.optional("pusher")
    return model.Push(
        sender_id=forge.sender_id(doc, "sender"),
        repo=repo,
        ref=ref,
        branch=forge.branch(ref),
        tag=None,
        before=doc.opt_string("before"),
        after=doc.opt_string("after"),
        created=doc.boolean("created"),
        deleted=deleted,
        pusher=pusher.opt_string("name"),
    )


def _github_create(doc: Obj) -> model.Event:
    repo, ref_type = _repo(doc), doc.string("ref_type")
    if ref_type != "tag":
        return model.Ignored(reason=f"a {show(ref_type)} was created")
    return forge.tag_pushed(repo, doc.string("ref"), deleted=False)


def _github_package(field: str) -> forge.Handler:
    def parse(doc: Obj) -> model.Event:
        action = doc.string("action")
        if action not in ("published", "updated"):
            return model.Ignored(reason=f"package {show(action)}")
        package = doc.obj(field)
        version = package.obj("package_version")
        kind = _package_kind(package, version)
        if kind not in _CONTAINER_TYPES:
            return model.Ignored(reason=f"{show(kind)} packages are not used")
        tag, exact = _container_tag(version)
        if tag is None:
            return model.Ignored(reason="the container version has no tag")
        return model.Artifact(
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


def _github_pull_request(doc: Obj) -> model.Event:
    repo, pr = _repo(doc), doc.obj("pull_request")
    head, base, user = pr.optional("head"), pr.optional("base"), pr.optional("user")
    state = pr.string("state")
    head_repo = head.opt_obj("repo")  # null when the fork was deleted
    if state not in ("open", "closed"):
        raise model.EventError(
            f"field pull_request.state must be open or closed, not {show(state)}"
        )
    return model.PullRequestEvent(
        sender_id=forge.sender_id(doc, "sender"),
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
        labels=forge.label_names(pr.objects("labels"), "name"),
    )


def _github_review(doc: Obj) -> model.Event:
    review = doc.optional("review")
    state = (review.opt_string("state") or "").lower()  # the REST API says APPROVED
    if state and state not in _REVIEW_STATES:
        return model.Ignored(reason=f"review state {show(state)}")
    user = review.optional("user")
    return model.ReviewEvent(
        sender_id=forge.sender_id(doc, "sender"),
        repo=_repo(doc),
        number=doc.obj("pull_request").integer("number"),
        action=doc.opt_string("action"),
        reviewer=user.opt_string("login"),
        state=_REVIEW_STATES.get(state),
        sha=review.opt_string("commit_id"),  # GitHub Enterprise before 3.x: not sent
    )


def _github_comment(doc: Obj) -> model.Event:
    action = doc.string("action")
    if action not in forge.COMMENT_ACTIONS:
        return model.Ignored(reason=f"comment {show(action)}")
    issue, comment = doc.obj("issue"), doc.obj("comment")
    user = comment.obj("user")
    login = user.string("login")
    return model.CommentEvent(
        sender_id=forge.sender_id(doc, "sender"),
        repo=_repo(doc),
        number=issue.integer("number"),
        comment_id=comment.integer("id"),
        body=comment.text("body"),
        author=login,
        author_is_bot=user.opt_string("type") == "Bot" or login.endswith("[bot]"),
        action=forge.COMMENT_ACTIONS[action],
        on_pull_request=issue.opt_obj("pull_request") is not None,
        from_fork=False,
    )


def _github_status(doc: Obj) -> model.Event:
    state = doc.string("state")
    if state not in _STATUS_STATES:
        raise model.EventError(
            f"field state must be pending, success, failure or error, not {state!r}"
        )
    return model.StatusEvent(
        sender_id=forge.sender_id(doc, "sender"),
        repo=_repo(doc),
        sha=doc.string("sha"),
        context=doc.string("context"),
        state=_STATUS_STATES[state],
    )


def _github_check(field: str) -> forge.Handler:
    def parse(doc: Obj) -> model.Event:
        action = doc.string("action")
        if action != "completed":
            return model.Ignored(reason=f"{field} {show(action)}")
        check = doc.obj(field)
        app = check.optional("app")
        context = (
            check.opt_string("name") or app.opt_string("slug") or app.opt_string("name") or field
        )
        conclusion = check.opt_string("conclusion")
        return model.StatusEvent(
            sender_id=forge.sender_id(doc, "sender"),
            repo=_repo(doc),
            sha=check.string("head_sha"),
            context=context,
            state=_CHECK_STATES.get(conclusion, "failure") if conclusion else "pending",
        )

    return parse


def _github_installation(doc: Obj) -> model.Event:
    """`installation` (created, deleted, suspend, …) and `installation_repositories` (added,
    removed): which installation, and the repos the payload names."""
    named = [
        r.string("full_name")
        for key in ("repositories", "repositories_added", "repositories_removed")
        for r in doc.objects(key)
    ]
    return model.Installation(
        installation_id=doc.obj("installation").integer("id"),
        action=doc.string("action"),
        repos=tuple(dict.fromkeys(named)),
    )


# By `X-GitHub-Event`; the App manifest (deploy/github-app.yml) subscribes to these.
HANDLERS: dict[str, forge.Handler] = {
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
    "ping": lambda doc: model.Ping(),
    "installation": _github_installation,
    "installation_repositories": _github_installation,
}
