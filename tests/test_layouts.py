"""The real layouts become git repositories as they are in their own repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import layouts
from tests.conftest import git


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("kustomize-envs", ["base/kustomization.yml", "envs/prod-eu/version.yml"]),
        (
            "fleet-multi-cluster",
            [
                "multi-cluster/helm/fleet.yaml",
                "multi-cluster/kustomize/overlays/prod/frontend-service.yaml",
            ],
        ),
        (
            "flux-kustomize-helm",
            ["apps/base/podinfo/release.yaml", "clusters/production/apps.yaml"],
        ),
    ],
)
def test_a_layout_is_a_repository_with_one_commit_and_its_paths_kept(
    name: str, expected: list[str], tmp_path: Path
) -> None:
    repo = layouts.make(name, tmp_path)
    tracked = git(repo, "ls-files").splitlines()
    assert set(expected) <= set(tracked)
    assert sorted(tracked) == sorted(layouts.files(name))
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "rev-list", "--count", "HEAD") == "1"


def test_the_kustomize_layout_has_eleven_environments_each_pinning_its_version() -> None:
    found = layouts.files("kustomize-envs")
    envs = sorted({p.split("/")[1] for p in found if p.startswith("envs/")})
    assert len(envs) == 11
    for env in envs:
        assert "docker.io/kostiscodefresh/simple-env-app:" in found[f"envs/{env}/version.yml"]


def test_extra_files_are_written_over_the_layout(tmp_path: Path) -> None:
    repo = layouts.make("flux-kustomize-helm", tmp_path, {"apps/staging/x.yaml": "a: 1\n"})
    assert (repo / "apps/staging/x.yaml").read_text() == "a: 1\n"
    assert "apps/staging/x.yaml" in git(repo, "ls-files").splitlines()
