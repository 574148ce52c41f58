"""The version-diff table of one app: a row per component — its source, the version now,
after merge and upstream, and what changes, linked to the compare page the app's `links`
give — kept as rows the body can leave out to fit (`_Table`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from bot import source_pages
from bot.config import Config
from bot.planner import AppPlan, Edit, Promotion, Row
from bot.render.facts import change_words, configured_source, upstream_label
from bot.render.markup import _code, _text, _url, _version
from bot.versions import is_range, split_digest


def _table(
    promotion: Promotion,
    plan: AppPlan,
    edits: Sequence[Edit],
    links: Mapping[str, str],
    diffs: Mapping[str, str],
    config: Config,
) -> _Table:
    upstream = upstream_label(promotion)
    header = (
        f"| component | source | {_text(promotion.env)} now | after merge "
        f"| {_text(upstream)} | changes |\n|---|---|---|---|---|---|"
    )
    files = {e.component: e.file for e in edits}
    rows = []
    for row in plan.rows:
        after = _version(row, row.after)
        diff = diffs.get(files.get(row.component, ""))
        cells = [
            _text(row.component),
            _source(config, plan.app, row),
            _version(row, row.before),
            after if row.change == "same" or row.after is None else f"**{after}**",
            _version(row, row.upstream),
            _changes(row, plan.app, promotion.env, links.get(row.component), diff),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return _Table(header, rows, [r.change != "same" for r in plan.rows], 6)


def _source(config: Config, app: str, row: Row) -> str:
    """The source as `.promobot.yaml` writes it, linked to its page where one is known (a
    `git:` repository relative to the forge's host, which serves this PR); unlinked, it is a
    code span, which no forge turns into a link of its own making."""
    source = configured_source(config, app, row.component)
    if source is None:
        return _text(row.source)
    shown = source_pages.shown(source, forge_web="")
    url = _url(shown.url) if shown.url and not shown.url.startswith("/") else shown.url
    return f"[{_text(shown.text)}]({url})" if url else _code(shown.text)


def _changes(row: Row, app: str, env: str, link: str | None, diff: str | None) -> str:
    def versions(before: str, after: str) -> str:
        old, new = split_digest(before)[0], split_digest(after)[0]
        url = _link(link, old, new, app, env) if link is not None else None
        if is_range(old) or is_range(new):
            return f"⚠ the range of versions allowed changes: {_text(old)} → {_text(new)}"
        if old == new:
            return "new digest"
        if url is not None:
            return f"[{_text(old)}…{_text(new)}]({url})"
        return f"{_version(row, before)} → {_version(row, after)}"

    text = change_words(row, diff, versions)
    return text + " ⚠ downgrade" if row.change == "down" else text


def _link(template: str, old: str, new: str, app: str, env: str) -> str | None:
    values = {"from": quote(old, safe="/@:+~"), "to": quote(new, safe="/@:+~")}
    try:
        url = template.format(**values, app=quote(app), env=quote(env))
    except (KeyError, IndexError, ValueError):
        return None
    return "".join(quote(c) if c in " |<>\n" else c for c in url)


@dataclass
class _Table:
    header: str  # the header line and the delimiter row
    rows: list[str]
    changed: list[bool]
    columns: int
    dropped: set[int] = field(default_factory=set)
    _kept: int = 0  # characters of the rows still shown, with their newlines

    def __post_init__(self) -> None:
        self._kept = sum(len(r) + 1 for r in self.rows)

    def placeholder(self, count: int) -> str:
        rows = "row" if count == 1 else "rows"
        message = f"{count} more {rows} not shown; see the files changed"
        return "| … | " + message + " | …" * (self.columns - 2) + " |"

    @property
    def size(self) -> int:
        hidden = len(self.dropped)
        return len(self.header) + self._kept + (len(self.placeholder(hidden)) + 1 if hidden else 0)

    def drop(self, index: int) -> None:
        self.dropped.add(index)
        self._kept -= len(self.rows[index]) + 1

    def restore(self, index: int) -> None:
        self.dropped.remove(index)
        self._kept += len(self.rows[index]) + 1

    def text(self) -> str:
        lines = [self.header]
        hole = sorted(self.dropped)[len(self.dropped) // 2] if self.dropped else -1
        for i, row in enumerate(self.rows):
            if i == hole:
                lines.append(self.placeholder(len(self.dropped)))
            if i not in self.dropped:
                lines.append(row)
        return "\n".join(lines)
