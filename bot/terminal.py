"""What the command line shows a person: plain text, no markdown, no HTML.

A promotion: the PR description is written for a forge to render (escaped `&gt;`, `**bold**`,
`<details>`, a signed metadata comment, the command table); printed raw it is noise. This is what
`promobot promote`, `set` and `rollback` show instead: the version table, the files written,
the changelogs and the gates. The environments: the tree `from:` draws. Pure: values in,
text out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from bot import source_pages
from bot.changelog.notes import KIND_NAMES, Changelog
from bot.config import Config
from bot.gates import GateResult
from bot.planner import AppPlan, Edit, Promotion, Row
from bot.render.facts import (
    change_words,
    configured_source,
    diff_counts,
    file_notes,
    is_group,
    short,
    upstream_label,
)
from bot.versions import is_range, split_digest

NOTE_LINES = 8  # lines of one version's notes shown; the PR (`--body`) has them all
# Text from other repositories (notes, versions) may carry terminal escapes: ESC, other C0
# and C1 controls, and the bidirectional overrides of Trojan source.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_MARKS = {"pass": "✓", "pending": "·", "fail": "✗"}


def promotion(
    promotion: Promotion,
    config: Config,
    gates: Sequence[GateResult] = (),
    *,
    diffs: Mapping[str, str] = {},
    changelogs: Sequence[Changelog] = (),
) -> str:
    """The promotion's table (one per app of a group), its files, changelogs and gates."""
    blocks: list[str] = []
    if promotion.shared:
        blocks.append(
            f"⚠ This changes {', '.join(promotion.shared)} too: the files it writes are "
            "shared with them (--shared)."
        )
    grouped = is_group(promotion)
    for plan in promotion.apps:
        head = f"{_clean(plan.app)}: " if grouped else ""
        blocks.append(head + _summary(promotion, plan))
        blocks.append(_table(promotion, plan, config, diffs))
    blocks.append(_files(promotion.edits, diffs))
    if changelogs:
        blocks.append("Changelogs\n" + "\n".join(_changelog(c) for c in changelogs))
    blocks.append(_gates(promotion, config, gates))
    return "\n\n".join(b for b in blocks if b)


def _summary(promotion: Promotion, plan: AppPlan) -> str:
    move = f"composition {plan.before} → {plan.after}"
    if promotion.upstream is not None and plan.after == plan.upstream:
        return f"{move}, the same as {_clean(promotion.upstream)}"
    if promotion.upstream is not None:
        return f"{move}, from {_clean(promotion.upstream)}"
    return move


def _table(promotion: Promotion, plan: AppPlan, config: Config, diffs: Mapping[str, str]) -> str:
    env, upstream = _clean(promotion.env), _clean(upstream_label(promotion))
    header = ["component", "source", f"{env} now", "after merge", upstream, "changes"]
    files = {e.component: e.file for e in promotion.edits if e.app == plan.app}
    rows = [
        [
            _clean(row.component),
            _clean(_source(config, plan.app, row)),
            _version(row.before),
            _version(row.after),
            _version(row.upstream),
            _change(row, diffs.get(files.get(row.component, ""))),
        ]
        for row in plan.rows
    ]
    return _columns([header, *rows])


def _source(config: Config, app: str, row: Row) -> str:
    source = configured_source(config, app, row.component)
    return row.source if source is None else source_pages.shown(source).text


def _change(row: Row, diff: str | None) -> str:
    text = change_words(row, diff, _versions)
    return text + "  ⚠ downgrade" if row.change == "down" else text


def _versions(before: str, after: str) -> str:
    if is_range(before) or is_range(after):
        return f"⚠ the range of versions allowed changes: {_version(before)} → {_version(after)}"
    if split_digest(before)[0] == split_digest(after)[0]:
        return "new digest"
    return f"{_version(before)} → {_version(after)}"


def _files(edits: Sequence[Edit], diffs: Mapping[str, str]) -> str:
    def note(edit: Edit) -> str:
        if edit.copy_from is None:
            return edit.field or ""
        what = f"copied from {edit.copy_from}"
        if edit.file in diffs:
            added, removed = diff_counts(diffs[edit.file])
            what += f" (+{added} −{removed})"
        return what

    where = file_notes(edits, note)
    if not where:
        return ""
    rows = [
        [f"  {_clean(path)}", ", ".join(_clean(n) for n in notes)] for path, notes in where.items()
    ]
    return "Files\n" + _columns(rows)


def _changelog(changelog: Changelog) -> str:
    name = f"{_clean(changelog.component)} {_version(changelog.before)} → "
    name += _version(changelog.after)
    if changelog.problem is not None:
        return f"  {name}: none found: {_clean(changelog.problem)}"
    if changelog.pending:
        return f"  {name}: not fetched in time"
    count = len(changelog.notes) + len(changelog.missing) + len(changelog.late)
    what = "taken out by this rollback" if changelog.rollback else "newest first"
    kinds = " and ".join(sorted({KIND_NAMES[n.kind] for n in changelog.notes}))
    where = f"{kinds} from {_clean(changelog.where)}" if kinds else f"from {changelog.where}"
    lines = [f"  {name}: {count} version{'' if count == 1 else 's'}, {what}, {_clean(where)}"]
    if changelog.link:
        lines[0] += f" ({_clean(changelog.link)})"
    for note in changelog.notes:
        lines.append(f"    {_clean(note.version)}")
        text = [_clean(line).rstrip() for line in note.text.strip("\n").splitlines()]
        shown = [line for line in text if line.strip()]
        lines += [f"      {line}" for line in shown[:NOTE_LINES]]
        if len(shown) > NOTE_LINES:
            lines.append(f"      … {len(shown) - NOTE_LINES} more lines (see --body)")
    if changelog.missing:
        lines.append(f"    no notes for {', '.join(_clean(v) for v in changelog.missing)}")
    if changelog.late:
        lines.append(f"    not fetched in time: {', '.join(_clean(v) for v in changelog.late)}")
    return "\n".join(lines)


def _gates(promotion: Promotion, config: Config, gates: Sequence[GateResult]) -> str:
    env = _clean(promotion.env)
    spec = config.environments.get(promotion.env)
    wanted = spec.gates if spec is not None else None
    merges = (
        "promobot merges the PR when every gate passes (auto_merge)"
        if spec is not None and spec.auto_merges
        else "a person merges the PR"
    )
    if wanted is None or not (
        wanted.approvals
        or wanted.soak
        or wanted.healthy
        or wanted.checks
        or wanted.freeze
        or wanted.impact
    ):
        return f"Gates of {env}: none; {merges.replace(' when every gate passes', '')}"
    lines = [f"Gates of {env}, as they stand now; {merges}"]
    lines += [f"  {_MARKS[g.state]} {_clean(g.reason)}" for g in gates]
    return "\n".join(lines)


def _version(version: str | None) -> str:
    return "—" if version is None else _clean(short(version))


def _clean(text: str) -> str:
    return _CONTROL.sub("", " ".join(text.splitlines()))


def _columns(rows: Sequence[Sequence[str]]) -> str:
    """Rows as columns padded to their widest cell, two spaces apart."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    widths[-1] = 0  # the last column needs no padding
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def environments(config: Config) -> str:
    """The environments as the tree their `from:` draws, one root (fed by sources) at a time:
    an environment that feeds one other continues its line (`dev → staging`); one that feeds
    several branches below that line's last name. Only branching indents, so a long chain stays
    one line and the tree is as deep as its forks."""
    children: dict[str, list[str]] = {env: [] for env in config.order}
    roots: list[str] = []
    for env in config.order:
        upstream = config.environments[env].upstream
        children.get(upstream or "", roots).append(env)
    lines: list[str] = []
    # (environment, what the lines above it draw, whether it is its parent's last branch)
    stack: list[tuple[str, str, bool | None]] = [(root, "", None) for root in reversed(roots)]
    while stack:  # depth-first without recursion: a tree may fork thousands of times
        env, prefix, last = stack.pop()
        chain = [env]
        while len(children[chain[-1]]) == 1:
            chain.append(children[chain[-1]][0])
        connector = "" if last is None else "└─ " if last else "├─ "
        lines.append(prefix + connector + " → ".join(_clean(e) for e in chain))
        below = prefix + ("" if last is None else "   " if last else "│  ")
        branches = children[chain[-1]]
        stack += [(b, below, i == len(branches) - 1) for i, b in enumerate(branches)][::-1]
    return "\n".join(lines)
