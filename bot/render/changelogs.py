"""The changelogs in a PR body: a line per component, then each version's notes, made inert
and quoted, in a collapsed block (`_Log`), the oldest replaced by links to fit. A copy
component's change is summarised from its diff in the same place."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.changelog.notes import KIND_NAMES, Changelog
from bot.planner import Edit
from bot.render.facts import diff_counts, short
from bot.render.markup import _MENTION, _code, _html, _join, _oneline, _reason, _text, _url

NOTE_SHOWN = 2_000  # characters of one version's notes in the body; the release page has all
HIDDEN_LINKED = 20  # versions left out to fit that are linked one by one; more: one link
# Text that reaches people or the forge from a note: @-mentions notify, issue references
# (with "Fixes") close issues of the environment repo when the promotion merges.
_REFERENCE = re.compile(
    r"(?<![\w`/@&#])(?:"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*)(?:/[A-Za-z0-9._-]+)?#[0-9]+"  # owner/repo#12
    r"|(?:GH-|#|!)[0-9]+"  # #12, GH-12, GitLab's !12
    r"|https?://[^\s)\]>]+/(?:issues|pull|pulls|merge_requests)/[0-9]+[^\s)\]>]*"
    r")"
)
_CODE_SPAN = re.compile(r"(?<!\\)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_TASK = re.compile(
    r"^(\s*(?:[-*+]|[0-9]+[.)])\s+)\[([ xX])\]"
)  # a checkbox a reader could take for a gate
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def _note(text: str) -> str:
    """A note as it goes into the body: made inert, then quoted.

    Escaped HTML (no comment can imitate promobot's signed blocks or hide text, no tag can
    close the `<details>` around it), no images (a tracker on every view), mentions and issue
    references in code spans, no task-list boxes (they would read like gates), Trojan-source
    controls dropped, and every line quoted, so no line of it can start promobot's "Gates" or
    "What **env** runs" sections."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).strip("\n")
    if len(text) > NOTE_SHOWN:
        cut = text.rfind("\n", 0, NOTE_SHOWN)
        text = text[: cut if cut > NOTE_SHOWN // 2 else NOTE_SHOWN] + "\n\n… (cut here)"
    lines = []
    fence: str | None = None
    for line in _html(text).split("\n"):
        opened = _FENCE.match(line)
        if fence is not None:  # code: nothing in it notifies or links
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
        elif opened:
            fence = opened.group(1)
        else:
            line = _TASK.sub(r"\1\\[\2]", _inert(line))
        lines.append(f"> {line}" if line.strip() else ">")
    return "\n".join(lines)


def _inert(line: str) -> str:
    """Mentions, references and images outside a line's code spans made inert."""
    out, at = [], 0
    for span in _CODE_SPAN.finditer(line):
        out.append(_inert_text(line[at : span.start()]))
        out.append(span.group(0))
        at = span.end()
    out.append(_inert_text(line[at:]))
    return "".join(out)


def _inert_text(text: str) -> str:
    text = text.replace("![", "!\\[")
    text = _MENTION.sub(lambda m: f"`{m.group(0)}`", text)
    return _REFERENCE.sub(lambda m: f"`{m.group(0)}`", text)


@dataclass
class _Log:
    """One component's changelog in the body: a line saying what it is, then one collapsed
    block per version, newest first; fitting replaces the oldest blocks by links."""

    head: str
    versions: list[tuple[str, str]]  # (version, its <details> block), newest first
    links: list[str | None]  # each version's page, for when its block is left out
    link: str | None  # the compare page of the whole span
    tail: list[str]  # versions without notes, versions not fetched in time
    hidden: int = 0  # the oldest blocks left out
    _sizes: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._sizes = [len(block) + 2 for _, block in self.versions]

    @property
    def shown(self) -> int:
        return len(self.versions) - self.hidden

    def hidden_line(self) -> str:
        if not self.hidden:
            return ""
        left = self.versions[self.shown :]
        count = f"{self.hidden} older version" + ("" if self.hidden == 1 else "s")
        if self.hidden > HIDDEN_LINKED:
            where = f": see [the changes]({self.link})" if self.link else ""
            return f"*{count} not shown to keep this description short{where}*"
        named = [
            f"[{_text(version)}]({link})" if link else _text(version)
            for (version, _), link in zip(left, self.links[self.shown :], strict=True)
        ]
        return f"*Not shown to keep this description short: {', '.join(named)}*"

    @property
    def size(self) -> int:
        line = self.hidden_line()
        parts = sum(self._sizes[: self.shown]) + (len(line) + 2 if line else 0)
        return len(self.head) + parts + sum(len(t) + 2 for t in self.tail)

    def text(self) -> str:
        parts = [self.head, *(block for _, block in self.versions[: self.shown])]
        if self.hidden:
            parts.append(self.hidden_line())
        return "\n\n".join([*parts, *self.tail])


def _log(changelog: Changelog) -> _Log:
    name = f"**{_text(changelog.component)}** {_text(short(changelog.before))} → "
    name += _text(short(changelog.after))
    link = _url(changelog.link)
    compare = f" ([compare]({link}))" if link else ""
    where = _reason(changelog.where)
    if changelog.problem is not None:
        head = f"{name}: no changelog found: {_reason(changelog.problem)}"
        return _Log(head, [], [], link, [])
    if changelog.pending:
        head = (
            f"{name}: changelog not fetched in time; promobot looks again when it next "
            "rebuilds this PR (`/refresh`)"
        )
        return _Log(head, [], [], link, [])
    kinds = sorted({KIND_NAMES[n.kind] for n in changelog.notes})
    count = len(changelog.notes) + len(changelog.missing) + len(changelog.late)
    span = f"{count} version" + ("" if count == 1 else "s")
    what = "taken out by this rollback" if changelog.rollback else "newest first"
    source = f"{_join(kinds)} from {where}" if kinds else f"from {where}"
    head = f"{name}: {span}, {what} — {source}{compare}"
    blocks = []
    for note in changelog.notes:
        page = _url(note.url)
        more = f"\n\n[{KIND_NAMES[note.kind]} of {_text(note.version)}]({page})" if page else ""
        body = _note(note.text)
        blocks.append(
            (
                note.version,
                f"<details><summary>{_html(_oneline(note.version))}</summary>\n\n"
                f"{body}{more}\n\n</details>",
            )
        )
    tail = []
    if changelog.missing:
        tail.append(f"*No notes for {_join([_text(v) for v in changelog.missing])}.*")
    if changelog.late:
        tail.append(
            f"*Not fetched in time: {_join([_text(v) for v in changelog.late])}; promobot "
            "looks again when it next rebuilds this PR.*"
        )
    links = [_url(n.url) for n in changelog.notes]
    return _Log(head, blocks, links, link, tail)


def _copy_log(edit: Edit, diff: str) -> _Log:
    """A copy component's change, summarised from its diff (which follows the table)."""
    files = [line[6:] for line in diff.splitlines() if line.startswith("+++ b/")]
    files += [
        line[6:]
        for line in diff.splitlines()
        if line.startswith("--- a/") and not any(f == line[6:] for f in files)
    ]
    added, removed = diff_counts(diff)
    count = f"{len(files)} file" + ("" if len(files) == 1 else "s")
    shown = _join(
        [_code(f) for f in files[:5]] + ([f"{len(files) - 5} more"] if len(files) > 5 else [])
    )
    head = (
        f"**{_text(edit.component)}** copied from {_code(edit.copy_from or '')}: {count} "
        f"changed, +{added} −{removed}" + (f" ({shown})" if files else "")
    )
    return _Log(head, [], [], None, [])
