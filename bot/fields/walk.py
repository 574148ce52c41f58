"""Following a selector through loaded data (dicts, lists and strings) to the value, or to the
miss that best explains why it is not there."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from bot.fields.selectors import Index, Key, Match, Selector, child, step_text
from bot.fields.targets import Template


@dataclass(frozen=True)
class Hit:
    value: str  # the whole scalar
    version: str
    document: int = 0
    path: tuple[str | int, ...] = ()  # concrete keys and indexes from the document root
    line: int = -1  # 0-based line of a marker


@dataclass(frozen=True)
class Miss:
    depth: int  # steps resolved before it failed: the deepest miss explains best
    message: str
    seen: str | None = None  # a scalar that was there but did not match the template


def listing(items: Iterable[str], quote: bool = False, limit: int = 8) -> str:
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


class Walk:
    """Follows a selector through loaded data (dicts, lists and strings)."""

    def __init__(self, selector: Selector, template: Template | None, whole: bool = False) -> None:
        self.steps = selector.steps
        self.text = selector.text
        self.template = template
        self.whole = whole  # a mapping or list at the end is a value too (shown, never written)

    def missing(self, depth: int, detail: str) -> Miss:
        return Miss(depth, f"no value at {self.text} ({detail})")

    def walk(self, node: object, i: int, where: str, path: tuple[str | int, ...]) -> Hit | Miss:
        if i == len(self.steps):
            return self.scalar(node, where, path)
        step, here = self.steps[i], where or "the document"
        deeper = child(where, step_text(step))
        if isinstance(step, Key):
            if not isinstance(node, dict):
                return self.missing(i, f"{here} is {_kind(node)}, not a mapping")
            if step.name in node:
                return self.walk(node[step.name], i + 1, deeper, (*path, step.name))
            merged = self.merged(node, step.name, path)
            if merged:
                return self.walk(merged[0], i, where, merged[1])
            keys = f"has keys: {listing(node)}" if node else "is an empty mapping"
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
            found = f"{step.key} values: {listing(texts)}" if texts else "none has that key"
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
    ) -> Hit | Miss:
        misses: list[Miss] = []
        for index, item in enumerate(items):
            found = self.walk(item, i + 1, f"{where}[{index}]", (*path, index))
            if isinstance(found, Hit):
                return found
            misses.append(found)
        here = where or "the document"
        if not misses:
            return self.missing(i, f"{here} is an empty list")
        seen = [miss.seen for miss in misses if miss.seen is not None]
        if not seen:
            return max(misses, key=lambda miss: miss.depth)
        rest = "".join(step_text(step) for step in self.steps[i + 1 :])
        what = f"{here}[*]{rest}" if rest else f"item of {here}"
        template = self.template.text if self.template else ""
        listed = listing(seen, quote=True)
        return Miss(
            len(self.steps), f"no {what} matches the template {template!r} (found: {listed})"
        )

    def scalar(self, node: object, where: str, path: tuple[str | int, ...]) -> Hit | Miss:
        depth = len(self.steps)
        if self.whole and isinstance(node, dict | list) and node:
            text = json.dumps(node, sort_keys=True, ensure_ascii=False)
            return Hit(text, text, path=path)
        if isinstance(node, str):
            version = self.template.match(node) if self.template else node
            if version:
                return Hit(node, version, path=path)
            if version is None and self.template:
                template = self.template.text
                why = f"is {node!r}, which does not match the template {template!r}"
                return Miss(depth, f"{where} {why}", seen=node)
            why = "is empty; put the current version there so promobot can replace it"
        elif isinstance(node, dict) and node:
            like = child(where, step_text(Key(next(iter(node)))))
            keys = listing(node)
            why = f"is a mapping (keys: {keys}), not a version; select one of its keys, like {like}"
        elif isinstance(node, list):
            why = f"is a list of {len(node)}, not a version; select an item: [0], [key=value], [*]"
        else:
            why = f"is {_kind(node)}, not a version; write the version as text, like 1.4.2"
        return Miss(depth, f"{where} {why}")
