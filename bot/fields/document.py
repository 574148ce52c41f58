"""Reading: one file's text parsed once (PyYAML's loaders, which resolve no types, or json with
numbers kept as text), and the value at each target found in it."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import yaml

from bot.errors import FieldError
from bot.fields.markers import marker_lines
from bot.fields.nodes import value_scalars
from bot.fields.selectors import Selector
from bot.fields.targets import Target, Template
from bot.fields.walk import Hit, Miss, Walk, listing


def too_deep(file: str) -> FieldError:
    # libyaml stops at 1,000 levels, but the Python that builds and walks what it read
    # recurses once or more per level and runs out of stack first.
    return FieldError(f"{file}: nested too deeply to read (hundreds of levels); flatten the file")


def yaml_problem(error: Exception) -> str:
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
        return self.find(target).version

    def show(self, target: Target) -> str:
        """The value at the target as it is shown (never written): a version, or a whole
        mapping or list as one line of JSON with sorted keys, so equal content reads equal."""
        if target.selector is not None:
            return self._find_selector(target.selector, target.template, whole=True).version
        return self._find_marker(target.marker or "", target.template).version

    def find(self, target: Target) -> Hit:
        """The value at the target, and where it stands (what a write edits)."""
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
                raise too_deep(self.file) from None
        try:
            return list(yaml.load_all(self.text, Loader=yaml.CBaseLoader))
        except yaml.YAMLError as error:
            raise FieldError(f"{self.file}: not valid YAML{yaml_problem(error)}") from None
        except RecursionError:
            raise too_deep(self.file) from None

    def _find_selector(
        self, selector: Selector, template: Template | None, whole: bool = False
    ) -> Hit:
        walk = Walk(selector, template, whole)
        documents = self._documents()
        best: tuple[int, Miss] | None = None
        for number, data in enumerate(documents):
            found = walk.walk(data, 0, "", ())
            if isinstance(found, Hit):
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

    def _find_marker(self, name: str, template: Template | None) -> Hit:
        example = f"'tag: 1.4.2  # promobot: {name}'"
        if self.is_json:
            raise FieldError(
                f"{self.file}: JSON has no comments, so it cannot carry a '# promobot: {name}' "
                "marker; use a field selector instead"
            )
        if self._markers is None:
            self._markers = marker_lines(self.text)
        lines = self._markers.get(name, [])
        if not lines:
            others = f" (markers here: {listing(sorted(self._markers))})" if self._markers else ""
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
        return Hit(value, version, line=line)

    def _value_nodes(self) -> list[Any]:
        if self._scalars is None:
            try:
                roots = list(yaml.compose_all(self.text, Loader=yaml.CBaseLoader))
                seen: set[int] = set()
                self._scalars = [node for root in roots for node, _ in value_scalars(root, seen)]
            except yaml.YAMLError as error:
                raise FieldError(f"{self.file}: not valid YAML{yaml_problem(error)}") from None
            except RecursionError:
                raise too_deep(self.file) from None
        return self._scalars


def read(text: str, target: Target) -> str:
    return Document(target.file, text).read(target)
