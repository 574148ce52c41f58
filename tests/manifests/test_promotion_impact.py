"""What a promotion changes in the cluster, end to end on the local forge: the example repo's
umbrella charts pulled from a real registry, the service opening the promotion PRs, their
bodies, labels and gates — an image bump merges itself under `auto_merge: {only: [image]}`,
a chart bump that adds an Ingress waits for a person — and `promobot diff`."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from starlette.testclient import TestClient

from bot.cli import main
from bot.forges.local import LocalForge
from bot.service import Service
from bot.settings import Settings
from bot.web.app import create_app
from tests.conftest import commit_all, git
from tests.manifests.test_renderer import (  # noqa: F401 (a fixture)
    helm_values,
    registry,
)
from tests.registry import Registry, needs_registry

pytestmark = needs_registry

STAGING = """\
  staging:
    from: dev
    auto_merge: true
    gates: {soak: 30m}
"""
ONLY_IMAGES = """\
  staging:
    from: dev
    auto_merge: {only: [image]}
"""


def only_images(tmp_path: Path, charts: Registry) -> Path:
    """The helm-values example whose staging merges by itself only what changes images."""
    repo = helm_values(tmp_path, charts)
    bump(repo, ".promobot.yaml", STAGING, ONLY_IMAGES)
    return repo


def serving(repo: Path, data: Path) -> Service:
    return Service(Settings(forge="local", repo=str(repo), data_dir=data))


def bump(repo: Path, path: str, old: str, new: str) -> None:
    file = repo / path
    file.write_text(file.read_text().replace(old, new))
    commit_all(repo, f"{path}: {new}")


def test_an_image_merges_itself_and_a_chart_that_adds_an_ingress_waits_for_a_person(
    tmp_path: Path,
    registry: Registry,  # noqa: F811 (the fixture)
) -> None:
    repo = only_images(tmp_path, registry)
    service = serving(repo, tmp_path / "data")
    forge = LocalForge(repo)

    bump(repo, "envs/dev/api/values.yaml", 'tag: "1.4.2"', 'tag: "1.5.0"')
    service.sync()
    merged = forge.find_pr("promobot/staging/api", state="closed")
    assert merged is not None and merged.state == "merged"
    assert 'tag: "1.5.0"' in forge.snapshot("HEAD").files["envs/staging/api/values.yaml"].decode()
    assert "**Impact:** `image` — image api 1.3.0 → 1.5.0" in merged.body
    assert "promobot/impact:image" in merged.labels

    bump(repo, "envs/dev/api/Chart.yaml", "version: 2.3.0", "version: 2.5.0")
    service.sync()
    pr = forge.find_pr("promobot/staging/api")
    assert pr is not None and pr.state == "open"
    assert "**Impact:** `exposure` — adds Ingress api.example.com\n" in pr.body
    assert "- Ingress `api`: added — host api.example.com" in pr.body
    assert "What changes in the cluster" in pr.body
    assert "Same as **dev** runs" in pr.body  # dev renders that Ingress already
    assert "promobot/impact:exposure" in pr.labels
    assert "promobot/impact:image" not in pr.labels
    # the gates: every one passes, and still no merge, saying why
    assert "auto-merge: a person merges this PR — exposure in the diff" in pr.body

    # the overview's page of the full diff
    with TestClient(create_app(service)) as client:
        page = client.get("/promotions/staging/api/diff")
        assert page.status_code == 200, page.text
        assert "What api → staging changes in the cluster" in page.text
        assert "<code>api</code>: added — host api.example.com" in page.text
        assert client.get("/promotions/staging/nope/diff").status_code == 404

    shown = CliRunner().invoke(
        main, ["diff", "api", "--to", "prod-eu", "--repo", str(repo), "--format", "json"]
    )
    assert shown.exit_code == 0, shown.output
    (prod,) = json.loads(shown.output)["promotions"]
    assert prod["env"] == "prod-eu" and "exposure" not in prod["impact"]
    # prod-eu takes what staging runs: the image 1.5.0 (staging merged it) and chart 2.3.0
    images = [f for c in prod["changes"] for f in c["fields"] if f["path"].endswith(".image")]
    assert images == [
        {
            "path": "spec.template.spec.containers[api].image",
            "before": "ghcr.io/acme/api:1.3.0",
            "after": "ghcr.io/acme/api:1.5.0",
        }
    ]


def test_editing_the_impact_line_or_removing_its_label_changes_no_gate(
    tmp_path: Path,
    registry: Registry,  # noqa: F811 (the fixture)
) -> None:
    repo = only_images(tmp_path, registry)
    bump(repo, "envs/dev/api/Chart.yaml", "version: 2.3.0", "version: 2.5.0")
    service = serving(repo, tmp_path / "data")
    service.sync()
    forge = LocalForge(repo)
    pr = forge.find_pr("promobot/staging/api")
    assert pr is not None and "promobot/impact:exposure" in pr.labels
    # someone makes the chart bump look like an image bump: the line, the section, the labels
    edited = pr.body.replace(
        "**Impact:** `exposure` — adds Ingress api.example.com", "**Impact:** `image`"
    )
    edited = edited.replace("- Ingress `api`: added — host api.example.com\n", "")
    labels = tuple(label for label in pr.labels if not label.startswith("promobot/impact:"))
    forge.update_pr(pr.number, body=edited, labels=(*labels, "promobot/impact:image"))
    # a fresh service (nothing kept in memory): the impact is computed from the signed record
    again = serving(repo, tmp_path / "data")
    verdict = again.gatekeeper.evaluate(forge.get_pr(pr.number))
    assert verdict is not None and not verdict.merged
    assert forge.get_pr(pr.number).state == "open"
    assert (
        "auto-merge: a person merges this PR — exposure in the diff" in forge.get_pr(pr.number).body
    )


def test_a_pr_opens_before_its_diff_is_ready_and_gets_it_at_the_next_sync(
    tmp_path: Path,
    registry: Registry,  # noqa: F811 (the fixture)
) -> None:
    repo = only_images(tmp_path, registry)
    bump(repo, "envs/dev/api/Chart.yaml", "version: 2.3.0", "version: 2.5.0")
    service = serving(repo, tmp_path / "data")
    assert service.impacts is not None
    service.impacts.budget = 0.0  # rendering slower than a PR may wait
    service.sync()
    forge = LocalForge(repo)
    pr = forge.find_pr("promobot/staging/api")
    assert pr is not None and pr.state == "open"
    assert "_What changes in the cluster: being rendered" in pr.body
    assert not [label for label in pr.labels if label.startswith("promobot/impact:")]
    # unknown impact under auto_merge: {only: [image]}: a person merges, the checklist says so
    assert "auto-merge: a person merges this PR" in pr.body

    service.impacts.budget = 60.0
    service.impacts._pool.shutdown(wait=True)  # the computation that went on has finished
    service.sync()
    later = forge.get_pr(pr.number)
    assert (
        "**Impact:** `exposure` `image` — adds Ingress api.example.com; image api 1.3.0 → 1.4.2"
        in later.body
    )
    assert "being rendered" not in later.body
    assert "promobot/impact:exposure" in later.labels


def test_a_repo_that_renders_nothing_says_nothing_of_the_cluster(tmp_path: Path) -> None:
    repo = tmp_path / "env-repo"
    (repo / "envs" / "dev").mkdir(parents=True)
    (repo / "envs" / "staging").mkdir(parents=True)
    (repo / ".promobot.yaml").write_text(PLAIN)
    (repo / "envs" / "dev" / "api.yaml").write_text("image:\n  tag: 1.5.0\n")
    (repo / "envs" / "staging" / "api.yaml").write_text("image:\n  tag: 1.4.2\n")
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "environments")
    service = serving(repo, tmp_path / "data")
    service.sync()
    pr = LocalForge(repo).find_pr("promobot/staging/api")
    assert pr is not None  # values alone, nothing that renders them: no word of the cluster
    assert "**Impact:**" not in pr.body and "What changes in the cluster" not in pr.body
    assert not [label for label in pr.labels if label.startswith("promobot/impact:")]


PLAIN = """\
version: 1
environments:
  dev: {}
  staging: {from: dev}
apps:
  api:
    components:
      image:
        source: {image: ghcr.io/acme/api}
        target: {file: "envs/{env}/api.yaml", field: image.tag}
"""
