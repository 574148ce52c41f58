"""Which apps or environments a person's filter picks: the one matcher of the overview's
`?app=` and `?env=` and the command line's `--app` and `--env`.

A term is a glob (`mc-*`, `prod-?`, `[ab]pi`) or a name, compared without regard to case, as
forges compare names. The overview's search box also takes part of a name (`api` finds
`payments-api`); a command names what it means, so there a term that is not a glob is a name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

from bot.errors import PromobotError

_GLOB = frozenset("*?[")


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
