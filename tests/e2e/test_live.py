"""The `healthy:` gate on the GitHub and GitLab simulators: prod waits until staging's cluster
has run the promoted versions synced and healthy for 30 minutes, as the deploying system
reports it in a commit status on the env repo (`live: {status: …}`)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from bot import events
from bot.live.state import Live
from bot.service import Service
from tests.argocd.server import ArgoCDServer, application, argocd_server
from tests.conftest import taken
from tests.e2e.scene import FAST, REPO, Clock, bot_service
from tests.forgesim import Server
from tests.forgesim.world import Pull, World
from tests.kube.server import bundle, kube_server, write_kubeconfig

CONFIG = """\
version: 1
environments:
  staging:
    live: {status: {context: "deploy/{app}-{env}", from: argocd}}
  prod:
    from: staging
    auto_merge: true
    gates: {healthy: 30m}
apps:
  api:
    components:
      image:
        source: {image: ghcr.io/acme/api}
        target: {file: "envs/{env}/api.yaml", field: image.tag}
"""


class Rig:
    def __init__(self, kind: str, server: Server, service: Service, clock: Clock) -> None:
        self.kind, self.server, self.service, self.clock = kind, server, service, clock

    @property
    def world(self) -> World:
        return self.server.world

    def main(self) -> str:
        return self.world.repos[REPO].git.text("rev-parse", "refs/heads/main")

    def deployer_reports(self, sha: str, state: str, token: str = "argocd-token") -> None:
        """The deploying system (Argo CD Notifications, say) posts its commit status (or,
        with another token, someone else posts one of the same context)."""
        if self.kind == "github":
            url = f"{self.server.github_url}/repos/{REPO}/statuses/{sha}"
            headers, body = {"Authorization": f"token {token}"}, {"state": state}
            body["context"] = "deploy/api-staging"
        else:
            url = f"{self.server.url}/api/v4/projects/{quote(REPO, safe='')}/statuses/{sha}"
            headers = {"PRIVATE-TOKEN": token}
            body = {
                "state": {"pending": "running", "failure": "failed"}.get(state, state),
                "name": "deploy/api-staging",
            }
        response = httpx.post(url, json=body, headers=headers)
        assert response.status_code < 300, response.text

    def prod_pr(self) -> Pull:
        (pull,) = [
            p for p in self.world.repos[REPO].pulls.values() if p.branch == "promobot/prod/api"
        ]
        return pull

    def evaluate(self) -> Any:
        return self.service.gatekeeper.evaluate(self.service.forge.get_pr(self.prod_pr().number))

    def reason(self) -> str:
        verdict = self.evaluate()
        assert verdict is not None
        (healthy,) = [r for r in verdict.results if r.name == "healthy"]
        return healthy.reason


@contextmanager
def running(
    kind: str,
    tmp_path: Path,
    config: str,
    files: dict[str, str] | None = None,
    **extra: Any,
) -> Iterator[Rig]:
    with Server() as server:
        world = server.world
        world.add_user("promobot[bot]", bot=True, token="bot-token")
        world.add_user("argocd", token="argocd-token")
        world.add_user("ada", token="ada-token")
        tree = {f"envs/{env}/api.yaml": "image:\n  tag: 1.4.2\n" for env in ("staging", "prod")}
        repo = world.add_repo(REPO, {".promobot.yaml": config, **tree, **(files or {})})
        repo.permissions.update({"promobot[bot]": "admin", "argocd": "write", "ada": "write"})
        clock = Clock(datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5))
        yield Rig(kind, server, bot_service(kind, server, tmp_path, clock, **extra), clock)


def heard(rig: Rig, env: str, done: Callable[[Live], bool]) -> None:
    """Wait until the watch carried the cluster's change to promobot (it comes in the
    background, a moment after the API server has it, as in a real cluster)."""
    state = rig.service.engine.state()
    deadline = time.monotonic() + 5
    while True:
        rig.service.live.refresh()  # as after 10 s: what the watch keeps is read again
        live = rig.service.live.read(state, env, ["api"]).get("api")
        if live is not None and done(live):
            return
        assert time.monotonic() < deadline, f"promobot never heard of the change in {env}"
        time.sleep(0.02)


@contextmanager
def on_argocd(
    tmp_path: Path, config: str, files: dict[str, str] | None = None, **extra: Any
) -> Iterator[tuple[Rig, ArgoCDServer]]:
    """promobot on the GitHub simulator, reading a simulated Argo CD."""
    with (
        argocd_server() as argo,
        running(
            "github",
            tmp_path,
            config,
            files,
            argocd_url=argo.url,
            argocd_token="argocd-token",
            **extra,
        ) as rig,
    ):
        yield rig, argo


@pytest.fixture(params=["github", "gitlab"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    with running(request.param, tmp_path, CONFIG) as rig:
        yield rig


def test_prod_waits_for_staging_to_run_the_versions_healthy_for_30_minutes(rig: Rig) -> None:
    before = rig.main()
    rig.deployer_reports(before, "success")  # staging runs 1.4.2, healthy
    rig.world.push(
        REPO, "main", {"envs/staging/api.yaml": "image:\n  tag: 1.5.0\n"}, "staging 1.5.0"
    )
    rig.service.sync()
    assert "healthy: waiting for staging to run image 1.5.0 synced and healthy" in rig.reason()
    # the cluster still runs the commit before: not these versions
    assert f"it runs {before[:10]}, not these versions yet" in rig.reason()

    head = rig.main()
    rig.deployer_reports(head, "pending")  # Argo CD syncs the new commit
    assert f"api: progressing at {head[:10]}" in rig.reason()

    rig.deployer_reports(head, "success")
    healthy_at = datetime.now(UTC)
    reason = rig.reason()
    assert reason.startswith("healthy: staging has run image 1.5.0 synced and healthy since ")
    assert "needs 30m, until" in reason
    assert rig.prod_pr().state == "open"
    assert "- [ ] healthy: staging has run image 1.5.0" in rig.prod_pr().body

    rig.clock.now = healthy_at + timedelta(minutes=31)
    verdict = rig.evaluate()
    assert verdict is not None and verdict.merged  # the gate passed: prod auto-merges
    prod = rig.world.repos[REPO].git.text("show", "refs/heads/main:envs/prod/api.yaml")
    assert prod == "image:\n  tag: 1.5.0"


def test_a_degraded_upstream_holds_the_promotion(rig: Rig) -> None:
    rig.world.push(
        REPO, "main", {"envs/staging/api.yaml": "image:\n  tag: 1.5.0\n"}, "staging 1.5.0"
    )
    rig.service.sync()
    rig.deployer_reports(rig.main(), "failure")
    rig.clock.now += timedelta(hours=2)
    assert f"api: degraded at {rig.main()[:10]}" in rig.reason()
    assert rig.prod_pr().state == "open"


def test_the_deployers_status_on_main_wakes_the_pr_and_its_timer_merges_it(rig: Rig) -> None:
    rig.world.push(
        REPO, "main", {"envs/staging/api.yaml": "image:\n  tag: 1.5.0\n"}, "staging 1.5.0"
    )
    rig.service.sync()
    number = rig.prod_pr().number
    head = rig.main()
    rig.deployer_reports(head, "success")
    # the status webhook names main's commit, not the PR's head: it still reaches the PR
    event = events.StatusEvent(repo=REPO, sha=head, context="deploy/api-staging", state="success")
    rig.service.handle(event)
    assert (
        "- [ ] healthy: staging has run image 1.5.0 synced and healthy since" in rig.prod_pr().body
    )
    # the gate knows when it will pass: a job is queued for that instant, and it merges
    assert rig.service.queue.depth() >= 1
    rig.clock.now += timedelta(minutes=31)
    rig.service.run({"id": "timer", "kind": "evaluate", "number": number})
    prod = rig.world.repos[REPO].git.text("show", "refs/heads/main:envs/prod/api.yaml")
    assert prod == "image:\n  tag: 1.5.0" and rig.prod_pr().state != "open"


def test_prod_waits_for_argo_cd_to_report_staging_synced_and_healthy(tmp_path: Path) -> None:
    """The same gate reading Argo CD's API: one list call answers for every Application."""
    config = CONFIG.replace(
        'live: {status: {context: "deploy/{app}-{env}", from: argocd}}',
        'live: {argocd: {application: "{app}-{env}"}}',
    )
    with on_argocd(tmp_path, config) as (rig, argo):
        rig.world.push(REPO, "main", {"envs/staging/api.yaml": "image:\n  tag: 1.5.0\n"}, "1.5.0")
        head = rig.main()
        argo.put(application("api-staging", health="Progressing", revision=head))
        rig.service.sync()
        assert f"api: progressing at {head[:10]}" in rig.reason()

        healthy_at = rig.clock.now.replace(microsecond=0)
        stamp = healthy_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        argo.put(application("api-staging", revision=head, finished=stamp, health_since=stamp))
        rig.service.live.refresh()  # as after ARGOCD_FRESH, or a notification
        lists = argo.hits["list"]
        assert "synced and healthy since" in rig.reason()
        assert argo.hits["list"] == lists + 1 and argo.hits["get"] == 0
        rig.clock.now = healthy_at + timedelta(minutes=31)
        verdict = rig.evaluate()
        assert verdict is not None and verdict.merged


def test_the_pr_says_what_the_target_cluster_runs(tmp_path: Path) -> None:
    """A reviewer of the prod PR sees what prod's cluster runs and since when, above the
    checklist, and sees it change when Argo CD reports a degraded rollout there."""
    config = CONFIG.replace(
        'live: {status: {context: "deploy/{app}-{env}", from: argocd}}',
        'live: {argocd: {application: "{app}-{env}"}}',
    ).replace("    gates: {healthy: 30m}", "    gates: {healthy: 30m}\n    live: {argocd: {}}")
    with on_argocd(tmp_path, config) as (rig, argo):
        before = rig.main()
        argo.put(
            application(
                "api-prod",
                revision=before,
                finished="2026-11-24T10:40:00Z",
                health_since="2026-11-24T10:42:00Z",
            )
        )
        rig.world.push(REPO, "main", {"envs/staging/api.yaml": "image:\n  tag: 1.5.0\n"}, "1.5.0")
        argo.put(application("api-staging", health="Progressing", revision=rig.main()))
        rig.service.sync()
        text = rig.prod_pr().body
        assert (
            "What **prod** runs\n"
            f"- api image `1.4.2` — healthy since Tue 2026-11-24 10:42 UTC at `{before[:10]}`\n"
            "\nGates\n"
        ) in text

        argo.put(
            application(
                "api-prod",
                revision=before,
                health="Degraded",
                health_message="Deployment api exceeded its progress deadline",
            )
        )
        rig.service.live.refresh()
        rig.evaluate()
        text = rig.prod_pr().body
        assert "- api: degraded at " in text
        assert "Deployment api exceeded its progress deadline" in text
        assert text.count("What **prod** runs") == 1 and "healthy since Tue" not in text

        # a commit the repo does not have (history rewritten under the cluster): the report
        # is shown as it came, without versions, and nothing fails
        argo.put(application("api-prod", revision="f" * 40, finished=None, health_since=None))
        rig.service.live.refresh()
        assert rig.evaluate() is not None
        assert "- api: healthy at ffffffffff\n" in rig.prod_pr().body


def test_an_unreachable_argo_cd_leaves_the_gate_waiting_with_the_reason(tmp_path: Path) -> None:
    config = CONFIG.replace(
        'live: {status: {context: "deploy/{app}-{env}", from: argocd}}', "live: {argocd: {}}"
    )
    with running(
        "github", tmp_path, config, argocd_url="http://127.0.0.1:9", argocd_token="argocd-token"
    ) as rig:
        rig.world.push(REPO, "main", {"envs/staging/api.yaml": "image:\n  tag: 1.5.0\n"}, "1.5.0")
        rig.service.live.argocd._policy = FAST  # type: ignore[union-attr]
        rig.service.sync()
        assert "staging's cluster is unknown: " in rig.reason()
        assert rig.prod_pr().state == "open"


def flux_event(sha: str, reason: str, severity: str, at: datetime) -> bytes:
    return json.dumps(
        {
            "involvedObject": {
                "kind": "Kustomization",
                "namespace": "flux-system",
                "name": "api",
                "uid": "351d7dcc-a14b-4a58-b32b-c2e47a0d751d",
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            },
            "severity": severity,
            "timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "message": "Applied revision: main@sha1:" + sha,
            "reason": reason,
            "metadata": {"revision": f"main@sha1:{sha}"},
            "reportingController": "kustomize-controller",
        }
    ).encode()


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_prod_waits_for_flux_to_report_staging_healthy(kind: str, tmp_path: Path) -> None:
    """Flux's signed events, as the worker takes them from /webhooks/flux, feed the gate; a
    repeat of the same state keeps its first time."""
    config = CONFIG.replace(
        'live: {status: {context: "deploy/{app}-{env}", from: argocd}}',
        'live: {flux: {name: "{app}"}}',
    )
    with running(kind, tmp_path, config) as rig:
        rig.world.push(REPO, "main", {"envs/staging/api.yaml": "image:\n  tag: 1.5.0\n"}, "1.5.0")
        rig.service.sync()
        head = rig.main()

        def deliver(body: bytes) -> None:
            rig.service.submit_delivery("flux", {}, body)
            assert taken(rig.service) == [("queued", "live")]
            rig.service.queue.run_pending()  # the event job: kept, and the PR looked at

        healthy_at = rig.clock.now.replace(microsecond=0)
        deliver(flux_event(head, "Progressing", "info", healthy_at))
        assert f"api: progressing at {head[:10]}" in rig.prod_pr().body
        deliver(flux_event(head, "ReconciliationSucceeded", "info", healthy_at))
        deliver(
            flux_event(head, "ReconciliationSucceeded", "info", healthy_at + timedelta(minutes=5))
        )
        since = healthy_at.strftime("%Y-%m-%d %H:%M")
        assert f"synced and healthy since {since} UTC" in rig.prod_pr().body
        rig.clock.now = healthy_at + timedelta(minutes=31)
        verdict = rig.evaluate()
        assert verdict is not None and verdict.merged


def flux_event_2020(revision: str, reason: str, at: datetime) -> bytes:
    """As Flux's first spec wrote events: float seconds, the revision only in the message."""
    return json.dumps(
        {
            "severity": "info",
            "timestamp": at.timestamp(),
            "reportingController": "kustomize-controller",
            "reason": reason,
            "message": f"Kustomization applied in 1.4s, revision: {revision}",
            "involvedObject": {"kind": "Kustomization", "name": "api", "namespace": "flux-system"},
            "metadata": {"deployment.apps/api": "configured"},
        }
    ).encode()


def deliver_flux(rig: Rig, body: bytes) -> None:
    rig.service.submit_delivery("flux", {}, body)
    assert taken(rig.service) == [("queued", "live")]
    rig.service.queue.run_pending()  # the event job: kept, and the PR looked at


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_a_flux_event_of_2020_naming_an_abbreviated_sha_feeds_the_gate(
    kind: str, tmp_path: Path
) -> None:
    """`revision: main/<9 hex digits>` is resolved against the env repo's history: the gate
    counts the commit it abbreviates."""
    config = CONFIG.replace(
        'live: {status: {context: "deploy/{app}-{env}", from: argocd}}',
        'live: {flux: {name: "{app}"}}',
    )
    with running(kind, tmp_path, config) as rig:
        rig.world.push(REPO, "main", {"envs/staging/api.yaml": "image:\n  tag: 1.5.0\n"}, "1.5.0")
        rig.service.sync()
        head = rig.main()
        healthy_at = rig.clock.now.replace(microsecond=0)
        deliver_flux(rig, flux_event_2020(f"main/{head[:9]}", "ApplySucceeded", healthy_at))
        since = healthy_at.strftime("%Y-%m-%d %H:%M")
        assert f"synced and healthy since {since} UTC" in rig.prod_pr().body
        state = rig.service.engine.state()
        live = rig.service.live.read(state, "staging", ["api"])["api"]
        assert (live.revision, live.unresolved) == (head, "")
        rig.clock.now = healthy_at + timedelta(minutes=31)
        verdict = rig.evaluate()
        assert verdict is not None and verdict.merged


def twins(repo: Any) -> tuple[str, str]:
    """Two commits of the default branch whose SHAs share their first 7 hex digits (found by
    a birthday search over commit messages), merged so that both are in its history."""
    parent = repo.text("rev-parse", "refs/heads/main")
    tree = repo.text("rev-parse", "refs/heads/main^{tree}")
    who = "Ada <ada@example.com> 1767225600 +0000"

    def body(parents: list[str], message: str) -> bytes:
        head = "".join(f"parent {p}\n" for p in parents)
        return f"tree {tree}\n{head}author {who}\ncommitter {who}\n\n{message}\n".encode()

    seen: dict[str, bytes] = {}
    for i in range(2_000_000):
        data = body([parent], f"twin {i}")
        sha = hashlib.sha1(b"commit %d\0" % len(data) + data).hexdigest()
        if sha[:7] in seen:
            break
        seen[sha[:7]] = data
    first, second = seen[sha[:7]], data
    made = [
        repo.git("hash-object", "-t", "commit", "-w", "--stdin", input=d).decode().strip()
        for d in (first, second)
    ]
    merge = body(made, "Merge the twins")
    top = repo.git("hash-object", "-t", "commit", "-w", "--stdin", input=merge).decode().strip()
    repo.set_ref("refs/heads/main", top)
    return made[0], made[1]


def test_an_ambiguous_or_unknown_abbreviation_is_shown_unresolved_never_guessed(
    tmp_path: Path,
) -> None:
    config = CONFIG.replace(
        'live: {status: {context: "deploy/{app}-{env}", from: argocd}}',
        'live: {flux: {name: "{app}"}}',
    )
    with running("github", tmp_path, config) as rig:
        rig.world.push(REPO, "main", {"envs/staging/api.yaml": "image:\n  tag: 1.5.0\n"}, "1.5.0")
        one, other = twins(rig.world.repos[REPO].git)
        assert one[:7] == other[:7] and one != other
        rig.service.sync()
        at = rig.clock.now.replace(microsecond=0)
        unknown = "0" * 9 if not rig.main().startswith("0") else "f" * 9
        for shown in (one[:7], unknown):
            deliver_flux(rig, flux_event_2020(f"main/{shown}", "ApplySucceeded", at))
            state = rig.service.engine.state()
            live = rig.service.live.read(state, "staging", ["api"])["api"]
            assert (live.revision, live.unresolved) == (None, shown)
            assert f"healthy at {shown} (unresolved) since" in live.describe()
            assert f"api: it runs {shown}, which names no one commit" in rig.reason()
        # a longer abbreviation tells the twins apart
        deliver_flux(rig, flux_event_2020(f"main/{one[:12]}", "ApplySucceeded", at))
        state = rig.service.engine.state()
        assert rig.service.live.read(state, "staging", ["api"])["api"].revision == one


def test_the_status_reply_says_what_each_cluster_reports(tmp_path: Path) -> None:
    with running("github", tmp_path, CONFIG) as rig:
        rig.world.push(REPO, "main", {"envs/staging/api.yaml": "image:\n  tag: 1.5.0\n"}, "1.5.0")
        rig.service.sync()
        head = rig.main()
        rig.deployer_reports(head, "success")
        number = rig.prod_pr().number
        url = f"{rig.server.github_url}/repos/{REPO}/issues/{number}/comments"
        made = httpx.post(
            url, json={"body": "/status"}, headers={"Authorization": "token ada-token"}
        )
        event = events.CommentEvent(
            repo=REPO, number=number, comment_id=int(made.json()["id"]), body="/status",
            author="ada", author_is_bot=False, action="created", on_pull_request=True,
            from_fork=False,
        )  # fmt: skip
        (reply,) = rig.service.runner.handle(event)
        assert f"● healthy at {head[:10]} since" in reply  # staging, which says where to look
        assert reply.count("●") == 1  # prod has no live: and says nothing of its cluster


MANIFESTS = {
    f"manifests/{env}/api.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n"
        "    spec:\n      containers: [{name: api, image: 'ghcr.io/acme/api:1.4.2'}]\n"
        + (
            "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: api}\n"
            "spec:\n  rules: [{host: api.example.com}]\n"
            if env == "prod"
            else ""
        )
    )
    for env in ("staging", "prod")
}


def test_the_status_reply_says_what_each_environment_is_made_of(tmp_path: Path) -> None:
    config = CONFIG + 'render: {directory: "manifests/{env}"}\n'
    with running("github", tmp_path, config, MANIFESTS) as rig:
        rig.world.push(REPO, "main", {"envs/staging/api.yaml": "image:\n  tag: 1.5.0\n"}, "1.5.0")
        rig.service.sync()
        rendering = rig.service.rendering
        assert rendering is not None
        rendering.want(rig.service.engine.state())  # as the running service does after a job
        assert rendering.wait(60)
        number = rig.prod_pr().number
        url = f"{rig.server.github_url}/repos/{REPO}/issues/{number}/comments"
        made = httpx.post(
            url, json={"body": "/status"}, headers={"Authorization": "token ada-token"}
        )
        event = events.CommentEvent(
            repo=REPO, number=number, comment_id=int(made.json()["id"]), body="/status",
            author="ada", author_is_bot=False, action="created", on_pull_request=True,
            from_fork=False,
        )  # fmt: skip
        (reply,) = rig.service.runner.handle(event)
        assert "**What each environment is made of**\n" in reply
        assert "- **api** in **prod**: Deployment · Ingress api.example.com" in reply
        assert "- **api** in **staging**: Deployment ⚠\n" in reply
        # staging's values say 1.5.0 now, its manifests still 1.4.2: said, not hidden
        assert "the composition asks for 1.5.0, but Deployment api runs 1.4.2" in reply


RENDERED = """\
version: 1
environments:
  staging: {}
  prod: {from: staging}
render: {directory: "envs/{env}"}
apps:
  api:
    components:
      image:
        source: {image: ghcr.io/acme/api}
        target:
          file: "envs/{env}/api.yaml"
          field: "spec.template.spec.containers[name=api].image"
          template: "ghcr.io/acme/api:{version}"
"""


def deployment(tag: str) -> str:
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n"
        "    spec:\n      containers:\n        - name: api\n"
        f"          image: ghcr.io/acme/api:{tag}\n"
    )


def test_diff_replies_with_what_the_promotion_changes_in_the_cluster(tmp_path: Path) -> None:
    files = {f"envs/{env}/api.yaml": deployment("1.4.2") for env in ("staging", "prod")}
    with running("github", tmp_path, RENDERED, files) as rig:
        rig.world.push(REPO, "main", {"envs/staging/api.yaml": deployment("1.5.0")}, "1.5.0")
        rig.service.sync()
        pr = rig.prod_pr()
        assert "**Impact:** `image` — image api 1.4.2 → 1.5.0" in pr.body
        assert "promobot/impact:image" in pr.labels
        url = f"{rig.server.github_url}/repos/{REPO}/issues/{pr.number}/comments"
        made = httpx.post(url, json={"body": "/diff"}, headers={"Authorization": "token ada-token"})
        event = events.CommentEvent(
            repo=REPO, number=pr.number, comment_id=int(made.json()["id"]), body="/diff",
            author="ada", author_is_bot=False, action="created", on_pull_request=True,
            from_fork=False,
        )  # fmt: skip
        (reply,) = rig.service.runner.handle(event)
        assert "**Impact:** `image` — image api 1.4.2 → 1.5.0" in reply
        assert "`spec.template.spec.containers[api].image`" in reply
        assert "Same as **staging** runs" in reply


def test_prod_waits_for_fleet_to_report_staging_ready(tmp_path: Path) -> None:
    """The gate reading Fleet's Bundles through the Kubernetes API (a kubeconfig)."""
    config = CONFIG.replace(
        'live: {status: {context: "deploy/{app}-{env}", from: argocd}}', "live: {fleet: {}}"
    )
    with kube_server() as kube:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", kube.url, kube.token)
        with running("github", tmp_path, config, fleet_kubeconfig=str(kubeconfig)) as rig:
            rig.world.push(REPO, "main", {"envs/staging/api.yaml": "image:\n  tag: 1.5.0\n"}, "1.5")
            head = rig.main()
            kube.put(bundle("api-staging", commit=head, states={"NotReady": 1}))
            rig.service.sync()
            assert f"api: progressing at {head[:10]}" in rig.reason()
            ready_at = rig.clock.now.replace(microsecond=0)
            stamp = ready_at.strftime("%Y-%m-%dT%H:%M:%SZ")
            kube.put(bundle("api-staging", commit=head, since=stamp))
            heard(rig, "staging", lambda live: live.settled)
            assert "synced and healthy since" in rig.reason()
            rig.clock.now = ready_at + timedelta(minutes=31)
            verdict = rig.evaluate()
            assert verdict is not None and verdict.merged


def test_a_bundle_change_the_watch_hears_wakes_the_pr_without_a_reconcile(
    tmp_path: Path,
) -> None:
    """Fleet sends no notifications: promobot's watch of the Bundles hears the change itself,
    and a job it queues brings the prod PR's checklist up to date — no reconcile, no event."""
    config = CONFIG.replace(
        'live: {status: {context: "deploy/{app}-{env}", from: argocd}}', "live: {fleet: {}}"
    )
    with kube_server() as kube:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", kube.url, kube.token)
        with running("github", tmp_path, config, fleet_kubeconfig=str(kubeconfig)) as rig:
            rig.world.push(REPO, "main", {"envs/staging/api.yaml": "image:\n  tag: 1.5.0\n"}, "1.5")
            head = rig.main()
            kube.put(bundle("api-staging", commit=head, states={"NotReady": 1}))
            rig.service.sync()
            assert f"api: progressing at {head[:10]}" in rig.prod_pr().body
            stamp = rig.clock.now.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
            kube.put(bundle("api-staging", commit=head, since=stamp))  # ready, and nobody asks
            deadline = time.monotonic() + 10
            while "synced and healthy since" not in rig.prod_pr().body:
                assert time.monotonic() < deadline, "the watched change never reached the PR"
                rig.service.queue.run_pending()  # what a worker does
                time.sleep(0.05)
            assert kube.lists == 1  # heard, not asked again


def test_the_healthy_time_never_starts_before_the_commit_was_made(tmp_path: Path) -> None:
    """A source that says "healthy since" an instant before the commit it names existed (an
    older Fleet, a late status) is counted from the commit."""
    config = CONFIG.replace(
        'live: {status: {context: "deploy/{app}-{env}", from: argocd}}', "live: {argocd: {}}"
    )
    with on_argocd(tmp_path, config) as (rig, argo):
        rig.world.push(REPO, "main", {"envs/staging/api.yaml": "image:\n  tag: 1.5.0\n"}, "1.5.0")
        head = rig.main()
        long_ago = (rig.clock.now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        argo.put(
            application("api-staging", revision=head, finished=long_ago, health_since=long_ago)
        )
        rig.service.sync()
        reason = rig.reason()
        assert "synced and healthy since" in reason and "needs 30m, until" in reason
        assert long_ago[11:16] not in reason.split("since")[1]  # counted from the commit


def test_a_repo_that_renders_nothing_asks_the_forge_nothing_more_for_impact(
    tmp_path: Path,
) -> None:
    """After a restart promobot no longer remembers what a promotion changes in the cluster;
    where nothing renders, finding that out costs no forge call: a PR is evaluated with as many
    calls as with rendering off."""
    with running("github", tmp_path, CONFIG) as rig:
        rig.world.push(REPO, "main", {"envs/staging/api.yaml": "image:\n  tag: 1.5.0\n"}, "1.5.0")
        rig.service.sync()
        pr = rig.prod_pr()
        costs = {}
        for render in (False, True):
            fresh = bot_service("github", rig.server, tmp_path / f"again-{render}", render=render)
            fresh.engine.state()  # the head, as every job reads it first
            rig.world.reset_calls()
            fresh.gatekeeper.evaluate(fresh.forge.get_pr(pr.number))
            costs[render] = sum(rig.world.calls.values())
        assert costs[True] == costs[False]
