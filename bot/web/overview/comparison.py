"""Comparing two environments: the version-diff table, and a copied path's content diff."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from bot import versions
from bot.composition import Composition, Snapshot, Status
from bot.config import Config

Difference = Literal["same", "newer", "older", "different", "only-from", "only-to"]


@dataclass(frozen=True)
class Compared:
    component: str
    left: str | None  # in `from`
    right: str | None  # in `to`
    difference: Difference
    kept: bool = False  # `promote: never`: a difference on purpose, never promoted
    content: str = ""  # a copied file or folder that differs: its unified diff, not its hash


@dataclass(frozen=True)
class AppComparison:
    app: str
    left: Composition | None
    right: Composition | None
    rows: tuple[Compared, ...]

    @property
    def same(self) -> bool:
        return all(r.difference == "same" for r in self.rows)


def difference(
    left: str | None, right: str | None, strategy: versions.Strategy | None
) -> Difference:
    """How `left` (in `from`) stands to `right` (in `to`)."""
    if left == right:
        return "same"
    if right is None:
        return "only-from"
    if left is None:
        return "only-to"
    order = versions.compare(left, right, strategy) if strategy is not None else None
    return "newer" if order == 1 else "older" if order == -1 else "different"


def compare(
    config: Config, status: Status, left: str, right: str, snapshot: Snapshot | None = None
) -> list[AppComparison]:
    """The version-diff table between two environments, for the apps either one runs; with
    the snapshot, a copied file or folder that differs shows its content's diff."""
    out = []
    for app, by_env in status.apps.items():
        a, b = by_env.get(left), by_env.get(right)
        if a is None and b is None:
            continue
        spec = config.apps[app].components
        rows = []
        for name in spec:
            kept = spec[name].shown
            ours, theirs = _value(a, name, kept), _value(b, name, kept)
            if ours is None and theirs is None:
                continue
            source = spec[name].source
            found = difference(ours, theirs, source.sort if source else None)
            content = ""
            if found != "same" and spec[name].target.copy_ is not None and snapshot is not None:
                content = content_diff(
                    snapshot,
                    config.target(app, name, left).path,
                    config.target(app, name, right).path,
                )
            rows.append(Compared(name, ours, theirs, found, spec[name].shown, content))
        out.append(AppComparison(app, a, b, tuple(rows)))
    return out


def _value(composition: Composition | None, name: str, kept: bool) -> str | None:
    if composition is None:
        return None
    return (composition.shown if kept else composition.components).get(name)


DIFF_LINES = 200  # of one copied path's diff on the compare page; the rest is counted


def content_diff(snapshot: Snapshot, left: str, right: str) -> str:
    """The unified diff from `left`'s content (a file, or the files of a folder) to
    `right`'s, paths shown relative to each; at most DIFF_LINES lines."""

    def files(path: str) -> dict[str, str]:
        path = path.rstrip("/")
        if path in snapshot.trees:
            return {rel: _text_of(snapshot, f"{path}/{rel}") for rel in snapshot.blobs_under(path)}
        return {"": _text_of(snapshot, path)} if path in snapshot.objects else {}

    ours, theirs = files(left), files(right)
    lines: list[str] = []
    for rel in sorted(ours.keys() | theirs.keys()):
        name_a = f"{left.rstrip('/')}/{rel}" if rel else left
        name_b = f"{right.rstrip('/')}/{rel}" if rel else right
        lines += difflib.unified_diff(
            ours.get(rel, "").splitlines(),
            theirs.get(rel, "").splitlines(),
            name_a if rel in ours else "/dev/null",
            name_b if rel in theirs else "/dev/null",
            lineterm="",
        )
    if len(lines) > DIFF_LINES:
        lines = [*lines[:DIFF_LINES], f"… {len(lines) - DIFF_LINES} more lines"]
    return "\n".join(lines)


def _text_of(snapshot: Snapshot, path: str) -> str:
    data = snapshot.files.get(path)
    return "" if data is None else data.decode("utf-8", errors="replace")
