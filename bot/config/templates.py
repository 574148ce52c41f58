"""Templated strings of `.promobot.yaml` (`envs/{env}/values.yaml`, `{app}-{env}`): their
placeholders, how they are filled, and repository paths that must stay inside the repository."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator

SAMPLE = {"env": "env", "app": "app"}  # to check paths, selectors and templates unexpanded
_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@lru_cache(maxsize=4096)  # a configuration repeats a few templates for thousands of targets
def _pieces(text: str) -> tuple[tuple[str, str | None], ...]:
    """A templated string as (literal text, placeholder name or None) pairs.

    Reads `{{` and `}}` as braces, as str.format does, but takes nothing else from it: a
    placeholder is a bare name. A format spec (`{env:>4}`) could pad a path into `////dev` or a
    version to a gigabyte, and a conversion or attribute (`{env!r}`, `{env.x}`) is never meant.
    """
    pieces: list[tuple[str, str | None]] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in "{}" and text[i + 1 : i + 2] == char:
            literal.append(char)
            i += 2
        elif char == "}":
            raise ValueError(
                f"bad template {text!r}: a lone '}}' at column {i + 1}; write placeholders "
                "like {env} (and '}}' for a brace)"
            )
        elif char == "{":
            end = text.find("}", i)
            if end < 0:
                raise ValueError(
                    f"bad template {text!r}: the '{{' at column {i + 1} is not closed; write "
                    "placeholders like {env} (and '{{' for a brace)"
                )
            name = text[i + 1 : end]
            if not _BARE.match(name):
                raise ValueError(_not_bare(text, name))
            pieces.append(("".join(literal), name))
            literal = []
            i = end + 1
        else:
            literal.append(char)
            i += 1
    pieces.append(("".join(literal), None))
    return tuple(pieces)


def _not_bare(text: str, name: str) -> str:
    if not name:
        what = "is empty"
    elif ":" in name:
        what = "has a format spec"
    elif "!" in name:
        what = "has a conversion"
    elif "." in name or "[" in name:
        what = "has an attribute or index"
    else:
        what = "is not a name"
    return (
        f"bad placeholder {{{name}}} in {text!r}: it {what}; write a bare name like {{env}}, "
        "without ':', '!', '.' or '['"
    )


class Keep(dict[str, str]):
    """Placeholders without a value stay as they are written."""

    def __missing__(self, name: str) -> str:
        return "{" + name + "}"


@lru_cache(maxsize=4096)
def _format_string(text: str) -> str:
    """The template as a str.format pattern of bare names only: `_pieces` refuses format specs,
    conversions and attributes, so str.format_map cannot do more than fill in names."""
    return "".join(
        literal.replace("{", "{{").replace("}", "}}") + ("" if name is None else "{" + name + "}")
        for literal, name in _pieces(text)
    )


def expand(text: str, **values: str) -> str:
    """Fill a checked template's placeholders (str.format without its mini-language)."""
    return fill(text, Keep(values))


def fill(text: str, values: Keep) -> str:
    if "{" not in text and "}" not in text:
        return text
    # str.format_map in C: status expands tens of thousands of paths and selectors
    return _format_string(text).format_map(values)


def placeholders(text: str) -> set[str]:
    return {name for _, name in _pieces(text) if name is not None}


def only_placeholders(text: str, allowed: set[str], what: str) -> None:
    unknown = placeholders(text) - allowed
    if unknown:
        names = ", ".join("{" + n + "}" for n in sorted(allowed))
        raise ValueError(
            f"unknown placeholder {{{sorted(unknown)[0]}}} in {what} {text!r}; use {names}"
        )


def path_problem(path: str) -> str | None:
    """Why `path` (placeholders expanded) is not a plain path inside the repository, or None."""
    if not path:
        return "is empty"
    if path.startswith(("/", "\\")):
        return "leaves the repository (it is absolute)"
    if "\\" in path or not path.isprintable():
        return "has a backslash or a control character"
    if "/." not in "/" + path and "//" not in path:
        return None  # no empty, '.', '..' or '.git' segment: the usual path, told quickly
    for part in path.removesuffix("/").split("/"):
        if part == "..":
            return "leaves the repository (it has a '..' segment)"
        if part in ("", "."):
            return "has an empty or '.' segment"
        if part.lower() == ".git":
            return "reaches into .git"
    return None


def _check_path(text: str) -> str:
    only_placeholders(text, {"env", "app"}, "path")
    why = path_problem(expand(text, **SAMPLE))
    if why is not None:
        raise ValueError(
            f"path {text!r} {why}; write a relative path inside the repository, "
            "like 'envs/{env}/values.yaml'"
        )
    return text


RepoPath = Annotated[str, AfterValidator(_check_path)]
