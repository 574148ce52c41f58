"""The GitHub App manifest, the Dockerfile and the workflows say what the README says."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.events import github

ROOT = Path(__file__).resolve().parents[2]
NOT_SUBSCRIBABLE = {"ping", "installation", "installation_repositories"}  # sent to every app


def test_the_github_app_subscribes_to_exactly_the_events_promobot_handles() -> None:
    manifest = yaml.safe_load((ROOT / "deploy" / "github-app.yml").read_text())
    handled = set(github.HANDLERS) - NOT_SUBSCRIBABLE
    assert set(manifest["default_events"]) == handled
    assert manifest["public"] is False
    assert manifest["default_permissions"] == {
        "contents": "write",
        "pull_requests": "write",
        "issues": "write",
        "statuses": "write",
        "checks": "read",
        "members": "read",
        "packages": "read",
        "metadata": "read",
    }
    assert manifest["hook_attributes"]["url"].endswith("/webhooks/github")


def test_the_dockerfile_is_multi_stage_non_root_and_checks_health() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) == 2
    assert re.search(r"^USER 10001", text, re.MULTILINE)
    assert "/healthz" in text and "HEALTHCHECK" in text
    assert 'ENTRYPOINT ["promobot"]' in text
    assert 'VOLUME ["/var/lib/promobot"]' in text and "PYTHONDONTWRITEBYTECODE=1" in text


def test_the_workflows_run_ci_and_build_the_wheel_and_the_image() -> None:
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    assert [s.get("run") for s in ci["jobs"]["test"]["steps"]][-1] == "bash .ci/run"
    release = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    steps = [
        s.get("run", "") + s.get("uses", "") for j in release["jobs"].values() for s in j["steps"]
    ]
    assert "python -m build" in steps
    build = next(
        s
        for j in release["jobs"].values()
        for s in j["steps"]
        if s.get("uses", "").startswith("docker/build-push-action")
    )
    assert build["with"]["file"] == "deploy/Dockerfile"
