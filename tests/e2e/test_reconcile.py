"""The reconcile loop at the cost of what changed: it re-evaluates the PRs that moved, the ones
whose timers ran out and a few of the rest; a missed webhook is still made good, on GitHub and
GitLab, and a soak timer wakes its PR on time with no event at all (a real process)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot import budget, events
from bot.errors import Paced, RateLimited
from bot.gatekeeper import Gatekeeper
from bot.pacing import Pacer
from bot.settings import Settings
from tests.conftest import MakeRepo, git
from tests.e2e.scene import Scene, steering
from tests.e2e.service import Promobot, wait_for


def publish(scene: Scene, version: str) -> None:
    scene.service.handle(events.Artifact(source_key="image:ghcr.io/acme/api", version=version))


def prod_prs(scene: Scene) -> None:
    publish(scene, "1.5.0")
    scene.say("bob", scene.open_pr("dev").number, "/merge")
    scene.clock.now += timedelta(minutes=31)
    scene.service.review_open()  # staging's soak ran out: it merges; prod-eu and prod-us open


def evaluated(scene: Scene) -> list[int]:
    return sorted(v.pr.number for v in scene.service.gatekeeper.evaluate_all())


def test_a_reconcile_looks_again_only_at_what_moved(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a look right after a change is looked at once more (a comment in the same second would
    # not move `updated_at`); here every look counts at once, to see the choice itself
    monkeypatch.setattr("bot.gatekeeper.SETTLE_SECONDS", 0.0)
    prod_prs(scene)
    eu, us = scene.open_pr("prod-eu"), scene.open_pr("prod-us")
    gatekeeper = scene.service.gatekeeper
    gatekeeper.sweep = 0  # no safety sweep, to see the choice itself
    evaluated(scene)  # settle: promobot's own last writes may have moved them
    assert evaluated(scene) == []  # nothing moved: nothing to look at
    time.sleep(1)  # forges time PRs to the second
    scene.post("alice", eu.number, "looks good")  # promobot is not told
    assert evaluated(scene) == [eu.number]  # the comment moved the PR
    gatekeeper.sweep = 1
    # The sweep is for statuses whose webhook was lost: prod has no `checks:` gate, so no
    # status can change its gates, and nothing is looked at
    assert evaluated(scene) == []
    repo = scene.world.repos["acme/env-repo"]
    text = repo.git.text("show", "refs/heads/main:.promobot.yaml")
    gated = text.replace(
        'approvers: ["@acme/sre"]\n', 'approvers: ["@acme/sre"]\n      checks: [ci]\n'
    )
    assert gated != text
    scene.world.push("acme/env-repo", "main", {".promobot.yaml": gated}, "prod needs CI")
    assert len(evaluated(scene)) == 1  # now it does: the one looked at longest ago
    assert us.number in evaluated(scene) + evaluated(scene)  # the sweep goes round


def evaluation_cost(scene: Scene, gatekeeper: Gatekeeper, number: int) -> int:
    scene.world.reset_calls()
    gatekeeper.evaluate(scene.service.forge.get_pr(number))
    return sum(scene.world.calls.values())


def test_a_soak_reads_the_upstream_history_again_only_when_the_upstream_moves(
    scene: Scene,
) -> None:
    publish(scene, "1.5.0")
    scene.say("bob", scene.open_pr("dev").number, "/merge")  # staging opens and soaks 30m
    staging = scene.open_pr("staging").number
    assert "soak: dev has run image 1.5.0 since" in scene.pr(staging).body
    # a review, a sweep, a timer: the history of dev is known, as long as dev's files stay
    known = [evaluation_cost(scene, scene.service.gatekeeper, staging) for _ in range(3)]
    fresh = Gatekeeper(scene.service.engine, scene.clock)  # a process that just started
    first = evaluation_cost(scene, fresh, staging)
    assert max(known) < first  # the log of dev's files (snapshots the forge keeps anyway)
    time.sleep(1)  # forges time commits to the second
    publish(scene, "1.6.0")  # dev moves on: staging's PR is rebuilt and its soak starts again
    scene.say("bob", scene.open_pr("dev").number, "/merge")
    body = scene.pr(staging).body
    assert "soak: dev has run image 1.6.0 since" in body and "1.5.0 since" not in body


def test_a_missed_review_webhook_is_made_good_by_the_reconcile(scene: Scene) -> None:
    """The approval's webhook never arrives; the next reconcile sees the PR moved and merges."""
    prod_prs(scene)
    eu = scene.open_pr("prod-eu")
    scene.service.review_open()
    time.sleep(1)  # forges time PRs to the second
    sha = scene.pr(eu.number).head_sha
    if scene.kind == "github":
        scene.api("alice", "POST", f"/repos/acme/env-repo/pulls/{eu.number}/reviews",
                  event="APPROVE", commit_id=sha)  # fmt: skip
    else:
        scene.api("alice", "POST", f"{scene.mr}/{eu.number}/approve", sha=sha)
    assert scene.main_file("prod-eu") == "image:\n  tag: 1.4.2"  # nobody told promobot
    assert scene.gates_status(eu.number) == "pending"
    scene.service.gatekeeper.sweep = 0  # the PR moved: no sweep needed to find it
    scene.service.review_open()
    assert scene.gates_status(eu.number) == "success"


def test_an_ended_soak_wakes_its_pr_at_that_instant(scene: Scene) -> None:
    woken: list[tuple[int, datetime]] = []
    scene.service.gatekeeper.wake = lambda number, at: woken.append((number, at))
    publish(scene, "1.5.0")
    scene.say("bob", scene.open_pr("dev").number, "/merge")  # staging opens and soaks 30m
    staging = scene.open_pr("staging")
    assert [n for n, _ in woken] == [staging.number]
    at = woken[0][1]
    assert timedelta(minutes=29) < at - scene.clock.now <= timedelta(minutes=30)
    scene.clock.now = at  # the delayed job runs then, with no event and no reconcile
    scene.service.run({"kind": "evaluate", "number": staging.number})
    assert scene.main_file("staging") == "image:\n  tag: 1.5.0"


def test_promobot_serve_merges_when_the_soak_ends_with_no_event(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    """A real process on a local repo, reconciling only hourly: staging soaks 3 seconds after
    dev changed; its promotion merges then, woken by the timer the gates computed."""
    config = """\
version: 1
environments:
  dev: {}
  staging: {from: dev, auto_merge: true, gates: {soak: 3s}}
apps:
  api:
    components:
      image:
        source: {image: ghcr.io/acme/api}
        target: {file: "envs/{env}/values.yaml", field: image.tag}
"""
    repo = make_repo(files={
        ".promobot.yaml": config,
        "envs/dev/values.yaml": "image:\n  tag: 1.0.0\n",
        "envs/staging/values.yaml": "image:\n  tag: 1.0.0\n",
    })  # fmt: skip
    (repo / "envs/dev/values.yaml").write_text("image:\n  tag: 1.1.0\n")
    git(repo, "commit", "-qam", "dev: 1.1.0")
    settings = {
        "PROMOBOT_FORGE": "local", "PROMOBOT_REPO": str(repo),
        "PROMOBOT_DATA_DIR": str(tmp_path / "data"), "PROMOBOT_RECONCILE_INTERVAL": "1h",
    }  # fmt: skip
    with Promobot(settings):
        wait_for("the staging branch", lambda: git(repo, "branch", "--list", "promobot/staging/*"))
        wait_for(
            "staging to run 1.1.0",
            lambda: git(repo, "show", "main:envs/staging/values.yaml") == "image:\n  tag: 1.1.0",
            timeout=20,
        )


def test_a_burst_of_published_versions_costs_one_sync(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twenty tags pushed in a burst (a CI matrix, a retag): twenty requests, one sync, one PR
    proposing the newest."""
    monkeypatch.setattr(Settings, "coalesce_seconds", property(lambda self: 0.0))
    service = scene.service
    synced: list[int] = []
    sync = service.sync
    monkeypatch.setattr(
        service, "sync", lambda artifacts=(): synced.append(len(artifacts)) or sync(artifacts)
    )
    for patch in range(20):
        service.submit_event(
            events.Artifact(source_key="image:ghcr.io/acme/api", version=f"1.5.{patch}")
        )
    service.queue.run_pending()
    assert synced == [20]
    assert scene.open_pr("dev").title == "Promote api to dev: image 1.4.2 → 1.5.19"


def test_a_tight_rate_limit_is_kept_for_commands(scene: Scene) -> None:
    """2 % of the hour's calls left: the reconcile and new promotions wait for the window to
    reset (the job is put back, as when the forge says so), a slash command still runs."""
    publish(scene, "1.5.0")
    dev = scene.open_pr("dev")
    scene.world.rate_remaining = scene.world.rate_limit // 50
    scene.forge.get_pr(dev.number)  # promobot learns what is left from the answer
    with pytest.raises(RateLimited) as waited:
        scene.service.run({"kind": "reconcile"})
    assert waited.value.retry_after > 60
    with pytest.raises(RateLimited):
        scene.service.run({"kind": "sync", "ticket": 0})
    comment = scene.post("bob", dev.number, "/hold until the window resets")
    event = scene.comment_event("bob", dev.number, comment, "/hold until the window resets")
    scene.service.run({"kind": "event", "event": event.model_dump(mode="json")})
    assert "promobot:hold" in scene.pr(dev.number).labels


def test_a_command_the_reconcile_finds_in_a_flood_takes_the_room_kept_for_commands(
    tmp_path: Path,
) -> None:
    """Another repo's flood has taken a sync's share of the installation's minute; the
    reconcile's sync finds a `/hold` promobot was never told of. Its comment is claimed once,
    so it runs now or never: its writes take the room kept for commands."""
    with steering("github", tmp_path) as scene:
        publish(scene, "1.5.0")
        dev = scene.open_pr("dev")
        clock, slept = [time.time()], []
        pacer = Pacer(
            scene.service.queue.queue, "github", 40, clock=lambda: clock[0], sleep=slept.append
        )
        scene.forge.pacer = pacer  # type: ignore[attr-defined]
        with budget.spending("github", "sync"):  # as the reconcile's sync job
            for _ in range(30):
                pacer.take()  # a sync's share: 30 of 40
            with pytest.raises(Paced):
                pacer.take()
            scene.post("bob", dev.number, "/hold deploy freeze")
            scene.service.runner.pick_up(dev.number)
        assert "promobot:hold" in scene.pr(dev.number).labels
        assert slept == []  # at once: its writes fit in the 10 of 40 kept for commands
