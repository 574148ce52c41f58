"""The PR itself: its title, its description (the first line, a section per app, the gate
checklist, the files, the commands and the metadata, cut to the forge's limit), and the
message of a commit that promotes without a PR (`propose: commit`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Literal

from bot.changelog.notes import Changelog
from bot.config import Config
from bot.gates import GateResult
from bot.live.state import Running
from bot.planner import AppPlan, Edit, Promotion, Row
from bot.render.changelogs import _copy_log, _Log, _log
from bot.render.checklist import gates_section
from bot.render.facts import file_notes, is_group, short
from bot.render.fit import _Body, _Section
from bot.render.impact import PENDING, AppDiff, _Impact, _impact, _impact_line, _Unknown
from bot.render.markup import _code, _html, _join, _oneline, _text, _version
from bot.render.metadata import _meta
from bot.render.table import _table
from bot.signing import Signer

MAX_BODY = 65_536  # what GitHub accepts for a PR body
MAX_TITLE = 250  # GitHub allows 256
MAX_COMMIT_MESSAGE = 32_768  # enough for a few hundred rows; the diff itself has the rest

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
| `/diff [app]` | reply with what this promotion changes in the cluster, object by object |
| `/help` | reply with this table |"""  # noqa: E501


def title(promotion: Promotion) -> str:
    grouped = is_group(promotion)
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
        return f"{name} {_oneline(short(row.after))} (new)"
    return f"{name} {_oneline(short(row.before))} → {_oneline(short(row.after))}"


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Unsaid(Enum):
    """`impact` not given: the body says nothing about the cluster (as before rendering)."""

    UNSAID = "unsaid"


UNSAID: Literal[_Unsaid.UNSAID] = _Unsaid.UNSAID
Impacts = Sequence[AppDiff] | None | Literal[_Unsaid.UNSAID]


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
    impact: Impacts = UNSAID,
    diff_link: str | None = None,
) -> str:
    """The PR description; longer than `max_chars`, its middle is left out (see `_Body.fit`).

    `impact` is what merging changes in the cluster, an `AppDiff` per promoted app (None: not
    rendered yet, the body says so in one line); `diff_link` the overview's base URL, for
    the link to the full diff when the body has room only for counts."""
    document = _build(
        promotion, config, gates, diffs, signer, running, changelogs, impact, diff_link
    )
    document.fit(max_chars)
    return document.text()


def _build(
    promotion: Promotion,
    config: Config,
    gates: Sequence[GateResult],
    diffs: Mapping[str, str],
    signer: Signer,
    running: Sequence[Running] = (),
    changelogs: Sequence[Changelog] = (),
    impact: Impacts = UNSAID,
    diff_link: str | None = None,
) -> _Body:
    """The body in full, in the parts `_Body.fit` may leave out."""
    grouped = is_group(promotion)
    rendered = _rendered(promotion, impact)
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
        section: _Impact | None = None
        if rendered is not None:
            section = _impact(rendered[plan.app], promotion.env, promotion.name, diff_link)
        sections.append(_Section(prefix, table, blocks, logs=found, impact=section))
    files = _file_entries(promotion.edits)
    tail = _commands() + "\n" + _meta(promotion, signer)
    first = _first_line(promotion)
    checklist = gates_section(promotion, gates, signer, running)
    line = "" if impact is UNSAID else PENDING
    if rendered is not None:
        line = _impact_line(list(rendered.values()), grouped)
    return _Body(first, sections, checklist, files, tail, len(files), impact=line)


def _rendered(promotion: Promotion, impact: Impacts) -> dict[str, AppDiff] | None:
    """Each promoted app's diff, in the promotion's order; an app without one is unknown."""
    if impact is UNSAID or impact is None:
        return None
    given = {d.app: d for d in impact}
    return {p.app: given.get(p.app) or _Unknown(p.app, promotion.env) for p in promotion.apps}


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
        grouped = is_group(promotion)
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
    if not is_group(promotion):
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


def _diff_block(path: str, diff: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", diff)), default=0)
    fence = "`" * max(3, longest + 1)
    return (
        f"<details><summary>diff of {_html(path)}</summary>\n\n"
        f"{fence}diff\n{diff.rstrip(chr(10))}\n{fence}\n\n</details>"
    )


def _file_entries(edits: Sequence[Edit]) -> list[str]:
    where = file_notes(edits, _file_note)
    return [f"{_code(f)} ({', '.join(n)})" if n else _code(f) for f, n in where.items()]


def _file_note(edit: Edit) -> str:
    if edit.copy_from is not None:
        return f"copied from {_code(edit.copy_from)}"
    return _code(edit.field) if edit.field else ""


def _commands() -> str:
    return (
        "<details><summary>Commands</summary>\n\n"
        f"Comment on this PR with a command at the start of a line:\n\n{COMMANDS_HELP}\n\n"
        "</details>"
    )
