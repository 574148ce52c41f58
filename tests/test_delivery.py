"""Delivery metrics on hand-made histories: what each figure counts, and its edge cases."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from bot.delivery import Change, Durations, Log, measure

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ORDER = ("dev", "staging", "prod")
UPSTREAMS: Mapping[str, str | None] = {"dev": None, "staging": "dev", "prod": "staging"}


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def change(
    commit: str,
    days: float,
    before: str | None,
    after: str | None,
    subject: str = "",
    app: str = "api",
    first: bool = False,
) -> Change:
    """One app's image moving from `before` to `after` (None: not there)."""

    def versions(v: str | None) -> Mapping[str, str] | None:
        return None if v is None else {"image": v}

    return Change(commit, ago(days), subject, {app: (versions(before), versions(after))}, first)


def log(*changes: Change, since: datetime | None = None) -> Log:
    return Log(sorted(changes, key=lambda c: c.time, reverse=True), since)


def test_no_promotions_gives_zeros_and_no_rates() -> None:
    report = measure(ORDER, UPSTREAMS, {}, NOW)
    for env in report.environments:
        assert env.deployments == 0 and env.per_day == 0
        assert env.change_failure_rate is None
        assert env.restore.median is None
        assert [w.deployments for w in env.weeks] == [0] * 5  # 30 days: 5 weeks of bars
    assert report.environments[0].lead_time is None  # dev is where versions start
    assert report.environments[2].lead_time == Durations(())


def test_deployment_frequency_counts_commits_in_the_window_but_not_the_start() -> None:
    logs = {
        "dev": log(
            change("a", 40, None, "1.0", first=True),  # the environment's creation
            change("b", 35, "1.0", "1.1"),  # before the window
            change("c", 20, "1.1", "1.2"),
            change("d", 10, "1.2", "1.3"),
            change("e", 1, "1.3", "1.4"),
            change("f", 0.5, "1.4", None),  # the app removed: not a deployment
        )
    }
    dev = measure(ORDER, UPSTREAMS, logs, NOW).environments[0]
    assert dev.deployments == 3
    assert dev.per_day == pytest.approx(3 / 30)
    assert dev.per_week == pytest.approx(0.7)
    assert [w.deployments for w in dev.weeks] == [1, 0, 1, 1, 1]  # the bars cover 35 days: b too
    assert all(w.read for w in dev.weeks)


def test_a_cut_history_counts_over_the_days_it_covers() -> None:
    logs = {"dev": log(change("c", 5, "1.1", "1.2"), change("d", 1, "1.2", "1.3"), since=ago(10))}
    dev = measure(ORDER, UPSTREAMS, logs, NOW).environments[0]
    assert dev.since == ago(10) and dev.days == pytest.approx(10)
    assert dev.per_day == pytest.approx(0.2)
    assert [w.read for w in dev.weeks] == [False, False, False, False, True]


def test_lead_time_from_first_sight_in_the_source_environment() -> None:
    logs = {
        "dev": log(
            change("d1", 20, "1.0", "1.1"),
            change("d2", 10, "1.1", "1.2"),
            change("d3", 2, "1.2", "1.3"),  # never reaches prod
        ),
        "staging": log(change("s1", 19, "1.0", "1.1"), change("s2", 9, "1.1", "1.2")),
        "prod": log(change("p1", 17, "1.0", "1.1")),
    }
    report = measure(ORDER, UPSTREAMS, logs, NOW)
    _, staging, prod = report.environments
    assert staging.lead_time is not None and prod.lead_time is not None
    assert staging.lead_time.seconds == (86400.0, 86400.0)
    assert prod.lead_time.seconds == (3 * 86400.0,)  # 1.1 only: 1.2 and 1.3 did not get there
    assert prod.lead_time.median == prod.lead_time.p90 == 3 * 86400.0


def test_a_version_already_there_when_the_history_starts_has_no_lead_time() -> None:
    logs = {
        "dev": log(change("d1", 20, "1.0", "1.1"), since=ago(25)),  # 1.0 predates what was read
        "prod": log(change("p1", 5, "0.9", "1.0"), change("p2", 4, "1.0", "1.1")),
    }
    prod = measure(ORDER, UPSTREAMS, logs, NOW).environments[2]
    assert prod.lead_time is not None and prod.lead_time.seconds == (16 * 86400.0,)


def test_versions_an_environment_was_created_with_have_no_lead_time() -> None:
    logs = {
        "dev": log(change("d0", 20, None, "1.0", first=True), change("d1", 9, "1.0", "1.1")),
        "prod": log(change("p0", 20, None, "1.0", first=True), change("p1", 8, "1.0", "1.1")),
    }
    prod = measure(ORDER, UPSTREAMS, logs, NOW).environments[2]
    assert prod.lead_time is not None and prod.lead_time.seconds == (86400.0,)


def test_lead_time_percentiles() -> None:
    durations = Durations(tuple(float(s) for s in range(1, 11)))
    assert durations.median == 5.5
    assert durations.p90 == 9.0  # nearest rank: a value that occurred


def test_a_rollback_fails_the_change_it_undoes_and_times_the_restore() -> None:
    logs = {
        "prod": log(
            change("p1", 10, "1.0", "1.1"),
            change("p2", 6, "1.1", "1.2"),
            change("p3", 5.5, "1.2", "1.1", subject="Roll back api in prod (#7)"),
            change("p4", 2, "1.1", "1.3"),
        )
    }
    prod = measure(ORDER, UPSTREAMS, logs, NOW).environments[2]
    assert prod.deployments == 4  # a rollback is a deployment too
    assert prod.changes == 3 and prod.failed == 1  # but not a change that can fail
    assert prod.change_failure_rate == pytest.approx(1 / 3)
    (rollback,) = prod.rollbacks
    assert rollback.commit == "p3" and rollback.undone == ("p2",) and rollback.apps == ("api",)
    assert prod.restore.median == 0.5 * 86400


def test_a_rollback_over_several_changes_times_from_the_oldest() -> None:
    logs = {
        "prod": log(
            change("p1", 10, "1.0", "1.1"),
            change("p2", 8, "1.1", "1.2"),
            change("p3", 7, "1.2", "1.1"),  # a person's revert, no title: still a rollback
        ),
        "staging": log(
            change("s1", 10, "1.0", "1.1"),
            change("s2", 9, "1.1", "1.2"),
            change("s3", 8, "1.2", "1.3"),
            change("s4", 7, "1.3", "1.1"),  # back over two changes
        ),
    }
    _, staging, prod = measure(ORDER, UPSTREAMS, logs, NOW).environments
    assert prod.failed == 1 and prod.rollbacks[0].undone == ("p2",)
    assert staging.failed == 2 and staging.change_failure_rate == pytest.approx(2 / 3)
    assert staging.rollbacks[0].undone == ("s2", "s3")
    assert staging.rollbacks[0].seconds == 2 * 86400


def test_re_applying_what_a_rollback_undid_is_a_new_change() -> None:
    logs = {
        "prod": log(
            change("p1", 10, "1.0", "1.1"),
            change("p2", 9, "1.1", "1.0"),
            change("p3", 8, "1.0", "1.1"),  # forward again, not a rollback of the rollback
        )
    }
    prod = measure(ORDER, UPSTREAMS, logs, NOW).environments[2]
    assert [r.commit for r in prod.rollbacks] == ["p2"]
    assert prod.changes == 2 and prod.failed == 1


def test_a_titled_rollback_to_before_the_history_undoes_the_latest_change() -> None:
    logs = {
        "prod": log(
            change("p1", 10, "0.9", "1.1"),
            change("p2", 9, "1.1", "0.8", subject="Roll back api in prod"),
        )
    }
    prod = measure(ORDER, UPSTREAMS, logs, NOW).environments[2]
    assert prod.failed == 1 and prod.rollbacks[0].undone == ("p1",)


def test_the_report_as_json() -> None:
    logs = {"prod": log(change("p1", 3, "1.0", "1.1"), change("p2", 2, "1.1", "1.0"))}
    data = measure(ORDER, UPSTREAMS, logs, NOW).to_json()
    assert data["window_days"] == 30
    prod = data["environments"][2]
    assert prod["env"] == "prod" and prod["upstream"] == "staging"
    assert prod["deployments"] == 2 and prod["change_failure_rate"] == 1.0
    assert prod["time_to_restore"] == {
        "count": 1,
        "median_seconds": 86400.0,
        "p90_seconds": 86400.0,
    }
    assert prod["rollbacks"][0]["undone"] == ["p1"]
