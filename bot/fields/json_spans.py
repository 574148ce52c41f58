"""Where the value at a concrete path stands in JSON text (json.loads says what, not where)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator


class JsonSpans:
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
