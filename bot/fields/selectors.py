"""Selectors: the path to a value in a file, parsed once.

`a.b` keys, `a[2]` and `a[-1]` indexes, `images[name=ghcr.io/acme/api].newTag` list matches,
`resources[*]` (the item that matches the template) and quoted keys (`a."b.c"`, `a['b.c']`);
each error names the column and shows how to write it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache

from bot.errors import FieldError


@dataclass(frozen=True)
class Key:
    """`a.b`, `a."b.c"` or `a['b.c']`: the value at a mapping's key."""

    name: str


@dataclass(frozen=True)
class Index:
    """`a[2]` or `a[-1]`: a list's item by position, from the end if negative."""

    index: int


@dataclass(frozen=True)
class Match:
    """`images[name=api]`: the first item of a list that is a mapping with key=value."""

    key: str
    value: str


@dataclass(frozen=True)
class Each:
    """`resources[*]`: the first item of a list in which the rest of the selector finds a
    value that matches the target's template."""


Step = Key | Index | Match | Each


@dataclass(frozen=True)
class Selector:
    text: str
    steps: tuple[Step, ...]
    # a list item picked by its template (`resources[*]`): asked of every target resolved
    by_template: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_template", any(isinstance(s, Each) for s in self.steps))


_SELECTOR_HINT = (
    "write selectors like image.tag, spec.sources[0].targetRevision, "
    "images[name=ghcr.io/acme/api].newTag or resources[*]"
)
_MATCH_HINT = "write list matches like images[name=api].newTag"
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_INDEX = re.compile(r"-?[0-9]+")
_PLAIN_KEY = re.compile(r"[^.\[\]\"'\s]+")


def unexpanded(name: str) -> tuple[str, str]:
    if name in ("env", "app"):
        return f"{{{name}}} was not expanded", "expand {env} and {app} before parsing"
    return f"{{{name}}} is not a placeholder", "only {env} and {app} expand in a field"


@lru_cache(maxsize=1024)  # thousands of targets share a few selectors; a Selector is immutable
def parse_selector(text: str) -> Selector:
    return Selector(text, tuple(_SelectorParser(text).parse()))


class _SelectorParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def fail(self, what: str, at: int, hint: str = _SELECTOR_HINT) -> FieldError:
        return FieldError(f"bad selector {self.text!r}: {what} at column {at + 1}; {hint}")

    def parse(self) -> list[Step]:
        text = self.text
        if not text.strip():
            raise FieldError(f"empty selector; {_SELECTOR_HINT}")
        placeholder = PLACEHOLDER.search(text)
        if placeholder:
            what, hint = unexpanded(placeholder.group(1))
            raise self.fail(what, placeholder.start(), hint)
        steps: list[Step] = [] if text.startswith("[") else [self.key()]
        while self.i < len(text):
            char = text[self.i]
            if char == ".":
                self.i += 1
                steps.append(self.key())
            elif char == "[":
                steps.append(self.bracket())
            else:
                raise self.fail(f"expected '.' or '[' but found {char!r}", self.i)
        return steps

    def key(self) -> Key:
        text, start = self.text, self.i
        if start < len(text) and text[start] in "\"'":
            return Key(self.quoted())
        end = start
        while end < len(text) and text[end] not in ".[]":
            end += 1
        if end < len(text) and text[end] == "]":
            raise self.fail("unexpected ']'", end)
        if end == start:
            raise self.fail("empty key", start, "write keys between dots, like image.tag")
        self.i = end
        return Key(text[start:end])

    def quoted(self) -> str:
        text, start = self.text, self.i
        quote, out, i = text[start], [], start + 1
        while i < len(text):
            char = text[i]
            if char == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 2
            elif char == quote:
                self.i = i + 1
                return "".join(out)
            else:
                out.append(char)
                i += 1
        raise self.fail(
            f"missing closing {quote} for the quote",
            start,
            f"write quoted keys like a.{quote}b.c{quote}.d or a[{quote}b.c{quote}]",
        )

    def spaces(self, i: int) -> int:
        while i < len(self.text) and self.text[i] == " ":
            i += 1
        return i

    def bracket(self) -> Step:
        text, opened = self.text, self.i
        unclosed = self.fail("missing ']' for the '['", opened, _MATCH_HINT)
        i = self.spaces(opened + 1)
        if i < len(text) and text[i] in "\"'":
            self.i = i
            key = self.quoted()
            i = self.spaces(self.i)
            if i < len(text) and text[i] == "]":
                self.i = i + 1
                return Key(key)
            if i < len(text) and text[i] == "=":
                return self.match(key, i + 1, unclosed)
            raise unclosed
        end = i
        while end < len(text) and text[end] not in "=]":
            end += 1
        if end == len(text):
            raise unclosed
        inner = text[i:end].strip()
        if text[end] == "=":
            if not inner:
                raise self.fail("missing key before '='", end, _MATCH_HINT)
            return self.match(inner, end + 1, unclosed)
        self.i = end + 1
        if inner == "*":
            return Each()
        if _INDEX.fullmatch(inner):
            return Index(int(inner))
        what = f"[{inner}] is not an index, a key=value match or [*]" if inner else "empty []"
        raise self.fail(what, opened, "write [0], [-1], [name=api] or [*]; quote keys: ['b.c']")

    def match(self, key: str, i: int, unclosed: FieldError) -> Match:
        text = self.text
        i = self.spaces(i)
        if i < len(text) and text[i] in "\"'":
            self.i = i
            value = self.quoted()
            end = self.spaces(self.i)
            if end == len(text) or text[end] != "]":
                raise unclosed
        else:
            end = text.find("]", i)
            if end < 0:
                raise unclosed
            value = text[i:end].strip()
            if not value:
                raise self.fail(f"missing value after '{key}='", i, _MATCH_HINT)
        self.i = end + 1
        return Match(key, value)


def step_text(step: Step) -> str:
    if isinstance(step, Key):
        return f".{step.name}" if _PLAIN_KEY.fullmatch(step.name) else f".{json.dumps(step.name)}"
    if isinstance(step, Index):
        return f"[{step.index}]"
    if isinstance(step, Match):
        return f"[{step.key}={step.value}]"
    return "[*]"


def child(where: str, step: str) -> str:
    return step[1:] if not where and step.startswith(".") else where + step
