from __future__ import annotations

import subprocess

from bot.forges.archive import read_tarball
from bot.forges.local import LocalForge
from tests.conftest import MakeRepo, git


def test_object_ids_from_a_tarball_are_the_ids_git_computes(make_repo: MakeRepo) -> None:
    repo = make_repo("kustomize")
    (repo / "bin").mkdir()
    (repo / "bin" / "run.sh").write_text("#!/bin/sh\n")
    (repo / "bin" / "run.sh").chmod(0o755)
    (repo / "a-b").write_text("x")  # sorts between "a" folders and "a.b" files in git's order
    (repo / "a").mkdir()
    (repo / "a" / "f").write_text("y")
    (repo / "a.b").write_text("z")
    (repo / "a" / "to-etc").symlink_to("/etc")  # a link's target is its content, never followed
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "more")
    sha = git(repo, "rev-parse", "HEAD")
    tarball = subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar.gz", "--prefix=acme-env-0123abc/", sha],
        capture_output=True,
        check=True,
    ).stdout
    archive = read_tarball(sha, tarball)
    from_archive = archive.snapshot
    from_git = LocalForge(repo).snapshot(sha)
    assert dict(from_archive.objects) == dict(from_git.objects)
    assert from_archive.trees == from_git.trees
    assert from_archive.links == from_git.links == {"a/to-etc"}
    assert from_archive.files["a/to-etc"] == from_git.files["a/to-etc"] == b"/etc"
    assert from_archive.files["envs/qa/settings.yml"] == from_git.files["envs/qa/settings.yml"]
    # what a rewrite through the Git Data API must keep: the modes that are not a plain file's
    assert archive.modes == {"bin/run.sh": "100755", "a/to-etc": "120000"}
