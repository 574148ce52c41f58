"""Progressive delivery read from the cluster, on the GitHub simulator with promobot in
process: Argo CD's simulator says what each environment runs, and the Kubernetes API server
face (tests/kube/server.py), read through the real client, the Argo Rollouts Rollout or
Flagger Canary that rolls it out (`live: {argocd: …, rollout: …}`)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.argocd.server import ArgoCDServer, application
from tests.e2e.scene import FAST
from tests.e2e.test_live import CONFIG, REPO, Rig, heard, on_argocd
from tests.e2e.test_verify import CONFIG as VERIFY_CONFIG
from tests.e2e.test_verify import comments, on_main, promote_to_staging
from tests.kube.server import KubeServer, canary, kube_server, rollout, write_kubeconfig

STATUS_LIVE = 'live: {status: {context: "deploy/{app}-{env}", from: argocd}}'
# test_live's and test_verify's repos, staging read from Argo CD and its Rollout or Canary
GATED = CONFIG.replace(STATUS_LIVE, "live: {argocd: {}, rollout: {kind: argo-rollouts}}")
VERIFIED = VERIFY_CONFIG.replace(STATUS_LIVE, "live: {argocd: {}, rollout: {kind: KIND}}").replace(
    "ON_FAILURE", "rollback"
)


def stamp(rig: Rig, later: timedelta = timedelta(0)) -> str:
    return (rig.clock.now + later).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def clusters(
    tmp_path: Path, config: str, files: dict[str, str] | None = None, **kube: Any
) -> Iterator[tuple[Rig, ArgoCDServer, KubeServer]]:
    """Argo CD, one Kubernetes API server (the kubeconfig's current context), and promobot."""
    with kube_server(**kube) as cluster:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", cluster.url, cluster.token)
        with on_argocd(tmp_path, config, files, kubeconfig=str(kubeconfig)) as (rig, argo):
            rig.service.live.rollouts.policy = FAST
            yield rig, argo, cluster


def test_prod_waits_while_stagings_canary_is_at_step_2_then_counts_from_its_end(
    tmp_path: Path,
) -> None:
    with clusters(tmp_path, GATED) as (rig, argo, cluster):
        rig.world.push(REPO, "main", {"envs/staging/api.yaml": "image:\n  tag: 1.5.0\n"}, "1.5.0")
        head = rig.main()
        # Argo CD calls the app synced and healthy; its Rollout is at step 2 of 5, 20% canary
        synced = stamp(rig)
        argo.put(application("api-staging", revision=head, finished=synced, health_since=synced))
        cluster.put(rollout("api", step=1))
        rig.service.sync()
        reason = rig.reason()
        assert f"api: healthy (canary 20%, step 2 of 5) at {head[:10]}" in reason
        assert "healthy: waiting for staging to run image 1.5.0 synced and healthy" in reason
        assert "canary 20%, step 2 of 5" in rig.prod_pr().body  # the checklist says so
        # every question of that sync and these reads shared one cluster-wide list
        assert cluster.hits["list rollouts *"] == 1 and cluster.lists == 1

        rig.clock.now += timedelta(minutes=45)  # Argo CD's 30 minutes are long past
        verdict = rig.evaluate()
        assert verdict is not None and not verdict.merged
        assert rig.prod_pr().state == "open"

        # the Rollout reaches its last step and is promoted: the 30 minutes start now
        completed_at = rig.clock.now.replace(microsecond=0)
        cluster.put(rollout("api", done=True, since=stamp(rig)))
        heard(rig, "staging", lambda live: live.settled)
        reason = rig.reason()
        assert "healthy: staging has run image 1.5.0 synced and healthy since" in reason
        assert completed_at.strftime("%H:%M") in reason.split(" since ")[1]
        assert "needs 30m, until" in reason
        rig.clock.now = completed_at + timedelta(minutes=29)
        verdict = rig.evaluate()
        assert verdict is not None and not verdict.merged
        rig.clock.now = completed_at + timedelta(minutes=31)
        verdict = rig.evaluate()
        assert verdict is not None and verdict.merged
        prod = rig.world.repos[REPO].git.text("show", "refs/heads/main:envs/prod/api.yaml")
        assert prod == "image:\n  tag: 1.5.0"


def test_a_rollout_the_watch_hears_complete_wakes_the_pr(tmp_path: Path) -> None:
    """Nobody tells promobot a canary finished: its watch of the Rollouts hears it, and the
    job it queues starts prod's healthy: count in the PR's checklist."""
    with clusters(tmp_path, GATED) as (rig, argo, cluster):
        rig.world.push(REPO, "main", {"envs/staging/api.yaml": "image:\n  tag: 1.5.0\n"}, "1.5.0")
        head = rig.main()
        synced = stamp(rig)
        argo.put(application("api-staging", revision=head, finished=synced, health_since=synced))
        cluster.put(rollout("api", step=1))
        rig.service.sync()
        assert "canary 20%, step 2 of 5" in rig.prod_pr().body
        cluster.put(rollout("api", done=True, since=stamp(rig)))
        deadline = time.monotonic() + 10
        while "healthy: staging has run image 1.5.0 synced and healthy since" not in (
            rig.prod_pr().body
        ):
            assert time.monotonic() < deadline, "the finished canary never reached the PR"
            rig.service.queue.run_pending()  # what a worker does
            time.sleep(0.05)
        assert cluster.lists == 1


@pytest.mark.parametrize(
    ("kind", "failing", "said"),
    [
        (
            "argo-rollouts",
            rollout("api", step=1, abort=True),
            "api's canary, step 2 of 5, aborted: RolloutAborted: Rollout aborted update to "
            'revision 2: metric "web" assessed Failed',
        ),
        (
            "flagger",
            canary("api", phase="Failed", failed_checks=5),
            "api's canary, failed: Canary analysis failed, Deployment scaled to zero. "
            "(5 failed checks, threshold 5)",
        ),
    ],
    ids=["argo-rollouts-aborted", "flagger-canary-failed"],
)
def test_a_rollout_that_fails_after_the_merge_fails_verification_and_is_rolled_back(
    tmp_path: Path, kind: str, failing: dict[str, Any], said: str
) -> None:
    files = {"envs/dev/api.yaml": "image:\n  tag: 1.4.2\n"}
    with clusters(tmp_path, VERIFIED.replace("KIND", kind), files) as (rig, argo, cluster):
        number = promote_to_staging(rig)
        head = rig.main()
        # Argo CD: synced and healthy at the merge; the rollout object: aborted or failed
        argo.put(application("api-staging", revision=head, finished=stamp(rig)))
        cluster.put(failing)
        heard(rig, "staging", lambda live: live.failed)
        rig.service.run({"id": "look", "kind": "verify", "env": "staging"})
        written = comments(rig, number)
        assert f"✗ Verification failed in staging: {said}" in written
        assert "promobot proposes rolling back" in written
        # the rollback PR auto-merged (staging has no gates): staging runs 1.4.2 again
        assert on_main(rig, "staging") == "image:\n  tag: 1.4.2"
        titles = [p.title for p in rig.world.repos[REPO].pulls.values() if p.number > number]
        assert "Roll back api in staging: image 1.5.0 → 1.4.2" in titles


def test_an_unreachable_cluster_leaves_that_rollout_unknown_and_the_others_go_on(
    tmp_path: Path,
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        gone = f"http://127.0.0.1:{s.getsockname()[1]}"
    config = GATED.replace("{kind: argo-rollouts}", "{kind: argo-rollouts, context: west}").replace(
        "  prod:\n",
        "  qa:\n    live: {argocd: {}, rollout: {kind: argo-rollouts, context: fleet}}\n  prod:\n",
    )
    files = {"envs/qa/api.yaml": "image:\n  tag: 1.5.0\n"}
    with clusters(tmp_path, config, files) as (rig, argo, cluster):
        kubeconfig = tmp_path / "kubeconfig"  # a second context, whose server is gone
        data = yaml.safe_load(kubeconfig.read_text())
        data["clusters"].append({"name": "west", "cluster": {"server": gone}})
        data["contexts"].append(
            {"name": "west", "context": {"cluster": "west", "user": "promobot"}}
        )
        kubeconfig.write_text(yaml.safe_dump(data))

        rig.world.push(REPO, "main", {"envs/staging/api.yaml": "image:\n  tag: 1.5.0\n"}, "1.5.0")
        head = rig.main()
        long_ago = stamp(rig, -timedelta(hours=2))
        for env in ("staging", "qa"):
            argo.put(application(f"api-{env}", revision=head, finished=long_ago))
        cluster.put(rollout("api", done=True, since=long_ago))  # qa's cluster: done
        rig.service.sync()

        reason = rig.reason()
        assert f"api: healthy (rollout unknown) at {head[:10]}: rollout unknown: " in reason
        assert f"kubernetes {gone} (list rollouts.argoproj.io in all namespaces): cannot" in (
            reason
        )
        assert "Traceback" not in rig.prod_pr().body
        assert "rollout unknown" in rig.prod_pr().body
        rig.clock.now += timedelta(hours=2)
        verdict = rig.evaluate()
        assert verdict is not None and not verdict.merged  # never on missing information
        assert rig.prod_pr().state == "open"

        # qa, on the context that answers, is read as usual
        state = rig.service.engine.state()
        qa = rig.service.live.read(state, "qa", ["api"])["api"]
        assert qa.settled and qa.describe().startswith(f"healthy at {head[:10]} since ")
