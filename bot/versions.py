"""Ordering and selecting versions: semver (lenient), lexical and numeric; no I/O."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, get_args

import semantic_version
from semantic_version.base import AllOf, Always, AnyOf, Never, Range

from bot import patterns
from bot.errors import VersionError

Strategy = Literal["semver", "lexical", "numeric"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)

CONSTRAINT_EXAMPLES = "write e.g. '^1.2', '~1.2.3', '>=1.2 <2' or '1.x'"

# An OCI digest (`algorithm:encoded`, per the image spec) after the last "@". Only that shape is
# split off, so a git tag that merely contains "@" stays whole.
_DIGEST = re.compile(r"@([a-z0-9]+(?:[.+_-][a-z0-9]+)*:[A-Za-z0-9=_-]+)\Z")
_SEMVER = re.compile(
    r"[vV]?(?P<major>\d+)(?:\.(?P<minor>\d+)(?:\.(?P<patch>\d+))?)?"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+(?P<build>[0-9A-Za-z.-]+))?"
)
# No version has a number this long, and int() refuses 4,300 digits with a ValueError: a tag
# with a longer number has no order, rather than an exception out of the selection.
MAX_DIGITS = 100
_NUMERIC = re.compile(rf"[0-9]{{1,{MAX_DIGITS}}}")

# Masterminds (Helm) comparison operators, mapped to what NpmSpec understands.
_OPERATORS = {
    "": "",
    "=": "",
    "<": "<",
    "<=": "<=",
    "=<": "<=",
    ">": ">",
    ">=": ">=",
    "=>": ">=",
    "^": "^",
    "~": "~",
    "~>": "~",
}
_OPERATOR_ONLY = re.compile(r"[<>=!~^]+")
_TOKEN = re.compile(r"(?P<op>[<>=!~^]*)(?P<rest>.*)")
_WILD = r"\d+|[xX*]"
_RANGE_VERSION = re.compile(
    rf"[vV]?(?P<major>{_WILD})(?:\.(?P<minor>{_WILD})(?:\.(?P<patch>{_WILD}))?)?"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+(?P<build>[0-9A-Za-z.-]+))?"
)


def split_digest(version: str) -> tuple[str, str | None]:
    match = _DIGEST.search(version)
    if match is None:
        return version, None
    return version[: match.start()], match.group(1)


def parse_semver(text: str) -> semantic_version.Version | None:
    match = _SEMVER.fullmatch(split_digest(text.strip())[0])
    if match is None:
        return None
    identifiers = match["pre"].split(".") if match["pre"] else []
    numbers = [match["major"], match["minor"] or "", match["patch"] or ""]
    if any(len(n) > MAX_DIGITS for n in numbers + [i for i in identifiers if i.isdigit()]):
        return None
    # Lenient about leading zeros (calendar tags such as 2024.01.15), which strict semver forbids.
    pre = tuple(_no_leading_zero(p) for p in identifiers)
    build = tuple(match["build"].split(".")) if match["build"] else ()
    try:
        return semantic_version.Version(
            major=int(match["major"]),
            minor=int(match["minor"] or 0),
            patch=int(match["patch"] or 0),
            prerelease=pre,
            build=build,
        )
    except ValueError:  # an empty identifier, as in "1.2.3-rc..1"
        return None


def _no_leading_zero(identifier: str) -> str:
    return str(int(identifier)) if identifier.isdigit() else identifier


def check_constraint(text: str) -> None:
    _compile(text)


_RANGE_SIGNS = re.compile(r"[<>=^~*|]|\s|(?:^|\.)[xX](?:$|\.)")


def is_range(text: str) -> bool:
    """Whether a value written in an environment is a range of versions (`>=1.0.0`, `^2`,
    `1.x`, `1.2 - 1.4`) rather than one version: a policy whose running version only the
    cluster knows (Flux's `spec.chart.spec.version`, `OCIRepository.spec.ref.semver`)."""
    text = text.strip()
    if not text or parse_semver(text) is not None or not _RANGE_SIGNS.search(text):
        return False
    try:
        _compile(text)
    except VersionError:
        return False
    return True


@functools.lru_cache(maxsize=256)
def _compile(text: str) -> tuple[Any, ...]:
    """One NpmSpec per `||` alternative, so pre-release rules apply within an alternative."""
    if not text.strip():
        raise VersionError(f"empty semver constraint; {CONSTRAINT_EXAMPLES}, or leave it out")
    specs = []
    for group in text.split("||"):
        if not group.strip():
            raise _bad(text, "an alternative around '||' is empty")
        npm = " ".join(_normalize_group(text, group))
        try:
            specs.append(semantic_version.NpmSpec(npm))
        except ValueError as e:
            raise _bad(text, f"'{group.strip()}' does not parse ({e})") from None
    return tuple(specs)


def _normalize_group(text: str, group: str) -> list[str]:
    """Masterminds to npm: commas are AND, `>= 1.2` loses its space, `v` prefixes go."""
    words = group.replace(",", " ").split()
    tokens: list[str] = []
    for word in words:
        if tokens and _OPERATOR_ONLY.fullmatch(tokens[-1]) and word != "-":
            tokens[-1] += word  # ">= 1.2" is ">=1.2"
        else:
            tokens.append(word)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if i + 2 < len(tokens) and tokens[i + 1] == "-":  # hyphen range "1.2 - 1.4"
            low, high = tokens[i], tokens[i + 2]
            if _OPERATOR_ONLY.match(low) or _OPERATOR_ONLY.match(high):
                raise _bad(text, "a hyphen range joins plain versions", "write e.g. '1.2 - 1.4'")
            # What NpmSpec does with "A - B", written out so it can sit beside other comparators.
            out += [">=" + _normalize_token(text, low), "<=" + _normalize_token(text, high)]
            i += 3
        elif tokens[i] == "-":
            raise _bad(text, "a hyphen range lacks a side", "write e.g. '1.2 - 1.4'")
        else:
            out.append(_normalize_token(text, tokens[i]))
            i += 1
    return out


def _normalize_token(text: str, token: str) -> str:
    match = _TOKEN.fullmatch(token)
    assert match is not None  # every string matches
    op, rest = match["op"], match["rest"]
    if op == "!=":
        raise _bad(text, "'!=' is not supported", "skip versions with ignore: [...] instead")
    if op not in _OPERATORS:
        raise _bad(text, f"unknown operator '{op}'")
    if not rest:
        raise _bad(text, f"operator '{op}' has no version after it")
    version = _RANGE_VERSION.fullmatch(rest)
    if version is None:
        raise _bad(text, f"'{rest}' is not a version")
    parts = [version["major"], version["minor"], version["patch"]]
    present = [p for p in parts if p is not None]
    wild = [p in ("x", "X", "*") for p in present]
    if any(wild[:-1]) and not all(wild[wild.index(True) :]):
        raise _bad(text, f"'{rest}' has a number after a wildcard", "write e.g. '1.x' or '1.2.*'")
    if (version["pre"] or version["build"]) and (len(present) < 3 or any(wild)):
        raise _bad(
            text,
            f"'{rest}' names a pre-release or build without a full major.minor.patch",
            "write e.g. '>=1.2.0-rc.1'",
        )
    if wild[0] and _OPERATORS[op] not in ("", ">="):
        raise _bad(text, f"'{token}' puts an operator on a wildcard", "write '*' for any version")
    numbers = ".".join(p if p in ("x", "X", "*") else str(int(p)) for p in present)
    pre = f"-{version['pre']}" if version["pre"] else ""
    build = f"+{version['build']}" if version["build"] else ""
    return _OPERATORS[op] + numbers + pre + build


def _bad(text: str, reason: str, fix: str = CONSTRAINT_EXAMPLES) -> VersionError:
    return VersionError(f"bad semver constraint '{text}': {reason}; {fix}")


@dataclass(frozen=True)
class Policy:
    strategy: Strategy = "semver"
    constraint: str | None = None
    prerelease: bool = False
    allow: str | None = None
    ignore: tuple[str, ...] = ()
    # The versions this policy selects are pinned "tag@sha256:…" (sources attach the digest);
    # ordering and selection here always use the tag part, pinned or not.
    digest: bool = False

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise VersionError(
                f"unknown version strategy '{self.strategy}'; write one of {', '.join(STRATEGIES)}"
            )
        if self.constraint is not None:
            if self.strategy != "semver":
                raise VersionError(
                    f"semver constraint '{self.constraint}' needs strategy semver, not "
                    f"{self.strategy}; use allow / ignore patterns to narrow {self.strategy} tags"
                )
            check_constraint(self.constraint)
        for pattern in (self.allow, *self.ignore):
            if pattern is not None:
                _regex(pattern)


def check_pattern(pattern: str) -> None:
    _regex(pattern)


def _regex(pattern: str) -> patterns.Pattern:
    """An allow/ignore pattern, matched by RE2: tags are anyone's who can publish a version."""
    try:
        return patterns.regex(pattern)
    except ValueError as e:
        raise VersionError(f"bad tag pattern {e}") from None


def _key(tag: str, strategy: Strategy) -> Any:
    """What the tag orders by under the strategy, or None when it has no order there."""
    tag = split_digest(tag)[0]
    if strategy == "semver":
        return parse_semver(tag)
    if strategy == "numeric":
        return int(tag) if _NUMERIC.fullmatch(tag) else None
    return tag


@functools.lru_cache(maxsize=4096)  # a plan compares the same few versions for every app
def compare(a: str, b: str, strategy: Strategy = "semver") -> int | None:
    ka, kb = _key(a, strategy), _key(b, strategy)
    if ka is None or kb is None:
        return None
    # Build metadata does not order: 1.2.3+a and 1.2.3+b are neither < nor >, so they compare 0.
    return 1 if ka > kb else -1 if ka < kb else 0


def allowed(tag: str, policy: Policy) -> bool:
    name = split_digest(tag)[0]
    if policy.allow is not None and not _regex(policy.allow).search(name):
        return False
    if any(_regex(p).search(name) for p in policy.ignore):
        return False
    key = _key(name, policy.strategy)
    if key is None:
        return False
    if policy.strategy != "semver":  # pre-releases and constraints are semver notions
        return True
    if policy.constraint is None:
        return policy.prerelease or not key.prerelease
    return any(_matches(spec, key, policy.prerelease) for spec in _compile(policy.constraint))


def _matches(spec: Any, version: Any, prerelease: bool) -> bool:
    # npm's rule: a pre-release matches only when a comparator names a pre-release of the same
    # major.minor.patch. NpmSpec has no switch for npm's includePrerelease, so with
    # prerelease=True a pre-release also matches when its release (1.5.0 for 1.5.0-rc.1)
    # matches, and the pre-release itself satisfies every comparator by plain ordering; the
    # second test keeps 1.2.3-rc.1 out of '>=1.2.3', the first keeps 2.0.0-rc.1 out of '^1'.
    if spec.match(version):
        # NpmSpec lets 2.0.0-rc.1 through '<2' (it orders below 2.0.0); npm does not
        return prerelease or not version.prerelease or _names_prerelease(spec.clause, version)
    if not prerelease or not version.prerelease:
        return False
    return bool(spec.match(version.truncate())) and _ordered(spec.clause, version)


def _names_prerelease(clause: Any, version: Any) -> bool:
    """Whether a comparator names a pre-release of the version's own major.minor.patch."""
    if isinstance(clause, Range):
        target = clause.target
        return bool(target.prerelease) and target.truncate() == version.truncate()
    if isinstance(clause, AllOf | AnyOf):
        return any(_names_prerelease(c, version) for c in clause.clauses)
    return False


def _ordered(clause: Any, version: Any) -> bool:
    if isinstance(clause, Range):
        plain = Range(clause.operator, clause.target, Range.PRERELEASE_ALWAYS, clause.build_policy)
        return bool(plain.match(version))
    if isinstance(clause, AllOf):
        return all(_ordered(c, version) for c in clause.clauses)
    if isinstance(clause, AnyOf):
        return any(_ordered(c, version) for c in clause.clauses)
    if isinstance(clause, Always | Never):
        return isinstance(clause, Always)
    raise TypeError(f"unexpected semver clause {clause!r}")


def select(tags: Iterable[str], policy: Policy) -> str | None:
    best: str | None = None
    for tag in tags:
        if allowed(tag, policy) and (best is None or compare(tag, best, policy.strategy) == 1):
            best = tag
    return best


def is_newer(candidate: str, current: str | None, strategy: Strategy = "semver") -> bool | None:
    if current is None:
        return True
    order = compare(candidate, current, strategy)
    return None if order is None else order > 0
