"""What runs, in a real browser: `promobot serve` on the helm-values example (a local
checkout), with a simulated Argo CD reporting every cluster but dev's and staging's web rolling
out a canary (an Argo Rollouts Rollout on the Kubernetes API server face). Each cell shows its
cluster's report — healthy, degraded with the reason, progressing, a canary's step — and the
drift where the cluster runs something else than git asks, all inside the cell.

Saves docs/live.png with PROMOBOT_UPDATE_SCREENSHOT=1.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Browser

from tests.argocd.server import application, argocd_server
from tests.conftest import commit_all, git
from tests.e2e.service import Promobot, wait_for
from tests.kube.server import kube_server, rollout, write_kubeconfig
from tests.web.test_browser import EXAMPLE, MISPLACED, ROOT, browser, cells, open_page

__all__ = ["browser"]  # the fixture, shared with the overview's browser test

LIVE = {
    "  staging:\n    from: dev\n": (
        "  staging:\n    from: dev\n    live: {argocd: {}, rollout: {kind: argo-rollouts}}\n"
    ),
    "  prod-eu: &prod\n    from: staging\n": (
        "  prod-eu: &prod\n    from: staging\n    live: {argocd: {}}\n"
    ),
}


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def live_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    repo = tmp_path_factory.mktemp("live") / "env-repo"
    shutil.copytree(EXAMPLE, repo)
    config = (repo / ".promobot.yaml").read_text().replace("ghcr.io/acme", "127.0.0.1:9/acme")
    for before, after in LIVE.items():
        assert before in config
        config = config.replace(before, after)
    (repo / ".promobot.yaml").write_text(config)
    now = datetime.now(UTC).replace(microsecond=0)
    git(repo, "init", "-q", "-b", "main")
    first = commit_all(repo, "Initial environments", (now - timedelta(hours=5)).isoformat())
    values = repo / "envs/prod-eu/web/values.yaml"
    values.write_text(values.read_text().replace("3.0.2", "3.1.0"))
    head = commit_all(repo, "Promote web to prod-eu", (now - timedelta(hours=2)).isoformat())
    synced = stamp(now - timedelta(hours=3))
    with argocd_server() as argo, kube_server() as cluster:
        argo.put(
            application("api-staging", revision=head, finished=synced, health_since=synced),
            application("web-staging", revision=head, finished=synced, health_since=synced),
            application(
                "api-prod-eu",
                revision=head,
                health="Degraded",
                health_message="Deployment api exceeded its progress deadline",
                finished=stamp(now - timedelta(minutes=40)),
                health_since=stamp(now - timedelta(minutes=35)),
            ),
            # web's promotion to prod-eu merged two hours ago; its cluster still runs the one
            # before it: drift
            application("web-prod-eu", revision=first, finished=synced, health_since=synced),
            application(
                "api-prod-us",
                revision=head,
                health="Progressing",
                finished=stamp(now - timedelta(minutes=4)),
                health_since=stamp(now - timedelta(minutes=4)),
            ),
        )
        cluster.put(rollout("api", done=True, since=synced), rollout("web", step=1))
        kubeconfig = write_kubeconfig(repo.parent / "kubeconfig", cluster.url, cluster.token)
        data = tmp_path_factory.mktemp("promobot-live")
        settings = {
            "PROMOBOT_FORGE": "local",
            "PROMOBOT_REPO": str(repo),
            "PROMOBOT_DATA_DIR": str(data),
            "PROMOBOT_RECONCILE_INTERVAL": "1h",
            "PROMOBOT_ARGOCD_URL": argo.url,
            "PROMOBOT_ARGOCD_TOKEN": argo.token,
            "PROMOBOT_KUBECONFIG": str(kubeconfig),
        }
        with Promobot(settings) as promobot:
            wait_for("the overview", lambda: "canary 20%" in httpx.get(promobot.url).text, 60)
            yield promobot.url


@pytest.mark.parametrize("width", [1280, 390])
def test_each_cell_says_what_its_cluster_runs(live_site: str, browser: Browser, width: int) -> None:
    page = open_page(browser, live_site + "/", width)
    shown = cells(page)
    assert "healthy at" in shown["api"]["staging"]["text"]
    assert "since" in shown["api"]["staging"]["text"]
    web_staging = shown["web"]["staging"]["text"]
    assert "healthy (canary 20%, step 2 of 5) at" in web_staging
    degraded = shown["api"]["prod-eu"]["text"]
    assert "degraded at" in degraded and "exceeded its progress deadline" in degraded
    assert "progressing at" in shown["api"]["prod-us"]["text"]
    assert "image: git 3.1.0, running 3.0.2" in shown["web"]["prod-eu"]["text"]
    assert "healthy at" not in shown["api"]["dev"]["text"]  # dev says nothing of its cluster
    assert page.locator("td[data-env='prod-eu'] p.live.degraded").count() == 1
    assert page.locator("td[data-env='staging'] p.live.rolling").count() == 1  # not green yet
    problems: list[str] = page.evaluate(MISPLACED)
    assert problems == [], f"{len(problems)} problems, the first: {problems[:10]}"
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    if os.environ.get("PROMOBOT_UPDATE_SCREENSHOT") and width == 1280:
        page.locator(".matrix-wrap").screenshot(path=str(ROOT / "docs" / "live.png"))
    page.context.close()
