from __future__ import annotations

import re

import pytest

from bot.errors import VersionError
from bot.versions import (
    Policy,
    Strategy,
    allowed,
    check_constraint,
    compare,
    is_newer,
    parse_semver,
    select,
    split_digest,
)
from tests.deadline import deadline

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (f"1.4.2@{DIGEST}", ("1.4.2", DIGEST)),
        ("1.4.2", ("1.4.2", None)),
        (f"main-abc123@{DIGEST}", ("main-abc123", DIGEST)),
        ("release@2", ("release@2", None)),  # a git tag with "@" is not a pinned digest
    ],
)
def test_split_digest(version: str, expected: tuple[str, str | None]) -> None:
    assert split_digest(version) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2.3", "1.2.3"),
        ("v1.2.3", "1.2.3"),
        ("V1.2.3", "1.2.3"),
        ("1.10", "1.10.0"),
        ("2", "2.0.0"),
        ("1.5.0-rc.1", "1.5.0-rc.1"),
        ("v1.5-rc.1+build.7", "1.5.0-rc.1+build.7"),
        (f"1.4.2@{DIGEST}", "1.4.2"),
        ("2024.01.15", "2024.1.15"),
    ],
)
def test_parse_semver_is_lenient(text: str, expected: str) -> None:
    assert str(parse_semver(text)) == expected


@pytest.mark.parametrize(
    "text", ["latest", "main-abc123", "", "1.2.3.4", "v", "1.2.3-rc..1", "sha-1a2b3c"]
)
def test_parse_semver_rejects_non_versions(text: str) -> None:
    assert parse_semver(text) is None


@pytest.mark.parametrize(
    ("a", "b", "strategy", "expected"),
    [
        ("1.10", "1.9", "semver", 1),
        ("1.9.0", "1.10.0", "semver", -1),
        ("v1.2", "1.2.0", "semver", 0),
        ("1.5.0-rc.1", "1.5.0", "semver", -1),
        ("1.5.0-rc.2", "1.5.0-rc.10", "semver", -1),
        ("1.2.3+a", "1.2.3+b", "semver", 0),
        (f"1.4.2@{DIGEST}", "1.4.1", "semver", 1),
        (f"1.4.2@{DIGEST}", f"1.4.2@sha256:{'cd' * 32}", "semver", 0),
        ("2004", "1909", "numeric", 1),
        ("10", "9", "numeric", 1),
        ("007", "7", "numeric", 0),
        (f"2004@{DIGEST}", "1909", "numeric", 1),
        ("10", "9", "lexical", -1),
        ("2024-02-01", "2024-01-31", "lexical", 1),
        ("abc", "abc", "lexical", 0),
    ],
)
def test_compare_orders(a: str, b: str, strategy: Strategy, expected: int) -> None:
    assert compare(a, b, strategy) == expected
    assert compare(b, a, strategy) == -expected


@pytest.mark.parametrize(
    ("a", "b", "strategy"),
    [
        ("latest", "1.2.3", "semver"),
        ("1.2.3", "main-abc123", "semver"),
        ("latest", "latest", "semver"),
        ("v2004", "1909", "numeric"),
        ("1.5", "2", "numeric"),
        ("-3", "2", "numeric"),
    ],
)
def test_compare_unordered_is_none(a: str, b: str, strategy: Strategy) -> None:
    assert compare(a, b, strategy) is None
    assert is_newer(a, b, strategy) is None


@pytest.mark.parametrize(
    ("candidate", "current", "strategy", "expected"),
    [
        ("1.10.0", "1.9.0", "semver", True),
        ("1.9.0", "1.10.0", "semver", False),
        ("v1.2", "1.2.0", "semver", False),
        ("1.0.0", None, "semver", True),
        ("latest", None, "semver", True),
        ("2004", "1909", "numeric", True),
        ("b", "a", "lexical", True),
    ],
)
def test_is_newer(candidate: str, current: str | None, strategy: Strategy, expected: bool) -> None:
    assert is_newer(candidate, current, strategy) is expected


@pytest.mark.parametrize(
    ("constraint", "inside", "outside"),
    [
        ("^1.2", ["1.2.0", "1.9.9", "v1.4"], ["1.1.9", "2.0.0", "0.9.0"]),
        ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0", "0.2.2"]),
        ("~1.2.3", ["1.2.3", "1.2.9"], ["1.3.0", "1.2.2"]),
        ("~1.2", ["1.2.0", "1.2.7"], ["1.3.0", "1.1.9"]),
        ("~>1.2", ["1.2.7"], ["1.3.0"]),
        (">=1.2 <2", ["1.2.0", "1.99.0"], ["1.1.0", "2.0.0"]),
        (">=1.2, <2", ["1.2.0", "1.99.0"], ["1.1.0", "2.0.0"]),
        (">= 1.2, < 2", ["1.5.0"], ["2.1.0"]),
        (">=1.0.0 <2", ["1.0.0", "1.2.3"], ["0.9.0", "2.0.0"]),
        ("=<1.2 =>1.0", ["1.0.0", "1.2.5"], ["1.3.0", "0.9.9"]),
        (">1.2.3", ["1.2.4"], ["1.2.3"]),
        ("<1.2.3", ["1.2.2"], ["1.2.3"]),
        ("1.x", ["1.0.0", "1.99.1"], ["2.0.0", "0.1.0"]),
        ("1.2.*", ["1.2.0", "1.2.9"], ["1.3.0", "1.1.0"]),
        ("1.2.x", ["1.2.5"], ["1.3.0"]),
        ("*", ["0.0.1", "99.0.0"], []),
        ("1.2.3", ["1.2.3", "v1.2.3"], ["1.2.4"]),
        ("=1.2.3", ["1.2.3"], ["1.2.4"]),
        ("^1 || ^3", ["1.5.0", "3.0.1"], ["2.0.0", "4.0.0"]),
        ("1.2 - 1.4", ["1.2.0", "1.4.9"], ["1.5.0", "1.1.9"]),
        ("v1.x", ["1.3.0"], ["2.0.0"]),
        ("v1.2", ["1.2.0", "1.2.9"], ["1.3.0"]),
        (">=v1.2.0 <v2", ["1.2.0"], ["2.0.0"]),
        ("^v1.2", ["1.3.0"], ["2.0.0"]),
        ("2024.01.x", ["2024.01.15", "2024.1.3"], ["2024.02.01"]),
    ],
)
def test_constraint_forms(constraint: str, inside: list[str], outside: list[str]) -> None:
    policy = Policy(constraint=constraint)
    assert [v for v in inside if allowed(v, policy)] == inside
    assert [v for v in outside if allowed(v, policy)] == []


TAGS = ["1.4.0", "1.5.0-rc.1", "1.2.3-rc.1", "2.0.0-rc.1", "1.2.2"]


@pytest.mark.parametrize(
    ("constraint", "prerelease", "expected"),
    [
        (None, False, "1.4.0"),
        (None, True, "2.0.0-rc.1"),
        ("^1", False, "1.4.0"),
        ("^1", True, "1.5.0-rc.1"),
        (">=1.2 <2", True, "1.5.0-rc.1"),
        ("<1.4", True, "1.2.3-rc.1"),
        # With pre-releases on, a pre-release still sorts before its release's lower bound.
        (">=1.2.3 <1.4", True, None),
        ("~1.2.2", False, "1.2.2"),
        ("~1.2.2", True, "1.2.3-rc.1"),
        ("^1 || ^2", True, "1.5.0-rc.1"),
        (">=2.0.0-0", False, "2.0.0-rc.1"),
    ],
)
def test_prereleases_off_and_on(constraint: str | None, prerelease: bool, expected: str) -> None:
    assert select(TAGS, Policy(constraint=constraint, prerelease=prerelease)) == expected


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("1.2.3-rc.2", True),  # the constraint names a pre-release of 1.2.3
        ("1.2.3-rc.0", False),
        ("1.3.0-rc.1", False),  # npm: other tuples' pre-releases stay out
        ("1.3.0", True),
    ],
)
def test_constraint_naming_a_prerelease_admits_that_tuple_only(tag: str, expected: bool) -> None:
    assert allowed(tag, Policy(constraint=">=1.2.3-rc.1 <2")) is expected


def test_ignore_rc_tags() -> None:
    tags = ["1.2.0", "1.3.0-rc.1", "1.3.0-rc.2"]
    assert select(tags, Policy(prerelease=True)) == "1.3.0-rc.2"
    assert select(tags, Policy(prerelease=True, ignore=("-rc",))) == "1.2.0"


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (Policy(allow=r"^v"), "v1.9.0"),
        (Policy(allow=r"^1\."), "1.10.0"),
        (Policy(allow=r"-alpine$"), None),  # "1.10.0-alpine" parses but is a pre-release
        (Policy(allow=r"-alpine$", prerelease=True), "1.10.0-alpine"),
        (Policy(ignore=(r"^1\.10", "^v")), "1.8.0"),
        (Policy(strategy="lexical", allow=r"^main-"), "main-ff00"),
    ],
)
def test_allow_and_ignore_patterns(policy: Policy, expected: str | None) -> None:
    tags = ["1.8.0", "v1.9.0", "1.10.0", "1.10.0-alpine", "main-0a1b", "main-ff00"]
    assert select(tags, policy) == expected


@pytest.mark.parametrize(
    ("tags", "policy", "expected"),
    [
        (["1909", "2004", "2010-beta", "latest"], Policy(strategy="numeric"), "2004"),
        (["9", "10", "8"], Policy(strategy="numeric"), "10"),
        (["9", "10", "8"], Policy(strategy="lexical"), "9"),
        (["2024-01-31", "2024-02-01", "2023-12-31"], Policy(strategy="lexical"), "2024-02-01"),
        (["1.9", "1.10", "latest", "main-abc123"], Policy(), "1.10"),
        (["latest", "main-abc123"], Policy(), None),
        ([], Policy(), None),
        (["v1.2", "1.2.0", "1.2"], Policy(), "v1.2"),  # equal versions: the first spelled wins
        (["1.2.0", "v1.2"], Policy(), "1.2.0"),
    ],
)
def test_select_newest(tags: list[str], policy: Policy, expected: str | None) -> None:
    assert select(tags, policy) == expected


def test_select_pinned_digests_by_tag() -> None:
    newest = f"1.10.0@sha256:{'cd' * 32}"
    tags = [f"1.9.0@{DIGEST}", newest, f"2.0.0@{DIGEST}"]
    assert select(tags, Policy(constraint="^1", digest=True)) == newest
    assert select(tags, Policy(digest=True, ignore=("^2",))) == newest
    assert is_newer(newest, f"1.9.0@{DIGEST}") is True


@pytest.mark.parametrize(
    ("constraint", "message"),
    [
        (">>1.2", "bad semver constraint '>>1.2': unknown operator '>>'; write e.g. '^1.2'"),
        ("latest", "'latest' is not a version; write e.g. '^1.2', '~1.2.3', '>=1.2 <2' or '1.x'"),
        ("", "empty semver constraint; write e.g. '^1.2'"),
        ("   ", "empty semver constraint"),
        ("^1 ||", "an alternative around '||' is empty"),
        ("!=1.3.0", "'!=' is not supported; skip versions with ignore: [...] instead"),
        (">=", "operator '>=' has no version after it"),
        ("1.x.3", "'1.x.3' has a number after a wildcard; write e.g. '1.x' or '1.2.*'"),
        ("^1.2-rc.1", "without a full major.minor.patch; write e.g. '>=1.2.0-rc.1'"),
        ("^*", "'^*' puts an operator on a wildcard; write '*' for any version"),
        ("1.2 -", "a hyphen range lacks a side; write e.g. '1.2 - 1.4'"),
        (">=1 - 2", "a hyphen range joins plain versions; write e.g. '1.2 - 1.4'"),
        ("1.2.3.4", "'1.2.3.4' is not a version"),
        ("v>=1", "'v>=1' is not a version"),
    ],
)
def test_bad_constraint_says_what_and_how(constraint: str, message: str) -> None:
    with pytest.raises(VersionError) as caught:
        check_constraint(constraint)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    with pytest.raises(VersionError):
        Policy(constraint=constraint)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "numeric", "constraint": "^1"}, "needs strategy semver, not numeric"),
        ({"allow": "(unclosed"}, "bad tag pattern '(unclosed': missing ): (unclosed"),
        ({"ignore": ("-rc", "[")}, "bad tag pattern '[': missing ]: ["),
        ({"strategy": "calver"}, "write one of semver, lexical, numeric"),
    ],
)
def test_bad_policy_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(VersionError, match=re.escape(message)):
        Policy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("constraint", "tag", "expected"),
    [
        ("<2", "2.0.0-rc.1", False),  # npm: a pre-release only when a comparator names one
        ("<2.0.0", "2.0.0-rc.1", False),
        ("<2", "1.9.9", True),
        (">=2.0.0-rc.1 <2.0.1", "2.0.0-rc.2", True),  # named: same major.minor.patch
        (">=1.0.0-rc.1 <2", "1.5.0-rc.1", False),  # named, but for 1.0.0
    ],
)
def test_upper_bounds_do_not_let_pre_releases_of_the_bound_through(
    constraint: str, tag: str, expected: bool
) -> None:
    assert allowed(tag, Policy(constraint=constraint)) is expected


# --- tag patterns meet tags that anyone who can publish a version chooses ---------------------

# Plausible patterns with a nested repeat, and a tag of 40 characters that almost matches:
# Python's backtracking re tried 2**40 ways to split it, holding the process for hours.
CRAFTED = [
    (r"^(\d+\.?)+$", "1" * 40 + "-"),
    (r"^([a-z0-9]+-?)+$", "a" * 40 + "!"),
    (r"^(v|v?)+1$", "v" * 40),
    (r"(x+x+)+y", "x" * 40),
]


@pytest.mark.parametrize(("pattern", "tag"), CRAFTED)
def test_a_crafted_tag_costs_at_most_ten_milliseconds_whatever_the_pattern(
    pattern: str, tag: str
) -> None:
    allow = Policy(strategy="lexical", allow=pattern)
    ignore = Policy(strategy="lexical", ignore=(pattern,))
    with deadline(1.0, "100 crafted tags"):  # ≤ 10 ms a tag; RE2 takes microseconds
        for _ in range(50):
            assert allowed(tag, allow) is False
            assert allowed(tag, ignore) is True


def test_a_crafted_tag_does_not_stop_the_good_one_from_being_selected() -> None:
    pattern, crafted = CRAFTED[0]
    with deadline(1.0, "a selection among crafted tags"):
        assert select([crafted, "1.2.3", crafted[:-1] + "x"], Policy(allow=pattern)) == "1.2.3"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (
            r"^(\d)\1",
            r"a backreference (\1) is not in RE2 (promobot matches tags with RE2, in "
            r"time linear in the tag); write the repeated text out",
        ),
        (r"(?P<n>v)(?P=n)", "a named backreference (?P=…) is not in RE2"),
        (
            r"^(?!.*-rc)",
            "a negative lookahead (?!…) is not in RE2 (promobot matches tags with "
            "RE2, in time linear in the tag); write what tags must match in allow: and what they "
            r"must not in ignore:, e.g. allow: '^v1\.' with ignore: ['-rc']",
        ),
        (r"^(?=v)", "a lookahead (?=…) is not in RE2"),
        (r"(?<=v)1", "a lookbehind (?<=…) is not in RE2"),
        (r"(?<!rc)$", "a negative lookbehind (?<!…) is not in RE2"),
        (
            r"^(?>\d+)\.",
            "an atomic group (?>…) is not in RE2 (promobot matches tags with RE2, in "
            "time linear in the tag); write a plain group (…)",
        ),
        (
            r"^\d++\.",
            "a possessive repeat (++) is not in RE2 (promobot matches tags with RE2, in "
            "time linear in the tag); write a plain repeat (+)",
        ),
        (r"^(v)?(?(1)\d|x)", "a conditional group (?(…)…|…) is not in RE2"),
        (
            r"^1\.2\Z",
            r"\Z is not in RE2 (promobot matches tags with RE2, in time linear in the "
            r"tag); write $, which in RE2 is the end of the tag",
        ),
        (
            r"(?x) ^ v 1",
            "the flag (?x…) is not in RE2 (promobot matches tags with RE2, in time "
            "linear in the tag); RE2 knows the flags i, m, s and U, e.g. (?i)",
        ),
        (r"\u00e9", r"the escape \u is not in RE2"),
        (r"^\d{1001}$", "the repeat {1001} is over RE2's limit of 1000"),
        (
            r"^v{,2}1",
            "RE2 reads {,n} as the text '{,n}', not as up to n times (promobot matches "
            r"tags with RE2, in time linear in the tag); write {0,n}, or \{ for a brace",
        ),
    ],
)
def test_a_pattern_re2_cannot_run_is_refused_naming_the_construct_and_the_fix(
    pattern: str, message: str
) -> None:
    with pytest.raises(VersionError) as refused:
        Policy(allow=pattern)
    assert str(refused.value).startswith(f"bad tag pattern '{pattern}': ")
    assert message in str(refused.value)
    with pytest.raises(VersionError):
        Policy(ignore=("-rc", pattern))


@pytest.mark.parametrize(
    ("pattern", "tag", "expected"),
    [
        (r"^v\d+\.\d+$", "v1.22", True),
        (r"(?i)^V1", "v1.2", True),
        (r"^a\{,2\}", "a{,2}", True),  # an escaped brace is a brace
        (r"^1\.2$", "1.2\n", False),  # $ is the end of the tag, not before a last newline
        (r"^\d+$", "١٢", False),  # \d is an ASCII digit: Arabic-Indic digits are no version
        (r"^v", "v1\ud800", True),  # a lone surrogate from JSON is matched, not a crash
    ],
)
def test_patterns_match_as_re2_reads_them(pattern: str, tag: str, expected: bool) -> None:
    assert allowed(tag, Policy(strategy="lexical", allow=pattern)) is expected


@pytest.mark.parametrize(
    ("tag", "strategy", "expected"),
    [
        ("1" * 5000, "numeric", "2"),
        ("1.0.0-" + "1" * 5000, "semver", "1.0.0-rc.1"),
        ("1" * 5000 + ".0.0", "semver", "1.0.0-rc.1"),
        ("1" * 5000, "lexical", "2"),  # text, however long: "2" > "111…"
    ],
)
def test_a_number_of_thousands_of_digits_has_no_order_and_breaks_nothing(
    tag: str, strategy: Strategy, expected: str
) -> None:
    """Whoever publishes a version: Python's int() refuses 4,300 digits with a ValueError,
    which a tag of them carried out of the selection; no version has a number that long."""
    tags = [tag, "2" if strategy != "semver" else "1.0.0-rc.1"]
    assert select(tags, Policy(strategy=strategy, prerelease=True)) == expected
    assert compare(tag, tags[1], strategy) == (-1 if strategy == "lexical" else None)
