"""What the GitHub and GitLab parsers share: choosing the parser for an event, who sent it,
git tags and branches, labels and comment actions."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bot.events.model import Artifact, CommentAction, Event, EventError, Ignored, checked
from bot.events.payload import Obj, show

Handler = Callable[[Obj], Event]
COMMENT_ACTIONS: dict[str, CommentAction] = {s: s for s in ("created", "edited", "deleted")}


def handle(handlers: Mapping[str, Handler], kind: str, doc: Obj, unused: str) -> Event:
    """What `handlers[kind]` reads in `doc`; `Ignored(reason=unused)` for a kind not used."""
    handler = handlers.get(kind)
    if handler is None:
        return Ignored(reason=unused)
    with checked():
        return handler(doc)


def sender_id(doc: Obj, key: str) -> int | None:
    """The forge's id of who caused the event (GitHub's `sender`, GitLab's `user`)."""
    return doc.optional(key).opt_integer("id")


def branch(ref: str) -> str | None:
    """The branch `refs/heads/<branch>` names; None for any other ref."""
    return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None


def tag_name(ref: str) -> str:
    """The tag `refs/tags/<tag>` names."""
    tag = ref.removeprefix("refs/tags/")
    if not tag:
        raise EventError("field ref names no tag")
    return tag


def tag_pushed(repo: str, tag: str, deleted: bool) -> Event:
    """A tag of a forge repo is a version of its `git:` source; a deleted one asks nothing."""
    if deleted:
        return Ignored(reason=f"tag {show(tag)} was deleted")
    return Artifact(source_key=f"git:{repo}", version=tag, repository=repo)


def label_names(items: list[Obj], key: str) -> tuple[str, ...]:
    """The names of labels; one without a name is no label."""
    return tuple(name for item in items if (name := item.opt_string(key)) is not None)
