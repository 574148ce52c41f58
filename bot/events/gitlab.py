"""GitLab webhooks and system hooks: `X-Gitlab-Event`, or the body's `object_kind`."""

from __future__ import annotations

import re

from bot.events import forge, model
from bot.events.payload import Obj, body_key, read_body, show

_GITLAB_HOOKS = {
    "Push Hook": "push",
    "Tag Push Hook": "tag_push",
    "Merge Request Hook": "merge_request",
    "Note Hook": "note",
    "Pipeline Hook": "pipeline",
}
_PIPELINE_STATES: dict[str, model.StatusState] = {
    "success": "success",
    "skipped": "success",
    "failed": "failure",
    "canceled": "error",
    "canceling": "error",
}
_MR_ACTIONS = {"open": "opened", "close": "closed", "reopen": "reopened", "merge": "closed"}
_ZERO_SHA = re.compile(r"0+\Z")
_GITLAB_BOT = re.compile(r"(?:project|group)_\d+_bot(?:_[0-9a-f]+)?\Z|service_account_")


def parse_gitlab(
    event: str | None, idempotency_key: str | None, event_uuid: str | None, body: bytes
) -> tuple[str, model.Event]:
    """`X-Gitlab-Event`, `Idempotency-Key` (kept across retries), `X-Gitlab-Event-UUID`, body."""
    doc = read_body(body)
    key = f"gitlab:{idempotency_key or event_uuid or body_key(body)}"
    kind = _GITLAB_HOOKS.get(event or "")
    if kind is None and event in (None, "", "System Hook"):  # the body names its own kind
        kind = doc.opt_string("object_kind")
        if kind is None and not event:
            raise model.EventError("missing X-Gitlab-Event header")
    unused = f"GitLab {show(event or kind or '')} events are not used"
    return key, forge.handle(HANDLERS, kind or "", doc, unused)


def _project(doc: Obj) -> str:
    return doc.obj("project").string("path_with_namespace")


def _is_zero(sha: str) -> bool:
    return _ZERO_SHA.match(sha) is not None


def _gitlab_push(doc: Obj) -> model.Event:
    ref, before, after = doc.string("ref"), doc.opt_string("before"), doc.opt_string("after")
    return model.Push(
        sender_id=doc.opt_integer("user_id"),
        repo=_project(doc),
        ref=ref,
        branch=forge.branch(ref),
        tag=None,
        before=before,
        after=after,
        created=before is not None and _is_zero(before),
        deleted=after is not None and _is_zero(after),
        pusher=doc.opt_string("user_username"),  # older GitLab does not send it
    )


def _gitlab_tag_push(doc: Obj) -> model.Event:
    repo, ref = _project(doc), doc.string("ref")
    tag = forge.tag_name(ref)
    return forge.tag_pushed(repo, tag, _is_zero(doc.string("after")))


def _gitlab_merge_request(doc: Obj) -> model.Event:
    attrs = doc.obj("object_attributes")
    action, state = attrs.opt_string("action") or "update", attrs.string("state")
    if action == "update":  # a new head arrives as an update with the old revision
        action = "synchronize" if attrs.opt_string("oldrev") else "edited"
    labels = attrs.objects("labels") if attrs.has("labels") else doc.objects("labels")
    last_commit, user = attrs.optional("last_commit"), doc.optional("user")
    return model.PullRequestEvent(
        sender_id=forge.sender_id(doc, "user"),
        repo=_project(doc),
        number=attrs.integer("iid"),
        action=_MR_ACTIONS.get(action, action),
        branch=attrs.opt_string("source_branch"),
        base=attrs.opt_string("target_branch"),
        head_sha=last_commit.opt_string("id"),
        merged=state == "merged" or action == "merge",
        state="closed" if state in ("closed", "merged") else "open",
        author=user.opt_string("username") if action == "open" else None,
        from_fork=_from_fork(attrs),
        labels=forge.label_names(labels, "title"),
    )


def _from_fork(mr: Obj) -> bool:
    """Whether the MR comes from another project; unknown reads as no, as on GitHub's comments,
    and commands are checked against the forge's own answer anyway."""
    source, target = mr.opt_integer("source_project_id"), mr.opt_integer("target_project_id")
    return source is not None and target is not None and source != target


def _gitlab_note(doc: Obj) -> model.Event:
    attrs = doc.obj("object_attributes")
    noteable = attrs.string("noteable_type")
    if noteable == "MergeRequest":
        target = doc.obj("merge_request")
        from_fork = _from_fork(target)
    elif noteable == "Issue":
        target, from_fork = doc.obj("issue"), False
    else:
        return model.Ignored(reason=f"notes on {show(noteable)} are not used")
    author = doc.obj("user").string("username")
    action = {"create": "created", "update": "edited"}.get(attrs.opt_string("action") or "create")
    if action is None:
        return model.Ignored(reason=f"note {show(attrs.string('action'))}")
    return model.CommentEvent(
        sender_id=forge.sender_id(doc, "user"),
        repo=_project(doc),
        number=target.integer("iid"),
        comment_id=attrs.integer("id"),
        body=attrs.text("note"),
        author=author,
        author_is_bot=attrs.boolean("system") or _GITLAB_BOT.match(author) is not None,
        action=forge.COMMENT_ACTIONS[action],
        on_pull_request=noteable == "MergeRequest",
        from_fork=from_fork,
    )


def _gitlab_pipeline(doc: Obj) -> model.Event:
    attrs = doc.obj("object_attributes")
    return model.StatusEvent(
        sender_id=forge.sender_id(doc, "user"),
        repo=_project(doc),
        sha=attrs.string("sha"),
        context=attrs.opt_string("name") or "pipeline",
        state=_PIPELINE_STATES.get(attrs.string("status"), "pending"),
    )


# By kind (`_GITLAB_HOOKS` or the body's `object_kind`).
HANDLERS: dict[str, forge.Handler] = {
    "push": _gitlab_push,
    "tag_push": _gitlab_tag_push,
    "merge_request": _gitlab_merge_request,
    "note": _gitlab_note,
    "pipeline": _gitlab_pipeline,
}
