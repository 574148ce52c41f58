"""Snapshots for the manifests tests: a real layout as a git repository read by the local
forge, or a few files written as a commit of a fresh repository."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bot.composition import Snapshot
from bot.forges.local import LocalForge
from tests import layouts
from tests.conftest import commit_all, git


def layout(name: str, tmp_path: Path, extra: Mapping[str, str] = {}) -> Snapshot:
    """A real layout of tests/fixtures/layouts (with `extra` files over it) at its commit."""
    return LocalForge(layouts.make(name, tmp_path, extra)).snapshot("HEAD")


def repo(files: Mapping[str, str], into: Path) -> Snapshot:
    """`files` (path → text) as the one commit of a new repository."""
    into.mkdir(parents=True, exist_ok=True)
    git(into, "init", "-q", "-b", "main")
    for path, text in files.items():
        (into / path).parent.mkdir(parents=True, exist_ok=True)
        (into / path).write_text(text, encoding="utf-8")
    commit_all(into, "files")
    return LocalForge(into).snapshot("HEAD")
