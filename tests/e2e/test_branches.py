"""Promotion branches on GitHub and on GitLab: a rollback beside a forward promotion, and a
branch promobot finds made by a person, which it never replaces.

The service runs in this process against the simulator (`tests/e2e/scene.py`); people act
through the simulator's API or its git repositories.
"""

from __future__ import annotations

from bot import events
from bot.engine import Action
from tests.e2e.scene import REPO, Scene


def publish(scene: Scene, version: str) -> list[Action]:
    return scene.service.handle(
        events.Artifact(source_key="image:ghcr.io/acme/api", version=version)
    )


def merged(scene: Scene, number: int, user: str = "alice") -> None:
    assert "✅ Merged" in scene.say(user, number, "/merge")[0]


def test_a_rollback_opens_beside_the_forward_pr_and_the_next_sync_recomputes_it(
    scene: Scene,
) -> None:
    publish(scene, "1.5.0")
    merged(scene, scene.open_pr("dev").number, "bob")
    publish(scene, "1.6.0")
    forward = scene.pr(scene.open_pr("dev").number)
    assert forward.title == "Promote api to dev: image 1.5.0 → 1.6.0"

    # the rollback has a branch of its own: the forward PR is left as it was
    reply = scene.say("alice", forward.number, "/rollback api --env dev")[0]
    assert "Rolling back api in dev to" in reply and "opened #" in reply
    back = scene.rollback_pr("dev")
    restored = scene.service.engine.promotion_of(scene.pr(back.number))
    assert restored is not None and restored.reason == "rollback"
    assert back.branch == f"promobot/dev/_rollback/api-{restored.apps[0].after}"
    assert scene.pr(forward.number) == forward
    scene.service.sync()  # both still change something: both stay open, untouched
    assert scene.open_pr("dev").number == forward.number
    assert scene.pr(forward.number).head_sha == forward.head_sha
    assert scene.rollback_pr("dev").number == back.number

    # merged, the rollback changes what the forward PR is computed on: the next look at it
    # rebuilds it on the new base (it still brings 1.6.0)
    merged(scene, back.number)
    assert scene.main_file("dev") == "image:\n  tag: 1.4.2"
    publish(scene, "1.6.0")
    again = scene.pr(scene.open_pr("dev").number)
    assert again.number == forward.number
    assert again.title == "Promote api to dev: image 1.4.2 → 1.6.0"


def test_a_forward_pr_the_rollback_makes_a_no_op_is_closed_with_a_comment(scene: Scene) -> None:
    publish(scene, "1.5.0")
    merged(scene, scene.open_pr("dev").number, "bob")
    staging = scene.open_pr("staging")
    asked = "/promote api --to dev --only image --version 1.4.2"
    assert "opened #" in scene.say("alice", staging.number, asked)[0]
    forward = scene.open_pr("dev")
    assert "1.5.0 → 1.4.2" in forward.title
    scene.say("alice", staging.number, "/rollback api --env dev")
    back = scene.rollback_pr("dev")
    assert scene.open_pr("dev").number == forward.number  # not replaced by the rollback
    merged(scene, back.number)  # the merge's cascade recomputes every open promotion
    assert scene.pr(forward.number).state == "closed"
    assert any("would change nothing" in r for r in scene.replies(forward.number))


def test_the_service_never_replaces_a_branch_a_person_pushed(scene: Scene) -> None:
    """bob pushed `promobot/dev/api` before promobot wrote it: promobot writes nothing there,
    says why in the overview's problems, and looks again for one read a sync."""
    git = scene.world.repos[REPO].git
    branch = "promobot/dev/api"
    bobs = scene.world.push(REPO, branch, {"envs/dev/api.yaml": "image:\n  tag: 9\n"}, "try",
                            author="bob")  # fmt: skip
    actions = publish(scene, "1.5.0")
    assert [(a.outcome, a.branch) for a in actions] == [("taken", branch)]
    assert git.resolve(f"refs/heads/{branch}") == bobs and scene.pulls("dev") == []
    problem = scene.service.engine.problems[branch].error
    assert f"its head {bobs[:12]} (by bob <bob@example.com>)" in problem

    scene.world.reset_calls()
    assert [a.outcome for a in publish(scene, "1.5.0")] == ["taken"]
    writes = [c for c in scene.world.calls if c.split()[1] in ("POST", "PATCH", "PUT")]
    assert writes == []  # its head read again (one call), nothing made for it
    assert git.resolve(f"refs/heads/{branch}") == bobs

    git.delete_ref(f"refs/heads/{branch}")  # bob deletes it: promobot's again to write
    assert [(a.outcome, a.branch) for a in publish(scene, "1.5.0")] == [("opened", branch)]
    assert branch not in scene.service.engine.problems


def test_promote_onto_a_branch_a_person_holds_says_so_and_writes_nothing(scene: Scene) -> None:
    """/promote where bob's branch stands, without a PR and then with his own PR on it: the
    reply says why nothing was written (the second once raised an internal error)."""
    publish(scene, "1.5.0")
    merged(scene, scene.open_pr("dev").number, "bob")
    staging = scene.open_pr("staging")
    git = scene.world.repos[REPO].git
    branch = "promobot/dev/api"
    bobs = scene.world.push(REPO, branch, {"envs/dev/api.yaml": "image:\n  tag: 9\n"}, "try",
                            author="bob")  # fmt: skip
    asked = "/promote api --to dev --only image --version 1.5.1"
    reply = scene.say("alice", staging.number, asked)[0]
    assert f"nothing written: branch {branch} exists and its head {bobs[:12]}" in reply
    assert git.resolve(f"refs/heads/{branch}") == bobs
    if scene.kind == "github":
        made = scene.api("bob", "POST", f"/repos/{REPO}/pulls", title="mine", head=branch,
                         base="main", body="bob's")  # fmt: skip
        number = int(made["number"])
    else:
        made = scene.api("bob", "POST", scene.mr, title="mine", source_branch=branch,
                         target_branch="main", description="bob's")  # fmt: skip
        number = int(made["iid"])
    reply = scene.say("alice", staging.number, asked)[0]
    assert f"#{number} is not promobot's; promobot leaves it alone." in reply
    assert git.resolve(f"refs/heads/{branch}") == bobs
