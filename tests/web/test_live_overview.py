"""The overview and the API show what each watched environment's cluster runs, and drift."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bot.forges.local import LocalForge
from bot.service import Service
from bot.settings import Settings
from bot.web.app import create_app
from tests.argocd.server import VERSIONS, Version, application, argocd_server
from tests.conftest import SIGNING_KEY, MakeRepo, commit_all, git

CONFIG = """\
version: 1
environments:
  dev: {}
  staging: {from: dev, live: {status: {context: "deploy/{app}-{env}"}}}
apps:
  api:
    components:
      image:
        source: {image: ghcr.io/acme/api}
        target: {file: "envs/{env}/api.yaml", field: image.tag}
"""


def test_a_cluster_running_an_older_commit_shows_as_drift(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(files={
        ".promobot.yaml": CONFIG,
        "envs/dev/api.yaml": "image:\n  tag: 1.5.0\n",
        "envs/staging/api.yaml": "image:\n  tag: 1.4.2\n",
    })  # fmt: skip
    forge = LocalForge(repo)
    deployed = git(repo, "rev-parse", "HEAD")
    forge.set_status(deployed, "deploy/api-staging", "success", "Argo CD: synced and healthy")
    (repo / "envs/staging/api.yaml").write_text("image:\n  tag: 1.5.0\n")
    commit_all(repo, "staging: api 1.5.0")  # git moves on; the cluster has not followed yet
    settings = Settings(
        forge="local", repo=str(repo), signing_key=SIGNING_KEY,  # type: ignore[arg-type]
        data_dir=tmp_path / "data", workers=0,
    )  # fmt: skip
    with TestClient(create_app(Service(settings, forge=forge))) as client:
        page = client.get("/").text
        assert f"healthy at {deployed[:10]} since" in page
        assert "image: git 1.5.0, running 1.4.2" in page
        status = client.get("/api/v1/status").json()
        live = status["live"]["api"]["staging"]
        assert (live["sync"], live["health"], live["revision"]) == ("synced", "healthy", deployed)
        assert live["drift"] == {"image": {"git": "1.5.0", "running": "1.4.2"}}
        assert "dev" not in status["live"]["api"]  # dev says nothing of its cluster
        app = client.get("/api/v1/apps/api").json()
        assert app["environments"]["staging"]["live"]["drift"]["image"]["running"] == "1.4.2"
        assert app["environments"]["dev"]["live"] is None


@pytest.mark.parametrize("version", VERSIONS)
def test_an_argo_cd_application_out_of_sync_shows_the_drift_on_every_release(
    version: Version, make_repo: MakeRepo, tmp_path: Path
) -> None:
    """Argo CD compared the cluster with git's new commit (OutOfSync, `status.sync.revision`
    the new one) and has not synced it: what runs is its last sync's, and the drift shows."""
    repo = make_repo(files={
        ".promobot.yaml": CONFIG.replace(
            'live: {status: {context: "deploy/{app}-{env}"}}', "live: {argocd: {}}"
        ),
        "envs/dev/api.yaml": "image:\n  tag: 1.5.0\n",
        "envs/staging/api.yaml": "image:\n  tag: 1.4.2\n",
    })  # fmt: skip
    deployed = git(repo, "rev-parse", "HEAD")
    (repo / "envs/staging/api.yaml").write_text("image:\n  tag: 1.5.0\n")
    asked = commit_all(repo, "staging: api 1.5.0")
    with argocd_server(version=version) as argo:
        argo.put(application("api-staging", sync="OutOfSync", revision=asked, ran=deployed))
        settings = Settings(
            forge="local", repo=str(repo), signing_key=SIGNING_KEY,  # type: ignore[arg-type]
            data_dir=tmp_path / "data", workers=0, argocd_url=argo.url,
            argocd_token="argocd-token",  # type: ignore[arg-type]
        )  # fmt: skip
        with TestClient(create_app(Service(settings, forge=LocalForge(repo)))) as client:
            page = client.get("/").text
            assert f"healthy, out-of-sync at {deployed[:10]} since" in page
            assert "image: git 1.5.0, running 1.4.2" in page
            live = client.get("/api/v1/status").json()["live"]["api"]["staging"]
            assert (live["sync"], live["revision"]) == ("out-of-sync", deployed)
            assert live["drift"] == {"image": {"git": "1.5.0", "running": "1.4.2"}}
