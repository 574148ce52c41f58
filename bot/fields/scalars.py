"""A scalar's source text: its escapes undone, with where each character starts in the source,
and whether a new value may stay a plain scalar and still read as text."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml
import yaml.resolver

YAML_ESCAPES = {
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "t": "\t",
    "\t": "\t",
    "n": "\n",
    "v": "\v",
    "f": "\f",
    "r": "\r",
    "e": "\x1b",
    " ": " ",
    '"': '"',
    "/": "/",
    "\\": "\\",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}
JSON_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_STR = "tag:yaml.org,2002:str"
_RESOLVER = yaml.resolver.Resolver()
_YAML_12_NUMBER = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+"
)


def unescape(
    body: str, simple: Mapping[str, str], hexes: Mapping[str, int], escape: str = "\\"
) -> tuple[str, list[int]]:
    """A quoted scalar's value, and where each of its characters starts in `body`: escapes
    start with a backslash in double quotes, and a single-quoted scalar escapes only its quote,
    by doubling it (`escape="'"`, `simple={"'": "'"}`)."""
    chars: list[str] = []
    starts: list[int] = []
    i, end = 1, len(body) - 1
    while i < end:
        starts.append(i)
        if body[i] != escape:
            chars.append(body[i])
            i += 1
        elif body[i + 1] in simple:
            chars.append(simple[body[i + 1]])
            i += 2
        else:
            digits = hexes[body[i + 1]]
            chars.append(chr(int(body[i + 2 : i + 2 + digits], 16)))
            i += 2 + digits
    return "".join(chars), [*starts, end]


def join_surrogates(value: str, starts: list[int]) -> tuple[str, list[int]]:
    """JSON writes characters beyond U+FFFF as two escapes; json.loads reads them as one."""
    chars: list[str] = []
    kept: list[int] = []
    i = 0
    while i < len(value):
        kept.append(starts[i])
        pair = value[i : i + 2]
        if len(pair) == 2 and "\ud800" <= pair[0] <= "\udbff" and "\udc00" <= pair[1] <= "\udfff":
            chars.append(pair.encode("utf-16", "surrogatepass").decode("utf-16"))
            i += 2
        else:
            chars.append(value[i])
            i += 1
    return "".join(chars), [*kept, starts[-1]]


def _plain_type(value: str) -> str:
    """What a YAML 1.1 or 1.2 reader would make of a plain scalar (Helm, Kustomize, Argo CD)."""
    resolve: Any = _RESOLVER.resolve  # untyped in types-PyYAML
    tag: str = resolve(yaml.ScalarNode, value, (True, False))
    return "number" if tag == _STR and _YAML_12_NUMBER.fullmatch(value) else tag


def plain_ok(new: str, old: str, flow: bool) -> bool:
    """Whether `new` may stay a plain scalar and still mean text (or what `old` meant)."""
    if new != new.strip() or "\t" in new or new[0] in "&*!|>'\"%@`#,[]{}":
        return False
    if new[0] in "-?:" and (len(new) == 1 or new[1] == " "):
        return False
    if ": " in new or " #" in new or new.endswith(":") or (flow and any(c in new for c in ",[]{}")):
        return False
    kind = _plain_type(new)
    return kind in (_STR, _plain_type(old))


def double_quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
