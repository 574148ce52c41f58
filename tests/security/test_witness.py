"""Who speaks for the cluster: a writer posting a commit status of the deployment's context,
on GitHub and on GitLab.

`live: {status: {context: …, from: argocd}}` names the account whose statuses say what staging
runs. ada, a writer (SECURITY.md: "a writer"), posts `failure` to roll staging back and
`success` to merge prod early; promobot counts neither, because her statuses are not
argocd's by the forge's id. Without `from:`, no such config loads (tests/live/test_state.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import events
from tests.e2e.test_live import CONFIG as HEALTHY_CONFIG
from tests.e2e.test_live import Rig, running
from tests.e2e.test_verify import CONFIG as VERIFY_CONFIG
from tests.e2e.test_verify import comments, on_main, promote_to_staging


def posted(rig: Rig, state: str, token: str) -> None:
    head = rig.main()
    rig.deployer_reports(head, state, token=token)
    event = events.StatusEvent(
        repo="acme/env-repo", sha=head, context="deploy/api-staging", state=state
    )
    rig.service.handle(event)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_a_writers_failure_status_rolls_nothing_back(kind: str, tmp_path: Path) -> None:
    files = {"envs/dev/api.yaml": "image:\n  tag: 1.4.2\n"}
    config = VERIFY_CONFIG.replace("ON_FAILURE", "rollback")
    with running(kind, tmp_path, config, files=files) as rig:
        number = promote_to_staging(rig)
        posted(rig, "failure", token="ada-token")
        said = comments(rig, number)
        assert "Verification failed" not in said and "rolling back" not in said
        assert on_main(rig, "staging") == "image:\n  tag: 1.5.0"
        assert rig.service.verifier.holds("staging") is None
        # the deployer's own word still counts
        posted(rig, "failure", token="argocd-token")
        assert "✗ Verification failed in staging: api is degraded" in comments(rig, number)
        assert on_main(rig, "staging") == "image:\n  tag: 1.4.2"


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_a_writers_success_status_merges_nothing(kind: str, tmp_path: Path) -> None:
    with running(kind, tmp_path, HEALTHY_CONFIG) as rig:
        rig.world.push(
            "acme/env-repo", "main", {"envs/staging/api.yaml": "image:\n  tag: 1.5.0\n"}, "1.5.0"
        )
        rig.service.sync()
        posted(rig, "success", token="ada-token")
        assert "waiting for staging to run image 1.5.0 synced and healthy" in rig.reason()
        posted(rig, "pending", token="argocd-token")
        posted(rig, "success", token="ada-token")  # newer than argocd's, and still not argocd's
        assert "waiting for staging to run image 1.5.0 synced and healthy" in rig.reason()
        assert rig.prod_pr().state == "open"
