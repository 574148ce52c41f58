"""Gates, approvals, merges, rollback and every slash command, on GitHub and on GitLab.

The service runs in this process (its clock injected) against the forge simulator, through the
real client libraries; people act through the simulator's API with their own tokens, and each
action is handed to the service as the webhook would be.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest

from bot import events
from bot.gates import HOLD_LABEL
from tests.e2e.scene import REPO, Scene


def publish(scene: Scene, version: str) -> None:
    scene.service.handle(events.Artifact(source_key="image:ghcr.io/acme/api", version=version))


def test_a_version_travels_dev_staging_prod_through_every_gate(scene: Scene) -> None:
    # 1. a new image: a PR for dev, which has no gates but does not auto-merge
    publish(scene, "1.5.0")
    dev = scene.open_pr("dev")
    assert scene.gates_status(dev.number) == "success"
    assert "- [x] not on hold" in scene.pr(dev.number).body
    replies = scene.say("bob", dev.number, "/merge")
    assert "✅ Merged" in replies[0]
    assert scene.reacted(dev.number, "/merge")
    assert scene.main_file("dev") == "image:\n  tag: 1.5.0"

    # 2. the merge cascades to staging, which waits for dev to soak 30 minutes
    staging = scene.open_pr("staging")
    assert scene.gates_status(staging.number) == "pending"
    body = scene.pr(staging.number).body
    assert "- [ ] soak: dev has run image 1.5.0 since" in body and "; needs 30m, until" in body
    scene.clock.now += timedelta(minutes=31)
    scene.service.review_open()  # the reconcile loop: the soak timer ended without any event
    assert scene.main_file("staging") == "image:\n  tag: 1.5.0"  # staging auto-merges

    # 3. prod-eu and prod-us need an approval from @acme/sre
    eu, us = scene.open_pr("prod-eu"), scene.open_pr("prod-us")
    assert scene.gates_status(eu.number) == "pending"
    scene.approve("bob", eu.number)  # not an approver
    assert scene.gates_status(eu.number) == "pending"
    assert "(not counted: `@bob` (not an approver))" in scene.pr(eu.number).body
    refused = scene.say("bob", eu.number, "/merge")
    assert refused[0].startswith("> /merge\n\nNot merged — approvals: 0 of 1")
    scene.approve("alice", eu.number)
    assert scene.gates_status(eu.number) == "success"
    assert "✅ Merged" in scene.say("alice", eu.number, "/merge")[0]
    assert scene.main_file("prod-eu") == "image:\n  tag: 1.5.0"

    # 4. an approval given to an older head does not count after the PR is rebuilt
    scene.approve("dave", us.number)
    assert scene.gates_status(us.number) == "success"
    old_head = scene.pr(us.number).head_sha
    assert "Recomputed on the current base" in scene.say("alice", us.number, "/refresh")[0]
    assert scene.pr(us.number).head_sha != old_head
    assert scene.gates_status(us.number) == "pending"
    assert "stale" in scene.pr(us.number).body

    # 5. inside the freeze window nothing merges, whoever asks; outside it does
    scene.approve("dave", us.number)
    scene.clock.now = scene.freeze_start
    answer = scene.say("alice", us.number, "/merge")[0]
    assert "Not merged — freeze: in the window" in answer
    assert scene.main_file("prod-us") == "image:\n  tag: 1.4.2"
    scene.clock.now = scene.freeze_start + timedelta(hours=1)
    assert "✅ Merged" in scene.say("alice", us.number, "/merge")[0]
    assert scene.main_file("prod-us") == "image:\n  tag: 1.5.0"


def test_hold_unhold_and_a_rollback(scene: Scene) -> None:
    publish(scene, "1.5.0")
    dev = scene.open_pr("dev")
    hold = scene.say("bob", dev.number, "/hold waiting for the DB migration")
    assert "On hold: waiting for the DB migration" in hold[0]
    assert HOLD_LABEL in scene.pr(dev.number).labels
    assert scene.gates_status(dev.number) == "failure"
    assert "Not merged — hold: on hold" in scene.say("bob", dev.number, "/merge")[0]
    assert "Released" in scene.say("bob", dev.number, "/unhold")[0]
    assert HOLD_LABEL not in scene.pr(dev.number).labels
    assert scene.gates_status(dev.number) == "success"
    assert "✅ Merged" in scene.say("bob", dev.number, "/merge")[0]
    assert scene.main_file("dev") == "image:\n  tag: 1.5.0"

    # roll dev back to what it ran before: a PR with the way back in its table
    staging = scene.open_pr("staging")
    reply = scene.say("alice", staging.number, "/rollback api --env dev")[0]
    assert "Rolling back api in dev to" in reply and "opened #" in reply
    back = scene.rollback_pr("dev")
    assert back.title == "Roll back api in dev: image 1.5.0 → 1.4.2"
    meta = scene.service.engine.promotion_of(scene.pr(back.number))
    assert meta is not None and meta.reason == "rollback" and meta.requested_by == ("alice",)
    assert (
        "| image | [ghcr.io/acme/api](https://ghcr.io/acme/api) | 1.5.0 | **1.4.2** |" in back.body
    )
    assert "✅ Merged" in scene.say("alice", back.number, "/merge")[0]
    assert scene.main_file("dev") == "image:\n  tag: 1.4.2"


@pytest.mark.parametrize(
    ("command", "allowed", "refused", "allowed_says", "refused_says"),
    [
        (
            "/promote api --to prod-eu --only image --version 1.5.1",
            "alice",
            "bob",
            "opened #",
            "may not /promote to prod-eu",
        ),
        ("/rollback api --env dev", "dave", "bob", "Rolling back api in dev", "may not /rollback"),
        ("/hold careful", "bob", "carol", "On hold", "may not /hold"),
        ("/unhold", "bob", "carol", "Released", "may not /unhold"),
        ("/refresh", "bob", "carol", "", "may not /refresh"),
        ("/merge", "bob", "carol", "", "may not /merge"),
        ("/approve", "carol", "eve", "Approval by @carol recorded", "may not /approve"),
        (
            "/status",
            "carol",
            "eve",
            "| app | dev | staging | prod-eu | prod-us |",
            "may not /status",
        ),
        ("/history api --env dev", "carol", "eve", "**api** in **dev**, newest first", "may not"),
        ("/help", "carol", "eve", "| `/promote", "may not /help"),
    ],
)
def test_every_command_has_an_allowed_and_a_refused_path(
    scene: Scene, command: str, allowed: str, refused: str, allowed_says: str, refused_says: str
) -> None:
    publish(scene, "1.5.0")
    dev = scene.open_pr("dev")
    scene.say("bob", dev.number, "/merge")  # staging now has a PR; prod can be promoted to
    staging = scene.open_pr("staging")
    before = (scene.main_file("staging"), scene.pr(staging.number).labels)
    no = scene.say(refused, staging.number, command)
    assert len(no) == 1 and refused_says in no[0] and "Nothing was changed." in no[0]
    assert (scene.main_file("staging"), scene.pr(staging.number).labels) == before
    yes = scene.say(allowed, staging.number, command)
    assert len(yes) == 1 and "❌" not in yes[0] and allowed_says in yes[0]
    assert scene.reacted(staging.number, command)


def test_unknown_commands_get_the_help_and_a_suggestion_and_bots_are_ignored(scene: Scene) -> None:
    publish(scene, "1.5.0")
    dev = scene.open_pr("dev")
    reply = scene.say("bob", dev.number, "/promot api --to staging")
    assert "did you mean" in reply[0] and "/promote" in reply[0] and "| `/help`" in reply[0]
    event = events.CommentEvent(
        repo=REPO,
        number=dev.number,
        comment_id=1,
        body="/merge",
        author="renovate[bot]",
        author_is_bot=True,
        action="created",
        on_pull_request=True,
        from_fork=False,
    )
    assert scene.service.runner.handle(event) == []
    edited = event.model_copy(update={"author": "bob", "author_is_bot": False, "action": "edited"})
    assert scene.service.runner.handle(edited) == []
    assert scene.main_file("dev") == "image:\n  tag: 1.4.2"


def test_a_command_made_while_promobot_was_down_is_carried_out_by_the_reconcile(
    scene: Scene,
) -> None:
    publish(scene, "1.5.0")
    dev = scene.open_pr("dev")
    if scene.kind == "github":  # the comment exists on the forge, but no webhook reached promobot
        scene.api("bob", "POST", f"/repos/{REPO}/issues/{dev.number}/comments", body="/hold later")
    else:
        scene.api(
            "bob",
            "POST",
            f"/projects/{quote(REPO, safe='')}/merge_requests/{dev.number}/notes",
            body="/hold later",
        )
    scene.service.review_open()
    assert HOLD_LABEL in scene.pr(dev.number).labels
    replies = [c.body for c in scene.forge.comments(dev.number) if "On hold: later" in c.body]
    assert len(replies) == 1
    scene.service.review_open()  # acknowledged: not carried out twice
    assert len([c for c in scene.forge.comments(dev.number) if "On hold: later" in c.body]) == 1
