"""Verification after a merge, on the GitHub and GitLab simulators: staging's cluster reports
through commit statuses; a promotion it does not take is said so on its PR, holds promotions
from staging, and (on_failure: rollback) is rolled back."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot import events
from tests.e2e.test_live import REPO, Rig, running

CONFIG = """\
version: 1
environments:
  dev: {}
  staging:
    from: dev
    auto_merge: true
    live: {status: {context: "deploy/{app}-{env}", from: argocd}}
    verify: {within: 15m, on_failure: ON_FAILURE}
  prod: {from: staging}
apps:
  api:
    components:
      image:
        source: {image: ghcr.io/acme/api}
        target: {file: "envs/{env}/api.yaml", field: image.tag}
"""


def staging_pr(rig: Rig) -> int:
    found = [p for p in rig.world.repos[REPO].pulls.values() if p.branch == "promobot/staging/api"]
    return max(p.number for p in found)


def comments(rig: Rig, number: int) -> str:
    return "\n".join(c.body for c in rig.service.forge.comments(number))


def on_main(rig: Rig, env: str) -> str:
    return rig.world.repos[REPO].git.text("show", f"refs/heads/main:envs/{env}/api.yaml")


def promote_to_staging(rig: Rig) -> int:
    """dev gets 1.5.0; staging's PR auto-merges; the watch begins."""
    rig.world.push(REPO, "main", {"envs/dev/api.yaml": "image:\n  tag: 1.5.0\n"}, "dev 1.5.0")
    rig.service.sync()
    assert on_main(rig, "staging") == "image:\n  tag: 1.5.0"
    return staging_pr(rig)


def deployer(rig: Rig, state: str) -> None:
    head = rig.main()
    rig.deployer_reports(head, state)
    event = events.StatusEvent(repo=REPO, sha=head, context="deploy/api-staging", state=state)
    rig.service.handle(event)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_a_degraded_promotion_is_said_and_rolled_back(kind: str, tmp_path: Path) -> None:
    files = {"envs/dev/api.yaml": "image:\n  tag: 1.4.2\n"}
    with running(kind, tmp_path, CONFIG.replace("ON_FAILURE", "rollback"), files=files) as rig:
        number = promote_to_staging(rig)
        deployer(rig, "pending")
        assert "Verif" not in comments(rig, number)  # still syncing: nothing to say yet
        deployer(rig, "failure")
        said = comments(rig, number)
        assert "✗ Verification failed in staging: api is degraded" in said
        assert "promobot proposes rolling back" in said
        # the rollback PR auto-merged (staging has no gates): staging runs 1.4.2 again, and
        # that merge is watched in turn — nothing is held
        assert on_main(rig, "staging") == "image:\n  tag: 1.4.2"
        assert rig.service.verifier.holds("staging") is None
        # dev still runs 1.5.0, but what failed in staging is not proposed there again
        rig.service.sync()
        assert on_main(rig, "staging") == "image:\n  tag: 1.4.2"
        pulls = rig.world.repos[REPO].pulls.values()
        (back,) = [p for p in pulls if p.branch.startswith("promobot/staging/_rollback/api-")]
        assert back.number > number and back.merged  # on a branch of its own
        # a newer version is
        rig.world.push(REPO, "main", {"envs/dev/api.yaml": "image:\n  tag: 1.5.1\n"}, "dev 1.5.1")
        rig.service.sync()
        assert on_main(rig, "staging") == "image:\n  tag: 1.5.1"


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_a_promotion_never_healthy_in_time_holds_promotions_from_staging(
    kind: str, tmp_path: Path
) -> None:
    files = {"envs/dev/api.yaml": "image:\n  tag: 1.4.2\n"}
    with running(kind, tmp_path, CONFIG.replace("ON_FAILURE", "comment"), files=files) as rig:
        number = promote_to_staging(rig)
        assert rig.service.queue.depth() >= 1  # the look when the time is up
        rig.clock.now += timedelta(minutes=16)
        rig.service.run({"id": "deadline", "kind": "verify", "env": "staging"})
        assert "not healthy in time: api (no report)" in comments(rig, number)
        assert rig.service.verifier.holds("staging") == (
            f"verification of #{number} failed: not healthy in time: api (no report)"
        )
        state = rig.service.engine.state()
        assert [p.env for p in rig.service.engine.due(state)] == []  # prod waits
        page = rig.service.forge  # the overview says so in staging's column
        from starlette.testclient import TestClient

        from bot.web.app import create_app

        with TestClient(create_app(rig.service)) as client:
            assert f"verification of #{number} failed" in client.get("/").text
        assert page is not None


@pytest.mark.parametrize("kind", ["github"])
def test_a_promotion_the_cluster_takes_is_verified(kind: str, tmp_path: Path) -> None:
    files = {"envs/dev/api.yaml": "image:\n  tag: 1.4.2\n"}
    with running(kind, tmp_path, CONFIG.replace("ON_FAILURE", "comment"), files=files) as rig:
        number = promote_to_staging(rig)
        deployer(rig, "success")
        assert "✅ Verified: staging's cluster runs this promotion" in comments(rig, number)
        assert rig.service.verifier.holds("staging") is None
