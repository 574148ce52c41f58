"""Composed YAML nodes, PyYAML's or ruamel.yaml's alike: the scalars that are values, and those
that anchors share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def value_scalars(node: Any, seen: set[int], flow: bool = False) -> Iterator[tuple[Any, bool]]:
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
        yield from value_scalars(item[1] if isinstance(item, tuple) else item, seen, flow)


def _children(node: Any) -> Iterator[Any]:
    if isinstance(node.value, list):
        for item in node.value:
            yield from item if isinstance(item, tuple) else (item,)


def shared(roots: list[Any]) -> dict[int, str]:
    """Nodes that aliases reach more than once, themselves or inside a collection that is, with
    the anchor that shares them: writing one would change every place that uses the anchor."""
    counts: dict[int, int] = {}

    def count(node: Any) -> None:
        counts[id(node)] = counts.get(id(node), 0) + 1
        if counts[id(node)] == 1:
            for child in _children(node):
                count(child)

    found: dict[int, str] = {}
    visited: set[tuple[int, bool]] = set()

    def mark(node: Any, anchor: str | None) -> None:
        if anchor is None and counts[id(node)] > 1:
            anchor = getattr(node, "anchor", None) or "…"
        if (id(node), anchor is not None) in visited:
            return
        visited.add((id(node), anchor is not None))
        if anchor is not None:
            found[id(node)] = anchor
        for child in _children(node):
            mark(child, anchor)

    for root in roots:
        count(root)
    for root in roots:
        mark(root, None)
    return found
