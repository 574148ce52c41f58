"""Reading `.promobot.yaml`: YAML to the model, every problem with its file:line:col.

The loader reads the YAML once with libyaml, keeps the node tree, and only walks it for
positions when something is wrong, so a 500-app configuration loads in milliseconds.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from bot.config.checks import semantic_problems
from bot.config.model import Config
from bot.errors import ConfigError, Problem

FILENAME = ".promobot.yaml"
# Nodes that YAML aliases (and `<<:` merges) may add to .promobot.yaml beyond what is written.
# A configuration repeats an environment or a few settings (hundreds of nodes); a "billion
# laughs" document of nested aliases expands to billions and would take minutes to validate.
MAX_ALIAS_NODES = 100_000


def load(text: str, file: str = FILENAME) -> Config:
    """Parse and validate; raise ConfigError listing every problem with its position."""
    loader = yaml.CSafeLoader(text)
    try:
        bomb = _alias_bomb(text, file)
        if bomb is not None:
            raise ConfigError([bomb])
        node = loader.get_single_node()
        if node is None:
            raise ConfigError([Problem(file, 1, 1, "the file is empty; start with 'version: 1'")])
        duplicates = list(_duplicates(node))
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or "not valid YAML"
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise ConfigError([Problem(file, line, col, f"YAML syntax: {what}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(file, 0, 0, f"YAML syntax: {exc}")]) from None
    finally:
        loader.dispose()

    positions = _Positions(node)
    problems = [Problem(file, *positions.key(path), msg) for path, msg in duplicates]
    if not isinstance(data, dict):
        problems.append(Problem(file, 1, 1, "the file must be a mapping starting 'version: 1'"))
        raise ConfigError(problems)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            path = _steps(error["loc"])
            # an unknown key, or a mapping's key that is not allowed, is shown at the key
            on_key = error["type"] == "extra_forbidden" or "[key]" in error["loc"]
            line, col = positions.locate(path, at_key=on_key)
            problems.append(Problem(file, line, col, _message(path, error)))
        raise ConfigError(problems) from None
    for path, msg in semantic_problems(config):
        problems.append(Problem(file, *positions.locate(path), msg))
    if problems:
        raise ConfigError(problems)
    return config


def locate(text: str, path: tuple[Any, ...]) -> tuple[int, int]:
    """The 1-based line and column of `path` (keys and indexes) in a configuration that
    loads: where a finding about it is shown. (0, 0) if the text does not parse."""
    try:
        node = yaml.compose(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return (0, 0)
    return (0, 0) if node is None else _Positions(node).locate(path, at_key=True)


def load_at(raw: bytes | None, commit: str) -> Config:
    """The configuration committed at `commit`, whose `.promobot.yaml` is `raw` (None: absent)."""
    if raw is None:
        where = commit[:12]
        raise ConfigError(
            [Problem(FILENAME, 0, 0, f"not found at {where}; create it (see config/README.md)")]
        )
    return load(raw.decode("utf-8", errors="replace"))


def _alias_bomb(text: str, file: str) -> Problem | None:
    """The alias at which YAML aliases have added more than MAX_ALIAS_NODES nodes, if any.

    Counted on libyaml's parse events before anything is built: an anchored node's size is
    known at its end, and each alias adds that size, so one pass counts any expansion (merge
    keys, `<<: *x`, are aliases too). Building, validating or walking the document would
    expand it for real.
    """
    sizes: dict[str, int] = {}
    opened: list[tuple[str | None, int]] = []  # the anchors of the collections being read
    total = added = 0
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        if isinstance(event, yaml.AliasEvent):
            size = sizes.get(event.anchor or "")
            mark = event.start_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
            if size is None and any(anchor == event.anchor for anchor, _ in opened):
                return Problem(
                    file,
                    line,
                    col,
                    f"the alias *{event.anchor} is inside its own anchor, so it never ends; "
                    "write the value out",
                )
            total += size or 0  # an unknown alias: composing the document reports it
            added += size or 0
            if added > MAX_ALIAS_NODES:
                return Problem(
                    file,
                    line,
                    col,
                    f"YAML aliases expand this file by more than {MAX_ALIAS_NODES:,} nodes "
                    f"(here, *{event.anchor}); use anchors for a few repeated settings, "
                    "not nested inside each other",
                )
        elif isinstance(event, yaml.ScalarEvent):
            total += 1
            if event.anchor:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            opened.append((event.anchor, total))
            total += 1
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            anchor, start = opened.pop()
            if anchor:
                sizes[anchor] = total - start
    return None


def _steps(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """A validation error's location as keys and indexes of the file: without the markers
    pydantic adds for a mapping's key (`[key]`) and for which form of a union it tried."""
    return tuple(
        p for p in loc if not (isinstance(p, str) and (p == "[key]" or p.startswith("tag-")))
    )


def _message(path: tuple[Any, ...], error: Any) -> str:
    where = ".".join(str(p) for p in path if not str(p).startswith("function-"))
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(path[:-1])
        hint = difflib.get_close_matches(str(path[-1]), allowed, n=1)
        suggestion = f"did you mean {hint[0]!r}? " if hint else ""
        return f"unknown key {path[-1]!r}; {suggestion}allowed here: {', '.join(allowed)}"
    if kind == "missing":
        return f"{where}: required key is missing"
    msg = str(error["msg"]).removeprefix("Value error, ")
    if kind in (
        "literal_error",
        "int_parsing",
        "bool_parsing",
        "string_type",
        "dict_type",
        "tuple_type",
        "int_type",
        "greater_than_equal",
        "too_short",
    ):
        msg = f"{msg}, got {error['input']!r}"
    return f"{where}: {msg}" if where else msg


def _allowed_keys(path: tuple[Any, ...]) -> list[str]:
    """The keys allowed in the mapping at `path`, found by walking the model classes."""
    model: type[BaseModel] | None = Config
    for step in path:
        if model is None:
            return []
        info = model.model_fields.get(str(step)) or next(
            (f for f in model.model_fields.values() if f.alias == step), None
        )
        if info is None:  # a dict key such as an environment or app name
            continue
        model = _model_in(info.annotation)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _duplicates(node: yaml.Node) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Keys written twice in one mapping; run before construction, which writes the keys a
    merge (`<<: *base`) brings into the mapping that may then override them."""
    seen_nodes: set[int] = set()  # an anchored node is checked once, however often it is used

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str]]:
        if id(node) in seen_nodes:
            return
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                if key.value in seen and key.value != "<<":
                    yield (*path, key.value), f"duplicate key {key.value!r}; keep only one"
                seen.add(key.value)
                yield from walk(value, (*path, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                yield from walk(item, (*path, i))

    yield from walk(node, ())


class _Positions:
    """Maps a path of keys and indexes to a 1-based line and column in the source."""

    def __init__(self, root: yaml.Node) -> None:
        self.root = root
        # per mapping node: its keys (the last of duplicates wins, as in loading), and what its
        # merge keys (`<<: *base`) bring, nearest first; built once, so each problem costs its
        # depth rather than a scan of every key on the way (thousands, with an error in each)
        self.keys: dict[int, tuple[dict[str, tuple[yaml.Node, yaml.Node]], list[yaml.Node]]] = {}

    def key(self, path: tuple[Any, ...]) -> tuple[int, int]:
        return self.locate(path, at_key=True)

    def locate(self, path: tuple[Any, ...], at_key: bool = False) -> tuple[int, int]:
        node = self.root
        mark = node.start_mark
        for i, step in enumerate(path):
            found = self._child(node, step)
            if found is None:
                break
            key_node, node = found
            last = i == len(path) - 1
            # a problem with a whole mapping or list is best shown at the key that names it
            on_key = at_key or not isinstance(node, yaml.ScalarNode)
            mark = key_node.start_mark if last and on_key else node.start_mark
        return mark.line + 1, mark.column + 1

    def _child(self, node: yaml.Node, step: Any) -> tuple[yaml.Node, yaml.Node] | None:
        if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            return node.value[step], node.value[step]
        if isinstance(node, yaml.MappingNode):
            keys, merged = self._keys(node)
            if str(step) in keys:
                return keys[str(step)]
            for value in merged:
                for candidate in value.value if isinstance(value, yaml.SequenceNode) else [value]:
                    found = self._child(candidate, step)
                    if found is not None:
                        return found
        return None

    def _keys(
        self, node: yaml.MappingNode
    ) -> tuple[dict[str, tuple[yaml.Node, yaml.Node]], list[yaml.Node]]:
        known = self.keys.get(id(node))
        if known is None:
            keys: dict[str, tuple[yaml.Node, yaml.Node]] = {}
            merged: list[yaml.Node] = []
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode):
                    continue
                if key.value == "<<":
                    merged.insert(0, value)
                keys[key.value] = (key, value)
            known = self.keys[id(node)] = (keys, merged)
        return known
