"""Writing: the characters of the version inside the scalar's source span replaced (the span found
with ruamel.yaml's composer, which keeps where each node stands, or a small JSON scanner), and
the result read back to confirm it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from bot.errors import FieldError
from bot.fields.document import Document, read, too_deep, yaml_problem
from bot.fields.json_spans import JsonSpans
from bot.fields.markers import LINE_BREAK
from bot.fields.nodes import shared, value_scalars
from bot.fields.scalars import (
    JSON_ESCAPES,
    YAML_ESCAPES,
    double_quoted,
    join_surrogates,
    plain_ok,
    unescape,
)
from bot.fields.targets import Target
from bot.fields.walk import Hit

_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_PROPERTIES = re.compile(r"(?:[&!][^ \t]*[ \t]+)*")  # "&anchor " and "!tag " before a scalar


def write(text: str, target: Target, version: str) -> str:
    file = target.file
    where = target.selector.text if target.selector else f"the '# promobot: {target.marker}' line"
    if not version or not version.isprintable() or version != version.strip():
        raise FieldError(
            f"{file}: cannot write {version!r} at {where}: a version must be one line of "
            "printable text without spaces around it"
        )
    document = Document(file, text)
    hit = document.find(target)
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


@dataclass(frozen=True)
class _Edit:
    """Where the version's characters are in the source, and what replaces them."""

    file: str
    text: str
    where: str
    hit: Hit
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
            anchor = shared(roots).get(id(chain[-1]))
        except RuamelYAMLError as error:
            raise self.fail(f"ruamel.yaml cannot parse the file{yaml_problem(error)}") from None
        except RecursionError:
            raise too_deep(self.file) from None
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
                for node, flow in value_scalars(root, seen)
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
        if LINE_BREAK.search(body):
            raise self.fail("the value spans several lines; write it on one line")
        if style is None:
            value, starts = body, list(range(len(body) + 1))
        elif style == "'":
            value, starts = unescape(body, {"'": "'"}, {}, escape="'")
        else:
            value, starts = unescape(body, YAML_ESCAPES, {"x": 2, "u": 4, "U": 8})
        if value != node.value or value != self.hit.value:
            raise self.fail("ruamel.yaml and PyYAML read its value differently")
        if style is None:
            new_value = value[:a] + version + value[b:]
            if not plain_ok(new_value, value, flow):
                return start, end, double_quoted(new_value)
            return start + a, start + b, version
        escaped = version.replace("'", "''") if style == "'" else double_quoted(version)[1:-1]
        return start + starts[a], start + starts[b], escaped

    def in_json(self) -> tuple[int, int, str]:
        try:
            start, end = JsonSpans(self.text).locate(self.hit.path)
            body = self.text[start:end]
            quoted = body.startswith('"')
            value, starts = (
                join_surrogates(*unescape(body, JSON_ESCAPES, {"u": 4}))
                if quoted
                else (body, list(range(len(body) + 1)))
            )
        except (IndexError, KeyError, ValueError):
            raise self.fail("the JSON scanner and json.loads read the file differently") from None
        except RecursionError:
            raise too_deep(self.file) from None
        if value != self.hit.value:
            raise self.fail("the JSON scanner and json.loads read its value differently")
        a, b, version = self.start, self.end, self.version
        if quoted:
            escaped = json.dumps(version, ensure_ascii=False)[1:-1]
            return start + starts[a], start + starts[b], escaped
        if _JSON_NUMBER.fullmatch(value[:a] + version + value[b:]):
            return start + a, start + b, version
        return start, end, json.dumps(value[:a] + version + value[b:], ensure_ascii=False)
