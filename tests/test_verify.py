"""`bot.verify.judge`: when a watched environment's cluster has taken a promotion, or not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.live import Live, Rollout
from bot.verify import Watch, judge

MERGED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
WATCH = Watch("staging", 7, MERGED, MERGED + timedelta(minutes=15), {"api": {"image": "1.5.0"}})
NEW = {"api": {"image": "1.5.0"}}
OLD = {"api": {"image": "1.4.2"}}


def report(health: str = "healthy", **fields: object) -> dict[str, Live]:
    live = Live(
        source="argocd", sync="synced", health=health, revision="a" * 40,  # type: ignore[arg-type]
        since=MERGED, observed=MERGED, **fields,  # type: ignore[arg-type]
    )  # fmt: skip
    return {"api": live}


def test_verified_once_the_cluster_runs_the_versions_synced_and_healthy() -> None:
    judged = judge(WATCH, report(), NEW, MERGED + timedelta(minutes=3))
    assert (judged.state, judged.holds) == ("verified", False)


def test_still_watching_while_it_syncs_or_runs_the_commit_before() -> None:
    soon = MERGED + timedelta(minutes=3)
    assert judge(WATCH, report("progressing"), NEW, soon) == WATCH
    assert judge(WATCH, report(), OLD, soon) == WATCH  # healthy, on the commit before
    assert judge(WATCH, {}, {}, soon) == WATCH  # nothing heard yet


def test_failed_when_degraded_on_the_new_versions_or_a_rollout_aborts() -> None:
    soon = MERGED + timedelta(minutes=3)
    judged = judge(WATCH, report("degraded", message="CrashLoopBackOff"), NEW, soon)
    assert (judged.state, judged.reason) == ("failed", "api is degraded: CrashLoopBackOff")
    assert judged.holds
    aborted = report("progressing", rollout=Rollout("canary", "aborted", 2, 5, 20))
    assert judge(WATCH, aborted, NEW, soon).state == "failed"
    # degraded on the commit before is not this promotion's doing: still watching
    assert judge(WATCH, report("degraded"), OLD, soon) == WATCH


def test_failed_when_the_time_runs_out_first_saying_what_each_app_was_doing() -> None:
    late = MERGED + timedelta(minutes=15)
    judged = judge(WATCH, report("progressing"), NEW, late)
    assert (judged.state, judged.reason) == ("failed", "not healthy in time: api (progressing)")
    assert judge(WATCH, {}, {}, late).reason == "not healthy in time: api (no report)"


def test_a_watch_is_kept_as_text_and_read_back_whole() -> None:
    judged = judge(WATCH, report("degraded"), NEW, MERGED + timedelta(minutes=1))
    assert Watch.from_text(judged.to_text()) == judged
