from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.config import Gates, parse_freeze
from bot.forges.base import Check, Review
from bot.gates import (
    HOLD_LABEL,
    GateResult,
    Inputs,
    duration,
    evaluate,
    in_freeze,
    next_change,
    overall,
)

HEAD = "c0ffee"
OLD = "badc0de"
NOW = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)  # a Wednesday
ZURICH = ZoneInfo("Europe/Zurich")


def inputs(gates: dict[str, Any], **kwargs: Any) -> Inputs:
    return Inputs(
        env="prod", gates=Gates.model_validate(gates), head_sha=HEAD, **{"now": NOW, **kwargs}
    )


def review(user: str, state: str = "approved", sha: str | None = HEAD, minute: int = 0) -> Review:
    return Review(user, state, sha, NOW - timedelta(hours=1) + timedelta(minutes=minute))  # type: ignore[arg-type]


def gate(name: str, results: list[GateResult]) -> GateResult:
    return next(r for r in results if r.name == name)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def zurich(text: str, fold: int = 0) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZURICH, fold=fold)


# --- approvals ---------------------------------------------------------------------------------

TEAM = {"approvals": 2, "approvers": ["@acme/sre", "alice"]}
FROM = "approvals: {} of 2 from @acme/sre, alice"


@pytest.mark.parametrize(
    ("reviews", "state", "reason"),
    [
        ([], "pending", FROM.format(0)),
        ([review("bob")], "pending", FROM.format(1) + " (approved: @bob)"),
        (
            [review("bob"), review("carol", minute=1)],
            "pass",
            FROM.format(2) + " (approved: @bob, @carol)",
        ),
        ([review("bob"), review("bob", minute=1)], "pending", FROM.format(1) + " (approved: @bob)"),
        (  # a push after carol approved: her approval is stale
            [review("bob"), review("carol", sha=OLD)],
            "pending",
            FROM.format(1) + " (approved: @bob; 1 stale approval on an older commit)",
        ),
        (
            [review("bob", sha=OLD), review("carol", sha=OLD)],
            "pending",
            FROM.format(0) + " (2 stale approvals on older commits)",
        ),
        (  # approved again after the push
            [review("carol", sha=OLD), review("carol", minute=5)],
            "pending",
            FROM.format(1) + " (approved: @carol)",
        ),
        (  # GitLab without approval times: not bound to any commit
            [review("bob", sha=None)],
            "pending",
            FROM.format(0) + " (1 approval not tied to a commit)",
        ),
        (  # the latest review wins: approval withdrawn by a later change request
            [review("bob"), review("carol"), review("carol", "changes_requested", minute=1)],
            "fail",
            "approvals: @carol requested changes",
        ),
        (
            [review("carol", "changes_requested"), review("dave", "changes_requested")],
            "fail",
            "approvals: @carol, @dave requested changes",
        ),
        (  # ... and a later approval lifts the change request
            [review("carol", "changes_requested"), review("carol", minute=1), review("bob")],
            "pass",
            FROM.format(2) + " (approved: @bob, @carol)",
        ),
        (  # a comment keeps the earlier verdict
            [review("bob"), review("bob", "commented", minute=1)],
            "pending",
            FROM.format(1) + " (approved: @bob)",
        ),
        (
            [review("carol", "changes_requested"), review("carol", "commented", minute=1)],
            "fail",
            "approvals: @carol requested changes",
        ),
        ([review("bob"), review("bob", "dismissed", minute=1)], "pending", FROM.format(0)),
        (  # a change request on an older commit does not block the new head
            [review("carol", "changes_requested", sha=OLD), review("bob")],
            "pending",
            FROM.format(1) + " (approved: @bob)",
        ),
        (  # reviews arrive in any order; time decides
            [review("carol", "changes_requested", minute=2), review("carol", minute=1)],
            "fail",
            "approvals: @carol requested changes",
        ),
    ],
)
def test_approvals(reviews: list[Review], state: str, reason: str) -> None:
    eligible = frozenset({"bob", "carol", "dave"})
    result = gate("approvals", evaluate(inputs(TEAM, reviews=reviews, eligible=eligible)))
    assert (result.state, result.reason) == (state, reason)


@pytest.mark.parametrize(
    ("reviews", "extra", "reason"),
    [
        (  # the person who asked for the promotion cannot approve it, even if eligible
            [review("dave"), review("bob")],
            {"requesters": frozenset({"dave"})},
            FROM.format(1) + " (approved: @bob; not counted: @dave (requester))",
        ),
        (
            [review("Dave"), review("bob")],
            {"requesters": frozenset({"dave"})},
            FROM.format(1) + " (approved: @bob; not counted: @Dave (requester))",
        ),
        (  # bots never count, and are not worth mentioning
            [review("promobot"), review("renovate[bot]"), review("bob")],
            {"bots": frozenset({"promobot"})},
            FROM.format(1) + " (approved: @bob)",
        ),
        (
            [review("mallory"), review("bob")],
            {},
            FROM.format(1) + " (approved: @bob; not counted: @mallory (not an approver))",
        ),
        (  # a change request from someone who is not an approver blocks nothing
            [review("mallory", "changes_requested"), review("bob")],
            {},
            FROM.format(1) + " (approved: @bob)",
        ),
        (  # names are compared without case, as the forges do
            [review("BOB"), review("Carol")],
            {},
            FROM.format(2) + " (approved: @BOB, @Carol)",
        ),
    ],
)
def test_approvals_who_counts(reviews: list[Review], extra: dict[str, Any], reason: str) -> None:
    eligible = frozenset({"bob", "carol", "dave", "promobot", "renovate[bot]"})
    result = gate("approvals", evaluate(inputs(TEAM, reviews=reviews, eligible=eligible, **extra)))
    assert result.reason == reason
    assert result.state == ("pass" if reason.startswith(FROM.format(2)) else "pending")


def test_approvals_without_an_approver_list_take_anyone_the_caller_found_with_write_access() -> (
    None
):
    result = gate(
        "approvals",
        evaluate(inputs({"approvals": 1}, reviews=[review("bob")], eligible=frozenset({"bob"}))),
    )
    assert result == GateResult(
        "approvals", "pass", "approvals: 1 of 1 from people with write access (approved: @bob)"
    )


# --- soak --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("soak", "upstream", "ran", "versions", "state", "reason"),
    [
        (
            "30m",
            "qa",
            timedelta(minutes=12, seconds=40),
            "1.4.2",
            "pending",
            "soak: qa has run 1.4.2 since 2026-01-07 11:47 UTC; needs 30m, until 2026-01-07 12:18 UTC",
        ),
        (
            "30m",
            "qa",
            timedelta(minutes=29, seconds=59),
            "1.4.2",
            "pending",
            "soak: qa has run 1.4.2 since 2026-01-07 11:30 UTC; needs 30m, until 2026-01-07 12:01 UTC",
        ),
        (
            "30m",
            "qa",
            timedelta(minutes=30),
            "1.4.2",
            "pass",
            "soak: qa has run 1.4.2 since 2026-01-07 11:30 UTC (needs 30m)",
        ),
        (
            "30m",
            "dev",
            timedelta(hours=2, minutes=10),
            "",
            "pass",
            "soak: dev has run these versions since 2026-01-07 09:50 UTC (needs 30m)",
        ),
        (
            "1d",
            "staging",
            timedelta(hours=5),
            "image 1.4.2, chart 2.3.0",
            "pending",
            "soak: staging has run image 1.4.2, chart 2.3.0 since 2026-01-07 07:00 UTC; needs 1d, until 2026-01-08 07:00 UTC",
        ),
        (
            "30m",
            "qa",
            timedelta(minutes=-3),
            "1.4.2",
            "pending",
            "soak: qa has run 1.4.2 since 2026-01-07 12:03 UTC; needs 30m, until 2026-01-07 12:33 UTC",
        ),
        ("30m", None, timedelta(0), "1.4.2", "pass", "soak: no upstream to soak in"),
        ("30m", "qa", None, "", "pending", "soak: waiting to learn when qa got these versions"),
    ],
)
def test_soak(
    soak: str, upstream: str | None, ran: timedelta | None, versions: str, state: str, reason: str
) -> None:
    since = None if ran is None else NOW - ran
    given = inputs({"soak": soak}, upstream=upstream, upstream_since=since, versions=versions)
    assert gate("soak", evaluate(given)) == GateResult("soak", state, reason)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=45), "45s"),
        (timedelta(seconds=59.9), "59s"),
        (timedelta(minutes=12, seconds=59), "12m"),
        (timedelta(hours=1), "1h"),
        (timedelta(hours=2, minutes=10, seconds=5), "2h 10m"),
        (timedelta(hours=23, minutes=59), "23h 59m"),
        (timedelta(days=1), "1d"),
        (timedelta(days=1, hours=3, minutes=50), "1d 3h"),
        (timedelta(days=40), "40d"),
    ],
)
def test_durations_read_like_a_person_would_say_them(span: timedelta, text: str) -> None:
    assert duration(span) == text


# --- checks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("checks", "state", "reason"),
    [
        (
            [Check("validate", "success"), Check("lint", "success")],
            "pass",
            "checks: validate ✅, lint ✅",
        ),
        ([Check("lint", "success")], "pending", "checks: validate has not reported"),
        ([], "pending", "checks: validate, lint have not reported"),
        (
            [Check("validate", "pending"), Check("lint", "success")],
            "pending",
            "checks: validate is running",
        ),
        (
            [Check("validate", "failure"), Check("lint", "success")],
            "fail",
            "checks: validate failed",
        ),
        (
            [Check("validate", "failure"), Check("lint", "pending")],
            "fail",
            "checks: validate failed; lint is running",
        ),
        (  # a commit status and a check run with one name: the worse decides
            [Check("validate", "failure"), Check("validate", "success"), Check("lint", "success")],
            "fail",
            "checks: validate failed",
        ),
        (  # checks nobody asked for do not matter
            [Check("validate", "success"), Check("lint", "success"), Check("e2e", "failure")],
            "pass",
            "checks: validate ✅, lint ✅",
        ),
        (  # names match exactly
            [Check("Validate", "success"), Check("lint", "success")],
            "pending",
            "checks: validate has not reported",
        ),
    ],
)
def test_checks(checks: list[Check], state: str, reason: str) -> None:
    result = gate("checks", evaluate(inputs({"checks": ["validate", "lint"]}, checks=checks)))
    assert (result.state, result.reason) == (state, reason)


# --- freeze ------------------------------------------------------------------------------------

WEEKEND = "Fri 16:00 - Mon 08:00 Europe/Zurich"


@pytest.mark.parametrize(
    ("window", "now", "frozen"),
    [
        # winter (CET, UTC+1): Friday 16:00 in Zurich is 15:00 UTC
        (WEEKEND, utc("2026-01-09T14:59"), False),
        (WEEKEND, utc("2026-01-09T15:00"), True),
        (WEEKEND, utc("2026-01-10T12:00"), True),
        (WEEKEND, utc("2026-01-12T06:59"), True),
        (WEEKEND, utc("2026-01-12T07:00"), False),
        # summer (CEST, UTC+2): the same wall-clock times are an hour earlier in UTC
        (WEEKEND, utc("2026-07-10T13:59"), False),
        (WEEKEND, utc("2026-07-10T14:00"), True),
        (WEEKEND, utc("2026-07-13T05:59"), True),
        (WEEKEND, utc("2026-07-13T06:00"), False),
        # a window across the spring change (Sun 29 March 2026): starts in CET, ends in CEST
        ("Sat 22:00 - Mon 06:00 Europe/Zurich", utc("2026-03-28T20:59"), False),
        ("Sat 22:00 - Mon 06:00 Europe/Zurich", utc("2026-03-28T21:00"), True),
        ("Sat 22:00 - Mon 06:00 Europe/Zurich", utc("2026-03-30T03:59"), True),
        ("Sat 22:00 - Mon 06:00 Europe/Zurich", utc("2026-03-30T04:00"), False),
        # ... and across the autumn change (Sun 25 October 2026): starts in CEST, ends in CET
        ("Sat 22:00 - Mon 06:00 Europe/Zurich", utc("2026-10-24T19:59"), False),
        ("Sat 22:00 - Mon 06:00 Europe/Zurich", utc("2026-10-24T20:00"), True),
        ("Sat 22:00 - Mon 06:00 Europe/Zurich", utc("2026-10-26T04:59"), True),
        ("Sat 22:00 - Mon 06:00 Europe/Zurich", utc("2026-10-26T05:00"), False),
        # 02:30 does not exist on the spring-forward day: the window starts when the clock
        # jumps from 02:00 to 03:00, the first moment it reads 02:30 or later
        ("Sun 02:30 - Sun 04:00 Europe/Zurich", zurich("2026-03-29T01:59"), False),
        ("Sun 02:30 - Sun 04:00 Europe/Zurich", zurich("2026-03-29T03:00"), True),
        ("Sun 02:30 - Sun 04:00 Europe/Zurich", zurich("2026-03-29T03:59"), True),
        ("Sun 02:30 - Sun 04:00 Europe/Zurich", zurich("2026-03-29T04:00"), False),
        ("Sun 02:30 - Sun 04:00 Europe/Zurich", zurich("2026-03-22T02:29"), False),  # a week before
        ("Sun 02:30 - Sun 04:00 Europe/Zurich", zurich("2026-03-22T02:30"), True),
        ("Sun 01:00 - Sun 02:30 Europe/Zurich", zurich("2026-03-29T01:59"), True),
        ("Sun 01:00 - Sun 02:30 Europe/Zurich", zurich("2026-03-29T03:00"), False),
        # 02:00-03:00 happens twice on the fall-back day: a boundary is its first occurrence,
        # and a window that ended does not reopen when the clock goes back
        ("Sun 01:00 - Sun 02:30 Europe/Zurich", zurich("2026-10-25T02:29"), True),
        ("Sun 01:00 - Sun 02:30 Europe/Zurich", zurich("2026-10-25T02:30"), False),
        ("Sun 01:00 - Sun 02:30 Europe/Zurich", zurich("2026-10-25T02:15", fold=1), False),
        ("Sun 02:30 - Sun 05:00 Europe/Zurich", zurich("2026-10-25T02:15", fold=1), True),
        ("Sun 02:30 - Sun 05:00 Europe/Zurich", zurich("2026-10-25T02:29"), False),
        # wrapping around the end of the week
        ("Sat 22:00 - Mon 06:00 UTC", utc("2026-01-10T21:59"), False),
        ("Sat 22:00 - Mon 06:00 UTC", utc("2026-01-11T12:00"), True),
        ("Sat 22:00 - Mon 06:00 UTC", utc("2026-01-12T05:59"), True),
        ("Sat 22:00 - Mon 06:00 UTC", utc("2026-01-12T06:00"), False),
        ("Sun 20:00 - Sun 23:00 UTC", utc("2026-01-11T21:00"), True),
        ("Sun 20:00 - Sun 23:00 UTC", utc("2026-01-11T23:00"), False),
        ("Sun 20:00 - Sun 23:00 UTC", utc("2026-01-12T21:00"), False),
        # ends before it starts on the same day: all week but Sunday 20:00-23:00
        ("Sun 23:00 - Sun 20:00 UTC", utc("2026-01-07T12:00"), True),
        ("Sun 23:00 - Sun 20:00 UTC", utc("2026-01-11T19:59"), True),
        ("Sun 23:00 - Sun 20:00 UTC", utc("2026-01-11T21:00"), False),
        ("Sun 23:00 - Sun 20:00 UTC", utc("2026-01-11T23:00"), True),
        ("Mon 08:00 - Mon 08:00 UTC", utc("2026-01-12T08:00"), True),
        ("Fri 16:00 - Fri 24:00 UTC", utc("2026-01-09T23:59"), True),
        ("Fri 16:00 - Fri 24:00 UTC", utc("2026-01-10T00:00"), False),
    ],
)
def test_freeze_windows_follow_the_wall_clock(window: str, now: datetime, frozen: bool) -> None:
    found = in_freeze([parse_freeze(window)], now)
    assert found == (parse_freeze(window) if frozen else None)
    result = gate("freeze", evaluate(inputs({"freeze": [window]}, now=now)))
    assert result.state == ("pending" if frozen else "pass")


@pytest.mark.parametrize(
    ("windows", "now", "reason"),
    [
        ([WEEKEND], utc("2026-01-10T12:00"), f"freeze: in the window {WEEKEND} until Mon 08:00"),
        ([WEEKEND], utc("2026-01-07T12:00"), "not in a freeze window"),
        (  # the window that applies is named
            ["Wed 09:00 - Wed 10:00 UTC", "Wed 11:00 - Wed 13:00 UTC"],
            utc("2026-01-07T12:00"),
            "freeze: in the window Wed 11:00 - Wed 13:00 UTC until Wed 13:00",
        ),
        (  # written loosely, shown as a clock
            ["fri 9:00 - sat 9:05 UTC"],
            utc("2026-01-09T12:00"),
            "freeze: in the window Fri 09:00 - Sat 09:05 UTC until Sat 09:05",
        ),
        (
            ["Mon 08:00 - Mon 08:00 UTC"],
            utc("2026-01-07T12:00"),
            "freeze: in the window Mon 08:00 - Mon 08:00 UTC, which spans the whole week",
        ),
    ],
)
def test_freeze_reason(windows: list[str], now: datetime, reason: str) -> None:
    result = gate("freeze", evaluate(inputs({"freeze": windows}, now=now)))
    assert result.reason == reason


# --- hold and the set of gates -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "why", "result"),
    [
        (frozenset(), None, GateResult("hold", "pass", "not on hold")),
        (
            frozenset({"promotion", "env:prod"}),
            "ignored",
            GateResult("hold", "pass", "not on hold"),
        ),
        (frozenset({HOLD_LABEL}), None, GateResult("hold", "fail", "hold: on hold")),
        (
            frozenset({HOLD_LABEL}),
            "waiting for the\nDB migration ",
            GateResult("hold", "fail", "hold: on hold (waiting for the DB migration)"),
        ),
        (frozenset({"Promobot:Hold"}), "", GateResult("hold", "fail", "hold: on hold")),
    ],
)
def test_hold(labels: frozenset[str], why: str | None, result: GateResult) -> None:
    assert evaluate(inputs({}, labels=labels, hold_reason=why)) == [result]


@pytest.mark.parametrize(
    ("gates", "names"),
    [
        ({}, ["hold"]),
        ({"approvals": 0, "approvers": ["alice"]}, ["hold"]),
        ({"checks": ["validate"], "soak": "1h"}, ["soak", "checks", "hold"]),
        (
            {"freeze": [WEEKEND], "checks": ["validate"], "soak": "1h", "approvals": 1},
            ["approvals", "soak", "checks", "freeze", "hold"],
        ),
    ],
)
def test_only_configured_gates_are_evaluated_in_a_fixed_order(
    gates: dict[str, Any], names: list[str]
) -> None:
    assert [r.name for r in evaluate(inputs(gates, upstream="qa"))] == names


def test_a_time_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="must carry a time zone"):
        evaluate(inputs({}, now=datetime(2026, 1, 7, 12, 0)))
    with pytest.raises(ValueError, match="must carry a time zone"):
        evaluate(inputs({"soak": "1h"}, upstream="qa", upstream_since=datetime(2026, 1, 7, 11, 0)))


# --- overall -----------------------------------------------------------------------------------

PASS = GateResult("soak", "pass", "soak: no upstream to soak in")
PENDING = GateResult("approvals", "pending", "approvals: 1 of 2 from @acme/sre")
FAIL = GateResult("checks", "fail", "checks: validate failed")
HELD = GateResult("hold", "fail", "hold: on hold")


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([], GateResult("gates", "pass", "all gates pass")),
        (
            [PASS, GateResult("hold", "pass", "not on hold")],
            GateResult("gates", "pass", "all gates pass"),
        ),
        ([PASS, PENDING], GateResult("gates", "pending", PENDING.reason)),
        ([PENDING, FAIL, HELD], GateResult("gates", "fail", FAIL.reason)),  # a failure outranks
        ([PASS, HELD, FAIL], GateResult("gates", "fail", HELD.reason)),
    ],
)
def test_overall(results: list[GateResult], expected: GateResult) -> None:
    assert overall(results) == expected
    assert overall(results).passed == (expected.state == "pass")


def test_overall_fits_a_github_status_description() -> None:
    approvers = [f"@acme/team-{i}" for i in range(20)]
    results = evaluate(
        inputs(
            {"approvals": 2, "approvers": approvers},
            reviews=[review("bob")],
            eligible=frozenset({"bob"}),
        )
    )
    assert len(results[0].reason) > 140  # the checklist in the body keeps it whole
    status = overall(results)
    assert len(status.reason) == 140
    assert status.reason.startswith("approvals: 1 of 2 from @acme/team-0, @acme/team-1")
    assert status.reason.endswith("…")
    short = overall([GateResult("soak", "pending", "x" * 140)])
    assert short.reason == "x" * 140


# --- next_change -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gates", "extra", "now", "expected"),
    [
        ({}, {}, NOW, None),
        ({"checks": ["validate"], "approvals": 1}, {}, NOW, None),
        (
            {"soak": "30m"},
            {"upstream": "qa", "upstream_since": NOW - timedelta(minutes=12)},
            NOW,
            NOW + timedelta(minutes=18),
        ),
        (
            {"soak": "30m"},
            {"upstream": "qa", "upstream_since": NOW - timedelta(minutes=30)},
            NOW,
            None,
        ),
        ({"soak": "30m"}, {"upstream": "qa", "upstream_since": None}, NOW, None),
        ({"soak": "30m"}, {"upstream_since": NOW}, NOW, None),
        # outside the window: when it starts; inside: when it ends (Zurich wall clock, in UTC)
        ({"freeze": [WEEKEND]}, {}, utc("2026-01-07T12:00"), utc("2026-01-09T15:00")),
        ({"freeze": [WEEKEND]}, {}, utc("2026-01-09T15:00"), utc("2026-01-12T07:00")),
        ({"freeze": [WEEKEND]}, {}, utc("2026-07-08T12:00"), utc("2026-07-10T14:00")),
        (
            {"freeze": [WEEKEND]},
            {},
            utc("2026-03-28T12:00"),
            utc("2026-03-30T06:00"),
        ),  # ends in CEST
        (
            {"freeze": [WEEKEND]},
            {},
            utc("2026-10-24T12:00"),
            utc("2026-10-26T07:00"),
        ),  # ends in CET
        (
            {"freeze": ["Sun 02:30 - Sun 04:00 Europe/Zurich"]},
            {},
            utc("2026-03-28T12:00"),
            utc("2026-03-29T01:00"),
        ),
        (
            {"freeze": ["Sun 01:00 - Sun 02:30 Europe/Zurich"]},
            {},
            utc("2026-10-25T00:00"),
            utc("2026-10-25T00:30"),
        ),
        ({"freeze": ["Mon 08:00 - Mon 08:00 UTC"]}, {}, NOW, None),  # never ends
        (  # the earliest of soak and freeze
            {"soak": "3d", "freeze": [WEEKEND]},
            {"upstream": "qa", "upstream_since": utc("2026-01-07T11:00")},
            utc("2026-01-07T12:00"),
            utc("2026-01-09T15:00"),
        ),
        (
            {"soak": "1h", "freeze": [WEEKEND]},
            {"upstream": "qa", "upstream_since": utc("2026-01-07T11:30")},
            utc("2026-01-07T12:00"),
            utc("2026-01-07T12:30"),
        ),
    ],
)
def test_next_change(
    gates: dict[str, Any], extra: dict[str, Any], now: datetime, expected: datetime | None
) -> None:
    when = next_change(inputs(gates, now=now, **extra))
    assert when == expected
    if when is not None:
        assert when.tzinfo == UTC


def test_the_gate_flips_at_next_change() -> None:
    given = inputs(
        {"soak": "30m", "freeze": [WEEKEND]},
        upstream="qa",
        upstream_since=utc("2026-01-09T14:50"),
        now=utc("2026-01-09T15:10"),
    )
    states = [r.state for r in evaluate(given)]
    assert states == ["pending", "pending", "pass"]
    when = next_change(given)
    assert when == utc("2026-01-09T15:20")  # soak ends first, inside the freeze
    after = evaluate(Inputs(**{**given.__dict__, "now": when}))
    assert [r.state for r in after] == ["pass", "pending", "pass"]
    assert next_change(Inputs(**{**given.__dict__, "now": when})) == utc("2026-01-12T07:00")


def test_the_soak_text_changes_with_the_facts_not_with_the_clock() -> None:
    """A checklist whose text ticks would be rewritten on every look, each rewrite an event."""
    since = NOW - timedelta(minutes=5)
    texts = {
        gate("soak", evaluate(inputs({"soak": "30m"}, upstream="qa", upstream_since=since,
                                     now=NOW + timedelta(minutes=m)))).reason
        for m in (0, 1, 7, 24)
    }  # fmt: skip
    assert len(texts) == 1
    done = inputs(
        {"soak": "30m"}, upstream="qa", upstream_since=since, now=NOW + timedelta(hours=1)
    )
    assert gate("soak", evaluate(done)).state == "pass"
