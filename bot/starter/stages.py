"""The order of environments, guessed from their names: dev → test/qa → staging → prod.

Names say the stage (`dev`, `qa`, `staging-eu`, `prod-us`); what is left of a name once its
stage is taken out (`eu`, `us`, `gpu`) pairs an environment with the one of the stage before
that has the same rest (staging-eu → prod-eu). Where names say nothing (`win2022`), the
environments form a chain in the order they were found, and the comment asks to check it.
Pure: names in, placements out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_STAGES = {
    0: ("dev", "devel", "develop", "development", "sandbox", "local", "ci", "int", "integration"),
    1: ("test", "testing", "tst", "qa", "sit", "load", "perf", "performance", "e2e"),
    2: ("staging", "stage", "stg", "uat", "preprod", "acceptance", "acc"),
    3: ("prod", "production", "prd", "live"),
}
RANKS = {word: rank for rank, words in _STAGES.items() for word in words}
_SEPARATORS = re.compile(r"[-_.]+")
_COMPOUNDS = {("pre", "prod"): "preprod", ("non", "prod"): "nonprod"}


def _tokens(name: str) -> list[str]:
    tokens = [t for t in _SEPARATORS.split(name.lower()) if t]
    joined: list[str] = []
    for token in tokens:
        if joined and (joined[-1], token) in _COMPOUNDS:
            joined[-1] = _COMPOUNDS[(joined[-1], token)]
        else:
            joined.append(token)
    return joined


def _stage(token: str) -> int | None:
    return RANKS.get(token.rstrip("0123456789") or token)


def rank(name: str) -> int | None:
    """The stage a name says (0 dev … 3 prod), or None when it says none."""
    for token in _tokens(name):
        found = _stage(token)
        if found is not None:
            return found
    return None


def rest(name: str) -> tuple[str, ...]:
    """The name without its stage word: what pairs staging-eu with prod-eu."""
    tokens = _tokens(name)
    for i, token in enumerate(tokens):
        if _stage(token) is not None:
            return tuple(tokens[:i] + tokens[i + 1 :])
    return tuple(tokens)


@dataclass(frozen=True)
class Family:
    """Environments found together (the folders of one envs/, the targets of one fleet.yaml)."""

    names: tuple[str, ...]
    where: str


@dataclass(frozen=True)
class Placed:
    name: str
    upstream: str | None
    note: str | None = None  # a comment for the person: a guess to check


def _merge(families: Sequence[Family]) -> list[Family]:
    """Families that share a name are one (apps/staging and clusters/staging)."""
    merged: list[Family] = []
    for family in families:
        overlapping = [m for m in merged if set(m.names) & set(family.names)]
        names = [n for m in overlapping for n in m.names]
        names += [n for n in family.names if n not in names]
        wheres = [m.where for m in overlapping] + [family.where]
        merged = [m for m in merged if m not in overlapping]
        merged.append(Family(tuple(dict.fromkeys(names)), ", ".join(dict.fromkeys(wheres))))
    return merged


def _by_rank(names: Sequence[str]) -> list[Placed]:
    ordered = sorted(names, key=lambda n: (rank(n), names.index(n)))
    placed: list[Placed] = []
    for name in ordered:
        below = [n for n in ordered if (rank(n) or 0) < (rank(name) or 0)]
        if not below:
            placed.append(Placed(name, None))
            continue
        nearest = max(rank(n) or 0 for n in below)
        candidates = [n for n in below if rank(n) == nearest]
        same = [n for n in candidates if rest(n) == rest(name)]
        if same:
            placed.append(Placed(name, same[0]))
            continue
        plain = [n for n in candidates if not rest(n)]
        upstream = (plain or candidates)[0]
        others = [n for n in candidates if n != upstream]
        note = f"check: from {upstream} is a guess (or {', '.join(others)})" if others else None
        placed.append(Placed(name, upstream, note))
    return placed


def _chain(family: Family) -> list[Placed]:
    names = family.names
    note = f"check the order: a chain in the order found ({family.where})"
    placed = [Placed(names[0], None, note if len(names) > 1 else None)]
    placed += [Placed(name, names[i]) for i, name in enumerate(names[1:])]
    return placed


def order(families: Sequence[Family]) -> list[Placed]:
    """Every environment once, upstream before downstream, each family after the one before."""
    placed: list[Placed] = []
    for family in _merge(families):
        if all(rank(n) is not None for n in family.names):
            placed += _by_rank(family.names)
        else:
            placed += _chain(family)
    return placed
