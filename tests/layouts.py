"""Real GitOps layouts as git repositories, for tests that should run on what people really
write rather than on layouts we made up.

A layout is a folder of YAML in `tests/fixtures/layouts/<name>/`, taken from a public GitOps
repository with its paths kept (which repository, which commits, and which files we wrote
ourselves: `tests/fixtures/README.md`). The layouts are part of the checkout: a test that asks
for one that is not there fails, it is never skipped.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.conftest import commit_all, git

ROOT = Path(__file__).resolve().parent.parent
LAYOUTS_DIR = ROOT / "tests" / "fixtures" / "layouts"
# each layout: the repository it comes from, and what it shows
LAYOUTS = {
    "kustomize-envs": "kostis-codefresh/gitops-environment-promotion: 11 environments, "
    "envs/<env>/ patches (version.yml) over a shared base",
    "fleet-multi-cluster": "rancher/fleet-examples multi-cluster/: fleet.yaml "
    "targetCustomizations, a shared helm.chart, overlays per environment",
    "flux-kustomize-helm": "fluxcd/flux2-kustomize-helm-example: HelmReleases with a base, "
    "patches per environment and version ranges",
}


def folder(name: str) -> Path:
    """Where the layout's files are; fails the test when they are missing."""
    if name not in LAYOUTS:
        raise KeyError(f"unknown layout {name!r}; known: {', '.join(LAYOUTS)}")
    place = LAYOUTS_DIR / name
    if not place.is_dir():
        pytest.fail(f"layout {name!r} is missing: no folder {place}", pytrace=False)
    return place


def files(name: str) -> dict[str, str]:
    """The layout's files: path inside the repository → text."""
    root = folder(name)
    return {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def make(name: str, into: Path, extra: Mapping[str, str] = {}) -> Path:
    """The layout as a git repository in `into` (with `extra` files written over it), one
    commit on main, as an environment repo promobot is pointed at would be."""
    repo = into / name
    shutil.copytree(folder(name), repo)
    for path, text in extra.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text, encoding="utf-8")
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, f"The {name} layout", "2026-01-05T10:00:00Z")
    return repo
