"""`# promobot: NAME` comments: the lines that carry them."""

from __future__ import annotations

import re

# Where a `# promobot: NAME` comment ends a line (a '#' starts a comment only after a space).
_MARKER = re.compile(r"(?:^|[ \t])#[ \t]*promobot:[ \t]*([^\s#]+)[ \t]*$")
LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")


def marker_lines(text: str) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    if "promobot:" not in text:
        return found
    for number, line in enumerate(LINE_BREAK.split(text)):
        marker = _MARKER.search(line)
        if marker:
            found.setdefault(marker.group(1), []).append(number)
    return found
