"""Which lines of a comment a reader sees as plain lines of text, as GitHub and GitLab show it.

A line counts when it stands in a top-level paragraph (CommonMark with GitHub's tables and
strikethrough, parsed by markdown-it-py: never in a code block, a quote, a list or a table),
nothing the Markdown opened before it wraps it (emphasis, a link), and — when the comment holds
raw HTML — its text sits straight in that paragraph once the whole comment is rendered and
parsed as HTML5 is (lexbor): inside no element that HTML opened (`<details>`, `<span hidden>`,
`<div>`, an attribute value left open, a comment) and on no element given attributes. When in
doubt it does not count. Pure: no I/O.
"""

from __future__ import annotations

import itertools
import re
import secrets
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup
from selectolax.lexbor import LexborHTMLParser, LexborNode

# GitHub's maximum; GitLab takes a million characters, whose Markdown would take seconds to parse
MAX_TEXT = 65_536
# Raw HTML that is parsed as HTML5: nesting costs the parser time quadratic in its depth, and
# this much costs it milliseconds at worst; a comment with more is not read for lines.
MAX_HTML = 8_192

_MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])
_LINE_BREAKS = frozenset({"softbreak", "hardbreak"})
_RAW_HTML = frozenset({"html_block", "html_inline"})


@dataclass(frozen=True)
class Line:
    text: str  # as written, near enough: escapes are resolved
    html: bool  # it holds inline HTML, which can hide part of it from a reader


@dataclass(frozen=True)
class Reading:
    lines: tuple[Line, ...] = ()
    unread: str | None = None  # why lines that might have counted were not read


def plain_lines(text: str, start: str) -> Reading:
    """The plain lines of the comment that begin with `start`, in order."""
    if len(text) > MAX_TEXT:
        begins = any(line.lstrip().startswith(start) for line in text.splitlines())
        return Reading(unread=f"it is longer than {MAX_TEXT:,} characters" if begins else None)
    tokens = _MARKDOWN.parse(text)
    candidates = [line for line in _paragraph_lines(tokens) if line[0].content.startswith(start)]
    html = sum(len(t.content) for t in _raw_html(tokens))
    if html > MAX_HTML and candidates:
        return Reading(unread=f"it holds more than {MAX_HTML:,} characters of HTML")
    shown = _shown_as_text(tokens, candidates) if html else [True] * len(candidates)
    return Reading(
        tuple(
            Line("".join(_written(t) for t in line).strip(), any(_is_html(t) for t in line))
            for line, seen in zip(candidates, shown, strict=True)
            if seen
        )
    )


def _paragraph_lines(tokens: list[Token]) -> list[list[Token]]:
    """Each line of a top-level paragraph that starts with text outside any emphasis or link."""
    found: list[list[Token]] = []
    for opening, inline in itertools.pairwise(tokens):
        if opening.type != "paragraph_open" or opening.level != 0:
            continue
        lines: list[tuple[list[Token], int]] = [([], 0)]  # a line, and the depth it starts at
        depth = 0
        for child in inline.children or ():
            if child.type in _LINE_BREAKS:
                lines.append(([], depth))
            else:
                lines[-1][0].append(child)
                depth += child.nesting
        found += [line for line, depth in lines if not depth and line and line[0].type == "text"]
    return found


def _raw_html(tokens: list[Token]) -> list[Token]:
    found = [t for t in tokens if t.type in _RAW_HTML]
    return found + [c for t in tokens for c in t.children or () if c.type in _RAW_HTML]


def _is_html(token: Token) -> bool:
    return token.type in _RAW_HTML


def _written(token: Token) -> str:
    """A token of a line as the person wrote it (near enough: escapes are resolved)."""
    if token.type == "code_inline":
        return f"{token.markup}{token.content}{token.markup}"
    return token.content if token.type in ("text", "html_inline") else token.markup


def _shown_as_text(tokens: list[Token], lines: list[list[Token]]) -> list[bool]:
    """Whether each line's text, marked, lands straight in a top-level paragraph of the
    comment rendered and parsed as HTML5: raw HTML decides what wraps what, so ask a parser
    that follows the standard rather than guess from the tags. The mark carries a random
    nonce, so no text of the comment can pass for it."""
    nonce = secrets.token_hex(8)
    firsts = [line[0] for line in lines]
    written = [first.content for first in firsts]
    for i, first in enumerate(firsts):
        first.content = f"{nonce}.{i}." + first.content
    try:
        rendered = _MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {})
    finally:
        for first, content in zip(firsts, written, strict=True):
            first.content = content
    mark = re.compile(rf"{nonce}\.([0-9]+)\.")
    shown = [False] * len(lines)
    # The forges show a comment inside a page in standards mode (where a <table> ends an open
    # paragraph), in its body: a comment that starts with <noscript> or <title> must not have
    # them put in a head, away from what follows.
    root = LexborHTMLParser("<!DOCTYPE html><body>" + rendered).root
    for node in root.traverse(include_text=True) if root is not None else ():
        if node.tag == "-text":
            for found in mark.finditer(node.text_content or ""):
                shown[int(found[1])] = _straight_in_body(node)
    return shown


def _straight_in_body(text: LexborNode) -> bool:
    """In body, or in a paragraph in body, none of them given attributes (`hidden`, `style`)."""
    parent = text.parent
    if parent is not None and parent.tag == "p" and not parent.attributes:
        parent = parent.parent
    if parent is None or parent.tag != "body" or parent.attributes:
        return False
    html = parent.parent
    return html is not None and html.tag == "html" and not html.attributes


_HTML_OFF = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def markdown_html(text: str) -> Markup:
    """promobot's own markdown (a promotion's diff) as HTML for a page, raw HTML in it left as
    text: whatever a rendering put in it stays inert, as the forge would show it."""
    return Markup(_HTML_OFF.render(text))
