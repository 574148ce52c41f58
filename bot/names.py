"""Names of apps and environments as people pick and read them.

Which ones a person's filter picks: the one matcher of the overview's `?app=` and `?env=` and
the command line's `--app` and `--env`. And which end of a name tells it from the others
(`ends`), the part a label cut short for room keeps.

A term is a glob (`mc-*`, `prod-?`, `[ab]pi`) or a name, compared without regard to case, as
forges compare names. The overview's search box also takes part of a name (`api` finds
`payments-api`); a command names what it means, so there a term that is not a glob is a name.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

from bot.errors import PromobotError

_GLOB = frozenset("*?[")
_SEPARATOR = re.compile(r"[-_./]")


def is_glob(term: str) -> bool:
    return any(c in _GLOB for c in term)


def terms(query: str) -> list[str]:
    """The comma- or space-separated terms of a query."""
    return [t for t in re.split(r"[\s,]+", query) if t]


def matches(name: str, query: str) -> bool:
    """Whether any term of `query` (a glob, or part of the name) picks `name` (the overview)."""
    lowered = name.lower()
    for term in terms(query.lower()):
        if fnmatchcase(lowered, term) if is_glob(term) else term in lowered:
            return True
    return False


def select(known: Sequence[str], wanted: Iterable[str], what: str, where: str = "") -> list[str]:
    """The names among `known` that the terms of `wanted` pick, in `known`'s order: each term a
    glob or a whole name. A term that picks nothing is an error that says `where` it was given
    and lists what is known."""
    chosen: set[str] = set()
    for query in wanted:
        for term in terms(query):
            if is_glob(term):
                picked = {n for n in known if fnmatchcase(n.lower(), term.lower())}
                nothing = f"no {what} matches {term!r}"
            else:
                picked = {n for n in known if n.lower() == term.lower()}
                nothing = f"unknown {what} {term!r}"
            if not picked:
                raise PromobotError(f"{nothing}{where}; known: {', '.join(known)}")
            chosen |= picked
    return [n for n in known if n in chosen]


def ends(names: Iterable[str]) -> dict[str, tuple[str, str, str]]:
    """Each name as (start, middle, end), where start and end tell it from the others and the
    middle may be cut short for room: the shortest end after a separator that no other name
    ends with (`non-gpu` of `integration-non-gpu` beside `integration-gpu`), or the shortest
    start before one that no other name starts with (`staging-eu` of `staging-eu-central-1`
    beside `staging-us-east-1` and `prod-eu-central-1`), whichever is shorter; a name that needs
    all of itself is all start. So `start…end` still tells the names apart. Linear in their
    length."""
    listed = list(dict.fromkeys(names))
    tails = Counter(t for name in listed for t in _tails(name))
    heads = Counter(h for name in listed for h in _heads(name))
    found: dict[str, tuple[str, str, str]] = {}
    for name in listed:
        tail = next((t for t in _tails(name) if tails[t] == 1), name)
        head = next((h for h in _heads(name) if heads[h] == 1), name)
        if len(tail) < len(head):
            found[name] = ("", name[: len(name) - len(tail)], tail)
        else:
            found[name] = (head, name[len(head) :], "")
    return found


def _tails(name: str) -> list[str]:
    """The ends of `name` that start after a separator, shortest first, then the whole name."""
    starts = [m.end() for m in _SEPARATOR.finditer(name) if m.end() < len(name)]
    return [name[i:] for i in reversed(starts)] + [name]


def _heads(name: str) -> list[str]:
    """The starts of `name` that end before a separator, shortest first, then the whole name."""
    return [name[: m.start()] for m in _SEPARATOR.finditer(name) if m.start() > 0] + [name]
