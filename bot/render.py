"""Promotion PR text: the title, the body with its version-diff table, and the overview table.

Pure: values in, markdown out. The body ends with a hidden metadata block that carries the
plan, so promobot can rebuild its state from the forge alone (`parse_meta` reads it back). The
block and the gate checklist are signed (`bot.signing`): anyone who can edit the description
can change them, and what does not verify is read as absent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import json
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from bot import source_pages
from bot.changelog.notes import KIND_NAMES, Changelog
from bot.composition import Composition, HistoryEntry, Status
from bot.config import Config
from bot.gates import GateResult
from bot.live.state import Running
from bot.planner import AppPlan, Edit, Promotion, Row
from bot.signing import Signer
from bot.versions import is_range, split_digest

MAX_BODY = 65_536  # what GitHub accepts for a PR body
MAX_TITLE = 250  # GitHub allows 256
MAX_COMMIT_MESSAGE = 32_768  # enough for a few hundred rows; the diff itself has the rest
META_VERSION = 1

COMMANDS_HELP = """\
| command | does |
|---|---|
| `/promote [app…] [--to env] [--only image,chart,…] [--version v] [--shared]` | open or refresh the promotion PR(s); `--shared` also changes the environments that share a file it writes |
| `/rollback app [--env env] [--to composition-id\\|version\\|previous] [--only image,…] [--shared]` | open a PR back to an earlier composition (or only some components) |
| `/approve` | count an approval (GitLab Free and any forge without review approvals) |
| `/merge` | merge now if every gate passes |
| `/hold [reason]`, `/unhold` | block / unblock merging |
| `/refresh` | recompute the PR against the current base and sources |
| `/status [env]` | reply with the versions matrix |
| `/history app [--env env]` | reply with the app's compositions over time |
| `/help` | reply with this table |"""  # noqa: E501

_META_OPEN = "<!-- promobot:meta "
_META_CLOSE = " -->"
_META_PLAIN_MAX = 16_384  # a longer plan (a group of hundreds of apps) is zlib-compressed
_META_MAX_INFLATED = 64 * 1024 * 1024
_MIN_TABLE_ROWS = 5  # big tables shrink to this before whole apps are left out
_MIN_GAIN = 100  # characters a placeholder row must save to replace rows
_UPSTREAMLESS = {"artifact": "published", "set": "requested", "rollback": "target"}
_MENTION = re.compile(r"(?<![\w`/@])@[A-Za-z0-9](?:[A-Za-z0-9-]*)(?:/[A-Za-z0-9._-]+)?")
_MARKDOWN = re.compile(r"([\\`*\[\]|~])")

# --- title ---------------------------------------------------------------------------------------


def title(promotion: Promotion) -> str:
    grouped = _grouped(promotion)
    parts = [
        f"{plan.app} {_title_change(row)}" if grouped else _title_change(row)
        for plan in promotion.apps
        for row in plan.changed
    ]
    head = _oneline(_verb(promotion, promotion.display, promotion.env))
    if promotion.shared:
        head += f" (shared with {', '.join(promotion.shared)})"
    if not parts:
        return _cap(head, MAX_TITLE)
    for kept in range(min(len(parts), MAX_TITLE // 2), 0, -1):
        more = len(parts) - kept
        text = f"{head}: {', '.join(parts[:kept])}" + (f"…, and {more} more" if more else "")
        if len(text) <= MAX_TITLE:
            return text
    return _cap(f"{head}: {len(parts)} changes", MAX_TITLE)


def _title_change(row: Row) -> str:
    name = _oneline(row.component)
    if row.source == "files":
        return f"{name} updated"
    if row.after is None:
        return f"{name} removed"
    if row.before is None:
        return f"{name} {_oneline(_short(row.after))} (new)"
    return f"{name} {_oneline(_short(row.before))} → {_oneline(_short(row.after))}"


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- body ----------------------------------------------------------------------------------------


def body(
    promotion: Promotion,
    config: Config,
    gates: Sequence[GateResult] = (),
    *,
    signer: Signer,
    diffs: Mapping[str, str] = {},
    max_chars: int = MAX_BODY,
    running: Sequence[Running] = (),
    changelogs: Sequence[Changelog] = (),
) -> str:
    """The PR description; longer than `max_chars`, its middle is left out (see `_Body.fit`)."""
    document = _Body.build(promotion, config, gates, diffs, signer, running, changelogs)
    document.fit(max_chars)
    return document.text()


def commit_message(
    promotions: Sequence[Promotion], config: Config, max_chars: int = MAX_COMMIT_MESSAGE
) -> str:
    """The message of a `propose: commit` commit: a title, then each promotion's first line and
    version-diff tables as its PR would show them (no gates: nothing gates such a commit)."""
    if len(promotions) == 1:
        head = title(promotions[0])
    else:
        what = ", ".join(f"{p.display} to {p.env}" for p in promotions)
        head = _cap(_oneline(f"Promote {what}"), MAX_TITLE)
    blocks: list[str] = []
    for promotion in promotions:
        blocks.append(_first_line(promotion))
        grouped = _grouped(promotion)
        for plan in promotion.apps:
            app = config.apps.get(plan.app)
            mine = [e for e in promotion.edits if e.app == plan.app]
            links = app.links if app is not None else {}
            table = _table(promotion, plan, mine, links, {}, config)
            blocks.append((f"{_text(plan.app)}:\n" if grouped else "") + table.text())
    text, shown = head, 0
    for block in blocks:
        if len(text) + len(block) + 200 > max_chars:
            break
        text += "\n\n" + block
        shown += 1
    if shown < len(blocks):
        text += f"\n\n… {len(blocks) - shown} more tables not shown; see the commit's diff"
    return text + "\n\nPromoted-by: promobot"


def _first_line(promotion: Promotion) -> str:
    line = _first(promotion)
    if not promotion.shared:
        return line
    others = _join([f"**{_text(e)}**" for e in promotion.shared])
    files = _join(sorted({_code(e.file) for e in promotion.edits}))
    return (
        f"{line}\n\n⚠ This changes {others} too: {files} "
        f"{'is' if len(promotion.edits) == 1 else 'are'} shared with "
        f"{'it' if len(promotion.shared) == 1 else 'them'}, and whoever asked for this said so "
        "(`--shared`)."
    )


def _first(promotion: Promotion) -> str:
    head = _verb(promotion, f"**{_text(promotion.display)}**", f"**{_text(promotion.env)}**")
    if promotion.batched:
        origin = (
            f"from **{_text(promotion.upstream)}**"
            if promotion.upstream is not None
            else "with newly published versions"
        )
        return f"{head} {origin} — every automatic promotion due here, gathered (`batch:`)"
    if not _grouped(promotion):
        return f"{head} — {_summary(promotion, promotion.apps[0])}"
    count = len(promotion.apps)
    apps = f"{count} app" + ("" if count == 1 else "s")
    if promotion.upstream is not None:
        return f"{head} — {apps} from **{_text(promotion.upstream)}**"
    if promotion.reason == "artifact":
        return f"{head} — new versions published for {apps}"
    if promotion.reason == "rollback":
        return f"{head} — {apps} back to earlier compositions"
    return f"{head} — {apps} set on request"


def _verb(promotion: Promotion, name: str, env: str) -> str:
    if promotion.reason == "rollback":
        return f"Roll back {name} in {env}"
    return f"Promote {name} to {env}"


def _summary(promotion: Promotion, plan: AppPlan) -> str:
    """What happens to one app: `composition a → b (same as **dev**)`, or what was published."""
    move = f"composition `{plan.before or '?'}` → `{plan.after}`"
    if promotion.upstream is not None:
        return move + _from_upstream(promotion.upstream, plan)
    versions = _join([f"{_text(r.component)} {_version(r, r.after)}" for r in plan.changed])
    if promotion.reason == "artifact":
        return f"new {versions} published; {move}"
    if promotion.reason == "rollback":
        return f"back to an earlier {move}"
    return f"{versions} set on request; {move}"


def _from_upstream(upstream: str, plan: AppPlan) -> str:
    if plan.after == plan.upstream:
        return f" (same as **{_text(upstream)}**)"
    taken = [_text(r.component) for r in plan.changed if r.after == r.upstream]
    return f" ({_join(taken)} from **{_text(upstream)}**)" if taken else ""


def _table(
    promotion: Promotion,
    plan: AppPlan,
    edits: Sequence[Edit],
    links: Mapping[str, str],
    diffs: Mapping[str, str],
    config: Config,
) -> _Table:
    upstream = promotion.upstream or _UPSTREAMLESS.get(promotion.reason, "requested")
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
    spec = config.apps.get(app)
    component = spec.components.get(row.component) if spec is not None else None
    if component is None or component.source is None:
        return _text(row.source)
    shown = source_pages.shown(component.source, forge_web="")
    url = _url(shown.url) if shown.url and not shown.url.startswith("/") else shown.url
    return f"[{_text(shown.text)}]({url})" if url else _code(shown.text)


def _changes(row: Row, app: str, env: str, link: str | None, diff: str | None) -> str:
    if row.change == "same":
        return "unchanged"
    if row.source == "files":
        text = "content changed"
        if diff is not None:
            lines = diff.splitlines()
            added = sum(1 for x in lines if x.startswith("+") and not x.startswith("+++"))
            removed = sum(1 for x in lines if x.startswith("-") and not x.startswith("---"))
            text += f" (+{added} −{removed})"
    elif row.after is None:
        text = "removed"
    elif row.before is None:
        text = "new"
    else:
        old, new = split_digest(row.before)[0], split_digest(row.after)[0]
        url = _link(link, old, new, app, env) if link is not None else None
        if is_range(old) or is_range(new):
            text = f"⚠ the range of versions allowed changes: {_text(old)} → {_text(new)}"
        elif old == new:
            text = "new digest"
        elif url is not None:
            text = f"[{_text(old)}…{_text(new)}]({url})"
        else:
            text = f"{_version(row, row.before)} → {_version(row, row.after)}"
    return text + " ⚠ downgrade" if row.change == "down" else text


def _link(template: str, old: str, new: str, app: str, env: str) -> str | None:
    values = {"from": quote(old, safe="/@:+~"), "to": quote(new, safe="/@:+~")}
    try:
        url = template.format(**values, app=quote(app), env=quote(env))
    except (KeyError, IndexError, ValueError):
        return None
    return "".join(quote(c) if c in " |<>\n" else c for c in url)


def _diff_block(path: str, diff: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", diff)), default=0)
    fence = "`" * max(3, longest + 1)
    return (
        f"<details><summary>diff of {_html(path)}</summary>\n\n"
        f"{fence}diff\n{diff.rstrip(chr(10))}\n{fence}\n\n</details>"
    )


def _gates(
    promotion: Promotion,
    gates: Sequence[GateResult],
    signer: Signer,
    running: Sequence[Running] = (),
) -> str:
    before = _running(promotion.env, running) + "\n\n" if running else ""
    if not gates:
        checklist = f"Gates\n- [ ] gates for {_text(promotion.env)} not evaluated yet"
    else:
        marks = {"pass": "- [x] ", "pending": "- [ ] ", "fail": "- [ ] ❌ "}
        checklist = "Gates\n" + "\n".join(marks[g.state] + _reason(g.reason) for g in gates)
    return before + checklist + "\n" + _gates_mark(promotion.branch, checklist, signer)


RUNNING_SHOWN = 10  # apps named one by one; a batch's others are counted


def _running(env: str, running: Sequence[Running]) -> str:
    """What the environment's cluster runs, above the checklist, rewritten with it (so a
    change the cluster reports costs a body edit only when the line it shows changes)."""
    lines = [f"What **{_text(env)}** runs"]
    apps = [r for r in running if not r.error]
    lines += [f"- {_reason(r.error)}" for r in running if r.error]
    lines += [f"- {_running_line(env, r)}" for r in apps[:RUNNING_SHOWN]]
    rest = apps[RUNNING_SHOWN:]
    if rest:
        counts: dict[str, int] = {}
        for r in rest:
            state = "no report" if r.live is None else r.live.health
            counts[state] = counts.get(state, 0) + 1
        tally = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        lines.append(f"- … and {len(rest)} more: {tally}")
    return "\n".join(lines)


def _running_line(env: str, running: Running) -> str:
    """`api image 1.4.2, config v11 — healthy since Tue 2026-11-24 10:42 UTC at `1a2b3c4d5e``,
    or what the cluster says instead."""
    live, app = running.live, _text(running.app)
    if live is None:
        return f"{app}: no report from {_text(env)}'s cluster yet"
    if not live.settled or running.versions is None:
        return f"{app}: {_reason(live.describe())}"
    shown = running.git or running.versions
    versions = ", ".join(
        f"{_text(c)} {_code(running.versions[c])}" for c in shown if c in running.versions
    )
    since = f" since {live.since:%a %Y-%m-%d %H:%M} UTC" if live.since else ""
    at = f" at `{live.revision[:10]}`" if live.revision else ""
    line = f"{app} {versions} — healthy{since}{at}"
    drift = running.drift
    if drift:
        wanted = ", ".join(f"{_text(c)} {_code(git)}" for c, (git, _) in drift.items())
        line += f"; git asks for {wanted}"
    return line


def _gates_mark(branch: str, checklist: str, signer: Signer) -> str:
    digest = hashlib.sha256(checklist.encode()).hexdigest()[:32]
    return signer.mark("gates", branch=branch, digest=digest)


_GATES = re.compile(
    r"^(?:What \*\*.*\*\* runs\n(?:- .*\n)*\n)?"  # what the cluster runs, if shown
    r"Gates\n(?:- .*\n?)*(?:<!-- promobot:gates .*-->\n?)?",
    re.MULTILINE,
)
_CHECKLIST = re.compile(r"^Gates\n(?:- .*(?:\n|$))*", re.MULTILINE)


def replace_gates(
    body: str,
    promotion: Promotion,
    gates: Sequence[GateResult],
    signer: Signer,
    running: Sequence[Running] = (),
) -> str:
    """The body with its gate checklist (and what the cluster runs) replaced, everything
    else (diffs too) as it was."""
    section = _gates(promotion, gates, signer, running)
    found = _GATES.search(body)
    if found is None:
        return body
    tail = "\n" if found.group(0).endswith("\n") else ""
    return body[: found.start()] + section + tail + body[found.end() :]


def signed_checklist(body: str, branch: str, signer: Signer) -> str | None:
    """The gate checklist in a PR body, if promobot wrote it for this branch as it stands."""
    found = _CHECKLIST.search(body)
    if found is None:
        return None
    checklist = found.group(0).rstrip("\n")
    wanted = _gates_mark(branch, checklist, signer)
    after = body[found.start() + len(checklist) :].lstrip("\n")
    return checklist if after.startswith(wanted) else None


def _reason(text: str) -> str:
    # A body that @-mentions a team notifies it on every update; reviewers are requested instead.
    text = _html(_oneline(text))
    return _MENTION.sub(lambda m: f"`{m.group(0)}`", text)


def _file_entries(edits: Sequence[Edit]) -> list[str]:
    where: dict[str, list[str]] = {}
    for edit in edits:
        if edit.copy_from is not None:
            what = f"copied from {_code(edit.copy_from)}"
        else:
            what = _code(edit.field) if edit.field else ""
        notes = where.setdefault(edit.file, [])
        if what and what not in notes:
            notes.append(what)
    return [f"{_code(f)} ({', '.join(n)})" if n else _code(f) for f, n in where.items()]


def _commands() -> str:
    return (
        "<details><summary>Commands</summary>\n\n"
        f"Comment on this PR with a command at the start of a line:\n\n{COMMANDS_HELP}\n\n"
        "</details>"
    )


# --- changelogs ---------------------------------------------------------------------------------

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


def _url(url: str | None) -> str | None:
    """A link target fit for markdown: http(s) only, nothing that ends or breaks the link."""
    if url is None or not url.startswith(("https://", "http://")):
        return None
    return "".join(quote(c) if c in " |<>()[]\n\"'`" else c for c in url)


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
    name = f"**{_text(changelog.component)}** {_text(_short(changelog.before))} → "
    name += _text(_short(changelog.after))
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
    lines = diff.splitlines()
    added = sum(1 for x in lines if x.startswith("+") and not x.startswith("+++"))
    removed = sum(1 for x in lines if x.startswith("-") and not x.startswith("---"))
    count = f"{len(files)} file" + ("" if len(files) == 1 else "s")
    shown = _join(
        [_code(f) for f in files[:5]] + ([f"{len(files) - 5} more"] if len(files) > 5 else [])
    )
    head = (
        f"**{_text(edit.component)}** copied from {_code(edit.copy_from or '')}: {count} "
        f"changed, +{added} −{removed}" + (f" ({shown})" if files else "")
    )
    return _Log(head, [], [], None, [])


# --- truncation ----------------------------------------------------------------------------------


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


@dataclass
class _Section:
    """One app: an optional heading and summary (groups), its table, and its diffs."""

    prefix: str  # "### api\n\nComposition …\n\n" for a group; "" for a single app
    table: _Table
    diffs: list[str]
    hidden_diffs: set[int] = field(default_factory=set)
    logs: list[_Log] = field(default_factory=list)  # the changelogs, after the table

    def blocks(self) -> Iterator[str]:
        return (b for i, b in enumerate(self.diffs) if i not in self.hidden_diffs)

    @property
    def size(self) -> int:
        logs = sum(log.size + 2 for log in self.logs)
        return len(self.prefix) + self.table.size + logs + sum(len(b) + 2 for b in self.blocks())

    def text(self) -> str:
        logs = "".join("\n\n" + log.text() for log in self.logs)
        return self.prefix + self.table.text() + logs + "".join("\n\n" + b for b in self.blocks())


@dataclass
class _Body:
    first: str
    sections: list[_Section]
    gates: str
    files: list[str]
    tail: str  # the commands and the metadata
    files_shown: int = 0
    hidden_apps: set[int] = field(default_factory=set)

    @classmethod
    def build(
        cls,
        promotion: Promotion,
        config: Config,
        gates: Sequence[GateResult],
        diffs: Mapping[str, str],
        signer: Signer,
        running: Sequence[Running] = (),
        changelogs: Sequence[Changelog] = (),
    ) -> _Body:
        grouped = _grouped(promotion)
        logs: dict[str, list[_Log]] = {}
        for changelog in changelogs:
            logs.setdefault(changelog.app, []).append(_log(changelog))
        edits: dict[str, list[Edit]] = {}
        for edit in promotion.edits:
            edits.setdefault(edit.app, []).append(edit)
        sections = []
        for plan in promotion.apps:
            app = config.apps.get(plan.app)
            links = app.links if app is not None else {}
            prefix = ""
            if grouped:
                summary = _summary(promotion, plan)
                prefix = f"### {_text(plan.app)}\n\n{summary[0].upper()}{summary[1:]}\n\n"
            blocks = []
            mine = edits.get(plan.app, [])
            found = list(logs.get(plan.app, []))
            for edit in mine:
                if edit.copy_from is not None and edit.file in diffs:
                    blocks.append(_diff_block(edit.file, diffs[edit.file]))
                    if diffs[edit.file]:
                        found.append(_copy_log(edit, diffs[edit.file]))
            table = _table(promotion, plan, mine, links, diffs, config)
            sections.append(_Section(prefix, table, blocks, logs=found))
        files = _file_entries(promotion.edits)
        tail = _commands() + "\n" + _meta(promotion, signer)
        first = _first_line(promotion)
        checklist = _gates(promotion, gates, signer, running)
        return cls(first, sections, checklist, files, tail, len(files))

    def files_line(self, shown: int) -> str:
        if not self.files:
            return ""
        more = len(self.files) - shown
        if shown == 0:
            return f"Files: {more} files changed"
        rest = f"… and {more} more files" if more else ""
        return "Files: " + ", ".join([*self.files[:shown], *([rest] if rest else [])])

    def diffs_note(self) -> str:
        count = sum(len(s.hidden_diffs) for s in self.sections)
        if not count:
            return ""
        diffs = "diff" if count == 1 else "diffs"
        return f"*{count} {diffs} not shown to keep this description short; see the files changed*"

    def apps_note(self) -> str:
        count = len(self.hidden_apps)
        apps = "app" if count == 1 else "apps"
        return f"*… {count} more {apps} not shown; see the files changed*"

    def text(self) -> str:
        blocks = [self.first]
        hole = sorted(self.hidden_apps)[len(self.hidden_apps) // 2] if self.hidden_apps else -1
        for i, section in enumerate(self.sections):
            if i == hole:
                blocks.append(self.apps_note())
            if i not in self.hidden_apps:
                blocks.append(section.text())
        if self.diffs_note():
            blocks.append(self.diffs_note())
        blocks.append(self.gates)
        if self.files:
            blocks.append(self.files_line(self.files_shown))
        blocks.append(self.tail)
        return "\n\n".join(blocks)

    def fit(self, limit: int) -> None:
        """Leave out the middle until the text fits, least useful first.

        Changelogs first (the oldest version of the longest one at a time, each replaced by
        a link to its page), then unchanged rows of the largest tables, then diffs, then file
        names, then changed rows of big tables, then whole apps of a group (from the middle),
        then any remaining row. The first line, the gates, the commands and the metadata
        always stay.
        """
        total = len(self.text())
        if total <= limit:
            return
        total = self._shorten_logs(total, limit)
        total = self._drop_rows(total, limit, changed=False, keep=0)
        shown = [(len(b), s, i) for s in self.sections for i, b in enumerate(s.diffs)]
        for size, section, i in sorted(shown, key=lambda d: -d[0]):  # the longest diffs first
            if total <= limit:
                return
            note = len(self.diffs_note()) + 2 if self.diffs_note() else 0
            section.hidden_diffs.add(i)
            total += len(self.diffs_note()) + 2 - note - (size + 2)
        if total > limit and self.files:
            total = self._shorten_files(total, limit)
        total = self._drop_rows(total, limit, changed=True, keep=_MIN_TABLE_ROWS)
        total = self._drop_apps(total, limit)
        self._drop_rows(total, limit, changed=True, keep=0)

    def _shorten_logs(self, total: int, limit: int) -> int:
        """Replace the oldest versions' notes by links, the longest changelog's first."""
        logs = [log for s in self.sections for log in s.logs]
        heap = [(-log.size, i, log) for i, log in enumerate(logs)]
        heap = [entry for entry in heap if entry[2].shown]
        heapq.heapify(heap)
        while total > limit and heap:
            _, i, log = heapq.heappop(heap)
            before = log.size
            log.hidden += 1
            total += log.size - before
            if log.shown:
                heapq.heappush(heap, (-log.size, i, log))
        return total

    def _drop_rows(self, total: int, limit: int, *, changed: bool, keep: int) -> int:
        """Drop rows from the middle of the largest tables, only where that saves space."""
        queues = {}
        heap = []
        for i, section in enumerate(self.sections):
            table = section.table
            wanted = [r for r in range(len(table.rows)) if r not in table.dropped]
            candidates = [r for r in wanted if table.changed[r] == changed]
            queues[i] = list(_middle_out(candidates))[: max(0, len(wanted) - keep)]
            if queues[i] and i not in self.hidden_apps:
                heap.append((-table.size, i))
        heapq.heapify(heap)
        while total > limit and heap:
            _, i = heapq.heappop(heap)
            table, queue = self.sections[i].table, queues[i]
            before = table.size
            # The first drop adds the placeholder row: worth it only for a real saving.
            target = before - (1 if table.dropped else _MIN_GAIN)
            taken = []
            while queue and table.size > target:
                taken.append(queue.pop(0))
                table.drop(taken[-1])
            if table.size > target:
                for row in taken:
                    table.restore(row)
                continue
            total += table.size - before
            if queue:
                heapq.heappush(heap, (-table.size, i))
        return total

    def _shorten_files(self, total: int, limit: int) -> int:
        full = len(self.files_line(self.files_shown))
        low, high = 0, self.files_shown
        while low < high:  # the most file names that still fit
            middle = (low + high + 1) // 2
            if total - full + len(self.files_line(middle)) <= limit:
                low = middle
            else:
                high = middle - 1
        self.files_shown = low
        return total - full + len(self.files_line(low))

    def _drop_apps(self, total: int, limit: int) -> int:
        for i in _middle_out(list(range(len(self.sections)))):
            if total <= limit or len(self.hidden_apps) + 1 >= len(self.sections):
                break
            before = len(self.apps_note()) + 2 if self.hidden_apps else 0
            self.hidden_apps.add(i)
            total += len(self.apps_note()) + 2 - before - (self.sections[i].size + 2)
        return total


def _middle_out(items: list[int]) -> Iterator[int]:
    """Items ordered from the middle outwards, so any prefix is one contiguous middle run."""
    center = (len(items) - 1) / 2
    for position in sorted(range(len(items)), key=lambda p: (abs(p - center), p)):
        yield items[position]


# --- metadata ------------------------------------------------------------------------------------


def _meta(promotion: Promotion, signer: Signer) -> str:
    data: dict[str, Any] = {
        "v": META_VERSION,
        **promotion.model_dump(mode="json", exclude_defaults=True),
    }
    text = _json(data)
    if len(text) > _META_PLAIN_MAX:
        packed = zlib.compress(text.encode("utf-8"), 9)
        text = _json({"v": META_VERSION, "zlib": base64.b64encode(packed).decode("ascii")})
    return f"{_META_OPEN}{text} sig={signer.sign('meta', text)}{_META_CLOSE}"


def _json(data: Mapping[str, Any]) -> str:
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    # Only inside strings, where \u escapes are equivalent: nothing can close the comment.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def parse_meta(body: str, signer: Signer, branch: str | None = None) -> Promotion | None:
    """The promotion in the last metadata block of a PR body that promobot signed (for
    `branch`, when given: a block copied from another PR is not this PR's); else None."""
    end = len(body)
    while (start := body.rfind(_META_OPEN, 0, end)) >= 0:
        end = start
        close = body.find("-->", start)
        if close < 0:
            continue
        text, _, signature = body[start + len(_META_OPEN) : close].rstrip().rpartition(" sig=")
        if not signer.verify("meta", text, signature):
            continue
        promotion = _promotion(text)
        if promotion is not None and (branch is None or promotion.branch == branch):
            return promotion
    return None


def _promotion(text: str) -> Promotion | None:
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.pop("v", None) != META_VERSION:
            return None
        if "zlib" in data:
            inflater = zlib.decompressobj()
            packed = base64.b64decode(data["zlib"], validate=True)
            raw = inflater.decompress(packed, _META_MAX_INFLATED)
            if inflater.unconsumed_tail:
                return None
            data = json.loads(raw.decode("utf-8"))
            if not isinstance(data, dict) or data.pop("v", None) != META_VERSION:
                return None
        return Promotion.model_validate(data)
    except (ValueError, TypeError, zlib.error, binascii.Error):  # pydantic errors are ValueErrors
        return None


# --- overview ------------------------------------------------------------------------------------


def status_markdown(
    status: Status, config: Config, live: Mapping[tuple[str, str], str] = {}
) -> str:
    """Apps × environments: every component version and the composition id, and what the
    cluster reports where `live` has a line for the cell."""
    envs = status.environments
    lines = [
        "| app | " + " | ".join(_text(e) for e in envs) + " |",
        "|---|" + "---|" * len(envs),
    ]
    for app, by_env in status.apps.items():
        cells = [f"**{_text(app)}**"]
        for env in envs:
            composition = by_env.get(env)
            cell = "—" if composition is None else _status_cell(app, env, by_env, config)
            if composition is not None and (app, env) in live:
                cell += "<br>● " + _text(live[(app, env)])
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _status_cell(app: str, env: str, by_env: Mapping[str, Composition], config: Config) -> str:
    composition = by_env[env]
    spec = config.apps.get(app)
    parts = []
    for name, version in [*composition.components.items(), *composition.shown.items()]:
        component = spec.components.get(name) if spec is not None else None
        copied = component is not None and component.target.copy_ is not None
        value = _code(version) if copied else _text(_short(version))
        if is_range(version):
            value = f"range {value}"
        if component is not None and component.shown:
            value = f"*{value}* (not promoted)"
        shared = (
            config.shared(app, name, env) if spec is not None and name in spec.components else ()
        )
        if len(shared) > 1:
            value += f" (one value for {_join([_text(e) for e in shared])})"
        parts.append(f"{_text(name)} {value}")
    for problem in composition.problems:
        parts.append(f"⚠ cannot be read: {_text(problem)}")
    parts.append(f"`{composition.id}`" if composition.id is not None else "composition unknown")
    settings = config.environments.get(env)
    upstream = settings.upstream if settings is not None else None
    source = by_env.get(upstream) if upstream is not None else None
    known = source is not None and source.id is not None and composition.id is not None
    if upstream is not None and source is not None and known and source.id != composition.id:
        parts.append(f"≠ {_text(upstream)}")
    return "<br>".join(parts)


# --- helpers -------------------------------------------------------------------------------------


def _grouped(promotion: Promotion) -> bool:
    return len(promotion.apps) != 1 or promotion.apps[0].app != promotion.name


def _version(row: Row, version: str | None) -> str:
    if version is None:
        return "—"
    return _code(version) if row.source == "files" else _text(_short(version))


def _short(version: str) -> str:
    """`1.4.2@sha256:0123456789ab…` — a pinned digest, shortened for reading."""
    tag, digest = split_digest(version)
    if digest is None:
        return version
    algorithm, _, encoded = digest.partition(":")
    return f"{tag}@{algorithm}:{encoded[:12]}…" if len(encoded) > 12 else version


def _oneline(text: str) -> str:
    return " ".join(text.splitlines())


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _text(text: str) -> str:
    """Plain text safe inside a table cell: no markup, no `|` splitting the row, one line."""
    escaped = _MARKDOWN.sub(r"\\\1", _html(text))
    return "<br>".join(escaped.splitlines())


def _code(text: str) -> str:
    text = _oneline(text).replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def history_markdown(app: str, env: str, entries: Sequence[HistoryEntry], limit: int = 20) -> str:
    """An app's compositions in one environment over time, newest first (`/history`)."""
    if not entries:
        return f"No history for **{_text(app)}** in **{_text(env)}**."
    lines = [
        f"**{_text(app)}** in **{_text(env)}**, newest first",
        "",
        "| when (UTC) | composition | versions | commit |",
        "|---|---|---|---|",
    ]
    for entry in entries[:limit]:
        changed = {
            c
            for c, v in entry.composition.components.items()
            if entry.previous is not None and entry.previous.components.get(c) != v
        }
        versions = ", ".join(
            f"{_text(c)} **{_text(_short(v))}**"
            if c in changed
            else f"{_text(c)} {_text(_short(v))}"
            for c, v in entry.composition.components.items()
        )
        when = entry.commit.time.strftime("%Y-%m-%d %H:%M")
        subject = _text(_oneline(entry.commit.subject))
        lines.append(
            f"| {when} | `{entry.composition.id}` | {versions} | "
            f"`{entry.commit.sha[:10]}` {_text(entry.commit.author)}: {subject} |"
        )
    if len(entries) > limit:
        lines.append(f"| … | | {len(entries) - limit} older | |")
    return "\n".join(lines)
