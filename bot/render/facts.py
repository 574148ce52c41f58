"""What the PR body and the terminal (`bot.terminal`) read alike from a plan, before either
marks it up: whether a promotion is a group, what its upstream column is called, a version
shortened for reading, a diff's line counts, the notes on each file written, and the source a
component is configured with."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.config import Config, Source
from bot.planner import Edit, Promotion, Row
from bot.versions import split_digest

_UPSTREAMLESS = {"artifact": "published", "set": "requested", "rollback": "target"}


def is_group(promotion: Promotion) -> bool:
    """Whether the promotion is shown app by app, each under its name: a group, or an app
    promoted under another name."""
    return len(promotion.apps) != 1 or promotion.apps[0].app != promotion.name


def upstream_label(promotion: Promotion) -> str:
    """The heading of the versions the promotion takes: the upstream environment, or where
    they come from without one."""
    return promotion.upstream or _UPSTREAMLESS.get(promotion.reason, "requested")


def short(version: str) -> str:
    """`1.4.2@sha256:0123456789ab…` — a pinned digest, shortened for reading."""
    tag, digest = split_digest(version)
    if digest is None:
        return version
    algorithm, _, encoded = digest.partition(":")
    return f"{tag}@{algorithm}:{encoded[:12]}…" if len(encoded) > 12 else version


def diff_counts(diff: str) -> tuple[int, int]:
    """The lines a unified diff adds and removes."""
    lines = diff.splitlines()
    added = sum(1 for x in lines if x.startswith("+") and not x.startswith("+++"))
    removed = sum(1 for x in lines if x.startswith("-") and not x.startswith("---"))
    return added, removed


def change_words(row: Row, diff: str | None, versions: Callable[[str, str], str]) -> str:
    """What a row changes, in words: unchanged, a file's content (with its diff's line counts),
    removed, new, or what `versions` says of a version that becomes another."""
    if row.change == "same":
        return "unchanged"
    if row.source == "files":
        text = "content changed"
        if diff is not None:
            added, removed = diff_counts(diff)
            text += f" (+{added} −{removed})"
        return text
    if row.after is None:
        return "removed"
    if row.before is None:
        return "new"
    return versions(row.before, row.after)


def file_notes(edits: Sequence[Edit], note: Callable[[Edit], str]) -> dict[str, list[str]]:
    """Each file the edits write, in their order, with the different notes `note` makes of
    its edits (an empty note says nothing)."""
    where: dict[str, list[str]] = {}
    for edit in edits:
        what = note(edit)
        notes = where.setdefault(edit.file, [])
        if what and what not in notes:
            notes.append(what)
    return where


def configured_source(config: Config, app: str, component: str) -> Source | None:
    """The source `.promobot.yaml` gives the app's component; None where it gives none."""
    spec = config.apps.get(app)
    found = spec.components.get(component) if spec is not None else None
    return found.source if found is not None else None
