"""What a promotion changes in the cluster, in its PR body: the impact line under the first
line (`_impact_line`), and per app a section after its table (`_Impact`), kept in tiers that
`_Body.fit` walks down to fit: every object with its fields; collapsed per kind, each object's
fields capped; counts per kind with a link to the full diff.

Everything in an `AppDiff` came out of a chart or a kustomization (kinds, names, hosts,
annotations, values), so it is untrusted: values go in code spans, names and phrases are
escaped, and either way nothing can mention, link, close a `<details>`, start a line of its own
(the checklist, a heading) or spell promobot's comment markers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import quote

from bot.render.changelogs import _CONTROL, _REFERENCE
from bot.render.markup import _MENTION, _html, _oneline, _text, _url

PENDING = "_What changes in the cluster: being rendered; this description is updated when it is._"
HEADING = "**What changes in the cluster**"
FULL_FIELDS = 25  # fields of one object in the full tier; a huge object never crowds out the rest
COLLAPSED_FIELDS = 5  # in the collapsed tier
VALUE_SHOWN = 120  # characters of one value (a field's before or after)
PHRASE_SHOWN = 300  # characters of one phrase of the impact line, or of a name
LINE_SHOWN = 1_500  # characters of the impact line's phrases (it always stays in the body)
WHY_IN_LINE = 200  # … of why, in the impact line (the app's section has more)
WHY_SHOWN = 1_000  # characters of why a cell could not be rendered
KINDS_COUNTED = 30  # kinds named in the counts tier; more are summed
_ELIDE_OVER = 40  # a value pair longer than this each loses its common prefix
_SEPARATORS = "/:@.=, "
# `bot.manifests.model.IMPACTS`, which this package cannot import (`bot.manifests.text` imports
# `bot.render.markup`, and packages import one another one way only); a test keeps them equal.
ORDER = ("crd", "rbac", "namespace", "data", "exposure", "secret", "scale", "config", "image",
         "other")  # fmt: skip
# Bare text the forge would turn into a link or a mail address (GFM's autolinks).
_AUTOLINK = re.compile(r"(?i)(?:https?://|www\.)[^\s()<>\[\]]+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_LIVE = re.compile(f"{_AUTOLINK.pattern}|{_MENTION.pattern}|{_REFERENCE.pattern}")
_EMPHASIS = re.compile(r"([_#])")
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_CHANGES = ("added", "changed", "removed")
_SECRET_KINDS = {"Secret", "SealedSecret", "ExternalSecret"}


# --- the shapes read: `bot.manifests.model`'s AppDiff, ObjectDiff and FieldDiff ---------


class FieldDiff(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def before(self) -> str | None: ...
    @property
    def after(self) -> str | None: ...


class ObjectDiff(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def namespace(self) -> str | None: ...
    @property
    def name(self) -> str: ...
    @property
    def change(self) -> str: ...  # added, removed or changed
    @property
    def impact(self) -> Sequence[str]: ...
    @property
    def fields(self) -> Sequence[FieldDiff]: ...
    @property
    def summary(self) -> str: ...


class AppDiff(Protocol):
    """What merging a promotion changes in one app's rendering in one environment."""

    @property
    def app(self) -> str: ...
    @property
    def env(self) -> str: ...
    @property
    def changes(self) -> Sequence[ObjectDiff]: ...
    @property
    def impact(self) -> Sequence[str]: ...
    @property
    def summary(self) -> Sequence[str]: ...
    @property
    def error(self) -> str | None: ...
    @property
    def upstream(self) -> str | None: ...
    @property
    def unsoaked(self) -> Sequence[ObjectDiff]: ...


@dataclass(frozen=True)
class _Unknown:
    """A promoted app the caller gave no diff for: its impact is unknown, not nothing."""

    app: str
    env: str
    error: str = "promobot has no rendering of it for this promotion yet"
    changes: tuple[ObjectDiff, ...] = ()
    impact: tuple[str, ...] = ()
    summary: tuple[str, ...] = ()
    upstream: str | None = None
    unsoaked: tuple[ObjectDiff, ...] = ()


# --- untrusted text made inert ---------------------------------------------------------------


def _plain(text: str, cap: int = PHRASE_SHOWN) -> str:
    """Untrusted text as inert markdown on one line: escaped, with whatever the forge would
    link or notify (URLs, bare domains with www., mail addresses, mentions, issue
    references) in code spans."""
    text = _cut(_CONTROL.sub("", _oneline(text)), cap)
    out, at = [], 0
    for live in _LIVE.finditer(text):
        out.append(_escaped(text[at : live.start()]))
        out.append(_literal(live.group(0)))
        at = live.end()
    out.append(_escaped(text[at:]))
    return "".join(out)


def _escaped(text: str) -> str:
    return _EMPHASIS.sub(r"\\\1", _text(text))


def _literal(text: str, cap: int = VALUE_SHOWN) -> str:
    """Untrusted text in a code span of its own: nothing in it renders, and a backtick in it
    cannot end the span early."""
    text = _cut(_CONTROL.sub("", _oneline(text)), cap)
    # The raw markdown is what promobot reads back (its signed comments): no marker in it.
    text = text.replace("<!--", "<!\u200b--")
    if not text:
        return '`""`'
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _cut(text: str, cap: int) -> str:
    return text if len(text) <= cap else text[: cap - 1] + "…"


# --- the impact line ------------------------------------------------------------------------


def _impact_line(diffs: Sequence[AppDiff], grouped: bool) -> str:
    """`**Impact:** `exposure` `image` — adds Ingress api.example.com; image api 1.4.2 → 1.5.0`,
    or why it is unknown, or that nothing rendered changes."""
    failed = [d for d in diffs if d.error is not None]
    known = [d for d in diffs if d.error is None]
    if not failed and not any(d.changes for d in known):
        return "**Impact:** no rendered change"
    phrases = [
        f"{_plain(d.app)} in {_plain(d.env)} could not be rendered: "
        f"{_plain(d.error or '', WHY_IN_LINE)}"
        for d in failed
    ]
    for diff in known:
        count = len(diff.changes)  # no phrase for what changed: at least how much
        how_much = f"{count} object{'' if count == 1 else 's'} changed" if count else ""
        said = [_plain(p) for p in diff.summary] or [how_much or "no rendered change"]
        if grouped:
            said[0] = f"{_plain(diff.app)}: {said[0]}"
        phrases += said
    shown: list[str] = []
    for phrase in phrases:
        if shown and sum(len(p) + 2 for p in [*shown, phrase]) > LINE_SHOWN:
            break
        shown.append(phrase)
    if len(shown) < len(phrases):
        shown.append(f"… and {len(phrases) - len(shown)} more below")
    if failed:
        return "**Impact:** unknown — " + "; ".join(shown)
    classes = [c for c in ORDER if any(c in d.impact for d in known)]
    labels = "".join(f"`{c}` " for c in classes)
    return f"**Impact:** {labels}{'— ' if labels else ''}" + "; ".join(shown)


# --- the section of one app -------------------------------------------------------------------


@dataclass
class _Impact:
    """One app's "What changes in the cluster", as the tiers it can be shown in, each shorter
    than the one before; `fit` moves down a tier at a time (`shrink`)."""

    tiers: list[str]
    tier: int = 0
    _sizes: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._sizes = [len(t) for t in self.tiers]

    @property
    def size(self) -> int:
        return self._sizes[self.tier]

    def text(self) -> str:
        return self.tiers[self.tier]

    def shrink(self) -> bool:
        """Down to the next tier, if there is one."""
        if self.tier + 1 >= len(self.tiers):
            return False
        self.tier += 1
        return True


def _impact(diff: AppDiff, env: str, name: str, diff_link: str | None) -> _Impact:
    """The section of one app, in every tier."""
    if diff.error is not None:
        why = _plain(diff.error, WHY_SHOWN)
        return _Impact(
            [
                f"{HEADING}: unknown — {_plain(diff.app)} in {_plain(diff.env)} could not be "
                f"rendered: {why}"
            ]
        )
    where = _link(diff_link, env, name)
    full = [HEADING, *_changes(diff.changes, FULL_FIELDS, collapsed=False)]
    collapsed = [HEADING, *_changes(diff.changes, COLLAPSED_FIELDS, collapsed=True)]
    counts = [f"{HEADING}: {_counts(diff.changes)}"]
    if diff.upstream is not None:
        upstream, here = _plain(diff.upstream), _plain(env)
        if not diff.unsoaked:
            same = (
                f"Same as **{upstream}** runs, apart from what the environments' own files set "
                "apart."
            )
            full.append(same)
            collapsed.append(same)
            counts.append(same)
        else:
            warning = f"⚠ **{here}** would run what **{upstream}** never ran:"
            full += [warning, *_changes(diff.unsoaked, FULL_FIELDS, collapsed=False)]
            collapsed += [warning, *_changes(diff.unsoaked, COLLAPSED_FIELDS, collapsed=True)]
            counts.append(f"⚠ **{here}** would run what **{upstream}** never ran: ")
            counts[-1] += _counts(diff.unsoaked)
    if diff.changes or diff.unsoaked:
        more = (
            f"[The full diff]({where}) is on promobot's overview."
            if where is not None
            else f"`promobot diff {_command_word(diff.app)} --to {_command_word(env)}` shows "
            "it all."
        )
        counts.append(more)
    tiers = ["\n\n".join(full)]
    for text in ("\n\n".join(collapsed), "\n\n".join(counts)):
        if len(text) < len(tiers[-1]):
            tiers.append(text)
    return _Impact(tiers)


def impact_markdown(diffs: Sequence[AppDiff], limit: int = 60_000) -> str:
    """The impact line and every app's section, on their own (a `/diff` reply, `promobot diff
    --format markdown`): each section in the richest tier that keeps the whole under `limit`
    characters, the longest shrunk first."""
    grouped = len(diffs) > 1
    line = _impact_line(diffs, grouped)
    sections = []
    for diff in diffs:
        section = _impact(diff, diff.env, diff.app, None)
        heading = f"### {_plain(diff.app)} in {_plain(diff.env)}\n\n" if grouped else ""
        sections.append((heading, section))

    def size() -> int:
        return len(line) + sum(len(h) + s.size + 2 for h, s in sections)

    while size() > limit:
        shrinkable = [s for _, s in sections if s.tier + 1 < len(s.tiers)]
        if not shrinkable:
            break
        max(shrinkable, key=lambda s: s.size).shrink()
    text = "\n\n".join([line, *(h + s.text() for h, s in sections)])
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _link(base: str | None, env: str, name: str) -> str | None:
    if base is None:
        return None
    return _url(f"{base.rstrip('/')}/promotions/{quote(env, safe='')}/{quote(name, safe='')}/diff")


def _command_word(text: str) -> str:
    # Inside our own code span: shown as written, so only what would end the span is dropped.
    return _CONTROL.sub("", _oneline(text)).replace("`", "")


def _changes(changes: Sequence[ObjectDiff], fields: int, *, collapsed: bool) -> list[str]:
    """The objects as a list, or as one collapsed block per kind; "nothing" when none."""
    if not changes:
        return ["Nothing: what is rendered after the merge is what is rendered now."]
    spaces = {c.namespace for c in changes}
    if not collapsed:
        return ["\n".join(_object(c, fields, len(spaces) > 1) for c in changes)]
    blocks = []
    for kind, mine in _by_kind(changes).items():
        objects = "\n".join(_object(c, fields, len(spaces) > 1) for c in mine)
        blocks.append(
            f"<details><summary>{_html_kind(kind)} ({_tally(mine)})</summary>\n\n{objects}\n\n"
            "</details>"
        )
    return blocks


def _html_kind(kind: str) -> str:
    """A kind in HTML (a `<summary>`, where markdown is not read): the forge still turns
    mentions and issue references in HTML text into links, but not inside `<code>`."""
    kind = _cut(_CONTROL.sub("", _oneline(kind)), PHRASE_SHOWN)
    return kind if _KIND.fullmatch(kind) else f"<code>{_html(kind)}</code>"


def _by_kind(changes: Sequence[ObjectDiff]) -> dict[str, list[ObjectDiff]]:
    kinds: dict[str, list[ObjectDiff]] = {}
    for change in changes:
        kinds.setdefault(change.kind, []).append(change)
    return kinds


def _tally(changes: Sequence[ObjectDiff]) -> str:
    counts = {word: sum(c.change == word for c in changes) for word in _CHANGES}
    return ", ".join(f"{n} {word}" for word, n in counts.items() if n)


def _counts(changes: Sequence[ObjectDiff]) -> str:
    """`Deployment: 2 changed; Ingress: 1 added`."""
    if not changes:
        return "nothing"
    kinds = list(_by_kind(changes).items())
    parts = [f"{_plain(kind)}: {_tally(mine)}" for kind, mine in kinds[:KINDS_COUNTED]]
    rest = [c for _, mine in kinds[KINDS_COUNTED:] for c in mine]
    if rest:
        parts.append(f"{len(kinds) - KINDS_COUNTED} more kinds: {_tally(rest)}")
    return "; ".join(parts)


def _object(change: ObjectDiff, fields: int, namespaced: bool) -> str:
    """`- Deployment `api`: changed — image api 1.4.2 → 1.5.0`, then its fields (changed
    objects only: an added or removed object is all fields, its summary says what it is)."""
    name = f"{change.namespace}/{change.name}" if namespaced and change.namespace else change.name
    line = f"- {_plain(change.kind)} {_literal(name, PHRASE_SHOWN)}: {change.change}"
    if change.summary:
        line += f" — {_plain(change.summary)}"
    if change.change != "changed" or not change.fields:
        return line
    secret = change.kind in _SECRET_KINDS or "secret" in change.impact
    lines = [line, *(_field(f, secret) for f in change.fields[:fields])]
    more = len(change.fields) - fields
    if more > 0:
        lines.append(f"  - … and {more} more field{'' if more == 1 else 's'}")
    return "\n".join(lines)


def _field(change: FieldDiff, secret: bool) -> str:
    """`- `spec.replicas`: `2` → `3``; a Secret's keys with their values never shown."""
    path = _literal(change.path, PHRASE_SHOWN)
    before, after = change.before, change.after
    if secret:
        verb = "added" if before is None else "removed" if after is None else "changed"
        return f"  - {path}: {verb} (value not shown)"
    if before is None:
        return f"  - {path}: added, {_literal(after or '')}"
    if after is None:
        return f"  - {path}: removed (was {_literal(before)})"
    before, after = _elided(before, after)
    return f"  - {path}: {_literal(before)} → {_literal(after)}"


def _elided(before: str, after: str) -> tuple[str, str]:
    """Two long values without the start they share (up to a separator), so the difference
    shows: `ghcr.io/acme/api-server-with-a-long-name:1.4.2` → `…:1.4.2`."""
    if min(len(before), len(after)) <= _ELIDE_OVER:
        return before, after
    same = 0
    for a, b in zip(before, after, strict=False):
        if a != b:
            break
        same += 1
    cut = max(before.rfind(s, 0, same) for s in _SEPARATORS)
    if cut <= 8:
        return before, after
    return "…" + before[cut:], "…" + after[cut:]
