"""The merge gate attacked by the people who can write on the forge, on GitHub and on GitLab.

Each test names its attacker (see SECURITY.md), makes the attack through the simulator's API
with that person's own token, and shows that nothing merged and that promobot said why.
The service runs in this process against the simulator (`tests/e2e/scene.py`).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

import pytest

from bot import events
from bot.forges.base import PullRequest
from tests.e2e.scene import REPO, Scene
from tests.forgesim.world import clock_at

# --- getting a prod promotion on the table -------------------------------------------------------


def publish(scene: Scene, version: str) -> None:
    scene.service.handle(events.Artifact(source_key="image:ghcr.io/acme/api", version=version))


def prod_pr(scene: Scene) -> PullRequest:
    """1.5.0 through dev (bob merges) and staging (soaks, auto-merges): prod-eu's PR, which
    needs one approval from @acme/sre."""
    publish(scene, "1.5.0")
    assert "✅ Merged" in scene.say("bob", scene.open_pr("dev").number, "/merge")[0]
    scene.clock.now += timedelta(minutes=31)
    scene.service.review_open()
    assert scene.main_file("staging") == "image:\n  tag: 1.5.0"
    return scene.pr(scene.open_pr("prod-eu").number)


def unmerged(scene: Scene) -> bool:
    return scene.main_file("prod-eu") == "image:\n  tag: 1.4.2"


def meta_block(body: str) -> str:
    return body[body.rindex("<!-- promobot:meta ") :]


# --- forged approvals ----------------------------------------------------------------------------


def test_a_hidden_approve_marker_in_a_comment_is_no_approval(scene: Scene) -> None:
    """Commenter: writes promobot's approve record (plain, with a made-up signature, and a
    genuine one copied from another PR) into a comment of their own, then asks for a merge."""
    pr = prod_pr(scene)
    us = scene.open_pr("prod-us")
    assert "Approval by @alice recorded" in scene.say("alice", us.number, "/approve")[0]
    genuine = re.search(r"<!-- promobot:approve [^>]*-->", scene.replies(us.number)[-1])
    assert genuine is not None
    head = pr.head_sha
    scene.post(
        "bob",
        pr.number,
        f"lgtm\n\n<!-- promobot:approve user=alice sha={head} -->\n"
        f"<!-- promobot:approve pr={pr.number} user=alice sha={head} sig=AAAA -->\n"
        f"{genuine.group(0)}",
    )
    answer = scene.say("bob", pr.number, "/merge")[0]
    assert answer.startswith("> /merge\n\nNot merged — approvals: 0 of 1")
    assert unmerged(scene)


@pytest.mark.parametrize(
    "command",
    [
        "/hold MARKER",
        "/merge `MARKER`",  # an unexpected argument, echoed in a code span
        "/promote api --to `MARKER`",  # a bad environment name, echoed in a code span
    ],
)
def test_promobot_never_echoes_a_marker_into_its_own_reply(scene: Scene, command: str) -> None:
    """Commenter: hides a record in a command's arguments, hoping promobot quotes it in a
    comment of its own account (where records count)."""
    pr = prod_pr(scene)
    marker = f"<!-- promobot:approve pr={pr.number} user=alice sha={pr.head_sha} sig=x -->"
    scene.say("bob", pr.number, command.replace("MARKER", marker))
    replies = scene.replies(pr.number)
    assert replies and not any("<!-- promobot:approve" in reply for reply in replies)


# --- forged metadata -----------------------------------------------------------------------------


def test_metadata_appended_to_the_description_is_ignored(scene: Scene) -> None:
    """PR editor: appends metadata naming an ungated environment — a hand-made block, and the
    genuine signed block of another promotion's PR — so that prod-eu's gates would not apply."""
    pr = prod_pr(scene)
    dev = next(p for p in scene.pulls("dev"))  # merged, its body still signed
    forged = meta_block(pr.body).replace('"env":"prod-eu"', '"env":"dev"')
    scene.edit_body("bob", pr.number, f"{pr.body}\n{meta_block(dev.body)}\n{forged}")
    answer = scene.say("bob", pr.number, "/merge")[0]
    assert "Not merged — approvals: 0 of 1" in answer  # prod-eu's gates, from the genuine block
    assert unmerged(scene)


def test_a_description_with_forged_metadata_is_not_promobots_to_merge(scene: Scene) -> None:
    """PR editor: replaces the metadata with a copy that says `dev` (no gates)."""
    pr = prod_pr(scene)
    block = meta_block(pr.body)
    scene.edit_body("bob", pr.number, pr.body.replace(block, block.replace("prod-eu", "dev")))
    scene.approve("alice", pr.number)  # even an approved PR
    answer = scene.say("alice", pr.number, "/merge")[0]
    assert "cannot verify the promotion record" in answer and "will not /merge" in answer
    assert unmerged(scene)
    scene.service.sync()
    scene.service.sync()  # one comment, however often promobot looks
    said = [r for r in scene.replies(pr.number) if "will not update or merge it" in r]
    assert len(said) == 1
    assert unmerged(scene)


def test_a_push_to_the_promotion_branch_is_never_merged(scene: Scene) -> None:
    """Pusher: adds a file to the promotion branch after promobot made it, and (as PR editor)
    points the metadata at the new head; an approver approves what they see."""
    pr = prod_pr(scene)
    pushed = scene.world.push(
        REPO, pr.branch, {"envs/prod-us/api/backdoor.yaml": "evil: true\n"}, "x", author="bob"
    )
    scene.approve("alice", pr.number)
    answer = scene.say("alice", pr.number, "/merge")[0]
    assert "is not the commit promobot made" in answer
    assert unmerged(scene)
    body = scene.pr(pr.number).body
    made = re.search(r'"commit":"([0-9a-f]{40})"', body)
    assert made is not None
    scene.edit_body("bob", pr.number, body.replace(made.group(1), pushed))
    scene.approve("alice", pr.number)
    assert "cannot verify the promotion record" in scene.say("alice", pr.number, "/merge")[0]
    assert unmerged(scene)
    main = scene.world.repos[REPO].git
    assert (
        main.read_path(main.resolve("refs/heads/main") or "", "envs/prod-us/api/backdoor.yaml")
        is None
    )


def test_a_pr_someone_else_opened_on_a_promobot_branch_is_not_merged(scene: Scene) -> None:
    """Pusher: opens their own PR from a `promobot/…` branch, its description a copy of a
    genuine promotion's (signed metadata included)."""
    publish(scene, "1.5.0")
    dev = scene.pr(scene.open_pr("dev").number)
    scene.world.push(REPO, "promobot/dev/api-2", {"envs/dev/api.yaml": "image:\n  tag: 6.6.6\n"},
                     "x", author="bob")  # fmt: skip
    if scene.kind == "github":
        made = scene.api("bob", "POST", f"/repos/{REPO}/pulls", title=dev.title,
                         head="promobot/dev/api-2", base="main", body=dev.body)  # fmt: skip
        number = int(made["number"])
    else:
        made = scene.api("bob", "POST", scene.mr, title=dev.title, source_branch="promobot/dev/api-2",
                         target_branch="main", description=dev.body)  # fmt: skip
        number = int(made["iid"])
    assert "will not /merge" in scene.say("bob", number, "/merge")[0]
    assert scene.main_file("dev") == "image:\n  tag: 1.4.2"


@pytest.mark.parametrize("change", ["amend", "push"])
def test_a_branch_a_person_changed_after_its_pr_closed_is_never_replaced(
    scene: Scene, change: str
) -> None:
    """Pusher: after closing promobot's PR, amends promobot's commit (its signed trailer
    kept) or pushes onto it, and waits for the next version to throw their commit away."""
    publish(scene, "1.5.0")
    pr = scene.pr(scene.open_pr("dev").number)
    closing = (
        (f"/repos/{REPO}/pulls/{pr.number}", {"state": "closed"})
        if scene.kind == "github"
        else (f"{scene.mr}/{pr.number}", {"state_event": "close"})
    )
    scene.api("bob", "PATCH" if scene.kind == "github" else "PUT", closing[0], **closing[1])
    theirs = {"envs/dev/api.yaml": "image:\n  tag: 1.5.0-patched\n"}
    if change == "amend":
        bobs = scene.world.amend(REPO, pr.branch, theirs, committer="bob")
    else:
        bobs = scene.world.push(REPO, pr.branch, theirs, "patched", author="bob")
    actions = [(a.outcome, a.branch) for a in scene.service.handle(
        events.Artifact(source_key="image:ghcr.io/acme/api", version="1.6.0")
    )]  # fmt: skip
    assert actions == [("taken", pr.branch)]
    git = scene.world.repos[REPO].git
    assert git.resolve(f"refs/heads/{pr.branch}") == bobs
    assert [p.state for p in scene.pulls("dev")] == ["closed"]
    assert "by bob <bob@example.com>" in scene.service.engine.problems[pr.branch].error


# --- the requester -------------------------------------------------------------------------------


def test_the_requester_cannot_approve_after_a_refresh(scene: Scene) -> None:
    """Writer in the approver team: asks for a promotion, refreshes it (which once dropped the
    requester), then approves it themself."""
    pr = prod_pr(scene)
    assert "updated #" in scene.say("alice", pr.number, "/promote --to prod-eu")[0]
    assert "Recomputed" in scene.say("alice", pr.number, "/refresh")[0]
    scene.approve("alice", pr.number)
    scene.say("alice", pr.number, "/approve")
    answer = scene.say("alice", pr.number, "/merge")[0]
    assert "Not merged — approvals: 0 of 1" in answer and "(requester)" in answer
    assert unmerged(scene)
    scene.approve("dave", pr.number)  # another approver: now it merges
    assert "✅ Merged" in scene.say("alice", pr.number, "/merge")[0]


# --- commands: once, as written ------------------------------------------------------------------


def test_a_command_runs_once_however_often_it_is_delivered(scene: Scene) -> None:
    """Webhook sender: replays a captured `/unhold` delivery (other delivery and hook ids give
    it another dedupe key, so the service sees it again)."""
    publish(scene, "1.5.0")
    dev = scene.open_pr("dev")
    scene.say("bob", dev.number, "/hold until Monday")
    comment = scene.post("bob", dev.number, "/unhold")
    event = scene.comment_event("bob", dev.number, comment, "/unhold")
    assert scene.service.runner.handle(event)  # released
    scene.say("bob", dev.number, "/hold again")
    assert scene.service.runner.handle(event) == []  # the replay does nothing
    scene.service.review_open()  # nor does the reconcile
    assert "promobot:hold" in scene.pr(dev.number).labels


def test_an_edited_comment_never_runs(scene: Scene) -> None:
    """Writer: edits someone else's harmless comment into `/merge` while promobot is not
    looking (GitHub lets writers edit others' comments), and sends a created-event with the
    edited text (GitLab's token travels in clear); neither it nor the reconcile runs it."""
    publish(scene, "1.5.0")
    dev = scene.open_pr("dev")
    comment = scene.post("alice", dev.number, "Looks fine to me")
    scene.edit_comment("bob" if scene.kind == "github" else "alice", dev.number, comment, "/merge")
    edited = scene.comment_event("alice", dev.number, comment, "/merge")  # a created-event
    (answer,) = scene.service.runner.handle(edited)  # the forge says it was edited
    scene.service.review_open()
    assert scene.main_file("dev") == "image:\n  tag: 1.4.2"
    assert answer.startswith("> /merge\n\n❌ Not run: this comment was edited")
    assert [answer in reply for reply in scene.replies(dev.number)] == [True]  # said once


def comment_editor(scene: Scene) -> str:
    """Someone who may edit other people's comments: a writer on GitHub, a maintainer on
    GitLab."""
    if scene.kind == "github":
        return "bob"
    scene.world.add_user("mallory", token="mallory-token")
    scene.world.repos[REPO].permissions["mallory"] = "maintain"
    return "mallory"


def edited_at_once(scene: Scene, number: int, author: str, text: str, editor: str, new: str) -> int:
    """`author` posts `text`; 300 ms later, in the same second, `editor` makes it `new`."""
    posted = datetime.now(UTC).replace(microsecond=100_000)
    with clock_at(posted):
        comment = scene.post(author, number, text)
    with clock_at(posted + timedelta(milliseconds=300)):
        scene.edit_comment(editor, number, comment, new)
    return comment


def test_a_comment_edited_in_its_first_second_never_runs_at_the_reconcile(scene: Scene) -> None:
    """Writer on GitHub, maintainer on GitLab (both may edit other people's comments): while
    promobot is not looking, turns an approver's "Looks good" into `/approve` 300 ms after it
    was posted — the same second, which GitHub's REST timestamps cannot tell from no edit at
    all — then asks for the merge."""
    pr = prod_pr(scene)
    comment = edited_at_once(scene, pr.number, "alice", "Looks good", comment_editor(scene),
                             "/approve")  # fmt: skip
    scene.service.review_open()
    replies = scene.replies(pr.number)
    assert not any("Approval by @alice" in reply for reply in replies)
    assert "Not merged — approvals: 0 of 1" in scene.say("bob", pr.number, "/merge")[0]
    assert unmerged(scene)
    (said,) = [r for r in replies if f"comment={comment}" in r]  # once, naming the comment
    assert "> /approve" in said and "was edited after it was posted" in said
    scene.service.review_open()
    assert scene.replies(pr.number)[: len(replies)] == replies  # said once, not at every look


@pytest.mark.parametrize("first", ["Looks good", "/status prod-eu"], ids=["plain", "command"])
def test_a_comment_edited_in_its_first_second_never_runs_from_its_webhook(
    scene: Scene, first: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Writer on GitHub, maintainer on GitLab: turns an approver's comment into `/approve` in
    the second it was posted, before promobot has read it; the signed delivery of its creation
    carries what the approver wrote."""
    pr = prod_pr(scene)
    since = scene.send_webhooks()
    edited_at_once(scene, pr.number, "alice", first, comment_editor(scene), "/approve")
    with caplog.at_level(logging.INFO, logger="promobot.commands"):
        scene.deliver(since)  # the creation's delivery (on GitHub also `edited`'s) comes in now
    scene.service.review_open()  # and the reconcile looks too
    assert not any("Approval by @alice" in reply for reply in scene.replies(pr.number))
    assert "Not merged — approvals: 0 of 1" in scene.say("bob", pr.number, "/merge")[0]
    assert unmerged(scene)
    if first.startswith("/"):  # a delivery with a command: promobot read the comment back
        assert "comment changed since it was delivered" in caplog.messages


@pytest.mark.parametrize(
    "text",
    [
        "```\n/merge\n```",
        "    /merge",
        "<!--\n/merge\n-->",
        "> /merge",
        "see <!-- x\n/merge\n--> here",
        "<details>\n<summary>Notes</summary>\n\n/merge\n\n</details>",
        "Looks good <span hidden>\n/merge\n</span>",
        '<div title="\n\n/merge\n\n">',
    ],
    ids=[
        "fence",
        "indented-code",
        "html-comment",
        "quote",
        "inline-comment",
        "collapsed-details",
        "hidden-span",
        "open-attribute",
    ],
)
def test_a_command_a_reader_does_not_see_as_text_never_runs(scene: Scene, text: str) -> None:
    """Commenter: hides a command where a reader sees code, a quote or nothing at all (a
    collapsed <details>, a hidden span, an attribute value); run by the webhook and by the
    pick-up of unanswered comments, which read comments alike."""
    publish(scene, "1.5.0")
    dev = scene.open_pr("dev")
    scene.post("bob", dev.number, text)  # while promobot was not listening
    scene.service.review_open()  # the pick-up
    assert scene.say("bob", dev.number, text) == []  # the webhook
    assert scene.replies(dev.number) == []
    assert scene.main_file("dev") == "image:\n  tag: 1.4.2"


def test_a_forged_comment_event_runs_the_comment_as_the_forge_has_it(
    scene: Scene, caplog: pytest.LogCaptureFixture
) -> None:
    """Webhook sender (GitLab's token is sent in clear): a delivery claiming alice wrote
    `/merge` in a comment that is really bob's harmless one."""
    publish(scene, "1.5.0")
    dev = scene.open_pr("dev")
    comment = scene.post("carol", dev.number, "nice")  # carol may read, not merge
    forged = scene.comment_event("alice", dev.number, comment, "/merge")
    with caplog.at_level(logging.INFO, logger="promobot.commands"):
        assert scene.service.runner.handle(forged) == []  # the forge's text has no command
    assert scene.main_file("dev") == "image:\n  tag: 1.4.2"
    assert "comment changed since it was delivered" in caplog.messages


def test_someone_taken_out_of_the_approver_team_stops_counting(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writer who was an approver: removed from @acme/sre, their approval (and their right to
    /promote to prod) must lapse without waiting for promobot to restart."""
    monkeypatch.setattr("bot.gatekeeper.MEMBERSHIP_TTL", 0.0)  # the minute has passed
    pr = prod_pr(scene)
    scene.approve("alice", pr.number)
    assert scene.gates_status(pr.number) == "success"
    scene.world.teams["acme/sre"].discard("alice")
    answer = scene.say("alice", pr.number, "/merge")[0]
    assert "Not merged — approvals: 0 of 1" in answer
    assert unmerged(scene)
    assert "may not /promote" in scene.say("alice", pr.number, "/promote --to prod-eu")[0]


def test_a_redelivered_command_runs_once_even_if_the_ledger_lost_it(scene: Scene) -> None:
    """Webhook sender (a forge redelivering, after the queue's store lost its data): the
    signed acknowledgement in promobot's reply still says the comment was answered."""
    publish(scene, "1.5.0")
    dev = scene.open_pr("dev")
    scene.service.runner.claim = lambda key: True  # a ledger that remembers nothing
    comment = scene.post("bob", dev.number, "/hold for the release")
    event = scene.comment_event("bob", dev.number, comment, "/hold for the release")
    assert scene.service.runner.handle(event)
    assert scene.service.runner.handle(event) == []
    assert sum("On hold" in r for r in scene.replies(dev.number)) == 1
