"""Regular expressions from `.promobot.yaml`, matched by RE2: in time linear in the text.

Python's `re` backtracks: `^(\\d+\\.?)+$` takes hours on a 40-character tag that almost
matches, and a match holds the interpreter, so one registry notification stopped every repo.
RE2 never backtracks, and so lacks what needs backtracking (backreferences, lookarounds, atomic
groups, possessive repeats, conditionals); a pattern that uses one is refused, naming the
construct and what to write instead. No I/O.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import re2  # google-re2; untyped, so its objects stay inside this module

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print every refusal to stderr; we word it instead

WHY = "promobot matches tags with RE2, in time linear in the tag"
SYNTAX = "write an RE2 regular expression (Python's re without backtracking), e.g. '^v?1\\.'"
_LOOKAROUND = (
    "write what tags must match in allow: and what they must not in ignore:, e.g. "
    "allow: '^v1\\.' with ignore: ['-rc']"
)
# RE2's "invalid perl operator: <fragment>" → the construct, and what to write instead
_OPERATORS = {
    "(?=": ("a lookahead (?=…)", _LOOKAROUND),
    "(?!": ("a negative lookahead (?!…)", _LOOKAROUND),
    "(?<=": ("a lookbehind (?<=…)", _LOOKAROUND),
    "(?<!": ("a negative lookbehind (?<!…)", _LOOKAROUND),
    "(?P": ("a named backreference (?P=…)", "write the repeated text out"),
    "(?>": ("an atomic group (?>…)", "write a plain group (…)"),
    "(?(": ("a conditional group (?(…)…|…)", "write the alternatives out with |"),
    "(?#": ("a comment (?#…)", "remove it (a YAML # comment can say it)"),
}
# `{,n}` that is neither escaped nor after a backslash: Python's open lower bound
_OPEN_LOWER_BOUND = re2.compile(r"(?:^|[^\\])(?:\\\\)*\{,[0-9]*\}", _OPTIONS)


@dataclass(frozen=True)
class Pattern:
    text: str
    _compiled: Any

    def search(self, text: str) -> bool:
        # As UTF-8 bytes encoded here: a tag from JSON may hold a lone surrogate ("\ud800"),
        # which the binding's own encoding refuses with an exception.
        return self._compiled.search(text.encode("utf-8", "surrogatepass")) is not None


@functools.lru_cache(maxsize=256)
def regex(pattern: str) -> Pattern:
    """The pattern compiled, or a ValueError that names what RE2 lacks and how to do without."""
    if _OPEN_LOWER_BOUND.search(pattern):
        # Python reads a{,3} as a{0,3}; RE2 reads it as the text "a{,3}" and would quietly
        # match something other than what was meant.
        raise ValueError(
            f"'{pattern}': RE2 reads {{,n}} as the text '{{,n}}', not as up to n times ({WHY}); "
            "write {0,n}, or \\{ for a brace"
        )
    try:
        return Pattern(pattern, re2.compile(pattern, _OPTIONS))
    except re2.error as e:
        reason = e.args[0] if e.args else b""
        text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        raise ValueError(f"'{pattern}': {_explain(text)}") from None


def _explain(reason: str) -> str:
    code, _, fragment = reason.partition(": ")
    unsupported = f"is not in RE2 ({WHY})"
    if code == "invalid escape sequence":
        if fragment[1:2].isdigit():
            return f"a backreference ({fragment}) {unsupported}; write the repeated text out"
        if fragment == "\\Z":
            return f"\\Z {unsupported}; write $, which in RE2 is the end of the tag"
        if fragment in ("\\u", "\\U", "\\N"):
            return f"the escape {fragment} {unsupported}; write the character, or \\x{{41}}"
        return f"the escape {fragment} {unsupported}; {SYNTAX}"
    if code == "invalid perl operator":
        construct, fix = _OPERATORS.get(
            fragment, (f"the flag {fragment}…)", "RE2 knows the flags i, m, s and U, e.g. (?i)")
        )
        return f"{construct} {unsupported}; {fix}"
    if code == "bad repetition operator" and len(fragment) > 1 and fragment.endswith("+"):
        plain = fragment[:-1]
        return f"a possessive repeat ({fragment}) {unsupported}; write a plain repeat ({plain})"
    if code == "invalid repetition size":
        return f"the repeat {fragment} is over RE2's limit of 1000 ({WHY}); write a smaller one"
    if code.startswith("pattern too large"):
        return f"the pattern is too large for RE2 ({WHY}); write a shorter one"
    return f"{reason}; {SYNTAX}"
