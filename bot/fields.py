"""Read and write one version string at a selector inside a YAML or JSON file's text.

Selectors (DESIGN.md, "Configuration"): `a.b` keys, `a[2]` and `a[-1]` indexes,
`images[name=ghcr.io/acme/api].newTag` list matches, `resources[*]` (the item that matches the
template) and quoted keys (`a."b.c"`, `a['b.c']`); or a `# promobot: NAME` comment on the
value's line instead of a selector. Pure: text in, values and text out.

Reads use loaders that resolve no types, so `tag: 2004` reads as "2004" and `1.10` as "1.10".
A write replaces only the characters of the version inside the scalar's source span (found with
ruamel.yaml's composer, or a small JSON scanner) and reads the result back to confirm it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import yaml
import yaml.resolver

from bot.errors import FieldError

# --- selectors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    name: str


@dataclass(frozen=True)
class Index:
    index: int


@dataclass(frozen=True)
class Match:
    key: str
    value: str


@dataclass(frozen=True)
class Each:
    pass


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
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_INDEX = re.compile(r"-?[0-9]+")
_PLAIN_KEY = re.compile(r"[^.\[\]\"'\s]+")


def _unexpanded(name: str) -> tuple[str, str]:
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
        placeholder = _PLACEHOLDER.search(text)
        if placeholder:
            what, hint = _unexpanded(placeholder.group(1))
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


def _step_text(step: Step) -> str:
    if isinstance(step, Key):
        return f".{step.name}" if _PLAIN_KEY.fullmatch(step.name) else f".{json.dumps(step.name)}"
    if isinstance(step, Index):
        return f"[{step.index}]"
    if isinstance(step, Match):
        return f"[{step.key}={step.value}]"
    return "[*]"


def _child(where: str, step: str) -> str:
    return step[1:] if not where and step.startswith(".") else where + step


# --- templates and targets -------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    text: str
    prefix: str
    suffix: str

    def match(self, value: str) -> str | None:
        prefix, suffix = self.prefix, self.suffix
        if len(value) <= len(prefix) + len(suffix):
            return None
        if not (value.startswith(prefix) and value.endswith(suffix)):
            return None
        return value[len(prefix) : len(value) - len(suffix)]

    def render(self, version: str) -> str:
        return f"{self.prefix}{version}{self.suffix}"


@lru_cache(maxsize=1024)
def parse_template(text: str) -> Template:
    names = _PLACEHOLDER.findall(text)
    others = [name for name in names if name != "version"]
    if others:
        what, hint = _unexpanded(others[0])
        raise FieldError(f"bad template {text!r}: {what}; {hint}, and keep one {{version}}")
    if names.count("version") != 1:
        count = "has no {version}" if not names else f"has {{version}} {len(names)} times"
        raise FieldError(
            f"bad template {text!r}: it {count}; put exactly one where the version goes, "
            "e.g. ghcr.io/acme/api:{version}"
        )
    prefix, suffix = text.split("{version}")
    return Template(text, prefix, suffix)


_MARKER_NAME = re.compile(r"[^\s#]+")


@dataclass(frozen=True)
class Target:
    file: str
    selector: Selector | None = None
    template: Template | None = None
    marker: str | None = None
    # What reading the target depends on besides the file's content: the selector, template or
    # marker, and whether the file is read as JSON (by its name) or YAML. Two targets with
    # equal `reads` read the same version from the same content (bot.versioncache's key).
    reads: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.selector is None) == (self.marker is None):
            raise FieldError(
                f"{self.file}: a target needs exactly one of a field selector (image.tag) "
                "or a marker (api.image, for a '# promobot: api.image' comment)"
            )
        if self.marker is not None and not _MARKER_NAME.fullmatch(self.marker):
            raise FieldError(
                f"{self.file}: bad marker name {self.marker!r}; "
                "use one word without spaces or '#', like api.image"
            )
        if self.selector is not None and self.template is None and self.selector.by_template:
            raise FieldError(
                f"{self.file}: {self.selector.text} picks a list item by its template, but "
                'there is none; add one like template: "ghcr.io/acme/api:{version}"'
            )
        reads = (
            "json" if self.file.lower().endswith(".json") else "yaml",
            self.selector.text if self.selector is not None else None,
            self.template.text if self.template is not None else None,
            self.marker,
        )
        object.__setattr__(self, "reads", repr(reads))


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hit:
    value: str  # the whole scalar
    version: str
    document: int = 0
    path: tuple[str | int, ...] = ()  # concrete keys and indexes from the document root
    line: int = -1  # 0-based line of a marker


@dataclass(frozen=True)
class _Miss:
    depth: int  # steps resolved before it failed: the deepest miss explains best
    message: str
    seen: str | None = None  # a scalar that was there but did not match the template


def _listing(items: Iterable[str], quote: bool = False, limit: int = 8) -> str:
    shown = [repr(item) if quote else item for item in items]
    more = f", … ({len(shown)} in all)" if len(shown) > limit else ""
    return ", ".join(shown[:limit]) + more


def _kind(node: object) -> str:
    if isinstance(node, dict):
        return "a mapping" if node else "an empty mapping"
    if isinstance(node, list):
        return "a list"
    if isinstance(node, str):
        return f"the text {node!r}"
    return json.dumps(node)


class _Walk:
    """Follows a selector through loaded data (dicts, lists and strings)."""

    def __init__(self, selector: Selector, template: Template | None, whole: bool = False) -> None:
        self.steps = selector.steps
        self.text = selector.text
        self.template = template
        self.whole = whole  # a mapping or list at the end is a value too (shown, never written)

    def missing(self, depth: int, detail: str) -> _Miss:
        return _Miss(depth, f"no value at {self.text} ({detail})")

    def walk(self, node: object, i: int, where: str, path: tuple[str | int, ...]) -> _Hit | _Miss:
        if i == len(self.steps):
            return self.scalar(node, where, path)
        step, here = self.steps[i], where or "the document"
        deeper = _child(where, _step_text(step))
        if isinstance(step, Key):
            if not isinstance(node, dict):
                return self.missing(i, f"{here} is {_kind(node)}, not a mapping")
            if step.name in node:
                return self.walk(node[step.name], i + 1, deeper, (*path, step.name))
            merged = self.merged(node, step.name, path)
            if merged:
                return self.walk(merged[0], i, where, merged[1])
            keys = f"has keys: {_listing(node)}" if node else "is an empty mapping"
            return self.missing(i, f"{here} {keys}")
        if not isinstance(node, list):
            return self.missing(i, f"{here} is {_kind(node)}, not a list")
        if isinstance(step, Index):
            if not -len(node) <= step.index < len(node):
                size = f"{len(node)} item{'s' * (len(node) != 1)}"
                return self.missing(i, f"{here} has {size}, so [{step.index}] is out of range")
            index = step.index % len(node)
            return self.walk(node[index], i + 1, deeper, (*path, index))
        if isinstance(step, Match):
            for index, item in enumerate(node):
                if isinstance(item, dict) and item.get(step.key) == step.value:
                    return self.walk(item, i + 1, deeper, (*path, index))
            values = [item.get(step.key) for item in node if isinstance(item, dict)]
            texts = [value for value in values if isinstance(value, str)]
            found = f"{step.key} values: {_listing(texts)}" if texts else "none has that key"
            return self.missing(i, f"no item of {here} has {step.key}={step.value}; {found}")
        return self.each(node, i, where, path)

    @staticmethod
    def merged(
        node: dict[str, object], name: str, path: tuple[str | int, ...]
    ) -> tuple[object, tuple[str | int, ...]] | None:
        """The mapping a YAML merge key (`<<: *base`) brings `name` from, and the path to it."""
        sources = node.get("<<")
        if isinstance(sources, dict) and name in sources:
            return sources, (*path, "<<")
        if isinstance(sources, list):
            for index, source in enumerate(sources):
                if isinstance(source, dict) and name in source:
                    return source, (*path, "<<", index)
        return None

    def each(
        self, items: list[object], i: int, where: str, path: tuple[str | int, ...]
    ) -> _Hit | _Miss:
        misses: list[_Miss] = []
        for index, item in enumerate(items):
            found = self.walk(item, i + 1, f"{where}[{index}]", (*path, index))
            if isinstance(found, _Hit):
                return found
            misses.append(found)
        here = where or "the document"
        if not misses:
            return self.missing(i, f"{here} is an empty list")
        seen = [miss.seen for miss in misses if miss.seen is not None]
        if not seen:
            return max(misses, key=lambda miss: miss.depth)
        rest = "".join(_step_text(step) for step in self.steps[i + 1 :])
        what = f"{here}[*]{rest}" if rest else f"item of {here}"
        template = self.template.text if self.template else ""
        listed = _listing(seen, quote=True)
        return _Miss(
            len(self.steps), f"no {what} matches the template {template!r} (found: {listed})"
        )

    def scalar(self, node: object, where: str, path: tuple[str | int, ...]) -> _Hit | _Miss:
        depth = len(self.steps)
        if self.whole and isinstance(node, dict | list) and node:
            text = json.dumps(node, sort_keys=True, ensure_ascii=False)
            return _Hit(text, text, path=path)
        if isinstance(node, str):
            version = self.template.match(node) if self.template else node
            if version:
                return _Hit(node, version, path=path)
            if version is None and self.template:
                template = self.template.text
                why = f"is {node!r}, which does not match the template {template!r}"
                return _Miss(depth, f"{where} {why}", seen=node)
            why = "is empty; put the current version there so promobot can replace it"
        elif isinstance(node, dict) and node:
            like = _child(where, _step_text(Key(next(iter(node)))))
            keys = _listing(node)
            why = f"is a mapping (keys: {keys}), not a version; select one of its keys, like {like}"
        elif isinstance(node, list):
            why = f"is a list of {len(node)}, not a version; select an item: [0], [key=value], [*]"
        else:
            why = f"is {_kind(node)}, not a version; write the version as text, like 1.4.2"
        return _Miss(depth, f"{where} {why}")


# Where a `# promobot: NAME` comment ends a line (a '#' starts a comment only after a space).
_MARKER = re.compile(r"(?:^|[ \t])#[ \t]*promobot:[ \t]*([^\s#]+)[ \t]*$")
_LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")


def _marker_lines(text: str) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    if "promobot:" not in text:
        return found
    for number, line in enumerate(_LINE_BREAK.split(text)):
        marker = _MARKER.search(line)
        if marker:
            found.setdefault(marker.group(1), []).append(number)
    return found


def _value_scalars(node: Any, seen: set[int], flow: bool = False) -> Iterator[tuple[Any, bool]]:
    """Scalars that are values (not keys), each once, and whether they sit in a flow collection.

    Works on PyYAML's and ruamel.yaml's nodes alike.
    """
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node.value, str):
        yield node, flow
        return
    flow = flow or bool(node.flow_style)
    for item in node.value:
        yield from _value_scalars(item[1] if isinstance(item, tuple) else item, seen, flow)


def _too_deep(file: str) -> FieldError:
    # libyaml stops at 1,000 levels, but the Python that builds and walks what it read
    # recurses once or more per level and runs out of stack first.
    return FieldError(f"{file}: nested too deeply to read (hundreds of levels); flatten the file")


def _yaml_problem(error: Exception) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    if mark is None:
        return f": {problem}"
    return f" at line {mark.line + 1}, column {mark.column + 1}: {problem}"


class Document:
    """One file's text, parsed once on the first read; reads several targets quickly."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.text = text
        self.is_json = file.lower().endswith(".json")
        self._data: list[object] | None = None
        self._markers: dict[str, list[int]] | None = None
        self._scalars: list[Any] | None = None

    def read(self, target: Target) -> str:
        return self._find(target).version

    def show(self, target: Target) -> str:
        """The value at the target as it is shown (never written): a version, or a whole
        mapping or list as one line of JSON with sorted keys, so equal content reads equal."""
        if target.selector is not None:
            return self._find_selector(target.selector, target.template, whole=True).version
        return self._find_marker(target.marker or "", target.template).version

    def _find(self, target: Target) -> _Hit:
        if target.selector is not None:
            return self._find_selector(target.selector, target.template)
        return self._find_marker(target.marker or "", target.template)

    def _documents(self) -> list[object]:
        if self._data is None:
            self._data = self._parse()
        return self._data

    def _parse(self) -> list[object]:
        if self.is_json:
            try:
                return [json.loads(self.text, parse_int=str, parse_float=str)]
            except json.JSONDecodeError as error:
                raise FieldError(
                    f"{self.file}: not valid JSON at line {error.lineno}, "
                    f"column {error.colno}: {error.msg}"
                ) from None
            except RecursionError:
                raise _too_deep(self.file) from None
        try:
            return list(yaml.load_all(self.text, Loader=yaml.CBaseLoader))
        except yaml.YAMLError as error:
            raise FieldError(f"{self.file}: not valid YAML{_yaml_problem(error)}") from None
        except RecursionError:
            raise _too_deep(self.file) from None

    def _find_selector(
        self, selector: Selector, template: Template | None, whole: bool = False
    ) -> _Hit:
        walk = _Walk(selector, template, whole)
        documents = self._documents()
        best: tuple[int, _Miss] | None = None
        for number, data in enumerate(documents):
            found = walk.walk(data, 0, "", ())
            if isinstance(found, _Hit):
                return replace(found, document=number)
            if best is None or found.depth > best[1].depth:
                best = (number, found)
        if best is None:
            raise FieldError(f"{self.file}: the file is empty; expected a value at {selector.text}")
        number, miss = best
        closest = ""
        if len(documents) > 1:
            count = len(documents)
            closest = f"; none of its {count} YAML documents has it (this is document {number + 1})"
        raise FieldError(f"{self.file}: {miss.message}{closest}")

    def _find_marker(self, name: str, template: Template | None) -> _Hit:
        example = f"'tag: 1.4.2  # promobot: {name}'"
        if self.is_json:
            raise FieldError(
                f"{self.file}: JSON has no comments, so it cannot carry a '# promobot: {name}' "
                "marker; use a field selector instead"
            )
        if self._markers is None:
            self._markers = _marker_lines(self.text)
        lines = self._markers.get(name, [])
        if not lines:
            others = f" (markers here: {_listing(sorted(self._markers))})" if self._markers else ""
            raise FieldError(
                f"{self.file}: no '# promobot: {name}' marker{others}; "
                f"add one at the end of the version's line, like {example}"
            )
        if len(lines) > 1:
            numbers = ", ".join(str(line + 1) for line in lines)
            raise FieldError(
                f"{self.file}: the marker '# promobot: {name}' is on lines {numbers}; "
                "it must mark exactly one value, so rename or remove the others"
            )
        line = lines[0]
        on_line = [node for node in self._value_nodes() if node.start_mark.line == line]
        if len(on_line) != 1:
            what = "no value" if not on_line else f"{len(on_line)} values"
            raise FieldError(
                f"{self.file}: line {line + 1} has the marker '# promobot: {name}' but {what}; "
                f"put the marker at the end of the version's own line, like {example}"
            )
        value: str = on_line[0].value
        version = template.match(value) if template else value
        where = f"the value on line {line + 1} ('# promobot: {name}')"
        if version is None:
            raise FieldError(
                f"{self.file}: {where} is {value!r}, which does not match the template "
                f"{template.text if template else ''!r}"
            )
        if not version:
            raise FieldError(f"{self.file}: {where} is empty; put the current version there")
        return _Hit(value, version, line=line)

    def _value_nodes(self) -> list[Any]:
        if self._scalars is None:
            try:
                roots = list(yaml.compose_all(self.text, Loader=yaml.CBaseLoader))
                seen: set[int] = set()
                self._scalars = [node for root in roots for node, _ in _value_scalars(root, seen)]
            except yaml.YAMLError as error:
                raise FieldError(f"{self.file}: not valid YAML{_yaml_problem(error)}") from None
            except RecursionError:
                raise _too_deep(self.file) from None
        return self._scalars


def read(text: str, target: Target) -> str:
    return Document(target.file, text).read(target)


# --- writing ---------------------------------------------------------------------------------


def write(text: str, target: Target, version: str) -> str:
    file = target.file
    where = target.selector.text if target.selector else f"the '# promobot: {target.marker}' line"
    if not version or not version.isprintable() or version != version.strip():
        raise FieldError(
            f"{file}: cannot write {version!r} at {where}: a version must be one line of "
            "printable text without spaces around it"
        )
    document = Document(file, text)
    hit = document._find(target)
    if hit.version == version:
        return text
    prefix = target.template.prefix if target.template else ""
    suffix = target.template.suffix if target.template else ""
    edit = _Edit(file, text, where, hit, len(prefix), len(hit.value) - len(suffix), version)
    start, end, replacement = edit.in_json() if document.is_json else edit.in_yaml()
    written = text[:start] + replacement + text[end:]
    try:
        again = read(written, target)
    except FieldError as error:
        why = str(error).removeprefix(f"{file}: ")
        raise FieldError(
            f"{file}: writing {version!r} at {where} would not read back: {why}"
        ) from None
    if again != version:
        raise FieldError(f"{file}: writing {version!r} at {where} would read back as {again!r}")
    return written


_YAML_ESCAPES = {
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
_JSON_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_PROPERTIES = re.compile(r"(?:[&!][^ \t]*[ \t]+)*")  # "&anchor " and "!tag " before a scalar
_STR = "tag:yaml.org,2002:str"
_RESOLVER = yaml.resolver.Resolver()
_YAML_12_NUMBER = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+"
)


def _unescape(
    body: str, simple: Mapping[str, str], hexes: Mapping[str, int]
) -> tuple[str, list[int]]:
    """A double-quoted scalar's value, and where each of its characters starts in `body`."""
    chars: list[str] = []
    starts: list[int] = []
    i, end = 1, len(body) - 1
    while i < end:
        starts.append(i)
        if body[i] != "\\":
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


def _unquote_single(body: str) -> tuple[str, list[int]]:
    chars: list[str] = []
    starts: list[int] = []
    i, end = 1, len(body) - 1
    while i < end:
        starts.append(i)
        chars.append(body[i])
        i += 2 if body[i : i + 2] == "''" else 1
    return "".join(chars), [*starts, end]


def _join_surrogates(value: str, starts: list[int]) -> tuple[str, list[int]]:
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


def _plain_ok(new: str, old: str, flow: bool) -> bool:
    """Whether `new` may stay a plain scalar and still mean text (or what `old` meant)."""
    if new != new.strip() or "\t" in new or new[0] in "&*!|>'\"%@`#,[]{}":
        return False
    if new[0] in "-?:" and (len(new) == 1 or new[1] == " "):
        return False
    if ": " in new or " #" in new or new.endswith(":") or (flow and any(c in new for c in ",[]{}")):
        return False
    kind = _plain_type(new)
    return kind in (_STR, _plain_type(old))


def _double_quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _children(node: Any) -> Iterator[Any]:
    if isinstance(node.value, list):
        for item in node.value:
            yield from item if isinstance(item, tuple) else (item,)


def _shared(roots: list[Any]) -> dict[int, str]:
    """Nodes that aliases reach more than once, themselves or inside a collection that is, with
    the anchor that shares them: writing one would change every place that uses the anchor."""
    counts: dict[int, int] = {}

    def count(node: Any) -> None:
        counts[id(node)] = counts.get(id(node), 0) + 1
        if counts[id(node)] == 1:
            for child in _children(node):
                count(child)

    shared: dict[int, str] = {}
    visited: set[tuple[int, bool]] = set()

    def mark(node: Any, anchor: str | None) -> None:
        if anchor is None and counts[id(node)] > 1:
            anchor = getattr(node, "anchor", None) or "…"
        if (id(node), anchor is not None) in visited:
            return
        visited.add((id(node), anchor is not None))
        if anchor is not None:
            shared[id(node)] = anchor
        for child in _children(node):
            mark(child, anchor)

    for root in roots:
        count(root)
    for root in roots:
        mark(root, None)
    return shared


@dataclass(frozen=True)
class _Edit:
    """Where the version's characters are in the source, and what replaces them."""

    file: str
    text: str
    where: str
    hit: _Hit
    start: int  # the version's span inside the scalar's value
    end: int
    version: str

    def fail(self, why: str) -> FieldError:
        return FieldError(f"{self.file}: cannot edit {self.where}: {why}")

    def in_yaml(self) -> tuple[int, int, str]:
        # ruamel.yaml only for writes: reads (every `promobot status`) do without its import
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError as RuamelYAMLError

        try:
            roots = list(YAML().compose_all(self.text))
            chain, flow = self.yaml_chain(roots)
            anchor = _shared(roots).get(id(chain[-1]))
        except RuamelYAMLError as error:
            raise self.fail(f"ruamel.yaml cannot parse the file{_yaml_problem(error)}") from None
        except RecursionError:
            raise _too_deep(self.file) from None
        if anchor is not None:
            raise self.fail(
                f"it is shared through the YAML anchor &{anchor}, so writing it would also "
                f"change every *{anchor}; give this place its own value"
            )
        try:
            return self.yaml_scalar(chain[-1], flow)
        except (IndexError, KeyError, ValueError):
            raise self.fail("ruamel.yaml and PyYAML read its escapes differently") from None

    def yaml_chain(self, roots: list[Any]) -> tuple[list[Any], bool]:
        """The nodes from the document root to the scalar (for a marker: just the scalar), and
        whether the scalar sits in a flow collection."""
        if self.hit.line >= 0:
            seen: set[int] = set()
            on_line = [
                (node, flow)
                for root in roots
                for node, flow in _value_scalars(root, seen)
                if node.start_mark.line == self.hit.line
            ]
            if len(on_line) != 1:
                raise self.fail("ruamel.yaml and PyYAML see different values on its line")
            return [on_line[0][0]], on_line[0][1]
        if self.hit.document >= len(roots):
            raise self.fail("ruamel.yaml and PyYAML see different YAML documents")
        from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode  # writes only

        chain = [roots[self.hit.document]]
        for step in self.hit.path:
            node = chain[-1]
            if isinstance(step, str) and isinstance(node, MappingNode):
                values = [v for k, v in node.value if isinstance(k, ScalarNode) and k.value == step]
                if values:
                    chain.append(values[-1])  # the last duplicate key wins, as in PyYAML
                    continue
            elif (
                isinstance(step, int) and isinstance(node, SequenceNode) and step < len(node.value)
            ):
                chain.append(node.value[step])
                continue
            raise self.fail("ruamel.yaml and PyYAML see a different structure")
        return chain, any(getattr(node, "flow_style", False) for node in chain[:-1])

    def yaml_scalar(self, node: Any, flow: bool) -> tuple[int, int, str]:
        from ruamel.yaml.nodes import ScalarNode  # writes only (see in_yaml)

        if not isinstance(node, ScalarNode):
            raise self.fail("ruamel.yaml and PyYAML see a different structure")
        text, a, b, version = self.text, self.start, self.end, self.version
        start, end = node.start_mark.index, node.end_mark.index
        properties = _PROPERTIES.match(text, start, end)
        start = properties.end() if properties else start
        body, style = text[start:end], node.style
        if style in ("|", ">"):
            raise self.fail(
                f"it is a block scalar ({style}); write the value on one line, plain or quoted"
            )
        if _LINE_BREAK.search(body):
            raise self.fail("the value spans several lines; write it on one line")
        if style is None:
            value, starts = body, list(range(len(body) + 1))
        elif style == "'":
            value, starts = _unquote_single(body)
        else:
            value, starts = _unescape(body, _YAML_ESCAPES, {"x": 2, "u": 4, "U": 8})
        if value != node.value or value != self.hit.value:
            raise self.fail("ruamel.yaml and PyYAML read its value differently")
        if style is None:
            new_value = value[:a] + version + value[b:]
            if not _plain_ok(new_value, value, flow):
                return start, end, _double_quoted(new_value)
            return start + a, start + b, version
        escaped = version.replace("'", "''") if style == "'" else _double_quoted(version)[1:-1]
        return start + starts[a], start + starts[b], escaped

    def in_json(self) -> tuple[int, int, str]:
        try:
            start, end = _JsonSpans(self.text).locate(self.hit.path)
            body = self.text[start:end]
            quoted = body.startswith('"')
            value, starts = (
                _join_surrogates(*_unescape(body, _JSON_ESCAPES, {"u": 4}))
                if quoted
                else (body, list(range(len(body) + 1)))
            )
        except (IndexError, KeyError, ValueError):
            raise self.fail("the JSON scanner and json.loads read the file differently") from None
        except RecursionError:
            raise _too_deep(self.file) from None
        if value != self.hit.value:
            raise self.fail("the JSON scanner and json.loads read its value differently")
        a, b, version = self.start, self.end, self.version
        if quoted:
            escaped = json.dumps(version, ensure_ascii=False)[1:-1]
            return start + starts[a], start + starts[b], escaped
        if _JSON_NUMBER.fullmatch(value[:a] + version + value[b:]):
            return start + a, start + b, version
        return start, end, json.dumps(value[:a] + version + value[b:], ensure_ascii=False)


class _JsonSpans:
    """Finds the character span of the value at a concrete path in JSON text."""

    _ATOM = re.compile(r"-?[0-9][0-9.eE+-]*|true|false|null|NaN|-?Infinity")

    def __init__(self, text: str) -> None:
        self.text = text

    def locate(self, path: tuple[str | int, ...]) -> tuple[int, int]:
        start = self.space(0)
        end = self.value_end(start)
        for step in path:
            members = [(key, s, e) for key, s, e in self.members(start) if key == step]
            start, end = members[-1][1:]  # the last duplicate key wins, as in json.loads
        return start, end

    def space(self, i: int) -> int:
        while i < len(self.text) and self.text[i] in " \t\r\n":
            i += 1
        return i

    def value_end(self, i: int) -> int:
        text = self.text
        if text[i] == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            return j + 1
        if text[i] in "{[":
            members = list(self.members(i))
            close = self.space(members[-1][2]) if members else self.space(i + 1)
            return close + 1
        atom = self._ATOM.match(text, i)
        if atom is None:
            raise ValueError(i)
        return atom.end()

    def members(self, i: int) -> Iterator[tuple[str | int, int, int]]:
        """(key or index, start, end) of each member of the object or array at `i`."""
        text, is_object = self.text, self.text[i] == "{"
        j = self.space(i + 1)
        index = 0
        while text[j] not in "}]":
            key: str | int = index
            if is_object:
                key_end = self.value_end(j)
                key = json.loads(text[j:key_end])
                j = self.space(self.space(key_end) + 1)  # past the ':'
            end = self.value_end(j)
            yield key, j, end
            index += 1
            j = self.space(end)
            if text[j] == ",":
                j = self.space(j + 1)
