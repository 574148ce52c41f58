"""The package's markdown: what others wrote (names, versions, reasons) escaped for a table
cell, put in a code span or on one line, its @-mentions made inert; link targets checked;
lists joined as a sentence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote

from bot.planner import Row
from bot.render.facts import short

_MENTION = re.compile(r"(?<![\w`/@])@[A-Za-z0-9](?:[A-Za-z0-9-]*)(?:/[A-Za-z0-9._-]+)?")
_MARKDOWN = re.compile(r"([\\`*\[\]|~])")


def _reason(text: str) -> str:
    # A body that @-mentions a team notifies it on every update; reviewers are requested instead.
    text = _html(_oneline(text))
    return _MENTION.sub(lambda m: f"`{m.group(0)}`", text)


def _url(url: str | None) -> str | None:
    """A link target fit for markdown: http(s) only, nothing that ends or breaks the link."""
    if url is None or not url.startswith(("https://", "http://")):
        return None
    return "".join(quote(c) if c in " |<>()[]\n\"'`" else c for c in url)


def _version(row: Row, version: str | None) -> str:
    if version is None:
        return "—"
    return _code(version) if row.source == "files" else _text(short(version))


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
