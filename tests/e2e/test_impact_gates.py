"""Gates on what a promotion changes in the cluster, on the GitHub simulator: under
`auto_merge: {only: [image]}` an image bump merges itself, while a promotion that changes a CRD
waits for two SRE approvals and then for a person's `/merge`."""

from __future__ import annotations

from pathlib import Path

from bot import events
from bot.composition import State
from bot.planner import Promotion
from tests.e2e.scene import REPO, Scene, steering

RULES = """\
  dev:
    auto_merge: {only: [image]}
    gates:
      impact:
        crd: {approvals: 2, approvers: ["@acme/sre"]}
"""

# what rendering would find each version changes in the cluster (the lead wires the real one)
IMPACT = {"1.5.0": ("image",), "1.6.0": ("crd", "image")}


def impact(state: State, promotion: Promotion) -> tuple[str, ...] | None:
    versions = {r.after for plan in promotion.apps for r in plan.changed}
    return IMPACT.get(next(iter(versions)))


def publish(scene: Scene, version: str) -> None:
    scene.service.handle(events.Artifact(source_key="image:ghcr.io/acme/api", version=version))


def checklist(scene: Scene, number: int) -> list[str]:
    body = scene.pr(number).body
    return [line for line in body.splitlines() if line.startswith("- [")]


def test_a_crd_waits_for_two_sre_approvals_and_a_person_while_an_image_merges_itself(
    tmp_path: Path,
) -> None:
    with steering("github", tmp_path) as scene:
        config = scene.world.repos[REPO].git.text("show", "refs/heads/main:.promobot.yaml")
        scene.world.push(REPO, "main", {".promobot.yaml": config.replace("  dev: {}\n", RULES)}, "dev: impact rules")  # fmt: skip
        scene.service.gatekeeper.impact = impact  # type: ignore[assignment]

        publish(scene, "1.5.0")
        assert scene.main_file("dev") == "image:\n  tag: 1.5.0"  # only the image: merged

        publish(scene, "1.6.0")
        pr = scene.open_pr("dev").number
        assert scene.gates_status(pr) == "pending"
        assert "- [ ] crd: 0 of 2 approvals from `@acme/sre` (a CRD changes)" in checklist(
            scene, pr
        )

        scene.approve("bob", pr)  # a developer, not in @acme/sre
        scene.approve("alice", pr)
        assert scene.gates_status(pr) == "pending"
        assert (
            "- [ ] crd: 1 of 2 approvals from `@acme/sre` (a CRD changes; approved: `@alice`; "
            "not counted: `@bob` (not an approver))"
        ) in checklist(scene, pr)

        scene.approve("dave", pr)
        assert scene.gates_status(pr) == "success"
        assert scene.pr(pr).state == "open"  # a CRD is not within only: [image]
        assert "- [x] auto-merge: a person merges this PR — crd, … in the diff" not in checklist(
            scene, pr
        )
        assert (
            "- [x] auto-merge: a person merges this PR — crd in the diff (auto_merge: only image)"
        ) in checklist(scene, pr)
        assert scene.main_file("dev") == "image:\n  tag: 1.5.0"

        scene.say("bob", pr, "/merge")
        assert scene.main_file("dev") == "image:\n  tag: 1.6.0"
