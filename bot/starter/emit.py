"""A draft as the text of a commented `.promobot.yaml`: what was found, in the shape of the
examples in config/examples, with a comment wherever a person must check or decide.
Pure: a draft in, text out, the same text for the same draft."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator

from bot.starter.draft import MAX_NOTES, App, Component, Draft
from bot.starter.spots import Source
from bot.starter.stages import rank

_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
_NOT_A_STRING = re.compile(r"[-+]?(\.?[0-9][0-9_.:eE+-]*|\.inf|\.nan)", re.IGNORECASE)
_WORDS = {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "~"}
WIDTH = 100

HEADER = """\
# .promobot.yaml: a starter written by `promobot init` from what it found in this repository.
# Read it before you commit it: lines marked "check" are guesses, and what is commented out
# needs a decision. `promobot validate` checks the file; `promobot status` shows what it reads.
# Every key is described in config/README.md of promobot.
version: 1
"""


def scalar(text: str) -> str:
    """A YAML scalar that reads back as this string (plain when that is safe)."""
    plain = _PLAIN.fullmatch(text) and not _NOT_A_STRING.fullmatch(text)
    return text if plain and text.lower() not in _WORDS else json.dumps(text, ensure_ascii=False)


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _comment(text: str, indent: int) -> list[str]:
    lead = " " * indent + "# "
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=lead,
        subsequent_indent=lead + "  ",
        break_long_words=False,
        break_on_hyphens=False,
    )


def _source(source: Source) -> str:
    if source.image:
        return f"{{image: {scalar(source.image)}}}"
    if source.chart:
        return f"{{chart: {scalar(source.chart)}, repo: {_quoted(source.repo or '')}}}"
    return f"{{git: {scalar(source.git or '')}}}"


def _target(component: Component, indent: int) -> list[str]:
    """`target: {file: …, field: …}` on one line, or one key a line when that is too long."""
    parts = [f"file: {_quoted(component.file)}", f"field: {_quoted(component.field)}"]
    if component.template is not None:
        parts.append(f"template: {_quoted(component.template)}")
    line = "  target: {" + ", ".join(parts) + "}"
    if indent + len(line) <= WIDTH:
        return [line]
    return ["  target:"] + [f"    {part}" for part in parts]


def _component(component: Component, indent: int) -> Iterator[str]:
    yield f"{component.name}:"
    for note in component.notes:
        yield from _comment(note, 2)
    source = component.source or Source(image="REGISTRY/IMAGE")
    yield f"  source: {_source(source)}"
    yield from _target(component, indent)


def _app(app: App, everywhere: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The app's lines under `apps:`, and, when promobot can promote none of its components,
    its lines commented out instead."""
    active = [c for c in app.components if c.blocked is None]
    blocked = [c for c in app.components if c.blocked is not None]
    head = [f"{scalar(app.name)}:"]
    if app.environments != everywhere:
        head.append(f"  environments: [{', '.join(scalar(e) for e in app.environments)}]")
    head.append("  components:")
    if not active:
        reasons: list[str] = []
        for c in blocked:
            reasons += _comment(f"{app.name} {c.name}: {c.blocked}", 2)
        body = head + ["    " + line for c in blocked for line in _component(c, 8)]
        return [], reasons + ["  # " + line for line in body]
    lines = ["  " + line for line in head]
    for c in active:
        lines += ["      " + line for line in _component(c, 6)]
    for c in blocked:
        lines += _comment(c.blocked or "", 6)
        lines += ["      # " + line for line in _component(c, 8)]
    return lines, []


def render(draft: Draft) -> str:
    lines = HEADER.splitlines()
    lines.append("")
    everywhere = tuple(p.name for p in draft.environments)
    wheres = draft.wheres[:3] + ([f"{len(draft.wheres) - 3} more"] if len(draft.wheres) > 3 else [])
    lines += _comment(f"Environments found as {'; '.join(wheres)}.", 0)
    lines += _comment(
        "Each one's from: is its upstream, guessed from the names (dev → test, qa → staging → "
        "prod) where they say a stage.",
        0,
    )
    lines.append("environments:")
    for placed in draft.environments:
        key = scalar(placed.name)
        if placed.note:
            lines += _comment(placed.note, 2)
        if rank(placed.name) == 3:
            lines += _comment(
                f"decide: who approves promotions into {placed.name}, e.g. gates: {{approvals: 1}}",
                2,
            )
        upstream = "{}" if placed.upstream is None else f"{{from: {scalar(placed.upstream)}}}"
        lines.append(f"  {key}: {upstream}")
    lines.append("")
    active: list[str] = []
    hidden: list[str] = []
    for app in draft.apps:
        shown, commented = _app(app, everywhere)
        active += shown
        hidden += commented
    if active:
        lines.append("apps:")
        lines += active
    else:
        lines.append("apps: {}")
    if hidden:
        lines += [""]
        lines += _comment(
            "Apps found with nothing promobot can promote as the files are now: each goes "
            "under apps: once what its comment says is done.",
            0,
        )
        lines += hidden
    if draft.notes:
        lines += [""]
        lines += _comment(
            "Found, but not a version of one environment (a base or a file every environment "
            "shares, or a file that could not be read):",
            0,
        )
        for note in draft.notes[:MAX_NOTES]:
            lines += _comment(f"- {note}", 0)
        if len(draft.notes) > MAX_NOTES:
            lines.append(f"# - and {len(draft.notes) - MAX_NOTES} more")
    return "\n".join(lines) + "\n"
